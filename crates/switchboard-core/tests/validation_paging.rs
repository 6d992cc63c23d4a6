//! Validation of cursor and counter paging declared as data: each rule
//! with the exact `file: /json/pointer: message` line an author sees.

use serde_json::{Value, json};
use switchboard_core::definition::load::load_sources;

const FILE: &str = "acme/connector.json";

/// A valid connector whose one method pages by cursor.
fn connector(method: Value) -> Value {
    json!({
        "id": "acme", "name": "Acme", "version": "1.0.0", "description": "A CRM.",
        "base_url": "https://api.acme.example",
        "auth_variants": [{"id": "token", "name": "Token", "kind": "bearer_token"}],
        "allowed_hosts": ["api.acme.example"],
        "categories": [{"id": "contacts", "name": "Contacts"}],
        "methods": [method]
    })
}

fn cursor_method() -> Value {
    json!({
        "id": "contacts.list_contacts", "category": "contacts", "name": "List contacts",
        "description": "Contacts.", "http_method": "GET", "path": "/contacts",
        "parameters": [{"name": "page_size", "in": "query", "wire_name": "limit", "type": "integer"}],
        "pagination": "cursor", "records": "/data",
        "cursor": {"pointer": "/meta/next_cursor", "parameter": "cursor", "has_more": "/meta/has_more"}
    })
}

fn counter_method() -> Value {
    json!({
        "id": "contacts.list_contacts", "category": "contacts", "name": "List contacts",
        "description": "Contacts.", "http_method": "GET", "path": "/contacts",
        "parameters": [{"name": "query", "in": "query", "wire_name": "q", "type": "string"}],
        "pagination": "offset", "records": "/data",
        "counter": {"parameter": "offset", "size_parameter": "limit", "size": 100,
                    "stop": "total", "total": "/meta/total"}
    })
}

/// The problems of a connector holding `method`, as `file: pointer: message`.
fn problems(method: Value) -> Vec<String> {
    let text = serde_json::to_string(&connector(method)).unwrap();
    match load_sources(&[(FILE, &text)]) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

fn at(pointer: &str, message: &str) -> Vec<String> {
    vec![format!("{FILE}: /methods/0{pointer}: {message}")]
}

fn changed(mut method: Value, pointer: &str, value: Value) -> Value {
    *method.pointer_mut(pointer).unwrap() = value;
    method
}

fn without(mut method: Value, parent: &str, key: &str) -> Value {
    method
        .pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key);
    method
}

#[test]
fn valid_cursor_and_counter_methods_have_no_problems() {
    assert_eq!(problems(cursor_method()), Vec::<String>::new());
    assert_eq!(problems(counter_method()), Vec::<String>::new());
    let pages = changed(counter_method(), "/pagination", json!("page"));
    let pages = changed(pages, "/counter", json!({"parameter": "page", "size": 50}));
    assert_eq!(problems(pages), Vec::<String>::new());
}

#[test]
fn each_kind_needs_its_rule_and_no_other() {
    assert_eq!(
        problems(without(cursor_method(), "", "cursor")),
        at(
            "/pagination",
            "a method paged with cursor needs \"cursor\": {\"pointer\": where the next cursor is in a page, \"parameter\": the query parameter that sends it}"
        )
    );
    assert_eq!(
        problems(without(counter_method(), "", "counter")),
        at(
            "/pagination",
            "a method paged with offset needs \"counter\": {\"parameter\": the query parameter that counts, \"size\": records a page}"
        )
    );
    assert_eq!(
        problems(changed(
            cursor_method(),
            "/pagination",
            json!("link_header")
        )),
        at(
            "/cursor",
            "only a method with \"pagination\": \"cursor\" reads a cursor, and this one is paged with link_header"
        )
    );
    assert_eq!(
        problems(changed(counter_method(), "/pagination", json!("cursor"))),
        vec![
            format!(
                "{FILE}: /methods/0/pagination: a method paged with cursor needs \"cursor\": {{\"pointer\": where the next cursor is in a page, \"parameter\": the query parameter that sends it}}"
            ),
            format!(
                "{FILE}: /methods/0/counter: only a method with \"pagination\": \"offset\" or \"page\" counts pages, and this one is paged with cursor"
            ),
        ]
    );
}

#[test]
fn cursor_and_counter_paging_need_a_get() {
    assert_eq!(
        problems(changed(cursor_method(), "/http_method", json!("POST"))),
        at(
            "/http_method",
            "a method paged with cursor must be a GET: its next pages are GETs of the same URL with the cursor query parameter changed"
        )
    );
}

#[test]
fn pointers_must_be_json_pointers() {
    assert_eq!(
        problems(changed(
            cursor_method(),
            "/cursor/pointer",
            json!("meta.next")
        )),
        at(
            "/cursor/pointer",
            "\"meta.next\" is not a JSON pointer: use a path such as /meta/next_cursor ('~' only as ~0 or ~1)"
        )
    );
    assert_eq!(
        problems(changed(cursor_method(), "/cursor/pointer", json!(""))),
        at(
            "/cursor/pointer",
            "the cursor cannot be the whole body: give the JSON pointer to it, such as /meta/next_cursor"
        )
    );
    assert_eq!(
        problems(changed(cursor_method(), "/cursor/has_more", json!("/a~2"))),
        at(
            "/cursor/has_more",
            "\"/a~2\" is not a JSON pointer: use a path such as /meta/next_cursor ('~' only as ~0 or ~1)"
        )
    );
    assert_eq!(
        problems(changed(counter_method(), "/counter/total", json!("total"))),
        at(
            "/counter/total",
            "\"total\" is not a JSON pointer: use a path such as /meta/next_cursor ('~' only as ~0 or ~1)"
        )
    );
}

#[test]
fn the_pagers_parameters_are_its_own() {
    assert_eq!(
        problems(changed(
            cursor_method(),
            "/cursor/parameter",
            json!("limit")
        )),
        at(
            "/cursor/parameter",
            "\"limit\" is also the query parameter `page_size` of this method: the pager writes it on every page, so remove the parameter or page with another name"
        )
    );
    assert_eq!(
        problems(changed(
            counter_method(),
            "/counter/size_parameter",
            json!("q")
        )),
        at(
            "/counter/size_parameter",
            "\"q\" is also the query parameter `query` of this method: the pager writes it on every page, so remove the parameter or page with another name"
        )
    );
    assert_eq!(
        problems(changed(
            counter_method(),
            "/counter/size_parameter",
            json!("offset")
        )),
        at(
            "/counter/size_parameter",
            "\"offset\" already names another of the pager's query parameters: the page size and the counter need names of their own"
        )
    );
    assert_eq!(
        problems(changed(cursor_method(), "/cursor/parameter", json!(""))),
        at(
            "/cursor/parameter",
            "the query parameter name cannot be empty"
        )
    );
}

#[test]
fn counter_sizes_starts_and_stop_rules() {
    for bad in [0u64, (1 << 53) + 1] {
        assert_eq!(
            problems(changed(counter_method(), "/counter/size", json!(bad))),
            at(
                "/counter/size",
                &format!(
                    "{bad} is not a page size: give the number of records a page holds, from 1 to 2^53"
                )
            )
        );
    }
    let mut from_far = counter_method();
    from_far["counter"]["start"] = json!(u64::MAX);
    assert_eq!(
        problems(from_far),
        at("/counter/start", "the start value is above 2^53")
    );
    assert_eq!(
        problems(without(counter_method(), "/counter", "total")),
        at(
            "/counter/stop",
            "\"stop\": \"total\" needs \"total\", the JSON pointer to it in a page"
        )
    );
    assert_eq!(
        problems(changed(
            counter_method(),
            "/counter/stop",
            json!("short_page")
        )),
        at(
            "/counter/total",
            "\"total\" is read only with \"stop\": \"total\", and this counter stops on short_page"
        )
    );
    let has_more = changed(counter_method(), "/counter/stop", json!("has_more"));
    assert_eq!(
        problems(has_more),
        vec![
            format!(
                "{FILE}: /methods/0/counter/total: \"total\" is read only with \"stop\": \"total\", and this counter stops on has_more"
            ),
            format!(
                "{FILE}: /methods/0/counter/stop: \"stop\": \"has_more\" needs \"has_more\", the JSON pointer to it in a page"
            ),
        ]
    );
}

#[test]
fn unknown_fields_in_a_rule_are_named() {
    let typo = changed(
        cursor_method(),
        "/cursor",
        json!({"pointer": "/next", "parameter": "cursor", "has_mor": "/x"}),
    );
    let found = problems(typo);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with(&format!("{FILE}: /methods/0/cursor")),
        "{found:?}"
    );
    assert!(found[0].contains("has_mor"), "{found:?}");
}
