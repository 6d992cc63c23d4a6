//! Safe rendering of arguments into a request: typed checks against the
//! parameter definitions, path parameters validated *and* percent-encoded,
//! query and header encoding, JSON body assembly.
//!
//! [`render`] resolves the principal for the installation's variant, refuses
//! unknown and missing arguments, applies defaults, checks every value
//! ([`value`]), fills the path template ([`path`]), and assembles query,
//! headers and body.
//!
//! ```
//! use switchboard_core::Arguments;
//! use switchboard_core::definition::ConnectorDefinition;
//! use switchboard_core::render::{render, RenderContext, RequestBody};
//!
//! let def: ConnectorDefinition = serde_json::from_value(serde_json::json!({
//!     "id": "example", "name": "Example", "version": "1.0.0",
//!     "description": "An example connector",
//!     "base_url": "https://api.example.com/v1",
//!     "allowed_hosts": ["api.example.com"],
//!     "auth_variants": [{"id": "token", "name": "API token", "kind": "bearer_token"}],
//!     "categories": [{"id": "things", "name": "Things"}],
//!     "methods": [{
//!         "id": "things.get_thing", "category": "things", "name": "Get a thing",
//!         "description": "One thing.", "http_method": "GET", "path": "/things/{thing_id}",
//!         "parameters": [
//!             {"name": "thing_id", "in": "path", "type": "string"},
//!             {"name": "select", "in": "query", "type": "array", "items": "string", "wire_name": "$select"}
//!         ]
//!     }]
//! })).unwrap();
//! let base = url::Url::parse(&def.base_url).unwrap();
//! let ctx = RenderContext {
//!     connector: &def,
//!     method: &def.methods[0],
//!     variant: &def.auth_variants[0],
//!     base_url: &base,
//! };
//! let request = render(&ctx, &Arguments::new().set("thing_id", "a b").set("select", vec!["id", "name"])).unwrap();
//! assert_eq!(request.url.as_str(), "https://api.example.com/v1/things/a%20b?%24select=id%2Cname");
//! assert_eq!(request.body, RequestBody::Empty);
//!
//! let err = render(&ctx, &Arguments::new().set("thing_id", "../admin")).unwrap_err();
//! assert_eq!(err.field(), Some("thing_id"));
//! ```

pub mod format;
mod path;
mod value;

use std::borrow::Cow;

use bytes::Bytes;
use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};
use serde_json::{Map, Value};
use url::Url;

use crate::arguments::Arguments;
use crate::definition::{
    ArrayStyle, AuthVariant, ConnectorDefinition, Format, MethodDefinition, ParameterDefinition,
    ParameterLocation, ParameterType,
};
use crate::error::{Error, ErrorKind, Result};

use path::PathValue;

/// The content type of a binary payload.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// What a request is rendered from.
#[derive(Debug, Clone, Copy)]
pub struct RenderContext<'a> {
    /// The connector.
    pub connector: &'a ConnectorDefinition,
    /// The method being called.
    pub method: &'a MethodDefinition,
    /// The installation's variant (decides the principal).
    pub variant: &'a AuthVariant,
    /// The installation's base URL (the method path is appended to its path).
    pub base_url: &'a Url,
}

/// A request ready to send (before credentials).
#[derive(Debug, Clone)]
pub struct RenderedRequest {
    /// HTTP method.
    pub method: http::Method,
    /// Full URL with encoded path and query.
    pub url: Url,
    /// Headers: the connector's defaults, the method's fixed headers, header parameters.
    pub headers: HeaderMap,
    /// The body.
    pub body: RequestBody,
}

/// A request body.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum RequestBody {
    /// No body.
    Empty,
    /// A JSON document.
    Json(Value),
    /// Raw bytes with their content type.
    Bytes {
        /// The bytes.
        content: Bytes,
        /// `Content-Type` to send.
        content_type: String,
    },
}

/// Check `args` against the method's parameters and render the request.
///
/// Errors are [`ErrorKind::InvalidArgument`] naming the argument and saying
/// what is allowed (or naming the variant when the method does not support
/// it), and [`ErrorKind::InvalidDefinition`] when the definition itself is
/// inconsistent (a path placeholder without a parameter, a bad pattern).
/// See the [module documentation](self) for an example.
pub fn render(ctx: &RenderContext<'_>, args: &Arguments) -> Result<RenderedRequest> {
    render_with(ctx, args, None)
}

/// [`render`], starting from the connector's default and the method's fixed
/// headers already parsed (the engine parses them once, when it is built).
pub(crate) fn render_with(
    ctx: &RenderContext<'_>,
    args: &Arguments,
    fixed_headers: Option<&HeaderMap>,
) -> Result<RenderedRequest> {
    let method = ctx.method;
    let variant = ctx.variant;
    check_variant(ctx)?;
    let principal = variant.principal.as_ref();
    if method.uses_principal() && principal.is_none() {
        return Err(Error::new(
            ErrorKind::InvalidDefinition,
            format!(
                "method `{}` acts as a principal, but the `{}` variant defines none",
                method.id, variant.id
            ),
        ));
    }
    let params = method.resolved_parameters(principal);
    check_names(method, &params, args)?;

    let mut path_values: Vec<(&str, PathValue)> = Vec::new();
    let mut query: Vec<(&str, String)> = Vec::new();
    let mut header_params: Vec<(&ParameterDefinition, Vec<String>)> = Vec::new();
    let mut body_fields: Option<Map<String, Value>> = None;
    let mut payload: Option<RequestBody> = None;
    let mut binary_declared = false;

    for param in &params {
        if param.location == ParameterLocation::Body {
            body_fields.get_or_insert_with(Map::new);
        }
        if param.kind == ParameterType::Binary {
            binary_declared = true;
            payload = binary_payload(&method.id, param, args)?.or(payload);
            continue;
        }
        let Some(value) = argument(param, args)? else {
            continue;
        };
        match param.location {
            ParameterLocation::Path => {
                path_values.push((
                    param.name.as_str(),
                    PathValue {
                        text: path_text(param, value)?,
                        style: param.path_style.unwrap_or_default(),
                        allow_hash: param.format == Some(Format::UserId),
                    },
                ));
            }
            ParameterLocation::Query => {
                for text in texts(param, value) {
                    query.push((param.wire_name(), text));
                }
            }
            ParameterLocation::Header => header_params.push((param, texts(param, value))),
            ParameterLocation::Body => {
                if let Some(fields) = body_fields.as_mut() {
                    fields.insert(param.wire_name().to_owned(), value.clone());
                }
            }
            ParameterLocation::Payload => payload = Some(RequestBody::Json(value.clone())),
        }
    }
    if args.content().is_some() && !binary_declared {
        return Err(Error::invalid_argument(
            "content",
            format!("method `{}` takes no binary content", method.id),
        ));
    }

    // Only a path that starts with the principal placeholder needs a copy.
    let template: Cow<'_, str> = if method.uses_principal() {
        Cow::Owned(method.resolved_path(principal))
    } else {
        Cow::Borrowed(&method.path)
    };
    let url = build_url(
        ctx.base_url,
        &path::render_path(&template, &path_values)?,
        &query,
    );
    let headers = build_headers(ctx, fixed_headers, &header_params)?;
    let body = match (body_fields, payload) {
        (Some(_), Some(_)) => {
            return Err(Error::new(
                ErrorKind::InvalidDefinition,
                format!(
                    "method `{}` declares both body fields and a whole-body payload",
                    method.id
                ),
            ));
        }
        (Some(fields), None) => RequestBody::Json(Value::Object(fields)),
        (None, Some(payload)) => payload,
        (None, None) => RequestBody::Empty,
    };
    Ok(RenderedRequest {
        method: method.http_method.to_http(),
        url,
        headers,
        body,
    })
}

/// Refuse a method the installation's variant does not support.
fn check_variant(ctx: &RenderContext<'_>) -> Result<()> {
    let all = &ctx.connector.auth_variants;
    if ctx.method.supports(&ctx.variant.id, all) {
        return Ok(());
    }
    let supported = ctx.method.supported_variants(all);
    let list = if supported.is_empty() {
        "none".to_owned()
    } else {
        supported.join(", ")
    };
    Err(Error::new(
        ErrorKind::InvalidArgument,
        format!(
            "method `{}` is not available for the `{}` variant; variants that support it: {list}",
            ctx.method.id, ctx.variant.id
        ),
    )
    .with_field("variant"))
}

/// Refuse argument names the method does not declare.
fn check_names(
    method: &MethodDefinition,
    params: &[&ParameterDefinition],
    args: &Arguments,
) -> Result<()> {
    for name in args.values().keys() {
        if !params.iter().any(|p| &p.name == name) {
            let known: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
            let allowed = if known.is_empty() {
                format!("method `{}` takes no arguments", method.id)
            } else {
                format!(
                    "is not a parameter of method `{}`; its parameters are: {}",
                    method.id,
                    known.join(", ")
                )
            };
            return Err(Error::invalid_argument(name.clone(), allowed));
        }
    }
    Ok(())
}

/// The checked value of one parameter: the argument, else the default.
/// `null` counts as not given, except for body fields, where it is sent as
/// `null` (clearing a property in a PATCH).
fn argument<'v>(param: &'v ParameterDefinition, args: &'v Arguments) -> Result<Option<&'v Value>> {
    let given = args.get(&param.name);
    let value = match given {
        Some(Value::Null) if param.location == ParameterLocation::Body && !param.is_required() => {
            return Ok(given);
        }
        Some(Value::Null) | None => param.default.as_ref(),
        Some(v) => Some(v),
    };
    match value {
        Some(v) => {
            value::check(param, v)?;
            Ok(Some(v))
        }
        None if param.is_required() => Err(Error::invalid_argument(
            param.name.clone(),
            "is required but was not given",
        )),
        None => Ok(None),
    }
}

/// A `binary` parameter's body, from [`Arguments::content`].
fn binary_payload(
    method_id: &str,
    param: &ParameterDefinition,
    args: &Arguments,
) -> Result<Option<RequestBody>> {
    if args.get(&param.name).is_some() {
        return Err(Error::invalid_argument(
            param.name.clone(),
            "is binary content: pass it with Arguments::with_content, not as a named value",
        ));
    }
    if param.location != ParameterLocation::Payload {
        return Err(Error::new(
            ErrorKind::InvalidDefinition,
            format!(
                "parameter `{}` is binary, which is only allowed as the payload",
                param.name
            ),
        ));
    }
    match args.content() {
        Some(content) => {
            value::check_content_size(method_id, param, content.len())?;
            Ok(Some(RequestBody::Bytes {
                content: content.clone(),
                content_type: OCTET_STREAM.to_owned(),
            }))
        }
        None if param.is_required() => Err(Error::invalid_argument(
            param.name.clone(),
            "is required: pass the content with Arguments::with_content",
        )),
        None => Ok(None),
    }
}

/// A scalar as text: strings as they are, numbers and booleans as JSON text.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A path argument as text; it must be a single value.
fn path_text(param: &ParameterDefinition, value: &Value) -> Result<String> {
    match value {
        Value::Array(_) | Value::Object(_) | Value::Null => Err(Error::invalid_argument(
            param.name.clone(),
            "must be a single string or number (it goes into the URL path)",
        )),
        other => Ok(scalar_text(other)),
    }
}

/// The texts a query or header argument is written as: one, or one per
/// element for [`ArrayStyle::Repeat`].
fn texts(param: &ParameterDefinition, value: &Value) -> Vec<String> {
    let Value::Array(items) = value else {
        return vec![param.apply_template(&scalar_text(value))];
    };
    let items = items.iter().map(scalar_text);
    let texts = match param.style.unwrap_or_default() {
        ArrayStyle::Comma => vec![items.collect::<Vec<_>>().join(",")],
        ArrayStyle::Space => vec![items.collect::<Vec<_>>().join(" ")],
        ArrayStyle::Repeat => items.collect(),
    };
    texts.iter().map(|t| param.apply_template(t)).collect()
}

/// The base URL with the method path appended to its own path, and the query.
fn build_url(base: &Url, path: &str, query: &[(&str, String)]) -> Url {
    let mut url = base.clone();
    let joined = format!("{}{}", base.path().trim_end_matches('/'), path);
    url.set_path(&joined);
    url.set_fragment(None);
    if !query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in query {
            pairs.append_pair(name, value);
        }
    }
    url
}

/// Connector defaults, then the method's fixed headers, then header
/// parameters; a parameter replaces a default or fixed header of the same
/// name, and parameters sharing a name are each sent as their own line.
fn build_headers(
    ctx: &RenderContext<'_>,
    fixed_headers: Option<&HeaderMap>,
    header_params: &[(&ParameterDefinition, Vec<String>)],
) -> Result<HeaderMap> {
    let mut headers = match fixed_headers {
        Some(fixed) => fixed.clone(),
        None => parse_fixed_headers(ctx)?,
    };
    add_header_params(&mut headers, header_params)?;
    Ok(headers)
}

/// The connector's default headers, then the method's fixed headers, which
/// replace a default of the same name.
fn parse_fixed_headers(ctx: &RenderContext<'_>) -> Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    for (name, value) in ctx
        .connector
        .default_headers
        .iter()
        .chain(&ctx.method.headers)
    {
        let name = header_name(name)?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            Error::new(
                ErrorKind::InvalidDefinition,
                format!("header `{name}` has a value that is not a valid header value"),
            )
        })?;
        headers.insert(name, value);
    }
    Ok(headers)
}

/// Header parameters, each replacing a default or fixed header of its name.
fn add_header_params(
    headers: &mut HeaderMap,
    header_params: &[(&ParameterDefinition, Vec<String>)],
) -> Result<()> {
    let mut replaced = Vec::new();
    for (param, texts) in header_params {
        let name = header_name(param.wire_name())?;
        if !replaced.contains(&name) {
            headers.remove(&name);
            replaced.push(name.clone());
        }
        for text in texts {
            let value = HeaderValue::from_str(text).map_err(|_| {
                Error::invalid_argument(
                    param.name.clone(),
                    "must be a valid header value: visible ASCII characters and spaces only, \
                     no line breaks or other control characters",
                )
            })?;
            headers.append(name.clone(), value);
        }
    }
    Ok(())
}

fn header_name(name: &str) -> Result<HeaderName> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        Error::new(
            ErrorKind::InvalidDefinition,
            format!("`{name}` is not a valid HTTP header name"),
        )
    })
}
