//! Local files: the ones a user hands us are read with a size limit, and
//! the ones we write are replaced atomically.
//!
//! [`read_limited`] never reads more than `limit + 1` bytes, whatever the
//! path is (`/dev/zero`, a FIFO, a sparse file of terabytes): a regular
//! file's size is checked before reading, and the read itself stops one
//! byte past the limit. Definition files, key files and the CLI's `--file`
//! go through it.
//!
//! [`AtomicFile`] writes to a temporary file beside the target and renames
//! it over the target only on [`AtomicFile::commit`], after an fsync of the
//! file; the directory is fsynced after the rename, so the new name is
//! durable too. Dropped without a commit (an error, a cut download), the
//! temporary file is removed and the target is untouched: readers see the
//! old bytes or the new ones, never a mix.
//!
//! ```
//! use std::io::Write;
//! use switchboard_core::files::{AtomicFile, ReadLimitedError, read_limited};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("notes.txt");
//! std::fs::write(&path, b"old").unwrap();
//!
//! let mut file = AtomicFile::create(&path).unwrap();
//! file.write_all(b"half of the new").unwrap();
//! drop(file); // no commit: the old content stays
//! assert_eq!(std::fs::read(&path).unwrap(), b"old");
//!
//! let mut file = AtomicFile::create(&path).unwrap();
//! file.write_all(b"new").unwrap();
//! file.commit().unwrap();
//! assert_eq!(read_limited(&path, 3).unwrap(), b"new");
//! assert!(matches!(read_limited(&path, 2), Err(ReadLimitedError::TooLarge { limit: 2 })));
//! ```

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Why [`read_limited`] gave no content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadLimitedError {
    /// The file could not be opened or read.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The file holds more than `limit` bytes (nothing past `limit + 1`
    /// was read).
    #[error("is larger than {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        limit: u64,
    },
    /// The file is not UTF-8 text ([`read_limited_string`] only).
    #[error("is not UTF-8 text")]
    NotText,
}

/// The bytes of `path`, at most `limit` of them.
///
/// A regular file larger than `limit` is refused from its size alone;
/// anything else (a device, a pipe, a file that grows) is read until
/// `limit + 1` bytes, then refused.
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, ReadLimitedError> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_file() && meta.len() > limit {
        return Err(ReadLimitedError::TooLarge { limit });
    }
    let expected = if meta.is_file() { meta.len() } else { 0 };
    let mut content = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut content)?;
    if content.len() as u64 > limit {
        return Err(ReadLimitedError::TooLarge { limit });
    }
    Ok(content)
}

/// [`read_limited`] for a UTF-8 text file.
pub fn read_limited_string(path: &Path, limit: u64) -> Result<String, ReadLimitedError> {
    String::from_utf8(read_limited(path, limit)?).map_err(|_| ReadLimitedError::NotText)
}

/// A file being written that replaces `target` only when committed.
///
/// The temporary file is created beside the target (same directory, so
/// the rename is atomic) with a hidden, random name. It gets the existing
/// target's permissions, or on unix `0666` less the umask for a new file
/// (as `File::create` would) unless [`AtomicFile::create_with_mode`] says
/// otherwise. A target that is a symbolic link is followed: the file it
/// points at is replaced.
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    temp: tempfile::NamedTempFile,
}

impl AtomicFile {
    /// Start replacing `target`.
    pub fn create(target: &Path) -> io::Result<Self> {
        Self::open(target, None)
    }

    /// Start replacing `target` with a file of this unix mode (`0o600` for
    /// a file holding secrets); the mode is ignored elsewhere.
    pub fn create_with_mode(target: &Path, mode: u32) -> io::Result<Self> {
        Self::open(target, Some(mode))
    }

    fn open(target: &Path, mode: Option<u32>) -> io::Result<Self> {
        let target = match std::fs::canonicalize(target) {
            Ok(resolved) => resolved,
            Err(e) if e.kind() == io::ErrorKind::NotFound => target.to_path_buf(),
            Err(e) => return Err(e),
        };
        let existing = match std::fs::metadata(&target) {
            Ok(meta) if meta.is_file() => Some(meta.permissions()),
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} is not a regular file", target.display()),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} does not name a file", target.display()),
                )
            })?;
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        #[cfg(unix)]
        let wanted = {
            use std::os::unix::fs::PermissionsExt;
            let wanted = match (mode, &existing) {
                (Some(mode), _) => Some(std::fs::Permissions::from_mode(mode)),
                (None, Some(perms)) => Some(perms.clone()),
                (None, None) => None,
            };
            // created 0666 less the umask, like File::create
            builder.permissions(std::fs::Permissions::from_mode(0o666));
            wanted
        };
        #[cfg(not(unix))]
        let wanted = {
            let _ = mode;
            existing
        };
        let temp = builder.tempfile_in(parent_of(&target))?;
        if let Some(perms) = wanted {
            temp.as_file().set_permissions(perms)?;
        }
        Ok(AtomicFile { target, temp })
    }

    /// The file being written (for a `try_clone` to write asynchronously).
    pub fn as_file(&self) -> &File {
        self.temp.as_file()
    }

    /// The path that will be replaced.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// fsync the content, rename it over the target, fsync the directory.
    pub fn commit(self) -> io::Result<()> {
        self.temp.as_file().sync_all()?;
        let AtomicFile { target, temp } = self;
        temp.persist(&target).map_err(|e| e.error)?;
        sync_dir(parent_of(&target))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

/// Replace `target` with `content` atomically (see [`AtomicFile`]).
pub fn write_atomic(target: &Path, content: &[u8]) -> io::Result<()> {
    let mut file = AtomicFile::create(target)?;
    file.write_all(content)?;
    file.commit()
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Make a rename in `dir` durable. Windows cannot open a directory for
/// this; its rename is durable once it returns.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[cfg(unix)]
    #[test]
    fn reads_stop_one_byte_past_the_limit_on_endless_input() {
        // /dev/zero never ends; the read stops at limit + 1
        let err = read_limited(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(matches!(err, ReadLimitedError::TooLarge { limit: 1024 }));
        assert_eq!(err.to_string(), "is larger than 1024 bytes");
    }

    #[test]
    fn a_sparse_file_is_refused_from_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge.bin");
        File::create(&path).unwrap().set_len(1 << 40).unwrap();
        assert!(matches!(
            read_limited(&path, 4096),
            Err(ReadLimitedError::TooLarge { limit: 4096 })
        ));
        std::fs::write(&path, b"four").unwrap();
        assert_eq!(read_limited(&path, 4).unwrap(), b"four");
        assert!(read_limited(&path, 3).is_err());
        assert!(matches!(
            read_limited(&dir.path().join("missing"), 4),
            Err(ReadLimitedError::Io(e)) if e.kind() == io::ErrorKind::NotFound
        ));
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(matches!(
            read_limited_string(&path, 4),
            Err(ReadLimitedError::NotText)
        ));
    }

    #[test]
    fn an_uncommitted_file_leaves_the_target_and_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.csv");
        std::fs::write(&path, b"old bytes").unwrap();
        {
            let mut file = AtomicFile::create(&path).unwrap();
            file.write_all(b"partial").unwrap();
            assert_eq!(leftovers(dir.path()).len(), 1);
        }
        assert_eq!(std::fs::read(&path).unwrap(), b"old bytes");
        assert!(leftovers(dir.path()).is_empty());
        write_atomic(&path, b"new bytes").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new bytes");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn permissions_are_kept_or_chosen_and_links_followed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kept");
        std::fs::write(&path, b"x").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&path, b"y").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o640);

        let secret = dir.path().join("secret");
        let mut file = AtomicFile::create_with_mode(&secret, 0o600).unwrap();
        file.write_all(b"k").unwrap();
        file.commit().unwrap();
        assert_eq!(mode(&secret), 0o600);

        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        write_atomic(&link, b"through the link").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"through the link");

        let err = AtomicFile::create(dir.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
