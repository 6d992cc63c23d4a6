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

    /// A POSIX shell running `line`, with the store and the test
    /// environment set as for [`Cli::command`].
    pub fn shell(&self, line: &str) -> Command {
        let mut cmd = self.command(&[]);
        let std = cmd.as_std_mut();
        let envs: Vec<_> = std
            .get_envs()
            .map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned())))
            .collect();
        let mut shell = Command::new("sh");
        shell
            .arg("-c")
            .arg(line)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        for (k, v) in envs {
            match v {
                Some(v) => shell.env(k, v),
                None => shell.env_remove(k),
            };
        }
        shell
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
    /// The data directory it runs with (`XDG_DATA_HOME`): where its state
    /// file goes without `--state`.
    pub data_home: tempfile::TempDir,
}

impl SandboxChild {
    /// Runs `switchboard sandbox ARGS` with a data directory of its own.
    pub async fn spawn(args: &[&str]) -> Self {
        Self::spawn_in(tempfile::tempdir().unwrap(), args, &[]).await
    }

    /// Runs `switchboard sandbox ARGS` with more environment variables.
    pub async fn spawn_with_env(args: &[&str], envs: &[(&str, &str)]) -> Self {
        Self::spawn_in(tempfile::tempdir().unwrap(), args, envs).await
    }

    /// Runs `switchboard sandbox ARGS` with `data_home` as `XDG_DATA_HOME`.
    pub async fn spawn_in(
        data_home: tempfile::TempDir,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Self {
        let mut child = Command::new(binary())
            .arg("sandbox")
            .args(args)
            .env("XDG_DATA_HOME", data_home.path())
            .env_remove("SWITCHBOARD_SANDBOX_STATE")
            .envs(envs.iter().copied())
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
            while let Ok(Some(line)) = reader.next_line().await {
                let done = line.starts_with("try:");
                lines.push(line);
                if done {
                    break;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .unwrap_or_else(|_| panic!("the sandbox printed its description in time: {lines:?}"));
        if !lines.last().is_some_and(|l| l.starts_with("try:")) {
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ =
                    tokio::time::timeout(Duration::from_secs(10), e.read_to_string(&mut stderr))
                        .await;
            }
            panic!("the sandbox did not start: {lines:?}\n{stderr}");
        }
        SandboxChild {
            child,
            lines,
            data_home,
        }
    }

    /// What installations against it need.
    pub fn target(&self) -> Target {
        Target {
            base_url: self.base_url().to_string(),
            tenant_id: self.value("tenant_id"),
            client_id: self.value("client_id"),
            client_secret: self.value("client_secret"),
        }
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
    pub async fn interrupt(self) -> i32 {
        self.signal("INT").await
    }

    /// Send a signal (`INT`, `TERM`, `KILL`) and wait for the exit code
    /// (-1 when it was killed by the signal).
    pub async fn signal(mut self, name: &str) -> i32 {
        let pid = self.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .unwrap();
        assert!(status.success());
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the sandbox stopped after the signal")
            .unwrap();
        status.code().unwrap_or(-1)
    }
}

/// What an installation against a sandbox needs.
#[derive(Debug, Clone)]
pub struct Target {
    pub base_url: String,
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: String,
}

impl Target {
    /// The target of an in-process sandbox.
    pub fn of(sandbox: &switchboard_microsoft365_sandbox::SandboxHandle) -> Self {
        let app = sandbox.client();
        Target {
            base_url: sandbox.base_url().to_string(),
            tenant_id: sandbox.tenant_id().to_string(),
            client_id: app.client_id.clone(),
            client_secret: app.client_secret.expose().to_string(),
        }
    }
}

impl Cli {
    /// `install` arguments pointing at `target`; the client secret is
    /// passed in a file (never on the command line).
    pub fn install_args(&self, target: &Target, variant: &str) -> Vec<String> {
        let secret_file = self.secret_file(&target.client_id, &target.client_secret);
        [
            "install",
            "microsoft365",
            "--variant",
            variant,
            "--tenant",
            &target.tenant_id,
            "--cloud",
            "custom",
            "--login-url",
            &target.base_url,
            "--graph-url",
            &target.base_url,
            "--client-id",
            &target.client_id,
            "--client-secret-file",
            secret_file.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    /// A file holding `secret` (for `--client-secret-file`), one per app;
    /// written by rename, so installs running side by side never read it
    /// half-written.
    pub fn secret_file(&self, client_id: &str, secret: &str) -> PathBuf {
        let path = self.dir().join(format!("client-secret-{client_id}.txt"));
        let mut temp = tempfile::NamedTempFile::new_in(self.dir()).unwrap();
        std::io::Write::write_all(&mut temp, format!("{secret}\n").as_bytes()).unwrap();
        temp.persist(&path).unwrap();
        path
    }

    /// Install the application variant: the admin consent link is followed
    /// with an HTTP client and the URL it redirects to is handed to
    /// `switchboard complete`. Returns the installation id.
    pub async fn install_application(&self, target: &Target, extra: &[&str]) -> String {
        let mut args = self.install_args(target, "application");
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let started = self.json(&args).await;
        assert_eq!(started["installation"]["status"], "pending_consent");
        let id = started["installation"]["id"].as_str().unwrap().to_string();
        let consent = started["consent_url"].as_str().unwrap();
        assert!(consent.contains("/v2.0/adminconsent?"), "{consent}");
        let callback = follow(consent).await;
        assert!(callback.contains("admin_consent=True"), "{callback}");
        let done = self.json(&["complete", &id, "--callback", &callback]).await;
        assert_eq!(done["status"], "active");
        id
    }

    /// Install the delegated variant with `--listen`, signing in as
    /// `login_hint` (a user's UPN) or the sandbox's first user.
    pub async fn install_delegated(
        &self,
        target: &Target,
        extra: &[&str],
        login_hint: Option<&str>,
    ) -> String {
        self.listen_delegated(target, extra)
            .await
            .consent_in_browser(login_hint)
            .await
            .0
    }

    /// Start `install --listen` for the delegated variant; it prints the
    /// consent link and waits on its loopback redirect URI.
    pub async fn listen_delegated(&self, target: &Target, extra: &[&str]) -> Listening {
        let mut args = self.install_args(target, "delegated");
        args.push("--listen".to_string());
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let listening = self.listen(&args).await;
        assert!(
            listening.consent.contains("code_challenge_method=S256"),
            "{}",
            listening.consent
        );
        listening
    }

    /// Start a command that prints a consent link and waits on a loopback
    /// redirect URI (`install --listen`, `reauth --listen`).
    pub async fn listen(&self, args: &[&str]) -> Listening {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--timeout", "60", "--output", "ndjson"]);
        let mut child = self
            .command(&all)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .unwrap()
            .unwrap();
        let Some(first) = first else {
            let out = child.wait_with_output().await.unwrap();
            panic!(
                "{all:?} printed no consent link: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let started: Value = serde_json::from_str(&first).unwrap();
        let consent = started["consent_url"].as_str().unwrap().to_string();
        let redirect = started["redirect_uri"].as_str().unwrap().to_string();
        assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
        Listening {
            child,
            lines,
            started,
            consent,
            redirect,
        }
    }
}

/// A command (`install --listen`, `reauth --listen`) waiting for the browser.
pub struct Listening {
    child: Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    /// What it printed first: the installation and its consent link.
    pub started: Value,
    pub consent: String,
    /// `http://127.0.0.1:PORT/callback`.
    pub redirect: String,
}

impl Listening {
    /// Open the consent link as a browser would (every redirect followed,
    /// ending on the listener); the command must finish with the
    /// installation active. Returns the installation id and what the CLI
    /// printed on stderr.
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
            .expect("the command printed the active installation");
        let status = self.child.wait().await.unwrap();
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .await
            .unwrap();
        assert!(status.success(), "--listen exited {status}: {stderr}");
        let active: Value = serde_json::from_str(&second).unwrap();
        assert_eq!(active["status"], "active");
        assert_eq!(active["id"], self.started["installation"]["id"]);
        (active["id"].as_str().unwrap().to_string(), stderr)
    }
}

/// A sandbox started in-process (its request log is readable) and a CLI
/// with its own store.
pub struct Env {
    pub sandbox: switchboard_microsoft365_sandbox::SandboxHandle,
    pub cli: Cli,
    pub target: Target,
}

impl Env {
    pub async fn start(config: switchboard_microsoft365_sandbox::SandboxConfig) -> Self {
        let sandbox = switchboard_microsoft365_sandbox::Sandbox::start(config)
            .await
            .unwrap();
        let target = Target::of(&sandbox);
        Env {
            sandbox,
            cli: Cli::new(),
            target,
        }
    }

    /// `install` arguments pointing at the sandbox.
    pub fn install_args(&self, variant: &str) -> Vec<String> {
        self.cli.install_args(&self.target, variant)
    }

    /// [`Cli::install_application`] against this sandbox.
    pub async fn install_application(&self, extra: &[&str]) -> String {
        self.cli.install_application(&self.target, extra).await
    }

    /// [`Cli::install_delegated`] against this sandbox, as its first user.
    pub async fn install_delegated(&self, extra: &[&str]) -> String {
        self.cli.install_delegated(&self.target, extra, None).await
    }

    /// [`Cli::install_delegated`] against this sandbox, as `login_hint`.
    pub async fn install_delegated_as(&self, extra: &[&str], login_hint: Option<&str>) -> String {
        self.cli
            .install_delegated(&self.target, extra, login_hint)
            .await
    }

    /// [`Cli::listen_delegated`] against this sandbox.
    pub async fn listen_delegated(&self, extra: &[&str]) -> Listening {
        self.cli.listen_delegated(&self.target, extra).await
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

/// Fail the test on any request no mock expected.
pub async fn catch_all(server: &wiremock::MockServer) {
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(599))
        .with_priority(250)
        .named("unexpected request")
        .expect(0)
        .mount(server)
        .await;
}
