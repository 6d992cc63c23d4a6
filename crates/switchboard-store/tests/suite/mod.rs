//! The store test suite, run against every backend (tests/sqlite.rs,
//! tests/postgres.rs). Each test gets a fresh database (a new SQLite file or
//! a new PostgreSQL schema) from its [`Backend`].

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use switchboard_core::InstallationId;

use async_trait::async_trait;
use secrecy::ExposeSecret;
use switchboard_core::ErrorKind;
use switchboard_core::credential::AccessToken;
use switchboard_installations::install::{
    ClientCredentials, Installation, InstallationSecrets, InstallationStatus, InstallationStore,
    LEGACY_PENDING_AUTHORIZATION,
};
use switchboard_installations::lifecycle::grants::InstallationGrants;
use switchboard_oauth::grants::{GrantStore, StoredGrant};
use switchboard_store::{KeyRing, MasterKeys, OpenOptions, Opened, Store};

/// A fresh database and raw access to it.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A new store instance (its own connection or pool) on this database.
    async fn open(&self, ring: KeyRing) -> switchboard_core::Result<Store>;
    /// [`Store::open_with`] on this database.
    async fn open_keys(
        &self,
        keys: MasterKeys,
        options: OpenOptions,
    ) -> switchboard_core::Result<Opened>;
    /// Run SQL on the database directly, bypassing the store.
    async fn exec(&self, sql: &str);
    /// The first column of the first row of `sql`, as text.
    async fn scalar(&self, sql: &str) -> String;
    /// Everything the database holds about installations, as raw text (the
    /// database file's bytes, or every row cast to text).
    async fn dump(&self) -> String;
    /// Every secret column of every installation row, as text.
    async fn secret_columns(&self) -> String;
    /// Key material, shared by every store this backend opens.
    fn keys(&self) -> &KeyBox;
}

/// Key entries by id, generated once per backend.
#[derive(Default)]
pub struct KeyBox {
    entries: Mutex<HashMap<String, String>>,
}

impl KeyBox {
    /// A ring with the keys `ids`, newest last.
    pub fn ring(&self, ids: &[&str]) -> KeyRing {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let spec: Vec<String> = ids
            .iter()
            .map(|id| {
                entries
                    .entry(id.to_string())
                    .or_insert_with(|| KeyRing::generate_entry(id).unwrap())
                    .clone()
            })
            .collect();
        KeyRing::parse(&spec.join(",")).unwrap()
    }
}

/// The secret columns joined into one text per row (SQL valid in both databases).
pub const SECRET_COLUMNS_SQL: &str = "SELECT COALESCE(client_secret, '') || '|' || COALESCE(access_token, '') || '|' || COALESCE(refresh_token, '') || '|' || continuations FROM installations";

/// Generates one `#[tokio::test]` per suite function for a backend
/// constructor (an async expression giving the backend).
#[macro_export]
macro_rules! store_suite {
    ($make:expr) => {
        store_suite!(@tests $make;
            create_get_and_list_round_trip,
            duplicate_install_is_refused_with_the_existing_id,
            concurrent_duplicate_installs_store_exactly_one,
            record_updates_are_compare_and_swap,
            secrets_round_trip_and_writes_are_compare_and_swap,
            concurrent_secret_writes_exactly_one_wins,
            secrets_are_encrypted_at_rest,
            ciphertext_copied_to_another_installation_fails_that_installation_only,
            corrupt_rows_fail_that_installation_only,
            key_rotation_and_reencrypt_all,
            a_ring_without_the_stores_keys_is_refused_at_open,
            another_key_under_a_known_id_is_refused_and_an_empty_store_may_start_over,
            a_missing_key_file_is_created_only_for_a_store_without_secrets,
            concurrent_rotations_leave_unique_keys_and_readable_secrets,
            duplicate_key_ids_are_repaired_only_with_proof,
            stores_written_before_the_key_registry_learn_their_keys,
            refresh_lock_is_exclusive_across_store_instances_and_expires,
            one_refresh_across_two_nodes_and_both_see_the_same_token,
            migrations_run_once_when_stores_open_together,
            uninstall_erases_secrets_and_keeps_a_tombstone,
            grants_share_the_rows_and_no_write_is_lost,
            the_pending_authorization_is_an_encrypted_field_and_legacy_rows_read_it,
            sync_leases_are_per_resource_exclusive_and_taken_over_when_they_expire,
            checkpoint_writes_need_the_sync_lease_in_the_same_transaction,
            a_database_with_a_later_migration_still_gets_an_earlier_one,
            subscription_records_are_shared_listed_by_expiry_and_replaced,
            limit_leases_share_a_cap_across_nodes_and_a_crashed_nodes_slots_come_back,
            concurrent_leases_never_grant_more_than_the_cap,
            budget_blocks_count_every_node_in_the_window,
            a_hold_is_seen_by_every_node_and_the_later_one_stays,
            rows_of_keys_no_longer_used_are_swept_in_batches_and_live_rows_stay,
            a_migration_missing_from_the_record_is_applied_whatever_else_is
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let backend = $make.await;
                suite::$name(&backend).await;
            }
        )*
    };
}

fn new_installation(account: &str, tenant: &str) -> Installation {
    Installation::new(account, "microsoft365", "1.0.0", "application")
        .with_tenant_id(Some(tenant.to_string()))
        .with_setting("user_id", serde_json::json!("adele@contoso.example"))
        .with_client(ClientCredentials::Installation {
            client_id: "0f5e1a52-6a4b-4a7e-8b77-000000000001".into(),
        })
}

async fn store(b: &impl Backend) -> Store {
    b.open(b.keys().ring(&["k1"])).await.unwrap()
}

pub async fn create_get_and_list_round_trip(b: &impl Backend) {
    let s = store(b).await;
    let created = s
        .create(
            new_installation("acct-a", "contoso.example").with_cloud("usgov"),
            InstallationSecrets::default().with_client_secret("cs-round-trip"),
        )
        .await
        .unwrap();
    assert_eq!(created.version, 1);
    assert_eq!(created.status, InstallationStatus::PendingConsent);
    let got = s.get(created.id).await.unwrap().unwrap();
    assert_eq!(got.account, "acct-a");
    assert_eq!(got.cloud, "usgov");
    assert_eq!(got.tenant_id.as_deref(), Some("contoso.example"));
    assert_eq!(
        got.settings.get("user_id"),
        Some(&serde_json::json!("adele@contoso.example"))
    );
    assert_eq!(got.client, created.client);
    assert_eq!(got.version, 1);
    let second = s
        .create(
            new_installation("acct-a", "fabrikam.example"),
            InstallationSecrets::default(),
        )
        .await
        .unwrap();
    s.create(
        new_installation("acct-b", "contoso.example"),
        InstallationSecrets::default(),
    )
    .await
    .unwrap();
    let listed: Vec<_> = s
        .list_by_account("acct-a")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.unwrap().id)
        .collect();
    // ordered by creation time (milliseconds), then id: two creates in one
    // millisecond come back in id order
    let ms = |i: &Installation| {
        i.created_at
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    };
    let mut expected = vec![
        (ms(&created), created.id.to_string(), created.id),
        (ms(&second), second.id.to_string(), second.id),
    ];
    expected.sort();
    assert_eq!(
        listed,
        expected.into_iter().map(|e| e.2).collect::<Vec<_>>()
    );
    assert!(s.list_by_account("nobody").await.unwrap().is_empty());
    assert!(s.get(InstallationId::new_random()).await.unwrap().is_none());
    let secrets = s.load_secrets(created.id).await.unwrap().unwrap();
    assert_eq!(secrets.version, 1);
    assert_eq!(
        secrets.value.client_secret.unwrap().expose_secret(),
        "cs-round-trip"
    );
    // bad input names the field
    let err = s
        .create(new_installation("", "t"), InstallationSecrets::default())
        .await
        .unwrap_err();
    assert_eq!(err.field(), Some("account"));
}

pub async fn duplicate_install_is_refused_with_the_existing_id(b: &impl Backend) {
    let s = store(b).await;
    let first = s
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default(),
        )
        .await
        .unwrap();
    let err = s
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().contains(&first.id.to_string()), "{err}");
    assert!(err.to_string().contains("uninstall it first"), "{err}");
    // another tenant, variant or account is another installation
    s.create(
        new_installation("acct", "fabrikam.example"),
        InstallationSecrets::default(),
    )
    .await
    .unwrap();
    let mut delegated = new_installation("acct", "contoso.example");
    delegated.variant = "delegated".into();
    s.create(delegated, InstallationSecrets::default())
        .await
        .unwrap();
    // moving another installation onto the taken key is refused too
    let mut other = s
        .create(
            new_installation("acct", "northwind.example"),
            InstallationSecrets::default(),
        )
        .await
        .unwrap();
    other.tenant_id = Some("contoso.example".into());
    let err = s.update(&other).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().contains(&first.id.to_string()), "{err}");
    // an uninstalled tombstone no longer blocks
    let mut gone = first.clone();
    gone.set_status(InstallationStatus::Uninstalled).unwrap();
    s.update(&gone).await.unwrap();
    let again = s
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default(),
        )
        .await
        .unwrap();
    assert_ne!(again.id, first.id);
    assert_eq!(
        s.get(first.id).await.unwrap().unwrap().status,
        InstallationStatus::Uninstalled
    );
}

pub async fn concurrent_duplicate_installs_store_exactly_one(b: &impl Backend) {
    let s1 = store(b).await;
    let s2 = store(b).await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let s = if i % 2 == 0 { s1.clone() } else { s2.clone() };
        tasks.push(tokio::spawn(async move {
            s.create(
                new_installation("race", "contoso.example"),
                InstallationSecrets::default(),
            )
            .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.kind(), ErrorKind::Conflict, "{e}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(s1.list_by_account("race").await.unwrap().len(), 1);
}

pub async fn record_updates_are_compare_and_swap(b: &impl Backend) {
    let node_a = store(b).await;
    let node_b = store(b).await;
    let created = node_a
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default(),
        )
        .await
        .unwrap();
    let mut on_a = node_a.get(created.id).await.unwrap().unwrap();
    let mut on_b = node_b.get(created.id).await.unwrap().unwrap();
    on_a.set_status(InstallationStatus::Active).unwrap();
    let written = node_a.update(&on_a).await.unwrap();
    assert_eq!(written.version, 2);
    on_b.set_status(InstallationStatus::Disabled).unwrap();
    let err = node_b.update(&on_b).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.to_string().contains("version 2, expected 1"), "{err}");
    let now = node_b.get(created.id).await.unwrap().unwrap();
    assert_eq!(now.status, InstallationStatus::Active);
    assert_eq!(now.version, 2);
    let mut missing = on_a.clone();
    missing.id = InstallationId::new_random();
    assert_eq!(
        node_a.update(&missing).await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

pub async fn secrets_round_trip_and_writes_are_compare_and_swap(b: &impl Backend) {
    let s = store(b).await;
    let inst = s
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default(),
        )
        .await
        .unwrap();
    let expiry = SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000);
    let secrets = InstallationSecrets::default()
        .with_client_secret("cs-1")
        .with_refresh_token("rt-1")
        .with_access_token(AccessToken::new("at-1", Some(expiry)))
        .with_continuation(
            "users",
            "https://graph.microsoft.com/v1.0/users?$skiptoken=sk-1",
        );
    let v2 = s.store_secrets(inst.id, 1, secrets.clone()).await.unwrap();
    assert_eq!(v2, 2);
    let loaded = s.load_secrets(inst.id).await.unwrap().unwrap();
    assert_eq!(loaded.version, 2);
    let value = loaded.value;
    assert_eq!(value.client_secret.unwrap().expose_secret(), "cs-1");
    assert_eq!(value.refresh_token.unwrap().expose_secret(), "rt-1");
    let at = value.access_token.unwrap();
    assert_eq!(at.secret(), "at-1");
    assert_eq!(at.expires_at(), Some(expiry));
    assert_eq!(
        value.continuations["users"].expose_secret(),
        "https://graph.microsoft.com/v1.0/users?$skiptoken=sk-1"
    );
    // a writer still at version 1 loses and changes nothing
    let err = s
        .store_secrets(inst.id, 1, InstallationSecrets::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    let still = s.load_secrets(inst.id).await.unwrap().unwrap();
    assert_eq!(still.version, 2);
    assert!(still.value.refresh_token.is_some());
    let missing = InstallationId::new_random();
    assert_eq!(
        s.store_secrets(missing, 1, InstallationSecrets::default())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert!(s.load_secrets(missing).await.unwrap().is_none());
}

pub async fn concurrent_secret_writes_exactly_one_wins(b: &impl Backend) {
    let s1 = store(b).await;
    let s2 = store(b).await;
    let inst = s1
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default(),
        )
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = if i % 2 == 0 { s1.clone() } else { s2.clone() };
        tasks.push(tokio::spawn(async move {
            let secrets = InstallationSecrets::default().with_refresh_token(format!("rt-{i}"));
            (i, s.store_secrets(inst.id, 1, secrets).await)
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (i, result) = t.await.unwrap();
        match result {
            Ok(v) => {
                assert_eq!(v, 2);
                winners.push(i);
            }
            Err(e) => assert_eq!(e.kind(), ErrorKind::Conflict, "{e}"),
        }
    }
    assert_eq!(winners.len(), 1);
    let stored = s2.load_secrets(inst.id).await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(
        stored.value.refresh_token.unwrap().expose_secret(),
        &format!("rt-{}", winners[0])
    );
}

pub async fn secrets_are_encrypted_at_rest(b: &impl Backend) {
    let s = store(b).await;
    let plain = [
        "client-secret-PLAINTEXT-1",
        "refresh-token-PLAINTEXT-2",
        "access-token-PLAINTEXT-3",
        "skiptoken-PLAINTEXT-4",
    ];
    let inst = s
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default().with_client_secret(plain[0]),
        )
        .await
        .unwrap();
    s.store_secrets(
        inst.id,
        1,
        InstallationSecrets::default()
            .with_client_secret(plain[0])
            .with_refresh_token(plain[1])
            .with_access_token(AccessToken::new(plain[2], None))
            .with_continuation(
                "messages",
                format!(
                    "https://graph.microsoft.com/v1.0/me/messages?$skiptoken={}",
                    plain[3]
                ),
            ),
    )
    .await
    .unwrap();
    let raw = b.dump().await;
    assert!(raw.contains("v1:k1:"), "the dump should hold ciphertexts");
    assert!(
        raw.contains("contoso.example"),
        "the dump should hold the record"
    );
    for secret in plain {
        assert!(
            !raw.contains(secret),
            "`{secret}` found in the raw database"
        );
    }
    // and the store still reads them back
    let loaded = s.load_secrets(inst.id).await.unwrap().unwrap().value;
    assert_eq!(loaded.refresh_token.unwrap().expose_secret(), plain[1]);
}

pub async fn ciphertext_copied_to_another_installation_fails_that_installation_only(
    b: &impl Backend,
) {
    let s = store(b).await;
    let a = s
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default().with_refresh_token("rt-of-a"),
        )
        .await
        .unwrap();
    let victim = s
        .create(
            new_installation("acct", "fabrikam.example"),
            InstallationSecrets::default().with_refresh_token("rt-of-b"),
        )
        .await
        .unwrap();
    b.exec(&format!(
        "UPDATE installations SET refresh_token = (SELECT refresh_token FROM installations WHERE id = '{}') WHERE id = '{}'",
        a.id, victim.id
    ))
    .await;
    let err = s.load_secrets(victim.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage);
    let text = err.to_string();
    assert!(text.contains(&victim.id.to_string()), "{text}");
    assert!(text.contains("copied from another installation"), "{text}");
    assert!(!text.contains("rt-of-a"));
    // the installation it came from is untouched, and listing still works
    let a_secrets = s.load_secrets(a.id).await.unwrap().unwrap().value;
    assert_eq!(a_secrets.refresh_token.unwrap().expose_secret(), "rt-of-a");
    let listed = s.list_by_account("acct").await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|r| r.is_ok()));
    // writing fresh secrets repairs the installation
    let v = s
        .store_secrets(
            victim.id,
            1,
            InstallationSecrets::default().with_refresh_token("rt-new"),
        )
        .await
        .unwrap();
    assert_eq!(v, 2);
    assert!(s.load_secrets(victim.id).await.is_ok());
}

pub async fn corrupt_rows_fail_that_installation_only(b: &impl Backend) {
    let s = store(b).await;
    let good = s
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default(),
        )
        .await
        .unwrap();
    let bad_record = s
        .create(
            new_installation("acct", "fabrikam.example"),
            InstallationSecrets::default(),
        )
        .await
        .unwrap();
    let bad_secret = s
        .create(
            new_installation("acct", "northwind.example"),
            InstallationSecrets::default().with_refresh_token("rt"),
        )
        .await
        .unwrap();
    b.exec(&format!(
        "UPDATE installations SET status = 'exploded', settings = 'not json' WHERE id = '{}'",
        bad_record.id
    ))
    .await;
    b.exec(&format!(
        "UPDATE installations SET refresh_token = 'v1:k1:AAAA' WHERE id = '{}'",
        bad_secret.id
    ))
    .await;
    let listed = s.list_by_account("acct").await.unwrap();
    assert_eq!(listed.len(), 3);
    let mut ok_ids = Vec::new();
    let mut errors = Vec::new();
    for entry in listed {
        match entry {
            Ok(inst) => ok_ids.push(inst.id),
            Err(e) => errors.push(e),
        }
    }
    assert_eq!(ok_ids, vec![good.id, bad_secret.id]);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind(), ErrorKind::Storage);
    assert!(errors[0].to_string().contains(&bad_record.id.to_string()));
    assert!(
        errors[0].to_string().contains("unknown status `exploded`"),
        "{}",
        errors[0]
    );
    assert_eq!(
        s.get(bad_record.id).await.unwrap_err().kind(),
        ErrorKind::Storage
    );
    let err = s.load_secrets(bad_secret.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage);
    assert!(err.to_string().contains(&bad_secret.id.to_string()));
    assert!(s.load_secrets(good.id).await.unwrap().is_some());
}

pub async fn key_rotation_and_reencrypt_all(b: &impl Backend) {
    let old = store(b).await;
    let first = old
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default()
                .with_client_secret("cs-first")
                .with_continuation(
                    "delta",
                    "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=dt",
                ),
        )
        .await
        .unwrap();
    let second = old
        .create(
            new_installation("acct", "fabrikam.example"),
            InstallationSecrets::default().with_refresh_token("rt-second"),
        )
        .await
        .unwrap();
    // rotation: add k2; old rows still decrypt; new writes use k2
    let rotated = b.open(b.keys().ring(&["k1", "k2"])).await.unwrap();
    let loaded = rotated.load_secrets(first.id).await.unwrap().unwrap().value;
    assert_eq!(loaded.client_secret.unwrap().expose_secret(), "cs-first");
    let third = rotated
        .create(
            new_installation("acct", "northwind.example"),
            InstallationSecrets::default().with_refresh_token("rt-third"),
        )
        .await
        .unwrap();
    let stored = b
        .scalar(&format!(
            "SELECT refresh_token FROM installations WHERE id = '{}'",
            third.id
        ))
        .await;
    assert!(stored.starts_with("v1:k2:"), "{stored}");
    // re-encrypt everything under k2
    let report = rotated.reencrypt_all().await.unwrap();
    assert_eq!(report.rewritten, 2);
    assert_eq!(report.already_current, 1);
    assert!(report.failed.is_empty());
    assert!(!b.secret_columns().await.contains("v1:k1:"));
    // versions are unchanged: a reader's compare-and-swap is not disturbed
    assert_eq!(
        rotated
            .load_secrets(second.id)
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
    // now k1 can be dropped
    let only_new = b.open(b.keys().ring(&["k2"])).await.unwrap();
    for (id, check) in [(first.id, "cs-first"), (second.id, "rt-second")] {
        let v = only_new.load_secrets(id).await.unwrap().unwrap().value;
        let secret = v.client_secret.or(v.refresh_token).unwrap();
        assert_eq!(secret.expose_secret(), check);
    }
    let again = only_new.reencrypt_all().await.unwrap();
    assert_eq!(again.rewritten, 0);
    assert_eq!(again.already_current, 3);
}

pub async fn a_ring_without_the_stores_keys_is_refused_at_open(b: &impl Backend) {
    let s = store(b).await;
    let inst = s
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default().with_refresh_token("rt"),
        )
        .await
        .unwrap();
    let err = b.open(b.keys().ring(&["k9"])).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    let text = err.to_string();
    assert!(text.contains("master key(s) `k1`, which"), "{text}");
    assert!(text.contains("SWITCHBOARD_MASTER_KEYS"), "{text}");
    assert!(text.contains("SWITCHBOARD_LOST_KEYS"), "{text}");
    assert!(text.contains("Nothing was changed"), "{text}");
    // an operator who declares k1 lost gets the store, and that
    // installation's secrets fail on their own
    let opened = b
        .open_keys(
            MasterKeys::Ring(b.keys().ring(&["k9"])),
            OpenOptions::default().with_lost_keys(vec!["k1".into()]),
        )
        .await
        .unwrap();
    assert!(
        opened.warnings[0].contains("`k1` is declared lost"),
        "{:?}",
        opened.warnings
    );
    let wrong = opened.store;
    let err = wrong.load_secrets(inst.id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage);
    assert!(
        err.to_string()
            .contains("master key `k1`, which is not in the key ring (k9)"),
        "{err}"
    );
    assert!(wrong.get(inst.id).await.unwrap().is_some());
    let report = wrong.reencrypt_all().await.unwrap();
    assert_eq!(report.failed.len(), 1);
    assert!(report.forgotten.is_empty());
    // nothing was rewritten: the right key still reads it
    assert!(s.load_secrets(inst.id).await.is_ok());
    assert!(b.open(b.keys().ring(&["k1"])).await.is_ok());
}

pub async fn another_key_under_a_known_id_is_refused_and_an_empty_store_may_start_over(
    b: &impl Backend,
) {
    let s = store(b).await;
    let inst = s
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default().with_client_secret("cs"),
        )
        .await
        .unwrap();
    // same id, another key: e.g. a key file made for another store
    let impostor = KeyRing::generate("k1").unwrap();
    let err = b.open(impostor).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    assert!(err.to_string().contains("fingerprints differ"), "{err}");
    // declaring it lost does not help: the id is there, the key is wrong
    let err = b
        .open_keys(
            MasterKeys::Ring(KeyRing::generate("k1").unwrap()),
            OpenOptions::default().with_lost_keys(vec!["k1".into()]),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("fingerprints differ"), "{err}");
    // once no secret is stored, any keys may start over
    s.erase_secrets(inst.id).await.unwrap();
    let fresh = b.open(KeyRing::generate("k1").unwrap()).await.unwrap();
    fresh
        .store_secrets(
            inst.id,
            2,
            InstallationSecrets::default().with_client_secret("cs-2"),
        )
        .await
        .unwrap();
    let err = b.open(b.keys().ring(&["k1"])).await.unwrap_err();
    assert!(err.to_string().contains("fingerprints differ"), "{err}");
}

pub async fn a_missing_key_file_is_created_only_for_a_store_without_secrets(b: &impl Backend) {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("keys").join("master.keys");
    let file = || MasterKeys::File(key_file.clone());
    // the database exists (SQLite: a missing file is NotFound without `create`)
    store(b).await;
    // without `create`, nothing is written
    let opened = b
        .open_keys(file(), OpenOptions::default().with_create(false))
        .await
        .unwrap();
    assert!(opened.key_file_created.is_none());
    assert!(!key_file.exists());
    assert!(opened.store.key_ring().is_empty());
    let err = opened
        .store
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default().with_client_secret("cs"),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("no master key is available"),
        "{err}"
    );
    // the first writable open creates it
    let opened = b.open_keys(file(), OpenOptions::default()).await.unwrap();
    assert_eq!(opened.key_file_created.as_deref(), Some(key_file.as_path()));
    let s = opened.store;
    let inst = s
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default().with_client_secret("cs"),
        )
        .await
        .unwrap();
    // the file goes missing: refused, and no new file appears
    let backup = std::fs::read_to_string(&key_file).unwrap();
    std::fs::remove_file(&key_file).unwrap();
    for create in [true, false] {
        let err = b
            .open_keys(file(), OpenOptions::default().with_create(create))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration);
        let text = err.to_string();
        assert!(
            text.contains(&format!(
                "the key file {} does not exist",
                key_file.display()
            )),
            "{text}"
        );
        assert!(text.contains("master key(s) `k1`"), "{text}");
        assert!(text.contains("Restore"), "{text}");
        assert!(text.contains("SWITCHBOARD_MASTER_KEYS"), "{text}");
        assert!(!key_file.exists());
    }
    // a different key file (another store's, or a new one) is refused too
    std::fs::write(
        &key_file,
        format!("{}\n", KeyRing::generate_entry("k1").unwrap()),
    )
    .unwrap();
    set_private(&key_file);
    let err = b
        .open_keys(file(), OpenOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("fingerprints differ"), "{err}");
    std::fs::write(
        &key_file,
        format!("{}\n", KeyRing::generate_entry("k5").unwrap()),
    )
    .unwrap();
    let err = b
        .open_keys(file(), OpenOptions::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("`k1`, which the key file"),
        "{err}"
    );
    // restored: everything reads
    std::fs::write(&key_file, backup).unwrap();
    let s = b
        .open_keys(file(), OpenOptions::default())
        .await
        .unwrap()
        .store;
    assert!(s.load_secrets(inst.id).await.unwrap().is_some());
}

fn set_private(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let _ = path;
}

fn key_file_ids(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect()
}

pub async fn concurrent_rotations_leave_unique_keys_and_readable_secrets(b: &impl Backend) {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("master.keys");
    let file = || MasterKeys::File(key_file.clone());
    let s = b
        .open_keys(file(), OpenOptions::default())
        .await
        .unwrap()
        .store;
    let mut ids = Vec::new();
    for i in 0..5 {
        let inst = s
            .create(
                new_installation(&format!("acct-{i}"), "contoso.example"),
                InstallationSecrets::default()
                    .with_refresh_token(format!("rt-{i}"))
                    .with_client_secret(format!("cs-{i}")),
            )
            .await
            .unwrap();
        ids.push(inst.id);
    }
    // 4 store instances (as 4 processes would have) rotate at once, 8 rounds
    let nodes: Vec<Store> = futures_join((0..4).map(|_| async {
        b.open_keys(file(), OpenOptions::default())
            .await
            .unwrap()
            .store
    }))
    .await;
    for _round in 0..8 {
        let keys = file();
        let options = OpenOptions::default();
        let reports = futures_join(nodes.iter().map(|n| n.rotate_keys(&keys, &options))).await;
        for r in &reports {
            let r = r.as_ref().unwrap();
            assert!(r.reencrypted.failed.is_empty(), "{r:?}");
        }
        let ids_in_file = key_file_ids(&key_file);
        let mut unique = ids_in_file.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            ids_in_file.len(),
            "duplicate ids: {ids_in_file:?}"
        );
    }
    // 32 rotations, each added its own key
    assert_eq!(key_file_ids(&key_file).len(), 33);
    let s = b
        .open_keys(file(), OpenOptions::default())
        .await
        .unwrap()
        .store;
    for (i, id) in ids.iter().enumerate() {
        let secrets = s.load_secrets(*id).await.unwrap().unwrap().value;
        assert_eq!(
            secrets.refresh_token.unwrap().expose_secret(),
            format!("rt-{i}")
        );
    }
    // everything is under the newest key; the older ones are no longer recorded
    let newest = s.key_ring().newest_key_id().unwrap().to_string();
    assert_eq!(
        b.scalar("SELECT COUNT(*) FROM master_keys").await,
        "1",
        "only the newest key is recorded"
    );
    assert_eq!(b.scalar("SELECT key_id FROM master_keys").await, newest);
}

async fn futures_join<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    futures::future::join_all(futures).await
}

pub async fn duplicate_key_ids_are_repaired_only_with_proof(b: &impl Backend) {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("master.keys");
    let file = || MasterKeys::File(key_file.clone());
    let s = b
        .open_keys(file(), OpenOptions::default())
        .await
        .unwrap()
        .store;
    let inst = s
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default().with_refresh_token("rt"),
        )
        .await
        .unwrap();
    let original = std::fs::read_to_string(&key_file).unwrap();
    let k1_line = original
        .lines()
        .find(|l| l.starts_with("k1:"))
        .unwrap()
        .to_string();
    // an identical copy: dropped (as a comment), the store reads on
    std::fs::write(&key_file, format!("{original}{k1_line}\n")).unwrap();
    let opened = b.open_keys(file(), OpenOptions::default()).await.unwrap();
    assert!(
        opened.warnings.iter().any(|w| w.contains("repaired")),
        "{:?}",
        opened.warnings
    );
    assert_eq!(key_file_ids(&key_file), vec!["k1"]);
    assert!(
        std::fs::read_to_string(&key_file)
            .unwrap()
            .contains("duplicate of line")
    );
    // a different copy that opens nothing: commented out, the used one kept
    let impostor = KeyRing::generate_entry("k1").unwrap();
    std::fs::write(&key_file, format!("{impostor}\n{original}")).unwrap();
    let opened = b.open_keys(file(), OpenOptions::default()).await.unwrap();
    assert!(opened.store.load_secrets(inst.id).await.unwrap().is_some());
    let text = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(key_file_ids(&key_file), vec!["k1"]);
    assert!(
        text.contains(&format!("# {impostor}")),
        "the dropped copy stays as a comment"
    );
    assert!(text.contains(&format!("\n{k1_line}\n")));
    // two different copies both in use (what racing rotations of old left):
    // one installation's secret is under the other copy
    let second = s
        .create(
            new_installation("acct-2", "contoso.example"),
            InstallationSecrets::default().with_refresh_token("placeholder"),
        )
        .await
        .unwrap();
    let under_impostor = KeyRing::parse(&impostor)
        .unwrap()
        .encrypt(second.id, "refresh_token", b"rt-2")
        .unwrap();
    b.exec(&format!(
        "UPDATE installations SET refresh_token = '{under_impostor}' WHERE id = '{}'",
        second.id
    ))
    .await;
    std::fs::write(&key_file, format!("{original}{impostor}\n")).unwrap();
    let before = std::fs::read_to_string(&key_file).unwrap();
    let err = b
        .open_keys(file(), OpenOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration);
    let text = err.to_string();
    assert!(
        text.contains("holds master key `k1` 2 times with different keys"),
        "{text}"
    );
    assert!(
        text.contains("line 2 opens 1 stored secret(s), line 3 opens 1"),
        "{text}"
    );
    assert!(text.contains("switchboard keys rotate"), "{text}");
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap(),
        before,
        "nothing was changed"
    );
    // rotation re-encrypts both under a new key, then drops the unused copy
    let report = s
        .rotate_keys(&file(), &OpenOptions::default())
        .await
        .unwrap();
    assert_eq!(report.added_key.as_deref(), Some("k2"));
    assert_eq!(report.reencrypted.rewritten, 2);
    assert!(report.reencrypted.failed.is_empty());
    assert!(
        report.warnings.iter().any(|w| w.contains("repaired")),
        "{report:?}"
    );
    assert_eq!(key_file_ids(&key_file), vec!["k1", "k2"]);
    let s = b
        .open_keys(file(), OpenOptions::default())
        .await
        .unwrap()
        .store;
    let rt = |v: switchboard_installations::install::Versioned<InstallationSecrets>| {
        v.value.refresh_token.unwrap().expose_secret().to_string()
    };
    assert_eq!(rt(s.load_secrets(inst.id).await.unwrap().unwrap()), "rt");
    assert_eq!(
        rt(s.load_secrets(second.id).await.unwrap().unwrap()),
        "rt-2"
    );
}

pub async fn stores_written_before_the_key_registry_learn_their_keys(b: &impl Backend) {
    let s = store(b).await;
    let inst = s
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default().with_client_secret("cs"),
        )
        .await
        .unwrap();
    // as written by a version without the registry
    b.exec("DELETE FROM master_keys").await;
    let err = b.open(KeyRing::generate("k1").unwrap()).await.unwrap_err();
    assert!(err.to_string().contains("fingerprints differ"), "{err}");
    let err = b.open(b.keys().ring(&["k2"])).await.unwrap_err();
    assert!(err.to_string().contains("`k1`, which"), "{err}");
    assert_eq!(b.scalar("SELECT COUNT(*) FROM master_keys").await, "0");
    let right = b.open(b.keys().ring(&["k1"])).await.unwrap();
    assert_eq!(b.scalar("SELECT key_id FROM master_keys").await, "k1");
    assert!(right.load_secrets(inst.id).await.unwrap().is_some());
}

pub async fn refresh_lock_is_exclusive_across_store_instances_and_expires(b: &impl Backend) {
    let node_a = store(b).await;
    let node_b = store(b).await;
    let inst = node_a
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default(),
        )
        .await
        .unwrap();
    let long = Duration::from_secs(60);
    assert!(
        node_a
            .try_lock_refresh(inst.id, "node-a", long)
            .await
            .unwrap()
    );
    assert!(
        !node_b
            .try_lock_refresh(inst.id, "node-b", long)
            .await
            .unwrap()
    );
    // the holder may extend; a stranger cannot unlock
    assert!(
        node_a
            .try_lock_refresh(inst.id, "node-a", long)
            .await
            .unwrap()
    );
    node_b.unlock_refresh(inst.id, "node-b").await.unwrap();
    assert!(
        !node_b
            .try_lock_refresh(inst.id, "node-b", long)
            .await
            .unwrap()
    );
    node_a.unlock_refresh(inst.id, "node-a").await.unwrap();
    assert!(
        node_b
            .try_lock_refresh(inst.id, "node-b", Duration::from_millis(1))
            .await
            .unwrap()
    );
    // node-b "crashes" holding a lease of 1 ms: once it is over, node-a gets it
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        node_a
            .try_lock_refresh(inst.id, "node-a", long)
            .await
            .unwrap()
    );
    assert_eq!(
        node_a
            .try_lock_refresh(InstallationId::new_random(), "node-a", long)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

/// What an engine does with an expired token, reduced to the store calls:
/// re-read; if still expired take the lock; re-read under the lock; refresh
/// once (counted) and save with compare-and-swap; others wait and re-read.
async fn token_for(
    store: Store,
    id: InstallationId,
    node: String,
    refreshes: Arc<AtomicUsize>,
) -> String {
    loop {
        let current = store.load_secrets(id).await.unwrap().unwrap();
        if let Some(token) = &current.value.access_token
            && token.expires_at().is_some_and(|t| t > SystemTime::now())
        {
            return token.secret().to_string();
        }
        if store
            .try_lock_refresh(id, &node, Duration::from_secs(30))
            .await
            .unwrap()
        {
            let fresh = store.load_secrets(id).await.unwrap().unwrap();
            let still_expired = fresh
                .value
                .access_token
                .as_ref()
                .is_none_or(|t| t.expires_at().is_none_or(|e| e <= SystemTime::now()));
            if still_expired {
                let n = refreshes.fetch_add(1, Ordering::SeqCst) + 1;
                let mut next = fresh.value.clone();
                next.access_token = Some(AccessToken::new(
                    format!("at-refreshed-{n}-by-{node}"),
                    Some(SystemTime::now() + Duration::from_secs(3600)),
                ));
                next.refresh_token = Some(format!("rt-rotated-{n}").into());
                store.store_secrets(id, fresh.version, next).await.unwrap();
            }
            store.unlock_refresh(id, &node).await.unwrap();
        } else {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

pub async fn one_refresh_across_two_nodes_and_both_see_the_same_token(b: &impl Backend) {
    let node_a = store(b).await;
    let node_b = store(b).await;
    let expired = SystemTime::now() - Duration::from_secs(60);
    let inst = node_a
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default()
                .with_refresh_token("rt-0")
                .with_access_token(AccessToken::new("at-expired", Some(expired))),
        )
        .await
        .unwrap();
    let refreshes = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (s, node) = if i % 2 == 0 {
            (node_a.clone(), "node-a")
        } else {
            (node_b.clone(), "node-b")
        };
        tasks.push(tokio::spawn(token_for(
            s,
            inst.id,
            format!("{node}-task-{i}"),
            refreshes.clone(),
        )));
    }
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap());
    }
    assert_eq!(refreshes.load(Ordering::SeqCst), 1);
    assert!(
        seen.iter().all(|t| t == &seen[0]),
        "every caller got the one refreshed token"
    );
    let on_a = node_a.load_secrets(inst.id).await.unwrap().unwrap();
    let on_b = node_b.load_secrets(inst.id).await.unwrap().unwrap();
    assert_eq!(on_a.version, 2);
    assert_eq!(on_b.version, 2);
    assert_eq!(on_a.value.access_token.unwrap().secret(), seen[0]);
    assert_eq!(on_b.value.access_token.unwrap().secret(), seen[0]);
    assert_eq!(
        on_b.value.refresh_token.unwrap().expose_secret(),
        "rt-rotated-1"
    );
}

pub async fn migrations_run_once_when_stores_open_together(b: &impl Backend) {
    // the backend's database is fresh: open several stores at once
    let mut opening = Vec::new();
    for _ in 0..4 {
        opening.push(b.open(b.keys().ring(&["k1"])));
    }
    let stores = futures::future::join_all(opening).await;
    for s in &stores {
        assert!(s.is_ok(), "{:?}", s.as_ref().err());
    }
    let count = b.scalar("SELECT COUNT(*) FROM schema_migrations").await;
    assert_eq!(
        count,
        switchboard_store::schema::MIGRATIONS.len().to_string()
    );
    // and the schema works
    let s = stores.into_iter().next().unwrap().unwrap();
    s.create(
        new_installation("acct", "contoso.example"),
        InstallationSecrets::default(),
    )
    .await
    .unwrap();
}

pub async fn uninstall_erases_secrets_and_keeps_a_tombstone(b: &impl Backend) {
    let s = store(b).await;
    let inst = s
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default()
                .with_client_secret("cs")
                .with_refresh_token("rt")
                .with_continuation(
                    "users",
                    "https://graph.microsoft.com/v1.0/users?$skiptoken=x",
                ),
        )
        .await
        .unwrap();
    assert!(
        s.try_lock_refresh(inst.id, "node", Duration::from_secs(60))
            .await
            .unwrap()
    );
    let v = s.erase_secrets(inst.id).await.unwrap();
    assert_eq!(v, 2);
    let mut gone = inst.clone();
    gone.set_status(InstallationStatus::Uninstalled).unwrap();
    s.update(&gone).await.unwrap();
    let secrets = s.load_secrets(inst.id).await.unwrap().unwrap();
    assert!(secrets.value.client_secret.is_none());
    assert!(secrets.value.refresh_token.is_none());
    assert!(secrets.value.continuations.is_empty());
    let tombstone = s.get(inst.id).await.unwrap().unwrap();
    assert_eq!(tombstone.status, InstallationStatus::Uninstalled);
    assert_eq!(tombstone.account, "acct");
    assert!(!b.secret_columns().await.contains("v1:"));
    // the erase also released any refresh lease
    assert!(
        s.try_lock_refresh(inst.id, "other", Duration::from_secs(60))
            .await
            .unwrap()
    );
    assert_eq!(
        s.erase_secrets(InstallationId::new_random())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

pub async fn grants_share_the_rows_and_no_write_is_lost(b: &impl Backend) {
    let node_a: Arc<dyn InstallationStore> = Arc::new(store(b).await);
    let node_b: Arc<dyn InstallationStore> = Arc::new(store(b).await);
    let grants_a = InstallationGrants::new(node_a.clone());
    let grants_b = InstallationGrants::new(node_b.clone());
    let inst = node_a
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default().with_client_secret("cs-kept"),
        )
        .await
        .unwrap();
    let id = inst.id;
    // no grant yet
    assert!(grants_a.load_grant(id).await.unwrap().is_none());
    let grant = StoredGrant::new(Some(oauth2::RefreshToken::new("rt-token-store-1".into())))
        .with_tenant(Some("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee".into()))
        .with_scopes(vec!["User.Read".into(), "offline_access".into()]);
    grants_a
        .modify_grant(id, &|g| *g = grant.clone())
        .await
        .unwrap();
    let loaded = grants_b.load_grant(id).await.unwrap().unwrap();
    assert_eq!(
        loaded.refresh_token.as_ref().unwrap().secret(),
        "rt-token-store-1"
    );
    assert_eq!(
        loaded.tenant_id.as_deref(),
        Some("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
    );
    assert_eq!(loaded.scopes, vec!["User.Read", "offline_access"]);
    // two nodes edit at once (a rotation here, a new scope there): both
    // edits land, compare-and-swap makes the loser read and edit again
    let rotate = grants_a.modify_grant(id, &|g| {
        g.refresh_token = Some(oauth2::RefreshToken::new("rt-token-store-2".into()))
    });
    let widen = grants_b.modify_grant(id, &|g| g.scopes.push("Mail.Read".into()));
    let (rotated, widened) = tokio::join!(rotate, widen);
    rotated.unwrap();
    widened.unwrap();
    let loaded = grants_a.load_grant(id).await.unwrap().unwrap();
    assert_eq!(
        loaded.refresh_token.as_ref().unwrap().secret(),
        "rt-token-store-2"
    );
    assert_eq!(
        loaded.scopes,
        vec!["User.Read", "offline_access", "Mail.Read"]
    );
    // the same rows: the installation's secrets see the token, keep the client secret
    let secrets = node_a.load_secrets(inst.id).await.unwrap().unwrap();
    assert_eq!(secrets.version, 4);
    assert_eq!(
        secrets.value.refresh_token.unwrap().expose_secret(),
        "rt-token-store-2"
    );
    assert_eq!(
        secrets.value.client_secret.unwrap().expose_secret(),
        "cs-kept"
    );
    assert!(!b.dump().await.contains("rt-token-store"));
    // clearing the grant forgets the tokens only
    grants_a
        .modify_grant(id, &|g| *g = StoredGrant::default())
        .await
        .unwrap();
    assert!(grants_b.load_grant(id).await.unwrap().is_none());
    let secrets = node_b.load_secrets(inst.id).await.unwrap().unwrap();
    assert!(secrets.value.refresh_token.is_none());
    assert_eq!(
        secrets.value.client_secret.unwrap().expose_secret(),
        "cs-kept"
    );
    // unknown ids
    let unknown = InstallationId::new_random();
    assert!(grants_a.load_grant(unknown).await.unwrap().is_none());
    assert_eq!(
        grants_a
            .modify_grant(unknown, &|g| *g = grant.clone())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

pub async fn the_pending_authorization_is_an_encrypted_field_and_legacy_rows_read_it(
    b: &impl Backend,
) {
    let store = store(b).await;
    let pending = "pending-state-and-verifier-secret";
    let inst = store
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default()
                .with_pending_authorization(pending.to_string().into())
                .with_continuation("users", "https://graph.example/next"),
        )
        .await
        .unwrap();
    let read = store.load_secrets(inst.id).await.unwrap().unwrap().value;
    assert_eq!(
        read.pending_authorization.as_ref().unwrap().expose_secret(),
        pending
    );
    // a field of its own, not one of the continuations
    assert_eq!(read.continuations.keys().collect::<Vec<_>>(), ["users"]);
    assert!(!b.dump().await.contains(pending));
    // secrets written before the field existed kept it as a continuation
    // entry: it is read into the field (and taken from there)
    let mut legacy = InstallationSecrets::default();
    legacy.continuations.insert(
        LEGACY_PENDING_AUTHORIZATION.into(),
        "legacy-pending".to_string().into(),
    );
    let other = store
        .create(new_installation("acct-2", "contoso.example"), legacy)
        .await
        .unwrap();
    let mut read = store.load_secrets(other.id).await.unwrap().unwrap().value;
    assert!(read.continuations.is_empty());
    assert_eq!(
        read.take_pending_authorization().unwrap().expose_secret(),
        "legacy-pending"
    );
    assert!(read.pending_authorization.is_none());
}

pub async fn sync_leases_are_per_resource_exclusive_and_taken_over_when_they_expire(
    b: &impl Backend,
) {
    use switchboard_sync::SyncLeases;
    let node_a = store(b).await;
    let node_b = store(b).await;
    let inst = node_a
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default(),
        )
        .await
        .unwrap();
    let long = Duration::from_secs(60);
    let users = "sync:users.delta_users:0000";
    let mail = "sync:mail.delta_messages:1111";
    assert!(
        node_a
            .try_lease(inst.id, users, "node-a", long)
            .await
            .unwrap()
    );
    assert!(
        !node_b
            .try_lease(inst.id, users, "node-b", long)
            .await
            .unwrap()
    );
    // another resource of the same installation is free
    assert!(
        node_b
            .try_lease(inst.id, mail, "node-b", long)
            .await
            .unwrap()
    );
    // the holder renews; a stranger's release changes nothing
    assert!(
        node_a
            .try_lease(inst.id, users, "node-a", long)
            .await
            .unwrap()
    );
    node_b
        .release_lease(inst.id, users, "node-b")
        .await
        .unwrap();
    assert!(
        !node_b
            .try_lease(inst.id, users, "node-b", long)
            .await
            .unwrap()
    );
    node_a
        .release_lease(inst.id, users, "node-a")
        .await
        .unwrap();
    assert!(
        node_b
            .try_lease(inst.id, users, "node-b", Duration::from_millis(1))
            .await
            .unwrap()
    );
    // node-b dies holding a 1 ms lease: once it is over, node-a takes over
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        node_a
            .try_lease(inst.id, users, "node-a", long)
            .await
            .unwrap()
    );
    assert_eq!(
        b.scalar("SELECT COUNT(*) FROM sync_leases").await,
        "2",
        "one row per (installation, resource)"
    );
    assert_eq!(
        node_a
            .try_lease(InstallationId::new_random(), users, "node-a", long)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

pub async fn checkpoint_writes_need_the_sync_lease_in_the_same_transaction(b: &impl Backend) {
    use switchboard_sync::{LeaseHold, SyncLeases, is_lease_lost};
    let node_a = store(b).await;
    let node_b = store(b).await;
    let inst = node_a
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default(),
        )
        .await
        .unwrap();
    let resource = "sync:users.delta_users:0000";
    let hold = |holder| LeaseHold {
        installation: inst.id,
        resource,
        holder,
        ttl: Duration::from_secs(60),
    };
    let with_checkpoint = |text: &str| {
        let mut secrets = InstallationSecrets::default();
        secrets
            .continuations
            .insert(resource.to_string(), text.to_string().into());
        secrets
    };
    let checkpoint = |s: &Store| {
        let s = s.clone();
        async move {
            s.load_secrets(inst.id)
                .await
                .unwrap()
                .unwrap()
                .value
                .continuations
                .get(resource)
                .map(|v| v.expose_secret().to_string())
        }
    };
    let version = |s: &Store| {
        let s = s.clone();
        async move { s.load_secrets(inst.id).await.unwrap().unwrap().version }
    };

    // no lease at all: refused
    let v1 = version(&node_a).await;
    let err = node_a
        .store_secrets_leased(&hold("node-a"), v1, with_checkpoint("a-0"))
        .await
        .unwrap_err();
    assert!(is_lease_lost(&err), "{err}");

    // node-a holds it: written, and the lease renewed in the same write
    assert!(
        node_a
            .try_lease(inst.id, resource, "node-a", Duration::from_secs(60))
            .await
            .unwrap()
    );
    b.exec("UPDATE sync_leases SET expires_at = 0").await;
    // (past its time but nobody took it over: still node-a's)
    let v2 = node_a
        .store_secrets_leased(&hold("node-a"), v1, with_checkpoint("a-1"))
        .await
        .unwrap();
    assert_eq!(v2, v1 + 1);
    assert_eq!(checkpoint(&node_a).await.as_deref(), Some("a-1"));
    assert_ne!(
        b.scalar("SELECT expires_at FROM sync_leases").await,
        "0",
        "the write renewed the lease"
    );

    // node-a stalls; its lease runs out and node-b takes over
    b.exec("UPDATE sync_leases SET expires_at = 0").await;
    assert!(
        node_b
            .try_lease(inst.id, resource, "node-b", Duration::from_secs(60))
            .await
            .unwrap()
    );
    // node-a wakes up with a current version: refused all the same,
    // nothing written, node-b's lease untouched
    let err = node_a
        .store_secrets_leased(&hold("node-a"), v2, with_checkpoint("a-2"))
        .await
        .unwrap_err();
    assert!(is_lease_lost(&err), "{err}");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(
        err.message().contains("no longer held by `node-a`"),
        "{err}"
    );
    assert_eq!(version(&node_a).await, v2);
    assert_eq!(checkpoint(&node_b).await.as_deref(), Some("a-1"));
    assert_eq!(b.scalar("SELECT holder FROM sync_leases").await, "node-b");

    // node-b with a stale version: a version conflict, and the lease
    // renewal is rolled back with it
    b.exec("UPDATE sync_leases SET expires_at = 0").await;
    let err = node_b
        .store_secrets_leased(&hold("node-b"), v1, with_checkpoint("b-stale"))
        .await
        .unwrap_err();
    assert!(
        switchboard_installations::modify::is_version_conflict(&err),
        "{err}"
    );
    assert_eq!(b.scalar("SELECT expires_at FROM sync_leases").await, "0");
    assert_eq!(checkpoint(&node_b).await.as_deref(), Some("a-1"));
    // with the current version node-b commits
    let v3 = node_b
        .store_secrets_leased(&hold("node-b"), v2, with_checkpoint("b-1"))
        .await
        .unwrap();
    assert_eq!(v3, v2 + 1);
    assert_eq!(checkpoint(&node_a).await.as_deref(), Some("b-1"));

    // a released lease is not held either
    node_b
        .release_lease(inst.id, resource, "node-b")
        .await
        .unwrap();
    let err = node_b
        .store_secrets_leased(&hold("node-b"), v3, with_checkpoint("b-2"))
        .await
        .unwrap_err();
    assert!(is_lease_lost(&err), "{err}");
    assert_eq!(version(&node_b).await, v3);
}

pub async fn a_database_with_a_later_migration_still_gets_an_earlier_one(b: &impl Backend) {
    drop(store(b).await);
    // as if a newer build recorded a version 99 and this one's version 3
    // were not applied yet
    b.exec(
        "DELETE FROM schema_migrations WHERE version = 3;
         DROP TABLE sync_leases;
         INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'from a newer build', 0);",
    )
    .await;
    let s = store(b).await;
    assert_eq!(
        b.scalar("SELECT COUNT(*) FROM schema_migrations WHERE version IN (3, 99)")
            .await,
        "2"
    );
    let inst = s
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default(),
        )
        .await
        .unwrap();
    use switchboard_sync::SyncLeases;
    assert!(
        s.try_lease(inst.id, "sync:x", "node-a", Duration::from_secs(5))
            .await
            .unwrap()
    );
}

pub async fn subscription_records_are_shared_listed_by_expiry_and_replaced(b: &impl Backend) {
    use switchboard_sync::{SubscriptionRecord, SubscriptionStore, SubscriptionTarget};
    let node_a = store(b).await;
    let node_b = store(b).await;
    let inst = node_a
        .create(
            new_installation("acct", "contoso.example"),
            InstallationSecrets::default(),
        )
        .await
        .unwrap();
    let t0 = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let target = |name: &str| {
        SubscriptionTarget::new(
            name,
            format!("users/u/{name}"),
            "created",
            "https://platform.example/notify",
            Duration::from_secs(600),
        )
        .with_delta(
            "mail.messages_delta",
            serde_json::json!({"folder_id": "inbox"})
                .as_object()
                .unwrap()
                .clone(),
        )
    };
    let late = SubscriptionRecord::new(
        "sub-late",
        inst.id,
        target("events"),
        t0 + Duration::from_secs(7200),
    );
    let soon = SubscriptionRecord::new(
        "sub-soon",
        inst.id,
        target("messages"),
        t0 + Duration::from_secs(60),
    );
    node_a.put_subscription(&late).await.unwrap();
    node_a.put_subscription(&soon).await.unwrap();
    // another node sees both, soonest first
    assert_eq!(
        node_b.subscriptions_of(inst.id).await.unwrap(),
        [soon.clone(), late.clone()]
    );
    assert_eq!(
        node_b.get_subscription("sub-late").await.unwrap(),
        Some(late.clone())
    );
    assert_eq!(node_b.get_subscription("nope").await.unwrap(), None);
    let due = node_b
        .subscriptions_expiring(t0 + Duration::from_secs(3600), 10)
        .await
        .unwrap();
    assert_eq!(due, std::slice::from_ref(&soon));
    let all = node_b
        .subscriptions_expiring(t0 + Duration::from_secs(86_400), 1)
        .await
        .unwrap();
    assert_eq!(all, std::slice::from_ref(&soon), "the limit holds");
    // replaced in place, then deleted
    let renewed = SubscriptionRecord::new(
        "sub-soon",
        inst.id,
        target("messages"),
        t0 + Duration::from_secs(9000),
    );
    node_b.put_subscription(&renewed).await.unwrap();
    assert_eq!(
        node_a.subscriptions_of(inst.id).await.unwrap(),
        [late.clone(), renewed]
    );
    node_a.delete_subscription("sub-soon").await.unwrap();
    node_a.delete_subscription("sub-soon").await.unwrap();
    assert_eq!(node_b.subscriptions_of(inst.id).await.unwrap(), [late]);
    assert_eq!(b.scalar("SELECT COUNT(*) FROM subscriptions").await, "1");
}

// ------------------------------------------------------------ request governor

fn lease(node: &str, want: u32, cap: u32) -> switchboard_core::governor::store::LeaseRequest {
    switchboard_core::governor::store::LeaseRequest {
        key: "microsoft365/outlook_mailbox/app/mailbox/adele".into(),
        node: node.into(),
        want,
        cap,
        ttl: Duration::from_secs(60),
    }
}

fn take(node: &str, amount: u64) -> switchboard_core::governor::store::TakeRequest {
    switchboard_core::governor::store::TakeRequest {
        key: "microsoft365/outlook_mailbox/app/mailbox/adele#requests".into(),
        node: node.into(),
        amount,
        limit: 10,
        window: Duration::from_secs(600),
    }
}

pub async fn limit_leases_share_a_cap_across_nodes_and_a_crashed_nodes_slots_come_back(
    b: &impl Backend,
) {
    use switchboard_core::governor::store::LimitStore;
    let node_a = store(b).await;
    let node_b = store(b).await;
    assert_eq!(node_a.lease(&lease("a", 3, 4)).await.unwrap().slots, 3);
    let got = node_b.lease(&lease("b", 4, 4)).await.unwrap();
    assert_eq!((got.slots, got.others_wanting), (1, 0));
    // a learns that b wants more than it holds; a renewal keeps a's 3
    let a = node_a.lease(&lease("a", 3, 4)).await.unwrap();
    assert_eq!((a.slots, a.others_wanting), (3, 1));
    // a gives one back: b gets it
    assert_eq!(node_a.lease(&lease("a", 2, 4)).await.unwrap().slots, 2);
    assert_eq!(node_b.lease(&lease("b", 4, 4)).await.unwrap().slots, 2);
    // a crashes: its lease runs out (moved into the past here) and b gets all 4
    b.exec("UPDATE limit_leases SET expires_at = 0 WHERE node = 'a'")
        .await;
    assert_eq!(node_b.lease(&lease("b", 4, 4)).await.unwrap().slots, 4);
    assert_eq!(b.scalar("SELECT COUNT(*) FROM limit_leases").await, "1");
    // wanting 0 gives the lease back
    assert_eq!(node_b.lease(&lease("b", 0, 4)).await.unwrap().slots, 0);
    assert_eq!(b.scalar("SELECT COUNT(*) FROM limit_leases").await, "0");
}

pub async fn concurrent_leases_never_grant_more_than_the_cap(b: &impl Backend) {
    use switchboard_core::governor::store::LimitStore;
    let mut nodes = Vec::new();
    for _ in 0..6 {
        nodes.push(store(b).await);
    }
    let grants = futures::future::join_all(
        nodes
            .iter()
            .enumerate()
            .map(|(i, s)| async move { s.lease(&lease(&format!("n{i}"), 2, 4)).await.unwrap() }),
    )
    .await;
    let total: u32 = grants.iter().map(|g| g.slots).sum();
    assert_eq!(total, 4, "{grants:?}");
    assert_eq!(b.scalar("SELECT SUM(slots) FROM limit_leases").await, "4");
}

pub async fn budget_blocks_count_every_node_in_the_window(b: &impl Backend) {
    use switchboard_core::governor::store::LimitStore;
    let node_a = store(b).await;
    let node_b = store(b).await;
    let a = node_a.take(&take("a", 6)).await.unwrap();
    assert_eq!((a.granted, a.retry_at), (6, None));
    let b1 = node_b.take(&take("b", 6)).await.unwrap();
    assert_eq!(b1.granted, 4);
    let retry = b1.retry_at.expect("a time when the window has room");
    let wait = retry.duration_since(SystemTime::now()).unwrap_or_default();
    assert!(
        wait > Duration::from_secs(590) && wait <= Duration::from_secs(600),
        "{wait:?}"
    );
    assert_eq!(node_a.take(&take("a", 1)).await.unwrap().granted, 0);
    // a's block leaves the window: its 6 come back, b's 4 stay counted
    b.exec("UPDATE limit_blocks SET taken_at = taken_at - 600001 WHERE node = 'a'")
        .await;
    assert_eq!(node_a.take(&take("a", 100)).await.unwrap().granted, 6);
    assert_eq!(b.scalar("SELECT SUM(amount) FROM limit_blocks").await, "10");
}

pub async fn a_hold_is_seen_by_every_node_and_the_later_one_stays(b: &impl Backend) {
    use switchboard_core::governor::store::LimitStore;
    let node_a = store(b).await;
    let node_b = store(b).await;
    let key = lease("a", 1, 4).key;
    assert_eq!(
        node_b.lease(&lease("b", 1, 4)).await.unwrap().held_until,
        None
    );
    let now = SystemTime::now();
    node_a
        .hold(&key, now + Duration::from_secs(120))
        .await
        .unwrap();
    // an earlier hold does not shorten it
    node_b
        .hold(&key, now + Duration::from_secs(5))
        .await
        .unwrap();
    let seen = node_b
        .lease(&lease("b", 1, 4))
        .await
        .unwrap()
        .held_until
        .unwrap();
    let left = seen.duration_since(SystemTime::now()).unwrap_or_default();
    assert!(
        left > Duration::from_secs(110) && left <= Duration::from_secs(121),
        "{left:?}"
    );
    // a hold that has passed is not reported
    b.exec("UPDATE limit_holds SET held_until = 1").await;
    assert_eq!(
        node_a.lease(&lease("a", 1, 4)).await.unwrap().held_until,
        None
    );
}

/// `n` rows of `table` for keys `gone/1` to `gone/n`, dead by their time
/// 0 (1970): `columns` then `values` after the key.
async fn dead_rows(b: &impl Backend, table: &str, columns: &str, values: &str, n: u32) {
    b.exec(&format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
         INSERT INTO {table} (limit_key, {columns}) SELECT 'gone/' || i, {values} FROM n"
    ))
    .await;
}

/// How many rows of each limit table: blocks, leases, holds.
async fn limit_rows(b: &impl Backend) -> [String; 3] {
    [
        b.scalar("SELECT COUNT(*) FROM limit_blocks").await,
        b.scalar("SELECT COUNT(*) FROM limit_leases").await,
        b.scalar("SELECT COUNT(*) FROM limit_holds").await,
    ]
}

pub async fn rows_of_keys_no_longer_used_are_swept_in_batches_and_live_rows_stay(b: &impl Backend) {
    use switchboard_core::governor::store::LimitStore;
    let setup = store(b).await;
    // live: a block now, a block 23 hours old (a window may be a day long),
    // a lease and a hold running
    setup.take(&take("a", 4)).await.unwrap();
    let day = switchboard_core::governor::store::TakeRequest {
        key: "day".into(),
        window: Duration::from_secs(86_400),
        ..take("a", 3)
    };
    setup.take(&day).await.unwrap();
    b.exec("UPDATE limit_blocks SET taken_at = taken_at - 82800000 WHERE limit_key = 'day'")
        .await;
    setup.lease(&lease("a", 2, 4)).await.unwrap();
    let held = SystemTime::now() + Duration::from_secs(300);
    setup.hold(&lease("a", 2, 4).key, held).await.unwrap();
    // dead: keys nobody asks about again, more than two batches of blocks
    dead_rows(
        b,
        "limit_blocks",
        "node, taken_at, amount",
        "'x', 0, 1",
        2_500,
    )
    .await;
    dead_rows(
        b,
        "limit_leases",
        "node, slots, wanted, expires_at",
        "'x', 1, 1, 0",
        1_200,
    )
    .await;
    dead_rows(b, "limit_holds", "held_until", "0", 1_200).await;
    assert_eq!(limit_rows(b).await, ["2502", "1201", "1201"]);

    // another instance (another process) sweeps at its first operation,
    // a batch of 1,000 rows per table, and again at the next while a batch
    // was full
    let node = store(b).await;
    let other = |n: &str| switchboard_core::governor::store::TakeRequest {
        key: format!("other/{n}"),
        ..take("b", 1)
    };
    node.take(&other("1")).await.unwrap();
    assert_eq!(limit_rows(b).await, ["1503", "201", "201"]);
    node.take(&other("2")).await.unwrap();
    assert_eq!(limit_rows(b).await, ["504", "1", "1"]);
    node.take(&other("3")).await.unwrap();
    assert_eq!(limit_rows(b).await, ["5", "1", "1"]);
    // a sweep that found less than a batch puts the next one off a minute
    dead_rows(b, "limit_holds", "held_until", "0", 7).await;
    node.take(&other("4")).await.unwrap();
    assert_eq!(limit_rows(b).await, ["6", "1", "8"]);

    // what counts stayed: the live blocks (the 23-hour-old one included),
    // the lease and the hold
    assert_eq!(
        b.scalar("SELECT COUNT(*) FROM limit_blocks WHERE limit_key LIKE 'gone/%'")
            .await,
        "0"
    );
    assert_eq!(node.take(&take("b", 10)).await.unwrap().granted, 6);
    assert_eq!(
        node.take(&switchboard_core::governor::store::TakeRequest { amount: 10, ..day })
            .await
            .unwrap()
            .granted,
        7
    );
    let seen = node.lease(&lease("b", 4, 4)).await.unwrap();
    assert_eq!(seen.slots, 2, "a's lease still holds 2 of the 4 slots");
    assert!(seen.held_until.is_some(), "the hold is still seen");
}

pub async fn a_migration_missing_from_the_record_is_applied_whatever_else_is(b: &impl Backend) {
    let _first = store(b).await;
    // as if version 4 had not been applied while the versions around it were
    b.exec(
        "DROP TABLE limit_leases; DROP TABLE limit_blocks; DROP TABLE limit_holds; DELETE FROM schema_migrations WHERE version = 4",
    )
    .await;
    let again = store(b).await;
    assert_eq!(
        b.scalar("SELECT COUNT(*) FROM schema_migrations").await,
        switchboard_store::schema::MIGRATIONS.len().to_string()
    );
    use switchboard_core::governor::store::LimitStore;
    assert_eq!(again.lease(&lease("a", 1, 4)).await.unwrap().slots, 1);
}
