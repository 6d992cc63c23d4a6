//! The master key file: one `id:base64key` per line, newest last, `#`
//! comments allowed.
//!
//! Rules (docs/stores.md, "The key file"):
//! - **Size.** At most [`MAX_KEY_FILE_BYTES`] bytes and
//!   [`crate::keyring::MAX_KEYS`] keys; anything larger is refused unread.
//! - **Mode.** On Unix the file must not be readable by group or others
//!   (mode 0600 or stricter). A looser mode is refused, naming the file and
//!   the `chmod` that fixes it, unless [`ALLOW_READABLE_ENV`] is `1` (or
//!   [`crate::OpenOptions::allow_readable_key_file`]), which turns the
//!   refusal into a warning.
//! - **Locking.** Every change (creation, rotation, repair) holds an
//!   exclusive advisory lock on `<file>.lock` beside it (`std::fs::File::lock`,
//!   released by the OS when the process dies), re-reads the file under the
//!   lock, and replaces it atomically: a temporary file in the same
//!   directory (mode 0600), fsync, rename over the key file, fsync of the
//!   directory. Readers need no lock: they see the old or the new file,
//!   never half of one. Temporary files left by a crashed writer are
//!   removed by the next writer.
//!
//! ```
//! use switchboard_store::keyfile;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("master.keys");
//! assert_eq!(keyfile::lock_path(&path), dir.path().join("master.keys.lock"));
//! ```

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rand::RngCore;
use switchboard_core::{Error, ErrorKind, Result};
use zeroize::Zeroizing;

use crate::keyring::{MasterKey, ParsedEntry, parse_entries};

/// The environment variable that names the key file (the CLI's default is
/// `master.keys` beside a SQLite store, or in the data directory).
pub const KEY_FILE_ENV: &str = "SWITCHBOARD_KEY_FILE";

/// Set to `1` to use a key file that group or others can read (a warning
/// is logged instead of the refusal).
pub const ALLOW_READABLE_ENV: &str = "SWITCHBOARD_ALLOW_READABLE_KEY_FILE";

/// The largest key file read (64 KiB: about 1000 keys).
pub const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

const HEADER: &str =
    "# switchboard master keys, newest last. Keep this file secret (mode 0600) and backed up.\n";

/// Where the CLI keeps its key file by default: `SWITCHBOARD_KEY_FILE`, or
/// `master.keys` in `data_dir`.
pub fn default_key_file(data_dir: &Path) -> PathBuf {
    std::env::var_os(KEY_FILE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| data_dir.join("master.keys"))
}

/// The lock file that serialises changes to the key file at `path`.
pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    path.with_file_name(name)
}

fn file_error(path: &Path, what: &str, e: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::Configuration,
        format!("key file {}: {what}: {e}", path.display()),
    )
}

/// A key file as read: its text (kept to rewrite it with comments intact)
/// and its entries in order.
pub(crate) struct KeyFileText {
    pub(crate) text: Zeroizing<String>,
    pub(crate) entries: Vec<ParsedEntry>,
}

/// A warning about the key file for the operator (also logged).
pub(crate) type Warning = String;

/// Check that group and others cannot read the file (Unix).
#[cfg(unix)]
fn check_mode(path: &Path, file: &File, allow_readable: bool) -> Result<Option<Warning>> {
    use std::os::unix::fs::PermissionsExt;
    let mode = file
        .metadata()
        .map_err(|e| file_error(path, "cannot read its permissions", e))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 == 0 {
        return Ok(None);
    }
    let problem = format!(
        "the key file {} has mode {mode:04o}: group or others can read the master keys",
        path.display()
    );
    if allow_readable {
        let warning = format!(
            "{problem}; used anyway because {ALLOW_READABLE_ENV}=1 (run `chmod 600 {}`)",
            path.display()
        );
        tracing::warn!(path = %path.display(), mode = format!("{mode:04o}"), "master key file readable by group or others");
        return Ok(Some(warning));
    }
    Err(Error::new(
        ErrorKind::Configuration,
        format!(
            "{problem}. Run `chmod 600 {}`, or set {ALLOW_READABLE_ENV}=1 to use it anyway",
            path.display()
        ),
    ))
}

#[cfg(not(unix))]
fn check_mode(_path: &Path, _file: &File, _allow_readable: bool) -> Result<Option<Warning>> {
    Ok(None)
}

/// Read and parse the key file; `None` when it does not exist. Duplicate
/// ids are returned as they are.
pub(crate) fn read(
    path: &Path,
    allow_readable: bool,
) -> Result<Option<(KeyFileText, Option<Warning>)>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(file_error(path, "cannot be read", e)),
    };
    let meta = file
        .metadata()
        .map_err(|e| file_error(path, "cannot be read", e))?;
    if !meta.is_file() {
        return Err(Error::new(
            ErrorKind::Configuration,
            format!("key file {} is not a regular file", path.display()),
        ));
    }
    let warning = check_mode(path, &file, allow_readable)?;
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| file_error(path, "cannot be read", e))?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(Error::new(
            ErrorKind::Configuration,
            format!(
                "key file {} is larger than {MAX_KEY_FILE_BYTES} bytes; a key file holds `id:base64key` lines (at most {} keys)",
                path.display(),
                crate::keyring::MAX_KEYS
            ),
        ));
    }
    let text = Zeroizing::new(String::from_utf8(bytes.to_vec()).map_err(|_| {
        Error::new(
            ErrorKind::Configuration,
            format!("key file {} is not UTF-8 text", path.display()),
        )
    })?);
    let entries = parse_entries(&text).map_err(|e| {
        Error::new(
            ErrorKind::Configuration,
            format!("key file {}: {}", path.display(), e.message()),
        )
    })?;
    if entries.is_empty() {
        return Err(Error::new(
            ErrorKind::Configuration,
            format!(
                "key file {} holds no master key (`id:base64key` lines); restore it from your backup",
                path.display()
            ),
        ));
    }
    Ok(Some((KeyFileText { text, entries }, warning)))
}

/// An exclusive lock on a key file's lock file, released when dropped (or
/// when the process ends).
pub(crate) struct KeyFileLock {
    _file: File,
}

/// Wait for the exclusive lock on `path`'s lock file (creating it, mode
/// 0600, and the directory if needed), then remove temporary files a
/// crashed writer left behind.
pub(crate) fn lock(path: &Path) -> Result<KeyFileLock> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| file_error(path, "cannot create its directory", e))?;
    }
    let lock_file = lock_path(path);
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(&lock_file).map_err(|e| {
        file_error(
            path,
            &format!("cannot open the lock file {}", lock_file.display()),
            e,
        )
    })?;
    file.lock()
        .map_err(|e| file_error(path, "cannot lock it", e))?;
    remove_stale_temps(path);
    Ok(KeyFileLock { _file: file })
}

fn temp_prefix(path: &Path) -> String {
    format!(
        ".{}.tmp-",
        path.file_name().unwrap_or_default().to_string_lossy()
    )
}

/// Remove `.<name>.tmp-*` files beside the key file (call with the lock held).
fn remove_stale_temps(path: &Path) {
    let prefix = temp_prefix(path);
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => dir.to_path_buf(),
        None => PathBuf::from("."),
    };
    let Ok(listing) = std::fs::read_dir(&dir) else {
        return;
    };
    for entry in listing.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            tracing::info!(file = %entry.path().display(), "removing a temporary key file left by an interrupted writer");
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Replace the key file with `text` atomically (call with the lock held):
/// a temporary file beside it (mode 0600), fsync, rename, fsync of the
/// directory.
pub(crate) fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => dir.to_path_buf(),
        None => PathBuf::from("."),
    };
    let mut suffix = [0u8; 8];
    rand::rng().fill_bytes(&mut suffix);
    let temp = dir.join(format!(
        "{}{}-{}",
        temp_prefix(path),
        std::process::id(),
        suffix
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = (|| -> std::io::Result<()> {
        let mut file = options.open(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, path)?;
        // the rename itself must survive a power cut
        File::open(&dir)?.sync_all()
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        file_error(path, "cannot be written", e)
    })
}

/// The text of a new key file holding `key`.
pub(crate) fn new_file_text(key: &MasterKey) -> Zeroizing<String> {
    Zeroizing::new(format!("{HEADER}{}\n", key.entry().as_str()))
}

/// `text` with `key` appended as the newest line.
pub(crate) fn with_added_key(text: &str, key: &MasterKey) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(text.len() + 80));
    out.push_str(text);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(key.entry().as_str());
    out.push('\n');
    out
}

/// `text` with the given 1-based lines turned into comments, each preceded
/// by a comment saying why. The key material stays in the file (as a
/// comment) so nothing is lost.
pub(crate) fn with_lines_commented(text: &str, lines: &[(usize, String)]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(text.len() + 200));
    for (index, line) in text.lines().enumerate() {
        if let Some((_, why)) = lines.iter().find(|(n, _)| *n == index + 1) {
            out.push_str(&format!("# {why}\n# {line}\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    #[test]
    fn a_missing_file_reads_as_none_and_an_empty_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.keys");
        assert!(read(&path, false).unwrap().is_none());
        write(&path, "# only a comment\n");
        let err = read(&path, false).err().unwrap();
        assert!(err.to_string().contains("holds no master key"), "{err}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn oversized_and_binary_files_are_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.keys");
        write(&path, &"#".repeat(MAX_KEY_FILE_BYTES as usize + 10));
        let err = read(&path, false).err().unwrap();
        assert!(err.to_string().contains("larger than 65536 bytes"), "{err}");
        std::fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
        let err = read(&path, true).err().unwrap();
        assert!(err.to_string().contains("not UTF-8"), "{err}");
    }

    #[test]
    fn parse_errors_name_the_line_and_never_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.keys");
        let good = crate::KeyRing::generate_entry("k1").unwrap();
        write(&path, &format!("# header\n{good}\nk2:c2hvcnQ=\n"));
        let err = read(&path, false).err().unwrap();
        assert!(err.to_string().contains("line 3"), "{err}");
        assert!(err.to_string().contains("must have 32"), "{err}");
        assert!(!err.to_string().contains(&good[3..]), "{err}");
    }

    #[test]
    fn atomic_writes_leave_no_temporary_file_and_keep_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.keys");
        let _lock = lock(&path).unwrap();
        let key = MasterKey::generate("k1").unwrap();
        write_atomic(&path, &new_file_text(&key)).unwrap();
        let text = with_added_key(
            &std::fs::read_to_string(&path).unwrap(),
            &MasterKey::generate("k2").unwrap(),
        );
        write_atomic(&path, &text).unwrap();
        let (file, warning) = read(&path, false).unwrap().unwrap();
        assert!(warning.is_none());
        let ids: Vec<&str> = file.entries.iter().map(|e| e.key.id.as_str()).collect();
        assert_eq!(ids, vec!["k1", "k2"]);
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".tmp-")), "{names:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn the_next_writer_removes_temporary_files_of_a_crashed_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.keys");
        let stale = dir.path().join(".master.keys.tmp-999-abc");
        std::fs::write(&stale, "k9:left-over").unwrap();
        let unrelated = dir.path().join("other.tmp-1");
        std::fs::write(&unrelated, "x").unwrap();
        drop(lock(&path).unwrap());
        assert!(!stale.exists());
        assert!(unrelated.exists());
    }

    #[test]
    fn commenting_out_keeps_every_other_line() {
        let text = "# h\nk1:aaa\nk2:bbb\nk2:ccc\n";
        let out = with_lines_commented(text, &[(4, "duplicate".into())]);
        assert_eq!(out.as_str(), "# h\nk1:aaa\nk2:bbb\n# duplicate\n# k2:ccc\n");
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_can_read_is_refused_unless_allowed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.keys");
        write(
            &path,
            &format!("{}\n", crate::KeyRing::generate_entry("k1").unwrap()),
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read(&path, false).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Configuration);
        let text = err.to_string();
        assert!(text.contains("mode 0644"), "{text}");
        assert!(
            text.contains(&format!("chmod 600 {}", path.display())),
            "{text}"
        );
        assert!(text.contains(ALLOW_READABLE_ENV), "{text}");
        let (file, warning) = read(&path, true).unwrap().unwrap();
        assert_eq!(file.entries.len(), 1);
        assert!(warning.unwrap().contains("mode 0644"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(read(&path, false).is_err());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(read(&path, false).is_ok());
    }
}
