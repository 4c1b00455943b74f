//! Being told about messages: what each member wants to hear about a
//! conversation (every message, only mentions, nothing), and how pages show
//! it. (The notifications themselves are raised by the page script and are
//! tested in `tests/browser.rs`.)

mod common;

use common::*;
use rocket::http::Status;

#[rocket::async_test]
async fn a_member_chooses_what_to_hear_about_a_conversation_and_its_row_follows() {
    let (app, bob, carol, path) = alice_bob_and_carol().await;
    post_message(&app.client, &path, "hello").await;
    let row = |page: &str| {
        let start = page.find(r#"<li id="conversation-"#).expect("a row");
        page[start..start + page[start..].find('>').unwrap()].to_owned()
    };
    assert!(row(&page_text(&bob, "/").await).contains(r#"data-notify="all""#));
    let page = page_text(&bob, &path).await;
    assert!(
        page.contains(r#"value="all" checked"#),
        "the header says so"
    );

    let csrf = csrf_of(&bob, "/").await;
    let set = |level: &'static str| {
        let bob = &bob;
        let csrf = csrf.clone();
        let path = path.clone();
        async move {
            post_form(
                bob,
                &format!("{path}/notify"),
                &[("csrf", &csrf), ("level", level)],
            )
            .await
            .status()
        }
    };
    assert_eq!(set("none").await, Status::SeeOther);
    let muted = row(&page_text(&bob, "/").await);
    assert!(
        muted.contains(r#"data-notify="none""#) && muted.contains(r#"class="muted""#),
        "{muted}"
    );
    assert!(page_text(&bob, &path)
        .await
        .contains(r#"value="none" checked"#));
    // Alice's own setting is her own.
    assert!(row(&page_text(&app.client, "/").await).contains(r#"data-notify="all""#));
    assert_eq!(set("mentions").await, Status::SeeOther);
    assert!(row(&page_text(&bob, "/").await).contains(r#"data-notify="mentions""#));
    assert_eq!(set("loud").await, Status::UnprocessableEntity);
    // Not a member: the 404 of a conversation that does not exist.
    let csrf = csrf_of(&carol, "/").await;
    let status = post_form(
        &carol,
        &format!("{path}/notify"),
        &[("csrf", &csrf), ("level", "none")],
    )
    .await
    .status();
    assert_eq!(status, Status::NotFound);
}

#[rocket::async_test]
async fn the_app_can_be_installed_from_its_manifest_and_icons() {
    let app = TestApp::new().await;
    let page = page_text(&app.client, "/login").await;
    assert!(page.contains(r#"<link rel="manifest" href="/manifest.webmanifest">"#));
    let response = app.client.get("/manifest.webmanifest").dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(
        response.content_type().map(|t| t.to_string()).as_deref(),
        Some("application/manifest+json")
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&response.into_string().await.unwrap()).unwrap();
    assert_eq!(manifest["name"], "Natter");
    assert_eq!(manifest["start_url"], "/");
    assert_eq!(manifest["display"], "standalone");
    let icons = manifest["icons"].as_array().expect("icons");
    let mut sizes = Vec::new();
    for icon in icons {
        let src = icon["src"].as_str().unwrap();
        let bytes = app
            .client
            .get(src.to_owned())
            .dispatch()
            .await
            .into_bytes()
            .await
            .unwrap();
        let image = image::load_from_memory(&bytes).unwrap();
        assert_eq!(
            format!("{}x{}", image.width(), image.height()),
            icon["sizes"].as_str().unwrap(),
            "{src}"
        );
        sizes.push(image.width());
    }
    assert!(sizes.contains(&192) && sizes.contains(&512), "{sizes:?}");
}
