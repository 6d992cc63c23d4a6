//! switchboard-core: the connector model and the request engine.
//!
//! A connector is described by a [`ConnectorDefinition`] (loaded from JSON,
//! validated as a whole) and implemented by a type that implements
//! [`Connector`]. The engine executes a connector's methods for an
//! installation through one request pipeline:
//!
//! validate arguments → render URL → host allow-list → token → send
//! (redirects handled by us) → classify → retry / refresh → decode →
//! select records → next page.
//!
//! ```
//! use switchboard_core::definition::ConnectorDefinition;
//!
//! let json = r#"{
//!   "id": "example", "name": "Example", "version": "1.0.0",
//!   "description": "An example connector",
//!   "base_url": "https://api.example.com",
//!   "allowed_hosts": ["api.example.com"],
//!   "auth_variants": [{"id": "token", "name": "API token", "kind": "bearer_token"}],
//!   "categories": [{"id": "things", "name": "Things"}],
//!   "methods": []
//! }"#;
//! let def: ConnectorDefinition = serde_json::from_str(json).unwrap();
//! assert_eq!(def.id, "example");
//! ```
#![deny(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod arguments;
pub mod bounds;
pub mod connector;
pub mod credential;
pub mod datetime;
pub mod definition;
pub mod engine;
pub mod error;
pub mod files;
pub mod governor;
pub mod headers;
pub mod installation_id;
pub mod local_origins;
pub mod paging;
pub mod render;
pub mod suggest;
#[cfg(feature = "testing")]
pub mod testing;
pub mod untrusted_text;

pub use arguments::Arguments;
pub use connector::{Connector, Registry};
pub use definition::validate::{Problem, Problems};
pub use definition::{ConnectorDefinition, MethodDefinition};
pub use engine::response::{ByteStream, Response, ResponseBody};
pub use engine::retry::RetryPolicy;
pub use engine::{Engine, EngineBuilder, InstallationContext};
pub use engine::{PageStream, RecordStream};
pub use error::{Error, ErrorKind, Result};
pub use installation_id::InstallationId;
pub use paging::{Continuation, Page};
