//! An application installation of the sandbox through the front door, on
//! an encrypted SQLite store in a temporary directory.

#![allow(dead_code)]

use switchboard::{InstallationClient, KeyRing, Store, Switchboard};
use switchboard_microsoft365_sandbox::{Sandbox, SandboxConfig, SandboxHandle};

pub struct World {
    pub sb: SandboxHandle,
    pub store: Store,
    pub board: Switchboard,
    pub client: InstallationClient,
    pub user: String,
    _dir: tempfile::TempDir,
}

/// A `Switchboard` on `store` whose leases are held as `node`.
pub fn switchboard_on(store: &Store, node: &str) -> Switchboard {
    Switchboard::builder()
        .store(store.clone())
        .connector(switchboard_microsoft365::connector().unwrap())
        .redirect_uri("http://127.0.0.1/callback")
        .node(node)
        .build()
        .unwrap()
}

/// A sandbox seeded with `seed` and an active application installation.
pub async fn installed(seed: u64) -> World {
    installed_on(SandboxConfig::new(seed)).await
}

/// A sandbox started with `config` and an active application installation.
pub async fn installed_on(config: SandboxConfig) -> World {
    let sb = Sandbox::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("sqlite:{}", dir.path().join("s.db").display());
    let store = Store::open(&spec, KeyRing::generate("k1").unwrap())
        .await
        .unwrap();
    let board = switchboard_on(&store, "node-a");
    let started = board
        .install(sb.install_request("acct", "application"))
        .await
        .unwrap();
    let callback = sb.consent(started.consent_link().unwrap()).await.unwrap();
    let installation = board.complete(&callback).await.unwrap();
    let client = board.installation(installation.id).await.unwrap();
    let user = sb.users()[0].id.clone();
    World {
        sb,
        store,
        board,
        client,
        user,
        _dir: dir,
    }
}

impl World {
    /// Graph requests the sandbox served with `method` whose path contains `part`.
    pub fn requests(&self, method: &str, part: &str) -> usize {
        self.sb
            .request_log()
            .iter()
            .filter(|r| r.method == method && r.path.contains(part))
            .count()
    }
}
