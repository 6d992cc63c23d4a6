//! OneDrive: path addressing, downloads through a pre-authenticated URL on
//! another origin, small uploads, upload sessions that resume, folders,
//! copies, sharing.

mod common;

use common::*;
use reqwest::Method;
use serde_json::json;
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn download_redirects_to_another_origin_that_refuses_authorization() {
    let sb = start(60).await;
    let token = user_token(&sb).await;
    let item = get(&sb, &token, "/me/drive/root:/Documents/Budget.csv").await;
    assert_eq!(item.status, 200, "{}", item.body);
    assert_eq!(
        item.body["parentReference"]["path"],
        "/drive/root:/Documents"
    );
    let id = item.body["id"].as_str().unwrap();
    let r = get(&sb, &token, &format!("/me/drive/items/{id}/content")).await;
    assert_eq!(r.status, 302);
    let location = r.headers["location"].to_str().unwrap().to_string();
    let to = url::Url::parse(&location).unwrap();
    let from = url::Url::parse(sb.graph_url()).unwrap();
    assert_ne!(
        to.origin(),
        from.origin(),
        "downloads come from another origin"
    );
    assert_eq!(to.host_str(), Some("127.0.0.1"));
    // With the bearer token: refused.
    let r = client()
        .get(&location)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Without: the bytes.
    let r = client().get(&location).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv");
    assert!(r.text().await.unwrap().starts_with("category,amount"));
    // Ranges work (a resumed download).
    let r = client()
        .get(&location)
        .header("Range", "bytes=0-7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.text().await.unwrap(), "category");
    // The item itself carries a download URL on the same origin.
    assert!(
        item.body["@microsoft.graph.downloadUrl"]
            .as_str()
            .unwrap()
            .starts_with(sb.download_origin())
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn small_upload_folders_conflicts_move_copy_and_search() {
    let sb = start(61).await;
    let token = user_token(&sb).await;
    let r = call(
        &sb,
        &token,
        Method::PUT,
        "/me/drive/root:/Documents/hello.txt:/content",
        None,
        &[],
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = client()
        .put(format!(
            "{}/v1.0/me/drive/root:/Documents/hello.txt:/content",
            sb.graph_url()
        ))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("hello world")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "replacing keeps the item");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["size"], 11);
    assert_eq!(body["file"]["mimeType"], "text/plain");
    // Too big for a simple upload.
    let big = vec![0u8; 4 * 1024 * 1024 + 1];
    let r = client()
        .put(format!(
            "{}/v1.0/me/drive/root:/big.bin:/content",
            sb.graph_url()
        ))
        .bearer_auth(&token)
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // Folders and conflict behaviour.
    let r = post(
        &sb,
        &token,
        "/me/drive/root/children",
        json!({"name": "Reports", "folder": {}, "@microsoft.graph.conflictBehavior": "fail"}),
    )
    .await;
    assert_eq!(r.status, 201);
    let reports = r.body["id"].as_str().unwrap().to_string();
    let r = post(
        &sb,
        &token,
        "/me/drive/root/children",
        json!({"name": "Reports", "folder": {}, "@microsoft.graph.conflictBehavior": "fail"}),
    )
    .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.body["error"]["code"], "nameAlreadyExists");
    let r = post(
        &sb,
        &token,
        "/me/drive/root/children",
        json!({"name": "Reports", "folder": {}, "@microsoft.graph.conflictBehavior": "rename"}),
    )
    .await;
    assert_eq!(r.body["name"], "Reports 1");
    // Move and rename.
    let hello = body["id"].as_str().unwrap();
    let r = call(
        &sb,
        &token,
        Method::PATCH,
        &format!("/me/drive/items/{hello}"),
        Some(json!({"name": "greeting.txt", "parentReference": {"id": reports}})),
        &[],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["parentReference"]["path"], "/drive/root:/Reports");
    let kids = get(&sb, &token, &format!("/me/drive/items/{reports}/children")).await;
    assert_eq!(kids.body["value"][0]["name"], "greeting.txt");
    // Copy: 202 with a monitor URL that needs no token.
    let r = post(
        &sb,
        &token,
        &format!("/me/drive/items/{hello}/copy"),
        json!({"name": "greeting copy.txt"}),
    )
    .await;
    assert_eq!(r.status, 202);
    let monitor = r.headers["location"].to_str().unwrap().to_string();
    let status: serde_json::Value = client()
        .get(&monitor)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"], "completed");
    let copy = get(
        &sb,
        &token,
        &format!("/me/drive/items/{}", status["resourceId"].as_str().unwrap()),
    )
    .await;
    assert_eq!(copy.body["name"], "greeting copy.txt");
    assert_eq!(copy.body["size"], 11);
    // Search and paging of children.
    let r = get(&sb, &token, "/me/drive/root/search(q='greeting')").await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 2);
    let (records, pages) =
        all_pages(&sb, &token, "/me/drive/root:/Archive:/children?$top=7", &[]).await;
    assert_eq!(records.len(), 30);
    assert_eq!(pages, 5);
    // Delete.
    assert_eq!(
        call(
            &sb,
            &token,
            Method::DELETE,
            &format!("/me/drive/items/{reports}"),
            None,
            &[]
        )
        .await
        .status,
        204
    );
    assert_eq!(
        get(&sb, &token, &format!("/me/drive/items/{hello}"))
            .await
            .status,
        404
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn upload_session_resumes_after_a_dropped_chunk() {
    let sb = start(62).await;
    let token = user_token(&sb).await;
    let r = post(
        &sb,
        &token,
        "/me/drive/root:/Documents/big.bin:/createUploadSession",
        json!({"item": {"@microsoft.graph.conflictBehavior": "rename"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let upload = r.body["uploadUrl"].as_str().unwrap().to_string();
    assert!(upload.starts_with(sb.graph_url()) && !upload.contains("/v1.0/"));
    assert_eq!(r.body["nextExpectedRanges"][0], "0-");
    let total = 3 * 1024 * 1024;
    let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
    let chunk = 983_040; // 3 × 327,680
    let put = |start: usize, end: usize, auth: bool| {
        let mut req = client()
            .put(&upload)
            .header(
                "Content-Range",
                format!("bytes {start}-{}/{total}", end - 1),
            )
            .body(data[start..end].to_vec());
        if auth {
            req = req.bearer_auth(&token);
        }
        req.send()
    };
    // An Authorization header on the upload URL is refused.
    assert_eq!(put(0, chunk, true).await.unwrap().status(), 401);
    let r = put(0, chunk, false).await.unwrap();
    assert_eq!(r.status(), 202);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["nextExpectedRanges"][0], format!("{chunk}-"));
    // A chunk that is not a multiple of 320 KiB is refused.
    assert_eq!(put(chunk, chunk + 1000, false).await.unwrap().status(), 400);
    // The connection drops halfway through the second chunk.
    let addr = url::Url::parse(&upload).unwrap();
    let mut stream =
        tokio::net::TcpStream::connect((addr.host_str().unwrap(), addr.port().unwrap()))
            .await
            .unwrap();
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: {}\r\nContent-Range: bytes {chunk}-{}/{total}\r\nContent-Length: {chunk}\r\n\r\n",
        addr.path(),
        addr.host_str().unwrap(),
        2 * chunk - 1
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
        .write_all(&data[chunk..chunk + chunk / 2])
        .await
        .unwrap();
    drop(stream);
    // The session still expects the second chunk.
    let status: serde_json::Value = client()
        .get(&upload)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["nextExpectedRanges"][0], format!("{chunk}-"));
    // Resume from there.
    let mut pos = chunk;
    let mut last = None;
    while pos < total {
        let end = (pos + chunk).min(total);
        let r = put(pos, end, false).await.unwrap();
        let code = r.status().as_u16();
        last = Some((code, r.json::<serde_json::Value>().await.unwrap()));
        pos = end;
        if pos < total {
            assert_eq!(code, 202);
        }
    }
    let (code, item) = last.unwrap();
    assert_eq!(code, 201);
    assert_eq!(item["name"], "big.bin");
    assert_eq!(item["size"], total);
    // The stored bytes are the ones sent.
    let loc = get(
        &sb,
        &token,
        &format!("/me/drive/items/{}/content", item["id"].as_str().unwrap()),
    )
    .await;
    let got = client()
        .get(loc.headers["location"].to_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.as_ref(), data.as_slice());
    // The finished session is gone.
    assert_eq!(client().get(&upload).send().await.unwrap().status(), 404);
    sb.shutdown().await;
}

#[tokio::test]
async fn sharing_links_invitations_and_application_drive_access() {
    let sb = start(63).await;
    let token = user_token(&sb).await;
    let users = sb.users();
    let item = get(&sb, &token, "/me/drive/root:/welcome.txt").await;
    let id = item.body["id"].as_str().unwrap();
    let r = post(
        &sb,
        &token,
        &format!("/me/drive/items/{id}/createLink"),
        json!({"type": "view", "scope": "organization"}),
    )
    .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["link"]["type"], "view");
    assert_eq!(r.body["roles"][0], "read");
    let again = post(
        &sb,
        &token,
        &format!("/me/drive/items/{id}/createLink"),
        json!({"type": "view", "scope": "organization"}),
    )
    .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["id"], r.body["id"]);
    let r = post(&sb, &token, &format!("/me/drive/items/{id}/invite"), json!({"recipients": [{"email": users[2].mail}], "roles": ["write"], "requireSignIn": true, "sendInvitation": false})).await;
    assert_eq!(r.status, 200);
    let perms = get(&sb, &token, &format!("/me/drive/items/{id}/permissions")).await;
    assert_eq!(perms.body["value"].as_array().unwrap().len(), 2);
    let pid = perms.body["value"][0]["id"].as_str().unwrap();
    assert_eq!(
        call(
            &sb,
            &token,
            Method::DELETE,
            &format!("/me/drive/items/{id}/permissions/{pid}"),
            None,
            &[]
        )
        .await
        .status,
        204
    );
    // The application variant reaches drives by user and by drive id.
    let app = app_token(&sb).await;
    let drive = get(&sb, &app, &format!("/users/{}/drive", users[2].id)).await;
    assert_eq!(drive.status, 200);
    let drive_id = drive.body["id"].as_str().unwrap();
    let shared = get(
        &sb,
        &app,
        &format!("/users/{}/drive/sharedWithMe", users[2].id),
    )
    .await;
    assert_eq!(shared.body["value"][0]["name"], "welcome.txt");
    let root = get(&sb, &app, &format!("/drives/{drive_id}/root/children")).await;
    assert!(
        root.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["name"] == "Documents")
    );
    sb.shutdown().await;
}

/// `root` stands for the root folder's id wherever an item id goes, as
/// Microsoft's SDKs address it (`items.by_drive_item_id("root")`).
#[tokio::test]
async fn root_is_an_item_id_alias() {
    let sb = start(68).await;
    let token = user_token(&sb).await;
    let by_path = get(&sb, &token, "/me/drive/root").await;
    assert_eq!(by_path.status, 200);
    let root_id = by_path.body["id"].as_str().unwrap().to_string();
    let drive_id = get(&sb, &token, "/me/drive").await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let names = |body: &serde_json::Value| -> Vec<String> {
        body["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect()
    };
    let expected = names(&get(&sb, &token, "/me/drive/root/children").await.body);
    assert!(!expected.is_empty());
    for path in [
        format!("/drives/{drive_id}/items/root/children"),
        format!("/drives/{drive_id}/items/ROOT/children"),
        "/me/drive/items/root/children".to_string(),
    ] {
        let r = get(&sb, &token, &path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(names(&r.body), expected, "{path}");
    }
    for path in [
        format!("/drives/{drive_id}/items/root"),
        "/me/drive/items/root".to_string(),
    ] {
        let r = get(&sb, &token, &path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.body["id"], root_id.as_str());
        assert!(r.body["root"].is_object());
    }
    // A path under the alias, and a folder created through it.
    let r = get(&sb, &token, "/me/drive/items/root:/welcome.txt").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "welcome.txt");
    let r = post(
        &sb,
        &token,
        &format!("/drives/{drive_id}/items/root/children"),
        json!({"name": "Made through root", "folder": {}}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["parentReference"]["id"], root_id.as_str());
    // Graph decodes the path before routing, so an SDK that encodes
    // `root:/welcome.txt:` whole into the item-id segment reaches the file.
    let r = get(
        &sb,
        &token,
        &format!("/drives/{drive_id}/items/root%3A%2Fwelcome.txt%3A"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["name"], "welcome.txt");
    // The alias names the root, not an item called "root".
    assert_eq!(
        get(&sb, &token, "/me/drive/items/rootx/children")
            .await
            .status,
        404
    );
    sb.shutdown().await;
}
