//! Command-line syntax (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The heading global options appear under in every command's help.
pub const GLOBAL_HEADING: &str = "Global options";

/// switchboard: connectors that reach SaaS APIs on behalf of your customers.
#[derive(Debug, Parser)]
#[command(
    name = "switchboard",
    version,
    about,
    after_help = "Examples:
  switchboard quickstart                      # everything offline, in one command
  switchboard connectors
  switchboard methods microsoft365 --category mail
  switchboard sandbox                          # an offline Microsoft 365 for install and call
  switchboard installations --output json

Exit codes: 0 ok, 1 bad input (an unknown installation id too), 2 remote or
storage failure, 3 a person must (re-)consent, 4 the installation is disabled
or uninstalled. See docs/cli.md."
)]
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
        value_name = "DIR",
        help_heading = GLOBAL_HEADING
    )]
    pub connectors_dir: Option<PathBuf>,
}

/// Options every command accepts (before or after the command name); each
/// command's help lists only those that mean something to it.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Output format: `table` for people, `json` (one document) or `ndjson`
    /// (one record a line) for scripts.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table, help_heading = GLOBAL_HEADING)]
    pub output: Output,
    /// The installation store: `sqlite:PATH` or `postgres://...`
    /// (default: a SQLite file in the user's data directory).
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_STORE",
        value_name = "SPEC",
        help_heading = GLOBAL_HEADING
    )]
    pub store: Option<String>,
    /// Retries per request after throttling or a transient failure.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_MAX_RETRIES",
        default_value_t = 4,
        value_name = "N",
        help_heading = GLOBAL_HEADING
    )]
    pub max_retries: u32,
    /// The first backoff wait in milliseconds when the service gives no
    /// `Retry-After` (doubles on each retry, with jitter).
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_RETRY_BACKOFF_MS",
        default_value_t = 1000,
        value_name = "MS",
        help_heading = GLOBAL_HEADING
    )]
    pub retry_backoff_ms: u64,
    /// The deadline of one attempt in seconds: headers and, for a response
    /// held in memory, its whole body (0: none).
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_DEADLINE",
        default_value_t = 100,
        value_name = "SECS",
        help_heading = GLOBAL_HEADING
    )]
    pub deadline: u64,
    /// The deadline of one token request in seconds (0: none).
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_TOKEN_DEADLINE",
        default_value_t = 30,
        value_name = "SECS",
        help_heading = GLOBAL_HEADING
    )]
    pub token_deadline: u64,
    /// The most bytes, after decompression, of a response held in memory
    /// (a method may declare its own); downloads with --out are streamed
    /// and not capped.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_MAX_RESPONSE_BYTES",
        default_value_t = switchboard_core::engine::wire::DEFAULT_MAX_RESPONSE_BYTES,
        value_parser = clap::value_parser!(u64).range(1..),
        value_name = "BYTES",
        help_heading = GLOBAL_HEADING
    )]
    pub max_response_bytes: u64,
    /// The most pages `call --all` reads of one listing.
    #[arg(
        long,
        global = true,
        env = "SWITCHBOARD_MAX_PAGES",
        default_value_t = switchboard_core::paging::DEFAULT_MAX_PAGES,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..),
        value_name = "N",
        help_heading = GLOBAL_HEADING
    )]
    pub max_pages: usize,
}

/// The global options (by argument id) that mean nothing to a command: its
/// help does not list them and its command line refuses them. `path` is
/// the command's name, with the subcommand for `keys` and `new`.
pub fn ignored_globals(path: &[&str]) -> Vec<&'static str> {
    // what the command uses: output, store, the deadlines (token requests
    // and attempts), the engine's retries and limits (calling methods),
    // run-time connectors
    let (output, store, deadlines, engine, connectors) = match path {
        ["connectors" | "methods" | "permissions", ..] => (true, false, false, false, true),
        ["validate"] => (false, false, false, false, true),
        ["sandbox"] | ["keys", "generate"] | ["new", ..] => (false, false, false, false, false),
        // consent exchanges a code or proves a grant with a token request
        // uninstall revokes the grant where the definition declares how
        ["install" | "complete" | "reauth" | "uninstall"] => (true, true, true, false, true),
        ["installations" | "disable" | "enable"] | ["keys"] | ["keys", "rotate"] => {
            (true, true, false, false, false)
        }
        ["quickstart"] => (true, true, true, true, false),
        _ => (true, true, true, true, true),
    };
    let groups: [(bool, &[&'static str]); 5] = [
        (output, &["output"]),
        (store, &["store"]),
        (deadlines, &["deadline", "token_deadline"]),
        (
            engine,
            &[
                "max_retries",
                "retry_backoff_ms",
                "max_response_bytes",
                "max_pages",
            ],
        ),
        (connectors, &["connectors_dir"]),
    ];
    groups
        .iter()
        .filter(|(used, _)| !used)
        .flat_map(|(_, ids)| ids.iter().copied())
        .collect()
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the connectors built into this binary.
    #[command(after_help = "Examples:
  switchboard connectors
  switchboard connectors --output json
  switchboard --connectors-dir ./my-connectors connectors")]
    Connectors,
    /// List a connector's methods, with paths resolved for each variant.
    #[command(after_help = "Examples:
  switchboard methods microsoft365
  switchboard methods microsoft365 --variant application --category mail
  switchboard methods github --output json")]
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
    #[command(after_help = "Examples:
  switchboard permissions microsoft365 --variant application
  switchboard permissions microsoft365 --variant delegated --category mail --category calendars
  switchboard permissions microsoft365 --variant delegated --method users.get_user")]
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
    #[command(after_help = "Examples:
  switchboard validate connectors/microsoft365/definitions
  switchboard validate ./acme-crm              # a connector crate: its definitions/
  switchboard validate ./my-connectors         # each subdirectory holding a connector")]
    Validate {
        /// Directory holding `connector.json` and method files.
        dir: PathBuf,
    },
    /// Run the offline Microsoft 365 sandbox (identity + Graph) until Ctrl-C.
    #[command(after_help = "Examples:
  switchboard sandbox                          # state kept in the data directory
  switchboard sandbox --port 8400 --state ./sandbox.json
  switchboard sandbox --reset                  # forget everything, start from the seed
  switchboard sandbox --no-state --throttle-rate 0.3 --fail-rate 0.1
  switchboard sandbox --tls --cert-path ./sandbox.pem
  # Graph's limits scaled down so tests run in seconds; counters at GET /_sandbox/stats
  switchboard sandbox --no-state --outlook-window-requests 100 --outlook-window-secs 2
  # requests take 50 ms, so a 5th one in flight for a mailbox gets MailboxConcurrency
  switchboard sandbox --no-state --latency-ms 50 --batch-throttled-status 424
  switchboard sandbox --no-state --no-limits     # never throttle by itself")]
    Sandbox(SandboxArgs),
    /// Install a connector for an account: prints the installation id and the
    /// consent link (or, with --listen, waits for the browser and finishes).
    #[command(after_help = "Examples:
  # delegated: a user signs in; switchboard waits on a loopback port
  switchboard install microsoft365 --variant delegated \\
      --tenant contoso.onmicrosoft.com --client-id <application id> --listen
  # application: the secret comes from the environment, a file or stdin, never argv
  SWITCHBOARD_CLIENT_SECRET=<secret> switchboard install microsoft365 \\
      --variant application --tenant <tenant id> --client-id <application id>
  switchboard install microsoft365 --variant application --tenant <tenant id> \\
      --client-id <application id> --client-secret-file ./secret.txt --enable mail")]
    Install(InstallArgs),
    /// Finish consent with the URL the browser was sent back to.
    #[command(after_help = "Examples:
  switchboard complete <installation> --callback 'http://localhost/callback?code=...&state=...'
  switchboard complete <installation> --callback 'admin_consent=True&tenant=...&state=...' \\
      --redirect-uri http://localhost/callback")]
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
    #[command(after_help = "Examples:
  switchboard call <installation> users.list_users --param top=5
  switchboard call <installation> mail.list_folder_messages --param folder_id=inbox --all --output ndjson
  switchboard call <installation> onedrive.download --param item_id=<id> --out ./file.bin
  switchboard call <installation> mail.send_mail --param 'message={\"subject\":\"Hi\"}'")]
    Call(CallArgs),
    /// Print the changes of a delta method since the last run, then save
    /// where this run ended (after each page) so the next run goes on from
    /// there.
    #[command(after_help = "Examples:
  switchboard sync <installation> users.delta --output ndjson
  switchboard sync <installation> mail.messages_delta --param user_id=<id> --param folder_id=inbox
  switchboard sync <installation> users.delta --reset    # start over with a full round")]
    Sync(SyncArgs),
    /// Subscribe an installation to change notifications of a resource
    /// (messages, events, contacts, drive, users), with the resource's
    /// maximum lifetime; a `notifications serve` must be reachable at the
    /// URL (Graph validates it before the subscription exists).
    #[command(after_help = "Examples:
  switchboard subscribe <installation> messages --notification-url https://host/graph --param user_id=<id> --param folder_id=inbox
  switchboard subscribe <installation> users --notification-url https://host/graph")]
    Subscribe(SubscribeArgs),
    /// List an installation's change-notification subscriptions.
    #[command(after_help = "Examples:
  switchboard subscriptions <installation> --output json")]
    Subscriptions {
        /// The installation id.
        installation: String,
    },
    /// Receive change notifications.
    #[command(after_help = "Examples:
  switchboard notifications serve --port 8080 --output ndjson")]
    Notifications {
        /// What to do.
        #[command(subcommand)]
        command: NotificationsCommand,
    },
    /// Run calls from an NDJSON file as JSON batches (20 per request where
    /// the connector allows); print each call's result as an NDJSON line.
    #[command(after_help = "Each line of the file is one call:
  {\"method\": \"users.get_user\", \"params\": {\"user_id\": \"<id>\"}}
  {\"method\": \"mail.list_messages\", \"params\": {\"user_id\": \"<id>\", \"top\": 5}, \"depends_on\": [0]}
Each output line: {\"call\": N, \"method\": ..., \"status\": 200, \"body\": ...} or {\"call\": N, \"method\": ..., \"error\": {\"kind\", \"status\", \"message\"}}.

Examples:
  switchboard batch <installation> --file calls.ndjson")]
    Batch(BatchArgs),
    /// Check that an installation's grant works, with one cheap read.
    #[command(after_help = "Examples:
  switchboard test <installation>
  switchboard test <installation> --output json    # exit code 3: consent needed")]
    Test {
        /// The installation id.
        installation: String,
    },
    /// List an account's installations.
    #[command(after_help = "Examples:
  switchboard installations
  switchboard installations --account customer-42 --output json")]
    Installations {
        /// The platform's account reference.
        #[arg(long, default_value = "default")]
        account: String,
    },
    /// Uninstall: the record stays as a tombstone, its secrets are erased.
    #[command(after_help = "Examples:
  switchboard uninstall <installation>")]
    Uninstall {
        /// The installation id.
        installation: String,
    },
    /// Start consent again (a new link; the old grant is dropped).
    #[command(after_help = "Examples:
  switchboard reauth <installation> --listen           # waits for the browser on a loopback port
  switchboard reauth <installation>                    # prints the link; then `switchboard complete`")]
    Reauth(ReauthArgs),
    /// Switch an installation off (calls are refused; the grant is kept).
    #[command(after_help = "Examples:
  switchboard disable <installation>")]
    Disable {
        /// The installation id.
        installation: String,
    },
    /// Switch a disabled installation back on.
    #[command(after_help = "Examples:
  switchboard enable <installation>")]
    Enable {
        /// The installation id.
        installation: String,
    },
    /// Everything offline in one go: sandbox, store, both installs, four tables.
    #[command(after_help = "Examples:
  switchboard quickstart
  switchboard quickstart --seed 7 --output json")]
    Quickstart {
        /// Seeds the sandbox's tenant.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Manage the master keys that encrypt stored secrets.
    #[command(after_help = "Examples:
  switchboard keys rotate
  switchboard keys generate --id k2")]
    Keys {
        /// What to do with the keys.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Create something new from a template (`switchboard new connector NAME`).
    #[command(after_help = "Examples:
  switchboard new connector acme-crm --dir /tmp")]
    New {
        /// What to create.
        #[command(subcommand)]
        what: NewCommand,
    },
}

/// `switchboard sandbox` options.
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Port for identity and Graph (0: a free one; default: the port saved
    /// in the state file, else a free one).
    #[arg(long)]
    pub port: Option<u16>,
    /// Seeds the tenant, ids, signing key and fault plan (default 42; a
    /// sandbox restored from its state file keeps its own tenant).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Fraction of Graph requests answered 429 (0 to 1).
    #[arg(long, default_value_t = 0.0, value_name = "RATE")]
    pub throttle_rate: f64,
    /// Fraction of Graph requests answered 503 or 504 (0 to 1).
    #[arg(long, default_value_t = 0.0, value_name = "RATE")]
    pub fail_rate: f64,
    /// `Retry-After` seconds on injected 429 and 503 answers.
    #[arg(long, default_value_t = 1, value_name = "SECS")]
    pub retry_after: u64,
    /// How long access tokens last, in seconds (short lifetimes exercise
    /// refreshing).
    #[arg(long, default_value_t = 3599, value_name = "SECS")]
    pub token_lifetime: u64,
    /// Serve https with a self-signed certificate; prints its PEM path.
    #[arg(long)]
    pub tls: bool,
    /// Where to write the certificate with `--tls` (default: the temporary directory).
    #[arg(long, requires = "tls", value_name = "PATH")]
    pub cert_path: Option<PathBuf>,
    /// Keep the tenant, app registration, consents, tokens and data in this
    /// file across restarts (default: sandbox-state.json in the user's data
    /// directory, beside the store).
    #[arg(long, env = "SWITCHBOARD_SANDBOX_STATE", value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Forget the saved state: start from the seed and replace the file.
    #[arg(long, conflicts_with = "no_state")]
    pub reset: bool,
    /// Keep nothing: the tenant lives in memory and is gone at exit.
    #[arg(long, conflicts_with = "state")]
    pub no_state: bool,
    /// The largest state file read or written, in MiB.
    #[arg(long, default_value_t = 256, value_name = "MIB")]
    pub state_max_mb: u64,
    #[command(flatten)]
    pub limits: SandboxLimitArgs,
}

/// `switchboard sandbox`: Graph's throttling limits (per app and mailbox
/// for Outlook, per app for the global one) and the service time.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Throttling (Graph's limits; a count of 0 switches one off)")]
pub struct SandboxLimitArgs {
    /// How long every Graph request takes, in milliseconds (0 to 60000;
    /// default 0), so requests stay in flight as against Graph.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub latency_ms: u64,
    /// Requests one app may have in flight for one mailbox (Graph: 4).
    #[arg(long, value_name = "N")]
    pub outlook_concurrency: Option<u32>,
    /// Requests one app may make to one mailbox per window (Graph: 10000).
    #[arg(long, value_name = "N")]
    pub outlook_window_requests: Option<u32>,
    /// That window, in seconds (Graph: 600).
    #[arg(long, value_name = "SECS")]
    pub outlook_window_secs: Option<u64>,
    /// Bytes of PATCH, POST and PUT bodies one app may send to one mailbox
    /// per window (Graph: 150000000, 150 MB).
    #[arg(long, value_name = "BYTES")]
    pub outlook_upload_bytes: Option<u64>,
    /// That window, in seconds (Graph: 300).
    #[arg(long, value_name = "SECS")]
    pub outlook_upload_window_secs: Option<u64>,
    /// Requests one app may make to Graph per window, all services and
    /// mailboxes together (Graph: 130000).
    #[arg(long, value_name = "N")]
    pub global_requests: Option<u32>,
    /// That window, in seconds (Graph: 10).
    #[arg(long, value_name = "SECS")]
    pub global_window_secs: Option<u64>,
    /// The status of a `$batch` response with a throttled request in it:
    /// 200 (Graph's docs since 2025) or 424 (its 2021 docs).
    #[arg(long, default_value = "200", value_parser = ["200", "424"], value_name = "STATUS")]
    pub batch_throttled_status: String,
    /// Switch every limit off (the sandbox then throttles only with
    /// --throttle-rate).
    #[arg(long, conflicts_with_all = ["outlook_concurrency", "outlook_window_requests", "outlook_upload_bytes", "global_requests"])]
    pub no_limits: bool,
}

/// `switchboard install` options.
#[derive(Debug, Clone, Args)]
pub struct InstallArgs {
    /// Connector id (see `switchboard connectors`).
    pub connector: String,
    /// Auth variant (required): `delegated` (a user signs in) or
    /// `application` (an administrator grants access to the whole tenant).
    #[arg(long)]
    pub variant: Option<String>,
    /// The customer's directory (tenant) ID (required): a GUID or a
    /// verified domain.
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,
    /// The platform's account reference.
    #[arg(long, default_value = "default")]
    pub account: String,
    /// The cloud: global, usgov, usgov-dod, china, or custom (with
    /// --login-url and --graph-url). Aliases such as us_government are
    /// accepted and stored under these names.
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
    /// Read the app's client secret from this file (surrounding whitespace
    /// removed). Without this or --client-secret-stdin the secret is
    /// SWITCHBOARD_CLIENT_SECRET, when set. It is stored encrypted with the
    /// installation.
    #[arg(long, value_name = "PATH", conflicts_with = "client_secret_stdin")]
    pub client_secret_file: Option<PathBuf>,
    /// Read the app's client secret from standard input (its first line).
    #[arg(long)]
    pub client_secret_stdin: bool,
    /// Refused: a secret on the command line shows in the process list and
    /// the shell's history.
    #[arg(long, hide = true, value_name = "SECRET")]
    pub client_secret: Option<String>,
    /// Only these categories or methods (repeatable; default: all).
    #[arg(long, value_name = "ID")]
    pub enable: Vec<String>,
    /// An install parameter of the connector (repeatable). Secret ones
    /// are refused here: give them with --secret-env, --secret-file or
    /// --secret-stdin.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// A secret install parameter from an environment variable (repeatable).
    #[arg(long, value_name = "NAME=VARIABLE")]
    pub secret_env: Vec<String>,
    /// A secret install parameter from a file, surrounding whitespace
    /// removed (repeatable).
    #[arg(long, value_name = "NAME=PATH")]
    pub secret_file: Vec<String>,
    /// A secret install parameter from the first line of standard input.
    #[arg(long, value_name = "NAME", conflicts_with = "client_secret_stdin")]
    pub secret_stdin: Option<String>,
    /// Where consent returns.
    #[command(flatten)]
    pub consent: ConsentReturn,
}

/// `switchboard reauth` options.
#[derive(Debug, Clone, Args)]
pub struct ReauthArgs {
    /// The installation id.
    pub installation: String,
    /// Where consent returns.
    #[command(flatten)]
    pub consent: ConsentReturn,
}

/// Where the browser returns after consent (`install`, `reauth`).
#[derive(Debug, Clone, Args)]
pub struct ConsentReturn {
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

/// `switchboard sync` arguments.
#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    /// The installation id.
    pub installation: String,
    /// A delta method id (pagination odata_delta, e.g. users.delta).
    pub method: String,
    /// An argument, `name=value`; the value is JSON when it parses as JSON,
    /// otherwise a string (repeatable). The same arguments name the same
    /// checkpoint.
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Forget the checkpoint and start with a full round (printed after a
    /// `reset` change).
    #[arg(long)]
    pub reset: bool,
    /// How long this run's lease on the (installation, method) sync lasts
    /// without a page, in seconds (1 to 3600, default 120): if the process
    /// dies, another run can take over once that time has passed.
    #[arg(long = "lease-ttl", value_name = "SECONDS")]
    pub lease_ttl: Option<u64>,
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

/// `switchboard subscribe` options.
#[derive(Debug, Clone, Args)]
pub struct SubscribeArgs {
    /// The installation id.
    pub installation: String,
    /// What to watch: messages, events, contacts, drive or users.
    pub resource: String,
    /// Where Graph posts notifications (https; plain http only to loopback,
    /// for the sandbox).
    #[arg(long, value_name = "URL")]
    pub notification_url: String,
    /// Where Graph posts lifecycle notifications (default: the
    /// notification URL).
    #[arg(long, value_name = "URL")]
    pub lifecycle_url: Option<String>,
    /// `user_id=..` (application installations) and `folder_id=..`
    /// (messages) (repeatable).
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    pub params: Vec<String>,
}

/// `switchboard notifications ...`
#[derive(Debug, Subcommand)]
pub enum NotificationsCommand {
    /// Run the notification receiver and the renewal loop: prints each
    /// verified notification as a JSON line, renews subscriptions before
    /// they expire, and answers lifecycle events (renew, recreate, sync
    /// what was missed, printing the changes).
    #[command(after_help = "Examples:
  switchboard notifications serve --port 8080")]
    Serve {
        /// The port to listen on (0: any free port; the first line printed
        /// says which).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        bind: std::net::IpAddr,
        /// Renew subscriptions expiring within this many seconds.
        #[arg(long, default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(60..=2_592_000))]
        renew_within: u64,
        /// Look for subscriptions to renew every this many seconds.
        #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        renew_every: u64,
        /// How renewal reads the time.
        #[command(flatten)]
        clock: ClockArgs,
    },
    /// Renew, once, every stored subscription that expires within
    /// `--within` seconds (the sweep `serve` runs every `--renew-every`),
    /// for a cron job or a node that does not receive notifications. Safe
    /// beside other nodes: each subscription is renewed under a lease.
    /// Prints what was renewed, recreated (the service had forgotten it)
    /// and what failed; exits 2 when any renewal failed.
    #[command(after_help = "Examples:
  switchboard notifications renew --within 86400 --output json")]
    Renew {
        /// Renew subscriptions expiring within this many seconds.
        #[arg(long, default_value_t = 86_400, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(60..=2_592_000))]
        within: u64,
        /// How renewal reads the time.
        #[command(flatten)]
        clock: ClockArgs,
    },
}

/// The time renewal goes by: which subscriptions are due and the new
/// expiry it asks for.
#[derive(Debug, Clone, Copy, Args)]
pub struct ClockArgs {
    /// Read the time as this machine's clock plus this many seconds (at
    /// most ten years): for a service whose clock runs ahead of this
    /// machine's, such as a sandbox whose clock was moved
    /// (`GET /_sandbox/clock` shows its `clock_offset_secs`).
    #[arg(long, default_value_t = 0, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(0..=316_224_000))]
    pub clock_offset: u64,
}

/// `switchboard batch <installation> --file calls.ndjson`
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// The installation id.
    pub installation: String,
    /// The calls, one JSON object per line (at most 16 MiB, 10000 calls).
    #[arg(long, value_name = "PATH")]
    pub file: PathBuf,
}

/// `switchboard keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new master key (key file) and re-encrypt every stored secret
    /// under the newest key.
    #[command(after_help = "Examples:
  switchboard keys rotate
  SWITCHBOARD_MASTER_KEYS=\"$OLD,$(switchboard keys generate --id k2)\" switchboard keys rotate")]
    Rotate,
    /// Print a new `id:base64key` entry for `SWITCHBOARD_MASTER_KEYS`.
    #[command(after_help = "Examples:
  switchboard keys generate
  switchboard keys generate --id k2")]
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
    #[command(after_help = "Examples:
  switchboard new connector acme-crm
  switchboard new connector acme-crm --dir ./connectors --core-path ../switchboard/crates/switchboard-core")]
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
