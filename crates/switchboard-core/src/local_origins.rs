//! Pointing an installation at a local fake: the reserved settings
//! `local_api_origin` and `local_identity_origin`.
//!
//! A shipped definition names fixed `https://` hosts (GitHub's
//! `https://api.github.com` and `https://github.com/login/oauth/...`), so a
//! test or a developer has no other way to run it against a fake. These two
//! settings, accepted by every connector whose endpoints come from its
//! definition, move the requests to a **loopback** origin and nowhere else:
//!
//! - `local_api_origin` replaces the scheme, host and port of the
//!   definition's `base_url` (its path is kept), so every method call goes
//!   there; the engine sends the token to that exact origin only (the
//!   declared `allowed_hosts` no longer apply).
//! - `local_identity_origin` does the same for the `oauth2` authorization,
//!   token and revocation URLs (their paths and queries are kept), in place
//!   of the declared `identity_hosts`.
//!
//! Each must be `http://127.0.0.1:PORT`, `http://localhost:PORT` or
//! `http://[::1]:PORT` with no path, query or user info; anything else is
//! refused with an error naming the setting. When both are given they must
//! differ, so the identity/API separation holds: codes and the client
//! secret go only to the identity origin, tokens only to the API origin.
//! A loopback origin cannot carry a credential off the machine, which is
//! why no further switch is needed to allow it.
//!
//! ```
//! use serde_json::json;
//! use switchboard_core::local_origins::LocalOrigins;
//! use url::Url;
//!
//! let settings = json!({"local_api_origin": "http://127.0.0.1:8080"});
//! let origins = LocalOrigins::from_settings(settings.as_object().unwrap()).unwrap();
//! let base = Url::parse("https://api.github.com/v3").unwrap();
//! assert_eq!(origins.api_url(base).as_str(), "http://127.0.0.1:8080/v3");
//!
//! let bad = json!({"local_identity_origin": "https://evil.example"});
//! let err = LocalOrigins::from_settings(bad.as_object().unwrap()).unwrap_err();
//! assert_eq!(err.field(), Some("local_identity_origin"));
//! ```

use serde_json::{Map, Value};
use url::{Host, Url};

use crate::error::{Error, Result};

/// The setting moving the API (`base_url`) to a loopback origin.
pub const LOCAL_API_ORIGIN: &str = "local_api_origin";
/// The setting moving the `oauth2` endpoints to a loopback origin.
pub const LOCAL_IDENTITY_ORIGIN: &str = "local_identity_origin";
/// Both reserved settings.
pub const SETTINGS: [&str; 2] = [LOCAL_API_ORIGIN, LOCAL_IDENTITY_ORIGIN];

/// An installation's local origins, read from its settings (none by
/// default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalOrigins {
    api: Option<Url>,
    identity: Option<Url>,
}

impl LocalOrigins {
    /// Read and check the two settings.
    pub fn from_settings(settings: &Map<String, Value>) -> Result<Self> {
        let api = origin(settings, LOCAL_API_ORIGIN)?;
        let identity = origin(settings, LOCAL_IDENTITY_ORIGIN)?;
        if let (Some(a), Some(i)) = (&api, &identity)
            && a.origin() == i.origin()
        {
            return Err(Error::invalid_argument(
                LOCAL_IDENTITY_ORIGIN,
                "must differ from `local_api_origin` (another port or host), so that codes and the client secret never reach the API origin",
            ));
        }
        Ok(LocalOrigins { api, identity })
    }

    /// `url` (the filled `base_url`) on the local API origin, when set.
    pub fn api_url(&self, url: Url) -> Url {
        rebase(url, self.api.as_ref())
    }

    /// `url` (a filled `oauth2` endpoint) on the local identity origin,
    /// when set.
    pub fn identity_url(&self, url: Url) -> Url {
        rebase(url, self.identity.as_ref())
    }

    /// The API hosts: the local origin's host alone when one is set (a
    /// credential then never leaves for the declared hosts), else
    /// `declared`.
    pub fn api_hosts(&self, declared: &[String]) -> Vec<String> {
        hosts(self.api.as_ref(), declared)
    }

    /// The identity hosts, like [`Self::api_hosts`].
    pub fn identity_hosts(&self, declared: &[String]) -> Vec<String> {
        hosts(self.identity.as_ref(), declared)
    }
}

fn hosts(origin: Option<&Url>, declared: &[String]) -> Vec<String> {
    match origin.and_then(Url::host) {
        Some(host) => vec![host.to_string()],
        None => declared.to_vec(),
    }
}

fn rebase(url: Url, origin: Option<&Url>) -> Url {
    match origin {
        Some(origin) => {
            let mut out = origin.clone();
            out.set_path(url.path());
            out.set_query(url.query());
            out
        }
        None => url,
    }
}

fn origin(settings: &Map<String, Value>, field: &str) -> Result<Option<Url>> {
    const ALLOWED: &str = "a loopback origin: http://127.0.0.1:PORT, http://localhost:PORT or http://[::1]:PORT, with no path, query or user info";
    let Some(value) = settings.get(field) else {
        return Ok(None);
    };
    let refuse = |why: &str| Error::invalid_argument(field, format!("{why}; it must be {ALLOWED}"));
    let text = value.as_str().ok_or_else(|| refuse("is not a string"))?;
    let url = Url::parse(text).map_err(|_| refuse("is not a URL"))?;
    let loopback = match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if url.scheme() != "http" || !loopback {
        return Err(refuse("is not on this machine"));
    }
    if url.port().is_none() {
        return Err(refuse("names no port"));
    }
    let bare = url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none();
    if !bare {
        return Err(refuse("has a path, query or user info"));
    }
    Ok(Some(url))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn read(v: Value) -> Result<LocalOrigins> {
        LocalOrigins::from_settings(v.as_object().unwrap())
    }

    #[test]
    fn only_bare_loopback_origins_are_accepted_and_the_error_names_the_field() {
        for ok in [
            "http://127.0.0.1:1",
            "http://localhost:65535/",
            "http://[::1]:8080",
            "http://LOCALHOST:9",
        ] {
            assert!(read(json!({ "local_api_origin": ok })).is_ok(), "{ok}");
        }
        for bad in [
            json!("https://127.0.0.1:8080"),
            json!("http://127.0.0.1"),
            json!("http://api.github.com:80"),
            json!("http://10.0.0.1:8080"),
            json!("http://localhost.evil.example:8080"),
            json!("http://127.0.0.1:8080/v1"),
            json!("http://127.0.0.1:8080/?x=1"),
            json!("http://user@127.0.0.1:8080"),
            json!("not a url"),
            json!(8080),
        ] {
            for field in SETTINGS {
                let err = read(json!({ field: bad })).unwrap_err();
                assert_eq!(err.field(), Some(field), "{bad}");
                assert!(err.to_string().contains("loopback origin"), "{err}");
            }
        }
    }

    #[test]
    fn urls_move_to_their_own_origin_keeping_path_and_query() {
        let o = read(json!({
            "local_api_origin": "http://127.0.0.1:1000",
            "local_identity_origin": "http://localhost:2000",
        }))
        .unwrap();
        let api = o.api_url(Url::parse("https://api.github.com").unwrap());
        assert_eq!(api.as_str(), "http://127.0.0.1:1000/");
        let token =
            o.identity_url(Url::parse("https://github.com/login/oauth/access_token?a=b").unwrap());
        assert_eq!(
            token.as_str(),
            "http://localhost:2000/login/oauth/access_token?a=b"
        );
        let declared = vec!["github.com".to_string()];
        assert_eq!(o.identity_hosts(&declared), vec!["localhost"]);
        assert_eq!(o.api_hosts(&declared), vec!["127.0.0.1"]);
        assert_eq!(LocalOrigins::default().api_hosts(&declared), declared);
        let none = LocalOrigins::default();
        let url = Url::parse("https://github.com/x").unwrap();
        assert_eq!(none.identity_url(url.clone()), url);
    }

    #[test]
    fn the_same_origin_for_both_is_refused() {
        let err = read(json!({
            "local_api_origin": "http://127.0.0.1:1000",
            "local_identity_origin": "http://127.0.0.1:1000/",
        }))
        .unwrap_err();
        assert_eq!(err.field(), Some(LOCAL_IDENTITY_ORIGIN));
    }
}
