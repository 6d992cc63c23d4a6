//! The size limit of OneDrive's simple upload.
//!
//! `PUT …/content` takes files of up to 4 MiB; Microsoft's reference
//! (`api-reference/v1.0/api/driveitem-put-content.md`, 2021-07): "This
//! method only supports files up to 4MB in size". Larger files must go
//! through an upload session ([`crate::large_upload`]).
//!
//! The limit is data: the `content` parameter of `onedrive.upload_small`
//! and `onedrive.replace_content` declares `"maximum": 4194304`, so the
//! engine refuses larger content before anything is sent (the error points
//! at the upload session), and the CLI reads no more than that of a
//! `--file`. [`SMALL_UPLOAD_LIMIT`] is the same number for Rust callers.
//!
//! ```
//! use switchboard_microsoft365::Microsoft365;
//! use switchboard_microsoft365::small_upload::{SMALL_UPLOAD_LIMIT, SMALL_UPLOAD_METHODS};
//! use switchboard_core::Connector;
//!
//! let connector = Microsoft365::new().unwrap();
//! for id in SMALL_UPLOAD_METHODS {
//!     let method = connector.definition().method(id).unwrap();
//!     assert_eq!(method.content_limit(), Some(SMALL_UPLOAD_LIMIT as u64));
//! }
//! ```

/// The largest file the simple upload accepts: 4 MiB (4,194,304 bytes).
pub const SMALL_UPLOAD_LIMIT: usize = 4 * 1024 * 1024;

/// The methods that upload a whole file in one request.
pub const SMALL_UPLOAD_METHODS: &[&str] = &["onedrive.upload_small", "onedrive.replace_content"];
