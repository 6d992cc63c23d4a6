//! Microsoft identity (the v2.0 endpoints): authorize, token, admin
//! consent, the OpenID discovery document, and the validation of the
//! access tokens Graph receives.
//!
//! Behaviour follows Microsoft Entra ID where a client can observe it:
//! authorization codes are single use and bound to the client, redirect
//! URI and PKCE challenge; refresh tokens rotate (the sandbox, stricter
//! than Entra, refuses a refresh token once it has been exchanged, so
//! clients must store the new one); client credentials need an
//! administrator's consent, without which the tenant has no service
//! principal for the app (AADSTS700016). Errors carry `AADSTS` codes.
//!
//! What Microsoft's own client libraries (MSAL) check is honoured too: the
//! authorize request's `nonce` comes back in the id_token, `client_info=1`
//! on the token request gets `client_info` (base64url JSON with `uid`, the
//! user's object id, and `utid`, the tenant id, from which MSAL builds its
//! `uid.utid` account id), and `response_mode` is honoured: `query` (the
//! default for `code`) and `form_post` (an auto-submitting HTML form that
//! POSTs the answer to the redirect URI), the two that
//! `concepts/auth-v2-user.md` (docs-2021-07) lists, and `fragment`, which
//! the discovery document also advertises.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use bytes::Bytes;

use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::config::ClientRegistration;
use crate::errors::{GraphError, IdentityError};
use crate::identity_state::{CodeGrant, RefreshGrant};
use crate::request::Caller;
use crate::{App, datetime, tokens};

/// Microsoft Graph's application id: the `aud` of Graph tokens.
pub(crate) const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// Scopes that are about the sign-in itself, not about Graph.
const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// Delegated permissions `.default` stands for in the delegated flow.
const DEFAULT_DELEGATED: &[&str] = &[
    "User.Read",
    "User.ReadBasic.All",
    "Calendars.ReadWrite",
    "Mail.ReadWrite",
    "Mail.Send",
    "MailboxSettings.ReadWrite",
    "Files.ReadWrite.All",
];

const CODE_LIFETIME: i64 = 600;

fn params(raw: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Whether the path's tenant names the sandbox's tenant: its id, its
/// domain, or `common` / `organizations` when `multi` is allowed.
fn tenant_ok(app: &App, tenant: &str, multi: bool) -> bool {
    tenant.eq_ignore_ascii_case(&app.tenant_id)
        || tenant.eq_ignore_ascii_case(&app.tenant_domain)
        || (multi
            && (tenant.eq_ignore_ascii_case("common")
                || tenant.eq_ignore_ascii_case("organizations")))
}

fn tenant_not_found(tenant: &str) -> IdentityError {
    IdentityError::new(
        "invalid_request",
        90002,
        format!(
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
        ),
    )
}

fn find_client<'a>(app: &'a App, id: &str) -> Option<&'a ClientRegistration> {
    app.clients
        .iter()
        .find(|c| c.client_id.eq_ignore_ascii_case(id))
}

fn unknown_client(app: &App, id: &str) -> IdentityError {
    IdentityError::new(
        "unauthorized_client",
        700016,
        format!(
            "Application with identifier '{id}' was not found in the directory '{}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
            app.tenant_domain
        ),
    )
}

/// An error page, as the authorize endpoint shows when it cannot redirect.
fn error_page(app: &App, e: IdentityError) -> Response {
    let trace = app.new_guid();
    let body = e.body(&trace, &app.new_guid());
    let text = body["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let html = format!(
        "<!DOCTYPE html><html><head><title>Sign in to your account</title></head><body><h1>Sign in</h1><p id=\"error\">{}</p></body></html>",
        html_escape(&text)
    );
    (StatusCode::BAD_REQUEST, Html(html)).into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// How the authorize endpoint hands its answer back to the redirect URI
/// (the `response_mode` parameter).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ResponseMode {
    /// `?code=...` on a 302 redirect (the default for `response_type=code`).
    Query,
    /// `#code=...` on a 302 redirect.
    Fragment,
    /// An HTML page whose form POSTs the answer to the redirect URI.
    FormPost,
}

impl ResponseMode {
    fn parse(value: Option<&str>) -> Option<Self> {
        match value {
            None | Some("query") => Some(ResponseMode::Query),
            Some("fragment") => Some(ResponseMode::Fragment),
            Some("form_post") => Some(ResponseMode::FormPost),
            Some(_) => None,
        }
    }
}

/// Sends `pairs` back to `base` the way `mode` asks.
fn redirect(mode: ResponseMode, base: &str, pairs: &[(&str, &str)]) -> Response {
    let mut url = match url::Url::parse(base) {
        Ok(u) => u,
        Err(_) => return (StatusCode::BAD_REQUEST, "invalid redirect_uri").into_response(),
    };
    let encoded = || {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            out.append_pair(k, v);
        }
        out.finish()
    };
    match mode {
        ResponseMode::Query => {
            let mut q = url.query_pairs_mut();
            for (k, v) in pairs {
                q.append_pair(k, v);
            }
        }
        ResponseMode::Fragment => url.set_fragment(Some(&encoded())),
        ResponseMode::FormPost => return form_post_page(url.as_str(), pairs),
    }
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(url.as_str()) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// `response_mode=form_post`: a page whose form, submitted by script as it
/// loads (or by hand without script), POSTs `pairs` as
/// `application/x-www-form-urlencoded` to `action`.
fn form_post_page(action: &str, pairs: &[(&str, &str)]) -> Response {
    let mut inputs = String::new();
    for (k, v) in pairs {
        inputs.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\" />",
            html_escape(k),
            html_escape(v)
        ));
    }
    let html = format!(
        "<!DOCTYPE html><html><head><title>Working...</title></head><body>\
         <form method=\"POST\" name=\"hiddenform\" action=\"{}\">{inputs}\
         <noscript><p>Script is disabled. Click Submit to continue.</p><input type=\"submit\" value=\"Submit\" /></noscript>\
         </form><script>document.forms[0].submit();</script></body></html>",
        html_escape(action)
    );
    let mut resp = Html(html).into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache"),
    );
    resp
}

/// The recognised resource prefixes of Graph scopes.
fn graph_prefixes(app: &App) -> Vec<String> {
    vec![
        "https://graph.microsoft.com".to_string(),
        app.base_url.clone(),
        GRAPH_APP_ID.to_string(),
    ]
}

struct ParsedScopes {
    graph: Vec<String>,
    oidc: Vec<String>,
    prefix: String,
}

/// Splits a delegated scope string into Graph permissions (without the
/// resource prefix) and OpenID scopes.
fn parse_delegated_scopes(app: &App, scope: &str) -> Result<ParsedScopes, IdentityError> {
    let mut out = ParsedScopes {
        graph: Vec::new(),
        oidc: Vec::new(),
        // Empty until a scope names its resource: a request for `User.Read`
        // is answered with `User.Read` (auth-v2-user.md's token responses,
        // docs-2021-07), one for `https://graph.microsoft.com/User.Read`
        // with that. MSAL finds cached tokens by the answered scopes.
        prefix: String::new(),
    };
    for s in scope.split_whitespace() {
        if let Some(o) = OIDC_SCOPES.iter().find(|o| o.eq_ignore_ascii_case(s)) {
            out.oidc.push(o.to_string());
            continue;
        }
        let (prefix, name) = match s.rsplit_once('/') {
            Some((p, n)) => (p.trim_end_matches('/'), n),
            None => ("", s),
        };
        if !prefix.is_empty() {
            if !graph_prefixes(app)
                .iter()
                .any(|g| g.eq_ignore_ascii_case(prefix))
            {
                return Err(IdentityError::new(
                    "invalid_resource",
                    500011,
                    format!(
                        "The resource principal named {prefix} was not found in the tenant named {}.",
                        app.tenant_domain
                    ),
                ));
            }
            out.prefix = prefix.to_string();
        }
        if name == ".default" {
            out.graph
                .extend(DEFAULT_DELEGATED.iter().map(|s| s.to_string()));
            continue;
        }
        if !app.permissions.is_known(name) {
            return Err(IdentityError::new(
                "invalid_client",
                650053,
                format!(
                    "The application asked for scope '{name}' that doesn't exist on the resource '{GRAPH_APP_ID}'."
                ),
            ));
        }
        if !out.graph.iter().any(|g| g.eq_ignore_ascii_case(name)) {
            out.graph.push(name.to_string());
        }
    }
    if out.graph.is_empty() && out.oidc.is_empty() {
        return Err(IdentityError::new(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        ));
    }
    Ok(out)
}

/// `GET /{tenant}/oauth2/v2.0/authorize`: signs in a seeded user (the
/// `login_hint`, else the first user), consents to the requested scopes
/// and redirects back with `code` and `state`.
pub(crate) async fn authorize(
    State(app): State<Arc<App>>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let p = params(query.unwrap_or_default().as_bytes());
    if !tenant_ok(&app, &tenant, true) {
        return error_page(&app, tenant_not_found(&tenant));
    }
    let client_id = p.get("client_id").cloned().unwrap_or_default();
    let Some(client) = find_client(&app, &client_id) else {
        return error_page(&app, unknown_client(&app, &client_id));
    };
    let redirect_uri = p.get("redirect_uri").cloned().unwrap_or_default();
    if !client.allows_redirect(&redirect_uri) {
        return error_page(
            &app,
            IdentityError::new(
                "invalid_request",
                50011,
                format!(
                    "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{}'.",
                    client.client_id
                ),
            ),
        );
    }
    let Some(mode) = ResponseMode::parse(p.get("response_mode").map(String::as_str)) else {
        return error_page(
            &app,
            IdentityError::new(
                "invalid_request",
                90023,
                format!(
                    "The response_mode '{}' is not supported; use query, fragment or form_post.",
                    p.get("response_mode")
                        .map(String::as_str)
                        .unwrap_or_default()
                ),
            ),
        );
    };
    let state = p.get("state").cloned().unwrap_or_default();
    let fail = |error: &str, code: u32, description: &str| {
        let mut pairs = vec![
            ("error", error.to_string()),
            ("error_description", format!("AADSTS{code}: {description}")),
        ];
        if !state.is_empty() {
            pairs.push(("state", state.clone()));
        }
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        redirect(mode, &redirect_uri, &pairs)
    };
    if p.get("response_type").map(String::as_str) != Some("code") {
        return fail(
            "unsupported_response_type",
            700054,
            "response_type 'code' is the only response type supported.",
        );
    }
    let scopes =
        match parse_delegated_scopes(&app, p.get("scope").map(String::as_str).unwrap_or("")) {
            Ok(s) => s,
            Err(e) => return fail(e.error, e.code, &e.description),
        };
    let challenge = match (p.get("code_challenge"), p.get("code_challenge_method")) {
        (Some(c), m) => {
            let method = m.cloned().unwrap_or_else(|| "plain".to_string());
            if method != "S256" && method != "plain" {
                return fail(
                    "invalid_request",
                    501491,
                    "Invalid code_challenge_method; use S256.",
                );
            }
            Some((c.clone(), method))
        }
        (None, _) => None,
    };
    let mut guard = app.lock();
    let st = &mut *guard;
    let user = match p.get("login_hint").filter(|h| !h.is_empty()) {
        Some(hint) => match st
            .tenant
            .user_by_address(hint)
            .or_else(|| st.tenant.user(hint))
        {
            Some(u) => u.id().to_string(),
            None => {
                drop(guard);
                return fail(
                    "invalid_request",
                    50034,
                    &format!(
                        "The user account {hint} does not exist in the {} directory.",
                        app.tenant_domain
                    ),
                );
            }
        },
        None => st
            .tenant
            .users
            .first()
            .map(|u| u.id().to_string())
            .unwrap_or_default(),
    };
    let n = st.next();
    let code = format!("1.A{}", app.signer.opaque_id("code", n));
    st.identity.codes.insert(
        code.clone(),
        CodeGrant {
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            user_id: user,
            scopes: scopes.graph,
            oidc: scopes.oidc,
            prefix: scopes.prefix,
            challenge,
            nonce: p.get("nonce").filter(|n| !n.is_empty()).cloned(),
            expires: datetime::now() + CODE_LIFETIME,
            redeemed: false,
        },
    );
    drop(guard);
    let session_state = app.new_guid();
    let mut pairs = vec![("code", code.as_str())];
    if !state.is_empty() {
        pairs.push(("state", state.as_str()));
    }
    pairs.push(("session_state", session_state.as_str()));
    redirect(mode, &redirect_uri, &pairs)
}

/// `GET /{tenant}/v2.0/adminconsent`: an administrator grants the app's
/// application permissions for the tenant.
pub(crate) async fn admin_consent(
    State(app): State<Arc<App>>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let p = params(query.unwrap_or_default().as_bytes());
    if !tenant_ok(&app, &tenant, true) {
        return error_page(&app, tenant_not_found(&tenant));
    }
    let client_id = p.get("client_id").cloned().unwrap_or_default();
    let Some(client) = find_client(&app, &client_id) else {
        return error_page(&app, unknown_client(&app, &client_id));
    };
    let redirect_uri = p.get("redirect_uri").cloned().unwrap_or_default();
    if !client.allows_redirect(&redirect_uri) {
        return error_page(
            &app,
            IdentityError::new(
                "invalid_request",
                50011,
                format!(
                    "The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{}'.",
                    client.client_id
                ),
            ),
        );
    }
    app.lock().identity.admin_consent.insert(
        client.client_id.to_ascii_lowercase(),
        client.application_permissions.clone(),
    );
    let mut pairs = vec![
        ("admin_consent", "True"),
        ("tenant", app.tenant_id.as_str()),
    ];
    let scope = p.get("scope").cloned().unwrap_or_default();
    if !scope.is_empty() {
        pairs.push(("scope", scope.as_str()));
    }
    let state = p.get("state").cloned().unwrap_or_default();
    if !state.is_empty() {
        pairs.push(("state", state.as_str()));
    }
    redirect(ResponseMode::Query, &redirect_uri, &pairs)
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub(crate) async fn openid_configuration(
    State(app): State<Arc<App>>,
    Path(tenant): Path<String>,
) -> Response {
    if !tenant_ok(&app, &tenant, true) && !tenant.eq_ignore_ascii_case("consumers") {
        let e = tenant_not_found(&tenant);
        return e.into_response_with(&app.new_guid(), &app.new_guid());
    }
    let base = &app.base_url;
    let issuer_tenant =
        if tenant.eq_ignore_ascii_case("common") || tenant.eq_ignore_ascii_case("organizations") {
            "{tenantid}".to_string()
        } else {
            app.tenant_id.clone()
        };
    let body = json!({
        "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": format!("{base}/{tenant}/discovery/v2.0/keys"),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["HS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": format!("{base}/{issuer_tenant}/v2.0"),
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": format!("{base}/oidc/userinfo"),
        "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
        "device_authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/devicecode"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "end_session_endpoint": format!("{base}/{tenant}/oauth2/v2.0/logout"),
        "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "kerberos_endpoint": format!("{base}/{tenant}/kerberos"),
        "tenant_region_scope": "NA",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": base.trim_start_matches("https://").trim_start_matches("http://"),
        "rbac_url": "https://pas.windows.net",
    });
    axum::Json(body).into_response()
}

/// `GET /{tenant}/discovery/v2.0/keys`: the sandbox signs with a shared
/// key (HS256), which is not published.
pub(crate) async fn keys() -> Response {
    axum::Json(json!({"keys": []})).into_response()
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) async fn token(
    State(app): State<Arc<App>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let trace = app.new_guid();
    let correlation = app.new_guid();
    match token_inner(&app, &tenant, &headers, &body) {
        Ok(v) => {
            let mut resp = axum::Json(v).into_response();
            resp.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store, no-cache"),
            );
            resp
        }
        Err(e) => {
            tracing::debug!(code = e.code, error = e.error, "token request refused");
            e.into_response_with(&trace, &correlation)
        }
    }
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    use base64::Engine as _;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let dec = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((dec(id), dec(secret)))
}

fn token_inner(
    app: &App,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, IdentityError> {
    let p = params(body);
    if !tenant_ok(app, tenant, true) {
        return Err(tenant_not_found(tenant));
    }
    let grant_type = p.get("grant_type").cloned().ok_or_else(|| {
        IdentityError::new(
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
        )
    })?;
    let basic = basic_credentials(headers);
    let client_id = p
        .get("client_id")
        .cloned()
        .or_else(|| basic.as_ref().map(|b| b.0.clone()))
        .ok_or_else(|| {
            IdentityError::new(
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            )
        })?;
    let client = find_client(app, &client_id).ok_or_else(|| unknown_client(app, &client_id))?;
    let secret = p
        .get("client_secret")
        .cloned()
        .or_else(|| basic.map(|b| b.1));
    let Some(secret) = secret else {
        return Err(IdentityError::invalid_client(
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ));
    };
    if !bool::from(
        secret
            .as_bytes()
            .ct_eq(client.client_secret.expose().as_bytes()),
    ) {
        return Err(IdentityError::invalid_client(
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                client.client_id
            ),
        ));
    }
    match grant_type.as_str() {
        "authorization_code" => redeem_code(app, client, &p),
        "refresh_token" => redeem_refresh(app, client, &p),
        "client_credentials" => client_credentials(app, client, tenant, &p),
        other => Err(IdentityError::new(
            "unsupported_grant_type",
            70003,
            format!("The app requested an unsupported grant type '{other}'."),
        )),
    }
}

fn redeem_code(
    app: &App,
    client: &ClientRegistration,
    p: &HashMap<String, String>,
) -> Result<Value, IdentityError> {
    let code = p.get("code").cloned().unwrap_or_default();
    let expired = || {
        IdentityError::new(
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.",
        )
    };
    let mut guard = app.lock();
    let st = &mut *guard;
    let grant = st.identity.codes.get_mut(&code).ok_or_else(expired)?;
    if grant.redeemed {
        return Err(IdentityError::new(
            "invalid_grant",
            54005,
            "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.",
        ));
    }
    if grant.expires < datetime::now() || !grant.client_id.eq_ignore_ascii_case(&client.client_id) {
        return Err(expired());
    }
    if p.get("redirect_uri").map(String::as_str) != Some(grant.redirect_uri.as_str()) {
        return Err(IdentityError::new(
            "invalid_grant",
            50148,
            "The redirect_uri does not match the one used in the authorization request.",
        ));
    }
    if let Some((challenge, method)) = &grant.challenge {
        let verifier = p.get("code_verifier").cloned().unwrap_or_default();
        let computed = if method == "S256" {
            tokens::s256(&verifier)
        } else {
            verifier.clone()
        };
        if verifier.is_empty() || !bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
            return Err(IdentityError::new(
                "invalid_grant",
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
            ));
        }
    }
    grant.redeemed = true;
    let grant = DelegatedGrant {
        user_id: grant.user_id.clone(),
        scopes: grant.scopes.clone(),
        oidc: grant.oidc.clone(),
        prefix: grant.prefix.clone(),
        nonce: grant.nonce.clone(),
        client_info: wants_client_info(p),
    };
    Ok(issue_delegated(app, st, client, grant))
}

fn redeem_refresh(
    app: &App,
    client: &ClientRegistration,
    p: &HashMap<String, String>,
) -> Result<Value, IdentityError> {
    let token = p.get("refresh_token").cloned().unwrap_or_default();
    let mut guard = app.lock();
    let st = &mut *guard;
    let refresh_epoch = st.identity.refresh_epoch;
    let Some(grant) = st.identity.refresh.get_mut(&token) else {
        return Err(IdentityError::new(
            "invalid_grant",
            9002313,
            "Invalid request. Request is malformed or invalid.",
        ));
    };
    if !grant.client_id.eq_ignore_ascii_case(&client.client_id) {
        return Err(IdentityError::new(
            "invalid_grant",
            70000,
            "Provided grant is invalid or malformed. The refresh token was issued to a different client.",
        ));
    }
    if grant.expires < datetime::now() || grant.epoch < refresh_epoch {
        return Err(IdentityError::new(
            "invalid_grant",
            700082,
            format!(
                "The refresh token has expired due to inactivity. The token was issued on {} and was inactive for a time longer than allowed.",
                datetime::iso_z(grant.issued)
            ),
        ));
    }
    if grant.rotated {
        return Err(IdentityError::new(
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource. (The sandbox accepts each refresh token once; use the newest one.)",
        ));
    }
    grant.rotated = true;
    let (user_id, mut scopes, oidc, prefix) = (
        grant.user_id.clone(),
        grant.scopes.clone(),
        grant.oidc.clone(),
        grant.prefix.clone(),
    );
    if let Some(requested) = p.get("scope").filter(|s| !s.trim().is_empty()) {
        let asked = parse_delegated_scopes(app, requested)?;
        let narrowed: Vec<String> = scopes
            .iter()
            .filter(|s| asked.graph.iter().any(|a| a.eq_ignore_ascii_case(s)))
            .cloned()
            .collect();
        if !narrowed.is_empty() {
            scopes = narrowed;
        }
    }
    let grant = DelegatedGrant {
        user_id,
        scopes,
        oidc,
        prefix,
        nonce: None,
        client_info: wants_client_info(p),
    };
    Ok(issue_delegated(app, st, client, grant))
}

fn client_credentials(
    app: &App,
    client: &ClientRegistration,
    tenant: &str,
    p: &HashMap<String, String>,
) -> Result<Value, IdentityError> {
    if tenant.eq_ignore_ascii_case("common") || tenant.eq_ignore_ascii_case("organizations") {
        return Err(IdentityError::new(
            "invalid_request",
            50059,
            "No tenant-identifying information found in either the request or implied by any provided credentials.",
        ));
    }
    let scope = p.get("scope").cloned().unwrap_or_default();
    let ok = scope.split_whitespace().count() == 1
        && scope.strip_suffix("/.default").is_some_and(|prefix| {
            graph_prefixes(app)
                .iter()
                .any(|g| g.eq_ignore_ascii_case(prefix.trim_end_matches('/')))
        });
    if !ok {
        return Err(IdentityError::new(
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        ));
    }
    let mut guard = app.lock();
    let st = &mut *guard;
    let Some(roles) = st
        .identity
        .admin_consent
        .get(&client.client_id.to_ascii_lowercase())
        .cloned()
    else {
        return Err(unknown_client(app, &client.client_id));
    };
    let now = datetime::now();
    let n = st.next();
    let uti = app.signer.opaque_id("uti", n);
    st.identity
        .issue(uti.clone(), now + app.token_lifetime as i64);
    let sp_id = service_principal_id(app, client);
    let claims = json!({
        "aud": GRAPH_APP_ID,
        "iss": format!("https://sts.windows.net/{}/", app.tenant_id),
        "iat": now, "nbf": now, "exp": now + app.token_lifetime as i64,
        "app_displayname": client.name,
        "appid": client.client_id,
        "appidacr": "1",
        "idtyp": "app",
        "oid": sp_id,
        "roles": roles,
        "sub": sp_id,
        "tid": app.tenant_id,
        "uti": uti,
        "ver": "1.0",
    });
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": app.token_lifetime,
        "ext_expires_in": app.token_lifetime,
        "access_token": app.signer.jwt(&claims),
    }))
}

fn service_principal_id(app: &App, client: &ClientRegistration) -> String {
    let h = tokens::hmac_sha256(client.client_id.as_bytes(), app.tenant_id.as_bytes());
    let hex: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// What a delegated token response is issued for.
struct DelegatedGrant {
    user_id: String,
    scopes: Vec<String>,
    oidc: Vec<String>,
    prefix: String,
    /// Repeated in the id_token (codes only: a refreshed id_token has none).
    nonce: Option<String>,
    /// The token request asked for `client_info`.
    client_info: bool,
}

/// MSAL sends `client_info=1` on token requests and builds its account id
/// from the answer.
fn wants_client_info(p: &HashMap<String, String>) -> bool {
    p.get("client_info").map(String::as_str) == Some("1")
}

fn issue_delegated(
    app: &App,
    st: &mut crate::state::State,
    client: &ClientRegistration,
    grant: DelegatedGrant,
) -> Value {
    let DelegatedGrant {
        user_id,
        scopes,
        oidc,
        prefix,
        nonce,
        client_info,
    } = grant;
    let user_id = user_id.as_str();
    let now = datetime::now();
    let n = st.next();
    let uti = app.signer.opaque_id("uti", n);
    st.identity
        .issue(uti.clone(), now + app.token_lifetime as i64);
    let (name, upn) = st
        .tenant
        .users
        .iter()
        .find(|u| u.id() == user_id)
        .map(|u| {
            (
                u.str("displayName").to_string(),
                u.str("userPrincipalName").to_string(),
            )
        })
        .unwrap_or_default();
    let claims = json!({
        "aud": GRAPH_APP_ID,
        "iss": format!("https://sts.windows.net/{}/", app.tenant_id),
        "iat": now, "nbf": now, "exp": now + app.token_lifetime as i64,
        "app_displayname": client.name,
        "appid": client.client_id,
        "appidacr": "1",
        "idtyp": "user",
        "name": name,
        "oid": user_id,
        "scp": scopes.join(" "),
        "sub": user_id,
        "tid": app.tenant_id,
        "unique_name": upn,
        "upn": upn,
        "uti": uti,
        "ver": "1.0",
    });
    let mut scope_text: Vec<String> = scopes
        .iter()
        .map(|s| {
            if prefix.is_empty() {
                s.clone()
            } else {
                format!("{prefix}/{s}")
            }
        })
        .collect();
    scope_text.extend(oidc.iter().filter(|o| *o != "offline_access").cloned());
    let mut body = json!({
        "token_type": "Bearer",
        "scope": scope_text.join(" "),
        "expires_in": app.token_lifetime,
        "ext_expires_in": app.token_lifetime,
        "access_token": app.signer.jwt(&claims),
    });
    if oidc.iter().any(|o| o == "offline_access") {
        let n = st.next();
        let refresh = format!("1.A{}", app.signer.opaque_id("refresh", n));
        st.identity.refresh.insert(
            refresh.clone(),
            RefreshGrant {
                client_id: client.client_id.clone(),
                user_id: user_id.to_string(),
                scopes,
                oidc: oidc.clone(),
                prefix,
                issued: now,
                expires: now + app.refresh_token_lifetime as i64,
                epoch: st.identity.refresh_epoch,
                rotated: false,
            },
        );
        body["refresh_token"] = json!(refresh);
    }
    if oidc.iter().any(|o| o == "openid") {
        let mut id_claims = json!({
            "aud": client.client_id,
            "iss": format!("{}/{}/v2.0", app.base_url, app.tenant_id),
            "iat": now, "nbf": now, "exp": now + 3600,
            "name": body_name(st, user_id),
            "oid": user_id,
            "preferred_username": upn,
            "sub": user_id,
            "tid": app.tenant_id,
            "ver": "2.0",
        });
        if let Some(nonce) = nonce {
            id_claims["nonce"] = json!(nonce);
        }
        body["id_token"] = json!(app.signer.jwt(&id_claims));
    }
    if client_info {
        let info = json!({"uid": user_id, "utid": app.tenant_id});
        body["client_info"] = json!(tokens::b64url(info.to_string().as_bytes()));
    }
    body
}

fn body_name(st: &crate::state::State, user_id: &str) -> String {
    st.tenant
        .users
        .iter()
        .find(|u| u.id() == user_id)
        .map(|u| u.str("displayName").to_string())
        .unwrap_or_default()
}

impl App {
    /// Validates the bearer token of a Graph request.
    pub(crate) fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, GraphError> {
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let token = value
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("bearer "))
            .map(|_| value[7..].trim())
            .unwrap_or("");
        if token.is_empty() {
            return Err(GraphError::invalid_token("Access token is empty."));
        }
        let claims = self.signer.verify_jwt(token).ok_or_else(|| {
            GraphError::invalid_token("CompactToken parsing failed with error code: 80049217")
        })?;
        if claims["tid"].as_str() != Some(self.tenant_id.as_str())
            || claims["aud"].as_str() != Some(GRAPH_APP_ID)
        {
            return Err(GraphError::invalid_token(
                "Access token validation failure. Invalid audience.",
            ));
        }
        let expired = || GraphError::invalid_token("Access token has expired or is not yet valid.");
        if claims["exp"].as_i64().unwrap_or(0) <= datetime::now() {
            return Err(expired());
        }
        let uti = claims["uti"].as_str().unwrap_or("");
        {
            let st = self.lock();
            match st.identity.issued.get(uti) {
                Some(issued) if issued.epoch == st.identity.epoch => {}
                _ => return Err(expired()),
            }
        }
        let list = |v: &Value| -> Vec<String> {
            match v {
                Value::String(s) => s.split_whitespace().map(str::to_string).collect(),
                Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            }
        };
        let app_id = claims["appid"].as_str().unwrap_or("").to_ascii_lowercase();
        let object_id = claims["oid"].as_str().unwrap_or_default().to_string();
        if claims["idtyp"] == "app" {
            Ok(Caller {
                user_id: None,
                permissions: list(&claims["roles"]),
                app_id,
                object_id,
            })
        } else {
            Ok(Caller {
                user_id: claims["oid"].as_str().map(str::to_string),
                permissions: list(&claims["scp"]),
                app_id,
                object_id,
            })
        }
    }
}
