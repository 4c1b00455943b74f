//! Real server, real WebSocket clients: delivery, privacy and resilience of
//! the conversation socket.

mod common;

use common::*;
use futures::SinkExt;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// A server with alice and bob, their conversation, and bob's browser.
async fn alice_and_bob() -> (Server, Browser, Browser, i64) {
    Server::start().await.alice_and_bob().await
}

#[tokio::test]
async fn a_message_reaches_the_peer_and_every_tab_of_the_sender() {
    let (_server, alice, bob, id) = alice_and_bob().await;
    let (mut alice_tab1, _) = alice.connect(id, 0).await;
    let (mut alice_tab2, _) = alice.connect(id, 0).await;
    let (mut bob_tab, _) = bob.connect(id, 0).await;

    send(&mut alice_tab1, "Hello Bob!", "c1").await;

    let at_bob = expect_text(&mut bob_tab, "Hello Bob!").await;
    assert!(
        at_bob.contains(r#"hx-swap-oob="beforeend:#live""#),
        "{at_bob}"
    );
    assert!(at_bob.contains("message theirs"), "bob sees it as theirs");
    // In a conversation of two the sides tell who wrote; a screen reader hears the name.
    assert!(
        at_bob.contains(r#"<span class="visually-hidden">alice: </span>"#),
        "{at_bob}"
    );
    assert!(
        !at_bob.contains(r#"class="sender"#),
        "no visible name in a direct chat"
    );
    let at_tab2 = expect_text(&mut alice_tab2, "Hello Bob!").await;
    assert!(at_tab2.contains("message mine"));
    // The sending tab gets a fresh client id and the bubble, like every tab;
    // the textarea is not replaced, so text typed meanwhile stays.
    let reply = expect_text(&mut alice_tab1, r#"id="client-id""#).await;
    assert!(reply.contains(r#"hx-swap-oob="true""#));
    assert!(
        !reply.contains("textarea"),
        "the text typed is left alone: {reply}"
    );
    assert!(!reply.contains(r#"value="t1""#), "a new client id: {reply}");
    expect_text(&mut alice_tab1, "Hello Bob!").await;
}

#[tokio::test]
async fn a_sent_message_is_stored_and_in_the_history_after_logging_in_again() {
    let (server, alice, bob, id) = alice_and_bob().await;
    let (mut socket, _) = alice.connect(id, 0).await;
    send(&mut socket, "Remember this", "keep-1").await;
    expect_text(&mut socket, "Remember this").await;
    assert_eq!(stored_count(&server.dir, "Remember this").await, 1);

    bob.logout().await;
    bob.login("bob").await;
    let page = bob.get_text(&format!("/conversations/{id}")).await;
    assert!(page.contains("Remember this"));
}

#[tokio::test]
async fn the_socket_upgrade_is_refused_for_a_third_user() {
    let (server, _alice, _bob, id) = alice_and_bob().await;
    let eve = server.browser();
    eve.signup("eve").await;
    let refused = eve.try_connect(id, 0, &server.origin()).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 404)
        }
        other => panic!("upgrade not refused: {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn the_socket_upgrade_is_refused_without_a_session() {
    let (server, _alice, _bob, id) = alice_and_bob().await;
    let stranger = server.browser();
    assert!(stranger.try_connect(id, 0, &server.origin()).await.is_err());
}

#[tokio::test]
async fn a_cross_site_socket_is_refused_before_the_upgrade() {
    let (_server, alice, _bob, id) = alice_and_bob().await;
    for origin in ["https://evil.example", "null", "http://127.0.0.1:1"] {
        match alice.try_connect(id, 0, origin).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 403, "{origin}")
            }
            other => panic!("{origin}: upgrade not refused: {:?}", other.map(|_| ())),
        }
    }
}

#[tokio::test]
async fn malformed_frames_get_an_error_and_leave_other_sockets_unaffected() {
    let (_server, alice, bob, id) = alice_and_bob().await;
    let (mut bad, _) = alice.connect(id, 0).await;
    let (mut bob_socket, _) = bob.connect(id, 0).await;

    bad.send(WsMessage::Text("this is not json".into()))
        .await
        .unwrap();
    let reply = expect_text(&mut bad, "composer-error").await;
    assert!(reply.contains("could not be read"));

    bad.send(WsMessage::Text(r#"{"client_id":"x1"}"#.into()))
        .await
        .unwrap();
    assert!(expect_text(&mut bad, "composer-error")
        .await
        .contains("Type a message first"));

    bad.send(WsMessage::Text(r#"{"body":"no id"}"#.into()))
        .await
        .unwrap();
    assert!(expect_text(&mut bad, "composer-error")
        .await
        .contains("Reload"));

    bad.send(WsMessage::Text(r#"{"body":42,"client_id":"x2"}"#.into()))
        .await
        .unwrap();
    expect_text(&mut bad, "composer-error").await;

    bad.send(WsMessage::Binary(vec![0, 159, 146, 150]))
        .await
        .unwrap();
    assert!(expect_text(&mut bad, "composer-error")
        .await
        .contains("text frames"));

    send(&mut bad, "   \n\t ", "x3").await;
    assert!(expect_text(&mut bad, "composer-error")
        .await
        .contains("Type a message first"));

    send(
        &mut bad,
        &"a".repeat(natter::limits::MESSAGE_MAX_CHARS + 1),
        "x4",
    )
    .await;
    assert!(expect_text(&mut bad, "composer-error")
        .await
        .contains("at most"));

    // None of that reached bob, and the socket still works.
    expect_silence(&mut bob_socket, 200).await;
    send(&mut bad, "still alive", "x5").await;
    expect_text(&mut bob_socket, "still alive").await;
}

#[tokio::test]
async fn an_oversized_frame_closes_that_socket_only() {
    let (_server, alice, bob, id) = alice_and_bob().await;
    let (mut big, _) = alice.connect(id, 0).await;
    let (mut bob_socket, _) = bob.connect(id, 0).await;
    let huge = "x".repeat(natter::limits::SOCKET_MAX_MESSAGE_BYTES + 10);
    let _ = big.send(send_frame(&huge, "big")).await;
    assert_eq!(expect_close(&mut big).await, Some(1009));

    let (mut alice_again, _) = alice.connect(id, 0).await;
    send(&mut alice_again, "after the big one", "ok-1").await;
    expect_text(&mut bob_socket, "after the big one").await;
}

#[tokio::test]
async fn a_resent_client_id_is_stored_once() {
    let (server, alice, bob, id) = alice_and_bob().await;
    let (mut socket, _) = alice.connect(id, 0).await;
    let (mut bob_socket, _) = bob.connect(id, 0).await;
    send(&mut socket, "only once", "same-id").await;
    send(&mut socket, "only once", "same-id").await;
    expect_text(&mut bob_socket, "only once").await;
    // The sidebar's row follows the message, once.
    expect_text(&mut bob_socket, &format!(r#"id="conversation-{id}""#)).await;
    expect_silence(&mut bob_socket, 300).await;
    assert_eq!(stored_count(&server.dir, "only once").await, 1);
}

#[tokio::test]
async fn a_different_message_under_a_reused_client_id_is_not_lost() {
    let (server, alice, bob, id) = alice_and_bob().await;
    let (mut socket, _) = alice.connect(id, 0).await;
    let (mut bob_socket, _) = bob.connect(id, 0).await;
    send(&mut socket, "first draft", "queued-id").await;
    send(&mut socket, "second thought", "queued-id").await;
    send(&mut socket, "second thought", "queued-id").await;
    expect_text(&mut bob_socket, "first draft").await;
    expect_text(&mut bob_socket, "second thought").await;
    assert_eq!(stored_count(&server.dir, "first draft").await, 1);
    assert_eq!(stored_count(&server.dir, "second thought").await, 1);
}

#[tokio::test]
async fn reconnecting_delivers_what_was_sent_while_offline() {
    let (_server, alice, bob, id) = alice_and_bob().await;
    let (mut alice_socket, _) = alice.connect(id, 0).await;
    send(&mut alice_socket, "before bob loaded", "m0").await;
    expect_text(&mut alice_socket, "before bob loaded").await;
    let page = bob.get_text(&format!("/conversations/{id}")).await;
    assert!(page.contains("before bob loaded"));
    let after = page
        .split("socket?seq=")
        .nth(1)
        .and_then(|rest| rest.split(['"', '&']).next())
        .and_then(|n| n.parse::<i64>().ok())
        .expect("page names its newest message");

    // Bob's page is open but its socket is down while alice writes.
    for n in 1..=3 {
        send(
            &mut alice_socket,
            &format!("while away {n}"),
            &format!("m{n}"),
        )
        .await;
        expect_text(&mut alice_socket, &format!("while away {n}")).await;
    }
    let (mut bob_socket, resync) = bob.connect(id, after).await;
    assert!(
        resync.contains(r#"id="live" hx-swap-oob="innerHTML""#),
        "{resync}"
    );
    for n in 1..=3 {
        assert!(resync.contains(&format!("while away {n}")), "{resync}");
    }
    assert!(
        !resync.contains("before bob loaded"),
        "nothing the page has is sent twice"
    );
    // A second reconnect replaces the live region again: still no duplicates.
    drop(bob_socket);
    let (mut bob_socket2, resync2) = bob.connect(id, after).await;
    assert_eq!(resync2.matches("while away 1").count(), 1);
    send(&mut alice_socket, "live again", "m4").await;
    expect_text(&mut bob_socket2, "live again").await;
    expect_text(&mut bob_socket2, &format!(r#"id="conversation-{id}""#)).await;
    bob_socket = bob_socket2;
    expect_silence(&mut bob_socket, 100).await;
}

#[tokio::test]
async fn a_script_body_arrives_escaped() {
    let (_server, alice, bob, id) = alice_and_bob().await;
    let (mut socket, _) = alice.connect(id, 0).await;
    let (mut bob_socket, _) = bob.connect(id, 0).await;
    send(
        &mut socket,
        "<script>alert('x')</script><img src=x onerror=alert(1)>",
        "xss",
    )
    .await;
    let fragment = expect_text(&mut bob_socket, "alert").await;
    assert!(!fragment.contains("<script>"), "{fragment}");
    assert!(!fragment.contains("<img"), "{fragment}");
    assert!(fragment
        .contains("&lt;script&gt;alert('x')&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"));
}

#[tokio::test]
async fn a_plain_form_post_reaches_open_sockets() {
    let (_server, alice, bob, id) = alice_and_bob().await;
    let (mut bob_socket, _) = bob.connect(id, 0).await;
    let page = alice.get_text(&format!("/conversations/{id}")).await;
    let csrf = hidden_field(&page, "csrf").unwrap();
    let client_id = hidden_field(&page, "client_id").unwrap();
    let response = alice
        .post(
            &format!("/conversations/{id}/messages"),
            &[
                ("csrf", &csrf),
                ("client_id", &client_id),
                ("body", "sent without JavaScript"),
            ],
        )
        .await;
    assert!(
        response
            .url()
            .path()
            .ends_with(&format!("/conversations/{id}")),
        "redirected back"
    );
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("sent without JavaScript"));
    expect_text(&mut bob_socket, "sent without JavaScript").await;
}

#[tokio::test]
async fn logging_out_closes_that_sessions_sockets() {
    let (server, alice, _bob, id) = alice_and_bob().await;
    let (mut socket, _) = alice.connect(id, 0).await;
    let other_device = server.browser();
    other_device.login("alice").await;
    let (mut other_socket, _) = other_device.connect(id, 0).await;
    alice.logout().await;
    assert_eq!(expect_close(&mut socket).await, Some(1000));
    expect_silence(&mut other_socket, 200).await;
}

#[tokio::test]
async fn shutting_down_tells_pages_to_reconnect() {
    let (server, alice, _bob, id) = alice_and_bob().await;
    let (mut socket, _) = alice.connect(id, 0).await;
    server.shutdown.clone().notify();
    assert_eq!(expect_close(&mut socket).await, Some(1012));
}

#[tokio::test]
async fn a_page_that_missed_too_much_gets_its_whole_list_replaced() {
    let (server, alice, bob, id) = alice_and_bob().await;
    let pool = open_database(&server.dir).await;
    let alice_id: natter::domain::UserId = natter::on_pool!(&pool, p => sqlx::query_scalar("SELECT id FROM users WHERE username = 'alice'")
        .fetch_one(p)
        .await
        .unwrap());
    let missed = natter::limits::RESYNC_MAX_MESSAGES + 5;
    for n in 1..=missed {
        natter::store::messages::save(
            &pool,
            natter::domain::ConversationId::new(id),
            alice_id,
            &format!("burst {n}."),
            &format!("b{n}"),
        )
        .await
        .unwrap();
    }
    let (_socket, resync) = bob.connect(id, 0).await;
    assert!(resync.contains(r#"id="messages""#) && resync.contains(r#"hx-swap-oob="true""#));
    assert!(
        resync.contains(&format!("burst {missed}.")),
        "newest included"
    );
    assert!(resync.contains("Load earlier messages"));
    assert_eq!(
        resync.matches("<article").count(),
        natter::limits::HISTORY_PAGE as usize
    );
    drop(alice);
}

#[tokio::test]
async fn a_flood_of_messages_is_slowed_down_without_a_disconnect() {
    let (server, alice, bob, id) = alice_and_bob().await;
    let (mut flood, _) = alice.connect(id, 0).await;
    let (mut bob_socket, _) = bob.connect(id, 0).await;
    let burst = natter::limits::SOCKET_MESSAGES.burst as usize;
    for n in 0..burst + 10 {
        send(&mut flood, &format!("flood {n}."), &format!("f{n}")).await;
    }
    expect_text(&mut flood, "sending messages too fast").await;
    let stored: i64 = {
        let pool = open_database(&server.dir).await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        natter::on_pool!(&pool, p => sqlx::query_scalar("SELECT COUNT(*) FROM messages")
            .fetch_one(p)
            .await
            .unwrap())
    };
    assert!(
        stored >= burst as i64 && stored < (burst + 10) as i64,
        "{stored} stored"
    );
    expect_text(&mut bob_socket, "flood 0.").await;
    // The socket stays open and is usable again once the budget refills.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    send(&mut flood, "after the flood", "f-after").await;
    expect_text(&mut bob_socket, "after the flood").await;
}

#[tokio::test]
async fn a_user_cannot_open_unlimited_sockets() {
    let (server, alice, _bob, id) = alice_and_bob().await;
    let mut open = Vec::new();
    for _ in 0..natter::limits::SOCKETS_PER_USER {
        open.push(alice.connect(id, 0).await.0);
    }
    match alice.try_connect(id, 0, &server.origin()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429)
        }
        other => panic!("not refused: {:?}", other.map(|_| ())),
    }
    open.pop();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        alice.try_connect(id, 0, &server.origin()).await.is_ok(),
        "a slot is free again"
    );
}

#[tokio::test]
async fn a_silent_socket_is_closed_and_a_live_one_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, alice, bob, id) = Server::start_with(dir, |f| f.merge(("socket_idle_ms", 600)))
        .await
        .alice_and_bob()
        .await;
    let (mut silent, _) = alice.connect(id, 0).await;
    let (mut live, _) = bob.connect(id, 0).await;
    // The live client keeps reading, so its pongs go out; the silent one does not.
    let keep_reading = tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(1500);
        while let Ok(Some(Ok(_))) =
            tokio::time::timeout_at(deadline, futures::StreamExt::next(&mut live)).await
        {}
        live
    });
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    // Closed with 1001, or already gone when the client's late pongs hit a closed connection.
    let closed = expect_close(&mut silent).await;
    assert!(
        matches!(closed, None | Some(1001)),
        "silent socket closed as idle: {closed:?}"
    );
    let mut live = keep_reading.await.unwrap();
    send(&mut live, "still here", "alive").await;
    expect_text(&mut live, "still here").await;
}

/// Opens a conversation socket over a TCP connection with a tiny receive
/// buffer, as a page whose reader stopped: the server's writes back up at once.
async fn connect_without_reading(
    browser: &Browser,
    id: i64,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    let address: std::net::SocketAddr = browser.base.trim_start_matches("http://").parse().unwrap();
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(4096).unwrap();
    let stream = tcp.connect(address).await.unwrap();
    let url = format!("ws://{address}/conversations/{id}/socket?seq=0");
    let mut request = url.into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert(
        "Cookie",
        HeaderValue::from_str(&browser.cookie_header()).unwrap(),
    );
    headers.insert("Origin", HeaderValue::from_str(&browser.base).unwrap());
    let (socket, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap();
    socket
}

#[tokio::test]
async fn a_socket_whose_reader_stopped_is_closed_after_the_write_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let (server, alice, bob, _) = Server::start_with(dir, |f| {
        f.merge(("socket_idle_ms", 1500))
            .merge(("presence_grace_ms", 100))
    })
    .await
    .alice_and_bob()
    .await;
    // A busy group: eight people each send a burst of long messages, 24 KB
    // apiece once escaped (`&quot;`), nearly 4 MB for bob's socket in all:
    // more than the kernel buffers and the socket's write buffer take from a
    // peer that does not read, in frames small enough that writes wait
    // rather than fail.
    let pool = open_database(&server.dir).await;
    let id_of = |name: String| {
        let pool = pool.clone();
        async move {
            natter::store::users::by_username(&pool, &name)
                .await
                .unwrap()
                .unwrap()
                .id
        }
    };
    let mut senders = Vec::new();
    let mut members = vec![id_of("bob".into()).await];
    for n in 0..8 {
        let sender = server.browser();
        sender.signup(&format!("sender{n}")).await;
        members.push(id_of(format!("sender{n}")).await);
        senders.push(sender);
    }
    let alice_id = id_of("alice".into()).await;
    let note = natter::store::groups::Note {
        text: "created the group",
        client_id: "flood",
    };
    let group = natter::store::groups::create(&pool, alice_id, "Flood", &members, &note)
        .await
        .unwrap()
        .conversation_id
        .get();
    let (mut watcher, _) = alice.connect_people().await;
    let _stuck = connect_without_reading(&bob, group).await;
    let bob_id = members[0];
    let online = format!(r#"id="presence-{bob_id}" class="presence online""#);
    let offline = format!(r#"id="presence-{bob_id}" class="presence offline""#);
    expect_text(&mut watcher, &online).await;
    let long = "\"".repeat(natter::limits::MESSAGE_MAX_CHARS);
    let mut opened = Vec::new();
    for sender in &senders {
        opened.push(sender.connect(group, 0).await.0);
    }
    let mut sockets = Vec::new();
    for (n, mut socket) in opened.into_iter().enumerate() {
        for m in 0..20 {
            send(&mut socket, &long, &format!("s{n}m{m}")).await;
        }
        // Kept open (and read) so that every send is handled.
        sockets.push(tokio::spawn(async move {
            while let Some(Ok(_)) = futures::StreamExt::next(&mut socket).await {}
        }));
    }
    // Never read, bob's only socket is closed by the server (his presence
    // ends) once a write has waited out the deadline. A write waiting for
    // ever would keep the socket, and bob online, for good. (The watcher
    // may hear nothing for a while before: quiet is not failure here.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut closed = false;
    while !closed && std::time::Instant::now() < deadline {
        let heard =
            tokio::time::timeout(std::time::Duration::from_secs(1), next_text(&mut watcher)).await;
        match heard {
            Ok(Some(frame)) => closed = frame.contains(&offline),
            Ok(None) => break, // the watcher's own socket ended
            Err(_) => {}       // a quiet second
        }
    }
    assert!(closed, "the stuck socket was never closed");
}

#[tokio::test]
async fn a_socket_is_closed_when_its_session_expires() {
    let dir = tempfile::tempdir().unwrap();
    let (server, alice, bob, id) = Server::start_with(dir, |f| f.merge(("socket_idle_ms", 3000)))
        .await
        .alice_and_bob()
        .await;
    let (mut expired, _) = alice.connect(id, 0).await;
    let (mut idle, _) = bob.connect(id, 0).await;
    let pool = open_database(&server.dir).await;
    let long_ago = time::OffsetDateTime::now_utc() - time::Duration::days(400);
    natter::on_pool!(&pool, p => {
        let alice_id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE username = 'alice'")
            .fetch_one(p).await.unwrap();
        // Alice's session reaches its absolute expiry, bob's its idle expiry.
        sqlx::query("UPDATE sessions SET expires_at = $1 WHERE user_id = $2")
            .bind(time::OffsetDateTime::now_utc() - time::Duration::seconds(1))
            .bind(alice_id)
            .execute(p).await.unwrap();
        sqlx::query("UPDATE sessions SET last_used_at = $1, created_at = $1 WHERE user_id <> $2")
            .bind(long_ago)
            .bind(alice_id)
            .execute(p).await.unwrap();
    });
    assert_eq!(
        expect_close(&mut expired).await,
        Some(1000),
        "absolute expiry"
    );
    assert_eq!(expect_close(&mut idle).await, Some(1000), "idle expiry");
    // And the expired sessions cannot open a new one.
    assert!(alice.try_connect(id, 0, &server.origin()).await.is_err());
}

#[tokio::test]
async fn control_characters_are_refused_over_the_socket() {
    let (server, alice, _bob, id) = Server::start().await.alice_and_bob().await;
    let (mut socket, _) = alice.connect(id, 0).await;
    send(&mut socket, "beep \u{7}\u{1b}[31m", "ctl1").await;
    let refusal = expect_text(&mut socket, "cannot contain control characters").await;
    assert!(
        refusal.contains("data-unsent=\"beep \u{7}\u{1b}[31m\""),
        "the refused text comes back for the page to put back: {refusal}"
    );
    assert_eq!(stored_count(&server.dir, "beep \u{7}\u{1b}[31m").await, 0);
}

#[tokio::test]
async fn concurrent_senders_reach_every_page_in_sequence_order_and_a_resume_point_skips_nothing() {
    let (_server, alice, bob, id) = alice_and_bob().await;
    let (mut reader, _) = bob.connect(id, 0).await;
    const TABS: usize = 3;
    const EACH: usize = 6;
    let mut senders = Vec::new();
    for (name, browser) in [("a", &alice), ("b", &bob)] {
        for tab in 0..TABS {
            let (mut socket, _) = browser.connect(id, 0).await;
            senders.push(tokio::spawn(async move {
                for n in 0..EACH {
                    send(
                        &mut socket,
                        &format!("{name}{tab}-{n}"),
                        &format!("{name}{tab}x{n}"),
                    )
                    .await;
                }
                // Keep the socket open until its sends are answered.
                for _ in 0..EACH {
                    expect_text(&mut socket, r#"id="composer-error""#).await;
                }
            }));
        }
    }
    let total = (2 * TABS * EACH) as i64;
    let mut shown = Vec::new();
    while (shown.len() as i64) < total {
        let frame = next_text(&mut reader)
            .await
            .expect("the reader keeps receiving");
        shown.extend(seqs(&frame));
    }
    for sender in senders {
        sender.await.unwrap();
    }
    assert_eq!(
        shown,
        (1..=total).collect::<Vec<_>>(),
        "every change once, in sequence order"
    );

    // A page that had shown up to change 10 resumes with exactly the rest.
    let (_resumed, resync) = bob.connect(id, 10).await;
    assert_eq!(seqs(&resync), (11..=total).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_page_from_before_the_change_log_gets_its_whole_list_again() {
    let (_server, alice, bob, id) = alice_and_bob().await;
    let (mut alice_socket, _) = alice.connect(id, 0).await;
    send(&mut alice_socket, "already on the page", "old-1").await;
    expect_text(&mut alice_socket, "already on the page").await;
    // Older pages named the newest message id, not a change number.
    let mut socket = bob
        .try_connect_path(&format!("/conversations/{id}/socket?after=9999"), &bob.base)
        .await
        .expect("socket");
    let first = next_text(&mut socket).await.expect("first frame");
    assert!(
        first.contains(r#"id="messages""#) && first.contains("already on the page"),
        "the list is replaced whole: {first}"
    );
    send(&mut alice_socket, "and then this", "old-2").await;
    expect_text(&mut socket, "and then this").await;
}

#[tokio::test]
async fn a_page_whose_catch_up_fails_is_told_why_and_asked_to_reconnect() {
    let (server, alice, _bob, id) = alice_and_bob().await;
    let (mut alice_socket, _) = alice.connect(id, 0).await;
    send(&mut alice_socket, "written before the fault", "m1").await;
    expect_text(&mut alice_socket, "written before the fault").await;
    // The messages become unreadable (a broken disk, say) between the
    // handshake, which does not read them, and the catch-up, which does.
    let pool = open_database(&server.dir).await;
    let rename = |from: &'static str, to: &'static str| {
        let sql = format!("ALTER TABLE {from} RENAME TO {to}");
        let pool = pool.clone();
        async move {
            natter::on_pool!(&pool, p => { sqlx::query(&sql).execute(p).await.expect("rename"); });
        }
    };
    rename("messages", "messages_away").await;
    let mut socket = alice
        .try_connect(id, 0, &alice.base)
        .await
        .expect("the handshake still succeeds");
    expect_text(&mut socket, "composer-error").await;
    assert_eq!(
        expect_close(&mut socket).await,
        Some(1011),
        "1011: the page reconnects and catches up again"
    );
    rename("messages_away", "messages").await;
    let (_socket, resync) = alice.connect(id, 0).await;
    assert!(resync.contains("written before the fault"), "{resync}");
    pool.close().await;
}
