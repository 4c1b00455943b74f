//! Web Push: a real server pushing to a push service of the test's own,
//! which decrypts every push with the subscription's keys and checks its
//! VAPID signature. Who is pushed (members with no page in view, as their
//! notify level asks), what a push carries, expired and removed
//! subscriptions, and a slow push service holding nothing up.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::push_service::{assert_signed_by, subscribe, Answer, Device, PushService};
use common::*;
use rocket::http::{ContentType, Status};
use serde_json::json;
use tokio::sync::Notify;

/// A real server that accepts the test push service's endpoints, and alice
/// and bob with their conversation; bob's browser is subscribed as `device`.
async fn pushing(previews: bool) -> (Server, PushService, Device, Browser, Browser, i64) {
    let service = PushService::start().await;
    let server = Server::start_with(tempfile::tempdir().expect("temp dir"), move |f| {
        f.merge(("push_local_endpoints", true))
            .merge(("push_previews", previews))
    })
    .await;
    let (server, alice, bob, id) = server.alice_and_bob().await;
    let device = service.device("bobs-phone");
    assert_eq!(subscribe(&bob, &device).await.status(), 204);
    (server, service, device, alice, bob, id)
}

async fn subscriptions(server: &Server) -> i64 {
    let pool = open_database(&server.dir).await;
    let n = count(&pool, "push_subscriptions").await;
    pool.close().await;
    n
}

/// Waits (ten seconds at most) until the server stores `n` subscriptions.
async fn wait_for_subscriptions(server: &Server, n: i64) {
    for _ in 0..100 {
        if subscriptions(server).await == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "still {} subscriptions, not {n}",
        subscriptions(server).await
    );
}

#[tokio::test]
async fn a_member_with_no_page_in_view_is_pushed_each_message_encrypted_and_signed() {
    let (_server, service, device, alice, bob, id) = pushing(true).await;
    let key = bob.get_text("/push/key").await;
    let (mut alice_socket, _) = alice.connect(id, 0).await;

    // Bob has no page open: pushed.
    send(&mut alice_socket, "Dinner at eight?\nBring wine", "c1").await;
    let pushed = service.wait_for(&device, 1).await;
    assert_eq!(
        device.open(&pushed[0]),
        json!({
            "title": "alice",
            "body": "Dinner at eight?",
            "url": format!("/conversations/{id}"),
            "tag": format!("conversation-{id}-1"),
        })
    );
    assert_signed_by(&pushed[0], &key, &service);
    let headers = &pushed[0].headers;
    assert_eq!(headers["content-encoding"], "aes128gcm");
    assert!(headers["ttl"].parse::<u64>().unwrap() > 0);
    assert_eq!(headers["urgency"], "high");

    // His page open and in view: the page tells him, no push.
    let (mut bob_socket, _) = bob.connect(id, 0).await;
    send(&mut alice_socket, "Are you there?", "c2").await;
    expect_text(&mut bob_socket, "Are you there?").await;
    // The page out of view: pushed again.
    page_in_view(&mut bob_socket, false, "brb").await;
    send(&mut alice_socket, "Hello?", "c3").await;
    service.wait_for(&device, 2).await;
    // Pushes are queued in order: had the one in view been pushed, it
    // would have come before this.
    assert_eq!(service.bodies(&device), ["Dinner at eight?", "Hello?"]);
    // Back in view: not pushed.
    page_in_view(&mut bob_socket, true, "back").await;
    send(&mut alice_socket, "Welcome back", "c4").await;
    expect_text(&mut bob_socket, "Welcome back").await;
    // A closed page is not in view any more.
    drop(bob_socket);
    tokio::time::sleep(Duration::from_millis(300)).await;
    send(&mut alice_socket, "Gone again?", "c5").await;
    service.wait_for(&device, 3).await;
    assert_eq!(
        service.bodies(&device),
        ["Dinner at eight?", "Hello?", "Gone again?"]
    );
}

#[tokio::test]
async fn a_muted_conversation_pushes_nothing_and_mentions_only_pushes_mentions() {
    let (_server, service, device, alice, bob, id) = pushing(true).await;
    let (mut alice_socket, _) = alice.connect(id, 0).await;
    let set_level = |level: &'static str| {
        let bob = bob.clone();
        async move {
            let path = format!("/conversations/{id}");
            let csrf = hidden_field(&bob.get_text(&path).await, "csrf").expect("csrf");
            let done = bob
                .post(
                    &format!("{path}/notify"),
                    &[("csrf", &csrf), ("level", level)],
                )
                .await;
            assert!(done.status().is_success(), "{level}: {}", done.status());
        }
    };
    set_level("none").await;
    send(&mut alice_socket, "Muted, this", "c1").await;
    expect_text(&mut alice_socket, "Muted, this").await;
    set_level("mentions").await;
    send(&mut alice_socket, "No name in this", "c2").await;
    send(&mut alice_socket, "@bob this one", "c3").await;
    service.wait_for(&device, 1).await;
    set_level("all").await;
    send(&mut alice_socket, "And everything again", "c4").await;
    service.wait_for(&device, 2).await;
    assert_eq!(
        service.bodies(&device),
        ["@bob this one", "And everything again"]
    );
}

#[tokio::test]
async fn without_previews_a_push_says_only_who_wrote() {
    let (_server, service, device, alice, _bob, id) = pushing(false).await;
    let (mut alice_socket, _) = alice.connect(id, 0).await;
    send(&mut alice_socket, "The secret plan", "c1").await;
    let pushed = service.wait_for(&device, 1).await;
    let payload = device.open(&pushed[0]);
    assert_eq!(payload["title"], "alice");
    assert_eq!(payload["body"], "New message from alice");
    assert!(!payload.to_string().contains("secret"), "{payload}");
}

#[tokio::test]
async fn a_group_push_names_the_group_and_the_sender() {
    let (_server, service, device, alice, _bob, _id) = pushing(true).await;
    let group = alice.create_group("Book club", &["bob"]).await;
    let (mut alice_socket, _) = alice.connect(group, 0).await;
    send(&mut alice_socket, "Chapter three tonight", "g1").await;
    // (adding bob left a note in the group: notes are never pushed)
    let pushed = service.wait_for(&device, 1).await;
    let payload = device.open(&pushed[0]);
    assert_eq!(payload["title"], "Book club");
    assert_eq!(payload["body"], "alice: Chapter three tonight");
    assert_eq!(service.pushed(&device).len(), 1);
}

#[tokio::test]
async fn a_subscription_the_service_says_is_gone_is_deleted() {
    let (server, service, device, alice, bob, id) = pushing(true).await;
    service.answer(&device, Answer::Status(410));
    let (mut alice_socket, _) = alice.connect(id, 0).await;
    send(&mut alice_socket, "Anyone?", "c1").await;
    service.wait_for(&device, 1).await;
    wait_for_subscriptions(&server, 0).await;
    // A 404 ("no such subscription") means the same.
    let another = service.device("bobs-phone");
    assert_eq!(subscribe(&bob, &another).await.status(), 204);
    assert_eq!(subscriptions(&server).await, 1);
    service.answer(&another, Answer::Status(404));
    send(&mut alice_socket, "Still there?", "c2").await;
    service.wait_for(&another, 1).await;
    wait_for_subscriptions(&server, 0).await;
}

#[tokio::test]
async fn a_failing_push_is_tried_again_and_a_slow_one_holds_no_socket_up() {
    let (_server, service, device, alice, bob, id) = pushing(true).await;
    let (mut alice_socket, _) = alice.connect(id, 0).await;
    let (mut bob_socket, _) = bob.connect(id, 0).await;
    page_in_view(&mut bob_socket, false, "away").await;

    // A 503 first: the same push comes again a moment later.
    service.answer(&device, Answer::Status(503));
    send(&mut alice_socket, "Try again", "c1").await;
    service.wait_for(&device, 1).await;
    service.answer(&device, Answer::Status(201));
    service.wait_for(&device, 2).await;
    assert_eq!(service.bodies(&device), ["Try again", "Try again"]);

    // A push service that does not answer: the pages get every message
    // while its request is still open.
    let release = Arc::new(Notify::new());
    service.answer(&device, Answer::Hold(Arc::clone(&release)));
    send(&mut alice_socket, "Slow one", "c2").await;
    service.wait_for(&device, 3).await;
    send(&mut alice_socket, "Next one", "c3").await;
    expect_text(&mut bob_socket, "Slow one").await;
    expect_text(&mut bob_socket, "Next one").await;
    expect_text(&mut alice_socket, "Next one").await;
    release.notify_one();
    service.wait_for(&device, 4).await;
    release.notify_one();
}

#[tokio::test]
async fn the_account_page_lists_and_removes_subscriptions_and_logging_out_ends_them() {
    let (server, service, _device, _alice, bob, _id) = pushing(true).await;
    let account = bob.get_text("/account").await;
    assert!(account.contains("Push notifications"), "{account}");
    assert!(account.contains("(this browser)"), "{account}");
    let start = account.find("/account/push/").expect("a Remove form");
    let action = &account[start..start + account[start..].find('"').expect("end")];
    let csrf = hidden_field(&account, "csrf").expect("csrf");
    let removed = bob.post(action, &[("csrf", &csrf)]).await;
    assert!(removed.status().is_success());
    let page = removed.text().await.expect("page");
    assert!(
        page.contains("That browser gets no more push notifications."),
        "{page}"
    );
    assert!(
        page.contains("No browser gets push notifications."),
        "{page}"
    );
    wait_for_subscriptions(&server, 0).await;
    // Someone else cannot remove bob's.
    let another = service.device("bobs-laptop");
    assert_eq!(subscribe(&bob, &another).await.status(), 204);
    let mallory = server.browser();
    mallory.signup("mallory").await;
    let account = bob.get_text("/account").await;
    let start = account.find("/account/push/").expect("a Remove form");
    let action = &account[start..start + account[start..].find('"').expect("end")];
    let csrf = hidden_field(&mallory.get_text("/account").await, "csrf").expect("csrf");
    let page = mallory
        .post(action, &[("csrf", &csrf)])
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("was not getting push notifications"),
        "{page}"
    );
    assert_eq!(subscriptions(&server).await, 1);
    // Ending bob's other sessions from another browser of his ends theirs.
    let other = server.browser();
    other.login("bob").await;
    assert_eq!(
        subscribe(&other, &service.device("bobs-phone"))
            .await
            .status(),
        204
    );
    assert_eq!(subscriptions(&server).await, 2);
    let csrf = hidden_field(&other.get_text("/account").await, "csrf").expect("csrf");
    let ended = other
        .post("/account/logout-others", &[("csrf", &csrf)])
        .await;
    assert!(ended.status().is_success() || ended.status().is_redirection());
    assert_eq!(
        subscriptions(&server).await,
        1,
        "bob's first browser's is gone"
    );
    // Logging out ends this browser's session, and its subscription with it.
    other.logout().await;
    assert_eq!(subscriptions(&server).await, 0);
}

#[rocket::async_test]
async fn only_a_browsers_https_endpoint_on_a_public_host_is_accepted() {
    let app = TestApp::new().await;
    signup(&app.client, "alice").await;
    let csrf = csrf_of(&app.client, "/").await;
    let service = PushService::start().await;
    let device = service.device("d");
    let post = |endpoint: String, p256dh: String, auth: String| {
        let csrf = csrf.clone();
        let client = &app.client;
        async move {
            client
                .post("/push/subscriptions")
                .header(ContentType::Form)
                .body(form(&[
                    ("csrf", &csrf),
                    ("endpoint", &endpoint),
                    ("p256dh", &p256dh),
                    ("auth", &auth),
                ]))
                .dispatch()
                .await
                .status()
        }
    };
    let (key, auth) = (device.p256dh.clone(), device.auth.clone());
    for endpoint in [
        "http://push.example.com/send/1",
        "https://127.0.0.1/send/1",
        "https://localhost/send/1",
        "https://[::1]/send/1",
        "https://10.1.2.3/send/1",
        "https://192.168.0.1/send/1",
        "https://intranet/send/1",
        "https://127.1/send/1",
        "https://0x7f.1/send/1",
        "https://127.0.0.1./send/1",
        "https://localhost./send/1",
        "https://[::ffff:127.0.0.1]/send/1",
        "https://100.64.0.1/send/1",
        "https://169.254.169.254/latest/meta-data",
        "not an address",
        &format!("https://fcm.googleapis.com/{}", "x".repeat(2000)),
    ] {
        assert_eq!(
            post(endpoint.to_owned(), key.clone(), auth.clone()).await,
            Status::UnprocessableEntity,
            "{endpoint}"
        );
    }
    let good = "https://fcm.googleapis.com/fcm/send/abc".to_owned();
    assert_eq!(
        post(good.clone(), "bad-key".into(), auth.clone()).await,
        Status::UnprocessableEntity
    );
    assert_eq!(
        post(good.clone(), key.clone(), "c2hvcnQ".into()).await,
        Status::UnprocessableEntity
    );
    assert_eq!(count(app.pool(), "push_subscriptions").await, 0);
    assert_eq!(
        post(good.clone(), key.clone(), auth.clone()).await,
        Status::NoContent
    );
    assert_eq!(count(app.pool(), "push_subscriptions").await, 1);
    // With a token not the session's: refused.
    let refused = app
        .client
        .post("/push/subscriptions")
        .header(ContentType::Form)
        .body(form(&[
            ("csrf", "forged"),
            ("endpoint", &good),
            ("p256dh", &key),
            ("auth", &auth),
        ]))
        .dispatch()
        .await;
    assert_eq!(refused.status(), Status::Forbidden);
    // The page script turns it off by its endpoint.
    let off = app
        .client
        .post("/push/unsubscribe")
        .header(ContentType::Form)
        .body(form(&[("csrf", &csrf), ("endpoint", &good)]))
        .dispatch()
        .await;
    assert_eq!(off.status(), Status::NoContent);
    assert_eq!(count(app.pool(), "push_subscriptions").await, 0);
}

#[rocket::async_test]
async fn the_service_worker_is_served_from_the_root_and_never_cached_long() {
    let app = TestApp::new().await;
    let response = app.client.get("/sw.js").dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(response.content_type(), Some(ContentType::JavaScript));
    assert_eq!(
        response.headers().get_one("Cache-Control"),
        Some("no-cache")
    );
    let csp = response
        .headers()
        .get_one("Content-Security-Policy")
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("worker-src 'self'"), "{csp}");
    let script = response.into_string().await.unwrap_or_default();
    assert!(script.contains("showNotification"), "{script}");
    // The key is the server's, the same on every call, for members only.
    let anonymous = app.client.get("/push/key").dispatch().await;
    assert_eq!(anonymous.status(), Status::SeeOther, "to the login page");
    signup(&app.client, "alice").await;
    let key = app.client.get("/push/key").dispatch().await;
    let key = key.into_string().await.unwrap_or_default();
    assert_eq!(key.len(), 87, "a base64url P-256 point: {key}");
    let again = app.client.get("/push/key").dispatch().await;
    assert_eq!(again.into_string().await.unwrap_or_default(), key);
}

#[tokio::test]
async fn a_browser_has_one_subscription_and_an_account_at_most_ten() {
    let (server, service, _device, _alice, bob, _id) = pushing(true).await;
    // Subscribing again from the same browser replaces its subscription.
    let renewed = service.device("bobs-phone-renewed");
    assert_eq!(subscribe(&bob, &renewed).await.status(), 204);
    assert_eq!(subscriptions(&server).await, 1);
    // Nine more browsers (logged in and subscribed, stored as such) make
    // ten; another is refused, saying why.
    let pool = open_database(&server.dir).await;
    for n in 0..9 {
        let device = service.device(&format!("bobs-browser-{n}"));
        let session = format!("session-{n}");
        natter::on_pool!(&pool, db => {
            let now = time::OffsetDateTime::now_utc();
            sqlx::query(
                "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at)
                 SELECT $1, id, 'x', $2, $3 FROM users WHERE username = 'bob'",
            )
            .bind(&session)
            .bind(now)
            .bind(now + time::Duration::days(1))
            .execute(db)
            .await
            .expect("a session");
            sqlx::query(
                "INSERT INTO push_subscriptions (user_id, session_hash, endpoint, p256dh, auth, created_at)
                 SELECT id, $1, $2, $3, $4, $5 FROM users WHERE username = 'bob'",
            )
            .bind(&session)
            .bind(&device.endpoint)
            .bind(&device.p256dh)
            .bind(&device.auth)
            .bind(now)
            .execute(db)
            .await
            .expect("a subscription");
        });
    }
    pool.close().await;
    assert_eq!(subscriptions(&server).await, 10);
    let browser = server.browser();
    browser.login("bob").await;
    let refused = subscribe(&browser, &service.device("one-too-many")).await;
    assert_eq!(refused.status(), 422);
    let page = refused.text().await.unwrap_or_default();
    assert!(page.contains("at most 10 browsers"), "{page}");
    assert_eq!(subscriptions(&server).await, 10);
}

#[tokio::test]
async fn a_session_unused_past_the_idle_limit_is_not_pushed() {
    let (server, service, bobs, alice, bob, _id) = pushing(true).await;
    let carol = server.browser();
    carol.signup("carol").await;
    let carols = service.device("carols-phone");
    assert_eq!(subscribe(&carol, &carols).await.status(), 204);
    let group = alice.create_group("Three", &["bob", "carol"]).await;
    // Bob's browser has not been used for eight days (the limit is seven).
    let pool = open_database(&server.dir).await;
    let long_ago = time::OffsetDateTime::now_utc() - time::Duration::days(8);
    natter::on_pool!(&pool, db => {
        sqlx::query(
            "UPDATE sessions SET last_used_at = $1, created_at = $1
             WHERE user_id = (SELECT id FROM users WHERE username = 'bob')",
        )
        .bind(long_ago)
        .execute(db)
        .await
        .expect("aged");
    });
    pool.close().await;
    let (mut alice_socket, _) = alice.connect(group, 0).await;
    send(&mut alice_socket, "Who is still here?", "g1").await;
    service.wait_for(&carols, 1).await;
    // Pushed in the same batch: had bob's been, it would be there by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(service.pushed(&bobs).is_empty());
    drop(bob);
}
