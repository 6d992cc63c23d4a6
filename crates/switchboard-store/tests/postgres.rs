//! The store suite on PostgreSQL, plus PostgreSQL's own fault tests.
//!
//! Needs `SWITCHBOARD_TEST_DATABASE_URL` (`eval "$(bash
//! scripts/postgres-ci.sh)"` starts a throwaway server and sets it): every
//! test here that talks to the database is named `postgres_*` (the suite
//! sits in `mod postgres_suite`), so that `scripts/test.sh` runs them as the
//! PostgreSQL stage, or reports that stage skipped when the URL is not set;
//! the TLS tests, `postgres_tls_*`, need `SWITCHBOARD_TEST_DATABASE_TLS_URL`
//! and have a stage of their own.
//! Every test works in its own new schema.

mod database_url;
mod suite;

use std::net::SocketAddr;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::ExposeSecret;
use suite::{Backend, KeyBox, SECRET_COLUMNS_SQL};
use switchboard_core::ErrorKind;
use switchboard_installations::install::{Installation, InstallationSecrets, InstallationStore};
use switchboard_store::postgres::{PostgresOptions, PostgresStore};
use switchboard_store::{KeyRing, MasterKeys, OpenOptions, Opened, Store};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_postgres::NoTls;

struct PgBackend {
    url: String,
    schema: String,
    keys: KeyBox,
}

impl PgBackend {
    async fn new() -> Self {
        PgBackend {
            url: database_url::required(),
            schema: format!("t_{}", uuid::Uuid::new_v4().simple()),
            keys: KeyBox::default(),
        }
    }

    async fn raw(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls).await.unwrap();
        tokio::spawn(connection);
        client
            .batch_execute(&format!("SET search_path TO {}", self.schema))
            .await
            .unwrap();
        client
    }

    async fn texts(&self, sql: &str) -> Vec<String> {
        let client = self.raw().await;
        let wrapped = format!("SELECT (q.*)::text FROM ({sql}) AS q");
        client
            .query(&wrapped, &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect()
    }
}

#[async_trait]
impl Backend for PgBackend {
    async fn open(&self, ring: KeyRing) -> switchboard_core::Result<Store> {
        Ok(Store::Postgres(
            PostgresStore::connect_with(
                &self.url,
                ring,
                PostgresOptions::default().with_schema(&self.schema),
            )
            .await?,
        ))
    }

    async fn open_keys(
        &self,
        keys: MasterKeys,
        options: OpenOptions,
    ) -> switchboard_core::Result<Opened> {
        let postgres = PostgresOptions::default().with_schema(&self.schema);
        Store::open_with(&self.url, keys, options.with_postgres(postgres)).await
    }

    async fn exec(&self, sql: &str) {
        self.raw().await.batch_execute(sql).await.unwrap();
    }

    async fn scalar(&self, sql: &str) -> String {
        let client = self.raw().await;
        let row = client
            .query_one(
                &format!("SELECT (q.*)::text FROM ({sql}) AS q LIMIT 1"),
                &[],
            )
            .await
            .unwrap();
        let text: String = row.get(0);
        // a one-column row casts to `(value)`
        text.trim_start_matches('(')
            .trim_end_matches(')')
            .to_string()
    }

    async fn dump(&self) -> String {
        let mut all = self.texts("SELECT * FROM installations").await;
        all.extend(self.texts("SELECT * FROM refresh_locks").await);
        all.join("\n")
    }

    async fn secret_columns(&self) -> String {
        self.texts(SECRET_COLUMNS_SQL).await.join("\n")
    }

    fn keys(&self) -> &KeyBox {
        &self.keys
    }
}

mod postgres_suite {
    use super::*;
    store_suite!(PgBackend::new());
}

/// A TCP relay to the database that the test can cut and restore, to play
/// a database that goes down and comes back.
struct Relay {
    addr: SocketAddr,
    target: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl Relay {
    async fn start(target: SocketAddr, addr: SocketAddr) -> Relay {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut pipes = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                pipes.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Relay {
            addr,
            target,
            task: Some(task),
        }
    }

    /// Close the listener and every relayed connection.
    async fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    async fn restore(&mut self) {
        let again = Relay::start(self.target, self.addr).await;
        *self = again;
    }
}

fn target_of(url: &str) -> (SocketAddr, String) {
    let config: tokio_postgres::Config = url.parse().unwrap();
    let host = match &config.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        #[allow(unreachable_patterns)]
        _ => panic!("the test database must be reached over TCP"),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let ip = if host == "localhost" {
        "127.0.0.1".to_string()
    } else {
        host.clone()
    };
    (format!("{ip}:{port}").parse().unwrap(), host)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_database_that_goes_down_gives_storage_errors_and_loses_nothing() {
    let backend = PgBackend::new().await;
    let (target, host) = target_of(&backend.url);
    let mut relay = Relay::start(target, "127.0.0.1:0".parse().unwrap()).await;
    let relayed_url = backend.url.replacen(
        &format!("{host}:{}", target.port()),
        &relay.addr.to_string(),
        1,
    );
    assert_ne!(relayed_url, backend.url, "the URL must name host:port");
    let store = PostgresStore::connect_with(
        &relayed_url,
        backend.keys.ring(&["k1"]),
        PostgresOptions::default()
            .with_schema(&backend.schema)
            .with_connect_timeout(Duration::from_secs(2)),
    )
    .await
    .unwrap();
    let inst = store
        .create(
            Installation::new("acct", "microsoft365", "1.0.0", "delegated"),
            InstallationSecrets::default().with_refresh_token("rt-kept"),
        )
        .await
        .unwrap();

    relay.cut().await;
    let err = store
        .store_secrets(
            inst.id,
            1,
            InstallationSecrets::default().with_refresh_token("rt-lost"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage, "{err}");
    assert!(err.to_string().contains("PostgreSQL store"), "{err}");
    let err = store.get(inst.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage, "{err}");
    let err = store
        .create(
            Installation::new("acct", "microsoft365", "1.0.0", "application"),
            InstallationSecrets::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage, "{err}");

    relay.restore().await;
    // the pool reconnects; what was stored is intact, the failed writes left nothing
    let mut secrets = None;
    for _ in 0..20 {
        match store.load_secrets(inst.id).await {
            Ok(found) => {
                secrets = found;
                break;
            }
            Err(e) => assert_eq!(e.kind(), ErrorKind::Storage),
        }
    }
    let secrets = secrets.expect("the store reconnects after the database is back");
    assert_eq!(secrets.version, 1);
    assert_eq!(
        secrets.value.refresh_token.unwrap().expose_secret(),
        "rt-kept"
    );
    assert_eq!(store.list_by_account("acct").await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_unreachable_server_is_a_storage_error_without_the_password() {
    // a port nobody listens on
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let err = PostgresStore::connect_with(
        &format!("postgres://switchboard:hunter2-password@{addr}/db"),
        KeyRing::generate("k1").unwrap(),
        PostgresOptions::default().with_connect_timeout(Duration::from_secs(2)),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage);
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(!format!("{err:?}").contains("hunter2"));
}

#[tokio::test]
async fn postgres_store_spec_opens_a_postgres_store() {
    let backend = PgBackend::new().await;
    let store = Store::open(&backend.url, backend.keys.ring(&["k1"]))
        .await
        .unwrap();
    assert!(matches!(store, Store::Postgres(_)));
    let err = PostgresStore::connect_with(
        &backend.url,
        backend.keys.ring(&["k1"]),
        PostgresOptions::default().with_schema("Bad; DROP"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.field(), Some("schema"));
}

/// Whether the store's connection is encrypted, as the server sees it.
async fn server_sees_tls(store: &Store) -> bool {
    // the store's own pool: one installation read proves the connection works;
    // pg_stat_ssl says whether it is encrypted
    let Store::Postgres(pg) = store else {
        panic!("not PostgreSQL")
    };
    pg.query_text_for_tests("SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .await
        .unwrap()
        == "true"
}

async fn open_tls(url: &str) -> switchboard_core::Result<Store> {
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    Ok(Store::Postgres(
        PostgresStore::connect_with(
            url,
            KeyRing::generate("k1").unwrap(),
            PostgresOptions::default()
                .with_schema(&schema)
                .with_connect_timeout(Duration::from_secs(5)),
        )
        .await?,
    ))
}

#[tokio::test]
async fn postgres_tls_require_encrypts_and_disable_does_not() {
    // the plain URL's server, which postgres-ci.sh starts with TLS on
    database_url::required_tls();
    let plain = database_url::required();
    let sep = if plain.contains('?') { '&' } else { '?' };
    let required = open_tls(&format!("{plain}{sep}sslmode=require"))
        .await
        .unwrap();
    assert!(server_sees_tls(&required).await);
    let store_works = required
        .create(
            Installation::new("acct", "microsoft365", "1.0.0", "application"),
            InstallationSecrets::default().with_client_secret("cs"),
        )
        .await;
    assert!(store_works.is_ok(), "{store_works:?}");
    let disabled = open_tls(&format!("{plain}{sep}sslmode=disable"))
        .await
        .unwrap();
    assert!(!server_sees_tls(&disabled).await);
    let preferred = open_tls(&plain).await.unwrap();
    assert!(
        server_sees_tls(&preferred).await,
        "prefer (the default) uses TLS when offered"
    );
}

#[tokio::test]
async fn postgres_tls_verify_full_accepts_the_right_ca_and_host_only() {
    let url = database_url::required_tls();
    let store = open_tls(&url).await.unwrap();
    assert!(server_sees_tls(&store).await);

    // the certificate names `localhost`, not 127.0.0.1
    let by_ip = url.replace("@localhost:", "@127.0.0.1:");
    let err = open_tls(&by_ip).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    let text = err.to_string();
    assert!(
        text.contains("TLS with the PostgreSQL server 127.0.0.1 failed (sslmode=verify-full"),
        "{text}"
    );
    assert!(
        text.contains("not valid for the host `127.0.0.1`"),
        "{text}"
    );
    // verify-ca checks the chain only: the same host is accepted
    let chain_only = by_ip.replace("sslmode=verify-full", "sslmode=verify-ca");
    assert!(server_sees_tls(&open_tls(&chain_only).await.unwrap()).await);

    // another CA: refused, naming the CA file
    let wrong_ca = std::env::var("SWITCHBOARD_TEST_PG_WRONG_CA").unwrap();
    let start = url.find("sslrootcert=").unwrap() + "sslrootcert=".len();
    let end = url[start..].find('&').map_or(url.len(), |i| start + i);
    let other = format!("{}{}{}", &url[..start], wrong_ca, &url[end..]);
    let err = open_tls(&other).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(&format!("not signed by a CA in sslrootcert={wrong_ca}")),
        "{text}"
    );
    for chain_mode in ["verify-ca", "require"] {
        // `require` with a CA file checks the chain too (as libpq)
        let err = open_tls(&other.replace("sslmode=verify-full", &format!("sslmode={chain_mode}")))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("not signed by a CA"),
            "{chain_mode}: {err}"
        );
    }
    // and no password or URL ever appears
    assert!(!text.contains("postgres@"), "{text}");
}
