//! Deadlines on the token endpoint: an answer that trickles in (head or
//! body) fails at the token deadline, naming the host, after one request;
//! one that stalls fails at the read timeout when one is set.

use std::time::{Duration, SystemTime};

use oauth2::{ClientId, ClientSecret, TokenUrl};
use switchboard_core::ErrorKind;
use switchboard_hostile::raw::RawServer;
use switchboard_oauth::client::{OAuthClient, TokenEndpointError};
use switchboard_oauth::http::{HttpError, OAuthHttpClient};
use tokio::time::Instant;

/// The gap between two bytes of a trickling answer.
const GAP: Duration = Duration::from_secs(20);

/// A client-credentials token request through `oauth_http` to `server`:
/// the transport failure's message, the whole error, and the (virtual)
/// time it took.
async fn failing_token_request(
    server: &RawServer,
    oauth_http: OAuthHttpClient,
) -> (String, TokenEndpointError, Duration) {
    let client = OAuthClient::new(
        oauth_http,
        ClientId::new("app".into()),
        Some(ClientSecret::new("secret".into())),
        TokenUrl::new(format!("{}/tenant-a/oauth2/v2.0/token", server.base())).unwrap(),
    );
    let start = Instant::now();
    let err = client
        .client_credentials(
            &["https://graph.example/.default".into()],
            &[],
            SystemTime::now(),
        )
        .await
        .unwrap_err();
    let TokenEndpointError::Http(HttpError::Transport(message)) = &err else {
        panic!("expected a transport failure, got {err:?}");
    };
    (message.clone(), err, start.elapsed())
}

fn redirects_off() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_token_endpoint_that_trickles_fails_at_the_token_deadline_naming_the_host() {
    // the token answer's body trickles; so does another one's head
    for server in [
        RawServer::trickling_body(600, GAP).await,
        RawServer::trickling_head(GAP).await,
    ] {
        let oauth_http =
            OAuthHttpClient::new(redirects_off()).with_deadline(Some(Duration::from_secs(30)));
        let (message, err, took) = failing_token_request(&server, oauth_http).await;
        assert_eq!(
            message,
            format!(
                "`{}` did not send the whole response within the deadline of 30s",
                server.host()
            )
        );
        assert_eq!(took, Duration::from_secs(30));
        assert_eq!(server.connections(), 1);
        assert_eq!(
            server.request_lines(),
            vec!["POST /tenant-a/oauth2/v2.0/token HTTP/1.1"]
        );
        let err = err.into_error();
        assert_eq!(err.kind(), ErrorKind::Transport);
        assert!(
            err.to_string()
                .starts_with("the token endpoint could not be reached: `127.0.0.1:"),
            "{err}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_token_endpoint_that_stalls_fails_at_the_read_timeout_before_the_deadline() {
    // the head comes at once, then a byte of body every 20 s: a 10 s read
    // timeout ends it at 10 s, long before the 30 s deadline
    let server = RawServer::trickling_body(600, GAP).await;
    let oauth_http = OAuthHttpClient::new(redirects_off())
        .with_deadline(Some(Duration::from_secs(30)))
        .with_read_timeout(Some(Duration::from_secs(10)));
    let (message, _, took) = failing_token_request(&server, oauth_http).await;
    assert_eq!(
        message,
        format!("`{}` stopped sending data (read timeout)", server.host())
    );
    assert_eq!(took, Duration::from_secs(10));
    assert_eq!(server.connections(), 1);
}
