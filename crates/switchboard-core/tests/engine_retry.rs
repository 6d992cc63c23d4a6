//! Retries: which failures are retried, how long the engine waits
//! (Retry-After as seconds or HTTP date, exponential backoff), when it gives
//! up, and that requests which may already have had their effect are never
//! resent. Time is tokio's paused clock, so waits take no real time and the
//! elapsed virtual time is exactly the sum of the waits.

mod support;

use std::time::{Duration, SystemTime};

use serde_json::json;
use support::*;
use switchboard_core::engine::retry::RetryPolicy;
use switchboard_core::{Arguments, ErrorKind};
use tokio::time::Instant;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn get_user() -> Arguments {
    Arguments::new().set("id", "adele")
}

fn send_mail() -> Arguments {
    Arguments::new().set("message", json!({"subject": "hi"}))
}

#[tokio::test(start_paused = true)]
async fn get_is_retried_on_503_with_exponential_backoff_and_a_token_per_attempt() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/adele"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(sequence(vec![
            ResponseTemplate::new(503),
            ResponseTemplate::new(503),
            json(200, json!({"id": "adele"})),
        ]))
        .expect(3)
        .mount(&server)
        .await;
    let cred = RecordingCredential::new();
    let ctx = ctx(&server, cred.clone());
    let start = Instant::now();
    let response = engine()
        .call(&ctx, "users.get_user", get_user())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json().unwrap()["id"], "adele");
    // Waits of 1 s then 2 s (no jitter in tests).
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    // A token was fetched before every attempt.
    assert_eq!(cred.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn retry_after_seconds_is_honoured() {
    let server = server().await;
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(sequence(vec![
            ResponseTemplate::new(429).insert_header("Retry-After", "7"),
            json(200, json!({"id": "adele"})),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    let start = Instant::now();
    let response = engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(start.elapsed(), Duration::from_secs(7));
}

#[tokio::test(start_paused = true)]
async fn retry_after_http_date_is_honoured() {
    let server = server().await;
    let when = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(sequence(vec![
            ResponseTemplate::new(503).insert_header("Retry-After", when.as_str()),
            json(200, json!({"id": "adele"})),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    let start = Instant::now();
    engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap();
    // HTTP dates have one-second resolution.
    let waited = start.elapsed();
    assert!(
        waited > Duration::from_secs(118) && waited <= Duration::from_secs(120),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn malformed_negative_and_past_retry_after_fall_back_to_backoff() {
    let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(3600));
    for value in ["soon", "-5", past.as_str(), "1.5"] {
        let server = server().await;
        Mock::given(path("/v1.0/users/adele"))
            .respond_with(sequence(vec![
                ResponseTemplate::new(429).insert_header("Retry-After", value),
                json(200, json!({"id": "adele"})),
            ]))
            .expect(2)
            .mount(&server)
            .await;
        let start = Instant::now();
        engine()
            .call(
                &ctx(&server, RecordingCredential::new()),
                "users.get_user",
                get_user(),
            )
            .await
            .unwrap();
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(1),
            "Retry-After {value}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn retry_after_above_the_cap_fails_fast_with_throttled() {
    let server = server().await;
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(
            graph_error(429, "TooManyRequests", "Too many requests")
                .insert_header("Retry-After", "3600"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let start = Instant::now();
    let err = engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Throttled);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(err.status(), Some(429));
    assert!(err.to_string().contains("retry after 3600s"), "{err}");
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn an_enormous_retry_after_is_bounded_and_fails_fast() {
    let server = server().await;
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(
            ResponseTemplate::new(429).insert_header("Retry-After", "999999999999999999999999999"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Throttled);
    assert_eq!(
        err.retry_after(),
        Some(switchboard_core::engine::retry::MAX_RETRY_AFTER)
    );
}

#[tokio::test(start_paused = true)]
async fn persistent_503_exhausts_retries_as_transient() {
    let server = server().await;
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(graph_error(
            503,
            "serviceNotAvailable",
            "Service unavailable",
        ))
        .expect(5)
        .mount(&server)
        .await;
    let start = Instant::now();
    let err = engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.remote().unwrap().request_id.as_deref(), Some("req-123"));
    assert!(err.to_string().contains("4 retries"), "{err}");
    assert_eq!(start.elapsed(), Duration::from_secs(1 + 2 + 4 + 8));
}

#[tokio::test(start_paused = true)]
async fn persistent_429_exhausts_retries_as_throttled() {
    let server = server().await;
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "2"))
        .expect(5)
        .mount(&server)
        .await;
    let err = engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Throttled);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
}

#[tokio::test(start_paused = true)]
async fn the_total_budget_stops_retrying() {
    let server = server().await;
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "6"))
        .expect(2)
        .mount(&server)
        .await;
    let policy = RetryPolicy {
        total_budget: Duration::from_secs(10),
        ..policy()
    };
    let start = Instant::now();
    let err = engine_with(policy)
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Throttled);
    // One wait of 6 s fitted the 10 s budget; a second would not.
    assert_eq!(start.elapsed(), Duration::from_secs(6));
}

#[tokio::test(start_paused = true)]
async fn get_is_not_retried_on_500_or_404() {
    for (status, kind) in [(500, ErrorKind::Remote), (404, ErrorKind::NotFound)] {
        let server = server().await;
        Mock::given(path("/v1.0/users/adele"))
            .respond_with(graph_error(status, "x", "y"))
            .expect(1)
            .mount(&server)
            .await;
        let err = engine()
            .call(
                &ctx(&server, RecordingCredential::new()),
                "users.get_user",
                get_user(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{status}");
    }
}

#[tokio::test(start_paused = true)]
async fn get_is_retried_on_504() {
    let server = server().await;
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(sequence(vec![
            ResponseTemplate::new(504),
            json(200, json!({"id": "adele"})),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn post_is_never_resent_after_500_502_503_or_504() {
    for status in [500u16, 502, 503, 504] {
        let server = server().await;
        Mock::given(method("POST"))
            .and(path("/v1.0/me/sendMail"))
            .respond_with(graph_error(status, "generalException", "Something failed"))
            .expect(1)
            .mount(&server)
            .await;
        let err = engine()
            .call(
                &ctx(&server, RecordingCredential::new()),
                "mail.send_mail",
                send_mail(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::OutcomeUnknown, "{status}");
        assert_eq!(err.status(), Some(status));
        assert!(
            err.to_string().contains("may or may not have taken effect"),
            "{err}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn patch_is_never_resent_after_502() {
    let server = server().await;
    Mock::given(method("PATCH"))
        .and(path("/v1.0/users/adele"))
        .respond_with(ResponseTemplate::new(502))
        .expect(1)
        .mount(&server)
        .await;
    let err = engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.update_user",
            Arguments::new().set("id", "adele").set("job_title", "CEO"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OutcomeUnknown);
}

#[tokio::test(start_paused = true)]
async fn post_is_resent_on_429_with_the_same_body() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/me/sendMail"))
        .and(body_json(json!({"message": {"subject": "hi"}})))
        .and(header("content-type", "application/json"))
        .respond_with(sequence(vec![
            ResponseTemplate::new(429).insert_header("Retry-After", "3"),
            ResponseTemplate::new(202),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    let start = Instant::now();
    let response = engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "mail.send_mail",
            send_mail(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    assert_eq!(start.elapsed(), Duration::from_secs(3));
}

#[tokio::test(start_paused = true)]
async fn post_is_resent_on_503_only_when_it_carries_retry_after() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/me/sendMail"))
        .respond_with(sequence(vec![
            ResponseTemplate::new(503).insert_header("Retry-After", "4"),
            ResponseTemplate::new(202),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    let start = Instant::now();
    engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "mail.send_mail",
            send_mail(),
        )
        .await
        .unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(4));
}

#[tokio::test(start_paused = true)]
async fn a_post_declared_idempotent_is_retried_on_504() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/me/events"))
        .and(body_json(
            json!({"subject": "Standup", "transactionId": "tx-1"}),
        ))
        .respond_with(sequence(vec![
            ResponseTemplate::new(504),
            json(201, json!({"id": "event-1"})),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    let response = engine()
        .call(
            &ctx(&server, RecordingCredential::new()),
            "calendars.create_event",
            Arguments::new()
                .set("subject", "Standup")
                .set("transaction_id", "tx-1"),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

/// A port nothing listens on: connecting fails before anything is sent.
async fn closed_port_server() -> (MockServer, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    (server().await, port)
}

#[tokio::test(start_paused = true)]
async fn connection_failures_are_retried_even_for_post_and_end_as_transient() {
    let (server, port) = closed_port_server().await;
    let endpoints = switchboard_core::connector::Endpoints {
        base_url: url::Url::parse(&format!("http://127.0.0.1:{port}/v1.0")).unwrap(),
        allowed_hosts: vec!["127.0.0.1".into()],
    };
    let cred = RecordingCredential::new();
    let ctx = switchboard_core::engine::InstallationContext::new(
        INSTALLATION,
        CONNECTOR,
        "delegated",
        endpoints,
        cred.clone(),
    );
    let start = Instant::now();
    let err = engine()
        .call(&ctx, "mail.send_mail", send_mail())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert!(err.to_string().contains("connection"), "{err}");
    // 1 attempt + 4 retries, each with a fresh token.
    assert_eq!(cred.calls(), 5);
    assert_eq!(start.elapsed(), Duration::from_secs(1 + 2 + 4 + 8));
    drop(server);
}

#[tokio::test]
async fn a_post_that_times_out_is_not_resent() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/v1.0/me/sendMail"))
        .respond_with(ResponseTemplate::new(202).set_delay(Duration::from_secs(30)))
        .expect(1)
        .mount(&server)
        .await;
    let engine = switchboard_core::Engine::builder(registry())
        .retry_policy(policy())
        .read_timeout(Some(Duration::from_millis(200)))
        .build()
        .unwrap();
    let err = engine
        .call(
            &ctx(&server, RecordingCredential::new()),
            "mail.send_mail",
            send_mail(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OutcomeUnknown);
    let host = format!("`127.0.0.1:{}`", server.address().port());
    assert!(
        err.to_string()
            .contains(&format!("{host} stopped sending data (read timeout)")),
        "{err}"
    );
}

#[tokio::test]
async fn a_get_that_times_out_is_retried() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users/adele"))
        .respond_with(json(200, json!({"id": "adele"})).set_delay(Duration::from_secs(30)))
        .expect(2)
        .mount(&server)
        .await;
    let engine = switchboard_core::Engine::builder(registry())
        .retry_policy(RetryPolicy {
            max_retries: 1,
            initial_backoff: Duration::from_millis(10),
            ..policy()
        })
        .read_timeout(Some(Duration::from_millis(200)))
        .build()
        .unwrap();
    let err = engine
        .call(
            &ctx(&server, RecordingCredential::new()),
            "users.get_user",
            get_user(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Transient);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_call_during_a_wait_sends_nothing_more() {
    use std::sync::Arc;
    use tokio::sync::Notify;

    let server = server().await;
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "10"))
        .expect(1)
        .mount(&server)
        .await;

    // A tracing layer that signals when the engine starts a retry wait.
    let waiting = Arc::new(Notify::new());
    let subscriber = {
        use tracing_subscriber::layer::SubscriberExt;
        struct OnWait(Arc<Notify>);
        impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for OnWait {
            fn on_event(
                &self,
                event: &tracing::Event<'_>,
                _ctx: tracing_subscriber::layer::Context<'_, S>,
            ) {
                if event.metadata().fields().field("wait_ms").is_some() {
                    self.0.notify_one();
                }
            }
        }
        tracing_subscriber::registry().with(OnWait(waiting.clone()))
    };
    let _guard = tracing::subscriber::set_default(subscriber);

    let engine = engine();
    let ctx = ctx(&server, RecordingCredential::new());
    let call = engine.call(&ctx, "users.get_user", get_user());
    tokio::select! {
        _ = call => panic!("the call should still be waiting to retry"),
        _ = waiting.notified() => {}
    }
    // The call future is dropped here, mid-wait. Let far more than the wait pass.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

/// The first send takes the prepared headers; a retry prepares them again.
/// Both sends must carry the same default, fixed and credential headers.
#[tokio::test(start_paused = true)]
async fn a_retry_sends_the_default_and_fixed_headers_again() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/v1.0/users"))
        .and(header("accept", "application/json"))
        .and(header("consistencylevel", "eventual"))
        .and(header("prefer", "odata.maxpagesize=2"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(sequence(vec![
            ResponseTemplate::new(503),
            json(200, json!({"value": [{"id": "adele"}]})),
        ]))
        .expect(2)
        .mount(&server)
        .await;
    let cred = RecordingCredential::new();
    let response = engine()
        .call(
            &ctx(&server, cred.clone()),
            "users.list_users",
            Arguments::new(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json().unwrap()["value"][0]["id"], "adele");
    assert_eq!(cred.calls(), 2);
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 2);
    for request in &received {
        assert_eq!(request.url.query(), None);
        assert_eq!(request.headers.get_all("prefer").iter().count(), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn each_wait_is_reported_to_the_retry_observer_before_it_is_taken() {
    use std::sync::{Arc, Mutex};
    use switchboard_core::engine::Engine;
    use switchboard_core::engine::retry_wait::RetryWait;

    let server = server().await;
    Mock::given(path("/v1.0/users/adele"))
        .respond_with(sequence(vec![
            ResponseTemplate::new(429).insert_header("Retry-After", "7"),
            ResponseTemplate::new(503),
            json(200, json!({"id": "adele"})),
        ]))
        .expect(3)
        .mount(&server)
        .await;
    let seen: Arc<Mutex<Vec<(RetryWait, Duration)>>> = Arc::default();
    let log = seen.clone();
    let start = Instant::now();
    // No client timers under paused time (as support::engine_with): a
    // pending attempt deadline makes the paused clock jump 100 s while the
    // real request is in flight, and the call fails now and then.
    let engine = Engine::builder(registry())
        .retry_policy(policy())
        .connect_timeout(None)
        .read_timeout(None)
        .pool_idle_timeout(None)
        .attempt_deadline(None)
        .on_retry_wait(move |w: &RetryWait| {
            log.lock().unwrap().push((w.clone(), start.elapsed()));
        })
        .build()
        .unwrap();
    let ctx = ctx(&server, RecordingCredential::new());
    let response = engine
        .call(&ctx, "users.get_user", get_user())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "one report per wait");
    let (first, at) = &seen[0];
    assert_eq!(first.method_id, "users.get_user");
    assert_eq!(first.installation_id, ctx.installation_id());
    assert_eq!((first.retry, first.status), (1, Some(429)));
    assert_eq!(first.wait, Duration::from_secs(7));
    assert!(first.asked_by_service);
    assert_eq!(*at, Duration::ZERO, "reported before the wait, not after");
    assert_eq!(
        first.to_string(),
        format!(
            "waiting 7 s for the service: throttled (HTTP 429); retry 1 of {}",
            policy().max_retries
        )
    );
    let (second, at) = &seen[1];
    assert_eq!((second.retry, second.status), (2, Some(503)));
    assert!(!second.asked_by_service);
    assert_eq!(*at, Duration::from_secs(7));
    assert_eq!(start.elapsed(), Duration::from_secs(7) + second.wait);
}
