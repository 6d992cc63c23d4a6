//! Rendering arguments into requests: one test per rule, with the exact URL,
//! headers and body expected, plus property tests showing that no argument
//! value can change the shape of the URL path or start a query or fragment.

use http::Method;
use percent_encoding::percent_decode_str;
use proptest::prelude::*;
use serde_json::{Value, json};
use switchboard_core::definition::ConnectorDefinition;
use switchboard_core::render::{RenderContext, RenderedRequest, RequestBody, render};
use switchboard_core::{Arguments, Error, ErrorKind};
use url::Url;

/// A Microsoft 365-like connector, small enough to read.
fn connector() -> ConnectorDefinition {
    serde_json::from_str(include_str!("fixtures/render_connector.json")).unwrap()
}

fn try_render_with_base(
    def: &ConnectorDefinition,
    base: &str,
    method: &str,
    variant: &str,
    args: &Arguments,
) -> Result<RenderedRequest, Error> {
    let base = Url::parse(base).unwrap();
    let ctx = RenderContext {
        connector: def,
        method: def.method(method).unwrap(),
        variant: def.variant(variant).unwrap(),
        base_url: &base,
    };
    render(&ctx, args)
}

fn try_render(method: &str, variant: &str, args: Arguments) -> Result<RenderedRequest, Error> {
    let def = connector();
    try_render_with_base(&def, &def.base_url.clone(), method, variant, &args)
}

fn ok(method: &str, variant: &str, args: Arguments) -> RenderedRequest {
    try_render(method, variant, args).unwrap()
}

fn err(method: &str, variant: &str, args: Arguments) -> Error {
    let e = try_render(method, variant, args).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    e
}

fn headers(req: &RenderedRequest) -> Vec<(String, String)> {
    req.headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect()
}

fn args(v: Value) -> Arguments {
    match v {
        Value::Object(map) => Arguments::from_map(map),
        _ => panic!("arguments must be an object"),
    }
}

// --- principal and variants ---------------------------------------------

#[test]
fn delegated_principal_becomes_me_and_defaults_apply() {
    let req = ok("mail.list_messages", "delegated", Arguments::new());
    assert_eq!(req.method, Method::GET);
    assert_eq!(
        req.url.as_str(),
        "https://graph.microsoft.com/v1.0/me/messages?%24top=10"
    );
    assert_eq!(req.body, RequestBody::Empty);
}

#[test]
fn application_principal_needs_user_id_and_puts_it_in_the_path() {
    let e = err("mail.list_messages", "application", Arguments::new());
    assert_eq!(e.field(), Some("user_id"));
    assert_eq!(
        e.to_string(),
        "invalid argument `user_id`: is required but was not given"
    );

    let req = ok(
        "mail.list_messages",
        "application",
        Arguments::new()
            .set("user_id", "adele@contoso.com")
            .set("top", 5),
    );
    assert_eq!(
        req.url.as_str(),
        "https://graph.microsoft.com/v1.0/users/adele@contoso.com/messages?%24top=5"
    );
}

#[test]
fn guest_upn_keeps_its_ext_marker_encoded_as_percent_23() {
    let req = ok(
        "mail.list_messages",
        "application",
        Arguments::new().set("user_id", "adele_fabrikam.com#EXT#@contoso.onmicrosoft.com"),
    );
    assert_eq!(
        req.url.as_str(),
        "https://graph.microsoft.com/v1.0/users/adele_fabrikam.com%23EXT%23@contoso.onmicrosoft.com/messages?%24top=10"
    );
    assert_eq!(req.url.fragment(), None);
}

#[test]
fn user_id_that_is_not_a_guid_or_upn_is_refused() {
    for bad in [
        "adele",
        "a/b@contoso.com",
        "../me",
        "adele@contoso.com?x=1",
        "#EXT#",
    ] {
        let e = err(
            "mail.list_messages",
            "application",
            Arguments::new().set("user_id", bad),
        );
        assert_eq!(
            e.to_string(),
            "invalid argument `user_id`: must be a user's object ID (a GUID) or user principal name \
             such as adele@contoso.com or adele_fabrikam.com#EXT#@contoso.onmicrosoft.com",
            "{bad}"
        );
    }
}

#[test]
fn method_the_variant_does_not_support_is_refused_naming_both() {
    let e = err("users.list_users", "delegated", Arguments::new());
    assert_eq!(e.field(), Some("variant"));
    assert_eq!(
        e.to_string(),
        "method `users.list_users` is not available for the `delegated` variant; \
         variants that support it: application"
    );
}

#[test]
fn unknown_argument_is_refused_listing_the_known_ones() {
    let e = err(
        "mail.list_messages",
        "application",
        Arguments::new()
            .set("user_id", "adele@contoso.com")
            .set("tpo", 5),
    );
    assert_eq!(e.field(), Some("tpo"));
    assert_eq!(
        e.to_string(),
        "invalid argument `tpo`: is not a parameter of method `mail.list_messages`; \
         its parameters are: user_id, top, filter, count, select, prefer"
    );
}

#[test]
fn null_counts_as_not_given_outside_the_body() {
    let req = ok(
        "mail.list_messages",
        "delegated",
        args(json!({"top": null, "filter": null})),
    );
    assert_eq!(
        req.url.as_str(),
        "https://graph.microsoft.com/v1.0/me/messages?%24top=10"
    );
}

// --- typed checks ---------------------------------------------------------

#[test]
fn typed_checks_accept_good_values_and_render_them() {
    let req = ok(
        "test.typed",
        "delegated",
        args(json!({
            "n": 42, "slug": "q-plan", "label": "héllo", "ratio": 2.5, "level": "high",
            "tags": ["a", "b"], "words": [1, 2], "kinds": ["b"],
            "when": "2026-11-22T09:00:00.0000000", "id": "6e7b768e-07e2-4810-8459-485f84f8f204",
            "mail": "adele+x@contoso.com", "host": "contoso.sharepoint.com",
            "link": "https://contoso.com/a?b=c", "tenant": "contoso.onmicrosoft.com",
            "who": "adele_fabrikam.com#EXT#@contoso.onmicrosoft.com", "filter": {"a": [1, true]}
        })),
    );
    assert_eq!(
        req.url.as_str(),
        "https://graph.microsoft.com/v1.0/typed/42?slug=q-plan&label=h%C3%A9llo&ratio=2.5&level=high\
         &tags=a&tags=b&words=1+2&kinds=b&when=2026-11-22T09%3A00%3A00.0000000\
         &id=6e7b768e-07e2-4810-8459-485f84f8f204&mail=adele%2Bx%40contoso.com\
         &host=contoso.sharepoint.com&link=https%3A%2F%2Fcontoso.com%2Fa%3Fb%3Dc\
         &tenant=contoso.onmicrosoft.com&who=adele_fabrikam.com%23EXT%23%40contoso.onmicrosoft.com\
         &filter=%7B%22a%22%3A%5B1%2Ctrue%5D%7D"
    );
}

#[test]
fn typed_checks_refuse_bad_values_naming_the_parameter_and_what_is_allowed() {
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"n": "42"}),
            "n",
            "must be an integer (a JSON number without a fraction)",
        ),
        (
            json!({"n": 4.5}),
            "n",
            "must be an integer (a JSON number without a fraction)",
        ),
        (json!({"n": -1}), "n", "must be at least 0"),
        (
            json!({"n": 1, "slug": "Q1"}),
            "slug",
            "must match the pattern `[a-z]+(-[a-z]+)*`",
        ),
        (
            json!({"n": 1, "slug": "ab-cd-"}),
            "slug",
            "must match the pattern `[a-z]+(-[a-z]+)*`",
        ),
        (json!({"n": 1, "slug": 5}), "slug", "must be a string"),
        (
            json!({"n": 1, "label": "a"}),
            "label",
            "must have between 2 and 5 characters",
        ),
        (
            json!({"n": 1, "label": "abcdef"}),
            "label",
            "must have between 2 and 5 characters",
        ),
        (
            json!({"n": 1, "ratio": 0.25}),
            "ratio",
            "must be between 0.5 and 2.5",
        ),
        (json!({"n": 1, "ratio": "1"}), "ratio", "must be a number"),
        (
            json!({"n": 1, "level": "mid"}),
            "level",
            "must be one of: \"low\", \"high\"",
        ),
        (
            json!({"n": 1, "tags": []}),
            "tags",
            "must have between 1 and 3 items",
        ),
        (
            json!({"n": 1, "tags": ["a", "b", "c", "d"]}),
            "tags",
            "must have between 1 and 3 items",
        ),
        (
            json!({"n": 1, "tags": "a"}),
            "tags",
            "must be an array whose items are each of type string",
        ),
        (
            json!({"n": 1, "tags": ["a", 1]}),
            "tags[1]",
            "must be a string",
        ),
        (
            json!({"n": 1, "tags": ["a", "B"]}),
            "tags[1]",
            "must match the pattern `[a-z]+`",
        ),
        (
            json!({"n": 1, "words": [1, "2"]}),
            "words[1]",
            "must be an integer (a JSON number without a fraction)",
        ),
        (
            json!({"n": 1, "kinds": ["a", "c"]}),
            "kinds[1]",
            "must be one of: \"a\", \"b\"",
        ),
        (
            json!({"n": 1, "when": "2026-11-22"}),
            "when",
            "must be an ISO 8601 / RFC 3339 date and time such as 2026-11-22T09:00:00Z, \
          2026-11-22T09:00:00+01:00 or 2026-11-22T09:00:00.0000000",
        ),
        (
            json!({"n": 1, "when": "2026-02-30T09:00:00Z"}),
            "when",
            "must be an ISO 8601 / RFC 3339 date and time such as 2026-11-22T09:00:00Z, \
          2026-11-22T09:00:00+01:00 or 2026-11-22T09:00:00.0000000",
        ),
        (
            json!({"n": 1, "id": "not-a-guid"}),
            "id",
            "must be a GUID such as 6e7b768e-07e2-4810-8459-485f84f8f204",
        ),
        (
            json!({"n": 1, "mail": "adele"}),
            "mail",
            "must be an e-mail address such as adele@contoso.com",
        ),
        (
            json!({"n": 1, "host": "bad host"}),
            "host",
            "must be a DNS host name such as graph.microsoft.com",
        ),
        (
            json!({"n": 1, "link": "/relative"}),
            "link",
            "must be an absolute http or https URL",
        ),
        (
            json!({"n": 1, "tenant": "common"}),
            "tenant",
            "must be a directory (tenant) ID GUID or a domain name such as contoso.onmicrosoft.com \
          (not common, organizations or consumers)",
        ),
        (
            json!({"n": 1, "filter": [1]}),
            "filter",
            "must be a JSON object",
        ),
        (
            json!({"n": true}),
            "n",
            "must be an integer (a JSON number without a fraction)",
        ),
    ];
    for (values, field, allowed) in cases {
        let e = err("test.typed", "delegated", args(values.clone()));
        assert_eq!(e.field(), Some(field), "{values}");
        assert_eq!(
            e.to_string(),
            format!("invalid argument `{field}`: {allowed}"),
            "{values}"
        );
    }
}

#[test]
fn boolean_must_be_a_json_boolean() {
    let e = err(
        "mail.list_messages",
        "delegated",
        args(json!({"count": "true"})),
    );
    assert_eq!(
        e.to_string(),
        "invalid argument `count`: must be true or false"
    );
}

// --- query ------------------------------------------------------------------

#[test]
fn query_uses_wire_names_json_text_and_comma_joined_arrays() {
    let req = ok(
        "mail.list_messages",
        "delegated",
        args(json!({
            "top": 25, "count": true, "select": ["id", "subject"],
            "filter": "from/emailAddress/address eq 'a&b@contoso.com' and isRead eq false"
        })),
    );
    assert_eq!(
        req.url.as_str(),
        "https://graph.microsoft.com/v1.0/me/messages?%24top=25\
         &%24filter=from%2FemailAddress%2Faddress+eq+%27a%26b%40contoso.com%27+and+isRead+eq+false\
         &%24count=true&%24select=id%2Csubject"
    );
    let pairs: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
    assert_eq!(
        pairs[1],
        (
            "$filter".to_owned(),
            "from/emailAddress/address eq 'a&b@contoso.com' and isRead eq false".to_owned()
        )
    );
}

#[test]
fn date_times_are_sent_as_given() {
    let req = ok(
        "calendars.calendar_view",
        "delegated",
        args(json!({"start": "2026-11-22T09:00:00Z", "end": "2026-11-22T17:30:00.0000000"})),
    );
    assert_eq!(
        req.url.as_str(),
        "https://graph.microsoft.com/v1.0/me/calendarView\
         ?startDateTime=2026-11-22T09%3A00%3A00Z&endDateTime=2026-11-22T17%3A30%3A00.0000000"
    );
    let e = err(
        "calendars.calendar_view",
        "delegated",
        args(json!({"start": "2026-11-22T09:00:00Z"})),
    );
    assert_eq!(
        e.to_string(),
        "invalid argument `end`: is required but was not given"
    );
}

#[test]
fn base_url_path_is_kept_with_or_without_a_trailing_slash() {
    let def = connector();
    for (base, expected) in [
        (
            "https://graph.microsoft.com/v1.0/",
            "https://graph.microsoft.com/v1.0/users",
        ),
        (
            "https://graph.microsoft.com/beta",
            "https://graph.microsoft.com/beta/users",
        ),
        (
            "https://graph.microsoft.com",
            "https://graph.microsoft.com/users",
        ),
        (
            "http://127.0.0.1:8080/graph/v1.0",
            "http://127.0.0.1:8080/graph/v1.0/users",
        ),
    ] {
        let req = try_render_with_base(
            &def,
            base,
            "users.list_users",
            "application",
            &Arguments::new(),
        )
        .unwrap();
        assert_eq!(req.url.as_str(), expected);
    }
}

// --- headers ------------------------------------------------------------------

#[test]
fn headers_layer_connector_defaults_then_method_headers_then_parameters() {
    let req = ok("mail.list_messages", "delegated", Arguments::new());
    assert_eq!(
        headers(&req),
        vec![
            ("accept".to_owned(), "application/json".to_owned()),
            (
                "prefer".to_owned(),
                "outlook.body-content-type=\"text\"".to_owned()
            ),
        ]
    );
    let req = ok(
        "mail.list_messages",
        "delegated",
        Arguments::new().set("prefer", "outlook.timezone=\"W. Europe Standard Time\""),
    );
    assert_eq!(
        headers(&req),
        vec![
            ("accept".to_owned(), "application/json".to_owned()),
            (
                "prefer".to_owned(),
                "outlook.timezone=\"W. Europe Standard Time\"".to_owned()
            ),
        ]
    );
    let req = ok(
        "users.list_users",
        "application",
        Arguments::new().set("consistency_level", "eventual"),
    );
    assert_eq!(
        headers(&req),
        vec![
            ("accept".to_owned(), "application/json".to_owned()),
            ("prefer".to_owned(), "connector-default".to_owned()),
            ("consistencylevel".to_owned(), "eventual".to_owned()),
        ]
    );
}

#[test]
fn header_values_with_line_breaks_are_refused() {
    for bad in ["a\r\nAuthorization: Bearer x", "a\nb", "a\rb", "tab\u{7f}"] {
        let e = err(
            "mail.list_messages",
            "delegated",
            Arguments::new().set("prefer", bad),
        );
        assert_eq!(
            e.to_string(),
            "invalid argument `prefer`: must be a valid header value: visible ASCII characters and \
             spaces only, no line breaks or other control characters"
        );
    }
}

// --- body -----------------------------------------------------------------------

#[test]
fn body_parameters_become_fields_of_one_object_under_their_wire_names() {
    let req = ok(
        "mail.send_mail",
        "application",
        args(json!({
            "user_id": "6e7b768e-07e2-4810-8459-485f84f8f204",
            "message": {"subject": "Hi", "toRecipients": []},
            "save_to_sent_items": false,
            "categories": null
        })),
    );
    assert_eq!(req.method, Method::POST);
    assert_eq!(
        req.url.as_str(),
        "https://graph.microsoft.com/v1.0/users/6e7b768e-07e2-4810-8459-485f84f8f204/sendMail"
    );
    assert_eq!(
        req.body,
        RequestBody::Json(json!({
            "message": {"subject": "Hi", "toRecipients": []},
            "saveToSentItems": false,
            "categories": null
        }))
    );
    let e = err("mail.send_mail", "delegated", Arguments::new());
    assert_eq!(
        e.to_string(),
        "invalid argument `message`: is required but was not given"
    );
}

#[test]
fn payload_is_the_whole_json_body() {
    let event =
        json!({"subject": "Plan", "start": {"dateTime": "2026-11-22T09:00:00", "timeZone": "UTC"}});
    let req = ok(
        "calendars.create_event",
        "delegated",
        Arguments::new().set("event", event.clone()),
    );
    assert_eq!(
        req.url.as_str(),
        "https://graph.microsoft.com/v1.0/me/events"
    );
    assert_eq!(req.body, RequestBody::Json(event));
}

#[test]
fn binary_payload_comes_from_content_only() {
    let req = ok(
        "onedrive.upload",
        "delegated",
        Arguments::new()
            .set("item_path", "/Reports/2026/Q1 plan.docx")
            .with_content(&b"\x00\x01hello"[..]),
    );
    assert_eq!(req.method, Method::PUT);
    assert_eq!(
        req.url.as_str(),
        "https://graph.microsoft.com/v1.0/me/drive/root:/Reports/2026/Q1%20plan.docx:/content"
    );
    assert_eq!(
        req.body,
        RequestBody::Bytes {
            content: bytes::Bytes::from_static(b"\x00\x01hello"),
            content_type: "application/octet-stream".to_owned()
        }
    );

    let e = err(
        "onedrive.upload",
        "delegated",
        Arguments::new().set("item_path", "a.txt"),
    );
    assert_eq!(
        e.to_string(),
        "invalid argument `content`: is required: pass the content with Arguments::with_content"
    );
    let e = err(
        "onedrive.upload",
        "delegated",
        Arguments::new()
            .set("item_path", "a.txt")
            .set("content", "hello"),
    );
    assert_eq!(
        e.to_string(),
        "invalid argument `content`: is binary content: pass it with Arguments::with_content, \
         not as a named value"
    );
    let e = err(
        "calendars.create_event",
        "delegated",
        Arguments::new()
            .set("event", json!({}))
            .with_content(&b"x"[..]),
    );
    assert_eq!(
        e.to_string(),
        "invalid argument `content`: method `calendars.create_event` takes no binary content"
    );
}

#[test]
fn binary_content_is_bounded_in_bytes_by_minimum_and_maximum() {
    let upload = |content: &'static [u8]| {
        try_render(
            "onedrive.upload",
            "delegated",
            Arguments::new()
                .set("item_path", "a.bin")
                .with_content(content),
        )
    };
    assert!(upload(&[0u8; 16]).is_ok(), "exactly the maximum is allowed");
    assert!(upload(&[0u8; 1]).is_ok(), "exactly the minimum is allowed");
    let e = upload(&[0u8; 17]).unwrap_err();
    assert_eq!(e.field(), Some("content"));
    assert_eq!(
        e.to_string(),
        "invalid argument `content`: is 17 bytes; `onedrive.upload` takes at most 16 bytes. \
         Larger files go through an upload session."
    );
    let e = upload(b"").unwrap_err();
    assert!(
        e.to_string()
            .contains("is 0 bytes; `onedrive.upload` takes at least 1 bytes"),
        "{e}"
    );
    let def = connector();
    assert_eq!(
        def.method("onedrive.upload").unwrap().content_limit(),
        Some(16)
    );
    assert_eq!(
        def.method("calendars.create_event")
            .unwrap()
            .content_limit(),
        None
    );
}

// --- path segments ------------------------------------------------------------------

#[test]
fn path_segment_refuses_what_graph_would_decode_into_structure() {
    let cases = [
        (
            "a/b",
            "the value contains `/`; it must not contain `/`, `\\`, `?`, `#`, `%` or control characters",
        ),
        (
            "a%2Fb",
            "the value contains `%`; it must not contain `/`, `\\`, `?`, `#`, `%` or control characters",
        ),
        (
            "a\\b",
            "the value contains `\\`; it must not contain `/`, `\\`, `?`, `#`, `%` or control characters",
        ),
        (
            "a?b=c",
            "the value contains `?`; it must not contain `/`, `\\`, `?`, `#`, `%` or control characters",
        ),
        (
            "a#b",
            "the value contains `#`; it must not contain `/`, `\\`, `?`, `#`, `%` or control characters",
        ),
        (
            "a\u{0}b",
            "the value contains control character U+0000; it must not contain `/`, `\\`, `?`, `#`, `%` or control characters",
        ),
        (
            "a\nb",
            "the value contains control character U+000A; it must not contain `/`, `\\`, `?`, `#`, `%` or control characters",
        ),
        (
            "a\u{85}b",
            "the value contains control character U+0085; it must not contain `/`, `\\`, `?`, `#`, `%` or control characters",
        ),
        ("", "the value must not be empty"),
        (".", "the value must not be `.` or `..`"),
        ("..", "the value must not be `.` or `..`"),
    ];
    for (value, allowed) in cases {
        let e = err(
            "test.get_thing",
            "delegated",
            Arguments::new().set("thing_id", value),
        );
        assert_eq!(e.field(), Some("thing_id"), "{value:?}");
        assert_eq!(
            e.to_string(),
            format!("invalid argument `thing_id`: {allowed}"),
            "{value:?}"
        );
    }
}

#[test]
fn path_segment_encodes_everything_else() {
    let req = ok(
        "test.get_thing",
        "delegated",
        Arguments::new().set("thing_id", "AAMkAG=+ é'()...:;@!"),
    );
    assert_eq!(
        req.url.as_str(),
        "https://graph.microsoft.com/v1.0/things/AAMkAG=%2B%20%C3%A9%27%28%29...%3A;@!/children"
    );
}

#[test]
fn path_segments_style_checks_each_part() {
    let req = ok(
        "test.get_file",
        "delegated",
        Arguments::new().set("file_path", "a b/c#d.txt".replace('#', "-")),
    );
    assert_eq!(
        req.url.as_str(),
        "https://graph.microsoft.com/v1.0/files/a%20b/c-d.txt/meta"
    );
    let cases = [
        (
            "a//b",
            "each `/`-separated part of the path must not be empty",
        ),
        (
            "a/",
            "each `/`-separated part of the path must not be empty",
        ),
        (
            "a/../b",
            "each `/`-separated part of the path must not be `.` or `..`",
        ),
        (
            "./a",
            "each `/`-separated part of the path must not be `.` or `..`",
        ),
        (
            "a/b%2Fc",
            "each `/`-separated part of the path contains `%`; it must not contain `\\`, `?`, `#`, `%`, `:` or control characters",
        ),
        (
            "a/b?c",
            "each `/`-separated part of the path contains `?`; it must not contain `\\`, `?`, `#`, `%`, `:` or control characters",
        ),
        (
            "a/b#c",
            "each `/`-separated part of the path contains `#`; it must not contain `\\`, `?`, `#`, `%`, `:` or control characters",
        ),
        (
            "a\\b",
            "each `/`-separated part of the path contains `\\`; it must not contain `\\`, `?`, `#`, `%`, `:` or control characters",
        ),
        (
            "a:b",
            "each `/`-separated part of the path contains `:`; it must not contain `\\`, `?`, `#`, `%`, `:` or control characters",
        ),
    ];
    for (value, allowed) in cases {
        let e = err(
            "test.get_file",
            "delegated",
            Arguments::new().set("file_path", value),
        );
        assert_eq!(
            e.to_string(),
            format!("invalid argument `file_path`: {allowed}"),
            "{value:?}"
        );
    }
}

#[test]
fn path_parameter_must_be_a_single_value() {
    let e = err("test.typed", "delegated", args(json!({"n": 1.5})));
    assert_eq!(e.field(), Some("n"));
}

// --- properties -----------------------------------------------------------------------

/// Strings built from the pieces that break naive path building, mixed with
/// arbitrary text.
fn nasty() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("/".to_owned()),
        Just("%2F".to_owned()),
        Just("%2f".to_owned()),
        Just("%2e".to_owned()),
        Just("%".to_owned()),
        Just("..".to_owned()),
        Just(".".to_owned()),
        Just("?".to_owned()),
        Just("#".to_owned()),
        Just("#EXT#".to_owned()),
        Just("\\".to_owned()),
        Just(":".to_owned()),
        Just("@".to_owned()),
        Just("&".to_owned()),
        Just("=".to_owned()),
        Just("+".to_owned()),
        Just(" ".to_owned()),
        Just("\u{0}".to_owned()),
        Just("\r\n".to_owned()),
        Just("\u{202e}".to_owned()),
        Just("é".to_owned()),
        Just("🙂".to_owned()),
        "[a-zA-Z0-9_.-]{1,6}",
        any::<char>().prop_map(String::from),
    ];
    prop_oneof![
        3 => prop::collection::vec(piece, 0..10).prop_map(|v| v.concat()),
        1 => any::<String>(),
    ]
}

fn segments(url: &Url) -> Vec<String> {
    url.path_segments().unwrap().map(str::to_owned).collect()
}

fn decode(segment: &str) -> String {
    percent_decode_str(segment)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

/// The URL survives serialisation and re-parsing unchanged (what reqwest sends).
fn reparses_identically(url: &Url) -> bool {
    Url::parse(url.as_str()).is_ok_and(|again| &again == url && segments(&again) == segments(url))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn segment_value_never_changes_the_path_shape(value in nasty()) {
        match try_render("test.get_thing", "delegated", Arguments::new().set("thing_id", value.clone()).set("flag", true)) {
            Err(e) => {
                prop_assert_eq!(e.kind(), ErrorKind::InvalidArgument);
                prop_assert_eq!(e.field(), Some("thing_id"));
            }
            Ok(req) => {
                let segs = segments(&req.url);
                prop_assert_eq!(segs.len(), 4, "{}", req.url);
                prop_assert_eq!(&segs[0], "v1.0");
                prop_assert_eq!(&segs[1], "things");
                prop_assert_eq!(&segs[3], "children");
                prop_assert_eq!(decode(&segs[2]), value);
                prop_assert_eq!(req.url.query(), Some("flag=true"));
                prop_assert_eq!(req.url.fragment(), None);
                prop_assert!(reparses_identically(&req.url));
            }
        }
    }

    #[test]
    fn user_id_value_never_changes_the_path_shape(value in nasty()) {
        match try_render("mail.list_messages", "application", Arguments::new().set("user_id", value.clone())) {
            Err(e) => prop_assert_eq!(e.field(), Some("user_id")),
            Ok(req) => {
                let segs = segments(&req.url);
                prop_assert_eq!(segs.len(), 4, "{}", req.url);
                prop_assert_eq!(&segs[1], "users");
                prop_assert_eq!(&segs[3], "messages");
                prop_assert_eq!(decode(&segs[2]), value);
                prop_assert_eq!(req.url.query(), Some("%24top=10"));
                prop_assert_eq!(req.url.fragment(), None);
                prop_assert!(reparses_identically(&req.url));
            }
        }
    }

    #[test]
    fn user_id_like_values_round_trip(local in "[a-z0-9._#!'^~-]{1,20}", domain in "[a-z]{1,10}\\.(com|onmicrosoft\\.com)") {
        let value = format!("{local}@{domain}");
        if let Ok(req) = try_render("mail.list_messages", "application", Arguments::new().set("user_id", value.clone())) {
            let segs = segments(&req.url);
            prop_assert_eq!(segs.len(), 4);
            prop_assert_eq!(decode(&segs[2]), value);
            prop_assert_eq!(req.url.fragment(), None);
        }
    }

    #[test]
    fn segments_value_keeps_its_own_segment_count(value in nasty()) {
        match try_render("test.get_file", "delegated", Arguments::new().set("file_path", value.clone())) {
            Err(e) => {
                prop_assert_eq!(e.kind(), ErrorKind::InvalidArgument);
                prop_assert_eq!(e.field(), Some("file_path"));
            }
            Ok(req) => {
                let parts: Vec<&str> = value.strip_prefix('/').unwrap_or(&value).split('/').collect();
                let segs = segments(&req.url);
                prop_assert_eq!(segs.len(), parts.len() + 3, "{}", req.url);
                prop_assert_eq!(&segs[0], "v1.0");
                prop_assert_eq!(&segs[1], "files");
                prop_assert_eq!(segs.last().map(String::as_str), Some("meta"));
                for (seg, part) in segs[2..segs.len() - 1].iter().zip(&parts) {
                    prop_assert_eq!(&decode(seg), part);
                }
                prop_assert_eq!(req.url.query(), None);
                prop_assert_eq!(req.url.fragment(), None);
                prop_assert!(reparses_identically(&req.url));
            }
        }
    }

    #[test]
    fn query_value_never_leaves_its_pair(value in nasty()) {
        let req = try_render(
            "test.get_thing",
            "delegated",
            Arguments::new().set("thing_id", "t1").set("search", value.clone()),
        ).unwrap();
        prop_assert_eq!(segments(&req.url), vec!["v1.0", "things", "t1", "children"]);
        let pairs: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
        prop_assert_eq!(pairs, vec![("$search".to_owned(), value)]);
        prop_assert_eq!(req.url.fragment(), None);
        prop_assert!(reparses_identically(&req.url));
    }
}

#[test]
fn good_values_do_render_so_the_properties_are_not_vacuous() {
    for value in ["AAMkAGI2", "a b", "é🙂", "x..y", "...", "a+b=c&d"] {
        let req = ok(
            "test.get_thing",
            "delegated",
            Arguments::new().set("thing_id", value),
        );
        assert_eq!(decode(&segments(&req.url)[2]), value);
    }
}

// --- inconsistent definitions -----------------------------------------------------

#[test]
fn principal_path_without_a_variant_principal_is_a_definition_error() {
    let mut def = connector();
    def.auth_variants[0].principal = None;
    let e = try_render_with_base(
        &def,
        "https://graph.microsoft.com/v1.0",
        "mail.list_messages",
        "delegated",
        &Arguments::new(),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidDefinition);
    assert_eq!(
        e.to_string(),
        "method `mail.list_messages` acts as a principal, but the `delegated` variant defines none"
    );
}

#[test]
fn body_fields_and_payload_together_are_a_definition_error() {
    let mut def = connector();
    let extra = def.method("calendars.create_event").unwrap().parameters[0].clone();
    let send = def
        .methods
        .iter_mut()
        .find(|m| m.id == "mail.send_mail")
        .unwrap();
    send.parameters.push(extra);
    let e = try_render_with_base(
        &def,
        "https://graph.microsoft.com/v1.0",
        "mail.send_mail",
        "delegated",
        &args(json!({"message": {}, "event": {}})),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidDefinition);
    assert_eq!(
        e.to_string(),
        "method `mail.send_mail` declares both body fields and a whole-body payload"
    );
}

#[test]
fn optional_body_fields_alone_still_send_an_object() {
    let mut def = connector();
    let send = def
        .methods
        .iter_mut()
        .find(|m| m.id == "mail.send_mail")
        .unwrap();
    send.parameters[0].required = false;
    let req = try_render_with_base(
        &def,
        "https://graph.microsoft.com/v1.0",
        "mail.send_mail",
        "delegated",
        &Arguments::new(),
    )
    .unwrap();
    assert_eq!(req.body, RequestBody::Json(json!({})));
}

#[test]
fn a_method_with_more_parameters_than_kept_on_the_stack_renders_each_in_place() {
    // 40 query parameters (more than the 32 slots a call keeps on the stack),
    // declared in reverse name order, plus body fields
    let mut def = connector();
    let mut method = def.method("mail.list_messages").unwrap().clone();
    method.id = "mail.many".into();
    let mut parameters: Vec<Value> = (0..40)
        .rev()
        .map(|i| json!({"name": format!("q{i:02}"), "in": "query", "type": "integer"}))
        .collect();
    parameters.push(json!({"name": "note", "in": "body", "type": "string"}));
    method.parameters = serde_json::from_value(Value::Array(parameters)).unwrap();
    method.http_method = serde_json::from_value(json!("POST")).unwrap();
    def.methods.push(method);
    let render = |a: Arguments| {
        let base = def.base_url.clone();
        try_render_with_base(&def, &base, "mail.many", "delegated", &a)
    };
    let req = render(
        Arguments::new()
            .set("q00", 1)
            .set("q31", 31)
            .set("q32", 32)
            .set("q39", 39)
            .set("note", "hi"),
    )
    .unwrap();
    assert_eq!(
        req.url.as_str(),
        "https://graph.microsoft.com/v1.0/me/messages?q39=39&q32=32&q31=31&q00=1"
    );
    assert_eq!(req.body, RequestBody::Json(json!({"note": "hi"})));
    let e = render(Arguments::new().set("q40", 1)).unwrap_err();
    assert_eq!(e.field(), Some("q40"));
}
