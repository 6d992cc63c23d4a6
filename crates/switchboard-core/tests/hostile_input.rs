//! Hostile input for everything the core parses from the network or from
//! stored text: service error bodies, `Retry-After`, `WWW-Authenticate`,
//! `Link`, paging cursors and continuations (token responses, token errors, pending
//! authorizations and callback queries are the OAuth crate's, in its own
//! `tests/hostile_input.rs`).
//!
//! Property tests: no input panics, and what comes out is bounded (a wait
//! never above its cap, a token lifetime clamped, an error message short,
//! free of control characters and of anything that looks like a token).
//! Parsers that have an inverse round-trip. The HTTP targets at the end send
//! hostile answers from a real local server through the engine.
//!
//! Case counts are small so this adds seconds to a test run;
//! `SWITCHBOARD_FUZZ_SCALE=100` multiplies them (see docs/engine.md).

mod support;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use futures::TryStreamExt;
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};
use switchboard_core::InstallationId;
use switchboard_core::connector::DefinitionConnector;
use switchboard_core::engine::classify::parse_remote_details;
use switchboard_core::engine::retry::{MAX_RETRY_AFTER, RetryPolicy, parse_retry_after};
use switchboard_core::headers::challenge::{bearer_params, insufficient_claims};
use switchboard_core::headers::link::{find_rel, next_link};
use switchboard_core::paging::Continuation;
use switchboard_core::untrusted_text::is_unsafe_char;
use switchboard_core::{Arguments, Error, ErrorKind};
use switchboard_hostile::server::{Stage, answer, now};
use switchboard_hostile::text::planted_secret;
use switchboard_hostile::{
    check, config, http as hostile_http, json as hostile_json, mutate, text,
};
use wiremock::ResponseTemplate;

const INST_2: InstallationId = InstallationId::from_u128(2);
const INST_LINKS: InstallationId = InstallationId::from_u128(4);
const INST_CURSOR: InstallationId = InstallationId::from_u128(5);

// ---------------------------------------------------------------------------
// What every error built from remote text must satisfy.

/// The longest Display an error built from a service's answer may have.
/// Our own sentence is at most a few hundred characters; the service's
/// message is cut at 400 and each code or id at 128.
const MAX_ERROR_DISPLAY: usize = 2_000;

/// An error's Display is short, has no control or bidi characters (it may
/// reach a terminal or a log line), and neither it nor Debug contains a
/// planted secret.
fn assert_presentable(err: &Error, secrets: &[&str]) -> Result<(), TestCaseError> {
    check::presentable(&err.to_string(), MAX_ERROR_DISPLAY, is_unsafe_char, secrets)?;
    check::presentable(&format!("{err:?}"), usize::MAX, |_| false, secrets)
}

// ---------------------------------------------------------------------------
// Service error bodies (Graph, OAuth-shaped, `{"message"}`).

const GRAPH_ERROR_FIELDS: &[&str] = &[
    "error",
    "code",
    "message",
    "innerError",
    "innererror",
    "InnerError",
    "request-id",
    "client-request-id",
    "date",
    "error_description",
    "trace_id",
    "correlation_id",
    "timestamp",
    "details",
];

/// A Graph-shaped error: `{"error": {"code", "message", "innerError": {...}}}`
/// with hostile leaves and inner errors nested to any depth.
fn graph_error_body() -> impl Strategy<Value = String> {
    let leaf = || {
        prop_oneof![
            hostile_json::string(),
            hostile_json::value(GRAPH_ERROR_FIELDS)
        ]
    };
    let inner = (leaf(), leaf(), leaf(), 0usize..40).prop_map(|(code, rid, date, depth)| {
        let mut inner = format!(r#"{{"code":{code},"request-id":{rid},"date":{date}}}"#);
        for _ in 0..depth {
            inner = format!(r#"{{"code":{code},"innerError":{inner}}}"#);
        }
        inner
    });
    (leaf(), leaf(), inner).prop_map(|(code, message, inner)| {
        format!(r#"{{"error":{{"code":{code},"message":{message},"innerError":{inner}}}}}"#)
    })
}

proptest! {
    #![proptest_config(config(256))]

    /// Whatever the body, the details are bounded and the error built from
    /// them is presentable.
    #[test]
    fn error_bodies_give_presentable_errors(
        status in 100u16..1000,
        body in prop_oneof![
            3 => graph_error_body().prop_map(String::into_bytes),
            3 => hostile_json::object(GRAPH_ERROR_FIELDS).prop_map(String::into_bytes),
            1 => text::bytes(),
        ],
    ) {
        let details = parse_remote_details(status, &body);
        prop_assert_eq!(details.status, Some(status));
        let err = Error::new(ErrorKind::Remote, "the service refused `m`").with_remote(details);
        assert_presentable(&err, &[])?;
    }

    /// A token planted anywhere a service's text goes never reaches the
    /// error.
    #[test]
    fn tokens_in_error_bodies_are_redacted(
        secret in planted_secret(),
        around in (text::short_text(), text::short_text()),
        field in select(&["code", "message", "request-id", "client-request-id", "date"][..]),
        oauth in any::<bool>(),
    ) {
        let planted = Value::String(format!("{} {secret} {}", around.0, around.1));
        let body = if oauth {
            let field = match field {
                "code" => "error",
                "message" => "error_description",
                "request-id" => "trace_id",
                "client-request-id" => "correlation_id",
                _ => "timestamp",
            };
            let mut body = json!({"error": "invalid_request"});
            body[field] = planted;
            body
        } else if matches!(field, "code" | "message") {
            let mut body = json!({"error": {"code": "c", "message": "m"}});
            body["error"][field] = planted;
            body
        } else {
            let mut body = json!({"error": {"code": "c", "innerError": {}}});
            body["error"]["innerError"][field] = planted;
            body
        };
        let details = parse_remote_details(400, body.to_string().as_bytes());
        let err = Error::new(ErrorKind::Remote, "refused").with_remote(details);
        assert_presentable(&err, &[&secret])?;
    }
}

// ---------------------------------------------------------------------------
// Retry-After.

proptest! {
    #![proptest_config(config(512))]

    /// Any header bytes, any date: no panic, never above the cap, and a
    /// date in the future is honoured to the second.
    #[test]
    fn retry_after_is_bounded(
        value in prop_oneof![
            2 => hostile_http::date(),
            1 => hostile_json::number(),
            1 => text::bytes().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        ],
        now in now(),
    ) {
        let wait = parse_retry_after(&value, now);
        if let Some(wait) = wait {
            prop_assert!(wait <= MAX_RETRY_AFTER);
        }
        if let Ok(when) = httpdate::parse_http_date(value.trim())
            && let Ok(ahead) = when.duration_since(now)
            && !ahead.is_zero()
        {
            prop_assert_eq!(wait, Some(ahead.min(MAX_RETRY_AFTER)));
        }
    }

}

// ---------------------------------------------------------------------------
// WWW-Authenticate.

/// An auth-param name (an RFC 9110 token).
fn param_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}"
}

/// A header value carrying `params` in a Bearer challenge, with other
/// schemes before and after, values quoted (with escapes) or bare.
fn challenge(params: &[(String, String)], quote_all: bool, others: (bool, bool)) -> String {
    let mut parts = Vec::new();
    for (name, value) in params {
        let bare = !quote_all
            && !value.is_empty()
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+.^_`|~-".contains(c));
        if bare {
            parts.push(format!("{name}={value}"));
        } else {
            let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
            parts.push(format!("{name}=\"{escaped}\""));
        }
    }
    let mut header = String::new();
    if others.0 {
        header.push_str(r#"Basic realm="a, b=\"c\"", charset="UTF-8", "#);
    }
    header.push_str("Bearer ");
    header.push_str(&parts.join(", "));
    if others.1 {
        header.push_str(r#", Negotiate, Basic realm="after""#);
    }
    header
}

proptest! {
    #![proptest_config(config(512))]

    /// Any text: no panic, no endless loop.
    #[test]
    fn www_authenticate_never_panics(value in prop_oneof![
        text::text(),
        text::near(&[
            r#"Bearer realm="", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnt9fQ==""#,
            r#"Bearer error="invalid_token", error_description="The access token expired""#,
            r#"Basic realm="x", Bearer error="a\"b", claims=plain"#,
        ]),
    ]) {
        let _ = bearer_params(&value);
        let _ = insufficient_claims(&value);
    }

    /// Parameters written into a Bearer challenge come back as written
    /// (names lower-cased), whatever their values hold.
    #[test]
    fn www_authenticate_round_trips(
        params in proptest::collection::vec((param_name(), text::short_text()), 0..6),
        quote_all in any::<bool>(),
        others in (any::<bool>(), any::<bool>()),
    ) {
        let header = challenge(&params, quote_all, others);
        let expected: Vec<(String, String)> = params
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        prop_assert_eq!(bearer_params(&header), expected, "{}", header);
    }

    /// An `insufficient_claims` challenge gives back the claims, whichever
    /// base64 alphabet encoded them.
    #[test]
    fn claims_challenges_round_trip(claims in hostile_json::value(&["access_token", "nbf", "essential", "value"]), url_safe in any::<bool>()) {
        let encoded = if url_safe { URL_SAFE_NO_PAD.encode(&claims) } else { STANDARD.encode(&claims) };
        let header = challenge(
            &[("error".into(), "insufficient_claims".into()), ("claims".into(), encoded)],
            true,
            (false, false),
        );
        prop_assert_eq!(insufficient_claims(&header), Some(claims).filter(|c| !c.is_empty()));
    }
}

// ---------------------------------------------------------------------------
// Link.

/// A link target: any text without `>` and without surrounding spaces.
fn link_target() -> impl Strategy<Value = String> {
    text::text().prop_map(|t| t.replace('>', "").trim().to_string())
}

/// A link parameter: name and value (quoted or not when it can be).
fn link_param() -> impl Strategy<Value = (String, String)> {
    (
        select(&["title", "type", "hreflang", "anchor", "x-odd"][..]).prop_map(str::to_string),
        text::short_text(),
    )
}

fn link_value(target: &str, rel: &str, params: &[(String, String)]) -> String {
    let mut out = format!("<{target}>");
    for (name, value) in params {
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
        out.push_str(&format!("; {name}=\"{escaped}\""));
    }
    out.push_str(&format!("; rel=\"{rel}\""));
    out
}

proptest! {
    #![proptest_config(config(512))]

    /// Any text: no panic.
    #[test]
    fn link_never_panics(value in prop_oneof![
        text::text(),
        text::near(&[
            r#"<https://api.github.com/user/repos?page=2>; rel="next", <https://api.github.com/user/repos?page=9>; rel="last""#,
            r#"</a>; title="x, \"y\"; z"; rel="prev", </b>; rel=next"#,
        ]),
    ]) {
        let _ = find_rel(&value, "next");
    }

    /// Several lines of bytes: no panic; values that are not text are skipped.
    #[test]
    fn link_header_lines_never_panic(lines in proptest::collection::vec(text::bytes(), 0..4)) {
        let mut headers = HeaderMap::new();
        for line in &lines {
            if let Ok(value) = HeaderValue::from_bytes(line) {
                headers.append(http::header::LINK, value);
            }
        }
        let _ = next_link(&headers);
    }

    /// The first link whose rel includes `next` is found, whatever the
    /// other links and the parameters' quoted values hold.
    #[test]
    fn link_round_trips(
        before in proptest::collection::vec((link_target(), select(&["prev", "last", "first", "nextish"][..]), proptest::collection::vec(link_param(), 0..3)), 0..4),
        target in link_target(),
        rel in select(&["next", "NEXT", "last next", "next prev"][..]),
        params in proptest::collection::vec(link_param(), 0..3),
        after in proptest::collection::vec((link_target(), proptest::collection::vec(link_param(), 0..3)), 0..3),
    ) {
        let mut values: Vec<String> = before.iter().map(|(t, r, p)| link_value(t, r, p)).collect();
        values.push(link_value(&target, rel, &params));
        values.extend(after.iter().map(|(t, p)| link_value(t, "next", p)));
        let header = values.join(", ");
        prop_assert_eq!(find_rel(&header, "next"), Some(target), "{}", header);
    }
}

// ---------------------------------------------------------------------------
// Hostile answers from a real local server, through the engine and the
// OAuth client.

/// One server for every case of the HTTP targets (each case sets the
/// answer, sends, and reads how many requests arrived), and an engine that
/// never retries (no waits) and gives up on a silent server after 30
/// seconds rather than hanging the test.
fn stage() -> &'static (Stage, switchboard_core::Engine) {
    static STAGE: OnceLock<(Stage, switchboard_core::Engine)> = OnceLock::new();
    STAGE.get_or_init(|| {
        let mut registry = support::registry();
        registry
            .register(Arc::new(DefinitionConnector::new(link_connector())))
            .unwrap();
        registry
            .register(Arc::new(DefinitionConnector::new(cursor_connector())))
            .unwrap();
        let engine = switchboard_core::Engine::builder(registry)
            .retry_policy(RetryPolicy::never())
            .read_timeout(Some(Duration::from_secs(30)))
            .build()
            .unwrap();
        (Stage::start(), engine)
    })
}

proptest! {
    #![proptest_config(config(96))]

    /// Whatever a service answers (status, headers, body), a call ends in
    /// a value or an error that is presentable, carries a bounded wait and
    /// no token planted in the answer, after a bounded number of requests.
    #[test]
    fn engine_survives_hostile_answers(
        answer in answer(prop_oneof![
            graph_error_body().prop_map(String::into_bytes),
            hostile_json::object(GRAPH_ERROR_FIELDS).prop_map(String::into_bytes),
            text::bytes(),
        ]),
        secret in planted_secret(),
    ) {
        let (stage, engine) = stage();
        let mut answer = answer;
        answer.headers.push(("request-id", format!("rid {secret}").into_bytes()));
        stage.answer_with(answer.template());
        let ctx = support::ctx(&stage.server, support::RecordingCredential::new());
        let result = stage.runtime.block_on(
            engine.call(&ctx, "users.get_user", Arguments::new().set("id", "adele")),
        );
        let received = stage.received().len();
        // one attempt, one more after a 401, each following at most 5 redirects
        prop_assert!((1..=12).contains(&received), "{received} requests");
        if let Err(err) = result {
            assert_presentable(&err, &[&secret])?;
            prop_assert!(err.retry_after().is_none_or(|w| w <= MAX_RETRY_AFTER));
            prop_assert!(
                err.status().is_some() || !matches!(err.kind(), ErrorKind::Transport | ErrorKind::Transient),
                "a prompt answer was not read: {}", err
            );
        }
    }

}

// ---------------------------------------------------------------------------
// Continuations: stored by the platform (encrypted), possibly tampered with
// or truncated, then handed back to `Engine::resume`.

const CONTINUATION_FIELDS: &[&str] = &[
    "installation_id",
    "method_id",
    "kind",
    "link",
    "headers",
    "next_page",
    "delta",
    "users.list_users",
    "users.delta_users",
    "mail.send_mail",
    "consistencylevel",
    "content-length",
    "transfer-encoding",
    "host",
    "authorization",
    "connection",
    "expect",
    "http://127.0.0.1:1/v1.0/users",
    "https://graph.microsoft.com/v1.0/users",
    "http://evil.example/v1.0/users",
];

/// The secret part of the seed continuation's link.
const SKIP_TOKEN: &str = "SKIPTOKEN-SECRET";

/// A continuation of `users.list_users` on the stage's server, as stored.
fn seed_continuation() -> Value {
    json!({
        "installation_id": support::INSTALLATION,
        "method_id": "users.list_users",
        "kind": "next_page",
        "link": format!("{}/v1.0/users?$skiptoken={SKIP_TOKEN}", stage().0.server.uri()),
        "headers": [["consistencylevel", "eventual"], ["prefer", "odata.maxpagesize=2"]],
    })
}

/// Header names a tampered continuation may carry: the ones a walk
/// resends, and framing, hop-by-hop and credential headers.
const CONTINUATION_HEADER_NAMES: &[&str] = &[
    "consistencylevel",
    "prefer",
    "accept",
    "content-length",
    "transfer-encoding",
    "host",
    "authorization",
    "proxy-authorization",
    "cookie",
    "connection",
    "expect",
    "te",
    "upgrade",
    "Bad Name",
];

/// A continuation as stored, with its fields chosen among plausible and
/// tampered values: links to other origins, foreign header names.
fn forged_continuation() -> impl Strategy<Value = String> {
    let origin = stage().0.server.uri();
    let port = url::Url::parse(&origin).unwrap().port().unwrap_or(80);
    let links = vec![
        format!("{origin}/v1.0/users?$skiptoken={SKIP_TOKEN}"),
        format!("{origin}/v1.0/users/delta?$deltatoken={SKIP_TOKEN}"),
        format!("{origin}/elsewhere#frag"),
        format!("HTTP://127.0.0.1:{port}/v1.0/users"),
        format!("http://user:pw@127.0.0.1:{port}/v1.0/users"),
        format!("http://localhost:{port}/v1.0/users"),
        format!("http://[::1]:{port}/v1.0/users"),
        "http://127.0.0.1:1/v1.0/users".to_string(),
        "https://graph.microsoft.com/v1.0/users".to_string(),
        "file:///etc/passwd".to_string(),
        "/v1.0/users".to_string(),
        String::new(),
    ];
    let header = (
        prop_oneof![3 => select(CONTINUATION_HEADER_NAMES).prop_map(str::to_string), 1 => text::short_text()],
        prop_oneof![
            select(
                &[
                    "eventual",
                    "100",
                    "chunked",
                    "close",
                    "100-continue",
                    "evil.example",
                    "Basic dTpw"
                ][..]
            )
            .prop_map(str::to_string),
            text::short_text(),
        ],
    );
    (
        prop_oneof![2 => Just(links[0].clone()), 1 => select(links)],
        proptest::collection::vec(header, 0..4),
        prop_oneof![
            4 => Just(support::INSTALLATION.to_string()),
            1 => select(vec![INST_2.to_string(), String::new(), "inst-1".to_string()]),
        ],
        prop_oneof![
            4 => Just("users.list_users"),
            1 => select(&["users.delta_users", "mail.send_mail", "users.get_me", "nope"][..]),
        ],
        select(&["next_page", "delta"][..]),
    )
        .prop_map(|(link, headers, installation, method, kind)| {
            json!({"installation_id": installation, "method_id": method, "kind": kind, "link": link, "headers": headers})
                .to_string()
        })
}

fn stored_continuation() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => forged_continuation(),
        3 => mutate::mutated(seed_continuation(), CONTINUATION_FIELDS, 4).prop_map(|v| v.to_string()),
        1 => hostile_json::object(CONTINUATION_FIELDS),
        1 => (Just(seed_continuation().to_string()), any::<prop::sample::Index>()).prop_map(|(text, at)| {
            text[..text::floor_char_boundary(&text, at.index(text.len()))].to_string()
        }),
    ]
}

proptest! {
    #![proptest_config(config(128))]

    /// A stored continuation parses or fails cleanly; what parses
    /// round-trips and never shows its link in Debug.
    #[test]
    fn stored_continuations_round_trip(stored in stored_continuation()) {
        if let Ok(continuation) = serde_json::from_str::<Continuation>(&stored) {
            let again: Continuation = serde_json::from_str(&serde_json::to_string(&continuation).unwrap()).unwrap();
            prop_assert_eq!(&again, &continuation);
            let shown = format!("{continuation:?}");
            let named = format!("{} {}", continuation.installation_id(), continuation.method_id());
            if continuation.expose_link().contains(SKIP_TOKEN) && !named.contains(SKIP_TOKEN) && !stored_header_names(&stored).contains(SKIP_TOKEN) {
                prop_assert!(!shown.contains(SKIP_TOKEN), "{}", shown);
            }
        }
    }

    /// Resuming a tampered continuation sends at most one request, only to
    /// the installation's own origin, and only with the headers a walk
    /// resends; anything else is refused before sending.
    #[test]
    fn tampered_continuations_resume_safely(stored in stored_continuation()) {
        let Ok(continuation) = serde_json::from_str::<Continuation>(&stored) else {
            return Ok(());
        };
        let (stage, engine) = stage();
        stage.answer_with(ResponseTemplate::new(200).set_body_json(json!({"value": [{"id": "1"}]})));
        let ctx = support::ctx(&stage.server, support::RecordingCredential::new());
        let first = stage.runtime.block_on(async {
            engine.resume(&ctx, &continuation).with_max_pages(1).try_next().await
        });
        let received = stage.received();
        prop_assert!(received.len() <= 1);
        let link = url::Url::parse(continuation.expose_link()).ok();
        let same_origin = link.as_ref().is_some_and(|l| l.origin() == url::Url::parse(&stage.server.uri()).unwrap().origin());
        if !same_origin || continuation.installation_id() != support::INSTALLATION {
            prop_assert!(received.is_empty(), "sent to {:?}", received.first().map(|r| r.url.to_string()));
            prop_assert!(first.is_err());
        }
        if let Some(request) = received.first() {
            prop_assert_eq!(request.method.as_str(), "GET");
            for name in ["content-length", "transfer-encoding", "cookie", "expect", "connection", "te", "upgrade"] {
                prop_assert!(!request.headers.contains_key(name), "{} was sent", name);
            }
            let host = request.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or_default();
            prop_assert!(host.starts_with("127.0.0.1:"), "Host: {}", host);
            prop_assert_eq!(request.headers.get("authorization").map(|v| v.to_str().unwrap_or_default()), Some("Bearer tok-1"));
        }
        if let Err(err) = first {
            assert_presentable(&err, &[SKIP_TOKEN])?;
            prop_assert!(!matches!(err.kind(), ErrorKind::Transport | ErrorKind::Transient), "a prompt answer timed out: {}", err);
        }
    }
}

/// The header names of a stored continuation, when it has any.
fn stored_header_names(stored: &str) -> String {
    serde_json::from_str::<Value>(stored)
        .ok()
        .and_then(|v| v.get("headers").cloned())
        .map(|h| h.to_string())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// `Link: <...>; rel="next"` paging with hostile targets.

/// A connector whose listing pages by `Link` headers (GitHub style).
fn link_connector() -> switchboard_core::ConnectorDefinition {
    serde_json::from_value(json!({
        "id": "linksvc", "name": "Link paging", "version": "1.0.0",
        "description": "Pages by Link headers",
        "base_url": "https://api.example.com",
        "allowed_hosts": ["api.example.com"],
        "auth_variants": [{"id": "token", "name": "Token", "kind": "bearer_token"}],
        "categories": [{"id": "things", "name": "Things"}],
        "methods": [{"id": "things.list_things", "category": "things", "name": "List things",
            "description": "All things.", "http_method": "GET", "path": "/things",
            "pagination": "link_header", "records": ""}]
    }))
    .unwrap()
}

/// Next-page targets: same origin (relative, absolute, odd but equal),
/// other origins, other schemes, malformed.
fn link_targets() -> impl Strategy<Value = String> {
    let origin = stage().0.server.uri();
    let port = url::Url::parse(&origin).unwrap().port().unwrap_or(80);
    let targets = vec![
        format!("{origin}/v1.0/things?page=2"),
        "/v1.0/things?page=2".to_string(),
        "?page=3".to_string(),
        "things?page=4#frag".to_string(),
        format!("HTTP://127.0.0.1:{port}/v1.0/things?page=5"),
        format!("http://127.0.0.1:{port}/v1.0/../../etc/passwd"),
        "//evil.example/things".to_string(),
        "http://evil.example/things".to_string(),
        format!("https://127.0.0.1:{port}/things"),
        "http://127.0.0.1:1/things".to_string(),
        format!("http://localhost:{port}/things"),
        format!("http://user:pw@127.0.0.1:{port}/things"),
        "javascript:alert(1)".to_string(),
        "data:,x".to_string(),
        "\\\\evil.example\\x".to_string(),
        "http://[::1".to_string(),
    ];
    prop_oneof![3 => select(targets), 1 => link_target()]
}

proptest! {
    #![proptest_config(config(128))]

    /// Whatever `Link` the service sends, the next page is requested only
    /// from the installation's own origin; a link elsewhere ends the walk
    /// with an error before anything is sent to it.
    #[test]
    fn link_paging_follows_only_same_origin_links(
        target in link_targets(),
        params in proptest::collection::vec(link_param(), 0..2),
        raw in proptest::option::of(text::bytes()),
    ) {
        let (stage, engine) = stage();
        let link = match &raw {
            Some(bytes) => bytes.clone(),
            None => link_value(&target, "next", &params).into_bytes(),
        };
        let mut template = ResponseTemplate::new(200).set_body_json(json!([{"id": 1}]));
        if let Ok(value) = HeaderValue::from_bytes(&link) {
            template = template.append_header("link", value);
        }
        stage.answer_with(template);
        let endpoints = switchboard_core::connector::Endpoints {
            base_url: url::Url::parse(&format!("{}/v1.0", stage.server.uri())).unwrap(),
            allowed_hosts: vec!["127.0.0.1".into()],
        };
        let ctx = switchboard_core::InstallationContext::new(
            INST_LINKS, "linksvc", "token", endpoints, support::RecordingCredential::new(),
        );
        let pages: Vec<_> = stage.runtime.block_on(async {
            let mut stream = engine.stream(&ctx, "things.list_things", Arguments::new()).with_max_pages(3).into_pages();
            let mut pages = Vec::new();
            while let Some(page) = stream.try_next().await.transpose() {
                let failed = page.is_err();
                pages.push(page);
                if failed {
                    break;
                }
            }
            pages
        });
        let received = stage.received();
        prop_assert!((1..=3).contains(&received.len()), "{} requests", received.len());
        let server = url::Url::parse(&stage.server.uri()).unwrap();
        let origin = server.origin();
        let host = format!("127.0.0.1:{}", server.port().unwrap_or(80));
        for request in &received {
            prop_assert_eq!(request.headers.get("host").and_then(|v| v.to_str().ok()), Some(host.as_str()));
            prop_assert_eq!(request.headers.get("authorization").and_then(|v| v.to_str().ok()), Some("Bearer tok-1"));
        }
        let first = url::Url::parse(&format!("{}/v1.0/things", stage.server.uri())).unwrap();
        // What the service sent, as the engine reads it (a header value it
        // can read as text).
        let sent = HeaderValue::from_bytes(&link).ok().and_then(|v| v.to_str().ok().map(str::to_string));
        let next = sent
            .and_then(|v| find_rel(&v, "next"))
            .and_then(|t| first.join(&t).ok());
        match next {
            Some(next) if next.origin() != origin => {
                prop_assert_eq!(received.len(), 1);
                let err = pages.last().unwrap().as_ref().unwrap_err();
                prop_assert_eq!(err.kind(), ErrorKind::UntrustedLink, "{}", err);
                assert_presentable(err, &[])?;
            }
            _ => {
                if let Some(Err(err)) = pages.last() {
                    assert_presentable(err, &[])?;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Cursor paging with hostile cursors and `has_more` flags.

/// A connector whose listing pages by a body cursor with a `has_more` flag.
fn cursor_connector() -> switchboard_core::ConnectorDefinition {
    serde_json::from_value(json!({
        "id": "cursorsvc", "name": "Cursor paging", "version": "1.0.0",
        "description": "Pages by body cursors",
        "base_url": "https://api.example.com",
        "allowed_hosts": ["api.example.com"],
        "auth_variants": [{"id": "token", "name": "Token", "kind": "bearer_token"}],
        "categories": [{"id": "things", "name": "Things"}],
        "methods": [{"id": "things.list_things", "category": "things", "name": "List things",
            "description": "All things.", "http_method": "GET", "path": "/things",
            "parameters": [{"name": "kind", "in": "query", "type": "string", "default": "all"}],
            "pagination": "cursor", "records": "/data",
            "cursor": {"pointer": "/meta/next", "parameter": "after", "has_more": "/more"}}]
    }))
    .unwrap()
}

proptest! {
    #![proptest_config(config(96))]

    /// Whatever a page holds as its cursor and `has_more` flag (the same
    /// page every time), the walk sends the cursor only when it is a
    /// non-empty string of at most 4096 bytes and the flag is `true`, sends
    /// it exactly as received in one parameter beside the method's own,
    /// stops at the repeat, and every error is presentable and never quotes
    /// the cursor.
    #[test]
    fn cursor_paging_sends_only_bounded_string_cursors(
        cursor in prop_oneof![
            4 => text::text().prop_map(Value::String),
            2 => hostile_json::any_value(&["next", "after"]),
            1 => (4090usize..4100).prop_map(|n| Value::String("c".repeat(n))),
        ],
        more in prop_oneof![4 => Just(Some(json!(true))), 1 => proptest::option::of(hostile_json::any_value(&["more"]))],
    ) {
        let (stage, engine) = stage();
        let mut body = json!({"data": [{"id": 1}], "meta": {"next": cursor}});
        if let Some(more) = &more {
            body["more"] = more.clone();
        }
        stage.answer_with(ResponseTemplate::new(200).set_body_json(body));
        let endpoints = switchboard_core::connector::Endpoints {
            base_url: url::Url::parse(&stage.server.uri()).unwrap(),
            allowed_hosts: vec!["127.0.0.1".into()],
        };
        let ctx = switchboard_core::InstallationContext::new(
            INST_CURSOR, "cursorsvc", "token", endpoints, support::RecordingCredential::new(),
        );
        let (records, error) = stage.runtime.block_on(async {
            let mut stream = engine.stream(&ctx, "things.list_things", Arguments::new()).with_max_pages(5);
            let mut records = 0;
            loop {
                match stream.try_next().await {
                    Ok(Some(_)) => records += 1,
                    Ok(None) => break (records, None),
                    Err(err) => break (records, Some(err)),
                }
            }
        });
        let received = stage.received();
        // What must happen: the flag is read first, then the cursor.
        let expected: (usize, Option<ErrorKind>) = match (&more, &cursor) {
            (Some(Value::Bool(true)), Value::String(c)) if !c.is_empty() && c.len() <= 4096 => {
                let query: Vec<(String, String)> = match received.get(1) {
                    Some(second) => second.url.query_pairs().into_owned().collect(),
                    None => Vec::new(),
                };
                prop_assert_eq!(query, vec![("kind".to_string(), "all".to_string()), ("after".to_string(), c.clone())]);
                (2, Some(ErrorKind::Remote))
            }
            (Some(Value::Bool(true)), Value::Null) => (1, None),
            (Some(Value::Bool(true)), Value::String(c)) if c.is_empty() => (1, None),
            (Some(Value::Bool(true)), _) => (1, Some(ErrorKind::Decode)),
            (None | Some(Value::Null | Value::Bool(false)), _) => (1, None),
            (Some(_), _) => (1, Some(ErrorKind::Decode)),
        };
        prop_assert_eq!(received.len(), expected.0);
        prop_assert_eq!(records, expected.0, "one record a page");
        prop_assert_eq!(error.as_ref().map(Error::kind), expected.1, "{:?}", error);
        if let Some(err) = &error {
            let secret = match &cursor {
                Value::String(c) if c.chars().count() >= 16 => vec![c.as_str()],
                _ => vec![],
            };
            assert_presentable(err, &secret)?;
        }
    }
}
