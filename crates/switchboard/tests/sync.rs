//! `InstallationClient::sync` through the front door, against the sandbox:
//! an application install on an encrypted SQLite store; everything once,
//! then exactly the message created since, and one node per resource across
//! two `Switchboard`s sharing the store.

mod support;

use serde_json::json;
use support::{installed, switchboard_on};
use switchboard::{Arguments, Change, ErrorKind};

const METHOD: &str = "mail.messages_delta";

fn args(user: &str) -> Arguments {
    Arguments::new()
        .set("user_id", user)
        .set("folder_id", "drafts")
        .set("prefer_max_page_size", 2)
}

/// Runs a whole sync, acknowledging every page: (changes, pages).
async fn sync_all(client: &switchboard::InstallationClient, user: &str) -> (Vec<Change>, usize) {
    let mut run = client.sync(METHOD, args(user)).await.unwrap();
    let (mut changes, mut pages) = (Vec::new(), 0);
    while let Some(page) = run.next_page().await.unwrap() {
        pages += 1;
        changes.extend(page.changes().iter().cloned());
        run.ack(page).await.unwrap();
    }
    run.finish().await.unwrap();
    (changes, pages)
}

#[tokio::test]
async fn sync_yields_everything_once_then_only_what_changed_one_node_at_a_time() {
    let w = installed(31).await;
    let (client, user) = (&w.client, w.user.clone());
    let delta_requests = || w.requests("GET", "/messages/delta");

    let draft = |subject: &str| {
        Arguments::new()
            .set("user_id", user.clone())
            .set("subject", subject)
            .set("body", json!({"contentType": "text", "content": "x"}))
    };
    for n in 0..3 {
        client
            .call("mail.create_draft", draft(&format!("seeded {n}")))
            .await
            .unwrap();
    }
    // the drafts folder as listed, to compare with
    let listed = client
        .collect(
            "mail.list_folder_messages",
            Arguments::new()
                .set("user_id", user.clone())
                .set("folder_id", "drafts"),
            1000,
        )
        .await
        .unwrap();
    assert!(listed.len() >= 3, "the drafts fill several pages");

    let (first, pages) = sync_all(client, &user).await;
    let mut got: Vec<String> = first
        .iter()
        .filter_map(|c| match c {
            Change::Upsert(v) => v["id"].as_str().map(str::to_string),
            _ => None,
        })
        .collect();
    let mut want: Vec<String> = listed
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "the first sync yields every draft once");
    assert_eq!(first.len(), listed.len(), "and nothing else");
    assert_eq!(pages, listed.len().div_ceil(2));
    assert_eq!(delta_requests(), pages, "one request per page");

    // one change through the API, then a sync yields exactly it
    let created = client
        .call("mail.create_draft", draft("synced"))
        .await
        .unwrap()
        .into_json()
        .unwrap();
    let before = delta_requests();
    let (second, _) = sync_all(client, &user).await;
    assert_eq!(second.len(), 1, "{second:?}");
    assert!(matches!(&second[0], Change::Upsert(m) if m["id"] == created["id"]));
    assert_eq!(delta_requests() - before, 1, "resumed from the checkpoint");

    // a second node sharing the store waits while node-a holds the lease
    let b = switchboard_on(&w.store, "node-b");
    let other = b.installation(client.id()).await.unwrap();
    let run = client.sync(METHOD, args(&user)).await.unwrap();
    let refused = other.sync(METHOD, args(&user)).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Conflict, "{refused}");
    // other arguments are another resource: not blocked
    let inbox = other
        .sync(
            METHOD,
            Arguments::new()
                .set("user_id", user.clone())
                .set("folder_id", "inbox"),
        )
        .await
        .unwrap();
    inbox.finish().await.unwrap();
    run.finish().await.unwrap();
    // once released, node-b resumes from node-a's checkpoint: nothing new
    let (third, _) = sync_all(&other, &user).await;
    assert!(third.is_empty(), "{third:?}");

    // resync starts over with Reset, then everything
    let mut run = client.resync(METHOD, args(&user)).await.unwrap();
    let page = run.next_page().await.unwrap().unwrap();
    assert!(matches!(page.changes()[0], Change::Reset));
    run.ack(page).await.unwrap();
    run.finish().await.unwrap();
    w.sb.shutdown().await;
}
