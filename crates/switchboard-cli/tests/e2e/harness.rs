//! Running the `switchboard` binary against a sandbox.
//!
//! [`Cli`] runs the built binary with a fresh SQLite store and key file in a
//! temporary directory, and a fast retry policy (the sandbox's faults carry
//! `Retry-After: 0` in these tests). [`SandboxChild`] runs
//! `switchboard sandbox` as a child process; most tests start the sandbox
//! in-process instead (`Sandbox::start`) so they can read its request log.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

/// The built binary.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_switchboard")
}

/// The CLI with its own store in a temporary directory.
pub struct Cli {
    dir: tempfile::TempDir,
    envs: Vec<(String, String)>,
}

impl Cli {
    pub fn new() -> Self {
        Cli {
            dir: tempfile::tempdir().unwrap(),
            envs: vec![
                ("SWITCHBOARD_MAX_RETRIES".into(), "10".into()),
                ("SWITCHBOARD_RETRY_BACKOFF_MS".into(), "5".into()),
            ],
        }
    }

    /// An environment variable for every run.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.envs.push((name.into(), value.into()));
        self
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn store_spec(&self) -> String {
        format!("sqlite:{}", self.dir.path().join("store.db").display())
    }

    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("master.keys")
    }

    /// A command with the store and the test environment set.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(binary());
        cmd.args(args)
            .env("SWITCHBOARD_STORE", self.store_spec())
            .env_remove("SWITCHBOARD_MASTER_KEYS")
            .env_remove("SWITCHBOARD_KEY_FILE")
            .env_remove("SWITCHBOARD_LOG")
            .env("XDG_DATA_HOME", self.dir.path().join("xdg"))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        cmd
    }

    /// Run to the end.
    pub async fn run(&self, args: &[&str]) -> Run {
        let out = tokio::time::timeout(Duration::from_secs(120), self.command(args).output())
            .await
            .unwrap_or_else(|_| panic!("switchboard {args:?} did not finish in 120 s"))
            .unwrap();
        Run {
            args: args.iter().map(|s| s.to_string()).collect(),
            out,
        }
    }

    /// Run and insist on exit code 0.
    pub async fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args).await;
        assert_eq!(run.code(), 0, "{run}");
        run
    }

    /// Run with `--output json` and parse stdout.
    pub async fn json(&self, args: &[&str]) -> Value {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--output", "json"]);
        self.ok(&all).await.json()
    }
}

/// A finished run.
pub struct Run {
    pub args: Vec<String>,
    pub out: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.out.status.code().unwrap_or(-1)
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.out.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self}"))
    }
    /// stdout as NDJSON values.
    pub fn ndjson(&self) -> Vec<Value> {
        self.stdout()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "switchboard {:?} exited {}\n--- stdout\n{}\n--- stderr\n{}",
            self.args,
            self.code(),
            self.stdout(),
            self.stderr()
        )
    }
}

/// `switchboard sandbox` as a child process.
pub struct SandboxChild {
    pub child: Child,
    /// Every stdout line printed before the sandbox said it was running.
    pub lines: Vec<String>,
}

impl SandboxChild {
    pub async fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(binary())
            .arg("sandbox")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut reader = BufReader::new(stdout).lines();
        let mut lines = Vec::new();
        let read = async {
            while let Some(line) = reader.next_line().await.unwrap() {
                let done = line.starts_with("try:");
                lines.push(line);
                if done {
                    break;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .expect("the sandbox printed its description in time");
        SandboxChild { child, lines }
    }

    pub fn base_url(&self) -> &str {
        &self.lines[0]
    }

    /// The value of a `name: value` line.
    pub fn value(&self, name: &str) -> String {
        let prefix = format!("{name}: ");
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no `{name}:` line in {:?}", self.lines))
            .to_string()
    }

    /// Send SIGINT (Ctrl-C) and wait for the exit code.
    pub async fn interrupt(mut self) -> i32 {
        let pid = self.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap();
        assert!(status.success());
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the sandbox stopped after Ctrl-C")
            .unwrap();
        status.code().unwrap_or(-1)
    }
}

/// A sandbox started in-process (its request log is readable) and a CLI
/// with its own store.
pub struct Env {
    pub sandbox: switchboard_microsoft365_sandbox::SandboxHandle,
    pub cli: Cli,
}

impl Env {
    pub async fn start(config: switchboard_microsoft365_sandbox::SandboxConfig) -> Self {
        let sandbox = switchboard_microsoft365_sandbox::Sandbox::start(config)
            .await
            .unwrap();
        Env {
            sandbox,
            cli: Cli::new(),
        }
    }

    /// `install` arguments pointing at the sandbox.
    pub fn install_args(&self, variant: &str) -> Vec<String> {
        let app = self.sandbox.client();
        [
            "install",
            "microsoft365",
            "--variant",
            variant,
            "--tenant",
            self.sandbox.tenant_id(),
            "--cloud",
            "custom",
            "--login-url",
            self.sandbox.login_url(),
            "--graph-url",
            self.sandbox.graph_url(),
            "--client-id",
            &app.client_id,
            "--client-secret",
            app.client_secret.expose(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// Install the application variant: the admin consent link is followed
    /// with an HTTP client and the URL it redirects to is handed to
    /// `switchboard complete`. Returns the installation id.
    pub async fn install_application(&self, extra: &[&str]) -> String {
        let mut args = self.install_args("application");
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = self.cli.json(&args).await;
        assert_eq!(started["installation"]["status"], "pending_consent");
        let id = started["installation"]["id"].as_str().unwrap().to_string();
        let consent = started["consent_url"].as_str().unwrap();
        assert!(consent.contains("/v2.0/adminconsent?"), "{consent}");
        let callback = follow(consent).await;
        assert!(callback.contains("admin_consent=True"), "{callback}");
        let done = self
            .cli
            .json(&["complete", &id, "--callback", &callback])
            .await;
        assert_eq!(done["status"], "active");
        id
    }

    /// Install the delegated variant with `--listen`: the CLI waits on a
    /// loopback port; the authorize link is opened with an HTTP client that
    /// follows the sandbox's redirect back to it, as a browser would.
    pub async fn install_delegated(&self, extra: &[&str]) -> String {
        self.install_delegated_as(extra, None).await
    }

    /// [`Env::install_delegated`], signing in as `login_hint` (a user's UPN).
    pub async fn install_delegated_as(&self, extra: &[&str], login_hint: Option<&str>) -> String {
        self.listen_delegated(extra)
            .await
            .consent_in_browser(login_hint)
            .await
            .0
    }

    /// Start `install --listen` for the delegated variant; it prints the
    /// consent link and waits on its loopback redirect URI.
    pub async fn listen_delegated(&self, extra: &[&str]) -> Listening {
        let mut args = self.install_args("delegated");
        args.extend(["--listen", "--timeout", "60", "--output", "ndjson"].map(String::from));
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = self
            .cli
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .expect("install printed the consent link");
        let started: Value = serde_json::from_str(&first).unwrap();
        let consent = started["consent_url"].as_str().unwrap().to_string();
        let redirect = started["redirect_uri"].as_str().unwrap().to_string();
        assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
        assert!(consent.contains("code_challenge_method=S256"), "{consent}");
        Listening {
            child,
            lines,
            started,
            consent,
            redirect,
        }
    }
}

/// `install --listen` waiting for the browser.
pub struct Listening {
    child: Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    pub started: Value,
    pub consent: String,
    /// `http://127.0.0.1:PORT/callback`.
    pub redirect: String,
}

impl Listening {
    /// Open the consent link as a browser would (every redirect followed,
    /// ending on the listener); the install must finish active. Returns
    /// the installation id and what the CLI printed on stderr.
    pub async fn consent_in_browser(mut self, login_hint: Option<&str>) -> (String, String) {
        let mut consent = self.consent.clone();
        if let Some(hint) = login_hint {
            consent = format!("{consent}&login_hint={hint}");
        }
        let page = reqwest::get(&consent).await.unwrap();
        assert_eq!(page.status().as_u16(), 200);
        assert!(page.url().as_str().starts_with(&self.redirect));
        let second = tokio::time::timeout(Duration::from_secs(60), self.lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .expect("install printed the active installation");
        let status = self.child.wait().await.unwrap();
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .await
            .unwrap();
        assert!(
            status.success(),
            "install --listen exited {status}: {stderr}"
        );
        let active: Value = serde_json::from_str(&second).unwrap();
        assert_eq!(active["status"], "active");
        assert_eq!(active["id"], self.started["installation"]["id"]);
        (active["id"].as_str().unwrap().to_string(), stderr)
    }
}

/// Open a consent link without following its redirect; the `Location`.
pub async fn follow(url: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http.get(url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302, "{url}");
    r.headers()["location"].to_str().unwrap().to_string()
}
