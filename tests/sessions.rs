//! Session lifetime and the account page: expiry, "log out everywhere",
//! password change, account deletion.

mod common;

use common::*;
use rocket::http::Status;

async fn is_logged_in(client: &rocket::local::asynchronous::Client) -> bool {
    client.get("/").dispatch().await.status() == Status::Ok
}

#[rocket::async_test]
async fn an_idle_session_expires_and_so_does_an_old_one() {
    let app = TestApp::new().await;
    signup(&app.client, "idle").await;
    let idle_for = time::OffsetDateTime::now_utc() - time::Duration::days(8);
    natter::on_pool!(app.pool(), p => {
        sqlx::query("UPDATE sessions SET last_used_at = $1")
            .bind(idle_for)
            .execute(p)
            .await
            .unwrap();
    });
    assert!(
        !is_logged_in(&app.client).await,
        "idle for longer than a week"
    );
    let left = count(app.pool(), "sessions").await;
    assert_eq!(left, 0, "the expired row is deleted");

    assert_eq!(login(&app.client, "idle").await, Status::SeeOther);
    assert!(is_logged_in(&app.client).await);
    natter::on_pool!(app.pool(), p => {
        sqlx::query("UPDATE sessions SET expires_at = $1")
            .bind(time::OffsetDateTime::now_utc() - time::Duration::seconds(1))
            .execute(p)
            .await
            .unwrap();
    });
    assert!(!is_logged_in(&app.client).await, "past its absolute expiry");
}

#[rocket::async_test]
async fn the_account_page_lists_sessions_and_logs_out_everywhere() {
    let app = TestApp::new().await;
    signup(&app.client, "multi").await;
    let phone = app.another_browser().await;
    assert_eq!(login(&phone, "multi").await, Status::SeeOther);
    let page = page_text(&app.client, "/account").await;
    assert_eq!(page.matches("<li>").count(), 2, "{page}");
    assert!(page.contains("(this browser)"));

    let csrf = csrf_of(&app.client, "/account").await;
    let response = post_form(&app.client, "/account/logout-others", &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::Ok);
    assert!(is_logged_in(&app.client).await && !is_logged_in(&phone).await);

    assert_eq!(login(&phone, "multi").await, Status::SeeOther);
    let csrf = csrf_of(&app.client, "/account").await;
    let response = post_form(
        &app.client,
        "/account/logout-everywhere",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(response.status(), Status::SeeOther);
    assert!(!is_logged_in(&app.client).await && !is_logged_in(&phone).await);
}

#[rocket::async_test]
async fn changing_the_password_ends_the_other_sessions() {
    let app = TestApp::new().await;
    signup(&app.client, "changer").await;
    let other = app.another_browser().await;
    assert_eq!(login(&other, "changer").await, Status::SeeOther);
    let csrf = csrf_of(&app.client, "/account").await;
    let new_password = "a brand new passphrase";
    let wrong = post_form(
        &app.client,
        "/account/password",
        &[
            ("csrf", &csrf),
            ("current", "not it at all"),
            ("password", new_password),
            ("confirmation", new_password),
        ],
    )
    .await;
    assert_eq!(wrong.status(), Status::UnprocessableEntity);
    assert!(is_logged_in(&other).await, "nothing changed");

    let response = post_form(
        &app.client,
        "/account/password",
        &[
            ("csrf", &csrf),
            ("current", PASSWORD),
            ("password", new_password),
            ("confirmation", new_password),
        ],
    )
    .await;
    assert_eq!(response.status(), Status::Ok);
    assert!(response
        .into_string()
        .await
        .unwrap()
        .contains("Password changed"));
    assert!(is_logged_in(&app.client).await, "this session stays");
    assert!(!is_logged_in(&other).await, "the other session ended");
    assert_eq!(
        login(&other, "changer").await,
        Status::Unauthorized,
        "old password refused"
    );
    let csrf = csrf_of(&other, "/login").await;
    let status = post_form(
        &other,
        "/login",
        &[
            ("csrf", &csrf),
            ("username", "changer"),
            ("password", new_password),
        ],
    )
    .await
    .status();
    assert_eq!(status, Status::SeeOther);
}

#[rocket::async_test]
async fn deleting_an_account_removes_its_sessions_and_messages() {
    let app = TestApp::new().await;
    let friend = app.another_browser().await;
    signup(&friend, "friend").await;
    signup(&app.client, "leaver").await;
    let path = open_conversation(&app.client, "friend").await;
    let html = page_text(&app.client, &path).await;
    let csrf = hidden_field(&html, "csrf").unwrap();
    let client_id = hidden_field(&html, "client_id").unwrap();
    post_form(
        &app.client,
        &format!("{path}/messages"),
        &[
            ("csrf", &csrf),
            ("client_id", &client_id),
            ("body", "goodbye"),
        ],
    )
    .await;

    assert_eq!(
        delete_account(&app.client, "not my password").await,
        Status::UnprocessableEntity
    );
    assert!(is_logged_in(&app.client).await);

    assert_eq!(
        delete_account(&app.client, PASSWORD).await,
        Status::SeeOther
    );
    assert!(!is_logged_in(&app.client).await);
    for (table, expected) in [
        ("users", 1),
        ("sessions", 1),
        ("messages", 0),
        ("conversations", 0),
        ("members", 0),
    ] {
        let count = count(app.pool(), table).await;
        assert_eq!(count, expected, "{table}");
    }
    let dashboard = page_text(&friend, "/").await;
    assert!(!dashboard.contains("leaver"));
    assert_eq!(friend.get(path).dispatch().await.status(), Status::NotFound);
    assert_eq!(login(&app.client, "leaver").await, Status::Unauthorized);
}

#[rocket::async_test]
async fn times_are_shown_in_the_zone_the_browser_reports_or_the_one_chosen() {
    let app = TestApp::new().await;
    signup(&app.client, "alice").await;
    let page = page_text(&app.client, "/account").await;
    assert!(page.contains("Times are shown in UTC until"), "{page}");
    assert!(
        page.contains("Unknown browser</strong> (this browser) · last active"),
        "{page}"
    );
    assert!(page.contains(">just now</time>"), "{page}");
    assert!(
        page.contains("(UTC)"),
        "session times say their zone: {page}"
    );
    // The page script reports the browser's zone in a cookie.
    let reported = app
        .client
        .get("/account")
        .cookie(rocket::http::Cookie::new("natter_tz", "Asia/Tokyo"))
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap();
    assert!(
        reported.contains("<strong>Asia/Tokyo</strong>"),
        "{reported}"
    );
    assert!(reported.contains("(Asia/Tokyo)"));
    // Without the script, a zone is chosen on the account page.
    let csrf = csrf_of(&app.client, "/account").await;
    let chosen = post_form(
        &app.client,
        "/account/time-zone",
        &[("csrf", &csrf), ("zone", "America/Phoenix")],
    )
    .await;
    assert_eq!(chosen.status(), Status::SeeOther);
    let page = page_text(&app.client, "/account").await;
    assert!(page.contains("<strong>America/Phoenix</strong>"), "{page}");
    assert!(page.contains(r#"<option value="America/Phoenix" selected>"#));
    // Anything else is refused, saying why, and changes nothing.
    for hostile in ["Mars/Olympus", "../../etc/passwd", "Europe/Berlin; Path=/x"] {
        let refused = post_form(
            &app.client,
            "/account/time-zone",
            &[("csrf", &csrf), ("zone", hostile)],
        )
        .await;
        assert_eq!(refused.status(), Status::UnprocessableEntity);
        assert!(refused
            .into_string()
            .await
            .unwrap()
            .contains("That is not a time zone."));
    }
    assert!(page_text(&app.client, "/account")
        .await
        .contains("<strong>America/Phoenix</strong>"));
}
