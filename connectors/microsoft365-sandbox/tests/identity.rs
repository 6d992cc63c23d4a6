//! Identity endpoints: authorization code with PKCE, refresh rotation,
//! client credentials after admin consent, discovery, and Microsoft's error
//! bodies with AADSTS codes.

mod common;

use common::*;

#[tokio::test]
async fn authorization_code_with_pkce_issues_user_tokens() {
    let sb = start(1).await;
    let user = &sb.users()[2];
    let body = delegated(
        &sb,
        "https://graph.microsoft.com/Mail.Read https://graph.microsoft.com/User.Read offline_access openid",
        Some(&user.user_principal_name),
    )
    .await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    assert!(body["refresh_token"].is_string());
    assert!(body["id_token"].is_string());
    assert_eq!(
        body["scope"],
        "https://graph.microsoft.com/Mail.Read https://graph.microsoft.com/User.Read openid"
    );
    let c = claims(body["access_token"].as_str().unwrap());
    assert_eq!(c["tid"], sb.tenant_id());
    assert_eq!(c["oid"], user.id.as_str());
    assert_eq!(c["scp"], "Mail.Read User.Read");
    assert_eq!(c["aud"], "00000003-0000-0000-c000-000000000000");
    assert!(c["exp"].as_i64().unwrap() > c["iat"].as_i64().unwrap());
    assert!(c.get("roles").is_none());
    // The token works on Graph as that user.
    let me = get(&sb, body["access_token"].as_str().unwrap(), "/me").await;
    assert_eq!(me.status, 200);
    assert_eq!(
        me.body["userPrincipalName"],
        user.user_principal_name.as_str()
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn authorize_redirects_with_state_and_validates_the_client() {
    let sb = start(2).await;
    let loc = authorize(&sb, "User.Read", &pkce_challenge("v"), None).await;
    assert!(loc.starts_with(REDIRECT), "{loc}");
    let q = query_of(&loc);
    assert_eq!(q["state"], "st-123");
    assert!(q["code"].len() > 20);
    // An unknown client or a redirect URI that is not registered gets an
    // error page, never a redirect.
    let url = format!(
        "{}/{}/oauth2/v2.0/authorize?client_id=00000000-0000-0000-0000-000000000001&response_type=code&redirect_uri={}&scope=User.Read",
        sb.login_url(),
        sb.tenant_id(),
        REDIRECT
    );
    let r = client().get(url).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS700016"));
    let url = format!(
        "{}/{}/oauth2/v2.0/authorize?client_id={}&response_type=code&redirect_uri=https://evil.example/cb&scope=User.Read",
        sb.login_url(),
        sb.tenant_id(),
        sb.client().client_id
    );
    let r = client().get(url).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS50011"));
    sb.shutdown().await;
}

#[tokio::test]
async fn wrong_verifier_and_reused_code_are_invalid_grant() {
    let sb = start(3).await;
    let loc = authorize(
        &sb,
        "User.Read offline_access",
        &pkce_challenge("right-verifier"),
        None,
    )
    .await;
    let code = query_of(&loc)["code"].clone();
    let secret = sb.client().client_secret.expose().to_string();
    let id = sb.client().client_id.clone();
    let redeem = |verifier: &'static str| {
        let (code, secret, id) = (code.clone(), secret.clone(), id.clone());
        let sb = &sb;
        async move {
            token_request(
                sb,
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", &id),
                    ("client_secret", &secret),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", verifier),
                ],
            )
            .await
        }
    };
    let (status, body) = redeem("wrong-verifier").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_codes"][0], 501481);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS501481:")
    );
    for key in ["timestamp", "trace_id", "correlation_id"] {
        assert!(body[key].is_string(), "missing {key}: {body}");
    }
    let (status, _) = redeem("right-verifier").await;
    assert_eq!(status, 200);
    let (status, body) = redeem("right-verifier").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_codes"][0], 54005);
    // A code nobody issued.
    let (status, body) = token_request(
        &sb,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("code", "nope"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", "x"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error_codes"][0], 70008);
    sb.shutdown().await;
}

#[tokio::test]
async fn refresh_tokens_rotate_and_the_old_one_stops_working() {
    let sb = start(4).await;
    let first = delegated(&sb, "User.Read offline_access", None).await;
    let secret = sb.client().client_secret.expose().to_string();
    let id = sb.client().client_id.clone();
    let refresh = |rt: String| {
        let (secret, id) = (secret.clone(), id.clone());
        let sb = &sb;
        async move {
            token_request(
                sb,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", &id),
                    ("client_secret", &secret),
                    ("refresh_token", &rt),
                ],
            )
            .await
        }
    };
    let rt1 = first["refresh_token"].as_str().unwrap().to_string();
    let (status, second) = refresh(rt1.clone()).await;
    assert_eq!(status, 200, "{second}");
    let rt2 = second["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    assert_eq!(
        claims(second["access_token"].as_str().unwrap())["scp"],
        "User.Read"
    );
    let (status, body) = refresh(rt1).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(body["error_codes"][0], 70008);
    // Expired refresh tokens: AADSTS700082.
    sb.expire_refresh_tokens();
    let (status, body) = refresh(rt2).await;
    assert_eq!(status, 400);
    assert_eq!(body["error_codes"][0], 700082);
    sb.shutdown().await;
}

#[tokio::test]
async fn client_credentials_need_admin_consent_and_carry_roles() {
    let sb = start(5).await;
    let secret = sb.client().client_secret.expose().to_string();
    let id = sb.client().client_id.clone();
    let scope = format!("{}/.default", sb.graph_url());
    let cc = |secret: String| {
        let (id, scope) = (id.clone(), scope.clone());
        let sb = &sb;
        async move {
            token_request(
                sb,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &id),
                    ("client_secret", &secret),
                    ("scope", &scope),
                ],
            )
            .await
        }
    };
    let (status, body) = cc(secret.clone()).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "unauthorized_client");
    assert_eq!(body["error_codes"][0], 700016);
    let loc = admin_consent(&sb).await;
    let q = query_of(&loc);
    assert_eq!(q["admin_consent"], "True");
    assert_eq!(q["tenant"], sb.tenant_id());
    assert_eq!(q["state"], "admin-state");
    let (status, body) = cc(secret.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("refresh_token").is_none());
    let c = claims(body["access_token"].as_str().unwrap());
    assert_eq!(c["idtyp"], "app");
    assert!(
        c["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "Mail.ReadWrite")
    );
    assert!(c.get("scp").is_none());
    // A wrong secret: 401 invalid_client, AADSTS7000215.
    let (status, body) = cc("wrong".into()).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(body["error_codes"][0], 7000215);
    // An unknown client: AADSTS700016.
    let (status, body) = token_request(
        &sb,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "11111111-2222-3333-4444-555555555555"),
            ("client_secret", "x"),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "unauthorized_client");
    assert_eq!(body["error_codes"][0], 700016);
    // A scope without /.default.
    let (status, body) = token_request(
        &sb,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("scope", "https://graph.microsoft.com/Mail.Read"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_scope");
    // Client credentials on /common cannot tell the tenant.
    let r = client()
        .post(format!("{}/common/oauth2/v2.0/token", sb.login_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("scope", &scope),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error_codes"][0], 50059);
    sb.shutdown().await;
}

#[tokio::test]
async fn discovery_document_points_at_the_sandbox() {
    let sb = start(6).await;
    let r = client()
        .get(format!(
            "{}/{}/v2.0/.well-known/openid-configuration",
            sb.login_url(),
            sb.tenant_id()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let d: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        d["token_endpoint"],
        format!("{}/{}/oauth2/v2.0/token", sb.login_url(), sb.tenant_id())
    );
    assert_eq!(
        d["authorization_endpoint"],
        format!(
            "{}/{}/oauth2/v2.0/authorize",
            sb.login_url(),
            sb.tenant_id()
        )
    );
    assert_eq!(
        d["issuer"],
        format!("{}/{}/v2.0", sb.login_url(), sb.tenant_id())
    );
    assert!(d["jwks_uri"].as_str().unwrap().starts_with(sb.login_url()));
    let r = client()
        .get(format!(
            "{}/no-such-tenant.example/v2.0/.well-known/openid-configuration",
            sb.login_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error_codes"][0], 90002);
    sb.shutdown().await;
}
