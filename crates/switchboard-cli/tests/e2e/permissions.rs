//! A grant without a permission a method needs: the call fails with the
//! Forbidden error, which names the permission to grant; exit code 2.

use switchboard_microsoft365_sandbox::{ClientRegistration, SandboxConfig};

use crate::harness::Env;

#[tokio::test]
async fn an_app_without_mail_permissions_gets_forbidden_naming_them() {
    let mut app = ClientRegistration::seeded(21);
    app.application_permissions = vec!["User.Read.All".to_string()];
    let env = Env::start(SandboxConfig::new(21).with_client(app)).await;
    let id = env.install_application(&[]).await;
    let user = env.sandbox.users()[0].id.clone();

    // what the grant allows works
    env.cli
        .ok(&[
            "call",
            &id,
            "users.get_user",
            "--param",
            &format!("user_id={user}"),
        ])
        .await;
    // what it does not allow is refused by Graph, and the CLI says which permission
    let run = env
        .cli
        .run(&[
            "call",
            &id,
            "mail.list_messages",
            "--param",
            &format!("user_id={user}"),
        ])
        .await;
    assert_eq!(run.code(), 2, "{run}");
    let err = run.stderr();
    assert!(err.contains("Mail.Read"), "the permission is named: {run}");
    assert!(
        err.to_lowercase().contains("forbidden") || err.contains("403"),
        "{run}"
    );
    let log = env.sandbox.request_log();
    let refused = log.last().unwrap();
    assert_eq!(
        (refused.method.as_str(), refused.status),
        ("GET", 403),
        "{log:?}"
    );
    assert!(refused.path.ends_with("/messages"));
    env.sandbox.shutdown().await;
}

#[tokio::test]
async fn a_delegated_grant_for_users_only_cannot_read_mail() {
    let env = Env::start(SandboxConfig::new(22)).await;
    let id = env.install_delegated(&["--enable", "users"]).await;
    env.cli.ok(&["call", &id, "users.get_user"]).await;
    let run = env.cli.run(&["call", &id, "mail.list_messages"]).await;
    assert_ne!(run.code(), 0, "{run}");
    assert!(run.stderr().contains("Mail.Read"), "{run}");
    env.sandbox.shutdown().await;
}
