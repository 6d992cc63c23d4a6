//! Shared by the integration tests: the shipped definitions, parsed with
//! serde straight into the core types (no loader needed).

use switchboard_core::definition::{ConnectorDefinition, MethodFile};

/// connector.json with the methods of every category file appended.
pub fn connector() -> ConnectorDefinition {
    let mut def: ConnectorDefinition =
        serde_json::from_str(include_str!("../../definitions/connector.json")).unwrap();
    for text in [
        include_str!("../../definitions/users.json"),
        include_str!("../../definitions/calendars.json"),
        include_str!("../../definitions/mail.json"),
        include_str!("../../definitions/onedrive.json"),
    ] {
        let file: MethodFile = serde_json::from_str(text).unwrap();
        def.methods.extend(file.methods);
    }
    def
}
