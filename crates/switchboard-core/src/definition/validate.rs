//! Validation of connector definitions as a whole.
//!
//! Every problem is reported at once, each as a [`Problem`] that names the
//! file, a JSON pointer into that file and what is wrong and allowed:
//!
//! ```text
//! definitions/mail.json: /methods/3/path: {message_id} is used in the path but not declared as a path parameter
//! ```
//!
//! [`crate::definition::load`] runs these checks after parsing, with the [`Origins`] of
//! every method so pointers point into the file the method came from.
//! [`validate`] checks a definition held in memory, as if it were one
//! `connector.json`.
//!
//! ```
//! use switchboard_core::definition::ConnectorDefinition;
//! use switchboard_core::definition::validate::validate;
//!
//! let def: ConnectorDefinition = serde_json::from_value(serde_json::json!({
//!     "id": "example", "name": "Example", "version": "1.0",
//!     "description": "An example", "base_url": "https://api.example.com",
//!     "allowed_hosts": ["api.example.com"],
//!     "auth_variants": [{"id": "token", "name": "Token", "kind": "bearer_token"}],
//!     "categories": [{"id": "things", "name": "Things"}]
//! })).unwrap();
//! let problems = validate(&def);
//! assert_eq!(
//!     problems[0].to_string(),
//!     "connector.json: /version: \"1.0\" is not a semantic version: use MAJOR.MINOR.PATCH such as 1.2.0"
//! );
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde_json::Value;

use crate::definition::auth::{ApiKeyAuth, ApiKeyLocation};
use crate::definition::deployments::{
    API_ORIGIN, IDENTITY_ORIGIN, ORIGIN_PLACEHOLDERS, check_origin,
};
use crate::definition::oauth2::{Grant, OAuth2Auth, RESERVED_AUTHORIZATION_PARAMETERS};
use crate::definition::paging::{CounterPaging, MAX_COUNTER_VALUE, StopRule};
use crate::definition::reserved_headers::is_reserved;
use crate::definition::{
    AuthKind, AuthVariant, ConnectorDefinition, HttpMethod, MethodDefinition,
    PRINCIPAL_PLACEHOLDER, Pagination, ParameterDefinition, ParameterLocation, ParameterType,
    Principal, ResponseKind,
};
use crate::error::{Error, ErrorKind};
use crate::untrusted_text::escape_unsafe;

/// One problem in a definition: where it is and what is wrong.
///
/// ```
/// use switchboard_core::definition::validate::Problem;
///
/// let p = Problem::new("definitions/mail.json", "/methods/3/path", "must start with '/'");
/// assert_eq!(p.to_string(), "definitions/mail.json: /methods/3/path: must start with '/'");
/// let whole = Problem::new("connector.json", "", "malformed JSON at line 1 column 1: EOF while parsing a value");
/// assert_eq!(whole.to_string(), "connector.json: malformed JSON at line 1 column 1: EOF while parsing a value");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file, as the loader was given it (`definitions/mail.json`).
    pub file: String,
    /// JSON pointer into that file (RFC 6901); empty for the whole file.
    pub pointer: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

/// The longest problem message kept, in characters (messages quote values
/// from the file, which may be huge).
pub const MAX_PROBLEM_CHARS: usize = 1_000;

impl Problem {
    /// A problem at `pointer` in `file`. All three may quote the file (its
    /// name, its keys, its values): control and bidi characters are
    /// written as visible `\u{..}` escapes
    /// ([`escape_unsafe`](crate::untrusted_text::escape_unsafe)) and the
    /// message is cut at [`MAX_PROBLEM_CHARS`] characters, so a problem is
    /// safe to print.
    ///
    /// ```
    /// use switchboard_core::definition::validate::Problem;
    ///
    /// let p = Problem::new("mail.json", "/headers/X\u{1b}[2J", "\"X\u{1b}[2J\" is not a valid HTTP header name");
    /// assert_eq!(p.to_string(), r#"mail.json: /headers/X\u{1b}[2J: "X\u{1b}[2J" is not a valid HTTP header name"#);
    /// ```
    pub fn new(
        file: impl Into<String>,
        pointer: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let safe = |text: String| match escape_unsafe(&text) {
            std::borrow::Cow::Borrowed(_) => text,
            std::borrow::Cow::Owned(escaped) => escaped,
        };
        let mut message = safe(message.into());
        if let Some((cut, _)) = message.char_indices().nth(MAX_PROBLEM_CHARS) {
            message.truncate(cut);
            message.push('…');
        }
        Problem {
            file: safe(file.into()),
            pointer: safe(pointer.into()),
            message,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pointer.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.pointer, self.message)
        }
    }
}

/// Every problem found in a definition; Display prints one per line.
///
/// ```
/// use switchboard_core::definition::validate::{Problem, Problems};
/// use switchboard_core::ErrorKind;
///
/// let problems = Problems::from(vec![
///     Problem::new("connector.json", "/id", "must not be empty"),
///     Problem::new("users.json", "/methods/0/path", "must start with '/'"),
/// ]);
/// assert_eq!(problems.to_string(), "connector.json: /id: must not be empty\nusers.json: /methods/0/path: must start with '/'");
/// assert_eq!(problems.into_error().kind(), ErrorKind::InvalidDefinition);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Problems(Vec<Problem>);

impl Problems {
    /// The problems, in the order they were found.
    pub fn as_slice(&self) -> &[Problem] {
        &self.0
    }

    /// Iterate over the problems.
    pub fn iter(&self) -> std::slice::Iter<'_, Problem> {
        self.0.iter()
    }

    /// How many problems there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems as a vector.
    pub fn into_vec(self) -> Vec<Problem> {
        self.0
    }

    /// An [`ErrorKind::InvalidDefinition`] error listing every problem.
    pub fn into_error(self) -> Error {
        let count = self.0.len();
        let noun = if count == 1 { "problem" } else { "problems" };
        Error::new(
            ErrorKind::InvalidDefinition,
            format!("the connector definition has {count} {noun}:\n{self}"),
        )
    }
}

impl From<Vec<Problem>> for Problems {
    fn from(problems: Vec<Problem>) -> Self {
        Problems(problems)
    }
}

impl IntoIterator for Problems {
    type Item = Problem;
    type IntoIter = std::vec::IntoIter<Problem>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Problems {
    type Item = &'a Problem;
    type IntoIter = std::slice::Iter<'a, Problem>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

impl From<Problems> for Error {
    fn from(problems: Problems) -> Self {
        problems.into_error()
    }
}

/// Where a definition's parts came from: the connector file and, for each
/// method of [`ConnectorDefinition::methods`] in order, its file and its
/// index in that file's `methods` array.
///
/// ```
/// use switchboard_core::definition::validate::Origins;
///
/// let mut origins = Origins::new("definitions/connector.json");
/// origins.push_method("definitions/users.json", 0);
/// assert_eq!(origins.method(0), Some(("definitions/users.json", 0)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origins {
    connector_file: String,
    methods: Vec<(String, usize)>,
}

impl Origins {
    /// Origins with the connector file and no methods yet.
    pub fn new(connector_file: impl Into<String>) -> Self {
        Origins {
            connector_file: connector_file.into(),
            methods: Vec::new(),
        }
    }

    /// Every method in the connector file itself, in order.
    pub fn single_file(connector_file: impl Into<String>, methods: usize) -> Self {
        let connector_file = connector_file.into();
        Origins {
            methods: (0..methods).map(|i| (connector_file.clone(), i)).collect(),
            connector_file,
        }
    }

    /// Record that the next method came from `file` at `/methods/{index}`.
    pub fn push_method(&mut self, file: impl Into<String>, index: usize) {
        self.methods.push((file.into(), index));
    }

    /// The connector file.
    pub fn connector_file(&self) -> &str {
        &self.connector_file
    }

    /// The file and index of the method at `position` in the definition.
    pub fn method(&self, position: usize) -> Option<(&str, usize)> {
        self.methods.get(position).map(|(f, i)| (f.as_str(), *i))
    }
}

/// The file name [`validate`] reports: the whole definition as one file.
pub const IN_MEMORY_FILE: &str = "connector.json";

/// Check a definition held in memory. Problems are reported as if the
/// whole definition were one file named `connector.json`.
///
/// ```
/// use switchboard_core::definition::ConnectorDefinition;
///
/// let def: ConnectorDefinition = serde_json::from_str(r#"{
///   "id": "example", "name": "Example", "version": "1.0.0", "description": "An example",
///   "base_url": "https://api.example.com", "allowed_hosts": ["api.example.com"],
///   "auth_variants": [{"id": "token", "name": "Token", "kind": "bearer_token"}],
///   "categories": [{"id": "things", "name": "Things"}],
///   "methods": [{"id": "things.list_things", "category": "things", "name": "List things",
///                "description": "Lists things.", "http_method": "GET", "path": "things"}]
/// }"#).unwrap();
/// let problems = switchboard_core::definition::validate::validate(&def);
/// assert_eq!(problems.len(), 1);
/// assert_eq!(problems[0].to_string(), "connector.json: /methods/0/path: \"things\" must start with '/'");
/// ```
pub fn validate(def: &ConnectorDefinition) -> Vec<Problem> {
    validate_with_origins(
        def,
        &Origins::single_file(IN_MEMORY_FILE, def.methods.len()),
    )
}

/// Check a definition whose parts came from several files; pointers point
/// into the file each part came from.
///
/// ```
/// use switchboard_core::definition::ConnectorDefinition;
/// use switchboard_core::definition::validate::{validate_with_origins, Origins};
///
/// let def: ConnectorDefinition = serde_json::from_str(r#"{
///   "id": "example", "name": "Example", "version": "1.0.0", "description": "An example",
///   "base_url": "https://api.example.com", "allowed_hosts": ["api.example.com"],
///   "auth_variants": [{"id": "token", "name": "Token", "kind": "bearer_token"}],
///   "categories": [{"id": "things", "name": "Things"}],
///   "methods": [{"id": "things.list_things", "category": "thing", "name": "List things",
///                "description": "Lists things.", "http_method": "GET", "path": "/things"}]
/// }"#).unwrap();
/// let mut origins = Origins::new("definitions/connector.json");
/// origins.push_method("definitions/things.json", 4);
/// let problems = validate_with_origins(&def, &origins);
/// assert_eq!(
///     problems[0].to_string(),
///     "definitions/things.json: /methods/4/category: unknown category \"thing\": did you mean \"things\"? (known categories: things)"
/// );
/// ```
pub fn validate_with_origins(def: &ConnectorDefinition, origins: &Origins) -> Vec<Problem> {
    let mut checker = Checker {
        def,
        origins,
        problems: Vec::new(),
        with_connector: true,
    };
    checker.connector();
    for (position, method) in def.methods.iter().enumerate() {
        checker.method(position, method);
    }
    checker.duplicate_methods();
    checker.problems
}

/// Check methods on their own, when the connector file could not be read:
/// everything but what needs the connector (categories, variants,
/// permissions, principals).
pub(crate) fn validate_methods_only(
    methods: Vec<MethodDefinition>,
    origins: &Origins,
) -> Vec<Problem> {
    let def = ConnectorDefinition {
        schema: None,
        id: String::new(),
        name: String::new(),
        version: String::new(),
        description: String::new(),
        base_url: String::new(),
        install_parameters: Vec::new(),
        auth_variants: Vec::new(),
        allowed_hosts: Vec::new(),
        identity_hosts: Vec::new(),
        deployments: None,
        default_headers: BTreeMap::new(),
        categories: Vec::new(),
        limits: Vec::new(),
        batch: None,
        methods,
    };
    let mut checker = Checker {
        def: &def,
        origins,
        problems: Vec::new(),
        with_connector: false,
    };
    for (position, method) in def.methods.iter().enumerate() {
        checker.method(position, method);
    }
    checker.duplicate_methods();
    checker.problems
}

/// Why a header name a definition declares is refused.
fn reserved_header_message(name: &str) -> String {
    format!(
        "header {name} is written by the engine and the HTTP client (framing, routing or credentials); a definition may not set it"
    )
}

/// Escape one reference token of a JSON pointer (RFC 6901).
///
/// ```
/// assert_eq!(switchboard_core::definition::validate::escape_pointer_token("a/b~c"), "a~1b~0c");
/// ```
pub fn escape_pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

pub(crate) use crate::suggest::closest;

/// `unknown X "word": did you mean "y"? (known Xs: a, b)`.
fn unknown_with_suggestion(what: &str, plural: &str, word: &str, known: &[&str]) -> String {
    let list = known.join(", ");
    match closest(word, known.iter().copied()) {
        Some(best) => {
            format!("unknown {what} \"{word}\": did you mean \"{best}\"? (known {plural}: {list})")
        }
        None => format!("unknown {what} \"{word}\": there are no {plural} to choose from"),
    }
}

struct Checker<'a> {
    def: &'a ConnectorDefinition,
    origins: &'a Origins,
    problems: Vec<Problem>,
    /// Whether `def`'s connector part is real (false: only its methods are).
    with_connector: bool,
}

impl<'a> Checker<'a> {
    fn at(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::new(
            self.origins.connector_file.clone(),
            pointer,
            message,
        ));
    }

    /// (file, `/methods/{index}`) of the method at `position`.
    fn method_location(&self, position: usize) -> (String, String) {
        match self.origins.method(position) {
            Some((file, index)) => (file.to_string(), format!("/methods/{index}")),
            None => (
                self.origins.connector_file.clone(),
                format!("/methods/{position}"),
            ),
        }
    }

    fn at_method(&mut self, position: usize, suffix: &str, message: impl Into<String>) {
        let (file, base) = self.method_location(position);
        self.problems
            .push(Problem::new(file, format!("{base}{suffix}"), message));
    }

    fn variant_ids(&self) -> Vec<&'a str> {
        let def: &'a ConnectorDefinition = self.def;
        def.auth_variants.iter().map(|v| v.id.as_str()).collect()
    }

    // ---------------------------------------------------------------- connector

    fn connector(&mut self) {
        let def = self.def;
        if !is_slug(&def.id) {
            self.at(
                "/id",
                format!(
                    "\"{}\" is not a valid connector id: use lower-case letters, digits, '_' and '-', starting with a letter (such as microsoft365)",
                    def.id
                ),
            );
        }
        if def.name.trim().is_empty() {
            self.at("/name", "the name must not be empty");
        }
        if semver::Version::parse(&def.version).is_err() {
            self.at(
                "/version",
                format!(
                    "\"{}\" is not a semantic version: use MAJOR.MINOR.PATCH such as 1.2.0",
                    def.version
                ),
            );
        }
        self.install_parameters();
        self.deployments();
        self.base_url();
        self.allowed_hosts();
        self.identity_hosts();
        self.headers("/default_headers", None, &def.default_headers);
        self.auth_variants();
        self.categories();
        self.limits();
        if let Some(batch) = &self.def.batch {
            if !batch.path.starts_with('/') || batch.path.contains(['?', '#', '{']) {
                self.at(
                    "/batch/path",
                    format!(
                        "\"{}\" is not a batch path: give a path relative to the base URL, starting with '/', without query or placeholders (such as /$batch)",
                        batch.path
                    ),
                );
            }
            if !(1..=100).contains(&batch.max_requests) {
                self.at(
                    "/batch/max_requests",
                    format!(
                        "{} is outside the allowed range: from 1 to 100",
                        batch.max_requests
                    ),
                );
            }
        }
    }

    fn limits(&mut self) {
        use crate::definition::limits::{MAX_BUDGET, MAX_CONCURRENCY, MAX_WINDOW_SECS};
        let def = self.def;
        let categories: Vec<&str> = def.categories.iter().map(|c| c.id.as_str()).collect();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, limit) in def.limits.iter().enumerate() {
            let base = format!("/limits/{i}");
            if !is_snake(&limit.id) {
                self.at(
                    format!("{base}/id"),
                    format!(
                        "\"{}\" is not a valid limit id: use snake_case such as outlook_mailbox",
                        limit.id
                    ),
                );
            } else if let Some(first) = seen.insert(&limit.id, i) {
                self.at(
                    format!("{base}/id"),
                    format!(
                        "limit \"{}\" is already declared at /limits/{first}",
                        limit.id
                    ),
                );
            }
            match &limit.resource_parameter {
                Some(_) if !limit.scope.per_resource() => self.at(
                    format!("{base}/resource_parameter"),
                    format!(
                        "a limit kept per {} has no resource argument: resource_parameter is for the mailbox and drive scopes",
                        limit.scope.as_str()
                    ),
                ),
                Some(name) if !is_snake(name) => self.at(
                    format!("{base}/resource_parameter"),
                    format!("\"{name}\" is not a parameter name: use snake_case such as user_id"),
                ),
                _ => {}
            }
            for (j, category) in limit.categories.iter().enumerate() {
                if !categories.contains(&category.as_str()) {
                    self.at(
                        format!("{base}/categories/{j}"),
                        unknown_with_suggestion("category", "categories", category, &categories),
                    );
                }
            }
            if !limit.keeps_anything() {
                self.at(
                    base.clone(),
                    "a limit keeps nothing: give concurrency, requests or upload_bytes",
                );
            }
            if let Some(n) = limit.concurrency
                && !(1..=MAX_CONCURRENCY).contains(&n)
            {
                self.at(
                    format!("{base}/concurrency"),
                    format!("{n} requests in flight is outside the allowed range: from 1 to {MAX_CONCURRENCY}"),
                );
            }
            for (field, budget) in [
                ("requests", &limit.requests),
                ("upload_bytes", &limit.upload_bytes),
            ] {
                let Some(budget) = budget else { continue };
                if !(1..=MAX_BUDGET).contains(&budget.limit) {
                    self.at(
                        format!("{base}/{field}/limit"),
                        format!(
                            "{} is outside the allowed range: from 1 to {MAX_BUDGET}",
                            budget.limit
                        ),
                    );
                }
                if !(1..=MAX_WINDOW_SECS).contains(&budget.window_secs) {
                    self.at(
                        format!("{base}/{field}/window_secs"),
                        format!(
                            "a window of {} seconds is outside the allowed range: from 1 to {MAX_WINDOW_SECS} (one day)",
                            budget.window_secs
                        ),
                    );
                }
            }
        }
    }

    fn install_parameters(&mut self) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, p) in self.def.install_parameters.iter().enumerate() {
            let base = format!("/install_parameters/{i}");
            if !is_snake(&p.name) {
                self.at(
                    format!("{base}/name"),
                    format!(
                        "\"{}\" is not a valid install parameter name: use snake_case (lower-case letters, digits and '_', starting with a letter)",
                        p.name
                    ),
                );
            }
            if let Some(first) = seen.insert(&p.name, i) {
                seen.insert(&p.name, first);
                self.at(
                    format!("{base}/name"),
                    format!(
                        "install parameter {} is declared twice (first at /install_parameters/{first}); names must be unique",
                        p.name
                    ),
                );
            }
            if !matches!(
                p.kind,
                ParameterType::String
                    | ParameterType::Integer
                    | ParameterType::Number
                    | ParameterType::Boolean
            ) {
                self.at(
                    format!("{base}/type"),
                    format!(
                        "install parameters cannot be of type {}: use string, integer, number or boolean",
                        p.kind.as_str()
                    ),
                );
            }
            if p.format.is_some() && p.kind != ParameterType::String {
                self.at(
                    format!("{base}/format"),
                    "format is only allowed on string parameters",
                );
            }
            if let Some(default) = &p.default
                && let Some(expected) = type_mismatch(p.kind, None, default)
            {
                self.at(
                    format!("{base}/default"),
                    format!(
                        "default {} is not valid for type {}: expected {expected}",
                        short(default),
                        p.kind.as_str()
                    ),
                );
            }
        }
    }

    fn base_url(&mut self) {
        let def = self.def;
        let names: Vec<&str> = def
            .install_parameters
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        let Some(template) = self.origin_placeholder("/base_url", &def.base_url, API_ORIGIN) else {
            return;
        };
        let from_deployment = template != def.base_url;
        let placeholders = match placeholders(&template) {
            Ok(p) => p,
            Err(message) => {
                self.at("/base_url", message);
                return;
            }
        };
        let mut substituted = template.clone();
        for name in &placeholders {
            if !names.contains(&name.as_str()) {
                let message = if names.is_empty() {
                    format!(
                        "{{{name}}} is not an install parameter: declare it in install_parameters or remove it"
                    )
                } else {
                    format!(
                        "{{{name}}} is not an install parameter (install parameters: {})",
                        names.join(", ")
                    )
                };
                self.at("/base_url", message);
            } else if def
                .install_parameters
                .iter()
                .any(|p| p.secret && p.name == *name)
            {
                self.at(
                    "/base_url",
                    format!(
                        "{{{name}}} is a secret install parameter; a secret must never be part of a URL (URLs end up in logs)"
                    ),
                );
            }
            substituted = substituted.replace(&format!("{{{name}}}"), "placeholder");
        }
        match url::Url::parse(&substituted) {
            Ok(url) if url.scheme() == "https" || url.scheme() == "http" => {
                if url.query().is_some() || url.fragment().is_some() {
                    self.at(
                        "/base_url",
                        "the base URL must not have a query or fragment: parameters belong to methods",
                    );
                }
                let literal_host = url
                    .host_str()
                    .filter(|_| !from_deployment && !host_has_placeholder(&def.base_url));
                if let Some(host) = literal_host
                    && !def.allowed_hosts.iter().any(|h| h == host)
                {
                    self.at(
                        "/base_url",
                        format!(
                            "the base URL's host {host} is not in allowed_hosts: add it, or credentials will never be sent"
                        ),
                    );
                }
            }
            _ => self.at(
                "/base_url",
                format!(
                    "\"{}\" is not an absolute http(s) URL such as https://api.example.com/v1",
                    def.base_url
                ),
            ),
        }
    }

    /// A template that may start with the origin placeholder `wanted`
    /// (`{api_origin}` or `{identity_origin}`): returns it with that
    /// placeholder written as a sample origin, or `None` after reporting
    /// an origin placeholder in the wrong place, of the wrong kind, or
    /// without `deployments`.
    fn origin_placeholder(
        &mut self,
        pointer: &str,
        template: &str,
        wanted: &str,
    ) -> Option<String> {
        for name in ORIGIN_PLACEHOLDERS {
            let placeholder = format!("{{{name}}}");
            let Some(at) = template.find(&placeholder) else {
                continue;
            };
            let problem = if name != wanted {
                Some(format!(
                    "{placeholder} cannot be used here: this template may start with {{{wanted}}} (the identity origin is for oauth2 endpoints, the API origin for base_url and scope_prefix)"
                ))
            } else if at != 0 || template[at + 1..].contains(&placeholder) {
                Some(format!(
                    "{placeholder} may only start the template (such as \"{placeholder}/v1.0\"): an origin is scheme, host and port"
                ))
            } else if self.def.deployments.is_none() {
                Some(format!(
                    "{placeholder} names the chosen deployment's origin, but the connector declares no `deployments`: declare them or write the origin"
                ))
            } else {
                None
            };
            if let Some(problem) = problem {
                self.at(pointer, problem);
                return None;
            }
        }
        let placeholder = format!("{{{wanted}}}");
        Some(match template.strip_prefix(&placeholder) {
            Some(rest) => format!("https://deployment.invalid{rest}"),
            None => template.to_string(),
        })
    }

    /// `deployments`: the choosing setting, the default, unique names,
    /// origins (each fixed one valid and its host listed; each setting a
    /// plain name that is not an install parameter of another kind).
    fn deployments(&mut self) {
        let def = self.def;
        let Some(deployments) = &def.deployments else {
            return;
        };
        let base = "/deployments";
        let parameter = deployments.parameter.as_str();
        if parameter != "cloud" {
            match def.install_parameters.iter().find(|p| p.name == parameter) {
                None => self.at(
                    format!("{base}/parameter"),
                    format!(
                        "{parameter} is not an install parameter: use `cloud` (the installation's cloud) or declare a string install parameter"
                    ),
                ),
                Some(p) if p.secret || p.kind != ParameterType::String => self.at(
                    format!("{base}/parameter"),
                    format!("install parameter {parameter} chooses the deployment: it must be a string and not secret"),
                ),
                Some(_) => {}
            }
        }
        if deployments.options.is_empty() {
            self.at(format!("{base}/options"), "declare at least one deployment");
        }
        if !deployments
            .options
            .iter()
            .any(|o| o.id == deployments.default)
        {
            let ids: Vec<&str> = deployments.options.iter().map(|o| o.id.as_str()).collect();
            self.at(
                format!("{base}/default"),
                format!(
                    "{} is not a deployment (deployments: {})",
                    deployments.default,
                    ids.join(", ")
                ),
            );
        }
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut reads_settings = 0;
        for (i, option) in deployments.options.iter().enumerate() {
            let at = format!("{base}/options/{i}");
            if !is_slug(&option.id) {
                self.at(
                    format!("{at}/id"),
                    format!(
                        "\"{}\" is not a valid deployment id: use lower-case letters, digits, '_' and '-', starting with a letter",
                        option.id
                    ),
                );
            }
            let all = std::iter::once(&option.id).chain(&option.aliases);
            for (j, name) in all.enumerate() {
                let pointer = if j == 0 {
                    format!("{at}/id")
                } else {
                    format!("{at}/aliases/{}", j - 1)
                };
                let key = name.trim().to_ascii_lowercase();
                if key.is_empty() || key != *name || key.len() > 64 {
                    self.at(pointer.clone(), "deployment names and aliases are 1 to 64 lower-case characters without surrounding spaces");
                }
                if let Some(first) = names.insert(key, i) {
                    self.at(
                        pointer,
                        format!("\"{name}\" already names the deployment at {base}/options/{first}; names and aliases must be unique"),
                    );
                }
            }
            if option.reads_settings() {
                reads_settings += 1;
            }
            let pairs = [
                (
                    "identity_origin",
                    &option.identity_origin,
                    &option.identity_origin_setting,
                    &def.identity_hosts,
                    "identity_hosts",
                ),
                (
                    "api_origin",
                    &option.api_origin,
                    &option.api_origin_setting,
                    &def.allowed_hosts,
                    "allowed_hosts",
                ),
            ];
            for (field, fixed, setting, hosts, list) in pairs {
                match (fixed, setting) {
                    (Some(_), Some(_)) => self.at(
                        format!("{at}/{field}_setting"),
                        format!("give either {field} or {field}_setting, not both"),
                    ),
                    (None, None) => self.at(
                        format!("{at}/{field}"),
                        format!("declare the deployment's {field}, or the install setting holding it ({field}_setting)"),
                    ),
                    (Some(origin), None) => match check_origin(field, origin) {
                        Err(err) => self.at(
                            format!("{at}/{field}"),
                            format!(
                                "\"{origin}\" is not an origin: {}",
                                err.message().split_once(": ").map_or(err.message(), |(_, why)| why)
                            ),
                        ),
                        Ok(url) => {
                            let host = url.host_str().unwrap_or_default();
                            if url.scheme() == "https" && !hosts.iter().any(|h| h == host) {
                                self.at(
                                    format!("{at}/{field}"),
                                    format!("the host {host} is not in {list}: add it there, or the deployment's requests are refused"),
                                );
                            }
                        }
                    },
                    (None, Some(name)) => {
                        if !is_snake(name) || ORIGIN_PLACEHOLDERS.contains(&name.as_str()) || name == parameter {
                            self.at(
                                format!("{at}/{field}_setting"),
                                format!("\"{name}\" is not a usable setting name: use snake_case other than identity_origin, api_origin and {parameter}"),
                            );
                        } else if let Some(p) = def.install_parameters.iter().find(|p| &p.name == name)
                            && (p.secret || p.kind != ParameterType::String)
                        {
                            self.at(
                                format!("{at}/{field}_setting"),
                                format!("install parameter {name} holds an origin: it must be a string and not secret"),
                            );
                        }
                    }
                }
            }
        }
        if reads_settings > 1 {
            self.at(
                format!("{base}/options"),
                "at most one deployment may read its origins from install settings",
            );
        }
    }

    fn allowed_hosts(&mut self) {
        if self.def.allowed_hosts.is_empty() {
            self.at(
                "/allowed_hosts",
                "allowed_hosts must name at least one host name credentials may be sent to (such as graph.microsoft.com)",
            );
        }
        for (i, host) in self.def.allowed_hosts.iter().enumerate() {
            if !is_host_name(host) {
                self.at(
                    format!("/allowed_hosts/{i}"),
                    format!(
                        "\"{host}\" is not a bare host name: give only a lower-case host such as graph.microsoft.com (no scheme, port, path or wildcard)"
                    ),
                );
            }
        }
    }

    /// Identity hosts: bare host names, none of them an API host (a token
    /// must never reach the identity service through a method URL, nor the
    /// client secret an API host).
    fn identity_hosts(&mut self) {
        for (i, host) in self.def.identity_hosts.iter().enumerate() {
            if !is_host_name(host) {
                self.at(
                    format!("/identity_hosts/{i}"),
                    format!(
                        "\"{host}\" is not a bare host name: give only a lower-case host such as login.example.com (no scheme, port, path or wildcard)"
                    ),
                );
            } else if self.def.allowed_hosts.contains(host) {
                self.at(
                    format!("/identity_hosts/{i}"),
                    format!(
                        "{host} is both an identity host and an API host (allowed_hosts); the lists must not overlap, so tokens never reach the identity service and the client secret never reaches the API"
                    ),
                );
            }
        }
    }

    /// Checks header names and values; `method` is Some for a method's headers.
    fn headers(&mut self, base: &str, method: Option<usize>, headers: &BTreeMap<String, String>) {
        for (name, value) in headers {
            let pointer = format!("{base}/{}", escape_pointer_token(name));
            let message = if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                Some(format!(
                    "\"{name}\" is not a valid HTTP header name: use letters, digits and '-'"
                ))
            } else if is_reserved(name) {
                Some(reserved_header_message(name))
            } else if http::HeaderValue::from_str(value).is_err() {
                Some(format!(
                    "the value of header {name} is not a valid HTTP header value: use visible ASCII characters and spaces"
                ))
            } else {
                None
            };
            if let Some(message) = message {
                match method {
                    Some(position) => {
                        let suffix = pointer;
                        self.at_method(position, &suffix, message);
                    }
                    None => self.at(pointer, message),
                }
            }
        }
    }

    fn auth_variants(&mut self) {
        let def = self.def;
        if def.auth_variants.is_empty() {
            self.at(
                "/auth_variants",
                "auth_variants must declare at least one way to authenticate",
            );
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, variant) in def.auth_variants.iter().enumerate() {
            let base = format!("/auth_variants/{i}");
            if !is_slug(&variant.id) {
                self.at(
                    format!("{base}/id"),
                    format!(
                        "\"{}\" is not a valid auth variant id: use lower-case letters, digits, '_' and '-', starting with a letter",
                        variant.id
                    ),
                );
            }
            if let Some(first) = seen.get(variant.id.as_str()) {
                self.at(
                    format!("{base}/id"),
                    format!(
                        "auth variant {} is declared twice (first at /auth_variants/{first}); ids must be unique",
                        variant.id
                    ),
                );
            } else {
                seen.insert(&variant.id, i);
            }
            if let Some(principal) = &variant.principal {
                self.principal(&base, principal);
            }
            if let Some(prefix) = &variant.scope_prefix
                && prefix.contains('{')
            {
                let pointer = format!("{base}/scope_prefix");
                if let Some(rest) = self.origin_placeholder(&pointer, prefix, API_ORIGIN)
                    && rest.contains('{')
                {
                    self.at(
                        pointer,
                        "a scope prefix may hold only {api_origin}, at its start",
                    );
                }
            }
            self.credential(&base, variant);
            self.oauth2(&base, variant);
            if let Some(test) = &variant.test_method {
                self.test_method(&base, variant, test);
            }
        }
    }

    /// A variant's `test_method`: a method of the variant that needs no arguments.
    fn test_method(&mut self, base: &str, variant: &AuthVariant, test: &str) {
        if !self.with_connector {
            return;
        }
        let pointer = format!("{base}/test_method");
        let def = self.def;
        match def.method(test) {
            None => {
                let known: Vec<&str> = def.methods.iter().map(|m| m.id.as_str()).collect();
                let message = unknown_with_suggestion("method", "methods", test, &known);
                self.at(pointer, message);
            }
            Some(m) if !m.supports(&variant.id, &def.auth_variants) => self.at(
                pointer,
                format!("method {test} is not available in variant {}", variant.id),
            ),
            Some(m)
                if m.resolved_parameters(variant.principal.as_ref())
                    .iter()
                    .any(|p| {
                        (p.required || p.location == ParameterLocation::Path)
                            && p.default.is_none()
                    }) =>
            {
                self.at(
                    pointer,
                    format!("method {test} has required parameters; a test method must need no arguments"),
                )
            }
            Some(_) => {}
        }
    }

    /// A static credential's declaration: the object matching the kind is
    /// present, no other is, the install parameters it names exist (the
    /// secret ones marked `secret: true`), and an API key's header or query
    /// name can be sent.
    fn credential(&mut self, base: &str, variant: &AuthVariant) {
        let declared = [
            ("api_key", variant.api_key.is_some(), AuthKind::ApiKey),
            (
                "bearer_token",
                variant.bearer_token.is_some(),
                AuthKind::BearerToken,
            ),
            ("basic", variant.basic.is_some(), AuthKind::Basic),
        ];
        for (field, present, kind) in declared {
            if present && variant.kind != kind {
                self.at(
                    format!("{base}/{field}"),
                    format!(
                        "`{field}` belongs to variants of kind {field}; remove it or change `kind`"
                    ),
                );
            }
            if !present && variant.kind == kind && kind != AuthKind::BearerToken {
                self.at(
                    format!("{base}/{field}"),
                    format!("a variant of kind {field} must say which install parameter holds its credential in a `{field}` object"),
                );
            }
        }
        let mut named: Vec<(String, &str, bool)> = Vec::new();
        if let Some(key) = variant
            .api_key
            .as_ref()
            .filter(|_| variant.kind == AuthKind::ApiKey)
        {
            named.push((
                format!("{base}/api_key/parameter"),
                key.parameter.as_str(),
                true,
            ));
            self.api_key_placement(&format!("{base}/api_key"), key);
        }
        if let Some(token) = variant
            .bearer_token
            .as_ref()
            .filter(|_| variant.kind == AuthKind::BearerToken)
        {
            named.push((
                format!("{base}/bearer_token/parameter"),
                token.parameter.as_str(),
                true,
            ));
        }
        if let Some(basic) = variant
            .basic
            .as_ref()
            .filter(|_| variant.kind == AuthKind::Basic)
        {
            named.push((
                format!("{base}/basic/username_parameter"),
                basic.username_parameter.as_str(),
                false,
            ));
            if let Some(password) = &basic.password_parameter {
                named.push((
                    format!("{base}/basic/password_parameter"),
                    password.as_str(),
                    true,
                ));
            }
        }
        for (pointer, name, must_be_secret) in named {
            match self.def.install_parameters.iter().find(|p| p.name == name) {
                None => {
                    let known: Vec<&str> = self.def.install_parameters.iter().map(|p| p.name.as_str()).collect();
                    let message = unknown_with_suggestion("install parameter", "install parameters", name, &known);
                    self.at(pointer, message);
                }
                Some(p) if must_be_secret && !p.secret => self.at(
                    pointer,
                    format!("install parameter {name} holds a credential: declare it with \"secret\": true so it is stored encrypted and never shown"),
                ),
                Some(p) if p.kind != ParameterType::String => self.at(
                    pointer,
                    format!("install parameter {name} holds a credential and must be of type string"),
                ),
                Some(_) => {}
            }
        }
    }

    /// An `oauth2` variant's declaration: present exactly for that kind,
    /// endpoints that fit the grant, on identity hosts, templated only from
    /// non-secret install parameters; PKCE off only with a reason; extra
    /// parameters that do not shadow the flow's own; settings and refresh
    /// token parameters that exist.
    fn oauth2(&mut self, base: &str, variant: &AuthVariant) {
        let oauth = match (&variant.oauth2, variant.kind) {
            (Some(oauth), AuthKind::Oauth2) => oauth,
            (Some(_), _) => {
                return self.at(
                    format!("{base}/oauth2"),
                    "`oauth2` belongs to variants of kind oauth2; remove it or change `kind`",
                );
            }
            (None, AuthKind::Oauth2) => {
                return self.at(
                    format!("{base}/oauth2"),
                    "a variant of kind oauth2 must declare its grant and token_url in an `oauth2` object",
                );
            }
            (None, _) => return,
        };
        let base = format!("{base}/oauth2");
        let code = oauth.grant == Grant::AuthorizationCode;
        if code != oauth.authorization_url.is_some() {
            let message = if code {
                "grant authorization_code needs an authorization_url"
            } else {
                "only grant authorization_code uses an authorization_url; remove it"
            };
            self.at(format!("{base}/authorization_url"), message);
        }
        if oauth.admin_consent_url.is_some() && oauth.grant != Grant::ClientCredentials {
            self.at(
                format!("{base}/admin_consent_url"),
                "an admin consent step belongs to grant client_credentials (a person consents in the authorization_code flow itself); remove it",
            );
        }
        for (field, template) in oauth.endpoints() {
            self.identity_url(&format!("{base}/{field}"), template);
        }
        match &oauth.pkce {
            Some(_) if !code => self.at(
                format!("{base}/pkce"),
                "PKCE belongs to grant authorization_code; remove it",
            ),
            Some(pkce) if !pkce.enabled && pkce.reason.as_deref().is_none_or(|r| r.trim().is_empty()) => self.at(
                format!("{base}/pkce/reason"),
                "PKCE is on by default; turning it off needs a reason (which service limitation requires it)",
            ),
            _ => {}
        }
        let separator = oauth.scope_separator();
        if separator.is_empty()
            || separator.len() > 4
            || !separator
                .chars()
                .all(|c| c == ' ' || c.is_ascii_punctuation())
        {
            self.at(
                format!("{base}/scope_separator"),
                "the scope separator must be 1 to 4 spaces or ASCII punctuation characters (\" \" or \",\")",
            );
        }
        for (name, value) in &oauth.authorization_parameters {
            let pointer = format!(
                "{base}/authorization_parameters/{}",
                escape_pointer_token(name)
            );
            if RESERVED_AUTHORIZATION_PARAMETERS.contains(&name.as_str()) {
                self.at(
                    pointer,
                    format!("{name} is written by the flow itself and cannot be set here"),
                );
            } else if name.is_empty()
                || name.len() > 64
                || value.len() > 512
                || name.chars().chain(value.chars()).any(char::is_control)
            {
                self.at(pointer, "extra authorization parameters need a name of 1 to 64 characters and a value of at most 512, without control characters");
            }
        }
        if oauth.grant == Grant::ClientCredentials && oauth.refresh_token_rotates {
            self.at(
                format!("{base}/refresh_token_rotates"),
                "grant client_credentials has no refresh token to rotate; remove it",
            );
        }
        self.oauth2_parameters(&base, oauth);
        let response = &oauth.token_response;
        if response.keep_fields.len() > 16 {
            self.at(
                format!("{base}/token_response/keep_fields"),
                "keep at most 16 fields",
            );
        }
        let fields = response
            .expires_in_field
            .iter()
            .chain(&response.refresh_token_field)
            .chain(&response.keep_fields);
        for field in fields {
            if field.is_empty()
                || field.len() > 64
                || !field
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
            {
                self.at(
                    format!("{base}/token_response"),
                    format!("\"{field}\" is not a token response field name: use 1 to 64 letters, digits, '_', '-' or '.'"),
                );
            }
        }
    }

    /// The install parameters an `oauth2` object names: the refresh token
    /// (secret) and the settings filled from the token response (not secret).
    fn oauth2_parameters(&mut self, base: &str, oauth: &OAuth2Auth) {
        let find = |name: &str| self.def.install_parameters.iter().find(|p| p.name == name);
        let pointer = format!("{base}/refresh_token_parameter");
        match (&oauth.refresh_token_parameter, oauth.grant) {
            (None, Grant::RefreshToken) => self.at(pointer, "grant refresh_token needs the secret install parameter that holds the refresh token"),
            (Some(_), grant) if grant != Grant::RefreshToken => self.at(pointer, "only grant refresh_token reads a refresh token from an install parameter; remove it"),
            (Some(name), _) => match find(name) {
                None => self.at(pointer, format!("{name} is not an install parameter")),
                Some(p) if !p.secret => self.at(pointer, format!("install parameter {name} holds a refresh token: declare it with \"secret\": true")),
                Some(_) => {}
            },
            (None, _) => {}
        }
        for (setting, field) in &oauth.settings_from_token {
            let pointer = format!(
                "{base}/settings_from_token/{}",
                escape_pointer_token(setting)
            );
            match find(setting) {
                None => self.at(pointer, format!("{setting} is not an install parameter: declare it (not secret, not required) so the token response can fill it")),
                Some(p) if p.secret => self.at(pointer, format!("install parameter {setting} is secret; settings from the token response are shown and used in URLs, so they cannot be secret")),
                Some(_) if field.is_empty() || field.len() > 64 => self.at(pointer, "name the token response field, 1 to 64 characters"),
                Some(_) => {}
            }
        }
    }

    /// An identity endpoint template: placeholders name non-secret install
    /// parameters, the URL is https with no fragment, and a literal host is
    /// one of `identity_hosts`.
    fn identity_url(&mut self, pointer: &str, template: &str) {
        let Some(filled) = self.origin_placeholder(pointer, template, IDENTITY_ORIGIN) else {
            return;
        };
        let from_deployment = filled != template;
        let template = filled.as_str();
        let names = match placeholders(template) {
            Ok(names) => names,
            Err(message) => return self.at(pointer, message),
        };
        let mut substituted = template.to_string();
        for name in &names {
            match self.def.install_parameters.iter().find(|p| &p.name == name) {
                None => self.at(pointer, format!("{{{name}}} is not an install parameter")),
                Some(p) if p.secret => self.at(pointer, format!("{{{name}}} is a secret install parameter; a secret must never be part of a URL")),
                Some(_) => {}
            }
            substituted = substituted.replace(&format!("{{{name}}}"), "placeholder");
        }
        match url::Url::parse(&substituted) {
            // Plain http only on loopback: a local fake or sandbox.
            Ok(url)
                if url.fragment().is_none()
                    && (url.scheme() == "https"
                        || (url.scheme() == "http"
                            && matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]")))) =>
            {
                if let Some(host) = url
                    .host_str()
                    .filter(|_| !from_deployment && !host_has_placeholder(template))
                    && !self.def.identity_hosts.iter().any(|h| h == host)
                {
                    self.at(pointer, format!("the host {host} is not in identity_hosts: add it there (and not to allowed_hosts)"));
                }
            }
            _ => self.at(pointer, format!("\"{template}\" is not an absolute https URL without a fragment, such as https://login.example.com/oauth/token (http only on a loopback host)")),
        }
    }

    fn api_key_placement(&mut self, base: &str, key: &ApiKeyAuth) {
        match key.location {
            ApiKeyLocation::Header => {
                if http::HeaderName::from_bytes(key.name.as_bytes()).is_err() {
                    self.at(
                        format!("{base}/name"),
                        format!(
                            "\"{}\" is not a valid HTTP header name: use letters, digits and '-'",
                            key.name
                        ),
                    );
                } else if is_reserved(&key.name) && !key.name.eq_ignore_ascii_case("authorization")
                {
                    self.at(format!("{base}/name"), reserved_header_message(&key.name));
                } else if self
                    .def
                    .default_headers
                    .keys()
                    .any(|h| h.eq_ignore_ascii_case(&key.name))
                {
                    self.at(
                        format!("{base}/name"),
                        format!("header {} is also a default header; the key's header must be written only by the engine", key.name),
                    );
                }
                if let Some(prefix) = &key.prefix
                    && (prefix.len() > 64 || http::HeaderValue::from_str(prefix).is_err())
                {
                    self.at(
                        format!("{base}/prefix"),
                        "the prefix must be at most 64 visible ASCII characters and spaces",
                    );
                }
            }
            ApiKeyLocation::Query => {
                if key.name.is_empty()
                    || key.name.len() > 64
                    || !key
                        .name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_-.$".contains(&b))
                {
                    self.at(
                        format!("{base}/name"),
                        "a query parameter name must be 1 to 64 ASCII letters, digits, '_', '-', '.' or '$'",
                    );
                }
                if key.prefix.is_some() {
                    self.at(
                        format!("{base}/prefix"),
                        "a prefix is only sent in a header; remove it for \"in\": \"query\"",
                    );
                }
            }
        }
    }

    fn principal(&mut self, base: &str, principal: &Principal) {
        let pbase = format!("{base}/principal");
        if !principal.path.starts_with('/') {
            self.at(
                format!("{pbase}/path"),
                format!(
                    "\"{}\" must start with '/' (such as /me or /users/{{user_id}})",
                    principal.path
                ),
            );
        }
        let used = match placeholders(&principal.path) {
            Ok(used) => used,
            Err(message) => {
                self.at(format!("{pbase}/path"), message);
                Vec::new()
            }
        };
        if used.iter().any(|n| n == "principal") {
            self.at(
                format!("{pbase}/path"),
                "a principal path cannot use {principal}: write the path it stands for",
            );
        }
        for name in used.iter().filter(|n| *n != "principal") {
            if !principal.parameters.iter().any(|p| &p.name == name) {
                self.at(
                    format!("{pbase}/path"),
                    format!(
                        "{{{name}}} is used in the principal path but not declared in the principal's parameters"
                    ),
                );
            }
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (j, p) in principal.parameters.iter().enumerate() {
            let ppointer = format!("{pbase}/parameters/{j}");
            if p.location != ParameterLocation::Path {
                self.at(
                    format!("{ppointer}/in"),
                    format!(
                        "principal parameters are path parameters: use \"in\": \"path\" for {}",
                        p.name
                    ),
                );
            } else if !used.contains(&p.name) {
                self.at(
                    ppointer.clone(),
                    format!(
                        "path parameter {name} is not used in the principal path {path}: add {{{name}}} to it or remove the parameter",
                        name = p.name,
                        path = principal.path
                    ),
                );
            }
            if let Some(first) = seen.get(p.name.as_str()) {
                self.at(
                    format!("{ppointer}/name"),
                    format!(
                        "parameter {} is declared twice (first at {pbase}/parameters/{first})",
                        p.name
                    ),
                );
            } else {
                seen.insert(&p.name, j);
            }
            for (suffix, message) in parameter_problems(p) {
                self.at(format!("{ppointer}{suffix}"), message);
            }
        }
    }

    fn categories(&mut self) {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, category) in self.def.categories.iter().enumerate() {
            if !is_snake(&category.id) {
                self.at(
                    format!("/categories/{i}/id"),
                    format!(
                        "\"{}\" is not a valid category id: use snake_case (lower-case letters, digits and '_', starting with a letter)",
                        category.id
                    ),
                );
            }
            if let Some(first) = seen.get(category.id.as_str()) {
                self.at(
                    format!("/categories/{i}/id"),
                    format!(
                        "category {} is declared twice (first at /categories/{first}); ids must be unique",
                        category.id
                    ),
                );
            } else {
                seen.insert(&category.id, i);
            }
        }
    }

    // ---------------------------------------------------------------- methods

    fn method(&mut self, position: usize, m: &MethodDefinition) {
        self.method_identity(position, m);
        self.method_path(position, m);
        if self.with_connector {
            self.method_variants(position, m);
        }
        self.method_parameters(position, m);
        self.headers("/headers", Some(position), &m.headers);
        if self.with_connector {
            let known: Vec<&str> = self.def.limits.iter().map(|l| l.id.as_str()).collect();
            for (j, id) in m.limits.iter().enumerate() {
                if !known.contains(&id.as_str()) {
                    self.at_method(
                        position,
                        &format!("/limits/{j}"),
                        unknown_with_suggestion("limit", "limits", id, &known),
                    );
                }
            }
        }
        if let Some(records) = &m.records
            && !is_json_pointer(records)
        {
            self.at_method(
                position,
                "/records",
                format!(
                    "\"{records}\" is not a JSON pointer: use \"\" for the whole body or a path such as /value ('~' only as ~0 or ~1)"
                ),
            );
        }
        if let Some(key) = &m.idempotency_key
            && !m.parameters.iter().any(|p| &p.name == key)
        {
            self.at_method(
                position,
                "/idempotency_key",
                format!(
                    "\"{key}\" is not a parameter of this method: idempotency_key names the parameter whose presence makes the call safe to repeat"
                ),
            );
        }
        if let Some(bytes) = m.max_response_bytes
            && !crate::definition::METHOD_RESPONSE_BYTES_RANGE.contains(&bytes)
        {
            self.at_method(
                position,
                "/max_response_bytes",
                format!(
                    "{bytes} is outside the allowed range: give a number of bytes from 1024 (1 KiB) to 1073741824 (1 GiB); larger content belongs in a streamed download"
                ),
            );
        }
        if m.pagination != Pagination::None {
            if m.records.is_none() {
                self.at_method(
                    position,
                    "/pagination",
                    format!(
                        "a method paged with {} needs \"records\", the JSON pointer to the records of a page (such as /value)",
                        m.pagination.as_str()
                    ),
                );
            }
            if m.response == ResponseKind::Bytes {
                self.at_method(
                    position,
                    "/pagination",
                    "a method whose response is bytes cannot be paged: use \"pagination\": \"none\"",
                );
            }
        }
        self.method_query_paging(position, m);
    }

    /// Cursor and counter paging: the rule its kind needs (and no other),
    /// a GET, JSON pointers that are pointers, and parameter names that are
    /// the pager's alone.
    fn method_query_paging(&mut self, position: usize, m: &MethodDefinition) {
        let kind = m.pagination.as_str();
        let counted = matches!(m.pagination, Pagination::Offset | Pagination::Page);
        match (&m.cursor, m.pagination == Pagination::Cursor) {
            (None, true) => self.at_method(
                position,
                "/pagination",
                "a method paged with cursor needs \"cursor\": {\"pointer\": where the next cursor is in a page, \"parameter\": the query parameter that sends it}",
            ),
            (Some(_), false) => self.at_method(
                position,
                "/cursor",
                format!("only a method with \"pagination\": \"cursor\" reads a cursor, and this one is paged with {kind}"),
            ),
            _ => {}
        }
        match (&m.counter, counted) {
            (None, true) => self.at_method(
                position,
                "/pagination",
                format!("a method paged with {kind} needs \"counter\": {{\"parameter\": the query parameter that counts, \"size\": records a page}}"),
            ),
            (Some(_), false) => self.at_method(
                position,
                "/counter",
                format!("only a method with \"pagination\": \"offset\" or \"page\" counts pages, and this one is paged with {kind}"),
            ),
            _ => {}
        }
        if (counted || m.pagination == Pagination::Cursor) && m.http_method != HttpMethod::Get {
            self.at_method(
                position,
                "/http_method",
                format!("a method paged with {kind} must be a GET: its next pages are GETs of the same URL with the {kind} query parameter changed"),
            );
        }
        let mut pointers: Vec<(String, &str)> = Vec::new();
        let mut names: Vec<(String, &str)> = Vec::new();
        if let Some(cursor) = &m.cursor {
            pointers.push(("/cursor/pointer".into(), &cursor.pointer));
            if cursor.pointer.is_empty() {
                self.at_method(
                    position,
                    "/cursor/pointer",
                    "the cursor cannot be the whole body: give the JSON pointer to it, such as /meta/next_cursor",
                );
            }
            if let Some(more) = &cursor.has_more {
                pointers.push(("/cursor/has_more".into(), more));
            }
            names.push(("/cursor/parameter".into(), &cursor.parameter));
        }
        if let Some(counter) = &m.counter {
            self.counter_rule(position, counter);
            for (field, pointer) in [("total", &counter.total), ("has_more", &counter.has_more)] {
                if let Some(pointer) = pointer {
                    pointers.push((format!("/counter/{field}"), pointer));
                }
            }
            names.push(("/counter/parameter".into(), &counter.parameter));
            if let Some(size) = &counter.size_parameter {
                names.push(("/counter/size_parameter".into(), size));
            }
        }
        for (at, pointer) in pointers {
            if !is_json_pointer(pointer) {
                self.at_method(
                    position,
                    &at,
                    format!("\"{pointer}\" is not a JSON pointer: use a path such as /meta/next_cursor ('~' only as ~0 or ~1)"),
                );
            }
        }
        for (i, (at, name)) in names.iter().enumerate() {
            if name.is_empty() {
                self.at_method(position, at, "the query parameter name cannot be empty");
            } else if names[..i].iter().any(|(_, earlier)| earlier == name) {
                self.at_method(
                    position,
                    at,
                    format!("\"{name}\" already names another of the pager's query parameters: the page size and the counter need names of their own"),
                );
            } else if let Some(p) = m
                .parameters
                .iter()
                .find(|p| p.location == ParameterLocation::Query && p.wire_name() == *name)
            {
                self.at_method(
                    position,
                    at,
                    format!(
                        "\"{name}\" is also the query parameter `{}` of this method: the pager writes it on every page, so remove the parameter or page with another name",
                        p.name
                    ),
                );
            }
        }
    }

    /// A counter's page size, start value and stop rule.
    fn counter_rule(&mut self, position: usize, counter: &CounterPaging) {
        if !(1..=MAX_COUNTER_VALUE).contains(&counter.size) {
            self.at_method(
                position,
                "/counter/size",
                format!("{} is not a page size: give the number of records a page holds, from 1 to 2^53", counter.size),
            );
        }
        if counter.start.is_some_and(|start| start > MAX_COUNTER_VALUE) {
            self.at_method(position, "/counter/start", "the start value is above 2^53");
        }
        for (field, rule, pointer) in [
            ("total", StopRule::Total, &counter.total),
            ("has_more", StopRule::HasMore, &counter.has_more),
        ] {
            match (pointer.is_some(), counter.stop == rule) {
                (false, true) => self.at_method(
                    position,
                    "/counter/stop",
                    format!("\"stop\": \"{field}\" needs \"{field}\", the JSON pointer to it in a page"),
                ),
                (true, false) => self.at_method(
                    position,
                    &format!("/counter/{field}"),
                    format!(
                        "\"{field}\" is read only with \"stop\": \"{field}\", and this counter stops on {}",
                        counter.stop.as_str()
                    ),
                ),
                _ => {}
            }
        }
    }

    fn method_identity(&mut self, position: usize, m: &MethodDefinition) {
        let category_known =
            !self.with_connector || self.def.categories.iter().any(|c| c.id == m.category);
        match m.id.split_once('.') {
            Some((prefix, rest)) if is_snake(prefix) && is_snake(rest) => {
                // An unknown category is reported on its own below.
                if prefix != m.category && category_known {
                    self.at_method(
                        position,
                        "/id",
                        format!(
                            "method id {} starts with {prefix} but the method's category is {}: the part before the dot must be the category",
                            m.id, m.category
                        ),
                    );
                }
            }
            _ => self.at_method(
                position,
                "/id",
                format!(
                    "\"{}\" is not a valid method id: use category.snake_case such as users.list_users",
                    m.id
                ),
            ),
        }
        if !category_known {
            let known: Vec<&str> = self.def.categories.iter().map(|c| c.id.as_str()).collect();
            self.at_method(
                position,
                "/category",
                unknown_with_suggestion("category", "categories", &m.category, &known),
            );
        }
        if m.name.trim().is_empty() {
            self.at_method(position, "/name", "the name must not be empty");
        }
        if m.description.trim().is_empty() {
            self.at_method(
                position,
                "/description",
                "the description must not be empty: say what the method does",
            );
        }
    }

    fn method_path(&mut self, position: usize, m: &MethodDefinition) {
        if !m.path.starts_with('/') {
            self.at_method(
                position,
                "/path",
                format!("\"{}\" must start with '/'", m.path),
            );
        }
        if m.path.contains('?') || m.path.contains('#') {
            self.at_method(
                position,
                "/path",
                "the path must not contain '?' or '#': declare query parameters with \"in\": \"query\"",
            );
        }
        let used = match placeholders(&m.path) {
            Ok(used) => used,
            Err(message) => {
                self.at_method(position, "/path", message);
                return;
            }
        };
        let principal_token = format!("/{PRINCIPAL_PLACEHOLDER}");
        let principal_ok = m.path == principal_token
            || m.path.starts_with(&format!("{principal_token}/"))
            || m.path.starts_with(&format!("{principal_token}:"));
        let principal_count = used.iter().filter(|n| *n == "principal").count();
        if principal_count > 1 || (principal_count == 1 && !principal_ok) {
            self.at_method(
                position,
                "/path",
                "{principal} may only be the whole first segment of the path: /{principal} or /{principal}/...",
            );
        }
        let own: Vec<&String> = used.iter().filter(|n| *n != "principal").collect();
        for name in &own {
            let declared = m
                .parameters
                .iter()
                .any(|p| &&p.name == name && p.location == ParameterLocation::Path);
            if !declared {
                self.at_method(
                    position,
                    "/path",
                    format!("{{{name}}} is used in the path but not declared as a path parameter"),
                );
            }
        }
        for (j, p) in m.parameters.iter().enumerate() {
            if p.location == ParameterLocation::Path && !own.contains(&&p.name) {
                let message = if p.name == "principal" {
                    "principal is reserved for the variant's principal: do not declare it as a parameter".to_string()
                } else {
                    format!(
                        "path parameter {name} is not used in the path: add {{{name}}} to the path or change \"in\"",
                        name = p.name
                    )
                };
                self.at_method(position, &format!("/parameters/{j}"), message);
            }
        }
        // Per supported variant: the principal must exist and its parameters
        // must not clash with the method's.
        if principal_count == 0 || !self.with_connector {
            return;
        }
        for variant_id in m.supported_variants(&self.def.auth_variants) {
            let Some(variant) = self.def.variant(variant_id) else {
                continue;
            };
            match &variant.principal {
                None => self.at_method(
                    position,
                    "/path",
                    format!(
                        "the path starts with /{{principal}} but auth variant {variant_id} has no principal: give the variant a principal or leave it out of this method's variants"
                    ),
                ),
                Some(principal) => {
                    for (j, p) in m.parameters.iter().enumerate() {
                        if principal.parameters.iter().any(|q| q.name == p.name) {
                            self.at_method(
                                position,
                                &format!("/parameters/{j}/name"),
                                format!(
                                    "{} is already a parameter of auth variant {variant_id}'s principal ({}): choose another name",
                                    p.name, principal.path
                                ),
                            );
                        }
                    }
                }
            }
        }
    }

    fn method_variants(&mut self, position: usize, m: &MethodDefinition) {
        let known = self.variant_ids();
        let mut seen: Vec<&str> = Vec::new();
        for (k, v) in m.variants.iter().enumerate() {
            if !known.contains(&v.as_str()) {
                self.at_method(
                    position,
                    &format!("/variants/{k}"),
                    unknown_with_suggestion("auth variant", "auth variants", v, &known),
                );
            } else if seen.contains(&v.as_str()) {
                self.at_method(
                    position,
                    &format!("/variants/{k}"),
                    format!("auth variant {v} is listed twice"),
                );
            }
            seen.push(v);
        }
        for (v, permissions) in &m.permissions {
            let pointer = format!("/permissions/{}", escape_pointer_token(v));
            if !known.contains(&v.as_str()) {
                self.at_method(
                    position,
                    &pointer,
                    unknown_with_suggestion("auth variant", "auth variants", v, &known),
                );
                continue;
            }
            if !m.variants.is_empty() && !m.variants.contains(v) {
                self.at_method(
                    position,
                    &pointer,
                    format!(
                        "permissions are given for auth variant {v}, which is not in this method's variants ({}): add it there or remove these permissions",
                        m.variants.join(", ")
                    ),
                );
            }
            for (k, permission) in permissions.iter().enumerate() {
                if permission.is_empty() || permission.chars().any(char::is_whitespace) {
                    self.at_method(
                        position,
                        &format!("{pointer}/{k}"),
                        format!(
                            "\"{permission}\" is not a permission name: give one name without spaces, such as User.Read"
                        ),
                    );
                }
            }
        }
        for variant_id in m.supported_variants(&self.def.auth_variants) {
            let Some(variant) = self.def.variant(variant_id) else {
                continue;
            };
            if variant.uses_permissions() && m.permissions_for(variant_id).is_empty() {
                let pointer = if m.permissions.contains_key(variant_id) {
                    format!("/permissions/{}", escape_pointer_token(variant_id))
                } else if m.permissions.is_empty() {
                    String::new()
                } else {
                    "/permissions".to_string()
                };
                self.at_method(
                    position,
                    &pointer,
                    format!(
                        "auth variant {variant_id} supports this method and uses OAuth permissions, but none are declared for it: add \"{variant_id}\": [\"<least privileged permission>\", ...] to permissions"
                    ),
                );
            }
        }
    }

    fn method_parameters(&mut self, position: usize, m: &MethodDefinition) {
        let mut names: HashMap<&str, usize> = HashMap::new();
        let mut wires: HashMap<(ParameterLocation, String), usize> = HashMap::new();
        let mut payload: Option<usize> = None;
        let mut first_body: Option<usize> = None;
        let (_, base) = self.method_location(position);
        for (j, p) in m.parameters.iter().enumerate() {
            let pp = format!("/parameters/{j}");
            for (suffix, message) in parameter_problems(p) {
                self.at_method(position, &format!("{pp}{suffix}"), message);
            }
            if let Some(first) = names.get(p.name.as_str()) {
                self.at_method(
                    position,
                    &format!("{pp}/name"),
                    format!(
                        "parameter {} is declared twice (first at {base}/parameters/{first}); names must be unique",
                        p.name
                    ),
                );
            } else {
                names.insert(&p.name, j);
            }
            if matches!(
                p.location,
                ParameterLocation::Query | ParameterLocation::Header | ParameterLocation::Body
            ) {
                let wire = if p.location == ParameterLocation::Header {
                    p.wire_name().to_ascii_lowercase()
                } else {
                    p.wire_name().to_string()
                };
                if let Some(first) = wires.get(&(p.location, wire.clone())) {
                    let first_param = &m.parameters[*first];
                    let first_name = &first_param.name;
                    let templated_headers = p.location == ParameterLocation::Header
                        && p.value_template.is_some()
                        && first_param.value_template.is_some();
                    if first_name != &p.name && !templated_headers {
                        self.at_method(
                            position,
                            &format!("{pp}/wire_name"),
                            format!(
                                "{} is sent as {} like parameter {first_name}: two parameters cannot share a wire name",
                                p.name,
                                p.wire_name()
                            ),
                        );
                    }
                } else {
                    wires.insert((p.location, wire), j);
                }
            }
            match p.location {
                ParameterLocation::Payload => {
                    if let Some(first) = payload {
                        self.at_method(
                            position,
                            &format!("{pp}/in"),
                            format!(
                                "only one payload parameter is allowed and {} already is the payload",
                                m.parameters[first].name
                            ),
                        );
                    } else {
                        payload = Some(j);
                    }
                }
                ParameterLocation::Body => {
                    first_body.get_or_insert(j);
                }
                _ => {}
            }
            if m.http_method == HttpMethod::Get
                && matches!(
                    p.location,
                    ParameterLocation::Body | ParameterLocation::Payload
                )
            {
                self.at_method(
                    position,
                    &format!("{pp}/in"),
                    format!(
                        "GET requests carry no body, so {} cannot be in the {}: use \"in\": \"query\" or another HTTP method",
                        p.name,
                        if p.location == ParameterLocation::Body {
                            "body"
                        } else {
                            "payload"
                        }
                    ),
                );
            }
        }
        if let (Some(payload), Some(_)) = (payload, first_body) {
            for (j, p) in m.parameters.iter().enumerate() {
                if p.location == ParameterLocation::Body {
                    self.at_method(
                        position,
                        &format!("/parameters/{j}/in"),
                        format!(
                            "body parameter {} cannot be combined with payload parameter {}, which is the whole body: use one or the other",
                            p.name, m.parameters[payload].name
                        ),
                    );
                }
            }
        }
    }

    fn duplicate_methods(&mut self) {
        let mut ids: HashMap<&str, usize> = HashMap::new();
        let mut routes: HashMap<(HttpMethod, String), usize> = HashMap::new();
        for (position, m) in self.def.methods.iter().enumerate() {
            if let Some(first) = ids.get(m.id.as_str()) {
                let (file, pointer) = self.method_location(*first);
                self.at_method(
                    position,
                    "/id",
                    format!(
                        "method id {} is already used by the method at {file} {pointer}; ids must be unique",
                        m.id
                    ),
                );
            } else {
                ids.insert(&m.id, position);
            }
            let Some(normal) = normalise_path(&m.path) else {
                continue;
            };
            let key = (m.http_method, normal);
            if let Some(first) = routes.get(&key) {
                let (file, pointer) = self.method_location(*first);
                let other = &self.def.methods[*first].id;
                self.at_method(
                    position,
                    "/path",
                    format!(
                        "{} {} is the same request as method {other} ({file} {pointer}): two methods cannot share an HTTP method and path",
                        m.http_method, m.path
                    ),
                );
            } else {
                routes.insert(key, position);
            }
        }
    }
}

/// Problems of one parameter on its own: (pointer suffix, message).
fn parameter_problems(p: &ParameterDefinition) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut add = |suffix: &str, message: String| out.push((suffix.to_string(), message));
    use ParameterLocation as L;
    use ParameterType as T;

    if !is_snake(&p.name) {
        add(
            "/name",
            format!(
                "\"{}\" is not a valid parameter name: use snake_case (lower-case letters, digits and '_', starting with a letter) and wire_name for the name on the wire",
                p.name
            ),
        );
    }
    if p.kind == T::Binary && p.location != L::Payload {
        add(
            "/type",
            "type binary is only allowed for \"in\": \"payload\" (the whole request body)"
                .to_string(),
        );
    }
    if p.location == L::Path && matches!(p.kind, T::Array | T::Object | T::Binary) {
        add(
            "/type",
            format!(
                "a path parameter cannot be of type {}: use string, integer, number, boolean or date-time",
                p.kind.as_str()
            ),
        );
    }
    match (p.kind, p.items) {
        (T::Array, None) => add(
            "",
            format!(
                "array parameter {} needs \"items\", the element type (string, integer, number, boolean, date-time or object)",
                p.name
            ),
        ),
        (T::Array, Some(T::Array | T::Binary)) => add(
            "/items",
            "items must be string, integer, number, boolean, date-time or object".to_string(),
        ),
        (T::Array, Some(_)) | (_, None) => {}
        (_, Some(_)) => add(
            "/items",
            "items is only allowed when type is array".to_string(),
        ),
    }
    if p.style.is_some() && !(p.kind == T::Array && matches!(p.location, L::Query | L::Header)) {
        add(
            "/style",
            "style is only allowed on array parameters in the query or a header".to_string(),
        );
    }
    if p.path_style.is_some() && p.location != L::Path {
        add(
            "/path_style",
            "path_style is only allowed on path parameters (\"in\": \"path\")".to_string(),
        );
    }
    if let Some(template) = &p.value_template {
        if !matches!(p.location, L::Query | L::Header) {
            add(
                "/value_template",
                "value_template is only allowed on query and header parameters".to_string(),
            );
        } else if template.matches("{value}").count() != 1 {
            add(
                "/value_template",
                format!("\"{template}\" must contain {{value}} exactly once"),
            );
        }
    }
    if p.format.is_some() && p.kind != T::String {
        add(
            "/format",
            "format is only allowed on string parameters".to_string(),
        );
    }
    if p.location == L::Header {
        let at = if p.wire_name.is_some() {
            "/wire_name"
        } else {
            "/name"
        };
        if http::HeaderName::from_bytes(p.wire_name().as_bytes()).is_err() {
            add(
                at,
                format!(
                    "\"{}\" is not a valid HTTP header name: use letters, digits and '-' (set wire_name)",
                    p.wire_name()
                ),
            );
        } else if is_reserved(p.wire_name()) {
            add(at, reserved_header_message(p.wire_name()));
        }
    }
    let pattern = match &p.pattern {
        Some(pattern) if p.kind != T::String => {
            add(
                "/pattern",
                format!(
                    "pattern is only allowed on string parameters, not {}",
                    p.kind.as_str()
                ),
            );
            let _ = pattern;
            None
        }
        Some(pattern) => match regex::Regex::new(&format!("^(?:{pattern})$")) {
            Ok(re) => Some(re),
            Err(err) => {
                add(
                    "/pattern",
                    format!(
                        "\"{pattern}\" is not a valid regular expression: {}",
                        regex_error_summary(&err)
                    ),
                );
                None
            }
        },
        None => None,
    };
    let bounded = matches!(
        p.kind,
        T::Integer | T::Number | T::String | T::Array | T::Binary
    );
    let is_length = matches!(p.kind, T::String | T::Array | T::Binary);
    for (suffix, bound) in [("/minimum", p.minimum), ("/maximum", p.maximum)] {
        let Some(bound) = bound else { continue };
        let field = &suffix[1..];
        if !bounded {
            add(
                suffix,
                format!(
                    "{field} is only allowed on integer, number, string (length), array (length) and binary (bytes) parameters, not {}",
                    p.kind.as_str()
                ),
            );
        } else if is_length && (bound < 0.0 || bound.fract() != 0.0) {
            add(
                suffix,
                format!(
                    "{field} {} bounds a length, so it must be a whole number of 0 or more",
                    num(bound)
                ),
            );
        }
    }
    if let (Some(min), Some(max)) = (p.minimum, p.maximum)
        && min > max
    {
        add(
            "/minimum",
            format!(
                "minimum {} is greater than maximum {}: the minimum must not exceed the maximum",
                num(min),
                num(max)
            ),
        );
    }
    if let Some(allowed) = &p.allowed {
        if allowed.is_empty() {
            add("/enum", "enum must list at least one value".to_string());
        }
        let (kind, items) = match (p.kind, p.items) {
            (T::Array, Some(items)) => (items, None),
            other => other,
        };
        for (k, value) in allowed.iter().enumerate() {
            if let Some(expected) = type_mismatch(kind, items, value) {
                add(
                    &format!("/enum/{k}"),
                    format!(
                        "enum value {} is not valid for type {}: expected {expected}",
                        short(value),
                        kind.as_str()
                    ),
                );
            }
        }
    }
    if let Some(default) = &p.default {
        if let Some(expected) = type_mismatch(p.kind, p.items, default) {
            add(
                "/default",
                format!(
                    "default {} is not valid for type {}: expected {expected}",
                    short(default),
                    p.kind.as_str()
                ),
            );
        } else {
            let values: Vec<&Value> = match default {
                Value::Array(items) if p.kind == T::Array => items.iter().collect(),
                other => vec![other],
            };
            if let Some(allowed) = &p.allowed
                && let Some(bad) = values.iter().find(|v| !allowed.contains(v))
            {
                let list: Vec<String> = allowed.iter().map(short).collect();
                add(
                    "/default",
                    format!(
                        "default {} is not one of the enum values: {}",
                        short(bad),
                        list.join(", ")
                    ),
                );
            }
            if let Some(n) = default.as_f64().filter(|_| !is_length) {
                if let Some(min) = p.minimum.filter(|min| n < *min) {
                    add(
                        "/default",
                        format!("default {} is below minimum {}", num(n), num(min)),
                    );
                }
                if let Some(max) = p.maximum.filter(|max| n > *max) {
                    add(
                        "/default",
                        format!("default {} is above maximum {}", num(n), num(max)),
                    );
                }
            }
            if let (Some(re), Some(s)) = (&pattern, default.as_str())
                && !re.is_match(s)
            {
                add(
                    "/default",
                    format!(
                        "default \"{s}\" does not match the pattern {}",
                        p.pattern.as_deref().unwrap_or_default()
                    ),
                );
            }
        }
    }
    out
}

/// What a value of `kind` must look like, when `value` is not one.
fn type_mismatch(
    kind: ParameterType,
    items: Option<ParameterType>,
    value: &Value,
) -> Option<String> {
    use ParameterType as T;
    let ok = match kind {
        T::String => value.is_string(),
        T::Integer => value.is_i64() || value.is_u64(),
        T::Number => value.is_number(),
        T::Boolean => value.is_boolean(),
        T::DateTime => value.as_str().is_some_and(crate::datetime::is_date_time),
        T::Object => value.is_object(),
        T::Binary => false,
        T::Array => match (value, items) {
            (Value::Array(elements), Some(items)) => elements
                .iter()
                .all(|e| type_mismatch(items, None, e).is_none()),
            (Value::Array(_), None) => true,
            _ => false,
        },
    };
    if ok {
        return None;
    }
    Some(match kind {
        T::String => "a string".to_string(),
        T::Integer => "a whole number".to_string(),
        T::Number => "a number".to_string(),
        T::Boolean => "true or false".to_string(),
        T::DateTime => crate::datetime::DATE_TIME_FORM.to_string(),
        T::Object => "a JSON object".to_string(),
        T::Binary => "no value: binary values are only given when calling".to_string(),
        T::Array => match items {
            Some(items) => format!("an array of {} values", items.as_str()),
            None => "an array".to_string(),
        },
    })
}

/// A JSON value, short, for messages.
fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        let cut: String = text.chars().take(37).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// A number as written in JSON (no `.0` for whole numbers).
fn num(n: f64) -> String {
    serde_json::Number::from_f64(n)
        .map(|n| {
            let s = n.to_string();
            s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
        })
        .unwrap_or_else(|| n.to_string())
}

/// The last line of a regex error (`unclosed group`).
fn regex_error_summary(err: &regex::Error) -> String {
    let text = err.to_string();
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid");
    line.trim().trim_start_matches("error: ").to_string()
}

/// `{name}` placeholders of a template, in order.
///
/// Errors on unbalanced braces and on names that are not snake_case.
pub(crate) fn placeholders(template: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    loop {
        let open = rest.find('{');
        let close = rest.find('}');
        match (open, close) {
            (None, None) => return Ok(out),
            (Some(o), Some(c)) if o < c => {
                let name = &rest[o + 1..c];
                if name.contains('{') {
                    return Err(format!(
                        "unbalanced braces in \"{template}\": write placeholders as {{name}}"
                    ));
                }
                if !is_snake(name) {
                    return Err(format!(
                        "placeholder {{{name}}} in \"{template}\" is not a valid name: use snake_case such as {{message_id}}"
                    ));
                }
                out.push(name.to_string());
                rest = &rest[c + 1..];
            }
            _ => {
                return Err(format!(
                    "unbalanced braces in \"{template}\": write placeholders as {{name}}"
                ));
            }
        }
    }
}

/// The path with every placeholder other than `{principal}` written `{}`,
/// so `/users/{a}` and `/users/{b}` compare equal.
fn normalise_path(path: &str) -> Option<String> {
    let names = placeholders(path).ok()?;
    let mut out = path.to_string();
    for name in names.iter().filter(|n| *n != "principal") {
        out = out.replacen(&format!("{{{name}}}"), "{}", 1);
    }
    Some(out)
}

fn host_has_placeholder(url: &str) -> bool {
    let after_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = after_scheme.split('/').next().unwrap_or_default();
    authority.contains('{')
}

/// Lower-case snake_case: `[a-z][a-z0-9_]*`.
fn is_snake(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `[a-z][a-z0-9_-]*` (connector and auth variant ids).
fn is_slug(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// A bare lower-case DNS host name or IPv4 address.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

/// An RFC 6901 JSON pointer: empty, or `/`-separated tokens where `~` is
/// only followed by `0` or `1`.
fn is_json_pointer(pointer: &str) -> bool {
    if pointer.is_empty() {
        return true;
    }
    if !pointer.starts_with('/') {
        return false;
    }
    let bytes = pointer.as_bytes();
    bytes
        .iter()
        .enumerate()
        .all(|(i, b)| *b != b'~' || matches!(bytes.get(i + 1), Some(b'0' | b'1')))
}
