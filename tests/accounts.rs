//! Accounts: sign up, log in, log out, sessions, the dashboard.

mod common;

use common::*;
use rocket::http::{Cookie, Header, Status};

#[rocket::async_test]
async fn a_fresh_database_has_no_accounts() {
    let app = TestApp::new().await;
    let count = count(app.pool(), "users").await;
    assert_eq!(count, 0);
}

#[rocket::async_test]
async fn signing_up_lists_every_other_user_alphabetically_in_the_directory() {
    let app = TestApp::new().await;
    for name in ["zoe", "Bob", "alice"] {
        let browser = app.another_browser().await;
        signup(&browser, name).await;
    }
    signup(&app.client, "carol").await;
    let page = app.client.get("/people").dispatch().await;
    assert_eq!(page.status(), Status::Ok);
    let html = page.into_string().await.unwrap();
    let positions: Vec<usize> = ["/c/alice", "/c/Bob", "/c/zoe"]
        .iter()
        .map(|link| html.find(link).unwrap_or_else(|| panic!("{link} missing")))
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "not alphabetical"
    );
    assert!(
        !html.contains("/c/carol"),
        "the viewer is not their own contact"
    );
    assert!(html.contains("Signed in as"));
}

#[rocket::async_test]
async fn a_username_taken_in_any_letter_case_is_refused_with_the_input_kept() {
    let app = TestApp::new().await;
    signup(&app.another_browser().await, "Alice").await;
    let response = signup_with(&app.client, "aLiCe", PASSWORD, PASSWORD).await;
    assert_eq!(response.status(), Status::UnprocessableEntity);
    let html = response.into_string().await.unwrap();
    assert!(html.contains("That username is taken"));
    assert!(html.contains(r#"value="aLiCe""#), "username kept");
    assert!(!html.contains(PASSWORD), "password never echoed");
}

#[rocket::async_test]
async fn a_username_that_looks_like_a_taken_one_is_refused() {
    let app = TestApp::new().await;
    signup(&app.another_browser().await, "paule").await;
    signup(&app.another_browser().await, "modem").await;
    for look_alike in ["pauIe", "pau1e", "PAULE", "rnodem"] {
        let html = signup_error(&app, look_alike, PASSWORD, PASSWORD).await;
        assert!(
            html.contains("taken"),
            "{look_alike} refused as taken or looking taken"
        );
    }
    assert_eq!(count(app.pool(), "users").await, 2);
    // Names that merely share letters are fine.
    signup(&app.client, "pauline").await;
    assert_eq!(count(app.pool(), "users").await, 3);
}

async fn signup_error(app: &TestApp, username: &str, password: &str, confirmation: &str) -> String {
    let response = signup_with(&app.client, username, password, confirmation).await;
    assert_eq!(
        response.status(),
        Status::UnprocessableEntity,
        "{username}/{password}"
    );
    response.into_string().await.unwrap()
}

#[rocket::async_test]
async fn password_and_username_rules_give_friendly_errors() {
    let app = TestApp::new().await;
    assert!(signup_error(&app, "dave", "short", "short")
        .await
        .contains("at least 8"));
    assert!(signup_error(&app, "dave", "password1", "password1")
        .await
        .contains("most common"));
    assert!(signup_error(&app, "dave", PASSWORD, "something else")
        .await
        .contains("do not match"));
    assert!(signup_error(&app, "da", PASSWORD, PASSWORD)
        .await
        .contains("3 to 32"));
    assert!(signup_error(&app, "da ve", PASSWORD, PASSWORD)
        .await
        .contains("only letters"));
    let count = count(app.pool(), "users").await;
    assert_eq!(count, 0, "nothing stored for refused sign-ups");
}

#[rocket::async_test]
async fn long_passwords_are_accepted_and_never_truncated() {
    let app = TestApp::new().await;
    let long: String = "ab1-".repeat(50); // 200 characters
    let response = signup_with(&app.client, "erin", &long, &long).await;
    assert_eq!(response.status(), Status::SeeOther);
    logout(&app.client).await;
    let attempt = |password: String| {
        let client = &app.client;
        async move {
            let csrf = csrf_of(client, "/login").await;
            post_form(
                client,
                "/login",
                &[
                    ("csrf", &csrf),
                    ("username", "erin"),
                    ("password", &password),
                ],
            )
            .await
            .status()
        }
    };
    assert_eq!(attempt(long[..128].to_owned()).await, Status::Unauthorized);
    assert_eq!(attempt(long[..199].to_owned()).await, Status::Unauthorized);
    assert_eq!(attempt(long.clone()).await, Status::SeeOther);
}

#[rocket::async_test]
async fn wrong_password_and_unknown_user_get_the_same_generic_message() {
    let app = TestApp::new().await;
    signup(&app.another_browser().await, "frank").await;
    let mut pages = Vec::new();
    for (username, password) in [("frank", "not the password"), ("nobody", PASSWORD)] {
        let csrf = csrf_of(&app.client, "/login").await;
        let response = post_form(
            &app.client,
            "/login",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await;
        assert_eq!(response.status(), Status::Unauthorized);
        pages.push(response.into_string().await.unwrap());
    }
    for page in &pages {
        assert!(page.contains("Wrong username or password."));
        assert!(!page.contains("not the password"));
    }
    assert!(app.client.cookies().get("natter_session").is_none());
}

#[rocket::async_test]
async fn logging_out_kills_the_session_so_the_old_cookie_is_refused() {
    let app = TestApp::new().await;
    signup(&app.client, "gina").await;
    let old = app
        .client
        .cookies()
        .get("natter_session")
        .unwrap()
        .value()
        .to_owned();
    logout(&app.client).await;
    let replay = app
        .client
        .get("/")
        .cookie(Cookie::new("natter_session", old.clone()))
        .dispatch()
        .await;
    assert_eq!(replay.status(), Status::SeeOther);
    assert!(replay
        .headers()
        .get_one("Location")
        .unwrap()
        .starts_with("/login"));
    let stored = count(app.pool(), "sessions").await;
    assert_eq!(stored, 0);
}

#[rocket::async_test]
async fn logging_in_starts_a_new_session_and_stores_only_its_hash() {
    let app = TestApp::new().await;
    signup(&app.client, "hank").await;
    let first = app
        .client
        .cookies()
        .get("natter_session")
        .unwrap()
        .value()
        .to_owned();
    assert_eq!(first.len(), 64, "256-bit token, hex");
    // Logging in again from the same browser, as a fixation attempt would.
    let csrf = csrf_of(&app.client, "/").await;
    let response = post_form(
        &app.client,
        "/login",
        &[
            ("csrf", &csrf),
            ("username", "hank"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(response.status(), Status::SeeOther);
    let second = app
        .client
        .cookies()
        .get("natter_session")
        .unwrap()
        .value()
        .to_owned();
    assert_ne!(first, second, "a fresh session on login");
    let hashes: Vec<String> = natter::on_pool!(app.pool(), p => sqlx::query_scalar("SELECT token_hash FROM sessions")
        .fetch_all(p)
        .await
        .unwrap());
    assert_eq!(
        hashes,
        vec![natter::auth::token_hash(&second)],
        "old session ended"
    );
    assert!(
        !hashes.contains(&second),
        "the token itself is never stored"
    );
}

#[rocket::async_test]
async fn session_cookie_is_http_only_and_same_site_lax() {
    let app = TestApp::new().await;
    let response = signup_with(&app.client, "ivan", PASSWORD, PASSWORD).await;
    let header = response
        .headers()
        .get("Set-Cookie")
        .find(|c| c.starts_with("natter_session="))
        .expect("session cookie")
        .to_owned();
    assert!(header.contains("HttpOnly"));
    assert!(header.contains("SameSite=Lax"));
    assert!(header.contains("Path=/"));
    assert!(!header.contains("Secure"), "plain HTTP by default");
}

#[rocket::async_test]
async fn over_https_the_session_cookie_is_secure_with_the_host_prefix() {
    let app = TestApp::with(|f| f.merge(("secure_cookies", true))).await;
    let response = signup_with(&app.client, "jane", PASSWORD, PASSWORD).await;
    assert_eq!(response.status(), Status::SeeOther);
    let header = response
        .headers()
        .get("Set-Cookie")
        .find(|c| c.starts_with("__Host-natter_session="))
        .expect("prefixed session cookie")
        .to_owned();
    assert!(header.contains("Secure") && header.contains("HttpOnly") && header.contains("Path=/"));
    assert!(!header.contains("Domain"));
}

#[rocket::async_test]
async fn private_pages_redirect_to_login_and_back() {
    let app = TestApp::new().await;
    signup(&app.another_browser().await, "kim").await;
    let response = app.client.get("/c/kim").dispatch().await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(
        response.headers().get_one("Location"),
        Some("/login?next=%2Fc%2Fkim")
    );
    let page = app.client.get("/login?next=%2Fc%2Fkim").dispatch().await;
    let html = page.into_string().await.unwrap();
    assert!(html.contains(r#"name="next" value="/c/kim""#));
    signup(&app.client, "lee").await;
    logout(&app.client).await;
    let csrf = csrf_of(&app.client, "/login").await;
    let response = post_form(
        &app.client,
        "/login",
        &[
            ("csrf", &csrf),
            ("username", "lee"),
            ("password", PASSWORD),
            ("next", "/c/kim"),
        ],
    )
    .await;
    assert_eq!(response.headers().get_one("Location"), Some("/c/kim"));
}

#[rocket::async_test]
async fn password_hash_is_argon2id_and_never_the_password() {
    let app = TestApp::new().await;
    signup(&app.client, "mia").await;
    let hash: String = natter::on_pool!(app.pool(), p => sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_one(p)
        .await
        .unwrap());
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(PASSWORD));
}

#[rocket::async_test]
async fn static_files_are_embedded_cached_for_good_under_their_versioned_urls_and_revalidated_otherwise(
) {
    let app = TestApp::new().await;
    let page = app.client.get("/login").dispatch().await;
    let page = page.into_string().await.unwrap();
    for (name, kind) in [
        ("htmx.min.js", "javascript"),
        ("ws.js", "javascript"),
        ("app.css", "css"),
        ("app.js", "javascript"),
    ] {
        // The URL pages link carries the content's version: cached for good.
        let start = page
            .find(&format!("/static/{name}?v="))
            .unwrap_or_else(|| panic!("{name} linked"));
        let versioned = &page[start..start + page[start..].find('"').unwrap()];
        let response = app.client.get(versioned).dispatch().await;
        assert_eq!(response.status(), Status::Ok, "{versioned}");
        assert!(response.content_type().unwrap().to_string().contains(kind));
        assert_eq!(
            response.headers().get_one("Cache-Control"),
            Some("public, max-age=31536000, immutable")
        );
        let etag = response.headers().get_one("ETag").unwrap().to_owned();
        // Without it (a module's relative import), or with an old version,
        // the browser asks again each time and is told it has not changed.
        for path in [format!("/static/{name}"), format!("/static/{name}?v=old")] {
            let response = app.client.get(path.clone()).dispatch().await;
            assert_eq!(response.status(), Status::Ok, "{path}");
            assert_eq!(
                response.headers().get_one("Cache-Control"),
                Some("no-cache")
            );
            assert_eq!(response.headers().get_one("ETag"), Some(etag.as_str()));
            let again = app
                .client
                .get(path.clone())
                .header(Header::new("If-None-Match", etag.clone()))
                .dispatch()
                .await;
            assert_eq!(again.status(), Status::NotModified, "{path}");
            assert_eq!(again.into_bytes().await.unwrap_or_default(), b"");
        }
    }
    let htmx = app.client.get("/static/htmx.min.js").dispatch().await;
    assert!(htmx.into_string().await.unwrap().contains("2.0."));
    for module in ["secret.js", "secret-core.js", "mls.js"] {
        let response = app.client.get(format!("/static/{module}")).dispatch().await;
        assert_eq!(response.status(), Status::Ok, "{module}");
    }
}
