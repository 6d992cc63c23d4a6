//! [`InstallationId`]: the one name of an installation, from the store to
//! the engine's context, a continuation and a log line.
//!
//! ```
//! use switchboard_core::InstallationId;
//!
//! let id: InstallationId = "0d7e6a4b-1111-4222-8333-444455556666".parse().unwrap();
//! assert_eq!(id.to_string(), "0d7e6a4b-1111-4222-8333-444455556666");
//! let err = "not-an-id".parse::<InstallationId>().unwrap_err();
//! assert!(err.to_string().contains("installation id"));
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, ErrorKind};
use crate::untrusted_text::sanitize_identifier;

/// An installation's id: a UUID, printed in its hyphenated lower-case
/// form, serialised as that string.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstallationId(Uuid);

impl InstallationId {
    /// A new random id (UUID version 4).
    pub fn new_random() -> Self {
        InstallationId(Uuid::new_v4())
    }

    /// The id of these 128 bits (for constants in tests and fixtures).
    pub const fn from_u128(bits: u128) -> Self {
        InstallationId(Uuid::from_u128(bits))
    }

    /// The UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl From<Uuid> for InstallationId {
    fn from(id: Uuid) -> Self {
        InstallationId(id)
    }
}

impl From<InstallationId> for Uuid {
    fn from(id: InstallationId) -> Self {
        id.0
    }
}

impl FromStr for InstallationId {
    type Err = Error;

    /// Parses a UUID (hyphenated, simple, braced or URN form); anything
    /// else is an invalid-argument error that quotes what was given.
    fn from_str(s: &str) -> Result<Self, Error> {
        Uuid::try_parse(s.trim()).map(InstallationId).map_err(|_| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "`{}` is not an installation id: an id is a UUID such as 0d7e6a4b-1111-4222-8333-444455556666",
                    sanitize_identifier(s)
                ),
            )
        })
    }
}

impl fmt::Display for InstallationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for InstallationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InstallationId({})", self.0.hyphenated())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_uuid_form_and_prints_one() {
        let id: InstallationId = "{0D7E6A4B-1111-4222-8333-444455556666}".parse().unwrap();
        assert_eq!(id.to_string(), "0d7e6a4b-1111-4222-8333-444455556666");
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            r#""0d7e6a4b-1111-4222-8333-444455556666""#
        );
        let back: InstallationId =
            serde_json::from_str(r#""0d7e6a4b-1111-4222-8333-444455556666""#).unwrap();
        assert_eq!(back, id);
    }

    #[test]
    fn refuses_what_is_not_a_uuid_naming_it_safely() {
        let err = "inst-1\u{1b}[2J".parse::<InstallationId>().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(!err.to_string().contains('\u{1b}'), "{err}");
        assert!(err.to_string().contains("not an installation id"), "{err}");
    }
}
