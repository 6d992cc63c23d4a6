//! Master keys and the encryption of secrets at rest.
//!
//! Every secret column is encrypted with XChaCha20-Poly1305 under the
//! newest key of a [`KeyRing`]. The stored text is
//! `v1:<key_id>:<base64(nonce || ciphertext)>` with a fresh random 24-byte
//! nonce, and the associated data binds the installation id, the field
//! name and the key id: a value copied into another installation's row, or
//! into another column, or relabelled with another key id, fails to
//! decrypt. There is no plaintext fallback: a value that is not in this
//! format, or whose key is not in the ring, is an error.
//!
//! Keys come from `SWITCHBOARD_MASTER_KEYS` (`id1:base64key,id2:base64key`,
//! newest last) or from a key file with one `id:base64key` per line
//! (newest last, `#` comments allowed; see [`crate::keyfile`]). Rotation
//! adds a key: new writes use it, rows written under older keys still
//! decrypt, and [`crate::Store::rotate_keys`] rewrites every row under the
//! newest key, after which the old keys can be removed. Each key also has
//! a one-way fingerprint the stores record, so a ring holding another key
//! under a known id is recognised.
//!
//! ```
//! use switchboard_store::keyring::KeyRing;
//! use switchboard_core::InstallationId;
//!
//! let ring = KeyRing::parse("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
//! let id = InstallationId::new_random();
//! let stored = ring.encrypt(id, "refresh_token", b"rt-secret").unwrap();
//! assert!(stored.starts_with("v1:k1:"));
//! assert_eq!(&*ring.decrypt(id, "refresh_token", &stored).unwrap(), b"rt-secret");
//! // the same text in another installation's row does not decrypt
//! assert!(ring.decrypt(InstallationId::new_random(), "refresh_token", &stored).is_err());
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};
use sha2::{Digest, Sha256};
use switchboard_core::InstallationId;
use switchboard_core::untrusted_text::sanitize_identifier;
use switchboard_core::{Error, ErrorKind, Result};
use zeroize::Zeroizing;

/// The environment variable a key ring is read from.
pub const MASTER_KEYS_ENV: &str = "SWITCHBOARD_MASTER_KEYS";

const FORMAT: &str = "v1";
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;
/// Most keys one ring (a key file or the variable) may hold.
pub const MAX_KEYS: usize = 1000;

/// One master key: its id and 32 secret bytes.
pub(crate) struct MasterKey {
    pub(crate) id: String,
    key: SecretBox<[u8; KEY_LEN]>,
}

impl MasterKey {
    /// A new random key.
    pub(crate) fn generate(id: &str) -> Result<Self> {
        check_key_id(id, given_id(id))?;
        let mut key = Box::new([0u8; KEY_LEN]);
        rand::rng().fill_bytes(key.as_mut());
        Ok(MasterKey {
            id: id.to_string(),
            key: SecretBox::new(key),
        })
    }

    /// The `id:base64key` line of this key (no newline).
    pub(crate) fn entry(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{}:{}",
            self.id,
            BASE64.encode(self.key.expose_secret())
        ))
    }

    /// Whether both hold the same key bytes (not constant time: used only to
    /// compare two lines of one key file).
    pub(crate) fn same_key(&self, other: &MasterKey) -> bool {
        self.key.expose_secret() == other.key.expose_secret()
    }

    /// A one-way fingerprint of the key and its id (`sha256:<base64>`),
    /// recorded by the stores to recognise the key again. It reveals
    /// nothing usable about the key (256 random bits behind SHA-256).
    pub(crate) fn fingerprint(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(b"switchboard/v1|master-key-fingerprint|");
        hash.update(self.id.as_bytes());
        hash.update(b"|");
        hash.update(self.key.expose_secret());
        format!("sha256:{}", BASE64.encode(hash.finalize()))
    }

    pub(crate) fn clone_key(&self) -> MasterKey {
        MasterKey {
            id: self.id.clone(),
            key: SecretBox::new(Box::new(*self.key.expose_secret())),
        }
    }
}

/// One `id:base64key` entry of a key file or of the variable, with the
/// 1-based line it was on.
pub(crate) struct ParsedEntry {
    pub(crate) line: usize,
    pub(crate) key: MasterKey,
}

/// The master keys secrets are encrypted with, newest last. Its Debug shows
/// only the key ids and where the keys came from.
pub struct KeyRing {
    keys: Vec<MasterKey>,
    source: String,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("key_ids", &self.key_ids())
            .field("source", &self.source)
            .finish()
    }
}

fn key_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Configuration, message)
}

/// Check a key id; `which` names it in the error ("master key id `x`",
/// or for an id read from a file, its entry: the text may be key material
/// written in the wrong order, so it is never quoted).
fn check_key_id(id: &str, which: impl FnOnce() -> String) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 32
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(key_error(format!(
            "{} is not allowed: use 1 to 32 letters, digits, `-` or `_`",
            which()
        )))
    }
}

/// How an id given by a caller is named in an error.
fn given_id(id: &str) -> impl FnOnce() -> String + '_ {
    move || format!("master key id `{}`", sanitize_identifier(id))
}

/// Parse `id:base64key` entries separated by commas or newlines; blank
/// lines and `#` comments are skipped. Duplicate ids are returned as they
/// are (the caller decides). Errors name the line and never the key.
pub(crate) fn parse_entries(spec: &str) -> Result<Vec<ParsedEntry>> {
    let mut out: Vec<ParsedEntry> = Vec::new();
    // A file saved by some editors starts with a byte order mark.
    let spec = spec.strip_prefix('\u{feff}').unwrap_or(spec);
    for (index, line) in spec.lines().enumerate() {
        let line_no = index + 1;
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        for entry in line.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if out.len() >= MAX_KEYS {
                return Err(key_error(format!(
                    "more than {MAX_KEYS} master keys: re-encrypt (`switchboard keys rotate`) and remove the old ones"
                )));
            }
            let Some((id, encoded)) = entry.split_once(':') else {
                return Err(key_error(format!(
                    "line {line_no}: a master key entry must look like `id:base64key` (32 bytes, base64)"
                )));
            };
            let id = id.trim();
            check_key_id(id, || {
                format!("line {line_no}: the master key id (the text before the `:`)")
            })?;
            let bytes = Zeroizing::new(BASE64.decode(encoded.trim()).map_err(|_| {
                key_error(format!(
                    "line {line_no}: master key `{id}` is not valid base64"
                ))
            })?);
            let key: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
                key_error(format!(
                    "line {line_no}: master key `{id}` has {} bytes; it must have {KEY_LEN}",
                    bytes.len()
                ))
            })?;
            out.push(ParsedEntry {
                line: line_no,
                key: MasterKey {
                    id: id.to_string(),
                    key: SecretBox::new(Box::new(key)),
                },
            });
        }
    }
    Ok(out)
}

impl KeyRing {
    /// Parse `id:base64key` entries separated by commas or newlines, newest
    /// last. Blank lines and lines starting with `#` are skipped. Keys are
    /// 32 bytes (base64 of 32 random bytes); an id may appear once.
    pub fn parse(spec: &str) -> Result<Self> {
        let entries = parse_entries(spec)?;
        for (i, e) in entries.iter().enumerate() {
            if entries[..i].iter().any(|o| o.key.id == e.key.id) {
                return Err(key_error(format!(
                    "master key id `{}` appears twice; each id may appear once",
                    e.key.id
                )));
            }
        }
        let keys: Vec<MasterKey> = entries.into_iter().map(|e| e.key).collect();
        if keys.is_empty() {
            return Err(key_error(format!(
                "the key ring has no master key: set {MASTER_KEYS_ENV} (`id:base64key`, newest last) or use a key file"
            )));
        }
        Ok(KeyRing {
            keys,
            source: "the key ring given to the store".into(),
        })
    }

    /// The key ring in `SWITCHBOARD_MASTER_KEYS`, or `None` when it is not set.
    pub fn from_env() -> Result<Option<Self>> {
        match std::env::var(MASTER_KEYS_ENV) {
            Ok(spec) => KeyRing::parse(&spec)
                .map(|ring| Some(ring.with_source(MASTER_KEYS_ENV)))
                .map_err(|e| key_error(format!("{MASTER_KEYS_ENV}: {}", e.message()))),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(key_error(format!("{MASTER_KEYS_ENV} is not valid text")))
            }
        }
    }

    /// A ring of `keys` (newest last); an id may appear more than once when
    /// a key file holds conflicting copies: each copy is tried when
    /// decrypting, and encryption refuses an ambiguous newest id.
    pub(crate) fn from_keys(keys: Vec<MasterKey>, source: impl Into<String>) -> Self {
        KeyRing {
            keys,
            source: source.into(),
        }
    }

    /// A ring with no key: a store opened without creating a key file can
    /// read records but not write secrets.
    pub(crate) fn empty(source: impl Into<String>) -> Self {
        KeyRing::from_keys(Vec::new(), source)
    }

    /// The same keys, described as coming from `source` (a file path, an
    /// environment variable) in error messages.
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    /// Where the keys came from, for messages.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// A ring with one freshly generated key (tests, ephemeral stores).
    pub fn generate(id: &str) -> Result<Self> {
        Ok(KeyRing::from_keys(
            vec![MasterKey::generate(id)?],
            "a generated key ring",
        ))
    }

    /// A `id:base64key` line with a new random key, for a key file or
    /// `SWITCHBOARD_MASTER_KEYS`.
    pub fn generate_entry(id: &str) -> Result<String> {
        Ok(MasterKey::generate(id)?.entry().to_string())
    }

    /// This ring plus `other`'s keys after it (other's newest becomes the
    /// newest). Ids must not repeat.
    pub fn with_keys_from(mut self, other: KeyRing) -> Result<Self> {
        for key in other.keys {
            if self.keys.iter().any(|k| k.id == key.id) {
                return Err(key_error(format!(
                    "master key id `{}` appears twice",
                    key.id
                )));
            }
            self.keys.push(key);
        }
        Ok(self)
    }

    /// A copy of this ring.
    pub(crate) fn copy(&self) -> KeyRing {
        KeyRing::from_keys(
            self.keys.iter().map(MasterKey::clone_key).collect(),
            self.source.clone(),
        )
    }

    /// The key ids, oldest first (an id held twice is listed twice).
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// Whether the ring holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The id of the key new writes use; `None` for an empty ring.
    pub fn newest_key_id(&self) -> Option<&str> {
        self.keys.last().map(|k| k.id.as_str())
    }

    /// The fingerprints of the keys with `id` (more than one only for a
    /// conflicting duplicate).
    pub(crate) fn fingerprints(&self, id: &str) -> Vec<String> {
        self.keys
            .iter()
            .filter(|k| k.id == id)
            .map(MasterKey::fingerprint)
            .collect()
    }

    /// The `id:base64key` entry of the key at `index` (tests).
    #[cfg(test)]
    pub(crate) fn entry_at(&self, index: usize) -> Zeroizing<String> {
        self.keys[index].entry()
    }

    /// The newest key's id and fingerprint.
    pub(crate) fn newest_fingerprint(&self) -> Option<(String, String)> {
        self.keys.last().map(|k| (k.id.clone(), k.fingerprint()))
    }

    fn newest(&self) -> Result<&MasterKey> {
        let Some(key) = self.keys.last() else {
            return Err(key_error(format!(
                "no master key is available ({}): secrets cannot be written",
                self.source
            )));
        };
        if self.keys.iter().filter(|k| k.id == key.id).count() > 1 {
            return Err(key_error(format!(
                "the newest master key id `{}` appears more than once in {} with different keys; run `switchboard keys rotate` to repair it",
                key.id, self.source
            )));
        }
        Ok(key)
    }

    fn associated_data(installation: InstallationId, field: &str, key_id: &str) -> Vec<u8> {
        format!("switchboard/{FORMAT}|{installation}|{field}|{key_id}").into_bytes()
    }

    /// Encrypt `plaintext` for `field` of `installation` under the newest key.
    pub fn encrypt(
        &self,
        installation: InstallationId,
        field: &str,
        plaintext: &[u8],
    ) -> Result<String> {
        let key = self.newest()?;
        let cipher = XChaCha20Poly1305::new_from_slice(key.key.expose_secret())
            .map_err(|_| key_error("master key has the wrong length"))?;
        let mut nonce_bytes = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce_bytes);
        let nonce = XNonce::from(nonce_bytes);
        let aad = Self::associated_data(installation, field, &key.id);
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| {
                Error::new(
                    ErrorKind::Storage,
                    format!("could not encrypt `{field}` of installation {installation}"),
                )
            })?;
        let mut blob = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        blob.extend_from_slice(&nonce_bytes);
        blob.extend_from_slice(&ciphertext);
        Ok(format!("{FORMAT}:{}:{}", key.id, BASE64.encode(blob)))
    }

    /// The key id a stored value was encrypted with, if it is in our format.
    pub fn key_id_of(stored: &str) -> Option<&str> {
        let mut parts = stored.splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(FORMAT), Some(id), Some(_)) => Some(id),
            _ => None,
        }
    }

    /// Decrypt a stored value of `field` of `installation`. Errors
    /// ([`ErrorKind::Storage`]) say whether the key is missing or the value
    /// was altered or moved; they never include the value.
    pub fn decrypt(
        &self,
        installation: InstallationId,
        field: &str,
        stored: &str,
    ) -> Result<Zeroizing<Vec<u8>>> {
        self.decrypt_with_index(installation, field, stored)
            .map(|(plain, _)| plain)
    }

    /// [`KeyRing::decrypt`], also saying which key of the ring (its
    /// position) opened the value.
    pub(crate) fn decrypt_with_index(
        &self,
        installation: InstallationId,
        field: &str,
        stored: &str,
    ) -> Result<(Zeroizing<Vec<u8>>, usize)> {
        let unreadable = |why: &str| {
            Error::new(
                ErrorKind::Storage,
                format!("secret `{field}` of installation {installation} cannot be read: {why}"),
            )
            .with_field(field.to_string())
        };
        let mut parts = stored.splitn(3, ':');
        let (Some(FORMAT), Some(key_id), Some(encoded)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(unreadable(
                "it is not an encrypted value (`v1:<key id>:<data>`); plaintext is never accepted",
            ));
        };
        if !self.keys.iter().any(|k| k.id == key_id) {
            return Err(unreadable(&format!(
                "it was encrypted with master key `{}`, which is not in the key ring ({}); add that key back",
                sanitize_identifier(key_id),
                self.key_ids().join(", ")
            )));
        }
        let blob = BASE64
            .decode(encoded)
            .map_err(|_| unreadable("the stored data is not valid base64"))?;
        if blob.len() < NONCE_LEN + 16 {
            return Err(unreadable("the stored data is too short"));
        }
        let (nonce_bytes, ciphertext) = blob.split_at(NONCE_LEN);
        let nonce_array: [u8; NONCE_LEN] = nonce_bytes
            .try_into()
            .map_err(|_| unreadable("the stored data is too short"))?;
        let aad = Self::associated_data(installation, field, key_id);
        for (index, key) in self.keys.iter().enumerate().filter(|(_, k)| k.id == key_id) {
            let cipher = XChaCha20Poly1305::new_from_slice(key.key.expose_secret())
                .map_err(|_| key_error("master key has the wrong length"))?;
            if let Ok(plain) = cipher.decrypt(
                &XNonce::from(nonce_array),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            ) {
                return Ok((Zeroizing::new(plain), index));
            }
        }
        Err(unreadable(&format!(
            "authentication with master key `{key_id}` failed: the value was altered, or copied from another installation or field, or the key is not the one it was written with"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_bound_to_installation_field_and_key_id() {
        let ring = KeyRing::generate("k1").unwrap();
        let a = InstallationId::new_random();
        let stored = ring.encrypt(a, "refresh_token", b"secret-1").unwrap();
        assert_eq!(
            &*ring.decrypt(a, "refresh_token", &stored).unwrap(),
            b"secret-1"
        );
        let other_inst = ring
            .decrypt(InstallationId::new_random(), "refresh_token", &stored)
            .unwrap_err();
        assert_eq!(other_inst.kind(), ErrorKind::Storage);
        assert!(
            other_inst
                .to_string()
                .contains("copied from another installation")
        );
        assert!(ring.decrypt(a, "client_secret", &stored).is_err());
        // relabelled with another key id of the same ring: fails too
        let two = KeyRing::generate("k1")
            .unwrap()
            .with_keys_from(KeyRing::generate("k2").unwrap())
            .unwrap();
        let stored = two.encrypt(a, "f", b"x").unwrap();
        let relabelled = stored.replacen("v1:k2:", "v1:k1:", 1);
        assert!(two.decrypt(a, "f", &relabelled).is_err());
    }

    #[test]
    fn two_encryptions_of_one_value_differ() {
        let ring = KeyRing::generate("k1").unwrap();
        let id = InstallationId::new_random();
        assert_ne!(
            ring.encrypt(id, "f", b"same").unwrap(),
            ring.encrypt(id, "f", b"same").unwrap()
        );
    }

    #[test]
    fn rotation_keeps_old_values_readable_and_writes_with_the_newest() {
        let old = KeyRing::generate("k1").unwrap();
        let id = InstallationId::new_random();
        let stored_old = old.encrypt(id, "f", b"v").unwrap();
        let rotated = old
            .with_keys_from(KeyRing::generate("k2").unwrap())
            .unwrap();
        assert_eq!(&*rotated.decrypt(id, "f", &stored_old).unwrap(), b"v");
        let stored_new = rotated.encrypt(id, "f", b"v").unwrap();
        assert_eq!(KeyRing::key_id_of(&stored_new), Some("k2"));
        assert_eq!(rotated.newest_key_id(), Some("k2"));
    }

    #[test]
    fn missing_key_and_plaintext_are_clear_errors() {
        let ring = KeyRing::generate("k2").unwrap();
        let id = InstallationId::new_random();
        let other = KeyRing::generate("k1").unwrap();
        let stored = other.encrypt(id, "refresh_token", b"v").unwrap();
        let err = ring.decrypt(id, "refresh_token", &stored).unwrap_err();
        assert!(
            err.to_string()
                .contains("master key `k1`, which is not in the key ring (k2)"),
            "{err}"
        );
        let err = ring
            .decrypt(id, "refresh_token", "plain-refresh-token")
            .unwrap_err();
        assert!(err.to_string().contains("plaintext is never accepted"));
        assert!(!err.to_string().contains("plain-refresh-token"));
    }

    #[test]
    fn bad_key_specs_name_the_problem() {
        assert!(
            KeyRing::parse("")
                .unwrap_err()
                .to_string()
                .contains("no master key")
        );
        assert!(
            KeyRing::parse("k1:c2hvcnQ=")
                .unwrap_err()
                .to_string()
                .contains("must have 32")
        );
        assert!(KeyRing::parse("k:1:x").is_err());
        // a key written before its id is never quoted back
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let err = KeyRing::parse(&format!("{key}:k1"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1: the master key id"), "{err}");
        assert!(!err.contains("AAECAwQFBgcICQoL"), "{err}");
        // a byte order mark (some editors write one) is not part of the id
        assert_eq!(
            KeyRing::parse(&format!("\u{feff}k1:{key}"))
                .unwrap()
                .key_ids(),
            ["k1"]
        );
        let e = KeyRing::generate_entry("k1").unwrap();
        let dup = format!("{e},{e}");
        assert!(
            KeyRing::parse(&dup)
                .unwrap_err()
                .to_string()
                .contains("twice")
        );
        assert!(format!("{:?}", KeyRing::parse(&e).unwrap()).contains("k1"));
        assert!(!format!("{:?}", KeyRing::parse(&e).unwrap()).contains(&e[3..]));
    }

    #[test]
    fn conflicting_copies_of_an_id_all_decrypt_but_never_encrypt() {
        let entries = parse_entries(&format!(
            "{}\n{}\n",
            KeyRing::generate_entry("k1").unwrap(),
            KeyRing::generate_entry("k1").unwrap()
        ))
        .unwrap();
        let first = KeyRing::from_keys(vec![entries[0].key.clone_key()], "a");
        let second = KeyRing::from_keys(vec![entries[1].key.clone_key()], "b");
        let both = KeyRing::from_keys(entries.into_iter().map(|e| e.key).collect(), "file");
        let id = InstallationId::new_random();
        let a = first.encrypt(id, "f", b"one").unwrap();
        let b = second.encrypt(id, "f", b"two").unwrap();
        assert_eq!(both.decrypt_with_index(id, "f", &a).unwrap().1, 0);
        assert_eq!(&*both.decrypt_with_index(id, "f", &b).unwrap().0, b"two");
        let err = both.encrypt(id, "f", b"x").unwrap_err();
        assert!(
            err.to_string().contains("appears more than once in file"),
            "{err}"
        );
        assert_ne!(first.fingerprints("k1"), second.fingerprints("k1"));
        let empty = KeyRing::empty("nothing");
        assert!(
            empty
                .encrypt(id, "f", b"x")
                .unwrap_err()
                .to_string()
                .contains("no master key is available (nothing)")
        );
        assert_eq!(empty.newest_key_id(), None);
    }
}
