//! Which master keys a store's secrets were written with.
//!
//! Each store records, in its `master_keys` table, the id and a one-way
//! fingerprint of every key it has encrypted with: the write that first
//! uses a key registers it in the same transaction (SQLite) or statement
//! (PostgreSQL). When a store is opened the key ring is compared with the
//! table ([`check`]): a key the store's secrets need that the ring lacks,
//! or a ring key whose fingerprint differs (another store's key file with
//! the same ids), refuses the open while the store holds encrypted values.
//! A store that holds none may start over with any keys: its stale
//! entries are dropped.
//!
//! Stores written before the table existed are scanned once: every
//! encrypted value's key id is tallied ([`KeyUsage`]) and each id is
//! registered after one of its values decrypts under the ring.

use std::collections::BTreeMap;

use async_trait::async_trait;
use switchboard_core::InstallationId;
use switchboard_core::{Error, ErrorKind, Result};

use crate::keyring::KeyRing;

/// One row of `master_keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegisteredKey {
    pub id: String,
    pub fingerprint: String,
}

/// What a store knows about its keys.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyState {
    /// The `master_keys` rows.
    pub registered: Vec<RegisteredKey>,
    /// Whether any installation holds an encrypted value.
    pub has_encrypted: bool,
}

/// Encrypted values tallied per key id; with a ring, also which of the
/// ring's keys (by position) opened them.
#[derive(Debug, Default)]
pub(crate) struct KeyUsage {
    pub by_id: BTreeMap<String, IdUsage>,
}

/// The values labelled with one key id.
#[derive(Debug, Default)]
pub(crate) struct IdUsage {
    pub values: usize,
    /// Ring position → values it decrypted.
    pub opened_by: BTreeMap<usize, usize>,
}

impl KeyUsage {
    /// Count one stored value (`v1:<key id>:...`; anything else is not
    /// counted: it is no value of any key).
    pub(crate) fn record(
        &mut self,
        ring: Option<&KeyRing>,
        id: InstallationId,
        field: &str,
        stored: &str,
    ) {
        let Some(key_id) = KeyRing::key_id_of(stored) else {
            return;
        };
        let usage = self.by_id.entry(key_id.to_string()).or_default();
        usage.values += 1;
        if let Some(ring) = ring
            && let Ok((_, index)) = ring.decrypt_with_index(id, field, stored)
        {
            *usage.opened_by.entry(index).or_default() += 1;
        }
    }

    /// The key ids in use.
    pub(crate) fn ids(&self) -> Vec<String> {
        self.by_id.keys().cloned().collect()
    }
}

/// What the comparison of a ring with a store found.
#[derive(Debug, Default)]
pub(crate) struct Verdict {
    /// Registered ids the ring lacks.
    pub missing: Vec<String>,
    /// Registered ids whose ring key has another fingerprint.
    pub mismatched: Vec<String>,
}

impl Verdict {
    pub(crate) fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.mismatched.is_empty()
    }
}

/// Compare `ring` with the registered keys.
pub(crate) fn compare(ring: &KeyRing, registered: &[RegisteredKey]) -> Verdict {
    let mut verdict = Verdict::default();
    for key in registered {
        let fingerprints = ring.fingerprints(&key.id);
        if fingerprints.is_empty() {
            verdict.missing.push(key.id.clone());
        } else if !fingerprints.contains(&key.fingerprint) {
            verdict.mismatched.push(key.id.clone());
        }
    }
    verdict
}

/// The registry rows for the keys of `ring` that opened values in `usage`
/// (a store written before the registry existed), and the ids in use that
/// no ring key opened.
pub(crate) fn from_usage(ring: &KeyRing, usage: &KeyUsage) -> (Vec<RegisteredKey>, Verdict) {
    let mut rows = Vec::new();
    let mut verdict = Verdict::default();
    for (id, used) in &usage.by_id {
        let fingerprints = ring.fingerprints(id);
        if fingerprints.is_empty() {
            verdict.missing.push(id.clone());
            continue;
        }
        let opened: Vec<usize> = used.opened_by.keys().copied().collect();
        if opened.is_empty() {
            verdict.mismatched.push(id.clone());
            continue;
        }
        let ids = ring.key_ids();
        let positions: Vec<usize> = (0..ids.len()).filter(|i| ids[*i] == id).collect();
        for (nth, position) in positions.iter().enumerate() {
            if opened.contains(position) {
                rows.push(RegisteredKey {
                    id: id.clone(),
                    fingerprint: fingerprints[nth].clone(),
                });
            }
        }
    }
    (rows, verdict)
}

/// What a store offers for checking its keys.
#[async_trait]
pub(crate) trait KeyedStore: Send + Sync {
    /// The store's key ring.
    fn ring(&self) -> &KeyRing;
    /// Where the store is, for messages (no password).
    fn describe(&self) -> String;
    /// The registered keys and whether any value is encrypted.
    async fn key_state(&self) -> Result<KeyState>;
    /// Every encrypted value tallied by key id (and, with the ring, by
    /// which ring key opens it).
    async fn key_usage(&self, with_ring: bool) -> Result<KeyUsage>;
    /// Record keys in `master_keys`.
    async fn register_keys(&self, keys: Vec<RegisteredKey>) -> Result<()>;
    /// Drop registered keys while no value is encrypted.
    async fn forget_keys_if_empty(&self, ids: Vec<String>) -> Result<bool>;
}

/// Check the store's ring against the keys its secrets were written with
/// (see the module doc). `lost` are ids the operator declared lost: they
/// do not refuse the open. Returns warnings for the operator.
pub(crate) async fn verify(store: &impl KeyedStore, lost: &[String]) -> Result<Vec<String>> {
    let state = store.key_state().await?;
    let ring = store.ring();
    let mut warnings = Vec::new();
    if !state.has_encrypted {
        let verdict = compare(ring, &state.registered);
        if !verdict.is_clean() {
            let stale: Vec<String> = verdict
                .missing
                .into_iter()
                .chain(verdict.mismatched)
                .collect();
            if store.forget_keys_if_empty(stale.clone()).await? {
                tracing::info!(keys = ?stale, "the store holds no secrets: forgot the keys it recorded before");
            }
        }
        return Ok(warnings);
    }
    let (rows, mut verdict) = if state.registered.is_empty() {
        // written before the registry existed: learn the keys from the values
        let usage = store.key_usage(true).await?;
        from_usage(ring, &usage)
    } else {
        (Vec::new(), compare(ring, &state.registered))
    };
    verdict.missing.retain(|id| {
        if lost.contains(id) {
            warnings.push(format!(
                "master key `{id}` is declared lost ({}): installations whose secrets use it cannot be read until they are installed again",
                crate::LOST_KEYS_ENV
            ));
            false
        } else {
            true
        }
    });
    if !verdict.is_clean() {
        return Err(refusal(&store.describe(), ring, &verdict));
    }
    if !rows.is_empty() {
        store.register_keys(rows).await?;
    }
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    Ok(warnings)
}

/// The refusal for a ring that does not fit the store (`store`: where the
/// store is, for the message). `lost` are ids the operator declared lost.
pub(crate) fn refusal(store: &str, ring: &KeyRing, verdict: &Verdict) -> Error {
    let mut parts = Vec::new();
    if !verdict.missing.is_empty() {
        parts.push(format!(
            "its secrets were encrypted with master key(s) {}, which {} lacks",
            list(&verdict.missing),
            ring.source()
        ));
    }
    if !verdict.mismatched.is_empty() {
        parts.push(format!(
            "master key(s) {} in {} are not the keys its secrets were written with (their fingerprints differ from those the store recorded): this is another store's key file, or a new one",
            list(&verdict.mismatched),
            ring.source()
        ));
    }
    Error::new(
        ErrorKind::Configuration,
        format!(
            "the store {store} cannot be opened with these keys: {}. Restore the key file from your backup (mode 0600; {} names it), or give the keys in {} (`id:base64key,...`, newest last). Nothing was changed. If a key is lost for good, {}=<ids> opens the store anyway; installations whose secrets use it stay unreadable until they are installed again",
            parts.join("; "),
            crate::keyfile::KEY_FILE_ENV,
            crate::keyring::MASTER_KEYS_ENV,
            crate::LOST_KEYS_ENV,
        ),
    )
}

/// The refusal to create a key file for a store that holds secrets.
pub(crate) fn missing_file_refusal(
    store: &str,
    path: &std::path::Path,
    needed: &[String],
) -> Error {
    let needed = if needed.is_empty() {
        "its master keys".to_string()
    } else {
        format!("master key(s) {}", list(needed))
    };
    Error::new(
        ErrorKind::Configuration,
        format!(
            "the key file {} does not exist, but the store {store} holds secrets encrypted with {needed}; a new key could not read them, so none was created. Restore {} from your backup (mode 0600), point {} at the key file, or give the keys in {} (`id:base64key,...`, newest last)",
            path.display(),
            path.display(),
            crate::keyfile::KEY_FILE_ENV,
            crate::keyring::MASTER_KEYS_ENV,
        ),
    )
}

fn list(ids: &[String]) -> String {
    ids.iter()
        .map(|id| format!("`{id}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyring::{MasterKey, parse_entries};

    fn ring_of(keys: Vec<MasterKey>) -> KeyRing {
        KeyRing::from_keys(keys, "key file /k")
    }

    #[test]
    fn compare_finds_missing_and_mismatched_keys() {
        let k1 = MasterKey::generate("k1").unwrap();
        let other_k1 = MasterKey::generate("k1").unwrap();
        let k2 = MasterKey::generate("k2").unwrap();
        let registered = vec![
            RegisteredKey {
                id: "k1".into(),
                fingerprint: k1.fingerprint(),
            },
            RegisteredKey {
                id: "k2".into(),
                fingerprint: k2.fingerprint(),
            },
        ];
        let verdict = compare(&ring_of(vec![other_k1]), &registered);
        assert_eq!(verdict.missing, vec!["k2"]);
        assert_eq!(verdict.mismatched, vec!["k1"]);
        let message = refusal("sqlite:/s.db", &ring_of(vec![]), &verdict).to_string();
        assert!(
            message.contains("`k2`, which key file /k lacks"),
            "{message}"
        );
        assert!(message.contains("fingerprints differ"), "{message}");
        assert!(compare(&ring_of(vec![k1, k2]), &registered).is_clean());
    }

    #[test]
    fn usage_names_the_copy_that_opens_the_values() {
        let entries = parse_entries(&format!(
            "{}\n{}\n",
            KeyRing::generate_entry("k1").unwrap(),
            KeyRing::generate_entry("k1").unwrap()
        ))
        .unwrap();
        let ring = ring_of(entries.into_iter().map(|e| e.key).collect());
        let id = InstallationId::new_random();
        // a value written under the second copy
        let second = parse_entries(&format!("{}\n", ring_entry(&ring, 1))).unwrap();
        let writer = KeyRing::from_keys(second.into_iter().map(|e| e.key).collect(), "w");
        let stored = writer.encrypt(id, "refresh_token", b"v").unwrap();
        let mut usage = KeyUsage::default();
        usage.record(Some(&ring), id, "refresh_token", &stored);
        usage.record(Some(&ring), id, "refresh_token", "plaintext");
        let k1 = &usage.by_id["k1"];
        assert_eq!(k1.values, 1);
        assert_eq!(k1.opened_by.keys().copied().collect::<Vec<_>>(), vec![1]);
        let (rows, verdict) = from_usage(&ring, &usage);
        assert!(verdict.is_clean());
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].fingerprint, ring.fingerprints("k1")[1]);
    }

    fn ring_entry(ring: &KeyRing, index: usize) -> String {
        ring.entry_at(index).to_string()
    }
}
