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
//! (newest last, `#` comments allowed). Rotation adds a key: new writes use
//! it, rows written under older keys still decrypt, and the stores'
//! `reencrypt_all` rewrites every row under the newest key, after which
//! the old keys can be removed.
//!
//! ```
//! use switchboard_store::keyring::KeyRing;
//! use uuid::Uuid;
//!
//! let ring = KeyRing::parse("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
//! let id = Uuid::new_v4();
//! let stored = ring.encrypt(id, "refresh_token", b"rt-secret").unwrap();
//! assert!(stored.starts_with("v1:k1:"));
//! assert_eq!(&*ring.decrypt(id, "refresh_token", &stored).unwrap(), b"rt-secret");
//! // the same text in another installation's row does not decrypt
//! assert!(ring.decrypt(Uuid::new_v4(), "refresh_token", &stored).is_err());
//! ```

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox};
use switchboard_core::files::{ReadLimitedError, read_limited_string};
use switchboard_core::{Error, ErrorKind, Result};
use uuid::Uuid;
use zeroize::Zeroizing;

/// The environment variable a key ring is read from.
pub const MASTER_KEYS_ENV: &str = "SWITCHBOARD_MASTER_KEYS";

/// The largest key file read: 1 MiB (a key line is about 48 bytes).
pub const MAX_KEY_FILE_BYTES: u64 = 1024 * 1024;

const FORMAT: &str = "v1";
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;

struct MasterKey {
    id: String,
    key: SecretBox<[u8; KEY_LEN]>,
}

/// The master keys secrets are encrypted with, newest last. Its Debug shows
/// only the key ids.
pub struct KeyRing {
    keys: Vec<MasterKey>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

fn key_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Configuration, message)
}

fn check_key_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 32
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(key_error(format!(
            "master key id `{id}` is not allowed: use 1 to 32 letters, digits, `-` or `_`"
        )))
    }
}

impl KeyRing {
    /// Parse `id:base64key` entries separated by commas or newlines, newest
    /// last. Blank lines and lines starting with `#` are skipped. Keys are
    /// 32 bytes (base64 of 32 random bytes).
    pub fn parse(spec: &str) -> Result<Self> {
        let mut keys: Vec<MasterKey> = Vec::new();
        let entries = spec
            .lines()
            .map(str::trim)
            .filter(|line| !line.starts_with('#'))
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .filter(|entry| !entry.is_empty());
        for entry in entries {
            let Some((id, encoded)) = entry.split_once(':') else {
                return Err(key_error(
                    "a master key entry must look like `id:base64key` (32 bytes, base64)",
                ));
            };
            let id = id.trim();
            check_key_id(id)?;
            let bytes = Zeroizing::new(
                BASE64
                    .decode(encoded.trim())
                    .map_err(|_| key_error(format!("master key `{id}` is not valid base64")))?,
            );
            let key: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
                key_error(format!(
                    "master key `{id}` has {} bytes; it must have {KEY_LEN}",
                    bytes.len()
                ))
            })?;
            if keys.iter().any(|k| k.id == id) {
                return Err(key_error(format!("master key id `{id}` appears twice")));
            }
            keys.push(MasterKey {
                id: id.to_string(),
                key: SecretBox::new(Box::new(key)),
            });
        }
        if keys.is_empty() {
            return Err(key_error(
                "the key ring has no master key: set SWITCHBOARD_MASTER_KEYS (`id:base64key`, newest last) or use a key file",
            ));
        }
        Ok(KeyRing { keys })
    }

    /// The key ring in `SWITCHBOARD_MASTER_KEYS`, or `None` when it is not set.
    pub fn from_env() -> Result<Option<Self>> {
        match std::env::var(MASTER_KEYS_ENV) {
            Ok(spec) => KeyRing::parse(&spec).map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(key_error(format!("{MASTER_KEYS_ENV} is not valid text")))
            }
        }
    }

    /// Read a key file (`id:base64key` per line, newest last), of at most
    /// [`MAX_KEY_FILE_BYTES`].
    pub fn load_file(path: &Path) -> Result<Self> {
        let text = Zeroizing::new(read_limited_string(path, MAX_KEY_FILE_BYTES).map_err(
            |e| match e {
                ReadLimitedError::TooLarge { .. } => key_error(format!(
                    "the key file {} {e}, far more than any key ring needs; is it the right file?",
                    path.display()
                )),
                e => key_error(format!("cannot read the key file {}: {e}", path.display())),
            },
        )?);
        KeyRing::parse(&text)
            .map_err(|e| key_error(format!("key file {}: {}", path.display(), e.message())))
    }

    /// Read the key file, or create it with one new key (mode 0600, in a
    /// new directory if needed) when it does not exist. Returns the ring and
    /// whether the file was created; creation is also logged with the path.
    pub fn load_or_create_file(path: &Path) -> Result<(Self, bool)> {
        if path.exists() {
            return Ok((KeyRing::load_file(path)?, false));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                key_error(format!(
                    "cannot create the directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let line = new_key_line("k1");
        match write_new_file(path, &line) {
            Ok(()) => {
                tracing::info!(path = %path.display(), "created a new master key file (mode 0600); back it up: without it the stored secrets cannot be read");
                Ok((KeyRing::load_file(path)?, true))
            }
            // another process created it first: use theirs
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Ok((KeyRing::load_file(path)?, false))
            }
            Err(e) => Err(key_error(format!(
                "cannot create the key file {}: {e}",
                path.display()
            ))),
        }
    }

    /// Rotation for a key file: append a new key (it becomes the newest)
    /// and return the new ring and the new key's id. Follow with the
    /// store's `reencrypt_all`.
    pub fn add_key_to_file(path: &Path) -> Result<(Self, String)> {
        let ring = KeyRing::load_file(path)?;
        let mut n = ring.keys.len() + 1;
        while ring.keys.iter().any(|k| k.id == format!("k{n}")) {
            n += 1;
        }
        let id = format!("k{n}");
        let line = new_key_line(&id);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| key_error(format!("cannot open the key file {}: {e}", path.display())))?;
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| key_error(format!("cannot write the key file {}: {e}", path.display())))?;
        Ok((KeyRing::load_file(path)?, id))
    }

    /// A ring with one freshly generated key (tests, ephemeral stores).
    pub fn generate(id: &str) -> Result<Self> {
        check_key_id(id)?;
        KeyRing::parse(&new_key_line(id))
    }

    /// A `id:base64key` line with a new random key, for a key file or
    /// `SWITCHBOARD_MASTER_KEYS`.
    pub fn generate_entry(id: &str) -> Result<String> {
        check_key_id(id)?;
        Ok(new_key_line(id).trim_end().to_string())
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

    /// The key ids, oldest first.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// The id of the key new writes use.
    pub fn newest_key_id(&self) -> &str {
        self.newest().id.as_str()
    }

    fn newest(&self) -> &MasterKey {
        // `parse` refuses an empty ring and nothing removes keys
        &self.keys[self.keys.len() - 1]
    }

    fn associated_data(installation: Uuid, field: &str, key_id: &str) -> Vec<u8> {
        format!("switchboard/{FORMAT}|{installation}|{field}|{key_id}").into_bytes()
    }

    /// Encrypt `plaintext` for `field` of `installation` under the newest key.
    pub fn encrypt(&self, installation: Uuid, field: &str, plaintext: &[u8]) -> Result<String> {
        let key = self.newest();
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
        installation: Uuid,
        field: &str,
        stored: &str,
    ) -> Result<Zeroizing<Vec<u8>>> {
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
        let Some(key) = self.keys.iter().find(|k| k.id == key_id) else {
            return Err(unreadable(&format!(
                "it was encrypted with master key `{key_id}`, which is not in the key ring ({}); add that key back",
                self.key_ids().join(", ")
            )));
        };
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
        let cipher = XChaCha20Poly1305::new_from_slice(key.key.expose_secret())
            .map_err(|_| key_error("master key has the wrong length"))?;
        let aad = Self::associated_data(installation, field, key_id);
        cipher
            .decrypt(
                &XNonce::from(nonce_array),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| {
                unreadable(&format!(
                    "authentication with master key `{key_id}` failed: the value was altered, or copied from another installation or field"
                ))
            })
    }
}

fn new_key_line(id: &str) -> String {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    rand::rng().fill_bytes(key.as_mut());
    format!("{id}:{}\n", BASE64.encode(key.as_ref()))
}

fn write_new_file(path: &Path, line: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(
        b"# switchboard master keys, newest last. Keep this file secret and backed up.\n",
    )?;
    file.write_all(line.as_bytes())?;
    file.sync_all()
}

/// Where the CLI keeps its key file by default: `SWITCHBOARD_KEY_FILE`, or
/// `master.keys` beside the default SQLite store.
pub fn default_key_file(data_dir: &Path) -> PathBuf {
    std::env::var_os("SWITCHBOARD_KEY_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| data_dir.join("master.keys"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_bound_to_installation_field_and_key_id() {
        let ring = KeyRing::generate("k1").unwrap();
        let a = Uuid::new_v4();
        let stored = ring.encrypt(a, "refresh_token", b"secret-1").unwrap();
        assert_eq!(
            &*ring.decrypt(a, "refresh_token", &stored).unwrap(),
            b"secret-1"
        );
        let other_inst = ring
            .decrypt(Uuid::new_v4(), "refresh_token", &stored)
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
        let id = Uuid::new_v4();
        assert_ne!(
            ring.encrypt(id, "f", b"same").unwrap(),
            ring.encrypt(id, "f", b"same").unwrap()
        );
    }

    #[test]
    fn rotation_keeps_old_values_readable_and_writes_with_the_newest() {
        let old = KeyRing::generate("k1").unwrap();
        let id = Uuid::new_v4();
        let stored_old = old.encrypt(id, "f", b"v").unwrap();
        let rotated = old
            .with_keys_from(KeyRing::generate("k2").unwrap())
            .unwrap();
        assert_eq!(&*rotated.decrypt(id, "f", &stored_old).unwrap(), b"v");
        let stored_new = rotated.encrypt(id, "f", b"v").unwrap();
        assert_eq!(KeyRing::key_id_of(&stored_new), Some("k2"));
    }

    #[test]
    fn missing_key_and_plaintext_are_clear_errors() {
        let ring = KeyRing::generate("k2").unwrap();
        let id = Uuid::new_v4();
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
    fn a_huge_key_file_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.keys");
        std::fs::File::create(&path)
            .unwrap()
            .set_len(1 << 40)
            .unwrap();
        let err = KeyRing::load_file(&path).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("is larger than {MAX_KEY_FILE_BYTES} bytes")),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_created_once_with_mode_0600_and_rotation_appends() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("master.keys");
        let (ring, created) = KeyRing::load_or_create_file(&path).unwrap();
        assert!(created);
        assert_eq!(ring.key_ids(), vec!["k1"]);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let id = Uuid::new_v4();
        let stored = ring.encrypt(id, "f", b"v").unwrap();
        let (again, created) = KeyRing::load_or_create_file(&path).unwrap();
        assert!(!created);
        assert_eq!(&*again.decrypt(id, "f", &stored).unwrap(), b"v");
        let (rotated, new_id) = KeyRing::add_key_to_file(&path).unwrap();
        assert_eq!(new_id, "k2");
        assert_eq!(rotated.key_ids(), vec!["k1", "k2"]);
        assert_eq!(rotated.newest_key_id(), "k2");
        assert_eq!(&*rotated.decrypt(id, "f", &stored).unwrap(), b"v");
    }
}
