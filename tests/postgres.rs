//! Several instances sharing one PostgreSQL database: a message, a typing
//! notice and presence cross from one instance's sockets to the other's, and
//! a dropped listener connection loses nothing, and writers on both at once
//! keep each conversation's change order.
//!
//! Runs against a real PostgreSQL server named by `NATTER_TEST_POSTGRES`
//! (e.g. `postgres://postgres@127.0.0.1:5432`); each test gets a database of
//! its own, dropped after. Without the variable these tests say so and pass.

mod common;

use std::time::Duration;

use common::*;
use futures::SinkExt;
use rocket::figment::Figment;

/// Two instances on one fresh database, alice on the first and bob on the
/// second, with their conversation. `None` (and a note) without PostgreSQL.
async fn two_instances() -> Option<(Server, Server, Browser, Browser, i64)> {
    two_instances_with(|f| f).await
}

/// The same, both instances configured by `configure` too.
async fn two_instances_with(
    configure: fn(Figment) -> Figment,
) -> Option<(Server, Server, Browser, Browser, i64)> {
    if std::env::var(POSTGRES_ENV).map_or(true, |url| url.is_empty()) {
        eprintln!(
            "skipped: set {POSTGRES_ENV} to a PostgreSQL server to run the multi-instance tests"
        );
        return None;
    }
    let first = Server::start_with(tempfile::tempdir().unwrap(), configure).await;
    let url = database_url(&first.dir);
    let shared = url.clone();
    let second = Server::start_with(tempfile::tempdir().unwrap(), move |f| {
        configure(f)
            .merge(("databases.natter.url", shared))
            .merge(("presence_grace_ms", 200))
    })
    .await;
    let alice = first.browser();
    alice.signup("alice").await;
    let bob = second.browser();
    bob.signup("bob").await;
    let id = alice.open_conversation("bob").await;
    assert_eq!(
        bob.open_conversation("alice").await,
        id,
        "both instances see one conversation"
    );
    Some((first, second, alice, bob, id))
}

#[tokio::test]
async fn a_message_sent_through_one_instance_reaches_a_socket_on_the_other() {
    let Some((_a, _b, alice, bob, id)) = two_instances().await else {
        return;
    };
    let (mut alice_socket, _) = alice.connect(id, 0).await;
    let (mut bob_socket, _) = bob.connect(id, 0).await;

    send(&mut alice_socket, "Across instances", "x1").await;
    let at_bob = expect_text(&mut bob_socket, "Across instances").await;
    assert!(at_bob.contains("message theirs"), "{at_bob}");
    assert!(
        at_bob.contains(r#"<span class="visually-hidden">alice: </span>"#),
        "{at_bob}"
    );
    expect_text(&mut alice_socket, "Across instances").await;

    send(&mut bob_socket, "And back", "y1").await;
    expect_text(&mut alice_socket, "And back").await;
    // Stored once, and in the history whichever instance serves it.
    let history = bob.get_text(&format!("/conversations/{id}")).await;
    assert_eq!(history.matches("Across instances").count(), 1);
}

#[tokio::test]
async fn a_burst_crosses_instances_once_each_and_in_order() {
    let Some((_a, _b, alice, bob, id)) = two_instances().await else {
        return;
    };
    let (mut alice_socket, _) = alice.connect(id, 0).await;
    let (mut bob_socket, _) = bob.connect(id, 0).await;
    let burst = natter::limits::SOCKET_MESSAGES.burst;
    for n in 0..burst {
        send(&mut alice_socket, &format!("burst-{n}."), &format!("b{n}")).await;
    }
    let last = format!("burst-{}.", burst - 1);
    // The bubbles (the inbox row beside them previews the newest too).
    let mut seen: Vec<String> = Vec::new();
    while !seen.contains(&last) {
        let Some(text) = next_text(&mut bob_socket).await else {
            panic!("the burst stopped arriving: {seen:?}");
        };
        seen.extend(bubbles(&text).into_iter().map(|(_, body)| body));
    }
    let expected: Vec<String> = (0..burst).map(|n| format!("burst-{n}.")).collect();
    assert_eq!(seen, expected, "each once, in order");
}

#[tokio::test]
async fn writers_on_both_instances_at_once_reach_every_page_in_sequence_order() {
    let Some((_a, _b, alice, bob, id)) = two_instances().await else {
        return;
    };
    let (mut alice_reader, _) = alice.connect(id, 0).await;
    let (mut bob_reader, _) = bob.connect(id, 0).await;
    const EACH: usize = 15;
    let mut writers = Vec::new();
    for (name, browser) in [("a", &alice), ("b", &bob)] {
        let (mut socket, _) = browser.connect(id, 0).await;
        writers.push(tokio::spawn(async move {
            for n in 0..EACH {
                send(&mut socket, &format!("{name}-{n}"), &format!("{name}x{n}")).await;
            }
            for _ in 0..EACH {
                expect_text(&mut socket, r#"id="composer-error""#).await;
            }
        }));
    }
    let total = (2 * EACH) as i64;
    for reader in [&mut alice_reader, &mut bob_reader] {
        let mut shown = Vec::new();
        while (shown.len() as i64) < total {
            let frame = next_text(reader).await.expect("the reader keeps receiving");
            shown.extend(seqs(&frame));
        }
        assert_eq!(
            shown,
            (1..=total).collect::<Vec<_>>(),
            "every change once, in sequence order, on both instances"
        );
    }
    for writer in writers {
        writer.await.unwrap();
    }
}

#[tokio::test]
async fn typing_and_presence_cross_instances() {
    let Some((_a, _b, alice, bob, id)) = two_instances().await else {
        return;
    };
    let (mut alice_dashboard, _) = alice.connect_people().await;
    let (mut bob_socket, _) = bob.connect(id, 0).await;
    // Bob came online on the other instance.
    let online = expect_text(&mut alice_dashboard, "presence online").await;
    assert!(online.contains("presence-"), "{online}");

    let (mut alice_socket, _) = alice.connect(id, 0).await;
    alice_socket.send(typing_frame()).await.unwrap();
    let typing = expect_text(&mut bob_socket, "is typing").await;
    assert!(typing.contains("alice"), "{typing}");

    drop(bob_socket);
    let offline = expect_text(&mut alice_dashboard, "presence offline").await;
    assert!(offline.contains("last seen"), "{offline}");
}

#[tokio::test]
async fn a_dropped_listener_connection_reconnects_and_loses_nothing() {
    let Some((a, _b, alice, bob, id)) = two_instances().await else {
        return;
    };
    let (mut alice_socket, _) = alice.connect(id, 0).await;
    let (mut bob_socket, _) = bob.connect(id, 0).await;
    send(&mut alice_socket, "Before the cut", "r1").await;
    expect_text(&mut bob_socket, "Before the cut").await;

    // Kill every listening connection, as a database restart would.
    let pool = open_database(&a.dir).await;
    let pg = pool.postgres().expect("a PostgreSQL database").clone();
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_all(&pg)
    .await
    .unwrap();
    assert!(!killed.is_empty(), "the instances were listening");

    // Sent while the other instance cannot hear: it arrives after reconnecting.
    send(&mut alice_socket, "During the cut", "r2").await;
    expect_text(&mut alice_socket, "During the cut").await;
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains("During the cut") && tokio::time::Instant::now() < deadline {
        if let Some(text) = next_text(&mut bob_socket).await {
            seen.push_str(&text);
        }
    }
    assert!(seen.contains("During the cut"), "{seen}");
    assert!(
        !seen.contains("Before the cut") || seen.contains(r#"id="live""#),
        "a replay replaces the live list rather than appending twice"
    );

    // And live delivery works again.
    send(&mut alice_socket, "After the cut", "r3").await;
    expect_text(&mut bob_socket, "After the cut").await;
    pool.close().await;
}

#[tokio::test]
async fn an_edit_a_reaction_and_a_deletion_cross_instances() {
    let Some((_a, _b, alice, bob, id)) = two_instances().await else {
        return;
    };
    let (mut alice_socket, _) = alice.connect(id, 0).await;
    let (mut bob_socket, _) = bob.connect(id, 0).await;
    send(&mut alice_socket, "helo", "e1").await;
    expect_text(&mut bob_socket, "helo").await;
    let message = bubbles(&bob.get_text(&format!("/conversations/{id}")).await)[0].0;
    let url = format!("/conversations/{id}/messages/{message}");
    let csrf = hidden_field(&alice.get_text("/").await, "csrf").unwrap();
    alice
        .post(
            &format!("{url}/edit"),
            &[("csrf", &csrf), ("body", "hello")],
        )
        .await;
    let edited = expect_text(&mut bob_socket, ">edited</time>").await;
    assert!(
        edited.contains("hello") && edited.contains("#changes"),
        "{edited}"
    );
    let bob_csrf = hidden_field(&bob.get_text("/").await, "csrf").unwrap();
    bob.post(
        &format!("{url}/reactions"),
        &[("csrf", &bob_csrf), ("emoji", "🙏")],
    )
    .await;
    expect_text(&mut alice_socket, "🙏").await;
    alice
        .post(&format!("{url}/delete"), &[("csrf", &csrf)])
        .await;
    expect_text(&mut bob_socket, "This message was deleted").await;
}

#[tokio::test]
async fn a_member_is_pushed_once_and_only_while_no_page_of_theirs_on_any_instance_is_in_view() {
    use common::push_service::{subscribe, PushService};
    let Some((_first, _second, alice, bob, id)) =
        two_instances_with(|f| f.merge(("push_local_endpoints", true))).await
    else {
        return;
    };
    let service = PushService::start().await;
    let device = service.device("bobs-phone");
    assert_eq!(subscribe(&bob, &device).await.status(), 204);
    let (mut alice_socket, _) = alice.connect(id, 0).await;
    let (mut bob_socket, _) = bob.connect(id, 0).await;
    // Each marker crosses to the first instance after the page's news
    // (they share one ordered channel), so once alice sees it, the first
    // instance knows whether bob's page is in view.
    page_in_view(&mut bob_socket, false, "away").await;
    expect_text(&mut alice_socket, "away").await;
    send(&mut alice_socket, "one", "a1").await;
    service.wait_for(&device, 1).await;
    page_in_view(&mut bob_socket, true, "here").await;
    expect_text(&mut alice_socket, "here").await;
    send(&mut alice_socket, "two", "a2").await;
    expect_text(&mut bob_socket, "two").await;
    page_in_view(&mut bob_socket, false, "gone").await;
    expect_text(&mut alice_socket, "gone").await;
    send(&mut alice_socket, "three", "a3").await;
    service.wait_for(&device, 2).await;
    // (time for a second instance's copy to arrive, had it pushed one)
    tokio::time::sleep(Duration::from_millis(500)).await;
    // Once each (the instance that saved a message pushes it), and not the
    // one bob's page on the other instance showed him.
    assert_eq!(service.bodies(&device), ["one", "three"]);
}

#[tokio::test]
async fn deactivating_an_account_on_one_instance_closes_its_pages_on_the_other() {
    // Alice, the first account, administers; bob's page is on the other instance.
    let Some((_first, _second, alice, bob, id)) = two_instances().await else {
        return;
    };
    let (mut bob_socket, _) = bob.connect(id, 0).await;
    let csrf = hidden_field(&alice.get_text("/admin").await, "csrf").expect("the admin page");
    let page = alice.get_text("/admin").await;
    let name = page.find(r#"<th scope="row">bob"#).expect("bob listed");
    let start = page[..name].rfind(r#"id="account-"#).unwrap() + r#"id="account-"#.len();
    let bob_id = &page[start..start + page[start..].find('"').unwrap()];
    let done = alice
        .post(
            &format!("/admin/users/{bob_id}"),
            &[("csrf", &csrf), ("action", "deactivate")],
        )
        .await;
    assert_eq!(done.status(), 200);
    assert_eq!(expect_close(&mut bob_socket).await, Some(1000));
    assert!(bob.get("/").await.url().path().starts_with("/login"));
}

#[tokio::test]
async fn a_profile_change_on_one_instance_shows_on_the_others_pages() {
    let Some((_a, _b, alice, bob, id)) = two_instances().await else {
        return;
    };
    let (mut bob_chat, _) = bob.connect(id, 0).await;
    let csrf = hidden_field(&alice.get_text("/account").await, "csrf").expect("csrf");
    let saved = alice
        .post(
            "/account/profile",
            &[
                ("csrf", &csrf),
                ("display_name", "Alice Liddell"),
                ("status", "Across instances"),
            ],
        )
        .await;
    assert!(saved.status().is_success());
    let heading = expect_text(&mut bob_chat, "Alice Liddell").await;
    assert!(heading.contains("Across instances"), "{heading}");
}

#[tokio::test]
async fn the_notify_lag_between_instances_is_measured() {
    let Some((_a, b, alice, bob, id)) =
        two_instances_with(|f| f.merge(("metrics_token", "lag-token"))).await
    else {
        return;
    };
    let (mut alice_socket, _) = alice.connect(id, 0).await;
    let (mut bob_socket, _) = bob.connect(id, 0).await;
    send(&mut alice_socket, "how late?", "lag1").await;
    expect_text(&mut bob_socket, "how late?").await;
    let scraped = bob
        .http
        .get(b.url("/metrics"))
        .bearer_auth("lag-token")
        .send()
        .await
        .expect("scraped")
        .text()
        .await
        .expect("text");
    let count = scraped
        .lines()
        .find_map(|l| l.strip_prefix("natter_notify_lag_seconds_count "))
        .and_then(|v| v.parse::<f64>().ok());
    assert!(count.is_some_and(|n| n >= 1.0), "{scraped}");
}

/// Sign-up attempts (with a password too short to hash: refused as
/// invalid, still counted) from one client to `server` until it is told to
/// slow down; how many were let through.
async fn signups_until_throttled(client: &Browser) -> u32 {
    let page = client.get_text("/signup").await;
    let csrf = hidden_field(&page, "csrf").expect("csrf");
    for (allowed, n) in (0..100).enumerate() {
        let name = format!("probe{n}");
        let answer = client
            .post(
                "/signup",
                &[
                    ("csrf", csrf.as_str()),
                    ("username", name.as_str()),
                    ("password", "short"),
                    ("confirmation", "short"),
                ],
            )
            .await;
        if answer.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return u32::try_from(allowed).expect("a small count");
        }
    }
    panic!("never throttled");
}

#[tokio::test]
async fn each_instance_keeps_its_own_rate_limits_so_n_instances_allow_n_budgets() {
    let Some((a, b, _alice, _bob, _id)) = two_instances().await else {
        return;
    };
    // One client address (127.0.0.1) reaching both, as through a proxy that
    // spreads requests: each instance lets its burst through, no more
    // (less the sign-up of alice on the first and bob on the second).
    let left = natter::limits::SIGNUP_PER_ADDRESS.burst - 1;
    let on_first = signups_until_throttled(&a.browser()).await;
    let on_second = signups_until_throttled(&b.browser()).await;
    assert_eq!((on_first, on_second), (left, left));
    // And the first stays throttled whatever the second allowed.
    assert_eq!(signups_until_throttled(&a.browser()).await, 0);
}
