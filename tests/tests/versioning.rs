//! An installation keeps the definition version it was made with; when the
//! loaded definition is a newer major version (or an older one), the
//! lifecycle refuses to hand out a call context and says why, instead of
//! applying it silently. A compatible newer version is used.

mod lifecycle_support;

use lifecycle_support::*;
use switchboard_core::ErrorKind;
use wiremock::MockServer;

#[tokio::test]
async fn a_new_major_definition_is_reported_not_applied() {
    let stores = memory();
    let server = MockServer::start().await;
    catch_all(&server).await;
    let svc = service(stores.a.clone(), "node-a", CLIENT_SECRET);
    let id = active_delegated(&svc, &server, "acct-v", "code-v", "refresh-v").await;

    let installed = svc.get(id).await.unwrap();
    let loaded = switchboard_microsoft365::Microsoft365::new().unwrap();
    let loaded_version = switchboard_core::Connector::definition(&loaded)
        .version
        .clone();
    // Made with the version now loaded: calls may go ahead.
    assert_eq!(installed.connector_version, loaded_version);
    svc.context(id).await.unwrap();

    // The installation was made with an earlier major version (below 1.0
    // the first non-zero component is the major: 0.0.1 → 0.1.0 breaks).
    let mut old = installed.clone();
    old.connector_version = "0.0.1".into();
    stores.a.update(&old).await.unwrap();
    let err = svc.context(id).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration, "{err}");
    let text = err.to_string();
    assert!(text.contains("new major version"), "{text}");
    assert!(
        text.contains(&format!("0.0.1 → {loaded_version}")),
        "{text}"
    );
    assert!(text.contains("not applied silently"), "{text}");

    // An installation made with a later version than the one loaded (a
    // rollback) is reported too.
    let mut newer = svc.get(id).await.unwrap();
    newer.connector_version = "9.0.0".into();
    stores.a.update(&newer).await.unwrap();
    let err = svc.context(id).await.unwrap_err();
    assert!(err.to_string().contains("older definition"), "{err}");

    // Back to a version of the same major: usable again.
    let mut same = svc.get(id).await.unwrap();
    same.connector_version = loaded_version;
    stores.a.update(&same).await.unwrap();
    svc.context(id).await.unwrap();
}
