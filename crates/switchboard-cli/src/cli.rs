//! Command-line syntax (clap).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// switchboard: connectors that reach SaaS APIs on behalf of your customers.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about)]
pub struct Cli {
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

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the connectors built into this binary.
    Connectors {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
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
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
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
        /// Output format.
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Validate a directory of definition files; prints every problem, one a line.
    Validate {
        /// Directory holding `connector.json` and method files.
        dir: PathBuf,
    },
    /// Create something new from a template (`switchboard new connector NAME`).
    New {
        /// What to create.
        #[command(subcommand)]
        what: NewCommand,
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
}
