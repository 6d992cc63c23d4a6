//! Where the bytes of a large upload come from.

use std::fmt;

use bytes::Bytes;
use switchboard_core::{Error, ErrorKind, Result};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The content of a large upload: bytes in memory, or a reader that is
/// read once, front to back, holding at most one fragment in memory.
///
/// ```
/// use switchboard_microsoft365::large_upload::UploadSource;
///
/// let from_memory = UploadSource::from(vec![1u8, 2, 3]);
/// let from_reader = UploadSource::reader(std::io::Cursor::new(vec![1u8, 2, 3]));
/// # let _ = (from_memory, from_reader);
/// ```
pub struct UploadSource {
    inner: Inner,
}

enum Inner {
    Bytes(Bytes),
    Reader {
        reader: Box<dyn AsyncRead + Send + Unpin>,
        /// Bytes read from the reader so far.
        position: u64,
        /// The bytes kept from `kept_start` (the current fragment).
        kept: Vec<u8>,
        kept_start: u64,
    },
}

impl UploadSource {
    /// Content read from `reader`. A reader cannot rewind: after a failure
    /// the upload resumes within the current fragment, which is kept.
    pub fn reader(reader: impl AsyncRead + Send + Unpin + 'static) -> Self {
        UploadSource {
            inner: Inner::Reader {
                reader: Box::new(reader),
                position: 0,
                kept: Vec::new(),
                kept_start: 0,
            },
        }
    }

    /// `len` bytes from `start`.
    pub(crate) async fn range(&mut self, start: u64, len: u64) -> Result<Bytes> {
        match &mut self.inner {
            Inner::Bytes(bytes) => {
                let end = start.saturating_add(len);
                let (Ok(s), Ok(e)) = (usize::try_from(start), usize::try_from(end)) else {
                    return Err(too_short());
                };
                if e > bytes.len() {
                    return Err(too_short());
                }
                Ok(bytes.slice(s..e))
            }
            Inner::Reader {
                reader,
                position,
                kept,
                kept_start,
            } => {
                if start < *kept_start {
                    return Err(Error::new(
                        ErrorKind::Remote,
                        "the upload service asked again for bytes before the current fragment, which a reader cannot rewind to; pass the content as bytes to allow this, or start the upload again",
                    ));
                }
                // Drop what lies before `start`, then skip ahead if needed.
                let drop = usize::try_from(start - *kept_start)
                    .unwrap_or(usize::MAX)
                    .min(kept.len());
                kept.drain(..drop);
                *kept_start += drop as u64;
                while *position < start {
                    let mut skip = vec![
                        0u8;
                        usize::try_from((start - *position).min(64 * 1024))
                            .unwrap_or(64 * 1024)
                    ];
                    let n = reader.read(&mut skip).await.map_err(read_error)?;
                    if n == 0 {
                        return Err(too_short());
                    }
                    *position += n as u64;
                    *kept_start = *position;
                }
                let want = usize::try_from(len).map_err(|_| too_short())?;
                while kept.len() < want {
                    let mut buf = vec![0u8; (want - kept.len()).min(256 * 1024)];
                    let n = reader.read(&mut buf).await.map_err(read_error)?;
                    if n == 0 {
                        return Err(too_short());
                    }
                    kept.extend_from_slice(&buf[..n]);
                    *position += n as u64;
                }
                Ok(Bytes::copy_from_slice(&kept[..want]))
            }
        }
    }
}

fn too_short() -> Error {
    Error::invalid_argument(
        "total_len",
        "is larger than the content: the source ended before the announced length",
    )
}

fn read_error(e: std::io::Error) -> Error {
    Error::new(
        ErrorKind::Transport,
        "the upload's content could not be read",
    )
    .with_source(e)
}

impl From<Bytes> for UploadSource {
    fn from(bytes: Bytes) -> Self {
        UploadSource {
            inner: Inner::Bytes(bytes),
        }
    }
}

impl From<Vec<u8>> for UploadSource {
    fn from(bytes: Vec<u8>) -> Self {
        Bytes::from(bytes).into()
    }
}

impl fmt::Debug for UploadSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            Inner::Bytes(b) => write!(f, "UploadSource::Bytes({} bytes)", b.len()),
            Inner::Reader { position, .. } => write!(f, "UploadSource::Reader(at {position})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_reader_resumes_within_the_kept_fragment_and_skips_ahead() {
        let data: Vec<u8> = (0..100u8).collect();
        let mut source = UploadSource::reader(std::io::Cursor::new(data.clone()));
        assert_eq!(source.range(0, 10).await.unwrap(), &data[0..10]);
        // Resume inside the fragment just read.
        assert_eq!(source.range(5, 10).await.unwrap(), &data[5..15]);
        // Skip ahead past bytes the service already has.
        assert_eq!(source.range(40, 10).await.unwrap(), &data[40..50]);
        // Rewinding before the kept fragment is refused.
        assert!(source.range(0, 10).await.is_err());
        // Reading past the end is the caller's wrong total length.
        assert_eq!(
            source.range(95, 10).await.unwrap_err().field(),
            Some("total_len")
        );
    }

    #[tokio::test]
    async fn bytes_serve_any_range() {
        let mut source = UploadSource::from(vec![1u8, 2, 3, 4]);
        assert_eq!(source.range(2, 2).await.unwrap(), &[3u8, 4][..]);
        assert_eq!(source.range(0, 1).await.unwrap(), &[1u8][..]);
        assert!(source.range(3, 2).await.is_err());
    }
}
