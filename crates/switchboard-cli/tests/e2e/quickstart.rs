//! `switchboard quickstart` exits 0 and prints the four tables.

use crate::harness::Cli;

#[tokio::test]
async fn quickstart_prints_four_tables_offline() {
    let run = Cli::new().ok(&["quickstart"]).await;
    let out = run.stdout();
    for title in [
        "Users (",
        "Calendar: the next 7 days (",
        "Mail: inbox (",
        "OneDrive: root folder (",
    ] {
        assert!(out.contains(title), "missing {title}: {run}");
    }
    assert_eq!(out.matches("╞").count(), 4, "four tables: {run}");
    for expected in [
        "Anders Fischer",
        "userPrincipalName",
        "subject",
        "receivedDateTime",
        "welcome.txt",
    ] {
        assert!(out.contains(expected), "missing {expected}: {run}");
    }
    assert!(out.contains("switchboard install microsoft365 --variant delegated"));
    // the next steps name this binary, which is not on the PATH here, so
    // that they work as printed: run one
    let permissions = out
        .lines()
        .map(str::trim)
        .find(|l| l.ends_with("permissions microsoft365 --variant application"))
        .unwrap_or_else(|| panic!("no permissions step: {run}"));
    assert!(
        permissions.starts_with(crate::harness::binary()),
        "{permissions}"
    );
    let cli = Cli::new();
    let step = cli.shell(permissions).output().await.unwrap();
    assert!(step.status.success(), "{permissions}: {step:?}");
    assert!(String::from_utf8_lossy(&step.stdout).contains("scope to request:"));
    assert!(out.contains("is not on your PATH"), "{run}");

    let json = Cli::new().json(&["quickstart"]).await;
    for method in [
        "users.list_users",
        "calendars.calendar_view",
        "mail.list_folder_messages",
        "onedrive.list_root_children",
    ] {
        let records = json["results"][method].as_array().unwrap();
        assert!(!records.is_empty(), "{method}: {json}");
    }
}
