use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Method};
use url::Url;

use crate::arguments::Arguments;
use crate::connector::Connector;
use crate::definition::{AuthVariant, ConnectorDefinition, MethodDefinition};
use crate::engine::classify::Failed;
use crate::error::{Error, ErrorKind, Result};
use crate::render::{MethodTemplate, RequestBody};
use crate::untrusted_text::sanitize_identifier;

use super::Engine;
use super::context::{Bound, InstallationContext};
use super::govern::{PreparedLimit, keys_of};
use super::limit_key::CallKeys;
use super::placement::CredentialSlot;
use super::prepared::{PreparedConnector, PreparedMethod, PreparedVariant};

/// A resolved method call: which connector, method and variant.
#[derive(Clone)]
pub(crate) struct Plan {
    prepared: Arc<PreparedConnector>,
    method_index: usize,
    variant_index: usize,
    /// What messages call the request, when not the method (a request to
    /// a link the method's answer gave).
    label: Option<String>,
    /// The permissions asked for, when not the method's (a JSON batch
    /// asks for every call's).
    scopes: Option<Arc<[String]>>,
}

impl Plan {
    fn connector(&self) -> &dyn Connector {
        self.prepared.connector.as_ref()
    }

    fn prepared_method(&self) -> &PreparedMethod {
        &self.prepared.methods[self.method_index]
    }

    /// The method prepared for the installation's variant.
    fn prepared_variant(&self) -> &PreparedVariant {
        &self.prepared_method().variants[self.variant_index]
    }

    pub(crate) fn definition(&self) -> &ConnectorDefinition {
        self.connector().definition()
    }

    pub(crate) fn method(&self) -> &MethodDefinition {
        &self.connector().definition().methods[self.method_index]
    }

    pub(crate) fn variant(&self) -> &AuthVariant {
        &self.connector().definition().auth_variants[self.variant_index]
    }

    /// The method's permissions for the variant: the scopes asked for.
    pub(crate) fn scopes(&self) -> &Arc<[String]> {
        self.scopes
            .as_ref()
            .unwrap_or(&self.prepared_variant().scopes)
    }

    /// The same plan, asking for these permissions instead of the method's.
    pub(crate) fn with_scopes(mut self, scopes: Arc<[String]>) -> Self {
        self.scopes = Some(scopes);
        self
    }

    /// Where the variant's credential goes.
    pub(crate) fn credential_slot(&self) -> &CredentialSlot {
        &self.prepared.slots[self.variant_index]
    }

    /// The same plan, named `label` in messages.
    pub(crate) fn labelled(mut self, label: String) -> Self {
        self.label = Some(label);
        self
    }

    /// What messages call the request: the method id, or the label.
    pub(crate) fn label(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.method().id)
    }

    /// The limits that govern the method.
    pub(crate) fn limits(&self) -> &[PreparedLimit] {
        &self.prepared_method().limits
    }

    pub(super) fn failed(&self) -> Failed<'_> {
        Failed {
            method_id: self.label(),
            variant_id: &self.variant().id,
            permissions: self.scopes().as_ref(),
        }
    }
}

/// A request ready for the pipeline (no credential yet).
#[derive(Clone)]
pub(crate) struct Outgoing {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Bytes>,
    /// Whether repeating the request is safe: the method is idempotent, or
    /// its idempotency key argument was given (`transactionId`).
    pub(crate) idempotent: bool,
    /// Whether the protocol says to repeat it after any server error
    /// (500, 502, 503, 504): an upload session's fragment.
    pub(crate) resumable: bool,
    /// Whether it carries the installation's credential. Without it the
    /// URL passes the check for uncredentialed requests instead of the
    /// allow-list, and no token is asked for.
    pub(crate) credentialed: bool,
    /// The limit keys the request falls under (`None`: no limit governs it).
    pub(crate) keys: Option<CallKeys>,
    /// A JSON batch: its 424 (Graph's 2021 envelope for a batch with a
    /// throttled request) is an answer to read, not a failure.
    pub(crate) batch: bool,
}

/// The URL's path and query can be secret (`$skiptoken`): only the origin shows.
impl fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outgoing")
            .field("method", &self.method)
            .field("origin", &self.url.origin().ascii_serialization())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body", &self.body.as_ref().map(Bytes::len))
            .finish()
    }
}

impl Engine {
    /// Resolve connector, method and variant for a call.
    pub(crate) fn plan(&self, ctx: &InstallationContext, method_id: &str) -> Result<Plan> {
        let bound = match ctx.binding().get(self.inner.id) {
            Some(bound) => bound,
            None => self.bind(ctx)?,
        };
        let Some(prepared) = self.inner.prepared.get(bound.connector) else {
            return Err(self.unknown_connector(ctx.connector_id()));
        };
        let prepared = Arc::clone(prepared);
        let def = prepared.connector.definition();
        let Some(&method_index) = prepared.method_index.get(method_id) else {
            let suggestion =
                crate::suggest::similar(method_id, def.methods.iter().map(|m| m.id.as_str()))
                    .map(|id| format!("; did you mean `{id}`?"))
                    .unwrap_or_default();
            return Err(Error::invalid_argument(
                "method",
                format!(
                    "connector `{}` has no method `{}`{suggestion}",
                    def.id,
                    sanitize_identifier(method_id)
                ),
            ));
        };
        let variant_index = bound.variant;
        if !prepared.methods[method_index].variants[variant_index].supported {
            return Err(Error::invalid_argument(
                "method",
                format!(
                    "`{method_id}` is not available to installations using the `{}` variant",
                    sanitize_identifier(ctx.variant_id())
                ),
            ));
        }
        Ok(Plan {
            prepared,
            method_index,
            variant_index,
            label: None,
            scopes: None,
        })
    }

    /// Find the context's connector and variant by name and bind the
    /// context to where they are, for its later calls.
    #[inline(never)]
    fn bind(&self, ctx: &InstallationContext) -> Result<Bound> {
        let Some((connector, prepared)) = self.inner.prepared.find(ctx.connector_id()) else {
            return Err(self.unknown_connector(ctx.connector_id()));
        };
        let def = prepared.connector.definition();
        let Some(variant) = def
            .auth_variants
            .iter()
            .position(|v| v.id == ctx.variant_id())
        else {
            return Err(Error::invalid_argument(
                "variant",
                format!(
                    "connector `{}` has no variant `{}`",
                    def.id,
                    sanitize_identifier(ctx.variant_id())
                ),
            ));
        };
        let bound = Bound {
            engine: self.inner.id,
            connector,
            variant,
        };
        ctx.binding().bind(bound);
        Ok(bound)
    }

    /// Validate and render the arguments, then let the connector adjust the request.
    pub(super) fn prepare(
        &self,
        ctx: &InstallationContext,
        plan: &Plan,
        args: &Arguments,
    ) -> Result<Outgoing> {
        let base_url = &ctx.endpoints().base_url;
        let mut rendered =
            match &plan.prepared_variant().template {
                Some(template) => template.render(plan.method(), base_url, args)?,
                None => MethodTemplate::new(plan.definition(), plan.method(), plan.variant())?
                    .render(plan.method(), base_url, args)?,
            };
        plan.connector()
            .prepare(plan.method(), args, &mut rendered)?;
        let mut headers = rendered.headers;
        let body = match rendered.body {
            RequestBody::Empty => None,
            RequestBody::Json(value) => {
                let bytes = serde_json::to_vec(&value).map_err(|e| {
                    Error::new(
                        ErrorKind::InvalidArgument,
                        "the request body could not be written as JSON",
                    )
                    .with_source(e)
                })?;
                if !headers.contains_key(CONTENT_TYPE) {
                    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                }
                Some(Bytes::from(bytes))
            }
            RequestBody::Bytes {
                content,
                content_type,
            } => {
                let value = HeaderValue::from_str(&content_type).map_err(|_| {
                    Error::invalid_argument(
                        "content_type",
                        "must be a valid header value such as `text/plain`",
                    )
                })?;
                headers.insert(CONTENT_TYPE, value);
                Some(content)
            }
        };
        Ok(Outgoing {
            method: rendered.method,
            // counted paging's first page, for a call and a stream alike
            url: crate::paging::first_url(plan.method(), rendered.url),
            headers,
            body,
            idempotent: plan.method().is_idempotent_for(args),
            resumable: false,
            credentialed: true,
            keys: keys_of(plan.definition(), plan.limits(), ctx, args),
            batch: false,
        })
    }
}
