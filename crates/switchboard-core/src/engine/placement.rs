//! Writing the credential into a request where the variant says
//! ([`Placement`]): a header with a prefix (`Authorization: Bearer ...`,
//! `X-Api-Key: ...`) or a query parameter added when the request is sent.
//!
//! The header name is parsed once, when the engine is built. A query
//! credential is added to a copy of the URL at send time, so links the
//! engine keeps (next pages, continuations, errors) never hold it; a
//! parameter of that name already in the URL (a next link that echoes it)
//! is replaced, never repeated.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

use crate::credential::AccessToken;
use crate::definition::auth::Placement;
use crate::error::{Error, ErrorKind, Result};
use crate::paging::query_paging::with_query_value;

/// A variant's placement, parsed.
#[derive(Debug, Clone)]
pub(crate) enum CredentialSlot {
    Header {
        name: HeaderName,
        prefix: Bytes,
    },
    Query {
        name: String,
    },
    /// The definition declared a header name that cannot be sent
    /// (validation reports it); every call fails with this message.
    Invalid(String),
}

impl CredentialSlot {
    pub(crate) fn new(placement: &Placement) -> Self {
        match placement {
            Placement::Header { name, prefix } => match HeaderName::from_bytes(name.as_bytes()) {
                Ok(header) => CredentialSlot::Header {
                    name: header,
                    prefix: Bytes::copy_from_slice(prefix.as_bytes()),
                },
                Err(_) => CredentialSlot::Invalid(format!(
                    "the variant's credential header \"{}\" is not a valid header name",
                    crate::untrusted_text::escape_unsafe(name)
                )),
            },
            Placement::Query { name } => CredentialSlot::Query { name: name.clone() },
        }
    }

    /// The header this slot writes, if it is one (stripped on a change of origin).
    pub(crate) fn header_name(&self) -> Option<&HeaderName> {
        match self {
            CredentialSlot::Header { name, .. } => Some(name),
            _ => None,
        }
    }

    /// Fails when the slot cannot carry a credential.
    pub(crate) fn usable(&self) -> Result<()> {
        match self {
            CredentialSlot::Invalid(why) => {
                Err(Error::new(ErrorKind::InvalidDefinition, why.clone()))
            }
            _ => Ok(()),
        }
    }

    /// Write `token` into `headers`; a query slot writes nothing here.
    pub(crate) fn write_header(&self, headers: &mut HeaderMap, token: &AccessToken) -> Result<()> {
        if let CredentialSlot::Header { name, prefix } = self {
            headers.insert(name.clone(), header_value(prefix, token)?);
        }
        Ok(())
    }

    /// The URL to send: `url` itself, or for a query slot a copy carrying
    /// the credential (any parameter of that name replaced).
    pub(crate) fn url_to_send(&self, url: &Url, token: &AccessToken) -> Option<Url> {
        let CredentialSlot::Query { name } = self else {
            return None;
        };
        Some(with_query_value(url, name, token.secret()))
    }
}

/// `<prefix><token>`, marked sensitive, written straight into the header's bytes.
fn header_value(prefix: &[u8], token: &AccessToken) -> Result<HeaderValue> {
    let secret = token.secret().as_bytes();
    let mut bytes = BytesMut::with_capacity(prefix.len() + secret.len());
    bytes.extend_from_slice(prefix);
    bytes.extend_from_slice(secret);
    let mut value = HeaderValue::from_maybe_shared(bytes.freeze()).map_err(|_| {
        Error::new(
            ErrorKind::Configuration,
            "the credential returned a token that cannot be sent in a header",
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> AccessToken {
        AccessToken::new("k3y&x=1", None)
    }

    #[test]
    fn header_slot_writes_prefix_and_token() {
        let slot = CredentialSlot::new(&Placement::Header {
            name: "Authorization".into(),
            prefix: "Token ".into(),
        });
        let mut headers = HeaderMap::new();
        slot.write_header(&mut headers, &token()).unwrap();
        assert_eq!(headers["authorization"], "Token k3y&x=1");
        assert!(headers["authorization"].is_sensitive());
        assert!(
            slot.url_to_send(&Url::parse("https://a.example/x").unwrap(), &token())
                .is_none()
        );
    }

    #[test]
    fn query_slot_encodes_and_replaces_an_echoed_parameter() {
        let slot = CredentialSlot::new(&Placement::Query { name: "key".into() });
        let url = Url::parse("https://a.example/x?page=2&key=old").unwrap();
        let sent = slot.url_to_send(&url, &token()).unwrap();
        assert_eq!(sent.query(), Some("page=2&key=k3y%26x%3D1"));
        let mut headers = HeaderMap::new();
        slot.write_header(&mut headers, &token()).unwrap();
        assert!(headers.is_empty());
    }

    #[test]
    fn invalid_header_name_is_refused_not_sent() {
        let slot = CredentialSlot::new(&Placement::Header {
            name: "bad header".into(),
            prefix: String::new(),
        });
        assert_eq!(
            slot.usable().unwrap_err().kind(),
            ErrorKind::InvalidDefinition
        );
    }
}
