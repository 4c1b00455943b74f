//! Profiles: a display name beside the username, a status line and an
//! avatar (re-encoded, served with cache headers), refused when they would
//! mislead, and live on every page that shows the person.

mod common;

use std::time::Duration;

use common::*;
use futures::SinkExt;
use rocket::http::{ContentType, Status};
use rocket::local::asynchronous::Client;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Posts the profile form of `client`'s account page.
async fn save_profile(client: &Client, display_name: &str, status: &str) -> (Status, String) {
    let csrf = csrf_of(client, "/account").await;
    let response = post_form(
        client,
        "/account/profile",
        &[
            ("csrf", &csrf),
            ("display_name", display_name),
            ("status", status),
        ],
    )
    .await;
    (
        response.status(),
        response.into_string().await.unwrap_or_default(),
    )
}

/// Uploads `bytes` as `client`'s avatar.
async fn upload_avatar(client: &Client, file_type: &str, bytes: &[u8]) -> (Status, String) {
    let csrf = csrf_of(client, "/account").await;
    let body = multipart_with(&[("csrf", &csrf)], "avatar", "me.png", file_type, bytes);
    let response = client
        .post("/account/avatar")
        .header(ContentType::new("multipart", "form-data").with_params(("boundary", BOUNDARY)))
        .body(body)
        .dispatch()
        .await;
    (
        response.status(),
        response.into_string().await.unwrap_or_default(),
    )
}

/// The avatar address a page shows first, if any.
fn avatar_src(page: &str) -> Option<String> {
    let start = page.find(r#"src="/avatars/"#)? + r#"src=""#.len();
    Some(page[start..start + page[start..].find('"')?].to_owned())
}

/// A PNG of one grey `shade` (two shades make two different avatars).
fn picture(width: u32, height: u32, shade: u8) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_pixel(width, height, image::Rgb([shade, shade, shade]))
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encoded");
    out.into_inner()
}

/// How many avatar files the media folder holds.
fn stored_avatars(app: &TestApp) -> usize {
    std::fs::read_dir(app.dir.path().join("media"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".avatar.png"))
                .count()
        })
        .unwrap_or(0)
}

#[rocket::async_test]
async fn a_display_name_and_status_show_beside_the_username_everywhere() {
    let app = TestApp::new().await;
    let alice = app.another_browser().await;
    signup(&alice, "alice").await;
    signup(&app.client, "bob").await;
    let conversation = open_conversation(&app.client, "alice").await;
    post_message(&alice, &conversation, "hello").await;

    let (status, _) = save_profile(&alice, "  Alice Liddell ", "Down the rabbit hole").await;
    assert_eq!(status, Status::SeeOther, "saved, back to the account page");
    let account = page_text(&alice, "/account").await;
    assert!(
        account.contains(r#"value="Alice Liddell""#),
        "trimmed and kept"
    );
    assert!(account.contains(r#"value="Down the rabbit hole""#));

    // Bob sees the name beside the username in the directory, the
    // conversation's heading and the inbox, with the status line.
    let people = page_text(&app.client, "/people").await;
    assert!(
        people.contains(r#"Alice Liddell <span class="handle">@alice</span>"#),
        "{people}"
    );
    assert!(people.contains("Down the rabbit hole"));
    // The directory's filter (without script, on the server) finds her by
    // either name.
    let found = page_text(&app.client, "/people?q=liddell").await;
    assert!(found.contains(r#"href="/c/alice""#), "{found}");
    let chat = page_text(&app.client, &conversation).await;
    assert!(chat.contains(r#"Alice Liddell <span class="handle">@alice</span></h1>"#));
    assert!(chat.contains("Down the rabbit hole"));
    assert!(chat.contains("<title>Alice Liddell"), "the page's title");
    let inbox = page_text(&app.client, "/").await;
    assert!(
        inbox.contains(r#"<span class="name">Alice Liddell</span>"#),
        "{inbox}"
    );

    // In a group, her bubbles carry the name too.
    let group_page = {
        let alice_id = {
            let page = page_text(&app.client, "/people").await;
            let link = page.find(r#"href="/c/alice""#).expect("alice listed");
            let start = page[..link].rfind(r#"id="contact-"#).expect("row") + 12;
            page[start..start + page[start..].find('"').expect("end")].to_owned()
        };
        let csrf = csrf_of(&app.client, "/").await;
        let created = post_form(
            &app.client,
            "/groups",
            &[
                ("csrf", &csrf),
                ("title", "Tea party"),
                ("members", &alice_id),
            ],
        )
        .await;
        let path = created
            .headers()
            .get_one("Location")
            .expect("to the group")
            .to_owned();
        post_message(&alice, &path, "more tea?").await;
        page_text(&app.client, &path).await
    };
    assert!(
        group_page.contains(r#"Alice Liddell <span class="handle">@alice</span></span>"#),
        "the sender's name on her bubble: {group_page}"
    );

    // Cleared: back to the username alone.
    let (status, _) = save_profile(&alice, "", "").await;
    assert_eq!(status, Status::SeeOther);
    let people = page_text(&app.client, "/people").await;
    assert!(!people.contains("Alice Liddell") && !people.contains("rabbit hole"));
}

#[rocket::async_test]
async fn a_profile_that_would_mislead_or_overflow_is_refused_and_nothing_changes() {
    let app = TestApp::new().await;
    signup(&app.client, "alice").await;
    save_profile(&app.client, "Alice", "here").await;
    let too_long = "a".repeat(65);
    let status_too_long = "s".repeat(141);
    for (name, status, reason) in [
        (too_long.as_str(), "", "at most 64 characters"),
        ("Alice", status_too_long.as_str(), "at most 140 characters"),
        // Reordering marks would make "ecila" display as another name.
        ("\u{202e}ecila", "", "control characters"),
        ("Al\nice", "", "control characters"),
        ("Alice", "tab\there", "control characters"),
    ] {
        let (code, page) = save_profile(&app.client, name, status).await;
        assert_eq!(code, Status::UnprocessableEntity, "{name:?} / {status:?}");
        assert!(page.contains(reason), "says why ({reason}): {page}");
    }
    let account = page_text(&app.client, "/account").await;
    assert!(account.contains(r#"value="Alice""#) && account.contains(r#"value="here""#));
}

#[rocket::async_test]
async fn an_avatar_is_re_encoded_square_cached_for_good_and_removed_with_its_owner() {
    let app = TestApp::new().await;
    let alice = app.another_browser().await;
    signup(&alice, "alice").await;
    signup(&app.client, "bob").await;

    // Not an image: refused with the reason, nothing stored.
    let (status, page) = upload_avatar(&alice, "image/png", b"#!/bin/sh\necho hi\n").await;
    assert_eq!(status, Status::UnprocessableEntity);
    assert!(page.contains("An avatar must be a PNG, JPEG, GIF or WebP image."));
    assert_eq!(stored_avatars(&app), 0);

    let (status, _) = upload_avatar(&alice, "image/png", &picture(300, 100, 40)).await;
    assert_eq!(status, Status::SeeOther);
    let people = page_text(&app.client, "/people").await;
    let src = avatar_src(&people).expect("bob sees alice's picture");
    let response = app.client.get(src.clone()).dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.content_type(), Some(ContentType::PNG));
    assert_eq!(
        response.headers().get_one("Cache-Control"),
        Some("private, max-age=31536000, immutable")
    );
    assert_eq!(
        response.headers().get_one("X-Content-Type-Options"),
        Some("nosniff")
    );
    let bytes = response.into_bytes().await.expect("bytes");
    let decoded = image::load_from_memory(&bytes).expect("a PNG");
    assert_eq!((decoded.width(), decoded.height()), (256, 256), "square");

    // Only to people logged in, and only pictures someone has.
    let stranger = app.another_browser().await;
    assert_ne!(
        stranger.get(src.clone()).dispatch().await.status(),
        Status::Ok
    );
    let unknown = format!("/avatars/{}", "0".repeat(64));
    assert_eq!(
        app.client.get(unknown).dispatch().await.status(),
        Status::NotFound
    );
    let traversal = app
        .client
        .get("/avatars/..%2F..%2Fnatter.db")
        .dispatch()
        .await;
    assert_eq!(traversal.status(), Status::NotFound);

    // A new picture replaces the file; removing it leaves the initial.
    upload_avatar(&alice, "image/png", &picture(64, 64, 200)).await;
    let replaced = avatar_src(&page_text(&app.client, "/people").await).expect("new picture");
    assert_ne!(replaced, src);
    assert_eq!(stored_avatars(&app), 1, "the old file is gone");
    assert_eq!(
        app.client.get(src).dispatch().await.status(),
        Status::NotFound
    );
    let csrf = csrf_of(&alice, "/account").await;
    let removed = post_form(&alice, "/account/avatar/delete", &[("csrf", &csrf)]).await;
    assert_eq!(removed.status(), Status::SeeOther);
    assert_eq!(avatar_src(&page_text(&app.client, "/people").await), None);
    assert_eq!(stored_avatars(&app), 0);

    // Deleting the account takes the picture with it.
    upload_avatar(&alice, "image/png", &png(32, 32)).await;
    assert_eq!(stored_avatars(&app), 1);
    assert_eq!(delete_account(&alice, PASSWORD).await, Status::SeeOther);
    assert_eq!(stored_avatars(&app), 0);
}

#[tokio::test]
async fn a_profile_change_reaches_every_open_page_that_shows_the_person() {
    let (server, alice, bob, direct) = Server::start().await.alice_and_bob().await;
    let carol = server.browser();
    carol.signup("carol").await;
    let group = bob.create_group("Hikers", &["alice", "carol"]).await;
    let alice_id = bob.user_id_of("alice").await;
    // Alice wrote to bob, so their conversation is in bob's inbox.
    let (mut alice_direct, _) = alice.connect(direct, 0).await;
    send(&mut alice_direct, "hello", "d1").await;
    expect_text(&mut alice_direct, "hello").await;
    let (mut people, _) = bob.connect_people().await;
    let (mut chat, _) = bob.connect(direct, 0).await;
    // The page says what its inbox shows, as app.js does when it connects.
    let shown = serde_json::json!({"resume": {"inbox": [[direct, 1, 1], [group, 1, 0]]}});
    chat.send(WsMessage::Text(shown.to_string()))
        .await
        .expect("sent");
    while tokio::time::timeout(Duration::from_millis(300), next_text(&mut chat))
        .await
        .is_ok_and(|frame| frame.is_some())
    {}
    let (mut hikers, _) = carol.connect(group, 0).await;
    // Alice writes in the group, so her bubble is on carol's page.
    let (mut alice_group, _) = alice.connect(group, 0).await;
    send(&mut alice_group, "summit at 9", "a1").await;
    expect_text(&mut hikers, "summit at 9").await;

    let csrf = hidden_field(&alice.get_text("/account").await, "csrf").expect("csrf");
    let saved = alice
        .post(
            "/account/profile",
            &[
                ("csrf", &csrf),
                ("display_name", "Alice L."),
                ("status", "On the trail"),
            ],
        )
        .await;
    assert!(saved.status().is_success());

    let name = r#"Alice L. <span class="handle">@alice</span>"#;
    let directory = expect_text(&mut people, name).await;
    assert!(
        directory.contains(&format!("#contact-name-{alice_id}")),
        "{directory}"
    );
    assert!(directory.contains("On the trail"));
    let heading = expect_text(&mut chat, name).await;
    assert!(
        heading.contains(&format!("#peer-status-{alice_id}")),
        "{heading}"
    );
    let row = expect_text(&mut chat, r#"<span class="name">Alice L.</span>"#).await;
    assert!(row.contains("hx-swap-oob"), "the inbox row, redrawn: {row}");
    let bubbles = expect_text(&mut hikers, &format!(".sender-of-{alice_id}")).await;
    assert!(bubbles.contains(name), "{bubbles}");
    assert!(
        bubbles.contains("chat-heading") && bubbles.contains("Alice L., bob, carol"),
        "the group's members, with the new name: {bubbles}"
    );
}
