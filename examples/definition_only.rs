//! A third-party connector written only as data: a JSON definition, no
//! Rust of its own, installed for an account with an API key and called.
//!
//! The "Acme CRM" here is a tiny HTTP server this program starts on a
//! loopback port; it answers only requests that carry the key in its
//! `X-Api-Key` header, and pages its contacts with a `Link` header:
//!
//! ```sh
//! cargo run -p switchboard-examples --example definition_only
//! ```
//!
//! Against a real service the definition's `base_url` and
//! `allowed_hosts` name the service's https host; nothing else changes.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use futures::TryStreamExt;
use serde::Deserialize;
use serde_json::json;
use switchboard::switchboard_core::definition::ConnectorDefinition;
use switchboard::switchboard_core::definition::validate::validate;
use switchboard::{Arguments, InstallRequest, InstallableConnector, KeyRing, Store, Switchboard};

/// The connector, as its author would ship it: `{base}` is filled in
/// below only because the server's port is chosen at run time.
const ACME: &str = r#"{
  "id": "acme",
  "name": "Acme CRM",
  "version": "1.0.0",
  "description": "Contacts in Acme CRM.",
  "base_url": "{base}/v1",
  "install_parameters": [
    { "name": "api_key", "label": "API key", "required": true, "secret": true,
      "description": "Settings > API in Acme. Stored encrypted; never shown." }
  ],
  "auth_variants": [
    { "id": "api_key", "name": "API key", "kind": "api_key",
      "api_key": { "parameter": "api_key", "in": "header", "name": "X-Api-Key" },
      "test_method": "contacts.list_contacts" }
  ],
  "allowed_hosts": ["127.0.0.1"],
  "default_headers": { "Accept": "application/json" },
  "categories": [{ "id": "contacts", "name": "Contacts" }],
  "methods": [
    { "id": "contacts.list_contacts", "category": "contacts", "name": "List contacts",
      "description": "Every contact, in pages that follow the Link header.",
      "http_method": "GET", "path": "/contacts",
      "parameters": [{ "name": "limit", "in": "query", "type": "integer", "minimum": 1, "maximum": 100 }],
      "pagination": "link_header", "records": "/contacts" }
  ]
}"#;

/// The key the customer created in Acme (in a platform: typed into its UI).
const CUSTOMER_KEY: &str = "acme_live_8a1f3c";

#[derive(Debug, Deserialize)]
struct Contact {
    id: u32,
    name: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (base, server) = start_acme().await?;

    let def: ConnectorDefinition = serde_json::from_str(&ACME.replace("{base}", &base))?;
    let problems = validate(&def);
    if !problems.is_empty() {
        return Err(format!("the definition has problems: {problems:?}").into());
    }

    let dir = tempfile::tempdir()?;
    let spec = format!("sqlite:{}", dir.path().join("switchboard.db").display());
    let store = Store::open(&spec, KeyRing::generate("k1")?).await?;
    let sb = Switchboard::builder()
        .store(store)
        .connector(InstallableConnector::from_definition(def))
        .build()?;

    // No consent: the key comes with the install, is stored encrypted, and
    // the installation is active at once.
    let started = sb
        .install(InstallRequest::new("acct-42", "acme", "api_key").setting("api_key", CUSTOMER_KEY))
        .await?;
    let installation = started.installation;
    println!(
        "installation {} is {}",
        installation.id, installation.status
    );
    if installation.settings.contains_key("api_key") {
        return Err("the key must not be kept in the plain settings".into());
    }

    let client = sb.installation(installation.id).await?;
    let report = client.test().await?;
    if !report.ok {
        return Err(format!("the connection test failed: {}", report.message).into());
    }
    println!("connection test: {}", report.message);

    let mut contacts =
        client.stream_as::<Contact>("contacts.list_contacts", Arguments::new().set("limit", 2));
    let mut count = 0;
    while let Some(contact) = contacts.try_next().await? {
        count += 1;
        println!("{:>3}. #{} {}", count, contact.id, contact.name);
    }
    if count != 5 {
        return Err(format!("expected Acme's 5 contacts, got {count}").into());
    }
    println!("{count} contacts, in pages of 2");
    server.abort();
    Ok(())
}

/// Acme's API: five contacts, paged, for the one key it knows.
async fn start_acme() -> std::io::Result<(String, tokio::task::JoinHandle<()>)> {
    #[derive(Deserialize)]
    struct Page {
        limit: Option<usize>,
        offset: Option<usize>,
    }
    async fn contacts(
        State(base): State<Arc<String>>,
        headers: HeaderMap,
        Query(page): Query<Page>,
    ) -> axum::response::Response {
        if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(CUSTOMER_KEY) {
            return (StatusCode::UNAUTHORIZED, "unknown API key").into_response();
        }
        let names = ["Ada", "Grace", "Edsger", "Barbara", "Donald"];
        let (limit, offset) = (
            page.limit.unwrap_or(100).clamp(1, 100),
            page.offset.unwrap_or(0),
        );
        let items: Vec<_> = names
            .iter()
            .enumerate()
            .skip(offset)
            .take(limit)
            .map(|(i, name)| json!({"id": i + 1, "name": name}))
            .collect();
        let mut response = axum::Json(json!({ "contacts": items })).into_response();
        if offset + limit < names.len() {
            let next = format!(
                "<{base}/v1/contacts?limit={limit}&offset={}>; rel=\"next\"",
                offset + limit
            );
            if let Ok(value) = next.parse() {
                response.headers_mut().insert(header::LINK, value);
            }
        }
        response
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new()
        .route("/v1/contacts", axum::routing::get(contacts))
        .with_state(Arc::new(base.clone()));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((base, server))
}
