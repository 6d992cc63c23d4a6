//! Definition validation: one test per rule, each asserting the exact
//! `file: /json/pointer: message` lines a connector author sees.

use serde_json::{Value, json};
use switchboard_core::ErrorKind;
use switchboard_core::definition::ConnectorDefinition;
use switchboard_core::definition::load::{load_dir, load_sources};
use switchboard_core::definition::validate::{Problem, validate};

const CONNECTOR: &str = "definitions/connector.json";
const MAIL: &str = "definitions/mail.json";

/// A valid connector with two variants sharing `/{principal}` paths.
fn connector() -> Value {
    json!({
        "$schema": "../../../docs/schema/connector-definition.schema.json",
        "id": "example365",
        "name": "Example 365",
        "version": "1.0.0",
        "description": "A test connector.",
        "base_url": "https://{host_name}/v1.0",
        "install_parameters": [
            {"name": "host_name", "label": "Host", "type": "string", "format": "hostname", "required": true},
            {"name": "tenant_id", "label": "Tenant", "type": "string", "format": "tenant_id", "required": true}
        ],
        "auth_variants": [
            {"id": "delegated", "name": "Delegated", "kind": "oauth2_authorization_code",
             "principal": {"path": "/me"}},
            {"id": "application", "name": "Application", "kind": "oauth2_client_credentials",
             "principal": {"path": "/users/{user_id}", "parameters": [
                 {"name": "user_id", "in": "path", "type": "string", "format": "user_id", "required": true}
             ]}}
        ],
        "allowed_hosts": ["graph.example.com"],
        "categories": [{"id": "users", "name": "Users"}, {"id": "mail", "name": "Mail"}]
    })
}

/// A valid method.
fn method() -> Value {
    json!({
        "id": "mail.list_messages",
        "category": "mail",
        "name": "List messages",
        "description": "Messages in the mailbox.",
        "http_method": "GET",
        "path": "/{principal}/messages",
        "permissions": {"delegated": ["Mail.ReadBasic"], "application": ["Mail.ReadBasic.All"]},
        "parameters": [
            {"name": "top", "in": "query", "wire_name": "$top", "type": "integer", "minimum": 1, "maximum": 1000}
        ],
        "pagination": "odata_next_link",
        "records": "/value"
    })
}

/// A second valid method, different path.
fn get_message() -> Value {
    json!({
        "id": "mail.get_message",
        "category": "mail",
        "name": "Get message",
        "description": "One message.",
        "http_method": "GET",
        "path": "/{principal}/messages/{message_id}",
        "permissions": {"delegated": ["Mail.ReadBasic"], "application": ["Mail.ReadBasic.All"]},
        "parameters": [{"name": "message_id", "in": "path", "type": "string"}]
    })
}

/// Set the member at `pointer`, creating the last key when needed.
fn set(value: &mut Value, pointer: &str, new: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let parent = value.pointer_mut(parent).unwrap();
    match parent {
        Value::Array(items) => items[key.parse::<usize>().unwrap()] = new,
        Value::Object(map) => {
            map.insert(key.to_string(), new);
        }
        _ => panic!("{pointer} has no parent container"),
    }
}

fn remove(value: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    value
        .pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key)
        .unwrap();
}

/// Load connector.json + mail.json and return the problem lines.
fn problems(connector: &Value, methods: &[Value]) -> Vec<String> {
    let connector = serde_json::to_string_pretty(connector).unwrap();
    let mail = serde_json::to_string_pretty(&json!({ "methods": methods })).unwrap();
    problems_of(&[(CONNECTOR, &connector), (MAIL, &mail)])
}

fn problems_of(sources: &[(&str, &str)]) -> Vec<String> {
    match load_sources(sources) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

/// Problems with one method changed by `change`.
fn method_problems(change: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut m = method();
    change(&mut m);
    problems(&connector(), &[get_message(), m])
}

/// Problems with the connector changed by `change`.
fn connector_problems(change: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut c = connector();
    change(&mut c);
    problems(&c, &[method(), get_message()])
}

fn m1(message: &str) -> Vec<String> {
    vec![format!("{MAIL}: /methods/1{message}")]
}

// ------------------------------------------------------------ loading

#[test]
fn fixtures_are_valid() {
    assert_eq!(
        problems(&connector(), &[method(), get_message()]),
        Vec::<String>::new()
    );
    let c = serde_json::to_string(&connector()).unwrap();
    let mail = serde_json::to_string(&json!({"methods": [method(), get_message()]})).unwrap();
    let def = load_sources(&[(MAIL, &mail), (CONNECTOR, &c)]).unwrap();
    let ids: Vec<&str> = def.methods.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["mail.list_messages", "mail.get_message"]);
}

#[test]
fn methods_are_appended_connector_first_then_files_in_order() {
    let mut c = connector();
    let mut own = method();
    set(&mut own, "/id", json!("users.list_people"));
    set(&mut own, "/category", json!("users"));
    set(&mut own, "/path", json!("/people"));
    c["methods"] = json!([own]);
    let c = serde_json::to_string(&c).unwrap();
    let a = serde_json::to_string(&json!({"methods": [method()]})).unwrap();
    let b = serde_json::to_string(&json!({"methods": [get_message()]})).unwrap();
    let def = load_sources(&[("b.json", &b), (CONNECTOR, &c), ("a.json", &a)]).unwrap();
    let ids: Vec<&str> = def.methods.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "users.list_people",
            "mail.get_message",
            "mail.list_messages"
        ]
    );
}

#[test]
fn connector_file_is_the_only_one_with_an_id_when_none_is_named_connector_json() {
    let c = serde_json::to_string(&connector()).unwrap();
    let mail = serde_json::to_string(&json!({"methods": [method()]})).unwrap();
    let def = load_sources(&[("mail.json", &mail), ("example.json", &c)]).unwrap();
    assert_eq!(def.id, "example365");
    assert_eq!(def.methods.len(), 1);
}

#[test]
fn missing_connector_file_is_reported() {
    let mail = serde_json::to_string(&json!({"methods": [method()]})).unwrap();
    assert_eq!(
        problems_of(&[(MAIL, &mail)]),
        [
            "connector.json: no connector file: none of definitions/mail.json is one; add a connector.json with id, name, version, description, base_url, auth_variants, allowed_hosts and categories"
        ]
    );
}

#[test]
fn malformed_json_is_reported_with_line_and_column() {
    let c = serde_json::to_string_pretty(&connector()).unwrap();
    let broken = "{\n  \"methods\": [\n    {\"id\": \"mail.x\",}\n  ]\n}";
    assert_eq!(
        problems_of(&[(CONNECTOR, &c), (MAIL, broken)]),
        ["definitions/mail.json: malformed JSON at line 3 column 21: trailing comma"]
    );
}

#[test]
fn unknown_field_names_the_field_and_the_closest_known_one() {
    let lines = method_problems(|m| {
        let path = m["path"].take();
        m.as_object_mut().unwrap().remove("path");
        m["pathh"] = path;
    });
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!(
            "{MAIL}: /methods/1/pathh: unknown field \"pathh\": did you mean \"path\"? (allowed fields: id, category, name, description, http_method, path, "
        )),
        "{lines:?}"
    );
}

#[test]
fn unknown_field_in_a_nested_parameter_points_into_it() {
    let lines = method_problems(|m| {
        m["parameters"][0]["requird"] = json!(true);
    });
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!(
            "{MAIL}: /methods/1/parameters/0/requird: unknown field \"requird\": did you mean \"required\"?"
        )),
        "{lines:?}"
    );
}

#[test]
fn unknown_enum_value_names_the_closest_allowed_one() {
    assert_eq!(
        method_problems(|m| set(m, "/http_method", json!("GETT"))),
        m1(
            "/http_method: unknown value \"GETT\": did you mean \"GET\"? (allowed values: GET, POST, PUT, PATCH, DELETE)"
        )
    );
}

#[test]
fn missing_required_field_is_reported_at_its_object() {
    assert_eq!(
        method_problems(|m| remove(m, "/description")),
        m1(": missing required field \"description\"")
    );
    assert_eq!(
        connector_problems(|c| remove(c, "/version")),
        [format!("{CONNECTOR}: missing required field \"version\"")]
    );
}

#[test]
fn structural_problems_in_several_methods_are_all_reported() {
    let mut a = method();
    remove(&mut a, "/name");
    let mut b = get_message();
    set(&mut b, "/http_method", json!(42));
    assert_eq!(
        problems(&connector(), &[a, b]),
        [
            format!("{MAIL}: /methods/0: missing required field \"name\""),
            format!(
                "{MAIL}: /methods/1/http_method: invalid type: integer `42`, expected string or map"
            ),
        ]
    );
}

#[test]
fn method_problems_are_reported_even_when_the_connector_file_is_broken() {
    let mut c = connector();
    remove(&mut c, "/name");
    let mut m = method();
    set(&mut m, "/path", json!("messages"));
    // Needs the connector (unknown category): not reported without it.
    set(&mut m, "/category", json!("nowhere"));
    set(&mut m, "/id", json!("nowhere.list"));
    assert_eq!(
        problems(&c, &[m]),
        [
            format!("{CONNECTOR}: missing required field \"name\""),
            format!("{MAIL}: /methods/0/path: \"messages\" must start with '/'"),
        ]
    );
}

// ------------------------------------------------------------ methods

#[test]
fn duplicate_method_ids_across_files() {
    let c = serde_json::to_string(&connector()).unwrap();
    let a = serde_json::to_string(&json!({"methods": [method()]})).unwrap();
    let mut dup = get_message();
    set(&mut dup, "/id", json!("mail.list_messages"));
    set(&mut dup, "/path", json!("/{principal}/inbox/{message_id}"));
    let b = serde_json::to_string(&json!({"methods": [get_message(), dup]})).unwrap();
    assert_eq!(
        problems_of(&[
            (CONNECTOR, &c),
            ("definitions/a.json", &a),
            ("definitions/b.json", &b)
        ]),
        [
            "definitions/b.json: /methods/1/id: method id mail.list_messages is already used by the method at definitions/a.json /methods/0; ids must be unique"
        ]
    );
}

#[test]
fn placeholder_without_path_parameter() {
    assert_eq!(
        method_problems(|m| set(
            m,
            "/path",
            json!("/{principal}/mailFolders/{folder_id}/messages")
        )),
        m1("/path: {folder_id} is used in the path but not declared as a path parameter")
    );
}

#[test]
fn path_parameter_without_placeholder() {
    assert_eq!(
        method_problems(|m| {
            m["parameters"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "folder_id", "in": "path", "type": "string"}));
        }),
        m1(
            "/parameters/1: path parameter folder_id is not used in the path: add {folder_id} to the path or change \"in\""
        )
    );
}

#[test]
fn method_parameter_clashing_with_a_variants_principal_parameter() {
    assert_eq!(
        method_problems(|m| {
            set(m, "/path", json!("/{principal}/folders/{user_id}"));
            m["parameters"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "user_id", "in": "path", "type": "string"}));
        }),
        m1(
            "/parameters/1/name: user_id is already a parameter of auth variant application's principal (/users/{user_id}): choose another name"
        )
    );
}

#[test]
fn principal_path_used_by_a_variant_without_principal() {
    let mut c = connector();
    c["auth_variants"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "token", "name": "Token", "kind": "bearer_token"}));
    let mut m = method();
    m["variants"] = json!(["delegated", "application", "token"]);
    assert_eq!(
        problems(&c, &[get_message(), m]),
        m1(
            "/path: the path starts with /{principal} but auth variant token has no principal: give the variant a principal or leave it out of this method's variants"
        )
    );
}

#[test]
fn principal_placeholder_must_be_the_first_segment() {
    assert_eq!(
        method_problems(|m| set(m, "/path", json!("/users/{principal}/messages"))),
        m1(
            "/path: {principal} may only be the whole first segment of the path: /{principal} or /{principal}/..."
        )
    );
}

#[test]
fn principal_path_and_principal_parameters_must_match() {
    assert_eq!(
        connector_problems(|c| set(c, "/auth_variants/1/principal/path", json!("/users/{user}"))),
        [
            format!(
                "{CONNECTOR}: /auth_variants/1/principal/path: {{user}} is used in the principal path but not declared in the principal's parameters"
            ),
            format!(
                "{CONNECTOR}: /auth_variants/1/principal/parameters/0: path parameter user_id is not used in the principal path /users/{{user}}: add {{user_id}} to it or remove the parameter"
            ),
        ]
    );
}

#[test]
fn default_of_the_wrong_type() {
    assert_eq!(
        method_problems(|m| set(m, "/parameters/0/default", json!("ten"))),
        m1(
            "/parameters/0/default: default \"ten\" is not valid for type integer: expected a whole number"
        )
    );
}

#[test]
fn enum_value_of_the_wrong_type() {
    assert_eq!(
        method_problems(|m| {
            m["parameters"].as_array_mut().unwrap().push(
                json!({"name": "importance", "in": "query", "type": "string", "enum": ["low", 2, "high"]}),
            );
        }),
        m1("/parameters/1/enum/1: enum value 2 is not valid for type string: expected a string")
    );
}

#[test]
fn default_outside_enum_and_bounds() {
    assert_eq!(
        method_problems(|m| {
            set(m, "/parameters/0/default", json!(5000));
            m["parameters"].as_array_mut().unwrap().push(
                json!({"name": "importance", "in": "query", "type": "string", "enum": ["low", "high"], "default": "normal"}),
            );
        }),
        [
            format!("{MAIL}: /methods/1/parameters/0/default: default 5000 is above maximum 1000"),
            format!(
                "{MAIL}: /methods/1/parameters/1/default: default \"normal\" is not one of the enum values: \"low\", \"high\""
            ),
        ]
    );
}

#[test]
fn date_time_default_must_be_rfc3339() {
    assert_eq!(
        method_problems(|m| {
            m["parameters"].as_array_mut().unwrap().push(
                json!({"name": "since", "in": "query", "type": "date-time", "default": "2026-11-22 09:00"}),
            );
        }),
        m1(
            "/parameters/1/default: default \"2026-11-22 09:00\" is not valid for type date-time: expected an ISO 8601 / RFC 3339 date and time such as 2026-11-22T09:00:00Z, 2026-11-22T09:00:00+01:00 or 2026-11-22T09:00:00.0000000"
        )
    );
    assert_eq!(
        method_problems(|m| {
            m["parameters"].as_array_mut().unwrap().push(
                json!({"name": "since", "in": "query", "type": "date-time", "default": "2026-11-22T09:00:00.5+01:00"}),
            );
        }),
        Vec::<String>::new()
    );
}

/// A definition may declare as a default exactly the date-times a caller
/// may pass as an argument: one check (`switchboard_core::datetime`) serves
/// both. Graph reads a value without an offset as UTC, so it is allowed.
#[test]
fn date_time_defaults_and_arguments_agree() {
    let c = serde_json::to_string(&connector()).unwrap();
    let mut m = method();
    m["parameters"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "since", "in": "query", "type": "date-time", "wire_name": "since"}));
    let mail = serde_json::to_string(&json!({"methods": [m]})).unwrap();
    let def = load_sources(&[(CONNECTOR, &c), (MAIL, &mail)]).unwrap();
    let base = url::Url::parse("https://graph.example.com/v1.0").unwrap();
    let ctx = switchboard_core::render::RenderContext {
        connector: &def,
        method: def.method("mail.list_messages").unwrap(),
        variant: def.variant("delegated").unwrap(),
        base_url: &base,
    };
    for (value, valid) in [
        ("2024-01-01T00:00:00", true),
        ("2024-01-01T00:00:00Z", true),
        ("2024-01-01T00:00:00.0000000", true),
        ("2024-01-01T00:00:00.123+05:30", true),
        ("2024-01-01 00:00:00Z", false),
        ("2024-01-01", false),
        ("2024-02-30T00:00:00Z", false),
        ("2024-01-01T00:00:00+0530", false),
        ("2024-01-01T00:00:00.1234567891Z", false),
    ] {
        let as_default = method_problems(|m| {
            m["parameters"].as_array_mut().unwrap().push(
                json!({"name": "since", "in": "query", "type": "date-time", "default": value}),
            );
        });
        let args = switchboard_core::Arguments::new().set("since", value);
        let as_argument = switchboard_core::render::render(&ctx, &args);
        assert_eq!(
            as_default.is_empty(),
            valid,
            "default {value}: {as_default:?}"
        );
        assert_eq!(
            as_argument.is_ok(),
            valid,
            "argument {value}: {as_argument:?}"
        );
        if let Ok(request) = as_argument {
            // the value is sent as given
            let sent: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
            assert!(
                sent.contains(&("since".to_string(), value.to_string())),
                "{sent:?}"
            );
        }
    }
}

#[test]
fn minimum_greater_than_maximum() {
    assert_eq!(
        method_problems(|m| set(m, "/parameters/0/minimum", json!(2000))),
        m1(
            "/parameters/0/minimum: minimum 2000 is greater than maximum 1000: the minimum must not exceed the maximum"
        )
    );
}

#[test]
fn unknown_category() {
    assert_eq!(
        method_problems(|m| {
            set(m, "/category", json!("mails"));
            set(m, "/id", json!("mails.list_messages"));
        }),
        m1(
            "/category: unknown category \"mails\": did you mean \"mail\"? (known categories: users, mail)"
        )
    );
}

#[test]
fn supported_variant_without_permissions() {
    assert_eq!(
        method_problems(|m| remove(m, "/permissions/application")),
        Vec::<String>::new(),
        "a permissions map naming only delegated means only delegated supports it"
    );
    assert_eq!(
        method_problems(|m| {
            remove(m, "/permissions/application");
            m["variants"] = json!(["delegated", "application"]);
        }),
        m1(
            "/permissions: auth variant application supports this method and uses OAuth permissions, but none are declared for it: add \"application\": [\"<least privileged permission>\", ...] to permissions"
        )
    );
    assert_eq!(
        method_problems(|m| set(m, "/permissions/delegated", json!([]))),
        m1(
            "/permissions/delegated: auth variant delegated supports this method and uses OAuth permissions, but none are declared for it: add \"delegated\": [\"<least privileged permission>\", ...] to permissions"
        )
    );
    assert_eq!(
        method_problems(|m| remove(m, "/permissions")),
        [
            format!(
                "{MAIL}: /methods/1: auth variant delegated supports this method and uses OAuth permissions, but none are declared for it: add \"delegated\": [\"<least privileged permission>\", ...] to permissions"
            ),
            format!(
                "{MAIL}: /methods/1: auth variant application supports this method and uses OAuth permissions, but none are declared for it: add \"application\": [\"<least privileged permission>\", ...] to permissions"
            ),
        ]
    );
}

#[test]
fn permissions_or_variants_naming_an_unknown_variant() {
    assert_eq!(
        method_problems(|m| {
            let p = m["permissions"]["delegated"].take();
            remove(m, "/permissions/delegated");
            m["permissions"]["delegate"] = p;
            m["variants"] = json!(["application", "aplication"]);
        }),
        [
            format!(
                "{MAIL}: /methods/1/variants/1: unknown auth variant \"aplication\": did you mean \"application\"? (known auth variants: delegated, application)"
            ),
            format!(
                "{MAIL}: /methods/1/permissions/delegate: unknown auth variant \"delegate\": did you mean \"delegated\"? (known auth variants: delegated, application)"
            ),
        ]
    );
}

#[test]
fn permissions_for_a_variant_left_out_of_variants() {
    assert_eq!(
        method_problems(|m| m["variants"] = json!(["delegated"])),
        m1(
            "/permissions/application: permissions are given for auth variant application, which is not in this method's variants (delegated): add it there or remove these permissions"
        )
    );
}

#[test]
fn path_not_starting_with_slash() {
    assert_eq!(
        method_problems(|m| set(m, "/path", json!("me/messages"))),
        m1("/path: \"me/messages\" must start with '/'")
    );
}

#[test]
fn path_with_query_string_or_bad_braces() {
    assert_eq!(
        method_problems(|m| set(m, "/path", json!("/{principal}/messages?$top=5"))),
        m1(
            "/path: the path must not contain '?' or '#': declare query parameters with \"in\": \"query\""
        )
    );
    assert_eq!(
        method_problems(|m| set(m, "/path", json!("/{principal}/messages/{id"))),
        m1(
            "/path: unbalanced braces in \"/{principal}/messages/{id\": write placeholders as {name}"
        )
    );
}

#[test]
fn same_http_method_and_path_after_normalising_placeholders() {
    assert_eq!(
        method_problems(|m| {
            set(m, "/path", json!("/{principal}/messages/{id}"));
            set(
                m,
                "/parameters",
                json!([{"name": "id", "in": "path", "type": "string"}]),
            );
        }),
        m1(
            "/path: GET /{principal}/messages/{id} is the same request as method mail.get_message (definitions/mail.json /methods/0): two methods cannot share an HTTP method and path"
        )
    );
    assert_eq!(
        method_problems(|m| {
            set(m, "/http_method", json!("DELETE"));
            set(m, "/path", json!("/{principal}/messages/{id}"));
            set(
                m,
                "/parameters",
                json!([{"name": "id", "in": "path", "type": "string"}]),
            );
            remove(m, "/pagination");
        }),
        Vec::<String>::new(),
        "another HTTP method on the same path is fine"
    );
}

#[test]
fn method_id_format_and_prefix() {
    assert_eq!(
        method_problems(|m| set(m, "/id", json!("listMessages"))),
        m1(
            "/id: \"listMessages\" is not a valid method id: use category.snake_case such as users.list_users"
        )
    );
    assert_eq!(
        method_problems(|m| set(m, "/id", json!("users.list_messages"))),
        m1(
            "/id: method id users.list_messages starts with users but the method's category is mail: the part before the dot must be the category"
        )
    );
}

#[test]
fn records_must_be_a_json_pointer() {
    assert_eq!(
        method_problems(|m| set(m, "/records", json!("value"))),
        m1(
            "/records: \"value\" is not a JSON pointer: use \"\" for the whole body or a path such as /value ('~' only as ~0 or ~1)"
        )
    );
    assert_eq!(
        method_problems(|m| set(m, "/records", json!("/a~2b"))),
        m1(
            "/records: \"/a~2b\" is not a JSON pointer: use \"\" for the whole body or a path such as /value ('~' only as ~0 or ~1)"
        )
    );
}

#[test]
fn max_response_bytes_must_be_between_1_kib_and_1_gib() {
    for bad in [0u64, 1023, 1_073_741_825, u64::MAX] {
        assert_eq!(
            method_problems(|m| set(m, "/max_response_bytes", json!(bad))),
            m1(&format!(
                "/max_response_bytes: {bad} is outside the allowed range: give a number of bytes from 1024 (1 KiB) to 1073741824 (1 GiB); larger content belongs in a streamed download"
            )),
            "{bad}"
        );
    }
    for good in [1024u64, 8 * 1024 * 1024, 1_073_741_824] {
        assert_eq!(
            method_problems(|m| set(m, "/max_response_bytes", json!(good))),
            Vec::<String>::new(),
            "{good}"
        );
    }
}

#[test]
fn paged_method_needs_records() {
    assert_eq!(
        method_problems(|m| remove(m, "/records")),
        m1(
            "/pagination: a method paged with odata_next_link needs \"records\", the JSON pointer to the records of a page (such as /value)"
        )
    );
}

#[test]
fn pattern_must_be_a_valid_regex() {
    assert_eq!(
        method_problems(|m| {
            m["parameters"].as_array_mut().unwrap().push(
                json!({"name": "folder", "in": "query", "type": "string", "pattern": "([a-z]+"}),
            );
        }),
        m1("/parameters/1/pattern: \"([a-z]+\" is not a valid regular expression: unclosed group")
    );
}

#[test]
fn items_only_with_arrays_and_required_for_arrays() {
    assert_eq!(
        method_problems(|m| set(m, "/parameters/0/items", json!("string"))),
        m1("/parameters/0/items: items is only allowed when type is array")
    );
    assert_eq!(
        method_problems(|m| {
            m["parameters"].as_array_mut().unwrap().push(
                json!({"name": "select", "in": "query", "wire_name": "$select", "type": "array"}),
            );
        }),
        m1(
            "/parameters/1: array parameter select needs \"items\", the element type (string, integer, number, boolean, date-time or object)"
        )
    );
}

#[test]
fn style_only_for_arrays_in_query_or_header() {
    assert_eq!(
        method_problems(|m| set(m, "/parameters/0/style", json!("comma"))),
        m1(
            "/parameters/0/style: style is only allowed on array parameters in the query or a header"
        )
    );
}

#[test]
fn path_style_only_on_path_parameters() {
    assert_eq!(
        method_problems(|m| set(m, "/parameters/0/path_style", json!("segments"))),
        m1(
            "/parameters/0/path_style: path_style is only allowed on path parameters (\"in\": \"path\")"
        )
    );
}

#[test]
fn binary_only_as_payload() {
    assert_eq!(
        method_problems(|m| {
            set(m, "/http_method", json!("PUT"));
            remove(m, "/pagination");
            m["parameters"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "content", "in": "body", "type": "binary"}));
        }),
        m1(
            "/parameters/1/type: type binary is only allowed for \"in\": \"payload\" (the whole request body)"
        )
    );
}

#[test]
fn one_payload_and_never_with_body_parameters() {
    assert_eq!(
        method_problems(|m| {
            set(m, "/http_method", json!("POST"));
            remove(m, "/pagination");
            let params = m["parameters"].as_array_mut().unwrap();
            params.push(json!({"name": "message", "in": "payload", "type": "object"}));
            params.push(json!({"name": "content", "in": "payload", "type": "binary"}));
            params.push(json!({"name": "comment", "in": "body", "type": "string"}));
        }),
        [
            format!(
                "{MAIL}: /methods/1/parameters/2/in: only one payload parameter is allowed and message already is the payload"
            ),
            format!(
                "{MAIL}: /methods/1/parameters/3/in: body parameter comment cannot be combined with payload parameter message, which is the whole body: use one or the other"
            ),
        ]
    );
}

#[test]
fn duplicate_parameter_names_and_wire_names() {
    assert_eq!(
        method_problems(|m| {
            let params = m["parameters"].as_array_mut().unwrap();
            params.push(json!({"name": "top", "in": "query", "type": "integer"}));
            params.push(
                json!({"name": "page_size", "in": "query", "wire_name": "$top", "type": "integer"}),
            );
        }),
        [
            format!(
                "{MAIL}: /methods/1/parameters/1/name: parameter top is declared twice (first at /methods/1/parameters/0); names must be unique"
            ),
            format!(
                "{MAIL}: /methods/1/parameters/2/wire_name: page_size is sent as $top like parameter top: two parameters cannot share a wire name"
            ),
        ]
    );
}

#[test]
fn get_with_body_parameters() {
    assert_eq!(
        method_problems(|m| {
            m["parameters"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "subject", "in": "body", "type": "string"}));
        }),
        m1(
            "/parameters/1/in: GET requests carry no body, so subject cannot be in the body: use \"in\": \"query\" or another HTTP method"
        )
    );
}

#[test]
fn parameter_names_are_snake_case() {
    assert_eq!(
        method_problems(|m| set(m, "/parameters/0/name", json!("$top"))),
        m1(
            "/parameters/0/name: \"$top\" is not a valid parameter name: use snake_case (lower-case letters, digits and '_', starting with a letter) and wire_name for the name on the wire"
        )
    );
}

#[test]
fn bounds_and_formats_only_where_they_mean_something() {
    assert_eq!(
        method_problems(|m| {
            m["parameters"].as_array_mut().unwrap().push(
                json!({"name": "unread", "in": "query", "type": "boolean", "maximum": 3, "format": "guid"}),
            );
        }),
        [
            format!(
                "{MAIL}: /methods/1/parameters/1/format: format is only allowed on string parameters"
            ),
            format!(
                "{MAIL}: /methods/1/parameters/1/maximum: maximum is only allowed on integer, number, string (length), array (length) and binary (bytes) parameters, not boolean"
            ),
        ]
    );
}

#[test]
fn method_headers_must_be_valid() {
    assert_eq!(
        method_problems(|m| m["headers"] = json!({"Bad Header": "x"})),
        m1(
            "/headers/Bad Header: \"Bad Header\" is not a valid HTTP header name: use letters, digits and '-'"
        )
    );
}

#[test]
fn headers_the_engine_writes_cannot_be_declared() {
    const WHY: &str = "is written by the engine and the HTTP client (framing, routing or credentials); a definition may not set it";
    assert_eq!(
        method_problems(|m| m["headers"] = json!({"Content-Length": "100"})),
        m1(&format!(
            "/headers/Content-Length: header Content-Length {WHY}"
        ))
    );
    assert_eq!(
        method_problems(|m| m["parameters"] = json!([
            {"name": "target", "in": "header", "type": "string", "wire_name": "Host"}
        ])),
        m1(&format!("/parameters/0/wire_name: header Host {WHY}"))
    );
    assert_eq!(
        connector_problems(|c| c["default_headers"] = json!({"authorization": "Basic x"})),
        [format!(
            "{CONNECTOR}: /default_headers/authorization: header authorization {WHY}"
        )]
    );
}

// ------------------------------------------------------------ connector

#[test]
fn version_must_be_semver() {
    assert_eq!(
        connector_problems(|c| set(c, "/version", json!("1.0"))),
        [format!(
            "{CONNECTOR}: /version: \"1.0\" is not a semantic version: use MAJOR.MINOR.PATCH such as 1.2.0"
        )]
    );
}

#[test]
fn connector_id_format() {
    assert_eq!(
        connector_problems(|c| set(c, "/id", json!("Example 365"))),
        [format!(
            "{CONNECTOR}: /id: \"Example 365\" is not a valid connector id: use lower-case letters, digits, '_' and '-', starting with a letter (such as microsoft365)"
        )]
    );
}

#[test]
fn install_parameter_names_must_be_unique() {
    assert_eq!(
        connector_problems(|c| set(c, "/install_parameters/1/name", json!("host_name"))),
        [format!(
            "{CONNECTOR}: /install_parameters/1/name: install parameter host_name is declared twice (first at /install_parameters/0); names must be unique"
        )]
    );
}

#[test]
fn base_url_placeholders_name_install_parameters() {
    assert_eq!(
        connector_problems(|c| set(c, "/base_url", json!("https://{hostname}/v1.0"))),
        [format!(
            "{CONNECTOR}: /base_url: {{hostname}} is not an install parameter (install parameters: host_name, tenant_id)"
        )]
    );
}

#[test]
fn base_url_host_must_be_allowed() {
    assert_eq!(
        connector_problems(|c| set(c, "/base_url", json!("https://graph.example.org/v1.0"))),
        [format!(
            "{CONNECTOR}: /base_url: the base URL's host graph.example.org is not in allowed_hosts: add it, or credentials will never be sent"
        )]
    );
    assert_eq!(
        connector_problems(|c| set(c, "/base_url", json!("graph.example.com/v1.0"))),
        [format!(
            "{CONNECTOR}: /base_url: \"graph.example.com/v1.0\" is not an absolute http(s) URL such as https://api.example.com/v1"
        )]
    );
}

#[test]
fn allowed_hosts_must_be_bare_host_names() {
    assert_eq!(
        connector_problems(|c| set(c, "/allowed_hosts", json!([]))),
        [format!(
            "{CONNECTOR}: /allowed_hosts: allowed_hosts must name at least one host name credentials may be sent to (such as graph.microsoft.com)"
        )]
    );
    let bad = [
        "https://graph.example.com",
        "graph.example.com:443",
        "*.example.com",
        "graph.example.com/v1.0",
        "Graph.Example.com",
        "",
    ];
    for host in bad {
        assert_eq!(
            connector_problems(|c| set(c, "/allowed_hosts", json!(["graph.example.com", host]))),
            [format!(
                "{CONNECTOR}: /allowed_hosts/1: \"{host}\" is not a bare host name: give only a lower-case host such as graph.microsoft.com (no scheme, port, path or wildcard)"
            )]
        );
    }
}

#[test]
fn duplicate_variant_and_category_ids() {
    assert_eq!(
        connector_problems(|c| {
            set(c, "/categories/1/id", json!("users"));
        }),
        [
            format!(
                "{CONNECTOR}: /categories/1/id: category users is declared twice (first at /categories/0); ids must be unique"
            ),
            format!(
                "{MAIL}: /methods/0/category: unknown category \"mail\": did you mean \"users\"? (known categories: users, users)"
            ),
            format!(
                "{MAIL}: /methods/1/category: unknown category \"mail\": did you mean \"users\"? (known categories: users, users)"
            ),
        ]
    );
    let lines = connector_problems(|c| set(c, "/auth_variants/1/id", json!("delegated")));
    assert_eq!(
        lines[0],
        format!(
            "{CONNECTOR}: /auth_variants/1/id: auth variant delegated is declared twice (first at /auth_variants/0); ids must be unique"
        )
    );
}

#[test]
fn principal_parameters_must_be_path_parameters() {
    assert_eq!(
        connector_problems(|c| set(
            c,
            "/auth_variants/1/principal/parameters/0/in",
            json!("query")
        )),
        [format!(
            "{CONNECTOR}: /auth_variants/1/principal/parameters/0/in: principal parameters are path parameters: use \"in\": \"path\" for user_id"
        )]
    );
}

// ------------------------------------------------------------ in memory, errors

#[test]
fn validate_reports_an_in_memory_definition_as_one_file() {
    let mut c = connector();
    let mut m = method();
    set(&mut m, "/path", json!("/{principal}/messages/{message_id}"));
    c["methods"] = json!([m]);
    let def: ConnectorDefinition = serde_json::from_value(c).unwrap();
    assert_eq!(
        validate(&def),
        [Problem::new(
            "connector.json",
            "/methods/0/path",
            "{message_id} is used in the path but not declared as a path parameter"
        )]
    );
}

#[test]
fn problems_become_an_invalid_definition_error_listing_them() {
    let mut m = method();
    set(&mut m, "/path", json!("messages"));
    let c = serde_json::to_string(&connector()).unwrap();
    let mail = serde_json::to_string(&json!({"methods": [m]})).unwrap();
    let problems = load_sources(&[(CONNECTOR, &c), (MAIL, &mail)]).unwrap_err();
    let err = problems.into_error();
    assert_eq!(err.kind(), ErrorKind::InvalidDefinition);
    assert_eq!(
        err.to_string(),
        "the connector definition has 1 problem:\ndefinitions/mail.json: /methods/0/path: \"messages\" must start with '/'"
    );
}

// ------------------------------------------------------------ directories

fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn microsoft365_definitions_load_without_problems() {
    let dir = workspace_root().join("connectors/microsoft365/definitions");
    let def = match load_dir(&dir) {
        Ok(def) => def,
        Err(problems) => panic!("microsoft365 definitions have problems:\n{problems}"),
    };
    assert_eq!(def.id, "microsoft365");
    assert!(def.method("users.list_users").is_some());
}

/// A temporary `definitions/` directory holding the test `connector.json`.
fn definitions_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("definitions");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("connector.json"),
        serde_json::to_string_pretty(&connector()).unwrap(),
    )
    .unwrap();
    (tmp, dir)
}

#[test]
fn load_dir_reports_files_as_directory_and_name() {
    let (_tmp, dir) = definitions_dir();
    let mut m = method();
    set(&mut m, "/path", json!("/{principal}/messages/{message_id}"));
    std::fs::write(
        dir.join("mail.json"),
        serde_json::to_string_pretty(&json!({"methods": [get_message(), m]})).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "not json").unwrap();
    let problems = load_dir(&dir).unwrap_err();
    assert_eq!(
        problems.to_string(),
        "definitions/mail.json: /methods/1/path: {message_id} is used in the path but not declared as a path parameter\n\
         definitions/mail.json: /methods/1/path: GET /{principal}/messages/{message_id} is the same request as method mail.get_message (definitions/mail.json /methods/0): two methods cannot share an HTTP method and path"
    );
}

/// A definition file over 4 MiB is reported unread (a sparse file of a
/// terabyte is refused from its size); so are files past 16 MiB together.
#[test]
fn load_dir_bounds_what_it_reads() {
    use switchboard_core::definition::load::{MAX_CONNECTOR_BYTES, MAX_DEFINITION_FILE_BYTES};
    let (_tmp, dir) = definitions_dir();
    let huge = std::fs::File::create(dir.join("huge.json")).unwrap();
    huge.set_len(1 << 40).unwrap();
    let problems = load_dir(&dir).unwrap_err();
    assert_eq!(
        problems.to_string(),
        format!(
            "definitions/huge.json: the file is larger than {MAX_DEFINITION_FILE_BYTES} bytes, the most a definition file may hold; split its methods into several files"
        )
    );
    std::fs::remove_file(dir.join("huge.json")).unwrap();
    // files just under the per-file limit: with connector.json, the
    // fourth passes 16 MiB and nothing after it is read
    for i in 0..5 {
        let f = std::fs::File::create(dir.join(format!("m{i}.json"))).unwrap();
        f.set_len(MAX_DEFINITION_FILE_BYTES - 1).unwrap();
    }
    let problems = load_dir(&dir).unwrap_err().to_string();
    assert!(
        problems.contains(&format!(
            "definitions/m3.json: the connector's definition files together exceed {MAX_CONNECTOR_BYTES} bytes"
        )),
        "{problems}"
    );
    assert!(!problems.contains("m4.json"), "{problems}");
}

#[test]
fn load_dir_of_a_missing_directory_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let problems = load_dir(&tmp.path().join("nowhere")).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert!(
        problems
            .to_string()
            .starts_with("nowhere: cannot read the definitions directory "),
        "{problems}"
    );
}

#[test]
fn connectors_dir_loads_each_subdirectory_and_reports_problems_per_directory() {
    use switchboard_core::definition::load::load_connectors_dir;
    let connector = |id: &str, version: &str| {
        format!(
            r#"{{"id": "{id}", "name": "N", "version": "{version}", "description": "d",
            "base_url": "https://api.example.com", "allowed_hosts": ["api.example.com"],
            "auth_variants": [{{"id": "token", "name": "Token", "kind": "bearer_token"}}],
            "categories": [{{"id": "things", "name": "Things"}}]}}"#
        )
    };
    let root = tempfile::tempdir().unwrap();
    // a plain definitions directory
    let a = root.path().join("alpha");
    std::fs::create_dir(&a).unwrap();
    std::fs::write(a.join("connector.json"), connector("alpha", "1.0.0")).unwrap();
    // a connector crate's layout
    let b = root.path().join("beta");
    std::fs::create_dir_all(b.join("definitions")).unwrap();
    std::fs::write(
        b.join("definitions/connector.json"),
        connector("beta", "2.1.0"),
    )
    .unwrap();
    // not a connector: skipped
    std::fs::create_dir(root.path().join("notes")).unwrap();
    let found = load_connectors_dir(root.path()).unwrap();
    let ids: Vec<&str> = found.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["alpha", "beta"]);

    std::fs::write(a.join("connector.json"), connector("alpha", "one")).unwrap();
    let problems = load_connectors_dir(root.path()).unwrap_err();
    let text = problems.to_string();
    assert_eq!(problems.len(), 1, "{text}");
    assert!(
        text.contains("alpha: alpha/connector.json: /version:"),
        "{text}"
    );

    let empty = tempfile::tempdir().unwrap();
    let problems = load_connectors_dir(empty.path()).unwrap_err();
    assert!(
        problems.to_string().contains("holds no connector"),
        "{problems}"
    );
}

// ------------------------------------------------------------ limits

fn outlook_limit() -> Value {
    json!({
        "id": "outlook_mailbox", "scope": "mailbox", "resource_parameter": "user_id",
        "categories": ["mail"], "concurrency": 4,
        "requests": {"limit": 10000, "window_secs": 600},
        "upload_bytes": {"limit": 150000000, "window_secs": 300}
    })
}

#[test]
fn a_declared_limit_and_a_method_naming_it_are_valid() {
    let mut c = connector();
    set(&mut c, "/limits", json!([outlook_limit()]));
    let mut m = method();
    set(&mut m, "/limits", json!(["outlook_mailbox"]));
    assert_eq!(problems(&c, &[get_message(), m]), Vec::<String>::new());
}

#[test]
fn limits_report_each_bad_number_and_name_with_its_pointer() {
    let mut c = connector();
    let mut bad = outlook_limit();
    set(&mut bad, "/id", json!("Outlook"));
    set(&mut bad, "/categories", json!(["mali"]));
    set(&mut bad, "/concurrency", json!(0));
    set(
        &mut bad,
        "/requests",
        json!({"limit": 0, "window_secs": 86401}),
    );
    let app_with_resource =
        json!({"id": "global", "scope": "app", "resource_parameter": "user_id", "concurrency": 1});
    let nothing = json!({"id": "nothing", "scope": "tenant"});
    set(
        &mut c,
        "/limits",
        json!([
            bad,
            app_with_resource,
            nothing,
            outlook_limit(),
            outlook_limit()
        ]),
    );
    assert_eq!(
        problems(&c, &[method(), get_message()]),
        [
            format!(
                "{CONNECTOR}: /limits/0/id: \"Outlook\" is not a valid limit id: use snake_case such as outlook_mailbox"
            ),
            format!(
                "{CONNECTOR}: /limits/0/categories/0: unknown category \"mali\": did you mean \"mail\"? (known categories: users, mail)"
            ),
            format!(
                "{CONNECTOR}: /limits/0/concurrency: 0 requests in flight is outside the allowed range: from 1 to 10000"
            ),
            format!(
                "{CONNECTOR}: /limits/0/requests/limit: 0 is outside the allowed range: from 1 to 9007199254740992"
            ),
            format!(
                "{CONNECTOR}: /limits/0/requests/window_secs: a window of 86401 seconds is outside the allowed range: from 1 to 86400 (one day)"
            ),
            format!(
                "{CONNECTOR}: /limits/1/resource_parameter: a limit kept per app has no resource argument: resource_parameter is for the mailbox and drive scopes"
            ),
            format!(
                "{CONNECTOR}: /limits/2: a limit keeps nothing: give concurrency, requests or upload_bytes"
            ),
            format!(
                "{CONNECTOR}: /limits/4/id: limit \"outlook_mailbox\" is already declared at /limits/3"
            ),
        ]
    );
}

#[test]
fn a_method_naming_an_unknown_limit_is_told_the_closest_one() {
    let mut c = connector();
    set(&mut c, "/limits", json!([outlook_limit()]));
    let mut m = method();
    set(&mut m, "/limits", json!(["outlook_mailbx"]));
    assert_eq!(
        problems(&c, &[get_message(), m]),
        m1(
            "/limits/0: unknown limit \"outlook_mailbx\": did you mean \"outlook_mailbox\"? (known limits: outlook_mailbox)"
        )
    );
}

#[test]
fn a_limit_with_an_unknown_field_or_a_negative_number_is_refused_when_read() {
    let mut c = connector();
    let mut l = outlook_limit();
    set(&mut l, "/concurency", json!(4));
    set(&mut c, "/limits", json!([l]));
    let p = problems(&c, &[method()]);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(
        p[0].starts_with(CONNECTOR) && p[0].contains("concurency"),
        "{p:?}"
    );
    let mut c = connector();
    let mut l = outlook_limit();
    set(&mut l, "/concurrency", json!(-1));
    set(&mut c, "/limits", json!([l]));
    let p = problems(&c, &[method()]);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("/limits/0/concurrency"), "{p:?}");
}
