//! What a test expects a request to be ([`Expect`]) and what the mock
//! server answers ([`Reply`]).

use std::fmt::{self, Write as _};

use http::Method;
use serde_json::Value;
use wiremock::{Match, Request, ResponseTemplate};

/// An expected request. Built from the HTTP method and the path **relative
/// to the installation's base URL** (for a base URL of
/// `https://graph.microsoft.com/v1.0`, write `/users`), written as it is
/// sent: percent-encoded.
///
/// By default the request must have **no query string and no body**; add
/// what it must carry. Query parameters are compared decoded, as a whole
/// set (order does not matter, nothing missing, nothing extra). Headers
/// listed must be present with exactly that value (names case-insensitive);
/// other headers are allowed. The harness adds the bearer token check.
///
/// ```
/// use serde_json::json;
/// use switchboard_core::testing::Expect;
///
/// let e = Expect::post("/repos/octo/hello/issues")
///     .header("accept", "application/vnd.github+json")
///     .json(json!({"title": "Found a bug"}));
/// assert_eq!(e.to_string(), "POST /repos/octo/hello/issues\n  header accept: application/vnd.github+json\n  json body {\"title\":\"Found a bug\"}");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    method: Method,
    path: String,
    query: Option<Vec<(String, String)>>,
    headers: Vec<(String, String)>,
    absent_headers: Vec<String>,
    body: BodyExpectation,
}

#[derive(Debug, Clone, PartialEq)]
enum BodyExpectation {
    Empty,
    Json(Value),
    Bytes(Vec<u8>),
    Any,
}

impl Expect {
    /// A request with this method and path (relative to the base URL).
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Expect {
            method,
            path: path.into(),
            query: Some(Vec::new()),
            headers: Vec::new(),
            absent_headers: Vec::new(),
            body: BodyExpectation::Empty,
        }
    }

    /// A GET.
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    /// A POST.
    pub fn post(path: impl Into<String>) -> Self {
        Self::new(Method::POST, path)
    }

    /// A PUT.
    pub fn put(path: impl Into<String>) -> Self {
        Self::new(Method::PUT, path)
    }

    /// A PATCH.
    pub fn patch(path: impl Into<String>) -> Self {
        Self::new(Method::PATCH, path)
    }

    /// A DELETE.
    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::DELETE, path)
    }

    /// The query must hold this parameter (decoded name and value). Call
    /// once per parameter; the whole set is compared.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query
            .get_or_insert_with(Vec::new)
            .push((name.into(), value.into()));
        self
    }

    /// Accept any query string.
    pub fn any_query(mut self) -> Self {
        self.query = None;
        self
    }

    /// The request must carry this header with exactly this value.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers
            .push((name.into().to_ascii_lowercase(), value.into()));
        self
    }

    /// The request must not carry this header.
    pub fn no_header(mut self, name: impl Into<String>) -> Self {
        self.absent_headers.push(name.into().to_ascii_lowercase());
        self
    }

    /// The body must be this JSON document (compared as JSON, not text).
    pub fn json(mut self, body: Value) -> Self {
        self.body = BodyExpectation::Json(body);
        self
    }

    /// The body must be exactly these bytes.
    pub fn bytes(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = BodyExpectation::Bytes(body.into());
        self
    }

    /// Accept any body.
    pub fn any_body(mut self) -> Self {
        self.body = BodyExpectation::Any;
        self
    }

    /// The full path on the server, given the base URL's path.
    pub(crate) fn full_path(&self, base_path: &str) -> String {
        let base = base_path.trim_end_matches('/');
        if self.path.is_empty() || self.path == "/" {
            if base.is_empty() {
                "/".to_string()
            } else {
                base.to_string()
            }
        } else {
            format!("{base}{}", self.path)
        }
    }

    /// Why `request` does not match (empty: it matches).
    pub(crate) fn mismatches(&self, request: &Request, base_path: &str) -> Vec<String> {
        let mut out = Vec::new();
        if request.method != self.method {
            out.push(format!(
                "method {} instead of {}",
                request.method, self.method
            ));
        }
        let path = self.full_path(base_path);
        if request.url.path() != path {
            out.push(format!("path {} instead of {path}", request.url.path()));
        }
        if let Some(expected) = &self.query {
            let mut want: Vec<(String, String)> = expected.clone();
            let mut got: Vec<(String, String)> = request
                .url
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            want.sort();
            got.sort();
            if want != got {
                out.push(format!("query {got:?} instead of {want:?}"));
            }
        }
        for (name, value) in &self.headers {
            let values: Vec<&str> = request
                .headers
                .get_all(name.as_str())
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            if !values.contains(&value.as_str()) {
                out.push(format!("header {name}: {values:?} instead of {value:?}"));
            }
        }
        for name in &self.absent_headers {
            if request.headers.contains_key(name.as_str()) {
                out.push(format!("header {name} present, expected none"));
            }
        }
        match &self.body {
            BodyExpectation::Any => {}
            BodyExpectation::Empty if request.body.is_empty() => {}
            BodyExpectation::Empty => out.push(format!(
                "a body of {} bytes, expected none",
                request.body.len()
            )),
            BodyExpectation::Json(want) => match serde_json::from_slice::<Value>(&request.body) {
                Ok(got) if &got == want => {}
                Ok(got) => out.push(format!("json body {got} instead of {want}")),
                Err(_) => out.push(format!(
                    "a body that is not JSON ({} bytes), expected {want}",
                    request.body.len()
                )),
            },
            BodyExpectation::Bytes(want) if &request.body == want => {}
            BodyExpectation::Bytes(want) => out.push(format!(
                "a body of {} bytes that differs from the {} expected",
                request.body.len(),
                want.len()
            )),
        }
        out
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        match &self.query {
            None => f.write_str("\n  any query")?,
            Some(q) => {
                for (k, v) in q {
                    write!(f, "\n  query {k}={v}")?;
                }
            }
        }
        for (k, v) in &self.headers {
            write!(f, "\n  header {k}: {v}")?;
        }
        for k in &self.absent_headers {
            write!(f, "\n  no header {k}")?;
        }
        match &self.body {
            BodyExpectation::Empty => Ok(()),
            BodyExpectation::Any => f.write_str("\n  any body"),
            BodyExpectation::Json(v) => write!(f, "\n  json body {v}"),
            BodyExpectation::Bytes(b) => write!(f, "\n  body of {} bytes", b.len()),
        }
    }
}

/// The wiremock matcher for an [`Expect`] on a server whose base path and
/// bearer token are known.
#[derive(Debug, Clone)]
pub(crate) struct ExpectMatcher {
    pub(crate) expect: Expect,
    pub(crate) base_path: String,
    pub(crate) bearer: String,
}

impl ExpectMatcher {
    pub(crate) fn mismatches(&self, request: &Request) -> Vec<String> {
        let mut out = self.expect.mismatches(request, &self.base_path);
        let auth = request
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if auth != Some(self.bearer.as_str()) {
            out.push(match auth {
                None => "no Authorization header, expected the installation's bearer token".into(),
                Some(_) => {
                    "an Authorization header that is not the installation's bearer token".into()
                }
            });
        }
        out
    }
}

impl Match for ExpectMatcher {
    fn matches(&self, request: &Request) -> bool {
        self.mismatches(request).is_empty()
    }
}

/// What the mock server answers to an expected request.
///
/// ```
/// use serde_json::json;
/// use switchboard_core::testing::Reply;
///
/// let page = Reply::json(200, json!([{"id": 1}]))
///     .header("link", r#"<https://api.github.com/user/repos?page=2>; rel="next""#);
/// let not_found = Reply::json(404, json!({"message": "Not Found"}));
/// let empty = Reply::status(204);
/// # let _ = (page, not_found, empty);
/// ```
#[derive(Debug, Clone)]
pub struct Reply {
    template: ResponseTemplate,
}

impl Reply {
    /// A response with this status and no body.
    pub fn status(status: u16) -> Self {
        Reply {
            template: ResponseTemplate::new(status),
        }
    }

    /// A JSON response (`Content-Type: application/json`).
    pub fn json(status: u16, body: Value) -> Self {
        Reply {
            template: ResponseTemplate::new(status).set_body_json(body),
        }
    }

    /// A response with raw bytes and a content type.
    pub fn bytes(status: u16, body: impl Into<Vec<u8>>, content_type: &str) -> Self {
        Reply {
            template: ResponseTemplate::new(status).set_body_raw(body.into(), content_type),
        }
    }

    /// Add a response header.
    pub fn header(mut self, name: &str, value: impl AsRef<str>) -> Self {
        self.template = self.template.insert_header(name, value.as_ref());
        self
    }

    /// The wiremock template.
    pub fn into_template(self) -> ResponseTemplate {
        self.template
    }
}

impl From<ResponseTemplate> for Reply {
    fn from(template: ResponseTemplate) -> Self {
        Reply { template }
    }
}

/// A short, one-line description of a received request for reports.
pub(crate) fn describe(request: &Request) -> String {
    let mut out = format!("{} {}", request.method, request.url.path());
    if let Some(q) = request.url.query() {
        let _ = write!(out, "?{q}");
    }
    let mut names: Vec<String> = request
        .headers
        .iter()
        .filter(|(n, _)| *n != http::header::AUTHORIZATION)
        .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap_or("<binary>")))
        .collect();
    names.sort();
    for h in names {
        let _ = write!(out, "\n      {h}");
    }
    if !request.body.is_empty() {
        match std::str::from_utf8(&request.body) {
            Ok(text) if text.len() <= 2000 => {
                let _ = write!(out, "\n      body: {text}");
            }
            _ => {
                let _ = write!(out, "\n      body: {} bytes", request.body.len());
            }
        }
    }
    out
}
