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
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// A table sized to the terminal.
    Table,
    /// JSON, stable for scripts.
    Json,
}
