//! Attachments: upload, sniffing, thumbnails without metadata, member-only
//! downloads, and refusals that store nothing.

mod common;

use std::io::Cursor;

use common::*;
use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::Client;

async fn upload(
    client: &Client,
    path: &str,
    filename: &str,
    file_type: &str,
    bytes: &[u8],
    htmx: bool,
) -> (Status, String) {
    let html = page_text(client, path).await;
    let csrf = hidden_field(&html, "csrf").unwrap_or_default();
    let body = multipart(
        &[
            ("csrf", &csrf),
            ("client_id", &natter::chat::new_client_id()),
            ("caption", ""),
        ],
        filename,
        file_type,
        bytes,
    );
    let mut request = client
        .post(format!("{path}/attachments"))
        .header(ContentType::new("multipart", "form-data").with_params(("boundary", BOUNDARY)))
        .body(body);
    if htmx {
        request = request.header(Header::new("HX-Request", "true"));
    }
    let response = request.dispatch().await;
    (
        response.status(),
        response.into_string().await.unwrap_or_default(),
    )
}

/// A JPEG carrying an EXIF segment with a (fake) GPS note in it.
fn jpeg_with_exif() -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::new_rgb8(64, 48)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap();
    let plain = out.into_inner();
    let payload = b"Exif\0\0GPS 52.52N 13.40E secret-location";
    let mut segment = vec![0xFF, 0xE1];
    segment.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    segment.extend_from_slice(payload);
    let mut tagged = plain[..2].to_vec();
    tagged.extend_from_slice(&segment);
    tagged.extend_from_slice(&plain[2..]);
    tagged
}

async fn pair() -> (TestApp, Client, String) {
    let app = TestApp::new().await;
    let alice = app.another_browser().await;
    signup(&alice, "alice").await;
    signup(&app.client, "bob").await;
    let path = open_conversation(&app.client, "alice").await;
    (app, alice, path)
}

fn attachment_id(page: &str) -> String {
    let start = page.find(r#"href="/media/"#).expect("attachment link") + r#"href="/media/"#.len();
    page[start..start + page[start..].find('"').unwrap()].to_owned()
}

#[rocket::async_test]
async fn an_image_is_shown_as_a_thumbnail_and_served_only_to_members() {
    let (app, alice, path) = pair().await;
    let (status, _) = upload(
        &app.client,
        &path,
        "holiday.png",
        "image/png",
        &png(800, 600),
        false,
    )
    .await;
    assert_eq!(status, Status::SeeOther);
    let page = page_text(&alice, &path).await;
    let id = attachment_id(&page);
    // Its size is in the page, so the space is kept before it loads.
    assert!(
        page.contains(&format!(
            r#"<img src="/media/{id}/thumbnail" alt="holiday.png" loading="lazy" width="320" height="240">"#
        )),
        "{page}"
    );
    // Alice's inbox previews it as a file, by name.
    let inbox = page_text(&alice, "/").await;
    let preview = &inbox[inbox.find(r#"class="preview""#).expect("a row")..];
    assert!(
        preview.starts_with(
            r#"class="preview"><span aria-hidden="true">📎 </span>holiday.png</span>"#
        ),
        "{preview}"
    );

    let full = alice.get(format!("/media/{id}")).dispatch().await;
    assert_eq!(full.status(), Status::Ok);
    assert_eq!(full.content_type(), Some(ContentType::PNG));
    assert_eq!(
        full.headers().get_one("X-Content-Type-Options"),
        Some("nosniff")
    );
    let thumb = alice.get(format!("/media/{id}/thumbnail")).dispatch().await;
    assert_eq!(thumb.status(), Status::Ok);
    let thumb = image::load_from_memory(&thumb.into_bytes().await.unwrap()).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (320, 240));

    let eve = app.another_browser().await;
    signup(&eve, "eve").await;
    assert_eq!(
        eve.get(format!("/media/{id}")).dispatch().await.status(),
        Status::NotFound
    );
    assert_eq!(
        eve.get(format!("/media/{id}/thumbnail"))
            .dispatch()
            .await
            .status(),
        Status::NotFound
    );
    let stored: Vec<String> = std::fs::read_dir(app.dir.path().join("media"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        stored
            .iter()
            .all(|name| name.len() >= 64 && name[..64].bytes().all(|b| b.is_ascii_hexdigit())),
        "named by hash: {stored:?}"
    );
}

#[rocket::async_test]
async fn exif_metadata_is_stripped_from_images() {
    let (app, alice, path) = pair().await;
    let tagged = jpeg_with_exif();
    assert!(tagged.windows(15).any(|w| w == b"secret-location"));
    let (status, _) = upload(
        &app.client,
        &path,
        "photo.jpg",
        "image/jpeg",
        &tagged,
        false,
    )
    .await;
    assert_eq!(status, Status::SeeOther);
    let id = attachment_id(&page_text(&alice, &path).await);
    let served = alice
        .get(format!("/media/{id}"))
        .dispatch()
        .await
        .into_bytes()
        .await
        .unwrap();
    assert!(
        image::load_from_memory(&served).is_ok(),
        "still a valid image"
    );
    assert!(!served.windows(4).any(|w| w == b"Exif"), "EXIF gone");
    assert!(!served.windows(15).any(|w| w == b"secret-location"));
}

#[rocket::async_test]
async fn html_claiming_to_be_an_image_is_only_ever_a_download() {
    let (app, alice, path) = pair().await;
    let html = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>";
    let (status, _) = upload(
        &app.client,
        &path,
        "../../cute cat\".png",
        "image/png",
        html,
        false,
    )
    .await;
    assert_eq!(status, Status::SeeOther);
    let page = page_text(&alice, &path).await;
    assert!(!page.contains("<img src=\"/media/"), "not shown inline");
    let id = attachment_id(&page);
    let response = alice.get(format!("/media/{id}")).dispatch().await;
    assert_eq!(response.content_type(), Some(ContentType::Binary));
    let disposition = response
        .headers()
        .get_one("Content-Disposition")
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename*=UTF-8''"),
        "{disposition}"
    );
    assert!(
        !disposition.contains('/') && !disposition.contains('"'),
        "{disposition}"
    );
    assert_eq!(
        response.headers().get_one("X-Content-Type-Options"),
        Some("nosniff")
    );
    assert_eq!(
        alice
            .get(format!("/media/{id}/thumbnail"))
            .dispatch()
            .await
            .status(),
        Status::NotFound
    );
}

#[rocket::async_test]
async fn an_oversized_upload_is_refused_and_nothing_is_stored() {
    let (app, _alice, path) = pair().await;
    let big = vec![7u8; 11 * 1024 * 1024];
    let (status, _) = upload(
        &app.client,
        &path,
        "big.bin",
        "application/octet-stream",
        &big,
        false,
    )
    .await;
    assert_eq!(status, Status::PayloadTooLarge);
    assert_eq!(count(app.pool(), "messages").await, 0);
    assert_eq!(count(app.pool(), "attachments").await, 0);
    let media = app.dir.path().join("media");
    assert!(
        !media.exists() || std::fs::read_dir(&media).unwrap().next().is_none(),
        "no file left behind"
    );
}

#[rocket::async_test]
async fn outsiders_cannot_upload_and_htmx_gets_a_fragment() {
    let (app, alice, path) = pair().await;
    let eve = app.another_browser().await;
    signup(&eve, "eve").await;
    let csrf = csrf_of(&eve, "/").await;
    let body = multipart(
        &[("csrf", &csrf), ("client_id", "e1")],
        "x.png",
        "image/png",
        &png(10, 10),
    );
    let response = eve
        .post(format!("{path}/attachments"))
        .header(ContentType::new("multipart", "form-data").with_params(("boundary", BOUNDARY)))
        .body(body)
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::NotFound);
    assert_eq!(count(app.pool(), "attachments").await, 0);

    let (status, fragment) = upload(
        &alice,
        &path,
        "notes.txt",
        "text/plain",
        b"plain notes",
        true,
    )
    .await;
    assert_eq!(status, Status::Ok);
    assert!(
        fragment.starts_with(r#"<p class="form-error" id="upload-status""#),
        "{fragment}"
    );
    let (status, fragment) = upload(&alice, &path, "empty.txt", "text/plain", b"", true).await;
    assert_eq!(status, Status::Ok);
    assert!(fragment.contains("That file is empty."));
    assert_eq!(count(app.pool(), "attachments").await, 1);
}

#[tokio::test]
async fn an_uploaded_file_is_pushed_to_the_other_members_socket() {
    let (server, alice, bob, id) = Server::start().await.alice_and_bob().await;
    let (mut bob_socket, _) = bob.connect(id, 0).await;
    let page = alice.get_text(&format!("/conversations/{id}")).await;
    let csrf = hidden_field(&page, "csrf").unwrap();
    let body = multipart(
        &[
            ("csrf", &csrf),
            ("client_id", "up1"),
            ("caption", "look at this"),
        ],
        "dot.png",
        "image/png",
        &png(40, 40),
    );
    let response = alice
        .http
        .post(server.url(&format!("/conversations/{id}/attachments")))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header("HX-Request", "true")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let pushed = expect_text(&mut bob_socket, "look at this").await;
    assert!(
        pushed.contains(r#"alt="dot.png""#) && pushed.contains("/thumbnail"),
        "{pushed}"
    );
}

#[rocket::async_test]
async fn error_pages_are_the_apps_own() {
    let app = TestApp::new().await;
    let response = app.client.get("/no/such/page").dispatch().await;
    assert_eq!(response.status(), Status::NotFound);
    let page = response.into_string().await.unwrap();
    assert!(page.contains("That page does not exist.") && page.contains("Natter"));
}

#[rocket::async_test]
async fn media_is_cached_only_with_revalidation_under_its_content_hash() {
    let (app, alice, path) = pair().await;
    upload(
        &app.client,
        &path,
        "cat.png",
        "image/png",
        &png(64, 64),
        false,
    )
    .await;
    let id = attachment_id(&page_text(&alice, &path).await);
    let full = alice.get(format!("/media/{id}")).dispatch().await;
    assert_eq!(
        full.headers().get_one("Cache-Control"),
        Some("private, no-cache")
    );
    let etag = full.headers().get_one("ETag").expect("an ETag").to_owned();
    let again = alice
        .get(format!("/media/{id}"))
        .header(Header::new("If-None-Match", etag.clone()))
        .dispatch()
        .await;
    assert_eq!(again.status(), Status::NotModified);
    assert!(again.into_bytes().await.unwrap_or_default().is_empty());
    // A stranger with the validator still gets nothing.
    let eve = app.another_browser().await;
    signup(&eve, "eve").await;
    let probe = eve
        .get(format!("/media/{id}"))
        .header(Header::new("If-None-Match", etag))
        .dispatch()
        .await;
    assert_eq!(probe.status(), Status::NotFound);
}

#[rocket::async_test]
async fn an_image_too_large_to_decode_is_refused_from_its_header() {
    let (app, alice, path) = pair().await;
    // 8000×8000 of one colour: a small file that would decode to 256 MB.
    let mut bomb = Cursor::new(Vec::new());
    image::DynamicImage::new_luma8(8000, 8000)
        .write_to(&mut bomb, image::ImageFormat::Png)
        .unwrap();
    let bomb = bomb.into_inner();
    let (status, page) = upload(&app.client, &path, "bomb.png", "image/png", &bomb, false).await;
    assert_eq!(status, Status::UnprocessableEntity);
    assert!(page.contains("at most 25 million pixels"), "{page}");
    let (status, fragment) = upload(&app.client, &path, "bomb.png", "image/png", &bomb, true).await;
    assert_eq!(status, Status::Ok, "htmx gets the reason in place");
    assert!(fragment.contains("at most 25 million pixels"), "{fragment}");
    assert!(!page_text(&alice, &path).await.contains("bomb.png"));
    assert_eq!(count(app.pool(), "attachments").await, 0);
}

#[rocket::async_test]
async fn uploads_are_rate_limited_per_user() {
    let (app, _alice, path) = pair().await;
    let burst = natter::limits::UPLOADS_PER_USER.burst;
    for n in 0..burst {
        let (status, _) = upload(
            &app.client,
            &path,
            &format!("note{n}.txt"),
            "text/plain",
            format!("note {n}").as_bytes(),
            false,
        )
        .await;
        assert_eq!(status, Status::SeeOther, "upload {n}");
    }
    let (status, page) = upload(
        &app.client,
        &path,
        "one-more.txt",
        "text/plain",
        b"more",
        false,
    )
    .await;
    assert_eq!(status, Status::TooManyRequests);
    assert!(page.contains("uploading too fast"), "{page}");
}

#[rocket::async_test]
async fn a_deleted_accounts_files_leave_the_disk_unless_still_shared() {
    let (app, alice, path) = pair().await;
    // Bob's own file, and one both sent (stored once, by content).
    upload(
        &app.client,
        &path,
        "mine.txt",
        "text/plain",
        b"only bob's",
        false,
    )
    .await;
    upload(
        &app.client,
        &path,
        "shared.txt",
        "text/plain",
        b"both have it",
        false,
    )
    .await;
    let group_path = {
        let csrf = csrf_of(&alice, "/").await;
        let carol = app.another_browser().await;
        signup(&carol, "carol").await;
        let carol_id: i64 = natter::on_pool!(app.pool(), p => sqlx::query_scalar(
            "SELECT id FROM users WHERE username = 'carol'").fetch_one(p).await.unwrap());
        let response = post_form(
            &alice,
            "/groups",
            &[
                ("csrf", &csrf),
                ("title", "Files"),
                ("members", &carol_id.to_string()),
            ],
        )
        .await;
        response.headers().get_one("Location").unwrap().to_owned()
    };
    upload(
        &alice,
        &group_path,
        "shared.txt",
        "text/plain",
        b"both have it",
        false,
    )
    .await;
    let media = app.dir.path().join("media");
    let files = || std::fs::read_dir(&media).unwrap().count();
    assert_eq!(files(), 2, "two distinct contents");

    assert_eq!(
        delete_account(&app.client, PASSWORD).await,
        Status::SeeOther
    );
    assert_eq!(files(), 1, "bob's own file is gone, the shared one stays");
    let id = attachment_id(&page_text(&alice, &group_path).await);
    assert_eq!(
        alice.get(format!("/media/{id}")).dispatch().await.status(),
        Status::Ok
    );
}

#[rocket::async_test]
async fn a_file_can_answer_a_message_as_the_reply_page_sets_it() {
    let (app, alice, path) = pair().await;
    assert_eq!(
        post_message(&app.client, &path, "Send me the plan").await,
        Status::SeeOther
    );
    let page = page_text(&alice, &path).await;
    let start = page.rfind(r#"<article id="message-"#).unwrap() + r#"<article id="message-"#.len();
    let asked = &page[start..start + page[start..].find('"').unwrap()];
    // The reply page sets the file form to answer it as well as the box.
    let page = page_text(&alice, &format!("{path}?reply_to={asked}")).await;
    assert!(
        page.contains(&format!(
            r#"<input id="upload-reply-to" type="hidden" name="reply_to" value="{asked}">"#
        )),
        "{page}"
    );
    let body = multipart(
        &[
            ("csrf", &hidden_field(&page, "csrf").unwrap()),
            ("client_id", &natter::chat::new_client_id()),
            ("caption", "Here it is"),
            ("reply_to", asked),
        ],
        "plan.txt",
        "text/plain",
        b"the plan",
    );
    let response = alice
        .post(format!("{path}/attachments"))
        .header(ContentType::new("multipart", "form-data").with_params(("boundary", BOUNDARY)))
        .body(body)
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::SeeOther);
    let page = page_text(&app.client, &path).await;
    let start = page.rfind(r#"<article id="message-"#).unwrap();
    let bubble = &page[start..start + page[start..].find("</article>").unwrap()];
    assert!(
        bubble.contains("plan.txt")
            && bubble.contains(&format!(r##"data-quotes="message-{asked}""##))
            && bubble.contains(r#"<span class="quote-text">Send me the plan</span>"#),
        "{bubble}"
    );
}
