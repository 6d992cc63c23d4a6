//! Delta sync against the sandbox: everything once, then only changes; a
//! crash repeats at most one page; an expired delta token yields `Reset`
//! and the full set; other errors and other nodes leave the checkpoint
//! alone. The store is SQLite in a temporary directory.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_core::credential::{AccessToken, StaticCredential};
use switchboard_core::{Arguments, Engine, ErrorKind, InstallationContext, Registry};
use switchboard_installations::install::{
    ClientCredentials, Installation, InstallationSecrets, InstallationStore,
};
use switchboard_microsoft365_sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use switchboard_store::{KeyRing, SqliteStore, Store};
use switchboard_sync::{Change, SyncLeases, Syncer};

const REDIRECT: &str = "http://127.0.0.1:8400/callback";
const METHOD: &str = "mail.messages_delta";

struct World {
    sb: SandboxHandle,
    token: String,
    user: String,
    store: Arc<Store>,
    engine: Engine,
    ctx: InstallationContext,
    _dir: tempfile::TempDir,
}

async fn app_token(sb: &SandboxHandle) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut consent = url::Url::parse(&format!(
        "{}/{}/v2.0/adminconsent",
        sb.login_url(),
        sb.tenant_id()
    ))
    .unwrap();
    consent
        .query_pairs_mut()
        .append_pair("client_id", &sb.client().client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("state", "s");
    assert_eq!(http.get(consent).send().await.unwrap().status(), 302);
    let secret = sb.client().client_secret.expose().to_string();
    let scope = format!("{}/.default", sb.graph_url());
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", sb.client().client_id.as_str()),
        ("client_secret", secret.as_str()),
        ("scope", scope.as_str()),
    ];
    let body: Value = http
        .post(format!(
            "{}/{}/oauth2/v2.0/token",
            sb.login_url(),
            sb.tenant_id()
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

async fn world(config: SandboxConfig) -> World {
    let sb = Sandbox::start(config).await.unwrap();
    let token = app_token(&sb).await;
    let user = sb.users()[0].id.clone();
    let dir = tempfile::tempdir().unwrap();
    let ring = KeyRing::generate("k1").unwrap();
    let store = Arc::new(Store::Sqlite(
        SqliteStore::open(dir.path().join("s.db"), ring)
            .await
            .unwrap(),
    ));
    let inst = store
        .create(
            Installation::new("acct", "microsoft365", "1.0.0", "application")
                .with_tenant_id(Some(sb.tenant_id().to_string()))
                .with_client(ClientCredentials::Installation {
                    client_id: sb.client().client_id.clone(),
                }),
            InstallationSecrets::default(),
        )
        .await
        .unwrap();
    let mut registry = Registry::new();
    switchboard_microsoft365::register(&mut registry).unwrap();
    let engine = Engine::builder(registry).build().unwrap();
    let settings =
        json!({"cloud": "custom", "login_url": sb.login_url(), "graph_url": sb.graph_url()})
            .as_object()
            .unwrap()
            .clone();
    let ctx = engine
        .installation(
            inst.id,
            "microsoft365",
            "application",
            settings,
            Arc::new(StaticCredential::new(AccessToken::new(token.clone(), None))),
        )
        .unwrap();
    World {
        sb,
        token,
        user,
        store,
        engine,
        ctx,
        _dir: dir,
    }
}

impl World {
    fn syncer(&self, node: &str) -> Syncer {
        let store: Arc<dyn InstallationStore> = self.store.clone();
        let leases: Arc<dyn SyncLeases> = self.store.clone();
        Syncer::new(self.engine.clone(), store, leases).with_holder(node)
    }

    fn args(&self) -> Arguments {
        Arguments::new()
            .set("user_id", self.user.clone())
            .set("folder_id", "inbox")
            .set("prefer_max_page_size", 5)
    }

    /// Runs a whole sync, acknowledging every page: the changes.
    async fn sync_all(&self, node: &str, reset: bool) -> Vec<Change> {
        let mut run = self
            .syncer(node)
            .start(&self.ctx, METHOD, self.args(), reset)
            .await
            .unwrap();
        let mut all = Vec::new();
        while let Some(page) = run.next_page().await.unwrap() {
            all.extend(page.changes().iter().cloned());
            run.ack(page).await.unwrap();
        }
        run.finish().await.unwrap();
        all
    }

    async fn graph(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = reqwest::Client::new()
            .request(method, format!("{}/v1.0{path}", self.sb.graph_url()))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
        resp.json().await.unwrap_or(Value::Null)
    }

    /// Graph requests the sandbox served whose path contains `part`.
    fn requests(&self, part: &str) -> usize {
        self.sb
            .request_log()
            .iter()
            .filter(|r| r.path.contains(part))
            .count()
    }
}

fn ids(changes: &[Change]) -> Vec<String> {
    changes
        .iter()
        .filter_map(|c| match c {
            Change::Upsert(v) => v["id"].as_str().map(str::to_string),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn everything_once_then_only_changes_and_a_crash_repeats_at_most_one_page() {
    let w = world(SandboxConfig::new(70)).await;
    // first run: acknowledge two pages, then "crash" with the third in hand
    let mut run = w
        .syncer("node-a")
        .start(&w.ctx, METHOD, w.args(), false)
        .await
        .unwrap();
    let mut delivered = Vec::new();
    for _ in 0..2 {
        let page = run.next_page().await.unwrap().unwrap();
        delivered.extend(ids(page.changes()));
        run.ack(page).await.unwrap();
    }
    let crashed = run.next_page().await.unwrap().unwrap();
    let crashed_ids = ids(crashed.changes());
    assert_eq!(crashed_ids.len(), 5);
    delivered.extend(crashed_ids.clone());
    // the next page is refused until this one is acknowledged
    assert_eq!(run.next_page().await.unwrap_err().field(), Some("ack"));
    drop(run);

    // the node comes back: the unacknowledged page comes first, nothing is lost
    let again = w.sync_all("node-a", false).await;
    let again_ids = ids(&again);
    assert_eq!(
        &again_ids[..5],
        &crashed_ids[..],
        "the crashed page is delivered again"
    );
    delivered.extend(again_ids);
    let mut unique = delivered.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 24, "every inbox message");
    assert_eq!(delivered.len(), 24 + 5, "at most one page repeated");

    // nothing changed: an empty round
    assert!(w.sync_all("node-a", false).await.is_empty());

    // a new message and a deletion: exactly those
    let created = w
        .graph(
            reqwest::Method::POST,
            &format!("/users/{}/mailFolders/inbox/messages", w.user),
            Some(json!({"subject": "synced", "body": {"contentType": "text", "content": "x"}})),
        )
        .await;
    let gone = &unique[0];
    w.graph(
        reqwest::Method::DELETE,
        &format!("/users/{}/messages/{gone}", w.user),
        None,
    )
    .await;
    let changes = w.sync_all("node-a", false).await;
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert!(changes.iter().any(
        |c| matches!(c, Change::Upsert(v) if v["id"] == created["id"] && v["subject"] == "synced")
    ));
    assert!(
        changes
            .iter()
            .any(|c| matches!(c, Change::Delete { id, .. } if id == gone))
    );
    w.sb.shutdown().await;
}

#[tokio::test]
async fn an_expired_delta_token_yields_reset_then_the_full_set() {
    let w = world(SandboxConfig::new(71).with_delta_token_max_age(Some(Duration::from_secs(3600))))
        .await;
    assert_eq!(ids(&w.sync_all("node-a", false).await).len(), 24);
    w.sb.advance_clock(Duration::from_secs(7200)).unwrap();
    let before = w.requests("/messages/delta");
    let changes = w.sync_all("node-a", false).await;
    assert_eq!(changes[0], Change::Reset, "Reset comes first");
    assert_eq!(changes.iter().filter(|c| **c == Change::Reset).count(), 1);
    assert_eq!(ids(&changes).len(), 24, "then the full set");
    // one refused request (410), then 5 pages of the fresh round
    assert_eq!(w.requests("/messages/delta") - before, 1 + 5);
    // the fresh checkpoint was committed
    assert!(w.sync_all("node-a", false).await.is_empty());
    // --reset starts over on request, also announced
    let reset = w.sync_all("node-a", true).await;
    assert_eq!(reset[0], Change::Reset);
    assert_eq!(ids(&reset).len(), 24);
    w.sb.shutdown().await;
}

#[tokio::test]
async fn other_errors_and_other_nodes_leave_the_checkpoint_alone() {
    let w = world(SandboxConfig::new(72)).await;
    w.sync_all("node-a", false).await;
    let inst = w.ctx.installation_id();
    let stored = |s: &InstallationSecrets| {
        use secrecy::ExposeSecret;
        s.continuations
            .values()
            .map(|v| v.expose_secret().to_string())
            .collect::<Vec<_>>()
    };
    let before = stored(&w.store.load_secrets(inst).await.unwrap().unwrap().value);
    assert_eq!(before.len(), 1);
    assert!(!format!("{:?}", w.store.load_secrets(inst).await.unwrap()).contains("deltatoken"));

    // a node holding the lease keeps the others out
    let run = w
        .syncer("node-a")
        .start(&w.ctx, METHOD, w.args(), false)
        .await
        .unwrap();
    let err = w
        .syncer("node-b")
        .start(&w.ctx, METHOD, w.args(), false)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    run.finish().await.unwrap();

    // the token stops working: the sync fails, the checkpoint stays
    w.sb.expire_all_tokens();
    let mut run = w
        .syncer("node-b")
        .start(&w.ctx, METHOD, w.args(), false)
        .await
        .unwrap();
    let err = run.next_page().await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Unauthorized | ErrorKind::NeedsReauth),
        "{err}"
    );
    run.finish().await.unwrap();
    assert_eq!(
        stored(&w.store.load_secrets(inst).await.unwrap().unwrap().value),
        before
    );
    // and the delta link is not in the database file in the clear
    let raw = std::fs::read(w._dir.path().join("s.db")).unwrap();
    let link = &before[0];
    let needle = link.split("deltatoken=").nth(1).unwrap_or(link);
    assert!(
        !raw.windows(needle.len())
            .any(|win| win == needle.as_bytes())
    );
    w.sb.shutdown().await;
}

#[tokio::test]
async fn a_node_whose_lease_was_taken_over_cannot_commit_its_checkpoint() {
    let w = world(SandboxConfig::new(72)).await;
    let inst = w.ctx.installation_id();
    let checkpoint = async || {
        use secrecy::ExposeSecret;
        let secrets = w.store.load_secrets(inst).await.unwrap().unwrap();
        let values: Vec<String> = secrets
            .value
            .continuations
            .values()
            .map(|v| v.expose_secret().to_string())
            .collect();
        (secrets.version, values)
    };
    // node-a reads its first page, then stalls before acknowledging it
    let mut stalled = w
        .syncer("node-a")
        .start(&w.ctx, METHOD, w.args(), false)
        .await
        .unwrap();
    let page = stalled.next_page().await.unwrap().unwrap();
    assert!(!page.changes().is_empty());
    // its lease passes to node-b (as when it runs out: here given up so
    // that no clock is involved)
    let key = switchboard_sync::ResourceKey::new(METHOD, &w.args());
    w.store
        .release_lease(inst, key.as_str(), "node-a")
        .await
        .unwrap();
    let mut taker = w
        .syncer("node-b")
        .start(&w.ctx, METHOD, w.args(), false)
        .await
        .unwrap();
    let before = checkpoint().await;
    assert!(before.1.is_empty(), "nothing committed yet");

    let err = stalled.ack(page).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(
        err.to_string()
            .contains("passed to another node; this page's checkpoint was not committed"),
        "{err}"
    );
    assert_eq!(
        checkpoint().await,
        before,
        "nothing written, not even a version"
    );

    // node-b, holding the lease, commits
    let page = taker.next_page().await.unwrap().unwrap();
    taker.ack(page).await.unwrap();
    let after = checkpoint().await;
    assert_eq!(after.0, before.0 + 1);
    assert_eq!(after.1.len(), 1);
    taker.finish().await.unwrap();
    w.sb.shutdown().await;
}
