//! The host allow-list: where a credential may go, checked before anything
//! is sent.
//!
//! Deny by default. A request that carries a bearer token must go
//!
//! * over `https`,
//! * to a host name listed *exactly* in the installation's allowed hosts
//!   (no suffix or prefix matching, no IP literals),
//! * on the default port,
//! * with no user info in the URL (`https://graph.microsoft.com@evil.example/`
//!   is a request to `evil.example`).
//!
//! The one exception is for sandboxes and tests: when the installation's base
//! URL is a loopback address (`127.0.0.1`, `[::1]`, `localhost`) **and its host
//! is listed in the allowed hosts**, requests to exactly that origin (scheme,
//! host and port) are allowed, plain `http` included. An empty allow-list
//! denies everything.
//!
//! Next-page links, delta links, `Location` headers and redirect targets all
//! pass through [`HostPolicy::check_credentialed`] before the engine sends
//! anything; a failed check is an [`ErrorKind::UntrustedLink`] error.
//!
//! Redirects to another origin, which a method may opt into (OneDrive
//! downloads), are followed *without* credentials and are checked by
//! [`HostPolicy::check_uncredentialed`]: `https` on the default port to a host
//! name (no IP literals, no user info), or, for a loopback installation only,
//! another loopback origin.
//!
//! Error messages name the scheme, host and port only: the rest of a link
//! (paths, `$skiptoken`) can be secret.
//!
//! ```
//! use switchboard_core::connector::Endpoints;
//! use switchboard_core::engine::hosts::HostPolicy;
//! use url::Url;
//!
//! let policy = HostPolicy::new(&Endpoints {
//!     base_url: Url::parse("https://graph.microsoft.com/v1.0").unwrap(),
//!     allowed_hosts: vec!["graph.microsoft.com".into()],
//! });
//! let ok = Url::parse("https://graph.microsoft.com/v1.0/users?$skiptoken=x").unwrap();
//! assert!(policy.check_credentialed(&ok).is_ok());
//! let evil = Url::parse("https://graph.microsoft.com.evil.example/v1.0/users").unwrap();
//! assert!(policy.check_credentialed(&evil).is_err());
//! ```

use std::fmt;
use std::net::IpAddr;

use url::{Host, Url};

use crate::connector::Endpoints;
use crate::error::{Error, ErrorKind, Result};

/// Which URLs may receive an installation's credential.
#[derive(Clone, PartialEq, Eq)]
pub struct HostPolicy {
    /// Allowed host names, lower-case, IPv6 brackets removed.
    allowed: Vec<String>,
    /// The loopback base URL's origin, when the installation was configured
    /// with one and listed its host.
    loopback_origin: Option<LoopbackOrigin>,
}

/// Scheme, host and port of a loopback base URL (compared without allocating).
#[derive(Clone, PartialEq, Eq)]
struct LoopbackOrigin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl LoopbackOrigin {
    fn of(url: &Url) -> Option<Self> {
        Some(LoopbackOrigin {
            scheme: url.scheme().to_string(),
            host: url.host_str()?.to_string(),
            port: url.port_or_known_default(),
        })
    }

    fn matches(&self, url: &Url) -> bool {
        url.scheme() == self.scheme
            && url.host_str() == Some(self.host.as_str())
            && url.port_or_known_default() == self.port
    }
}

impl HostPolicy {
    /// The policy for an installation's endpoints.
    pub fn new(endpoints: &Endpoints) -> Self {
        let allowed: Vec<String> = endpoints
            .allowed_hosts
            .iter()
            .map(|h| normalise_host(h))
            .filter(|h| !h.is_empty())
            .collect();
        let base = &endpoints.base_url;
        let loopback_origin = match base.host() {
            Some(host)
                if is_loopback(&host)
                    && matches!(base.scheme(), "http" | "https")
                    && base.username().is_empty()
                    && base.password().is_none()
                    && allowed.contains(&normalise_host(&host.to_string())) =>
            {
                LoopbackOrigin::of(base)
            }
            _ => None,
        };
        HostPolicy {
            allowed,
            loopback_origin,
        }
    }

    /// The allowed host names (normalised).
    pub fn allowed_hosts(&self) -> &[String] {
        &self.allowed
    }

    /// Whether the installation runs against its own loopback endpoint
    /// (sandbox, tests).
    pub fn is_loopback_installation(&self) -> bool {
        self.loopback_origin.is_some()
    }

    /// Check that `url` may receive a bearer token. On failure nothing may be
    /// sent; the error is [`ErrorKind::UntrustedLink`].
    pub fn check_credentialed(&self, url: &Url) -> Result<()> {
        if has_user_info(url) {
            return Err(self.untrusted(url, "it carries user info (`user@host`)"));
        }
        if let Some(origin) = &self.loopback_origin
            && origin.matches(url)
        {
            return Ok(());
        }
        if url.scheme() != "https" {
            return Err(self.untrusted(url, "a credential is only sent over https"));
        }
        if url.port().is_some() {
            return Err(self.untrusted(url, "a credential is only sent to the default port"));
        }
        match url.host() {
            Some(Host::Domain(domain)) if self.allowed.iter().any(|h| h == domain) => Ok(()),
            Some(Host::Domain(_)) => Err(self.untrusted(
                url,
                "its host is not one of the installation's allowed hosts",
            )),
            Some(Host::Ipv4(_)) | Some(Host::Ipv6(_)) => Err(self.untrusted(
                url,
                "a credential is never sent to an IP address, only to an allowed host name",
            )),
            None => Err(self.untrusted(url, "it has no host")),
        }
    }

    /// Check that `url` may be fetched *without* credentials after a
    /// cross-origin redirect the method opted into.
    pub fn check_uncredentialed(&self, url: &Url) -> Result<()> {
        if has_user_info(url) {
            return Err(self.untrusted(url, "it carries user info (`user@host`)"));
        }
        if self.loopback_origin.is_some()
            && matches!(url.scheme(), "http" | "https")
            && url.host().as_ref().is_some_and(is_loopback)
        {
            return Ok(());
        }
        if url.scheme() != "https" {
            return Err(self.untrusted(url, "redirects are only followed over https"));
        }
        if url.port().is_some() {
            return Err(self.untrusted(url, "redirects are only followed to the default port"));
        }
        match url.host() {
            Some(Host::Domain(domain)) if !is_local_name(domain) => Ok(()),
            Some(Host::Domain(_)) => Err(self.untrusted(url, "it points to a local host name")),
            Some(_) => Err(self.untrusted(url, "redirects are never followed to an IP address")),
            None => Err(self.untrusted(url, "it has no host")),
        }
    }

    fn untrusted(&self, url: &Url, why: &str) -> Error {
        let allowed = if self.allowed.is_empty() {
            "none: the installation's allow-list is empty".to_string()
        } else {
            self.allowed.join(", ")
        };
        Error::new(
            ErrorKind::UntrustedLink,
            format!(
                "refused to send a request to {}: {why}; nothing was sent (allowed hosts: {allowed})",
                describe_origin(url)
            ),
        )
    }
}

/// Scheme, host and port of a URL: never the path or query, which may be secret.
pub(crate) fn describe_origin(url: &Url) -> String {
    let host = url
        .host_str()
        .map(str::to_string)
        .unwrap_or_else(|| "(no host)".into());
    match url.port() {
        Some(port) => format!("`{}://{host}:{port}`", url.scheme()),
        None => format!("`{}://{host}`", url.scheme()),
    }
}

impl fmt::Debug for HostPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostPolicy")
            .field("allowed", &self.allowed)
            .field(
                "loopback_origin",
                &self
                    .loopback_origin
                    .as_ref()
                    .map(|o| format!("{}://{}:{}", o.scheme, o.host, o.port.unwrap_or(0))),
            )
            .finish()
    }
}

fn normalise_host(host: &str) -> String {
    host.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

fn has_user_info(url: &Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

fn is_loopback<S: AsRef<str>>(host: &Host<S>) -> bool {
    match host {
        Host::Domain(d) => d.as_ref().eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

fn is_local_name(domain: &str) -> bool {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    d == "localhost" || d.ends_with(".localhost") || !d.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph() -> HostPolicy {
        HostPolicy::new(&Endpoints {
            base_url: Url::parse("https://graph.microsoft.com/v1.0").unwrap(),
            allowed_hosts: vec!["graph.microsoft.com".into()],
        })
    }

    fn check(policy: &HostPolicy, url: &str) -> Result<()> {
        policy.check_credentialed(&Url::parse(url).unwrap())
    }

    #[test]
    fn exact_https_host_on_default_port_is_allowed() {
        let p = graph();
        assert!(check(&p, "https://graph.microsoft.com/v1.0/me").is_ok());
        assert!(check(&p, "https://GRAPH.microsoft.com/v1.0/me").is_ok());
        // An explicit default port is the default port.
        assert!(check(&p, "https://graph.microsoft.com:443/v1.0/me").is_ok());
    }

    #[test]
    fn everything_else_is_denied() {
        let p = graph();
        for url in [
            "http://graph.microsoft.com/v1.0/me",
            "https://graph.microsoft.com:8443/v1.0/me",
            "https://graph.microsoft.com.evil.example/v1.0/me",
            "https://evil.example/v1.0/me",
            "https://graph.microsoft.com@evil.example/",
            "https://user:pw@graph.microsoft.com/v1.0/me",
            "https://microsoft.com/",
            "https://sub.graph.microsoft.com/",
            "https://graph.microsoft.com./v1.0/me",
            "https://20.190.151.68/v1.0/me",
            "https://[2603:1037::1]/v1.0/me",
            "http://127.0.0.1/v1.0/me",
            "ftp://graph.microsoft.com/",
        ] {
            let err = check(&p, url).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::UntrustedLink, "{url}");
            assert!(err.to_string().contains("nothing was sent"), "{url}");
        }
    }

    #[test]
    fn messages_never_include_path_or_query() {
        let err = check(
            &graph(),
            "https://evil.example/v1.0/users?$skiptoken=SECRETSKIP",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(!text.contains("SECRETSKIP"), "{text}");
        assert!(!text.contains("/v1.0/users"), "{text}");
        assert!(text.contains("`https://evil.example`"), "{text}");
    }

    #[test]
    fn empty_allow_list_denies_everything() {
        let p = HostPolicy::new(&Endpoints {
            base_url: Url::parse("https://graph.microsoft.com/v1.0").unwrap(),
            allowed_hosts: vec![],
        });
        assert!(check(&p, "https://graph.microsoft.com/v1.0/me").is_err());
        let p = HostPolicy::new(&Endpoints {
            base_url: Url::parse("http://127.0.0.1:8080/v1.0").unwrap(),
            allowed_hosts: vec![],
        });
        assert!(check(&p, "http://127.0.0.1:8080/v1.0/me").is_err());
        assert!(!p.is_loopback_installation());
    }

    #[test]
    fn loopback_installation_allows_only_its_own_origin() {
        let p = HostPolicy::new(&Endpoints {
            base_url: Url::parse("http://127.0.0.1:8080/v1.0").unwrap(),
            allowed_hosts: vec!["127.0.0.1".into()],
        });
        assert!(p.is_loopback_installation());
        assert!(check(&p, "http://127.0.0.1:8080/v1.0/me").is_ok());
        assert!(check(&p, "http://127.0.0.1:8081/v1.0/me").is_err());
        assert!(check(&p, "https://127.0.0.1:8080/v1.0/me").is_err());
        assert!(check(&p, "http://localhost:8080/v1.0/me").is_err());
        assert!(check(&p, "http://x@127.0.0.1:8080/v1.0/me").is_err());
    }

    #[test]
    fn a_non_loopback_http_base_url_gets_no_exception() {
        let p = HostPolicy::new(&Endpoints {
            base_url: Url::parse("http://graph.microsoft.com/v1.0").unwrap(),
            allowed_hosts: vec!["graph.microsoft.com".into()],
        });
        assert!(check(&p, "http://graph.microsoft.com/v1.0/me").is_err());
    }

    #[test]
    fn ipv6_loopback_listed_with_or_without_brackets() {
        for listed in ["::1", "[::1]"] {
            let p = HostPolicy::new(&Endpoints {
                base_url: Url::parse("http://[::1]:9000/").unwrap(),
                allowed_hosts: vec![listed.into()],
            });
            assert!(check(&p, "http://[::1]:9000/x").is_ok(), "{listed}");
        }
    }

    #[test]
    fn uncredentialed_targets() {
        let p = graph();
        let ok = |u: &str| p.check_uncredentialed(&Url::parse(u).unwrap()).is_ok();
        assert!(ok(
            "https://contoso.sharepoint.com/_layouts/15/download.aspx?x=1"
        ));
        assert!(!ok("http://contoso.sharepoint.com/file"));
        assert!(!ok("https://contoso.sharepoint.com:8443/file"));
        assert!(!ok("https://10.0.0.1/file"));
        assert!(!ok("https://localhost/file"));
        assert!(!ok("https://intranet/file"));
        assert!(!ok("https://a@contoso.sharepoint.com/file"));
        assert!(!ok("http://127.0.0.1:9999/file"));
        let lp = HostPolicy::new(&Endpoints {
            base_url: Url::parse("http://127.0.0.1:8080/").unwrap(),
            allowed_hosts: vec!["127.0.0.1".into()],
        });
        assert!(
            lp.check_uncredentialed(&Url::parse("http://127.0.0.1:9999/file").unwrap())
                .is_ok()
        );
    }
}
