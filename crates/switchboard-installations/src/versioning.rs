//! Definition versions and installations: what may change under an
//! existing installation without anyone being told.
//!
//! Every installation stores the semantic version of the definition it was
//! made with ([`Installation::connector_version`]). When the platform later
//! loads a connector (a new binary, or a new `--connectors-dir`), whoever
//! resolves an installation's connector compares the two with
//! [`check_compatibility`] and acts on the answer:
//!
//! | installed → loaded | answer | what to do |
//! |---|---|---|
//! | `1.4.0` → `1.4.0` | [`Compatibility::Same`] | use it |
//! | `1.4.0` → `1.6.2` | [`Compatibility::Compatible`] | use it; record the new version on the installation when convenient |
//! | `1.4.0` → `2.0.0` | [`Compatibility::Breaking`] | do **not** use it silently: report it; the installation must be migrated (reviewed, re-consented or re-installed) |
//! | `1.4.0` → `1.3.9` | [`Compatibility::Older`] | report it: methods the installation relied on may be missing |
//!
//! "Same major" follows Cargo's reading of semver: below 1.0 the first
//! non-zero component is the breaking one (`0.3.1` → `0.4.0` is breaking,
//! `0.3.1` → `0.3.7` is not; `0.0.3` → `0.0.4` is breaking). Pre-release
//! and build metadata take part in ordering only.
//!
//! [`Compatibility::is_usable`] says whether calls may go ahead;
//! [`require_usable`] turns the other answers into an
//! [`ErrorKind::Configuration`] error whose message says what to do, and
//! [`check_installation`] does the lookup in a [`Registry`] as well.
//!
//! ```
//! use switchboard_installations::versioning::{check_compatibility, Compatibility};
//!
//! assert_eq!(check_compatibility("1.4.0", "1.4.0").unwrap(), Compatibility::Same);
//! assert!(check_compatibility("1.4.0", "1.6.2").unwrap().is_usable());
//! let major = check_compatibility("1.4.0", "2.0.0").unwrap();
//! assert!(!major.is_usable());
//! assert!(matches!(major, Compatibility::Breaking { .. }));
//! assert_eq!(check_compatibility("1.4", "2.0.0").unwrap_err().field(), Some("connector_version"));
//! ```

use std::fmt;

use semver::Version;

use crate::install::Installation;
use switchboard_core::connector::Registry;
use switchboard_core::error::{Error, ErrorKind, Result};

/// How a loaded definition's version relates to the one an installation
/// was made with.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compatibility {
    /// The very same version.
    Same,
    /// A newer version with the same major (or, below 1.0, the same first
    /// non-zero component): safe to use.
    Compatible {
        /// The installation's version.
        installed: Version,
        /// The loaded definition's version.
        loaded: Version,
    },
    /// A newer major version: may remove methods, rename parameters or need
    /// other permissions. Reported, never applied silently.
    Breaking {
        /// The installation's version.
        installed: Version,
        /// The loaded definition's version.
        loaded: Version,
    },
    /// An older definition than the installation was made with (a rollback).
    Older {
        /// The installation's version.
        installed: Version,
        /// The loaded definition's version.
        loaded: Version,
    },
}

impl Compatibility {
    /// Whether calls may go ahead with the loaded definition.
    ///
    /// ```
    /// use switchboard_installations::versioning::check_compatibility;
    /// assert!(check_compatibility("0.3.1", "0.3.7").unwrap().is_usable());
    /// assert!(!check_compatibility("0.3.1", "0.4.0").unwrap().is_usable());
    /// ```
    pub fn is_usable(&self) -> bool {
        matches!(self, Compatibility::Same | Compatibility::Compatible { .. })
    }
}

impl fmt::Display for Compatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compatibility::Same => f.write_str("the same version"),
            Compatibility::Compatible { installed, loaded } => {
                write!(f, "compatible ({installed} → {loaded})")
            }
            Compatibility::Breaking { installed, loaded } => {
                write!(f, "a new major version ({installed} → {loaded})")
            }
            Compatibility::Older { installed, loaded } => {
                write!(f, "an older version ({installed} → {loaded})")
            }
        }
    }
}

/// The part of a version that must stay equal for a change to be
/// compatible: the major, or below 1.0 the first non-zero component.
fn compatibility_key(v: &Version) -> (u64, u64, u64) {
    match (v.major, v.minor) {
        (0, 0) => (0, 0, v.patch),
        (0, minor) => (0, minor, 0),
        (major, _) => (major, 0, 0),
    }
}

fn parse(field: &str, text: &str) -> Result<Version> {
    Version::parse(text).map_err(|_| {
        Error::invalid_argument(
            field,
            format!("\"{text}\" is not a semantic version: use MAJOR.MINOR.PATCH such as 1.2.0"),
        )
    })
}

/// Compare the version an installation was made with to the version of the
/// definition loaded now. Versions that are not semver are an
/// [`ErrorKind::InvalidArgument`] error naming `connector_version`
/// (installed) or `version` (loaded).
///
/// ```
/// use switchboard_installations::versioning::{check_compatibility, Compatibility};
/// assert!(matches!(check_compatibility("2.1.0", "2.0.5").unwrap(), Compatibility::Older { .. }));
/// assert!(matches!(check_compatibility("0.0.3", "0.0.4").unwrap(), Compatibility::Breaking { .. }));
/// ```
pub fn check_compatibility(installed: &str, loaded: &str) -> Result<Compatibility> {
    let installed = parse("connector_version", installed)?;
    let loaded = parse("version", loaded)?;
    Ok(if loaded == installed {
        Compatibility::Same
    } else if loaded < installed {
        Compatibility::Older { installed, loaded }
    } else if compatibility_key(&loaded) == compatibility_key(&installed) {
        Compatibility::Compatible { installed, loaded }
    } else {
        Compatibility::Breaking { installed, loaded }
    })
}

/// Turn an answer that does not allow calls into an
/// [`ErrorKind::Configuration`] error naming the connector and saying what
/// to do; usable answers pass through.
///
/// ```
/// use switchboard_installations::versioning::{check_compatibility, require_usable};
/// let err = require_usable("github", check_compatibility("1.0.0", "2.0.0").unwrap()).unwrap_err();
/// assert!(err.to_string().contains("1.0.0 → 2.0.0"));
/// ```
pub fn require_usable(connector_id: &str, compatibility: Compatibility) -> Result<Compatibility> {
    match &compatibility {
        Compatibility::Same | Compatibility::Compatible { .. } => Ok(compatibility),
        Compatibility::Breaking { installed, loaded } => Err(Error::new(
            ErrorKind::Configuration,
            format!(
                "the installation was made with connector `{connector_id}` {installed}, but the loaded definition is a new major version ({installed} → {loaded}) that may remove methods or need other permissions; it is not applied silently: review the connector's changelog, then migrate the installation (re-install or re-consent) or load version {installed} again"
            ),
        )),
        Compatibility::Older { installed, loaded } => Err(Error::new(
            ErrorKind::Configuration,
            format!(
                "the installation was made with connector `{connector_id}` {installed}, but an older definition is loaded ({installed} → {loaded}); methods it relies on may be missing: load version {installed} or later"
            ),
        )),
    }
}

/// Look up an installation's connector in a registry and check that its
/// loaded definition may serve the installation. Returns the answer when
/// usable (`Compatible` tells the caller it may record the new version);
/// otherwise an error: [`ErrorKind::InvalidArgument`] for an unknown
/// connector, [`ErrorKind::Configuration`] for a breaking or older version.
///
/// ```
/// use std::sync::Arc;
/// use switchboard_core::connector::{DefinitionConnector, Registry};
/// use switchboard_installations::install::Installation;
/// use switchboard_installations::versioning::check_installation;
///
/// let def = serde_json::from_value(serde_json::json!({
///   "id": "example", "name": "Example", "version": "2.0.0", "description": "Example",
///   "base_url": "https://api.example.com", "allowed_hosts": ["api.example.com"],
///   "auth_variants": [{"id": "token", "name": "Token", "kind": "bearer_token"}],
///   "categories": [{"id": "things", "name": "Things"}]
/// })).unwrap();
/// let mut registry = Registry::new();
/// registry.register(Arc::new(DefinitionConnector::new(def))).unwrap();
///
/// let old = Installation::new("acct-1", "example", "1.3.0", "token");
/// assert!(check_installation(&registry, &old).is_err());
/// let current = Installation::new("acct-1", "example", "2.0.0", "token");
/// assert!(check_installation(&registry, &current).unwrap().is_usable());
/// ```
pub fn check_installation(
    registry: &Registry,
    installation: &Installation,
) -> Result<Compatibility> {
    let connector_id = installation.connector_id.as_str();
    let connector = registry.get(connector_id).ok_or_else(|| {
        Error::invalid_argument(
            "connector_id",
            format!(
                "the installation's connector `{connector_id}` is not registered; registered: {}",
                registry
                    .iter()
                    .map(|c| c.id())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    let loaded = &connector.definition().version;
    let answer = check_compatibility(&installation.connector_version, loaded)?;
    if let Compatibility::Breaking { .. } | Compatibility::Older { .. } = answer {
        tracing::warn!(
            connector = connector_id,
            installed = %installation.connector_version,
            loaded = %loaded,
            "loaded connector version does not match the installation"
        );
    }
    require_usable(connector_id, answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(a: &str, b: &str) -> Compatibility {
        check_compatibility(a, b).unwrap()
    }

    #[test]
    fn same_and_compatible() {
        assert_eq!(answer("1.0.0", "1.0.0"), Compatibility::Same);
        assert!(matches!(
            answer("1.0.0", "1.0.1"),
            Compatibility::Compatible { .. }
        ));
        assert!(matches!(
            answer("1.0.0", "1.9.0"),
            Compatibility::Compatible { .. }
        ));
        assert!(matches!(
            answer("0.2.0", "0.2.9"),
            Compatibility::Compatible { .. }
        ));
        assert!(matches!(
            answer("1.2.0", "1.3.0-beta.1"),
            Compatibility::Compatible { .. }
        ));
    }

    #[test]
    fn major_changes_are_breaking() {
        assert!(matches!(
            answer("1.9.9", "2.0.0"),
            Compatibility::Breaking { .. }
        ));
        assert!(matches!(
            answer("0.2.9", "0.3.0"),
            Compatibility::Breaking { .. }
        ));
        assert!(matches!(
            answer("0.0.1", "0.0.2"),
            Compatibility::Breaking { .. }
        ));
        assert!(matches!(
            answer("0.9.0", "1.0.0"),
            Compatibility::Breaking { .. }
        ));
        assert!(matches!(
            answer("1.0.0", "2.0.0-rc.1"),
            Compatibility::Breaking { .. }
        ));
    }

    #[test]
    fn older_versions_are_reported() {
        assert!(matches!(
            answer("1.2.0", "1.1.9"),
            Compatibility::Older { .. }
        ));
        assert!(matches!(
            answer("2.0.0", "1.9.0"),
            Compatibility::Older { .. }
        ));
        assert!(matches!(
            answer("1.2.0", "1.2.0-rc.1"),
            Compatibility::Older { .. }
        ));
    }

    #[test]
    fn bad_versions_name_the_field() {
        assert_eq!(
            check_compatibility("one", "1.0.0").unwrap_err().field(),
            Some("connector_version")
        );
        let err = check_compatibility("1.0.0", "1.0").unwrap_err();
        assert_eq!(err.field(), Some("version"));
        assert!(err.to_string().contains("MAJOR.MINOR.PATCH"));
    }

    #[test]
    fn require_usable_explains() {
        let err = require_usable("github", answer("1.0.0", "2.0.0")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration);
        assert!(err.to_string().contains("`github` 1.0.0"), "{err}");
        assert!(err.to_string().contains("not applied silently"), "{err}");
        let err = require_usable("github", answer("1.2.0", "1.1.0")).unwrap_err();
        assert!(err.to_string().contains("older definition"), "{err}");
        assert_eq!(
            require_usable("github", answer("1.0.0", "1.1.0")).unwrap(),
            answer("1.0.0", "1.1.0")
        );
    }
}
