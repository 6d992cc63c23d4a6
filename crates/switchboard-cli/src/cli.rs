//! Command-line syntax (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// switchboard: connectors that reach SaaS APIs on behalf of your customers.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about)]
pub struct Cli {
    /// Options every command accepts.
    #[command(flatten)]
    pub global: Global,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts (before or after the command name).
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Output format: `table` for people, `json` (one document) or `ndjson`
    /// (one record a line) for scripts.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// The installation store: `sqlite:PATH` or `postgres://...`
    /// (default: a SQLite file in the user's data directory).
    #[arg(long, global = true, env = "SWITCHBOARD_STORE", value_name = "SPEC")]
    pub store: Option<String>,
    /// Retries per request after throttling or a transient failure.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_MAX_RETRIES",
        default_value_t = 4,
        value_name = "N"
    )]
    pub max_retries: u32,
    /// The first backoff wait in milliseconds when the service gives no
    /// `Retry-After` (doubles on each retry, with jitter).
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_RETRY_BACKOFF_MS",
        default_value_t = 1000,
        value_name = "MS"
    )]
    pub retry_backoff_ms: u64,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the connectors built into this binary.
    Connectors,
    /// List a connector's methods, with paths resolved for each variant.
    Methods {
        /// Connector id (see `switchboard connectors`).
        connector: String,
        /// Only this auth variant (e.g. `delegated`, `application`).
        #[arg(long)]
        variant: Option<String>,
        /// Only this category (e.g. `users`, `mail`).
        #[arg(long)]
        category: Option<String>,
    },
    /// The least set of permissions an installation must be granted.
    Permissions {
        /// Connector id (only `microsoft365` has a consent planner today).
        connector: String,
        /// Auth variant (`delegated` or `application`).
        #[arg(long)]
        variant: String,
        /// Only the methods of these categories (repeatable; default: all).
        #[arg(long)]
        category: Vec<String>,
        /// Only these methods (repeatable).
        #[arg(long)]
        method: Vec<String>,
    },
    /// Validate a directory of definition files; prints every problem, one a line.
    Validate {
        /// Directory holding `connector.json` and method files.
        dir: PathBuf,
    },
    /// Run the offline Microsoft 365 sandbox (identity + Graph) until Ctrl-C.
    Sandbox(SandboxArgs),
    /// Manage the master keys that encrypt stored secrets.
    Keys {
        /// What to do with the keys.
        #[command(subcommand)]
        command: KeysCommand,
    },
}

/// `switchboard sandbox` options.
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Port for identity and Graph (0: a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Seeds the tenant, ids, signing key and fault plan.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Fraction of Graph requests answered 429 (0 to 1).
    #[arg(long, default_value_t = 0.0, value_name = "RATE")]
    pub throttle_rate: f64,
    /// Fraction of Graph requests answered 503 or 504 (0 to 1).
    #[arg(long, default_value_t = 0.0, value_name = "RATE")]
    pub fail_rate: f64,
    /// `Retry-After` seconds on injected 429 and 503 answers.
    #[arg(long, default_value_t = 1, value_name = "SECS")]
    pub retry_after: u64,
    /// Serve https with a self-signed certificate; prints its PEM path.
    #[arg(long)]
    pub tls: bool,
    /// Where to write the certificate with `--tls` (default: the temporary directory).
    #[arg(long, requires = "tls", value_name = "PATH")]
    pub cert_path: Option<PathBuf>,
}

/// `switchboard keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new master key (key file) and re-encrypt every stored secret
    /// under the newest key.
    Rotate,
    /// Print a new `id:base64key` entry for `SWITCHBOARD_MASTER_KEYS`.
    Generate {
        /// The key id (letters, digits, `-`, `_`).
        #[arg(long, default_value = "k1")]
        id: String,
    },
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// A table sized to the terminal.
    Table,
    /// JSON, stable for scripts.
    Json,
    /// One JSON record a line (newline-delimited JSON), streamed.
    Ndjson,
}
