//! The size limit of OneDrive's simple upload.
//!
//! `PUT …/content` takes files of up to 4 MiB (4,194,304 bytes); larger
//! files must go through an upload session ([`crate::large_upload`]). The
//! connector checks the limit before anything is sent, so a caller learns
//! about the large upload instead of getting Graph's 413 after sending
//! megabytes.
//!
//! ```
//! use switchboard_core::Arguments;
//! use switchboard_microsoft365::small_upload::{SMALL_UPLOAD_LIMIT, check};
//!
//! let ok = Arguments::new().with_content(vec![0u8; 1024]);
//! assert!(check("onedrive.upload_small", &ok).is_ok());
//! let big = Arguments::new().with_content(vec![0u8; SMALL_UPLOAD_LIMIT + 1]);
//! assert_eq!(check("onedrive.upload_small", &big).unwrap_err().field(), Some("content"));
//! ```

use switchboard_core::{Arguments, Error, Result};

/// The largest file the simple upload accepts: 4 MiB.
pub const SMALL_UPLOAD_LIMIT: usize = 4 * 1024 * 1024;

/// The methods that upload a whole file in one request.
pub const SMALL_UPLOAD_METHODS: &[&str] = &["onedrive.upload_small", "onedrive.replace_content"];

/// Refuse content above [`SMALL_UPLOAD_LIMIT`] for the simple upload
/// methods; other methods pass.
pub fn check(method_id: &str, args: &Arguments) -> Result<()> {
    if !SMALL_UPLOAD_METHODS.contains(&method_id) {
        return Ok(());
    }
    match args.content() {
        Some(content) if content.len() > SMALL_UPLOAD_LIMIT => Err(Error::invalid_argument(
            "content",
            format!(
                "is {} bytes; `{method_id}` takes at most {SMALL_UPLOAD_LIMIT} bytes (4 MiB). Upload larger files through an upload session with `switchboard_microsoft365::large_upload::LargeUpload` (method `onedrive.create_upload_session`)",
                content.len()
            ),
        )),
        _ => Ok(()),
    }
}
