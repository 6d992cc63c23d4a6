//! Arguments a caller passes to a method.
//!
//! Values are JSON (`serde_json::Value`), checked against the method's
//! parameter definitions when the request is rendered. Binary content (file
//! uploads) travels beside them, never inside JSON.
//!
//! ```
//! use switchboard_core::Arguments;
//!
//! let args = Arguments::new().set("top", 5).set("select", vec!["id", "displayName"]);
//! assert_eq!(args.get("top"), Some(&serde_json::json!(5)));
//! ```

use bytes::Bytes;
use serde_json::{Map, Value};

/// Named argument values for one method call, plus optional binary content.
#[derive(Clone, Default, PartialEq)]
pub struct Arguments {
    values: Map<String, Value>,
    content: Option<Bytes>,
}

impl Arguments {
    /// No arguments.
    pub fn new() -> Self {
        Self::default()
    }

    /// Arguments from a JSON object's fields.
    pub fn from_map(values: Map<String, Value>) -> Self {
        Arguments {
            values,
            content: None,
        }
    }

    /// Set a named value (builder style).
    pub fn set(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.values.insert(name.into(), value.into());
        self
    }

    /// Set a named value in place.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<Value>) {
        self.values.insert(name.into(), value.into());
    }

    /// Attach binary content for a `binary` payload parameter.
    pub fn with_content(mut self, content: impl Into<Bytes>) -> Self {
        self.content = Some(content.into());
        self
    }

    /// A named value.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// All named values.
    pub fn values(&self) -> &Map<String, Value> {
        &self.values
    }

    /// The binary content, if any.
    pub fn content(&self) -> Option<&Bytes> {
        self.content.as_ref()
    }
}

/// Argument values may hold secrets (a message body, a share link): Debug
/// shows only the names.
impl std::fmt::Debug for Arguments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arguments")
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .field("content_len", &self.content.as_ref().map(Bytes::len))
            .finish()
    }
}
