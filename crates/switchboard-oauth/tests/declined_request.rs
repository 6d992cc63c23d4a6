//! A token request the endpoint declines unprocessed (an HTTP/2 stream it
//! refuses) is sent again at once, at most twice: the engine's client has
//! reqwest's own retries off, and token requests have no retry policy for
//! transport failures of their own.

use std::time::SystemTime;

use oauth2::{ClientId, ClientSecret, TokenUrl};
use switchboard_hostile::h2_server::H2Server;
use switchboard_oauth::client::{OAuthClient, TokenEndpointError};
use switchboard_oauth::http::{HttpError, OAuthHttpClient};

const TOKEN: &str = r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600}"#;

/// The engine's client settings that matter here (no redirects, no
/// retries of reqwest's), speaking HTTP/2 to the cleartext test server.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .http2_prior_knowledge()
        .build()
        .unwrap()
}

async fn token_request(server: &H2Server) -> Result<String, TokenEndpointError> {
    let client = OAuthClient::new(
        OAuthHttpClient::new(client()),
        ClientId::new("app".into()),
        Some(ClientSecret::new("secret".into())),
        TokenUrl::new(format!("{}/tenant-a/oauth2/v2.0/token", server.base())).unwrap(),
    );
    client
        .client_credentials(
            &["https://graph.example/.default".into()],
            &[],
            SystemTime::now(),
        )
        .await
        .map(|set| set.access_token.secret().to_string())
}

#[tokio::test]
async fn a_refused_stream_is_sent_again_and_the_token_comes() {
    let server = H2Server::resetting(h2::Reason::REFUSED_STREAM, 2, 200, TOKEN).await;
    let token = token_request(&server).await.unwrap();
    assert_eq!(token, "at-1");
    assert_eq!(server.streams(), 3, "two refused, the third answered");
}

#[tokio::test]
async fn a_stream_refused_three_times_fails_naming_the_refusal() {
    let server = H2Server::resetting(h2::Reason::REFUSED_STREAM, usize::MAX, 200, TOKEN).await;
    let err = token_request(&server).await.unwrap_err();
    let TokenEndpointError::Http(HttpError::Transport(message)) = &err else {
        panic!("expected a transport failure, got {err:?}");
    };
    assert!(
        message.contains("declined the request unprocessed"),
        "{message}"
    );
    assert!(message.contains("127.0.0.1"), "{message}");
    assert_eq!(server.streams(), 3, "sent once and resent twice");
}

#[tokio::test]
async fn another_reset_is_not_sent_again() {
    let server = H2Server::resetting(h2::Reason::INTERNAL_ERROR, usize::MAX, 200, TOKEN).await;
    let err = token_request(&server).await.unwrap_err();
    assert!(
        matches!(err, TokenEndpointError::Http(HttpError::Transport(_))),
        "{err:?}"
    );
    assert_eq!(server.streams(), 1);
}
