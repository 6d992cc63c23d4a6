//! Refresh token rotation: stored before use, kept when not rotated.

mod auth_support;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use auth_support::*;
use switchboard_core::InstallationId;
use switchboard_core::credential::{AccessToken, Credential, TokenRequest};
use switchboard_core::{Error, ErrorKind, Result};
use switchboard_oauth::grants::{GrantEdit, GrantStore, MemoryGrants, StoredGrant};
use switchboard_oauth::oauth_credential::Grant;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const INST_1: InstallationId = InstallationId::from_u128(1);

/// A store that records when it was written, and can be told to fail.
#[derive(Debug, Default)]
struct RecordingStore {
    inner: MemoryGrants,
    writes: Mutex<Vec<String>>,
    fail_writes: bool,
}

#[async_trait]
impl GrantStore for RecordingStore {
    async fn load_grant(&self, installation_id: InstallationId) -> Result<Option<StoredGrant>> {
        self.inner.load_grant(installation_id).await
    }
    async fn modify_grant(
        &self,
        installation_id: InstallationId,
        edit: GrantEdit<'_>,
    ) -> Result<()> {
        if self.fail_writes {
            return Err(Error::new(ErrorKind::Storage, "disk full"));
        }
        let mut written = self
            .inner
            .load_grant(installation_id)
            .await?
            .unwrap_or_default();
        edit(&mut written);
        let rt = written
            .refresh_token
            .as_ref()
            .map(|t| t.secret().clone())
            .unwrap_or_default();
        self.writes.lock().unwrap().push(rt);
        self.inner.modify_grant(installation_id, edit).await
    }
}

async fn seeded(fail_writes: bool) -> Arc<RecordingStore> {
    let store = RecordingStore {
        fail_writes,
        ..Default::default()
    };
    store
        .inner
        .modify_grant(INST_1, &|g| {
            *g = StoredGrant::new(Some(oauth2::RefreshToken::new("rt-1".into())))
        })
        .await
        .unwrap();
    Arc::new(store)
}

/// A rotated refresh token is in the store (new version) by the time the
/// caller holds the new access token, and the next refresh uses it.
#[tokio::test]
async fn a_rotated_refresh_token_is_stored_before_the_access_token_is_returned() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("refresh_token=rt-1&"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json(
            "at-1",
            Some("rt-2"),
            3600,
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("refresh_token=rt-2&"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json("at-2", None, 3600)))
        .expect(1)
        .mount(&server)
        .await;

    let clock = clock();
    let store = seeded(false).await;
    let ctx = context(&clock, store.clone());
    let cred = credential(&ctx, &server, INST_1, Grant::RefreshToken);
    let request = TokenRequest::new(INST_1, vec!["User.Read".into()]);

    let token = cred.token(&request).await.unwrap();
    assert_eq!(token.secret(), "at-1");
    assert_eq!(
        store.writes.lock().unwrap().len(),
        1,
        "saved before the token was returned"
    );
    let record = store.load_grant(INST_1).await.unwrap().unwrap();
    assert_eq!(record.refresh_token.unwrap().secret(), "rt-2");

    // The next refresh (after a 401) uses the rotated token; no rotation
    // this time, so the store keeps rt-2 and is not written.
    let token = cred
        .token(
            &request
                .clone()
                .with_rejected(AccessToken::new("at-1", None)),
        )
        .await
        .unwrap();
    assert_eq!(token.secret(), "at-2");
    assert_eq!(
        store.writes.lock().unwrap().as_slice(),
        ["rt-2".to_string()]
    );
    let record = store.load_grant(INST_1).await.unwrap().unwrap();
    assert_eq!(record.refresh_token.unwrap().secret(), "rt-2");
    server.verify().await;
}

/// If the rotated refresh token cannot be stored, the new access token is
/// not handed out: the call fails with Storage and nothing is cached.
#[tokio::test]
async fn an_access_token_whose_rotated_refresh_token_cannot_be_stored_is_not_used() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("refresh_token=rt-1&"))
        .respond_with(ResponseTemplate::new(200).set_body_json(token_json(
            "at-1",
            Some("rt-2"),
            3600,
        )))
        .expect(2)
        .mount(&server)
        .await;
    let clock = clock();
    let store = seeded(true).await;
    let ctx = context(&clock, store.clone());
    let cred = credential(&ctx, &server, INST_1, Grant::RefreshToken);
    let request = TokenRequest::new(INST_1, vec!["User.Read".into()]);
    for _ in 0..2 {
        let err = cred.token(&request).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Storage);
    }
    server.verify().await;
}

/// An installation without a stored refresh token needs a sign-in; no
/// token request is made.
#[tokio::test]
async fn no_refresh_token_means_needs_reauth_without_a_request() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    let clock = clock();
    let ctx = context(&clock, store_with(&[]).await);
    let cred = credential(&ctx, &server, INST_1, Grant::RefreshToken);
    let err = cred
        .token(&TokenRequest::new(INST_1, vec!["User.Read".into()]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NeedsReauth);
    server.verify().await;
}

/// The client secret goes in the form body, never in an Authorization
/// header; lifetimes given as strings are accepted.
#[tokio::test]
async fn client_secret_is_sent_in_the_body_and_string_lifetimes_parse() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains(format!("client_id={CLIENT_ID}")))
        .and(body_string_contains(format!(
            "client_secret={CLIENT_SECRET}"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "token_type": "Bearer", "expires_in": "3599", "ext_expires_in": "3599",
            "access_token": "at-1", "unknown_field": {"nested": true}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let clock = clock();
    let ctx = context(&clock, store_with(&[]).await);
    let cred = credential(&ctx, &server, INST_1, Grant::ClientCredentials);
    let token = cred
        .token(&TokenRequest::new(INST_1, vec!["api/.default".into()]))
        .await
        .unwrap();
    assert_eq!(token.secret(), "at-1");
    assert!(token.expires_at().is_some());
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert!(requests[0].headers.get("authorization").is_none());
    server.verify().await;
}
