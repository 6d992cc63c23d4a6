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
pub mod url_template;
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

use path::{PathTemplate, PathValue};
use value::Pattern;

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
    MethodTemplate::new(ctx.connector, ctx.method, ctx.variant)?.render(
        ctx.method,
        ctx.base_url,
        args,
    )
}

/// How many parameters a method may have before the arguments' slots of a
/// call are allocated rather than kept on the stack.
const INLINE_PARAMETERS: usize = 32;

/// One method for one variant, with everything that does not depend on the
/// arguments done once: the principal resolved, the parameters in effect
/// with their patterns compiled, the path template parsed, the connector's
/// default and the method's fixed headers parsed. The engine keeps one per
/// method and variant; [`render`] makes one for each call.
///
/// A problem in the definition (a path placeholder without a parameter, a
/// header that does not parse, a pattern that does not compile) is kept and
/// reported when a call needs that part, in the order [`render`] always
/// reported it: after the arguments are checked.
#[derive(Debug, Clone)]
pub(crate) struct MethodTemplate {
    params: Vec<TemplateParameter>,
    /// `params`' indices in the order of their names, to look names up.
    by_name: Vec<usize>,
    path: std::result::Result<PathTemplate, String>,
    headers: std::result::Result<HeaderMap, String>,
    /// Whether the method declares body fields (the body is then a JSON
    /// object, `{}` when none is given).
    body_fields: bool,
}

/// A parameter in effect, with its compiled pattern.
#[derive(Debug, Clone)]
struct TemplateParameter {
    def: ParameterDefinition,
    pattern: Pattern,
}

impl MethodTemplate {
    /// Prepare `method` for `variant`. Fails when the variant does not
    /// support the method, or the method acts as a principal the variant
    /// does not define.
    pub(crate) fn new(
        connector: &ConnectorDefinition,
        method: &MethodDefinition,
        variant: &AuthVariant,
    ) -> Result<MethodTemplate> {
        check_variant(connector, method, variant)?;
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
        let params: Vec<TemplateParameter> = method
            .resolved_parameters(principal)
            .into_iter()
            .map(|def| TemplateParameter {
                pattern: Pattern::of(def),
                def: def.clone(),
            })
            .collect();
        let path = PathTemplate::parse(&method.resolved_path(principal), |name| {
            params.iter().position(|p| {
                p.def.name == name
                    && p.def.location == ParameterLocation::Path
                    && p.def.kind != ParameterType::Binary
            })
        });
        let mut by_name: Vec<usize> = (0..params.len()).collect();
        by_name.sort_by(|&a, &b| params[a].def.name.cmp(&params[b].def.name));
        Ok(MethodTemplate {
            body_fields: params
                .iter()
                .any(|p| p.def.location == ParameterLocation::Body),
            params,
            by_name,
            path,
            headers: parse_fixed_headers(connector, method),
        })
    }

    /// Check `args` and render the request on `base_url` (see [`render`]).
    pub(crate) fn render(
        &self,
        method: &MethodDefinition,
        base_url: &Url,
        args: &Arguments,
    ) -> Result<RenderedRequest> {
        // Each argument looked up once, by name, into its parameter's slot.
        let mut inline = [None; INLINE_PARAMETERS];
        let mut spilled;
        let given: &mut [Option<&Value>] = if self.params.len() <= INLINE_PARAMETERS {
            &mut inline[..self.params.len()]
        } else {
            spilled = vec![None; self.params.len()];
            &mut spilled
        };
        self.place_arguments(method, args, given)?;
        let given: &[Option<&Value>] = given;

        // Every argument is checked before anything is written.
        let mut payload: Option<RequestBody> = None;
        let mut binary_declared = false;
        for (param, value) in self.params.iter().zip(given) {
            let def = &param.def;
            if def.kind == ParameterType::Binary {
                binary_declared = true;
                payload = binary_payload(&method.id, def, args)?.or(payload);
                continue;
            }
            let Some(value) = argument(param, *value)? else {
                continue;
            };
            match def.location {
                ParameterLocation::Path => {
                    path_text(def, value)?;
                }
                ParameterLocation::Payload => payload = Some(RequestBody::Json(value.clone())),
                _ => {}
            }
        }
        if args.content().is_some() && !binary_declared {
            return Err(Error::invalid_argument(
                "content",
                format!("method `{}` takes no binary content", method.id),
            ));
        }

        let url = self.url(base_url, given)?;
        let headers = self.headers(given)?;
        let body = match (self.body_fields, payload) {
            (true, Some(_)) => {
                return Err(Error::new(
                    ErrorKind::InvalidDefinition,
                    format!(
                        "method `{}` declares both body fields and a whole-body payload",
                        method.id
                    ),
                ));
            }
            (true, None) => RequestBody::Json(Value::Object(self.body(given))),
            (false, Some(payload)) => payload,
            (false, None) => RequestBody::Empty,
        };
        Ok(RenderedRequest {
            method: method.http_method.to_http(),
            url,
            headers,
            body,
        })
    }

    /// Put each argument in the slot of the parameter of its name (`given`
    /// is indexed like `params`); refuse a name the method does not
    /// declare.
    fn place_arguments<'a>(
        &self,
        method: &MethodDefinition,
        args: &'a Arguments,
        given: &mut [Option<&'a Value>],
    ) -> Result<()> {
        for (name, value) in args.values() {
            let name_of = |i: &usize| self.params[*i].def.name.as_str();
            let first = self.by_name.partition_point(|i| name_of(i) < name.as_str());
            let named = self.by_name[first..]
                .iter()
                .take_while(|i| name_of(i) == name.as_str());
            let mut declared = false;
            for &i in named {
                given[i] = Some(value);
                declared = true;
            }
            if !declared {
                return Err(self.undeclared(method, name));
            }
        }
        Ok(())
    }

    /// The error for an argument name the method does not declare.
    #[cold]
    fn undeclared(&self, method: &MethodDefinition, name: &str) -> Error {
        let known: Vec<&str> = self.params.iter().map(|p| p.def.name.as_str()).collect();
        let allowed = if known.is_empty() {
            format!("method `{}` takes no arguments", method.id)
        } else {
            format!(
                "is not a parameter of method `{}`; its parameters are: {}",
                method.id,
                known.join(", ")
            )
        };
        Error::invalid_argument(name.to_owned(), allowed)
    }

    /// The parameters of one location that have a value (checked already),
    /// from `given` (indexed like `params`).
    fn given<'a>(
        &'a self,
        location: ParameterLocation,
        given: &'a [Option<&'a Value>],
    ) -> impl Iterator<Item = (&'a ParameterDefinition, &'a Value)> + 'a {
        self.params
            .iter()
            .zip(given)
            .map(|(p, value)| (&p.def, *value))
            .filter(move |(def, _)| def.location == location && def.kind != ParameterType::Binary)
            .filter_map(|(def, value)| resolve(def, value).map(|value| (def, value)))
    }

    /// The base URL with the method path appended to its own path (written
    /// once, parsed once by `set_path`), and the query.
    fn url(&self, base: &Url, given: &[Option<&Value>]) -> Result<Url> {
        let template = self
            .path
            .as_ref()
            .map_err(|message| Error::new(ErrorKind::InvalidDefinition, message.clone()))?;
        let base_path = base.path().trim_end_matches('/');
        let mut path = String::with_capacity(base_path.len() + template.len() + 48);
        path.push_str(base_path);
        template.render_into(&mut path, |index| {
            let def = &self.params[index].def;
            let value = resolve(def, given.get(index).copied().flatten()).ok_or_else(|| {
                Error::invalid_argument(def.name.clone(), "is required but was not given")
            })?;
            Ok(PathValue {
                name: &def.name,
                text: path_text(def, value)?,
                style: def.path_style.unwrap_or_default(),
                allow_hash: def.format == Some(Format::UserId),
            })
        })?;
        let mut url = base.clone();
        url.set_path(&path);
        url.set_fragment(None);
        let mut query = self.given(ParameterLocation::Query, given).peekable();
        if query.peek().is_some() {
            let mut pairs = url.query_pairs_mut();
            for (def, value) in query {
                for_each_text(def, value, |text| {
                    pairs.append_pair(def.wire_name(), text);
                });
            }
        }
        Ok(url)
    }

    /// Connector defaults, then the method's fixed headers, then header
    /// parameters; a parameter replaces a default or fixed header of the
    /// same name, and parameters sharing a name are each sent as their own
    /// line.
    fn headers(&self, given: &[Option<&Value>]) -> Result<HeaderMap> {
        let mut headers = self
            .headers
            .as_ref()
            .map_err(|message| Error::new(ErrorKind::InvalidDefinition, message.clone()))?
            .clone();
        let mut replaced: Vec<HeaderName> = Vec::new();
        for (def, value) in self.given(ParameterLocation::Header, given) {
            let name = header_name(def.wire_name())?;
            if !replaced.contains(&name) {
                headers.remove(&name);
                replaced.push(name.clone());
            }
            let mut refused = false;
            for_each_text(def, value, |text| match HeaderValue::from_str(text) {
                Ok(value) if !refused => {
                    headers.append(name.clone(), value);
                }
                _ => refused = true,
            });
            if refused {
                return Err(Error::invalid_argument(
                    def.name.clone(),
                    "must be a valid header value: visible ASCII characters and spaces only, \
                     no line breaks or other control characters",
                ));
            }
        }
        Ok(headers)
    }

    /// The body fields given, by wire name.
    fn body(&self, given: &[Option<&Value>]) -> Map<String, Value> {
        self.given(ParameterLocation::Body, given)
            .map(|(def, value)| (def.wire_name().to_owned(), value.clone()))
            .collect()
    }
}

/// Refuse a method the installation's variant does not support.
fn check_variant(
    connector: &ConnectorDefinition,
    method: &MethodDefinition,
    variant: &AuthVariant,
) -> Result<()> {
    let all = &connector.auth_variants;
    if method.supports(&variant.id, all) {
        return Ok(());
    }
    let supported = method.supported_variants(all);
    let list = if supported.is_empty() {
        "none".to_owned()
    } else {
        supported.join(", ")
    };
    Err(Error::new(
        ErrorKind::InvalidArgument,
        format!(
            "method `{}` is not available for the `{}` variant; variants that support it: {list}",
            method.id, variant.id
        ),
    )
    .with_field("variant"))
}

/// Whether an explicit `null` for this parameter is sent as `null`
/// (clearing a property in a PATCH), not checked: optional body fields.
fn null_is_sent(def: &ParameterDefinition) -> bool {
    def.location == ParameterLocation::Body && !def.is_required()
}

/// The value of one parameter: its argument `given`, else the default.
/// `null` counts as not given, except for optional body fields
/// ([`null_is_sent`]).
fn resolve<'a>(def: &'a ParameterDefinition, given: Option<&'a Value>) -> Option<&'a Value> {
    match given {
        Some(Value::Null) if null_is_sent(def) => given,
        Some(Value::Null) | None => def.default.as_ref(),
        given => given,
    }
}

/// The checked value of one parameter, from its argument `given`
/// ([`resolve`]); an error when a required one is missing.
fn argument<'a>(
    param: &'a TemplateParameter,
    given: Option<&'a Value>,
) -> Result<Option<&'a Value>> {
    let def = &param.def;
    if null_is_sent(def) && matches!(given, Some(Value::Null)) {
        return Ok(given);
    }
    match resolve(def, given) {
        Some(v) => {
            value::check(def, &param.pattern, v)?;
            Ok(Some(v))
        }
        None if def.is_required() => Err(Error::invalid_argument(
            def.name.clone(),
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
fn scalar_text(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

/// A path argument as text; it must be a single value.
fn path_text<'a>(param: &ParameterDefinition, value: &'a Value) -> Result<Cow<'a, str>> {
    match value {
        Value::Array(_) | Value::Object(_) | Value::Null => Err(Error::invalid_argument(
            param.name.clone(),
            "must be a single string or number (it goes into the URL path)",
        )),
        other => Ok(scalar_text(other)),
    }
}

/// Each text a query or header argument is written as: one, or one per
/// element for [`ArrayStyle::Repeat`], each through the parameter's
/// `value_template`. A plain string is passed as it is, without a copy.
fn for_each_text(param: &ParameterDefinition, value: &Value, mut f: impl FnMut(&str)) {
    let mut emit = |text: &str| match &param.value_template {
        Some(_) => f(&param.apply_template(text)),
        None => f(text),
    };
    let Value::Array(items) = value else {
        return emit(&scalar_text(value));
    };
    let separator = match param.style.unwrap_or_default() {
        ArrayStyle::Comma => ",",
        ArrayStyle::Space => " ",
        ArrayStyle::Repeat => {
            for item in items {
                emit(&scalar_text(item));
            }
            return;
        }
    };
    let mut joined = String::with_capacity(items.len() * 16);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            joined.push_str(separator);
        }
        joined.push_str(&scalar_text(item));
    }
    emit(&joined);
}

/// The connector's default headers, then the method's fixed headers, which
/// replace a default of the same name; a problem is a definition error,
/// returned as its message.
fn parse_fixed_headers(
    connector: &ConnectorDefinition,
    method: &MethodDefinition,
) -> std::result::Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for (name, value) in connector.default_headers.iter().chain(&method.headers) {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("`{name}` is not a valid HTTP header name"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("header `{name}` has a value that is not a valid header value"))?;
        headers.insert(name, value);
    }
    Ok(headers)
}

fn header_name(name: &str) -> Result<HeaderName> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        Error::new(
            ErrorKind::InvalidDefinition,
            format!("`{name}` is not a valid HTTP header name"),
        )
    })
}
