//! The permission table in docs/connectors/microsoft365.md is generated from
//! the definitions. This test fails when the two drift apart;
//! `SWITCHBOARD_UPDATE_DOCS=1 cargo test -p switchboard-microsoft365` rewrites
//! the table between its marker comments instead.

use switchboard_microsoft365::permissions::{current_table, permission_table, replace_table};

mod common;

const DOC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../docs/connectors/microsoft365.md"
);

#[test]
fn the_permission_table_in_the_docs_matches_the_definitions() {
    let generated = permission_table(&common::connector()).unwrap();
    let document = std::fs::read_to_string(DOC).unwrap();
    if std::env::var("SWITCHBOARD_UPDATE_DOCS").as_deref() == Ok("1") {
        let updated = replace_table(&document, &generated).unwrap();
        if updated != document {
            std::fs::write(DOC, updated).unwrap();
        }
        return;
    }
    let current = current_table(&document).expect("the doc lacks the generated-table markers");
    assert!(
        current == generated.trim(),
        "docs/connectors/microsoft365.md is out of date with the definitions; \
         run `SWITCHBOARD_UPDATE_DOCS=1 cargo test -p switchboard-microsoft365 --test docs` and commit the result"
    );
}

#[test]
fn the_table_check_notices_a_changed_permission() {
    let mut def = common::connector();
    let document = std::fs::read_to_string(DOC).unwrap();
    let method = def
        .methods
        .iter_mut()
        .find(|m| m.id == "mail.send_mail")
        .unwrap();
    method
        .permissions
        .insert("delegated".into(), vec!["Mail.ReadWrite".into()]);
    let generated = permission_table(&def).unwrap();
    assert_ne!(current_table(&document), Some(generated.trim()));
}
