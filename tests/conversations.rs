//! Conversations over HTTP: opening, history and its pages, sending without
//! JavaScript.

mod common;

use common::*;
use natter::domain::{ConversationId, UserId};
use rocket::http::Status;

async fn two_users(app: &TestApp) -> rocket::local::asynchronous::Client {
    let alice = app.another_browser().await;
    signup(&alice, "alice").await;
    signup(&app.client, "bob").await;
    alice
}

/// Alice, Bob (the app's own client) and their conversation, for tests that
/// write to the store directly.
struct Pair {
    app: TestApp,
    path: String,
    id: ConversationId,
    alice_id: UserId,
    bob_id: UserId,
}

async fn pair() -> Pair {
    let app = TestApp::new().await;
    let alice = two_users(&app).await;
    let path = open_conversation(&alice, "bob").await;
    let id = path.trim_start_matches("/conversations/").parse().unwrap();
    let user = |name| natter::store::users::by_username(app.pool(), name);
    let alice_id = user("alice").await.unwrap().unwrap().id;
    let bob_id = user("bob").await.unwrap().unwrap().id;
    Pair {
        app,
        path,
        id,
        alice_id,
        bob_id,
    }
}

#[rocket::async_test]
async fn opening_a_contact_creates_one_conversation_per_pair() {
    let app = TestApp::new().await;
    let alice = two_users(&app).await;
    let from_bob = open_conversation(&app.client, "alice").await;
    let again = open_conversation(&app.client, "ALICE").await;
    let from_alice = open_conversation(&alice, "bob").await;
    assert_eq!(from_bob, again);
    assert_eq!(from_bob, from_alice);
    let page = app.client.get(from_bob).dispatch().await;
    assert_eq!(page.status(), Status::Ok);
    let html = page.into_string().await.unwrap();
    assert!(html.contains(r#"<h1 id="peer-name-"#) && html.contains(">alice</h1>"));
    assert!(
        html.contains(r#"hx-ext="ws""#) && html.contains("ws-connect=") && html.contains("ws-send")
    );
}

#[rocket::async_test]
async fn concurrent_first_opens_create_a_single_conversation() {
    let app = TestApp::new().await;
    let alice = two_users(&app).await;
    let (bob_csrf, alice_csrf) = (csrf_of(&app.client, "/").await, csrf_of(&alice, "/").await);
    let (bob_fields, alice_fields) = (
        [("csrf", bob_csrf.as_str())],
        [("csrf", alice_csrf.as_str())],
    );
    let bob_open = post_form(&app.client, "/c/alice", &bob_fields);
    let alice_open = post_form(&alice, "/c/bob", &alice_fields);
    let (a, b) = tokio::join!(bob_open, alice_open);
    assert_eq!(
        a.headers().get_one("Location"),
        b.headers().get_one("Location")
    );
    let count = count(app.pool(), "conversations").await;
    assert_eq!(count, 1);
}

#[rocket::async_test]
async fn following_a_link_to_someone_new_starts_nothing_until_asked() {
    let app = TestApp::new().await;
    let alice = two_users(&app).await;
    let offer = app.client.get("/c/alice").dispatch().await;
    assert_eq!(offer.status(), Status::Ok);
    let html = offer.into_string().await.unwrap();
    assert!(html.contains("Start a conversation"), "{html}");
    assert!(html.contains(r#"action="/c/alice""#));
    assert_eq!(
        count(app.pool(), "conversations").await,
        0,
        "a GET wrote nothing"
    );
    // Started once, the link goes straight there, for both.
    let path = open_conversation(&app.client, "alice").await;
    for client in [&app.client, &alice] {
        let peer = if std::ptr::eq(client, &app.client) {
            "alice"
        } else {
            "bob"
        };
        let again = client.get(format!("/c/{peer}")).dispatch().await;
        assert_eq!(again.status(), Status::SeeOther);
        assert_eq!(again.headers().get_one("Location"), Some(path.as_str()));
    }
    assert_eq!(count(app.pool(), "conversations").await, 1);
}

#[rocket::async_test]
async fn unknown_users_and_oneself_have_no_conversation() {
    let app = TestApp::new().await;
    two_users(&app).await;
    assert_eq!(
        app.client.get("/c/nobody").dispatch().await.status(),
        Status::NotFound
    );
    assert_eq!(
        app.client.get("/c/bob").dispatch().await.status(),
        Status::NotFound
    );
}

#[rocket::async_test]
async fn without_javascript_the_form_posts_and_redirects_back() {
    let app = TestApp::new().await;
    let alice = two_users(&app).await;
    let path = open_conversation(&app.client, "alice").await;
    assert_eq!(
        post_message(&app.client, &path, "  Hi Alice,\r\nhow are you?  ").await,
        Status::SeeOther
    );
    let html = page_text(&alice, &path).await;
    assert!(
        html.contains("Hi Alice,\nhow are you?</p>"),
        "trimmed, newlines kept"
    );
    assert!(html.contains("message theirs"));
    let mine = page_text(&app.client, &path).await;
    assert!(mine.contains("message mine"));
}

#[rocket::async_test]
async fn a_double_submitted_form_is_stored_once() {
    let app = TestApp::new().await;
    two_users(&app).await;
    let path = open_conversation(&app.client, "alice").await;
    let html = page_text(&app.client, &path).await;
    let csrf = hidden_field(&html, "csrf").unwrap();
    let client_id = hidden_field(&html, "client_id").unwrap();
    for _ in 0..2 {
        let status = post_form(
            &app.client,
            &format!("{path}/messages"),
            &[("csrf", &csrf), ("client_id", &client_id), ("body", "once")],
        )
        .await
        .status();
        assert_eq!(status, Status::SeeOther);
    }
    let count = count(app.pool(), "messages").await;
    assert_eq!(count, 1);
}

#[rocket::async_test]
async fn an_invalid_message_is_refused_with_the_text_kept() {
    let app = TestApp::new().await;
    two_users(&app).await;
    let path = open_conversation(&app.client, "alice").await;
    let html = page_text(&app.client, &path).await;
    let csrf = hidden_field(&html, "csrf").unwrap();
    let too_long = "y".repeat(natter::limits::MESSAGE_MAX_CHARS + 1);
    for (body, error) in [
        ("   ", "Type a message first"),
        (too_long.as_str(), "at most"),
    ] {
        let response = post_form(
            &app.client,
            &format!("{path}/messages"),
            &[("csrf", &csrf), ("client_id", "abc123"), ("body", body)],
        )
        .await;
        assert_eq!(response.status(), Status::UnprocessableEntity);
        let page = response.into_string().await.unwrap();
        assert!(page.contains(error), "{error}");
        if body.len() > 10 {
            assert!(page.contains(&too_long), "typed text kept");
        }
    }
    let count = count(app.pool(), "messages").await;
    assert_eq!(count, 0);
}

#[rocket::async_test]
async fn history_shows_the_newest_page_and_loads_earlier_on_demand() {
    let Pair {
        app,
        path,
        id,
        alice_id,
        ..
    } = pair().await;
    for n in 1..=120 {
        natter::store::messages::save(
            app.pool(),
            id,
            alice_id,
            &format!("message number {n}."),
            &format!("seed-{n}"),
        )
        .await
        .unwrap();
    }
    let html = page_text(&app.client, &path).await;
    let html = &html[html.find(r#"id="messages""#).unwrap()..];
    assert!(html.contains("message number 120.") && html.contains("message number 71."));
    assert!(!html.contains("message number 70."));
    assert!(
        html.find("message number 71.").unwrap() < html.find("message number 120.").unwrap(),
        "newest at the bottom"
    );
    let marker = r#"hx-get="/conversations/"#;
    let link_start = html.find(marker).expect("load earlier link") + r#"hx-get=""#.len();
    let link = &html[link_start..link_start + html[link_start..].find('"').unwrap()];
    assert!(link.starts_with(&format!("{path}/messages?before=")));

    let chunk = page_text(&app.client, link).await;
    assert!(chunk.contains("message number 21.") && chunk.contains("message number 70."));
    assert!(!chunk.contains("message number 71.") && !chunk.contains("message number 20."));
    assert!(chunk.contains("Load earlier messages"));
    assert!(!chunk.contains("<html"), "a fragment, not a page");

    // Without JavaScript the same link is a page of its own.
    let before = link.split("before=").nth(1).unwrap();
    let page = page_text(&app.client, &format!("{path}?before={before}")).await;
    assert!(page.contains("message number 70.") && !page.contains("message number 71."));
    assert!(page.contains("Jump to the latest"));
}

#[rocket::async_test]
async fn concurrent_saves_are_committed_together_and_each_gets_its_own_answer() {
    let Pair {
        app,
        id,
        alice_id,
        bob_id,
        ..
    } = pair().await;
    let outsider = natter::store::users::create(app.pool(), "outsider", "x")
        .await
        .unwrap()
        .id;
    let writer = natter::store::writer::Writer::start(app.pool().clone());
    let mut tasks = Vec::new();
    for n in 0..300 {
        let writer = writer.clone();
        let sender = [alice_id, bob_id, outsider][n % 3];
        tasks.push(tokio::spawn(async move {
            let result = writer
                .save(id, sender, &format!("batch {n}"), &format!("b{n}"))
                .await;
            (sender, result)
        }));
    }
    let mut created = 0;
    for task in tasks {
        let (sender, result) = task.await.unwrap();
        if sender == outsider {
            assert!(
                matches!(result, Err(natter::error::Error::NotFound)),
                "outsider refused"
            );
        } else {
            assert!(matches!(
                result,
                Ok(natter::store::messages::Saved::Created(_))
            ));
            created += 1;
        }
    }
    assert_eq!(created, 200);
    assert_eq!(
        count(app.pool(), "messages").await,
        200,
        "outsiders' refusals spoiled nothing"
    );
    // Each sender has read up to their own newest message.
    for sender in [alice_id, bob_id] {
        let (read, newest): (i64, i64) = natter::on_pool!(app.pool(), p => sqlx::query_as(
            "SELECT v.last_read_message_id, (SELECT MAX(id) FROM messages WHERE sender_id = $2)
             FROM members v WHERE v.conversation_id = $1 AND v.user_id = $2",
        )
        .bind(id)
        .bind(sender)
        .fetch_one(p)
        .await
        .unwrap());
        assert_eq!(read, newest, "read position of {sender}");
    }
    // Replays through the writer are still stored once.
    let again = writer.save(id, alice_id, "batch 0", "b0").await.unwrap();
    assert!(matches!(
        again,
        natter::store::messages::Saved::Duplicate(_)
    ));
    assert_eq!(count(app.pool(), "messages").await, 200);
}

#[rocket::async_test]
async fn saves_batched_together_keep_replays_mentions_and_a_log_without_holes() {
    use natter::store::messages::Saved;
    let Pair {
        app,
        id,
        alice_id,
        bob_id,
        ..
    } = pair().await;
    let writer = natter::store::writer::Writer::start(app.pool().clone());
    let first = writer.save(id, alice_id, "first", "r1").await.unwrap();
    assert!(matches!(first, Saved::Created(_)));
    // Sent at once, so they queue up and the writer saves them together.
    let mut tasks = Vec::new();
    let jobs: Vec<(natter::domain::UserId, String, String)> = [
        (alice_id, "first", "r1"),
        (alice_id, "not the first", "r1"),
        (bob_id, "hello @alice", "m1"),
        (alice_id, "twice", "d1"),
        (alice_id, "twice", "d1"),
    ]
    .into_iter()
    .map(|(who, body, client)| (who, body.to_owned(), client.to_owned()))
    .chain((0..60).map(|n| {
        (
            [alice_id, bob_id][n % 2],
            format!("plain {n}"),
            format!("p{n}"),
        )
    }))
    .collect();
    for (sender, body, client_id) in jobs {
        let writer = writer.clone();
        tasks.push(tokio::spawn(async move {
            writer.save(id, sender, &body, &client_id).await
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap().unwrap());
    }
    assert!(matches!(&answers[0], Saved::Duplicate(m) if m.body == "first"));
    assert!(matches!(answers[1], Saved::ClientIdReused));
    match &answers[2] {
        Saved::Created(m) => assert_eq!(
            m.mentions.iter().map(|m| m.user_id).collect::<Vec<_>>(),
            vec![alice_id],
            "the mention is saved with its message"
        ),
        other => panic!("a new message, not {other:?}"),
    }
    let twice: Vec<&Saved> = answers[3..5].iter().collect();
    assert_eq!(
        twice
            .iter()
            .filter(|s| matches!(s, Saved::Created(_)))
            .count(),
        1,
        "a client id sent twice at once is saved once: {twice:?}"
    );
    assert!(twice
        .iter()
        .any(|s| matches!(s, Saved::Duplicate(m) if m.body == "twice")));
    assert!(answers[5..].iter().all(|s| matches!(s, Saved::Created(_))));
    // The conversation's log numbers every message once, 1 to n, no holes.
    let stored: Vec<i64> = natter::on_pool!(app.pool(), p => sqlx::query_scalar(
        "SELECT seq FROM messages WHERE conversation_id = $1 ORDER BY seq",
    )
    .bind(id)
    .fetch_all(p)
    .await
    .unwrap());
    assert_eq!(stored, (1..=63).collect::<Vec<i64>>());
    let last: i64 = natter::on_pool!(app.pool(), p => sqlx::query_scalar(
        "SELECT last_seq FROM conversations WHERE id = $1",
    )
    .bind(id)
    .fetch_one(p)
    .await
    .unwrap());
    assert_eq!(last, 63);
    // Each answer carries the number it was stored under.
    for answer in &answers {
        if let Saved::Created(m) = answer {
            let seq: i64 = natter::on_pool!(app.pool(), p => sqlx::query_scalar(
                "SELECT seq FROM messages WHERE id = $1",
            )
            .bind(m.id)
            .fetch_one(p)
            .await
            .unwrap());
            assert_eq!(seq, m.seq, "{}", m.body);
        }
    }
}

#[rocket::async_test]
async fn an_unread_count_above_ninety_nine_shows_as_99_plus() {
    let bob = pair().await;
    let (pool, alice_id) = (bob.app.pool(), bob.alice_id);
    let badge = format!("unread-{}", bob.id);
    for n in 1..=120 {
        natter::store::messages::save(pool, bob.id, alice_id, &format!("m{n}"), &format!("c{n}"))
            .await
            .unwrap();
        if n == 99 {
            let dashboard = page_text(&bob.app.client, "/").await;
            assert_eq!(badge_text(&dashboard, &badge).as_deref(), Some("99"));
        }
    }
    let dashboard = page_text(&bob.app.client, "/").await;
    assert_eq!(badge_text(&dashboard, &badge).as_deref(), Some("99+"));
    // Counting stops one past what a badge shows, however long the backlog.
    let tally = natter::store::contacts::tally(pool, bob.id).await.unwrap();
    assert_eq!(tally.unwrap().unread_of(bob.bob_id), Some(100));
}

#[rocket::async_test]
async fn opening_a_conversation_reads_it_only_in_a_browser_without_the_page_script() {
    let bob = pair().await;
    let (pool, alice_id) = (bob.app.pool(), bob.alice_id);
    for n in 1..=2 {
        natter::store::messages::save(pool, bob.id, alice_id, &format!("m{n}"), &format!("c{n}"))
            .await
            .unwrap();
    }
    let unread = || async {
        let tally = natter::store::contacts::tally(pool, bob.id).await?;
        Ok::<_, natter::error::Error>(tally.and_then(|t| t.unread_of(bob.bob_id)).unwrap_or(0))
    };
    // Where the script runs (it sets this cookie), the page itself says
    // "seen" once it is in view: it may be opening in a background tab.
    let scripted = bob
        .app
        .client
        .get(bob.path.as_str())
        .cookie(rocket::http::Cookie::new("natter_js", "1"))
        .dispatch()
        .await;
    assert_eq!(scripted.status(), Status::Ok);
    assert!(scripted.into_string().await.unwrap().contains("m2"));
    assert_eq!(
        unread().await.unwrap(),
        2,
        "opening with the script reads nothing"
    );
    // Without it, opening the conversation is how it gets read.
    assert!(page_text(&bob.app.client, &bob.path).await.contains("m2"));
    assert_eq!(unread().await.unwrap(), 0);
}

#[rocket::async_test]
async fn opening_a_conversation_marks_where_the_unread_messages_start() {
    let bob = pair().await;
    let (pool, alice_id) = (bob.app.pool(), bob.alice_id);
    let save =
        |body: &'static str| natter::store::messages::save(pool, bob.id, alice_id, body, body);
    let open = || page_text(&bob.app.client, &bob.path);
    save("first of all").await.unwrap();
    let page = open().await;
    // The timeline, not the inbox beside it (which previews the newest).
    let page = &page[page.find(r#"id="messages""#).unwrap()..];
    assert!(page.find("unread-line").unwrap() < page.find("first of all").unwrap());
    // Opened without the page script, that read it: no line the next time.
    assert!(!open().await.contains("unread-line"));
    save("new one").await.unwrap();
    save("and another").await.unwrap();
    let page = open().await;
    let page = &page[page.find(r#"id="messages""#).unwrap()..];
    let line = page.find(r#"id="unread-line""#).expect("the unread line");
    assert!(page.find("first of all").unwrap() < line, "{page}");
    assert!(line < page.find("new one").unwrap(), "{page}");
    assert!(!open().await.contains("unread-line"));
}
