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
    /// Also load connectors from definition files at run time (no Rust
    /// hooks): DIR itself when it holds a connector.json (or
    /// definitions/connector.json), else each subdirectory that does.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_CONNECTORS_DIR",
        value_name = "DIR"
    )]
    pub connectors_dir: Option<PathBuf>,
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
    /// The deadline of one attempt in seconds: headers and, for a response
    /// held in memory, its whole body (0: none).
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_DEADLINE",
        default_value_t = 100,
        value_name = "SECS"
    )]
    pub deadline: u64,
    /// The deadline of one token request in seconds (0: none).
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_TOKEN_DEADLINE",
        default_value_t = 30,
        value_name = "SECS"
    )]
    pub token_deadline: u64,
    /// The most bytes, after decompression, of a response held in memory
    /// (a method may declare its own); downloads with --out are streamed
    /// and not capped.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_MAX_RESPONSE_BYTES",
        default_value_t = switchboard_core::wire::DEFAULT_MAX_RESPONSE_BYTES,
        value_parser = clap::value_parser!(u64).range(1..),
        value_name = "BYTES"
    )]
    pub max_response_bytes: u64,
    /// The most pages `call --all` reads of one listing.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_MAX_PAGES",
        default_value_t = switchboard_core::paging::DEFAULT_MAX_PAGES,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..),
        value_name = "N"
    )]
    pub max_pages: usize,
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
    /// Install a connector for an account: prints the installation id and the
    /// consent link (or, with --listen, waits for the browser and finishes).
    Install(InstallArgs),
    /// Finish consent with the URL the browser was sent back to.
    Complete {
        /// The installation id.
        installation: String,
        /// The full callback URL (or its query string).
        #[arg(long, value_name = "URL")]
        callback: String,
        /// The redirect URI the consent link used (default: the callback URL
        /// without its query, or http://localhost/callback).
        #[arg(long, value_name = "URI")]
        redirect_uri: Option<String>,
    },
    /// Call a method of an installation.
    Call(CallArgs),
    /// Check that an installation's grant works, with one cheap read.
    Test {
        /// The installation id.
        installation: String,
    },
    /// List an account's installations.
    Installations {
        /// The platform's account reference.
        #[arg(long, default_value = "default")]
        account: String,
    },
    /// Uninstall: the record stays as a tombstone, its secrets are erased.
    Uninstall {
        /// The installation id.
        installation: String,
    },
    /// Start consent again (a new link; the old grant is dropped).
    Reauth {
        /// The installation id.
        installation: String,
        /// Where consent returns (see `install --redirect-uri`).
        #[arg(long, value_name = "URI")]
        redirect_uri: Option<String>,
    },
    /// Switch an installation off (calls are refused; the grant is kept).
    Disable {
        /// The installation id.
        installation: String,
    },
    /// Switch a disabled installation back on.
    Enable {
        /// The installation id.
        installation: String,
    },
    /// Everything offline in one go: sandbox, store, both installs, four tables.
    Quickstart {
        /// Seeds the sandbox's tenant.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Manage the master keys that encrypt stored secrets.
    Keys {
        /// What to do with the keys.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Create something new from a template (`switchboard new connector NAME`).
    New {
        /// What to create.
        #[command(subcommand)]
        what: NewCommand,
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

/// `switchboard install` options.
#[derive(Debug, Clone, Args)]
pub struct InstallArgs {
    /// Connector id (see `switchboard connectors`).
    pub connector: String,
    /// Auth variant: `delegated` (a user signs in) or `application`
    /// (an administrator grants access to the whole tenant).
    #[arg(long)]
    pub variant: String,
    /// The customer's directory (tenant) ID: a GUID or a verified domain.
    #[arg(long, value_name = "TENANT")]
    pub tenant: String,
    /// The platform's account reference.
    #[arg(long, default_value = "default")]
    pub account: String,
    /// The cloud: global, usgov, usgov-dod, china, or custom (with
    /// --login-url and --graph-url).
    #[arg(long, default_value = "global")]
    pub cloud: String,
    /// Identity origin of a custom cloud (e.g. the sandbox's base URL).
    #[arg(long, value_name = "URL")]
    pub login_url: Option<String>,
    /// Graph origin of a custom cloud (e.g. the sandbox's base URL).
    #[arg(long, value_name = "URL")]
    pub graph_url: Option<String>,
    /// The app registration's application (client) ID (default:
    /// SWITCHBOARD_CLIENT_ID as the platform's app).
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// The app's client secret value (stored encrypted with the installation).
    #[arg(
        long,
        env = "SWITCHBOARD_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub client_secret: Option<String>,
    /// Only these categories or methods (repeatable; default: all).
    #[arg(long, value_name = "ID")]
    pub enable: Vec<String>,
    /// Where consent returns; must be registered on the app (default:
    /// http://localhost/callback).
    #[arg(long, value_name = "URI", conflicts_with = "listen")]
    pub redirect_uri: Option<String>,
    /// Listen on http://127.0.0.1:PORT/callback and finish by itself when
    /// the browser comes back.
    #[arg(long)]
    pub listen: bool,
    /// How long --listen waits for the browser, in seconds.
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    pub timeout: u64,
}

/// `switchboard call` options.
#[derive(Debug, Clone, Args)]
pub struct CallArgs {
    /// The installation id.
    pub installation: String,
    /// The method id (see `switchboard methods <connector>`).
    pub method: String,
    /// An argument, `name=value`; the value is JSON when it parses as JSON,
    /// otherwise a string (repeatable).
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Read every page of a paged method (default: the first page).
    #[arg(long)]
    pub all: bool,
    /// A file whose bytes are the content of an upload method.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Save the content a download method returns to this file.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Table columns (comma-separated field names; default: chosen from the records).
    #[arg(long, value_delimiter = ',', value_name = "FIELDS")]
    pub columns: Vec<String>,
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

/// `switchboard new ...`
#[derive(Debug, Subcommand)]
pub enum NewCommand {
    /// Scaffold a connector crate: definitions with one sample method, a
    /// hook module, and tests using switchboard-core's test harness. It
    /// builds, validates and passes its tests as generated.
    Connector {
        /// The connector id: lower-case letters, digits, `-` and `_`,
        /// starting with a letter (`acme-crm`). The crate is
        /// `switchboard-NAME` in the directory NAME.
        name: String,
        /// Where to create the NAME directory.
        #[arg(long, default_value = ".", value_name = "DIR")]
        dir: PathBuf,
        /// Path to the switchboard-core crate the new crate depends on
        /// (default: found in an ancestor of DIR as
        /// crates/switchboard-core, else the source this binary was built from).
        #[arg(long, value_name = "PATH")]
        core_path: Option<PathBuf>,
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
