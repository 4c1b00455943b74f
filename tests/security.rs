//! Attacks that must fail: CSRF, open redirects, HTML injection, IDOR,
//! path traversal, forged client addresses.

mod common;

use common::*;
use rocket::http::{ContentType, Header, Status};

#[rocket::async_test]
async fn a_post_without_a_csrf_token_or_with_a_wrong_one_is_refused() {
    let app = TestApp::new().await;
    signup(&app.client, "alice").await;
    for token in ["", "0000", &natter::auth::random_token()] {
        let response = post_form(&app.client, "/logout", &[("csrf", token)]).await;
        assert_eq!(response.status(), Status::Forbidden, "token {token:?}");
    }
    let missing = app
        .client
        .post("/logout")
        .header(ContentType::Form)
        .body("")
        .dispatch()
        .await;
    assert_ne!(missing.status(), Status::SeeOther);
    assert_eq!(
        app.client.get("/").dispatch().await.status(),
        Status::Ok,
        "still logged in"
    );
}

#[rocket::async_test]
async fn the_anonymous_forms_need_their_token_too() {
    let app = TestApp::new().await;
    let response = post_form(
        &app.client,
        "/signup",
        &[
            ("csrf", "forged"),
            ("username", "mallory"),
            ("password", PASSWORD),
            ("confirmation", PASSWORD),
        ],
    )
    .await;
    assert_eq!(response.status(), Status::Forbidden);
    let response = post_form(
        &app.client,
        "/login",
        &[
            ("csrf", "forged"),
            ("username", "mallory"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(response.status(), Status::Forbidden);
}

#[rocket::async_test]
async fn cross_site_requests_are_refused_even_with_a_valid_token() {
    let app = TestApp::new().await;
    signup(&app.client, "bob").await;
    let csrf = csrf_of(&app.client, "/").await;
    for header in [
        Header::new("Sec-Fetch-Site", "cross-site"),
        Header::new("Sec-Fetch-Site", "same-site"),
        Header::new("Origin", "https://evil.example"),
        Header::new("Origin", "null"),
    ] {
        let response = app
            .client
            .post("/logout")
            .header(ContentType::Form)
            .header(Header::new("Host", "127.0.0.1:8000"))
            .header(header.clone())
            .body(form(&[("csrf", &csrf)]))
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::Forbidden, "{header}");
    }
    let same_origin = app
        .client
        .post("/logout")
        .header(ContentType::Form)
        .header(Header::new("Host", "127.0.0.1:8000"))
        .header(Header::new("Origin", "http://127.0.0.1:8000"))
        .header(Header::new("Sec-Fetch-Site", "same-origin"))
        .body(form(&[("csrf", &csrf)]))
        .dispatch()
        .await;
    assert_eq!(same_origin.status(), Status::SeeOther);
}

#[rocket::async_test]
async fn the_htmx_header_carries_the_session_token() {
    let app = TestApp::new().await;
    signup(&app.client, "carl").await;
    let html = page_text(&app.client, "/").await;
    let csrf = hidden_field(&html, "csrf").unwrap();
    assert!(
        html.contains(&format!("X-CSRF-Token&quot;:&quot;{csrf}")),
        "hx-headers on body"
    );
    let response = app
        .client
        .post("/logout")
        .header(ContentType::Form)
        .header(Header::new("X-CSRF-Token", csrf))
        .body("csrf=")
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::SeeOther);
}

#[rocket::async_test]
async fn login_never_redirects_off_site() {
    let app = TestApp::new().await;
    signup(&app.another_browser().await, "dana").await;
    for next in [
        "//evil.example/",
        "https://evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/%0d%0aLocation: https://evil.example",
        "/ok\r\nSet-Cookie: x=y",
    ] {
        let csrf = csrf_of(&app.client, "/login").await;
        let response = post_form(
            &app.client,
            "/login",
            &[
                ("csrf", &csrf),
                ("username", "dana"),
                ("password", PASSWORD),
                ("next", next),
            ],
        )
        .await;
        let location = response
            .headers()
            .get_one("Location")
            .unwrap_or_default()
            .to_owned();
        assert!(
            location == "/"
                || (location.starts_with('/')
                    && !location.starts_with("//")
                    && !location.contains('\\')
                    && !location.contains('\n')),
            "{next:?} -> {location:?}"
        );
        assert!(
            !location.contains("evil.example") || location.starts_with("/%"),
            "{next:?} -> {location:?}"
        );
        logout(&app.client).await;
    }
    let page = page_text(&app.client, "/login?next=%2F%2Fevil.example").await;
    assert!(
        !page.contains("evil.example"),
        "unsafe next is not even carried in the form"
    );
}

#[rocket::async_test]
async fn a_username_with_html_is_shown_escaped() {
    let app = TestApp::new().await;
    let hostile = "<script>alert(1)</script>";
    let response = signup_with(&app.client, hostile, PASSWORD, PASSWORD).await;
    assert_eq!(response.status(), Status::UnprocessableEntity);
    let html = response.into_string().await.unwrap();
    assert!(!html.contains("<script>alert(1)"), "raw HTML echoed");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "escaped input kept"
    );
}

#[rocket::async_test]
async fn static_files_cannot_be_used_to_read_other_files() {
    let app = TestApp::new().await;
    for path in [
        "/static/../Cargo.toml",
        "/static/..%2FCargo.toml",
        "/static/%2e%2e/src/lib.rs",
        "/static/..%2f..%2fetc%2fpasswd",
        "/static/Rocket.toml",
    ] {
        let response = app.client.get(path).dispatch().await;
        assert_eq!(response.status(), Status::NotFound, "{path}");
    }
}

#[rocket::async_test]
async fn a_forged_client_address_header_is_ignored() {
    let app = TestApp::new().await;
    assert!(
        app.client.rocket().config().ip_header.is_none(),
        "ip_header is off by default"
    );
}

#[rocket::async_test]
async fn outsiders_get_404_for_every_conversation_path() {
    let app = TestApp::new().await;
    let alice = app.another_browser().await;
    signup(&alice, "alice").await;
    signup(&app.client, "bob").await;
    let path = open_conversation(&app.client, "alice").await;
    let csrf = csrf_of(&app.client, &path).await;
    let client_id = hidden_field(
        &app.client
            .get(path.clone())
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap(),
        "client_id",
    )
    .unwrap();
    post_form(
        &app.client,
        &format!("{path}/messages"),
        &[
            ("csrf", &csrf),
            ("client_id", &client_id),
            ("body", "secret"),
        ],
    )
    .await;

    let eve = app.another_browser().await;
    signup(&eve, "eve").await;
    let eve_csrf = csrf_of(&eve, "/").await;
    assert_eq!(
        eve.get(path.clone()).dispatch().await.status(),
        Status::NotFound
    );
    assert_eq!(
        eve.get(format!("{path}?before=999"))
            .dispatch()
            .await
            .status(),
        Status::NotFound
    );
    assert_eq!(
        eve.get(format!("{path}/messages?before=999"))
            .dispatch()
            .await
            .status(),
        Status::NotFound
    );
    let post = post_form(
        &eve,
        &format!("{path}/messages"),
        &[
            ("csrf", &eve_csrf),
            ("client_id", "abc"),
            ("body", "intrusion"),
        ],
    )
    .await;
    assert_eq!(post.status(), Status::NotFound);
    // A conversation that does not exist looks the same.
    assert_eq!(
        eve.get("/conversations/999999").dispatch().await.status(),
        Status::NotFound
    );
    let stored: Vec<String> = natter::on_pool!(app.pool(), p => sqlx::query_scalar("SELECT body FROM messages")
        .fetch_all(p)
        .await
        .unwrap());
    assert_eq!(stored, vec!["secret".to_owned()]);
}

#[rocket::async_test]
async fn sql_injection_strings_are_plain_data() {
    let app = TestApp::new().await;
    signup(&app.another_browser().await, "alice").await;
    signup(&app.client, "bob").await;
    for name in ["alice' --", "alice' OR '1'='1", "x\"; DROP TABLE users; --"] {
        let response = app
            .client
            .get(format!(
                "/c/{}",
                rocket::http::RawStr::new(name).percent_encode()
            ))
            .dispatch()
            .await;
        assert_eq!(response.status(), Status::NotFound, "{name}");
    }
    let csrf = csrf_of(&app.client, "/").await;
    logout(&app.client).await;
    let _ = csrf;
    let csrf = csrf_of(&app.client, "/login").await;
    let response = post_form(
        &app.client,
        "/login",
        &[
            ("csrf", &csrf),
            ("username", "alice' --"),
            ("password", "' OR '1'='1"),
        ],
    )
    .await;
    assert_eq!(response.status(), Status::Unauthorized);
    let users = count(app.pool(), "users").await;
    assert_eq!(users, 2);
}

#[rocket::async_test]
async fn every_response_carries_strict_security_headers() {
    let app = TestApp::new().await;
    for path in ["/login", "/signup", "/static/app.css", "/does-not-exist"] {
        let response = app.client.get(path).dispatch().await;
        let headers = response.headers();
        let csp = headers
            .get_one("Content-Security-Policy")
            .unwrap_or_default();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("style-src 'self'"),
            "{path}: {csp}"
        );
        assert!(
            csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe"),
            "{path}: {csp}"
        );
        assert_eq!(
            headers.get_one("X-Content-Type-Options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            headers.get_one("Referrer-Policy"),
            Some("same-origin"),
            "{path}"
        );
        assert_eq!(headers.get_one("X-Frame-Options"), Some("DENY"), "{path}");
        assert!(
            headers.get_one("Strict-Transport-Security").is_none(),
            "no HSTS over plain HTTP"
        );
    }
    let page = page_text(&app.client, "/login").await;
    assert!(
        !page.contains("<script>") && !page.contains(" style="),
        "no inline script or style"
    );
    assert!(
        page.contains("allowEval&quot;:false")
            && page.contains("includeIndicatorStyles&quot;:false")
    );
}

#[rocket::async_test]
async fn over_https_responses_carry_hsts() {
    let app = TestApp::with(|f| f.merge(("secure_cookies", true))).await;
    let response = app.client.get("/login").dispatch().await;
    assert!(response
        .headers()
        .get_one("Strict-Transport-Security")
        .unwrap_or_default()
        .contains("max-age="));
}

#[rocket::async_test]
async fn repeated_logins_for_one_username_are_throttled_with_a_clear_message() {
    let app = TestApp::new().await;
    signup(&app.another_browser().await, "target").await;
    signup(&app.another_browser().await, "bystander").await;
    let attempt = |username: &'static str, password: &'static str| {
        let client = &app.client;
        async move {
            let csrf = csrf_of(client, "/login").await;
            let response = post_form(
                client,
                "/login",
                &[
                    ("csrf", &csrf),
                    ("username", username),
                    ("password", password),
                ],
            )
            .await;
            (
                response.status(),
                response.into_string().await.unwrap_or_default(),
            )
        }
    };
    let burst = natter::limits::LOGIN_PER_USERNAME_AND_ADDRESS.burst;
    for _ in 0..burst {
        assert_eq!(
            attempt("target", "wrong password!").await.0,
            Status::Unauthorized
        );
    }
    let (status, page) = attempt("TARGET", PASSWORD).await;
    assert_eq!(
        status,
        Status::TooManyRequests,
        "even the right password waits"
    );
    assert!(page.contains("Too many attempts. Try again in"), "{page}");
    assert!(app.client.cookies().get("natter_session").is_none());
    // Another account is not locked by attacks on this one.
    assert_eq!(attempt("bystander", PASSWORD).await.0, Status::SeeOther);
}

#[rocket::async_test]
async fn sign_ups_from_one_address_are_throttled() {
    let app = TestApp::new().await;
    let burst = natter::limits::SIGNUP_PER_ADDRESS.burst;
    let mut last = Status::Ok;
    for n in 0..=burst {
        let name = format!("bulk{n}");
        // Passwords that fail validation still count: probing is throttled too.
        let response = signup_with(&app.client, &name, "short", "short").await;
        last = response.status();
        if n < burst {
            assert_eq!(last, Status::UnprocessableEntity);
        }
    }
    assert_eq!(last, Status::TooManyRequests);
}

#[rocket::async_test]
async fn every_post_route_refuses_a_forged_token() {
    let app = TestApp::new().await;
    // Bob is the first account (the administrator), so the admin page's
    // forms are reached too.
    signup(&app.client, "bob").await;
    signup(&app.another_browser().await, "alice").await;
    let path = open_conversation(&app.client, "alice").await;
    let id = path.trim_start_matches("/conversations/");
    let posts: Vec<String> = app
        .client
        .rocket()
        .routes()
        .filter(|route| route.method == rocket::http::Method::Post)
        .map(|route| {
            route
                .uri
                .path()
                .replace("<id>", id)
                .replace("<message_id>", "1")
                .replace("<username>", "alice")
        })
        .collect();
    assert!(posts.len() >= 8, "{posts:?}");
    for post in &posts {
        let response = post_form(
            &app.client,
            post,
            &[
                ("csrf", "forged"),
                ("body", "x"),
                ("client_id", "c"),
                ("username", "bob"),
                ("password", PASSWORD),
                ("current", PASSWORD),
                ("confirmation", PASSWORD),
                ("title", "a group"),
                ("zone", "UTC"),
                ("emoji", "👍"),
                ("level", "none"),
                ("file", "file contents"),
                ("avatar", "file contents"),
                ("display_name", "A name"),
                ("status", "here"),
                ("endpoint", "https://push.example.com/1"),
                ("mode", "closed"),
                ("uses", "1"),
                ("days", "1"),
                ("action", "deactivate"),
                ("p256dh", "key"),
                ("auth", "secret"),
                ("signature_key", "AAAA"),
                ("message", "AAAA"),
            ],
        )
        .await;
        // A well-formed form whose only fault is the token.
        assert_eq!(response.status(), Status::Forbidden, "{post}");
    }
    assert_eq!(
        app.client.get("/").dispatch().await.status(),
        Status::Ok,
        "still logged in"
    );
    let messages = count(app.pool(), "messages").await;
    assert_eq!(messages, 0);
}

#[rocket::async_test]
async fn an_oversized_request_is_refused_and_stores_nothing() {
    let app = TestApp::new().await;
    signup(&app.another_browser().await, "alice").await;
    signup(&app.client, "bob").await;
    let path = open_conversation(&app.client, "alice").await;
    let html = page_text(&app.client, &path).await;
    let csrf = hidden_field(&html, "csrf").unwrap();
    let huge = "y".repeat(1024 * 1024);
    let response = post_form(
        &app.client,
        &format!("{path}/messages"),
        &[("csrf", &csrf), ("client_id", "huge"), ("body", &huge)],
    )
    .await;
    assert_eq!(response.status(), Status::PayloadTooLarge);
    let messages = count(app.pool(), "messages").await;
    assert_eq!(messages, 0);
}

#[rocket::async_test]
async fn private_pages_are_never_cached_and_the_server_is_not_named() {
    let app = TestApp::new().await;
    signup(&app.client, "alice").await;
    for path in ["/", "/account", "/login", "/does-not-exist"] {
        let response = app.client.get(path).dispatch().await;
        assert_eq!(
            response.headers().get_one("Cache-Control"),
            Some("no-store"),
            "{path}"
        );
        assert!(response.headers().get_one("Server").is_none(), "{path}");
    }
    // Static files are nobody's private data: they stay cacheable.
    let css = app.client.get("/static/app.css").dispatch().await;
    assert_ne!(css.headers().get_one("Cache-Control"), Some("no-store"));
    assert!(css.headers().get_one("ETag").is_some());
}

#[rocket::async_test]
async fn the_token_from_before_login_dies_with_the_login() {
    let app = TestApp::new().await;
    signup(&app.another_browser().await, "alice").await;
    // The login form posts the visitor's token: this one.
    let before = csrf_of(&app.client, "/login").await;
    assert_eq!(login(&app.client, "alice").await, Status::SeeOther);
    let stale = post_form(&app.client, "/logout", &[("csrf", &before)]).await;
    assert_eq!(stale.status(), Status::Forbidden, "the pre-login token");
    let current = csrf_of(&app.client, "/").await;
    assert_ne!(current, before);
    let fresh = post_form(&app.client, "/logout", &[("csrf", &current)]).await;
    assert_eq!(fresh.status(), Status::SeeOther);
}

#[rocket::async_test]
async fn control_characters_are_refused_in_messages_over_http() {
    let app = TestApp::new().await;
    signup(&app.another_browser().await, "alice").await;
    signup(&app.client, "bob").await;
    let path = open_conversation(&app.client, "alice").await;
    for body in ["ring \u{7} ring", "\u{1b}[2J cleared", "del\u{7f}"] {
        assert_eq!(
            post_message(&app.client, &path, body).await,
            Status::UnprocessableEntity,
            "{body:?}"
        );
    }
    assert_eq!(count(app.pool(), "messages").await, 0);
    assert_eq!(
        post_message(&app.client, &path, "lines\n\tand tabs are fine").await,
        Status::SeeOther
    );
}

#[rocket::async_test]
async fn messages_posted_over_http_share_the_senders_budget() {
    let app = TestApp::new().await;
    signup(&app.another_browser().await, "alice").await;
    signup(&app.client, "bob").await;
    let path = open_conversation(&app.client, "alice").await;
    let html = page_text(&app.client, &path).await;
    let csrf = hidden_field(&html, "csrf").unwrap();
    let mut statuses = Vec::new();
    for n in 0..40 {
        let response = post_form(
            &app.client,
            &format!("{path}/messages"),
            &[
                ("csrf", &csrf),
                ("client_id", &format!("http{n}")),
                ("body", &format!("scripted {n}")),
            ],
        )
        .await;
        statuses.push(response.status());
    }
    let burst = natter::limits::MESSAGES_PER_USER.burst as usize;
    let saved = statuses.iter().filter(|s| **s == Status::SeeOther).count();
    assert!(saved >= burst && saved < 40, "{saved} of 40 saved");
    assert!(statuses.contains(&Status::TooManyRequests));
    assert_eq!(count(app.pool(), "messages").await as usize, saved);
}

#[tokio::test]
async fn a_strangers_wrong_guesses_do_not_lock_the_owner_out_of_their_own_browser() {
    let server = Server::start().await;
    // The owner signed up in this browser, then logged out.
    let owner = server.browser();
    owner.signup("owner").await;
    owner.logout().await;
    let attempt = |browser: &Browser, password: &'static str| {
        let browser = browser.clone();
        async move {
            let csrf = hidden_field(&browser.get_text("/login").await, "csrf").unwrap();
            browser
                .post(
                    "/login",
                    &[
                        ("csrf", &csrf),
                        ("username", "owner"),
                        ("password", password),
                    ],
                )
                .await
                .status()
        }
    };
    let stranger = server.browser();
    let mut statuses = Vec::new();
    for _ in 0..natter::limits::LOGIN_PER_USERNAME.burst + 2 {
        statuses.push(attempt(&stranger, "a wrong guess!").await);
    }
    assert_eq!(
        statuses.last().map(|s| s.as_u16()),
        Some(429),
        "the stranger is slowed down: {statuses:?}"
    );
    // The owner's browser is known to the account: it still gets in.
    assert_eq!(
        attempt(&owner, PASSWORD).await.as_u16(),
        200,
        "owner logged in"
    );
    assert!(owner.get_text("/").await.contains("owner"));
    // A browser the owner never used waits like the stranger (OWASP's trade-off).
    let new_device = server.browser();
    assert_eq!(attempt(&new_device, PASSWORD).await.as_u16(), 429);
}

#[rocket::async_test]
async fn behind_a_trusted_proxy_each_client_has_its_own_budget_and_no_one_else_can_pick_one() {
    let app = TestApp::with(|f| f.merge(("trusted_proxies", ["127.0.0.1"]))).await;
    let burst = natter::limits::SIGNUP_PER_ADDRESS.burst;
    let attempt = |client: &'static str, peer: &'static str| {
        let app = &app;
        async move {
            let csrf = csrf_of(&app.client, "/signup").await;
            app.client
                .post("/signup")
                .header(ContentType::Form)
                .header(Header::new("X-Real-IP", client))
                .remote(peer.parse().expect("an address"))
                .body(form(&[
                    ("csrf", &csrf),
                    ("username", "someone"),
                    ("password", "short"),
                    ("confirmation", "short"),
                ]))
                .dispatch()
                .await
                .status()
        }
    };
    // Through the proxy: each client it names has a budget of its own.
    for _ in 0..burst {
        assert_eq!(
            attempt("203.0.113.1", "127.0.0.1:40000").await,
            Status::UnprocessableEntity
        );
    }
    assert_eq!(
        attempt("203.0.113.1", "127.0.0.1:40000").await,
        Status::TooManyRequests
    );
    assert_eq!(
        attempt("203.0.113.2", "127.0.0.1:40000").await,
        Status::UnprocessableEntity,
        "another client behind the same proxy is not held up"
    );
    // Straight from a client: what it says in the header is ignored.
    for _ in 0..burst {
        attempt("198.51.100.1", "192.0.2.9:40000").await;
    }
    assert_eq!(
        attempt("198.51.100.2", "192.0.2.9:40000").await,
        Status::TooManyRequests
    );
}
