//! Live state over real sockets: presence, unread counts, typing notices,
//! read receipts and new contacts.

mod common;

use std::time::Duration;

use common::*;
use futures::SinkExt;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// A server with a short presence grace period, alice and bob, and their
/// conversation.
async fn start() -> (Server, Browser, Browser, i64) {
    let dir = tempfile::tempdir().unwrap();
    Server::start_with(dir, |f| f.merge(("presence_grace_ms", 200)))
        .await
        .alice_and_bob()
        .await
}

fn user_id(page: &str, username: &str) -> i64 {
    // Contact rows link /c/<name> inside <li id="contact-<id>">.
    let link = page
        .find(&format!(r#"href="/c/{username}""#))
        .expect("contact row");
    let start = page[..link].rfind(r#"id="contact-"#).expect("row id") + r#"id="contact-"#.len();
    page[start..start + page[start..].find('"').unwrap()]
        .parse()
        .unwrap()
}

#[tokio::test]
async fn presence_flips_online_then_offline_after_the_grace_period() {
    let (_server, alice, bob, _id) = start().await;
    let (mut alice_socket, _) = alice.connect_dashboard().await;
    let list = alice.get_text("/").await;
    let bob_id = user_id(&list, "bob");
    assert!(
        list.contains(&format!(
            r#"id="presence-{bob_id}" class="presence offline""#
        )),
        "{list}"
    );

    let (bob_socket, _) = bob.connect_dashboard().await;
    let online = expect_text(&mut alice_socket, &format!("presence-{bob_id}")).await;
    assert!(online.contains("presence online"), "{online}");

    drop(bob_socket);
    let offline = expect_text(&mut alice_socket, &format!("presence-{bob_id}")).await;
    assert!(
        offline.contains("presence offline") && offline.contains("last seen"),
        "{offline}"
    );
}

/// The socket URL a rendered page connects to.
fn socket_path(page: &str) -> String {
    let start = page.find(r#"ws-connect=""#).expect("a live page") + r#"ws-connect=""#.len();
    page[start..start + page[start..].find('"').unwrap()].replace("&amp;", "&")
}

#[tokio::test]
async fn a_contact_who_leaves_after_a_page_is_rendered_but_before_its_socket_opens_shows_offline() {
    let (_server, alice, bob, _id) = start().await;
    let (bob_socket, _) = bob.connect_dashboard().await;
    // Alice's page is rendered while bob is online...
    let page = alice.get_text("/").await;
    let bob_id = user_id(&page, "bob");
    assert!(page.contains(&format!(
        r#"id="presence-{bob_id}" class="presence online""#
    )));
    // ...bob leaves, and the news goes out before alice's socket listens.
    drop(bob_socket);
    tokio::time::sleep(Duration::from_millis(200 + 400)).await;
    let mut alice_socket = alice
        .try_connect_path(&socket_path(&page), &alice.base)
        .await
        .expect("socket");
    let first = next_text(&mut alice_socket).await.expect("first frame");
    assert!(
        first.contains(&format!(
            r#"id="presence-{bob_id}" class="presence offline""#
        )),
        "the page learns what it missed: {first}"
    );
}

#[tokio::test]
async fn a_page_change_within_the_grace_period_does_not_flicker() {
    let (_server, alice, bob, id) = start().await;
    let (mut alice_socket, _) = alice.connect_dashboard().await;
    let list = alice.get_text("/").await;
    let bob_id = user_id(&list, "bob");
    let (bob_dashboard, _) = bob.connect_dashboard().await;
    expect_text(&mut alice_socket, &format!("presence-{bob_id}")).await;
    drop(bob_dashboard);
    let (_bob_chat, _) = bob.connect(id, 0).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    expect_silence(&mut alice_socket, 100).await;
    let page = alice.get_text("/").await;
    assert!(page.contains(&format!(
        r#"id="presence-{bob_id}" class="presence online""#
    )));
}

#[tokio::test]
async fn unread_count_grows_elsewhere_and_resets_when_opened() {
    let (_server, alice, bob, id) = start().await;
    let (mut bob_dashboard, _) = bob.connect_dashboard().await;
    let list = bob.get_text("/").await;
    let alice_id = user_id(&list, "alice");
    let (mut alice_chat, _) = alice.connect(id, 0).await;
    for n in 1..=2 {
        send(&mut alice_chat, &format!("unread {n}"), &format!("u{n}")).await;
        let badge = expect_text(&mut bob_dashboard, &format!(r#"id="unread-{alice_id}""#)).await;
        assert!(badge.contains(&format!(">{n}<")), "{badge}");
    }
    let dashboard = bob.get_text("/").await;
    assert_eq!(
        badge_text(&dashboard, &format!("unread-{alice_id}")).as_deref(),
        Some("2")
    );

    // Opening the conversation reads it; the dashboard tab follows.
    bob.get_text(&format!("/conversations/{id}")).await;
    let reset = expect_text(&mut bob_dashboard, &format!(r#"id="unread-{alice_id}""#)).await;
    assert!(reset.contains(r#"hx-swap-oob="true""#), "{reset}");
    assert_eq!(
        badge_text(&reset, &format!("unread-{alice_id}")).as_deref(),
        Some("")
    );
    let dashboard = bob.get_text("/").await;
    assert_eq!(
        badge_text(&dashboard, &format!("unread-{alice_id}")).as_deref(),
        Some("")
    );
}

#[tokio::test]
async fn a_message_arriving_in_the_open_conversation_is_read_at_once() {
    let (_server, alice, bob, id) = start().await;
    let (mut alice_chat, _) = alice.connect(id, 0).await;
    let (mut bob_chat, _) = bob.connect(id, 0).await;
    send(&mut alice_chat, "are you there?", "r1").await;
    expect_text(&mut bob_chat, "are you there?").await;
    // Bob has it open and in view: alice sees "Seen" pushed live.
    bob_chat.send(seen_frame()).await.unwrap();
    let receipt = expect_text(&mut alice_chat, ">Seen<").await;
    assert!(receipt.contains(r#"id="receipt""#));
    let dashboard = bob.get_text("/").await;
    let counts = unread_counts(&dashboard);
    assert!(
        !counts.is_empty() && counts.iter().all(|&n| n == 0),
        "nothing unread: {counts:?}"
    );
}

#[tokio::test]
async fn a_message_reaching_a_page_out_of_view_is_not_seen_until_the_page_is_in_view() {
    let (_server, alice, bob, id) = start().await;
    let (mut alice_chat, _) = alice.connect(id, 0).await;
    let (mut bob_chat, _) = bob.connect(id, 0).await;
    send(&mut alice_chat, "read me when you look", "v1").await;
    expect_text(&mut bob_chat, "read me when you look").await;
    // Bob's tab is hidden: it got the message but says nothing.
    tokio::time::sleep(natter::limits::READ_MARK_DELAY * 3).await;
    let page = alice.get_text(&format!("/conversations/{id}")).await;
    assert!(
        page.contains(r#"<p class="receipt" id="receipt"></p>"#),
        "not seen while out of view"
    );
    assert!(unread_counts(&bob.get_text("/").await).contains(&1));
    // Bob looks: the page says so, and alice sees "Seen".
    bob_chat.send(seen_frame()).await.unwrap();
    expect_text(&mut alice_chat, ">Seen<").await;
}

#[tokio::test]
async fn a_read_receipt_reaches_the_sender_when_the_peer_opens_the_page() {
    let (_server, alice, bob, id) = start().await;
    let (mut alice_chat, _) = alice.connect(id, 0).await;
    send(&mut alice_chat, "read me later", "later").await;
    expect_text(&mut alice_chat, "read me later").await;
    let page = alice.get_text(&format!("/conversations/{id}")).await;
    assert!(
        page.contains(r#"<p class="receipt" id="receipt"></p>"#),
        "not seen yet"
    );
    bob.get_text(&format!("/conversations/{id}")).await;
    expect_text(&mut alice_chat, ">Seen<").await;
    let page = alice.get_text(&format!("/conversations/{id}")).await;
    assert!(page.contains(r#"<p class="receipt" id="receipt">Seen</p>"#));
}

#[tokio::test]
async fn typing_reaches_the_peer_only_and_clears_after_a_send() {
    let (server, alice, bob, id) = start().await;
    let carol = server.browser();
    carol.signup("carol").await;
    let carol_with_alice = carol.open_conversation("alice").await;
    let (mut carol_socket, _) = carol.connect(carol_with_alice, 0).await;
    let (mut carol_dashboard, _) = carol.connect_dashboard().await;
    let (mut alice_chat, _) = alice.connect(id, 0).await;
    let (mut bob_chat, _) = bob.connect(id, 0).await;

    alice_chat.send(typing_frame()).await.unwrap();
    let typing = expect_text(&mut bob_chat, "alice is typing").await;
    assert!(typing.contains(r#"id="typing""#));

    send(&mut alice_chat, "done typing", "t1").await;
    let cleared = expect_text(&mut bob_chat, "done typing").await;
    assert!(
        cleared.contains(
            r#"<p class="typing" id="typing" aria-live="polite" hx-swap-oob="true"></p>"#
        ),
        "{cleared}"
    );
    for socket in [&mut carol_socket, &mut carol_dashboard] {
        let mut frames = Vec::new();
        while let Ok(Some(Ok(frame))) =
            tokio::time::timeout(Duration::from_millis(200), futures::StreamExt::next(socket)).await
        {
            frames.push(frame.to_string());
        }
        assert!(
            frames.iter().all(|f| !f.contains("typing…")),
            "carol saw typing: {frames:?}"
        );
    }
}

#[tokio::test]
async fn the_typing_notice_disappears_when_the_typist_stops() {
    let (_server, alice, bob, id) = start().await;
    let (mut alice_chat, _) = alice.connect(id, 0).await;
    let (mut bob_chat, _) = bob.connect(id, 0).await;
    alice_chat.send(typing_frame()).await.unwrap();
    expect_text(&mut bob_chat, "alice is typing").await;
    let cleared = tokio::time::timeout(
        Duration::from_secs(6),
        expect_text(&mut bob_chat, r#"hx-swap-oob="true"></p>"#),
    )
    .await
    .expect("typing notice expires");
    assert!(cleared.contains(r#"id="typing""#));
}

#[tokio::test]
async fn typing_spam_is_rate_limited_without_affecting_others() {
    let (server, alice, bob, id) = start().await;
    let carol = server.browser();
    carol.signup("carol").await;
    let dave = server.browser();
    dave.signup("dave").await;
    let other = carol.open_conversation("dave").await;
    let (mut carol_chat, _) = carol.connect(other, 0).await;
    let (mut dave_chat, _) = dave.connect(other, 0).await;
    let (mut alice_chat, _) = alice.connect(id, 0).await;
    let (mut bob_chat, _) = bob.connect(id, 0).await;

    for _ in 0..200 {
        alice_chat.send(typing_frame()).await.unwrap();
    }
    carol_chat.send(typing_frame()).await.unwrap();
    expect_text(&mut dave_chat, "carol is typing").await;

    let mut notices = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(400);
    while let Ok(Some(Ok(frame))) =
        tokio::time::timeout_at(deadline, futures::StreamExt::next(&mut bob_chat)).await
    {
        if frame.to_string().contains("alice is typing") {
            notices += 1;
        }
    }
    assert!(
        (1..=2).contains(&notices),
        "{notices} typing notices for 200 frames"
    );
    // Alice's socket still works normally.
    send(&mut alice_chat, "not muted", "spam-after").await;
    expect_text(&mut bob_chat, "not muted").await;
}

#[tokio::test]
async fn a_new_user_appears_in_open_contact_lists() {
    let (server, alice, _bob, _id) = start().await;
    let (mut alice_socket, _) = alice.connect_dashboard().await;
    let newcomer = server.browser();
    newcomer.signup("newcomer").await;
    let row = expect_text(&mut alice_socket, r#"href="/c/newcomer""#).await;
    assert!(
        row.contains(r##"hx-swap-oob="beforeend:#contacts""##),
        "{row}"
    );
}

#[tokio::test]
async fn the_contact_list_can_be_ordered_by_latest_activity() {
    let (server, alice, _bob, _id) = start().await;
    let zed = server.browser();
    zed.signup("zed").await;
    let with_zed = alice.open_conversation("zed").await;
    let (mut socket, _) = alice.connect(with_zed, 0).await;
    send(&mut socket, "hi zed", "z1").await;
    expect_text(&mut socket, "hi zed").await;
    let alphabetical = alice.get_text("/").await;
    assert!(alphabetical.find("/c/bob").unwrap() < alphabetical.find("/c/zed").unwrap());
    let recent = alice.get_text("/?order=recent").await;
    assert!(recent.find("/c/zed").unwrap() < recent.find("/c/bob").unwrap());
}

#[tokio::test]
async fn a_reconnecting_page_says_what_its_lists_show_and_gets_only_what_changed() {
    let (server, alice, bob, id) = start().await;
    let page = bob.get_text("/").await;
    let alice_id = user_id(&page, "alice");
    assert_eq!(
        badge_text(&page, &format!("unread-{alice_id}")).as_deref(),
        Some("")
    );
    assert!(page.contains(r#"data-seq="0" data-count="0""#), "{page}");
    // While bob's page is away, alice writes twice and carol signs up.
    let (mut alice_chat, _) = alice.connect(id, 0).await;
    for n in 1..=2 {
        send(&mut alice_chat, &format!("away {n}"), &format!("a{n}")).await;
        expect_text(&mut alice_chat, &format!("away {n}")).await;
    }
    server.browser().signup("carol").await;
    // Bob's page comes back and says what it shows: alice's row, nothing unread.
    let resume = |rows: usize| {
        let frame = serde_json::json!({"resume": {
            "contacts": [], "rows": rows, "upto": alice_id, "groups": []}});
        WsMessage::Text(frame.to_string())
    };
    let (mut socket, _) = bob.connect_dashboard().await;
    socket.send(resume(1)).await.unwrap();
    let changed = next_text(&mut socket).await.expect("what changed");
    assert_eq!(
        badge_text(&changed, &format!("unread-{alice_id}")).as_deref(),
        Some("2")
    );
    assert!(
        changed.contains(r#"data-seq="2" data-count="2""#),
        "{changed}"
    );
    assert!(
        changed.contains(r##"hx-swap-oob="beforeend:#contacts""##) && changed.contains("/c/carol")
    );
    assert!(
        !changed.contains(r#"id="contacts""#),
        "not the whole list: {changed}"
    );
    // Once per socket: saying it again gets nothing.
    socket.send(resume(1)).await.unwrap();
    expect_silence(&mut socket, 200).await;
    // A page that is up to date gets nothing either.
    let carol_id = user_id(&changed, "carol");
    let current = serde_json::json!({"resume": {
        "contacts": [[alice_id, 2, 2]], "rows": 2, "upto": carol_id, "groups": []}});
    let (mut socket, _) = bob.connect_dashboard().await;
    socket
        .send(WsMessage::Text(current.to_string()))
        .await
        .unwrap();
    expect_silence(&mut socket, 300).await;
    // A page showing someone who has gone since gets its whole list.
    let (mut socket, _) = bob.connect_dashboard().await;
    let gone = serde_json::json!({"resume": {
        "contacts": [], "rows": 3, "upto": carol_id, "groups": []}});
    socket
        .send(WsMessage::Text(gone.to_string()))
        .await
        .unwrap();
    let whole = next_text(&mut socket).await.expect("the whole list");
    assert!(
        whole.contains(r#"id="contacts""#) && whole.contains("/c/carol"),
        "{whole}"
    );
}

#[tokio::test]
async fn a_page_of_older_history_does_not_mark_the_conversation_read() {
    let (_server, alice, bob, id) = start().await;
    let (mut alice_chat, _) = alice.connect(id, 0).await;
    send(&mut alice_chat, "unread until opened", "h1").await;
    expect_text(&mut alice_chat, "unread until opened").await;
    bob.get_text(&format!("/conversations/{id}?before=999999"))
        .await;
    assert!(unread_counts(&bob.get_text("/").await).contains(&1));
    bob.get_text(&format!("/conversations/{id}")).await;
    assert!(!unread_counts(&bob.get_text("/").await).contains(&1));
}

/// Has a dashboard socket say its page lists `contacts` and no groups, and
/// waits until the socket has taken that in: the page claims one unread from
/// the first contact, so the answer is that badge, put right.
async fn resume_without_groups(socket: &mut Socket, contacts: &[i64]) {
    let frame = serde_json::json!({"resume": {
        "contacts": [[contacts[0], 0, 1]], "rows": contacts.len(),
        "upto": contacts.iter().max(), "groups": []}});
    socket
        .send(WsMessage::Text(frame.to_string()))
        .await
        .unwrap();
    let badge = expect_text(socket, &format!(r#"id="unread-{}""#, contacts[0])).await;
    assert!(badge.contains(r#"data-count="0""#), "{badge}");
}

#[tokio::test]
async fn a_group_change_moves_one_row_in_each_list_and_the_heading_of_its_open_pages() {
    let (server, alice, bob, _id) = start().await;
    let carol = server.browser();
    carol.signup("carol").await;
    let page = alice.get_text("/").await;
    let csrf = hidden_field(&page, "csrf").expect("csrf");
    let (alice_id, bob_id, carol_id) = (
        user_id(&bob.get_text("/").await, "alice"),
        user_id(&page, "bob"),
        user_id(&page, "carol"),
    );
    let (mut bob_dashboard, _) = bob.connect_dashboard().await;
    resume_without_groups(&mut bob_dashboard, &[alice_id, carol_id]).await;
    let (mut carol_dashboard, _) = carol.connect_dashboard().await;
    resume_without_groups(&mut carol_dashboard, &[alice_id, bob_id]).await;

    // Alice starts a group with bob: bob's list gains its row, carol's nothing.
    let created = alice
        .post(
            "/groups",
            &[
                ("csrf", &csrf),
                ("title", "Team"),
                ("members", &bob_id.to_string()),
            ],
        )
        .await;
    assert!(created.status().is_success(), "{}", created.status());
    let group = created
        .url()
        .path()
        .trim_start_matches("/conversations/")
        .to_owned();
    let row = expect_text(&mut bob_dashboard, "Team").await;
    assert!(
        row.contains(r##"hx-swap-oob="beforeend:#groups""##),
        "{row}"
    );
    assert!(row.contains(&format!(r#"id="group-{group}""#)), "{row}");
    assert!(
        !row.contains(r#"id="groups""#),
        "one row, not the list: {row}"
    );
    expect_silence(&mut carol_dashboard, 200).await;

    // Renamed: bob's row is replaced in place, his open group page's heading follows.
    let group_id: i64 = group.parse().unwrap();
    let (mut bob_group, _) = bob.connect(group_id, 0).await;
    let renamed = alice
        .post(
            &format!("/conversations/{group}/title"),
            &[("csrf", &csrf), ("title", "Crew")],
        )
        .await;
    assert!(renamed.status().is_success());
    let row = expect_text(&mut bob_dashboard, "Crew").await;
    assert!(
        row.contains(&format!(r#"<li id="group-{group}" hx-swap-oob="true">"#)),
        "{row}"
    );
    let heading = expect_text(&mut bob_group, r#"id="chat-heading""#).await;
    assert!(heading.contains("<h1>Crew</h1>"), "{heading}");

    // Carol is added: her list gains the row, bob's page shows three members.
    let added = alice
        .post(
            &format!("/conversations/{group}/members"),
            &[("csrf", &csrf), ("username", "carol")],
        )
        .await;
    assert!(added.status().is_success());
    let row = expect_text(&mut carol_dashboard, "Crew").await;
    assert!(
        row.contains(r##"hx-swap-oob="beforeend:#groups""##),
        "{row}"
    );
    let heading = expect_text(&mut bob_group, "3 members").await;
    assert!(heading.contains("carol"), "{heading}");
    assert!(
        !heading.contains(r#"<option value="carol">"#),
        "carol is no longer offered"
    );

    // Bob leaves: his group page closes, his list loses the row.
    let bob_csrf = hidden_field(&bob.get_text("/").await, "csrf").expect("csrf");
    let left = bob
        .post(
            &format!("/conversations/{group}/leave"),
            &[("csrf", &bob_csrf)],
        )
        .await;
    assert!(left.status().is_success());
    assert_eq!(expect_close(&mut bob_group).await, Some(1000));
    let gone = expect_text(&mut bob_dashboard, r#"hx-swap-oob="delete""#).await;
    assert!(gone.contains(&format!(r#"id="group-{group}""#)), "{gone}");

    // A page that has not said what it shows gets its group list whole.
    let (mut quiet, _) = carol.connect_dashboard().await;
    alice
        .post(
            &format!("/conversations/{group}/title"),
            &[("csrf", &csrf), ("title", "Crew 2")],
        )
        .await;
    let list = expect_text(&mut quiet, "Crew 2").await;
    assert!(list.contains(r#"id="groups""#), "{list}");
}
