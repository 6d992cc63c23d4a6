//! Requests to a link a method's answer gave (an upload session's
//! `uploadUrl`), sent through the same pipeline as the method's own calls:
//! host check, credential (or none), redirects handled by the engine, the
//! one retry table ([`RetryPolicy`](crate::RetryPolicy) and the engine's
//! classification), bounded body, typed errors.
//!
//! A connector builds the request ([`LinkRequest`]) and the engine sends it
//! on behalf of the method that gave the link ([`Engine::send_link`]): a
//! credentialed request asks for that method's scopes; its answer is capped
//! by that method's `max_response_bytes`.
//!
//! A request [`without_credential`](LinkRequest::without_credential) gets
//! no token and no `Authorization`, `Proxy-Authorization` or `Cookie`
//! header, on the first hop or any redirect; its URL must pass the check for
//! uncredentialed requests (`https` on the default port, a host name, no
//! user info; loopback only for a loopback installation) instead of the
//! installation's allow-list.
//!
//! ```
//! use http::{HeaderValue, Method, header::CONTENT_RANGE};
//! use switchboard_core::engine::LinkRequest;
//!
//! let url = url::Url::parse("https://contoso.sharepoint.com/up/session?tempauth=x").unwrap();
//! let fragment = LinkRequest::new(Method::PUT, url)
//!     .without_credential()
//!     .resumable()
//!     .header(CONTENT_RANGE, HeaderValue::from_static("bytes 0-25/128"))
//!     .body(bytes::Bytes::from_static(&[0; 26]))
//!     .label("upload fragment");
//! // the link carries its own token: Debug shows the origin only
//! assert!(!format!("{fragment:?}").contains("tempauth"));
//! ```

use std::fmt;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use tracing::Instrument;
use url::Url;

use crate::engine::response::{Response, ResponseBody};
use crate::error::Result;

use super::Engine;
use super::context::InstallationContext;
use super::pipeline::{decode_json, read_body};
use super::plan::Outgoing;

/// A request to a link; see the [module documentation](self).
#[derive(Clone)]
pub struct LinkRequest {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Option<Bytes>,
    credentialed: bool,
    resumable: bool,
    label: Option<String>,
}

/// The link can hold a secret (a pre-authenticated upload URL): only its
/// origin shows.
impl fmt::Debug for LinkRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkRequest")
            .field("method", &self.method)
            .field("origin", &self.url.origin().ascii_serialization())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body", &self.body.as_ref().map(Bytes::len))
            .field("credentialed", &self.credentialed)
            .field("resumable", &self.resumable)
            .finish()
    }
}

impl LinkRequest {
    /// A `method` request to `url`, with the installation's credential, no
    /// body, repeated after a failure only when `method` is idempotent
    /// (GET, PUT, DELETE...) and the engine's retry table says so.
    pub fn new(method: Method, url: Url) -> Self {
        LinkRequest {
            method,
            url,
            headers: HeaderMap::new(),
            body: None,
            credentialed: true,
            resumable: false,
            label: None,
        }
    }

    /// Send no credential: the link is pre-authenticated.
    pub fn without_credential(mut self) -> Self {
        self.credentialed = false;
        self
    }

    /// The protocol asks to repeat this (idempotent) request after any
    /// server error, 500 and 502 included (an upload session's fragment).
    pub fn resumable(mut self) -> Self {
        self.resumable = true;
        self
    }

    /// Add a header. Credential headers are dropped from an uncredentialed
    /// request; a credentialed one gets the engine's `Authorization`.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// The body (its `Content-Length` is set from it).
    pub fn body(mut self, body: Bytes) -> Self {
        self.body = Some(body);
        self
    }

    /// What messages and traces call the request (default: the method id
    /// given to [`Engine::send_link`]). Never the URL, which can be secret.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }
}

impl Engine {
    /// Send a request to a link the method `method_id` gave, through the
    /// pipeline (see [`LinkRequest`]). Returns the successful response,
    /// its body read whole (within the method's `max_response_bytes`) and
    /// decoded as JSON when not empty; an error status after the retry
    /// table's retries is an error like any call's.
    pub async fn send_link(
        &self,
        ctx: &InstallationContext,
        method_id: &str,
        request: LinkRequest,
    ) -> Result<Response> {
        let mut plan = self.plan(ctx, method_id)?;
        if let Some(label) = request.label {
            plan = plan.labelled(label);
        }
        let idempotent = request.method.is_idempotent();
        let outgoing = Outgoing {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body,
            idempotent,
            resumable: request.resumable && idempotent,
            credentialed: request.credentialed,
            // a link is not governed by the method's limits (an upload
            // URL is another service's host)
            keys: None,
            batch: false,
        };
        let span = self.call_span(ctx, plan.label());
        async {
            let mut received = self.execute(ctx, &plan, &outgoing).await?;
            let bytes = read_body(&mut received, plan.label(), self.response_cap(&plan)).await?;
            let status = received.response.status().as_u16();
            let headers = std::mem::take(received.response.headers_mut());
            drop(received);
            let body = if bytes.is_empty() {
                ResponseBody::Empty
            } else {
                ResponseBody::Json(decode_json(&bytes, plan.label())?)
            };
            Ok(Response::new(status, headers, body))
        }
        .instrument(span)
        .await
    }
}
