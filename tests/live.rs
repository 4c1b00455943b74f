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
    let (mut alice_socket, _) = alice.connect_people().await;
    let list = alice.get_text("/people").await;
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
    let page = alice.get_text("/people").await;
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
    let (mut alice_socket, _) = alice.connect_people().await;
    let list = alice.get_text("/people").await;
    let bob_id = user_id(&list, "bob");
    let (bob_dashboard, _) = bob.connect_dashboard().await;
    expect_text(&mut alice_socket, &format!("presence-{bob_id}")).await;
    drop(bob_dashboard);
    let (_bob_chat, _) = bob.connect(id, 0).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    expect_silence(&mut alice_socket, 100).await;
    let page = alice.get_text("/people").await;
    assert!(page.contains(&format!(
        r#"id="presence-{bob_id}" class="presence online""#
    )));
}

#[tokio::test]
async fn unread_count_grows_elsewhere_and_resets_when_opened() {
    let (_server, alice, bob, id) = start().await;
    let (mut bob_inbox, _) = bob.connect_dashboard().await;
    let (mut alice_chat, _) = alice.connect(id, 0).await;
    let badge_id = format!("unread-{id}");
    for n in 1..=2 {
        send(&mut alice_chat, &format!("unread {n}"), &format!("u{n}")).await;
        let row = expect_text(&mut bob_inbox, &format!(r#"id="{badge_id}""#)).await;
        assert_eq!(
            badge_text(&row, &badge_id).as_deref(),
            Some(&*n.to_string())
        );
        assert!(row.contains(&format!("unread {n}")), "the preview: {row}");
    }
    let inbox = bob.get_text("/").await;
    assert_eq!(badge_text(&inbox, &badge_id).as_deref(), Some("2"));

    // Opening the conversation reads it; the inbox tab follows.
    bob.get_text(&format!("/conversations/{id}")).await;
    let reset = expect_text(&mut bob_inbox, &format!(r#"id="{badge_id}""#)).await;
    assert!(reset.contains(r#"hx-swap-oob="true""#), "{reset}");
    assert_eq!(badge_text(&reset, &badge_id).as_deref(), Some(""));
    let inbox = bob.get_text("/").await;
    assert_eq!(badge_text(&inbox, &badge_id).as_deref(), Some(""));
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
async fn a_new_user_appears_in_open_directories_and_not_in_inboxes() {
    let (server, alice, _bob, _id) = start().await;
    let (mut alice_socket, _) = alice.connect_people().await;
    let (mut alice_inbox, _) = alice.connect_dashboard().await;
    let newcomer = server.browser();
    newcomer.signup("newcomer").await;
    let row = expect_text(&mut alice_socket, r#"href="/c/newcomer""#).await;
    assert!(
        row.contains(r##"hx-swap-oob="beforeend:#contacts""##),
        "{row}"
    );
    expect_silence(&mut alice_inbox, 200).await;
}

#[tokio::test]
async fn the_inbox_lists_conversations_by_latest_activity_and_filters_by_name() {
    let (server, alice, bob, with_bob) = start().await;
    let zed = server.browser();
    zed.signup("zed").await;
    let empty = alice.get_text("/").await;
    assert!(
        !empty.contains(&format!("conversation-{with_bob}")),
        "a conversation nobody wrote in is not in the inbox yet"
    );
    let with_zed = alice.open_conversation("zed").await;
    let (mut to_bob, _) = alice.connect(with_bob, 0).await;
    let (mut to_zed, _) = alice.connect(with_zed, 0).await;
    send(&mut to_bob, "hi bob", "b1").await;
    expect_text(&mut to_bob, "hi bob").await;
    send(&mut to_zed, "hi zed", "z1").await;
    expect_text(&mut to_zed, "hi zed").await;
    let row = |id: i64| format!(r#"id="conversation-{id}""#);
    let inbox = alice.get_text("/").await;
    assert!(inbox.find(&row(with_zed)).unwrap() < inbox.find(&row(with_bob)).unwrap());
    assert!(inbox.contains("You: </span>hi zed"), "own messages say so");
    // Bob answers: his conversation goes back to the top, for both of them.
    let (mut bob_chat, _) = bob.connect(with_bob, 0).await;
    send(&mut bob_chat, "hello alice", "b2").await;
    expect_text(&mut bob_chat, "hello alice").await;
    let inbox = alice.get_text("/").await;
    assert!(inbox.find(&row(with_bob)).unwrap() < inbox.find(&row(with_zed)).unwrap());
    assert!(
        !inbox.contains("alice: </span>") && inbox.contains("hello alice"),
        "a direct conversation names nobody: {inbox}"
    );
    // The filter, without the script: a GET form the server answers.
    let filtered = alice.get_text("/?q=ZE").await;
    assert!(filtered.contains(&row(with_zed)) && !filtered.contains(&row(with_bob)));
    assert!(filtered.contains(r#"value="ZE""#));
    let none = alice.get_text("/?q=nobody").await;
    assert!(none.contains("No chats match"), "{none}");
    let people = alice.get_text("/people?q=b").await;
    assert!(people.contains("/c/bob") && !people.contains("/c/zed"));
    let everyone = alice.get_text("/people").await;
    assert!(everyone.find("/c/bob").unwrap() < everyone.find("/c/zed").unwrap());
}

#[tokio::test]
async fn a_reconnecting_page_says_what_its_list_shows_and_gets_only_what_changed() {
    let (server, alice, bob, id) = start().await;
    let (mut alice_chat, _) = alice.connect(id, 0).await;
    send(&mut alice_chat, "first", "a0").await;
    expect_text(&mut alice_chat, "first").await;
    let page = bob.get_text("/").await;
    assert!(page.contains(r#"data-seq="1" data-count="1""#), "{page}");
    let resume = |inbox: serde_json::Value| {
        let frame = serde_json::json!({"resume": {"inbox": inbox}});
        WsMessage::Text(frame.to_string())
    };
    // Up to date: nothing to send.
    let (mut socket, _) = bob.connect_dashboard().await;
    socket
        .send(resume(serde_json::json!([[id, 1, 1]])))
        .await
        .unwrap();
    expect_silence(&mut socket, 300).await;
    // Read in another tab meanwhile: only the badge.
    let (mut socket, _) = bob.connect_dashboard().await;
    socket
        .send(resume(serde_json::json!([[id, 1, 3]])))
        .await
        .unwrap();
    let changed = next_text(&mut socket).await.expect("what changed");
    assert!(
        changed.contains(r#"data-seq="1" data-count="1""#),
        "{changed}"
    );
    assert!(
        !changed.contains(r#"id="inbox""#),
        "not the list: {changed}"
    );
    // Once per socket: saying it again gets nothing.
    socket
        .send(resume(serde_json::json!([[id, 1, 3]])))
        .await
        .unwrap();
    expect_silence(&mut socket, 200).await;
    // While bob's page is away, alice writes twice: the row has news, and
    // the list comes whole, in its new order.
    for n in 1..=2 {
        send(&mut alice_chat, &format!("away {n}"), &format!("a{n}")).await;
        expect_text(&mut alice_chat, &format!("away {n}")).await;
    }
    let (mut socket, _) = bob.connect_dashboard().await;
    socket
        .send(resume(serde_json::json!([[id, 1, 1]])))
        .await
        .unwrap();
    let whole = next_text(&mut socket).await.expect("the whole list");
    assert!(whole.contains(r#"id="inbox""#), "{whole}");
    assert_eq!(
        badge_text(&whole, &format!("unread-{id}")).as_deref(),
        Some("3")
    );
    assert!(whole.contains("away 2"), "{whole}");

    // The directory: people who signed up since are added, nothing else.
    let people = bob.get_text("/people").await;
    let alice_id = user_id(&people, "alice");
    server.browser().signup("carol").await;
    let (mut socket, _) = bob.connect_people().await;
    let said = serde_json::json!({"resume": {"rows": 1, "upto": alice_id}});
    socket
        .send(WsMessage::Text(said.to_string()))
        .await
        .unwrap();
    let changed = next_text(&mut socket).await.expect("the newcomer");
    assert!(
        changed.contains(r##"hx-swap-oob="beforeend:#contacts""##) && changed.contains("/c/carol"),
        "{changed}"
    );
    assert!(!changed.contains(r#"id="contacts""#), "{changed}");
    // A page showing someone who has gone since gets its whole list.
    let carol_id = user_id(&changed, "carol");
    let (mut socket, _) = bob.connect_people().await;
    let gone = serde_json::json!({"resume": {"rows": 3, "upto": carol_id}});
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

/// Has an inbox socket say its page shows a row that is not there, and
/// waits for the answer (its whole list): from then on the socket knows what
/// the page shows.
async fn resume_with_a_stale_row(socket: &mut Socket) {
    let frame = serde_json::json!({"resume": {"inbox": [[999_999, 0, 0]]}});
    socket
        .send(WsMessage::Text(frame.to_string()))
        .await
        .unwrap();
    expect_text(socket, r#"id="inbox""#).await;
}

#[tokio::test]
async fn a_group_change_moves_one_row_in_each_inbox_with_its_note_and_the_heading_of_its_open_pages(
) {
    let (server, alice, bob, _id) = start().await;
    let carol = server.browser();
    carol.signup("carol").await;
    let people = alice.get_text("/people").await;
    let csrf = hidden_field(&people, "csrf").expect("csrf");
    let bob_id = user_id(&people, "bob");
    let (mut bob_inbox, _) = bob.connect_dashboard().await;
    resume_with_a_stale_row(&mut bob_inbox).await;
    let (mut carol_inbox, _) = carol.connect_dashboard().await;
    resume_with_a_stale_row(&mut carol_inbox).await;

    // Alice starts a group with bob: bob's inbox gains its row, at the top,
    // with the note; carol's nothing.
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
    let row = expect_text(&mut bob_inbox, "Team").await;
    assert!(
        row.contains(r##"hx-swap-oob="afterbegin:#inbox""##),
        "{row}"
    );
    assert!(
        row.contains(&format!(r#"id="conversation-{group}""#)),
        "{row}"
    );
    assert!(row.contains("alice created the group"), "{row}");
    assert!(
        !row.contains(r#"id="inbox""#),
        "one row, not the list: {row}"
    );
    expect_silence(&mut carol_inbox, 200).await;

    // Renamed: bob's row moves up with the new name, his open group page's
    // heading follows and its timeline gets the note.
    let group_id: i64 = group.parse().unwrap();
    let (mut bob_group, _) = bob.connect(group_id, 0).await;
    let renamed = alice
        .post(
            &format!("/conversations/{group}/title"),
            &[("csrf", &csrf), ("title", "Crew")],
        )
        .await;
    assert!(renamed.status().is_success());
    let row = expect_text(&mut bob_inbox, "Crew").await;
    assert!(
        row.contains(&format!(
            r#"<li id="conversation-{group}" hx-swap-oob="delete">"#
        )) && row.contains(r##"hx-swap-oob="afterbegin:#inbox""##),
        "{row}"
    );
    assert!(row.contains("alice renamed the group to “Crew”"), "{row}");
    let heading = expect_text(&mut bob_group, r#"id="chat-heading""#).await;
    assert!(heading.contains("<h1>Crew</h1>"), "{heading}");
    let note = expect_text(&mut bob_group, "renamed the group").await;
    assert!(note.contains(r#"<p class="note""#), "{note}");

    // Carol is added: her inbox gains the row, bob's page shows three members.
    let added = alice
        .post(
            &format!("/conversations/{group}/members"),
            &[("csrf", &csrf), ("username", "carol")],
        )
        .await;
    assert!(added.status().is_success());
    let row = expect_text(&mut carol_inbox, "Crew").await;
    assert!(
        row.contains(r##"hx-swap-oob="afterbegin:#inbox""##),
        "{row}"
    );
    assert!(row.contains("alice added carol"), "{row}");
    let heading = expect_text(&mut bob_group, "3 members").await;
    assert!(heading.contains("carol"), "{heading}");
    assert!(
        !heading.contains(r#"<option value="carol">"#),
        "carol is no longer offered"
    );

    // Bob leaves: his group page closes, his inbox loses the row, the others
    // read that he left (and it is not unread).
    let bob_csrf = hidden_field(&bob.get_text("/").await, "csrf").expect("csrf");
    let left = bob
        .post(
            &format!("/conversations/{group}/leave"),
            &[("csrf", &bob_csrf)],
        )
        .await;
    assert!(left.status().is_success());
    assert_eq!(expect_close(&mut bob_group).await, Some(1000));
    let gone = expect_text(&mut bob_inbox, r#"hx-swap-oob="delete""#).await;
    assert!(
        gone.contains(&format!(r#"id="conversation-{group}""#)),
        "{gone}"
    );
    let row = expect_text(&mut carol_inbox, "bob left").await;
    assert_eq!(
        badge_text(&row, &format!("unread-{group}")).as_deref(),
        Some(""),
        "notes are never unread: {row}"
    );
    let timeline = alice.get_text(&format!("/conversations/{group}")).await;
    let notes: Vec<&str> = [
        "You created the group",
        "You renamed",
        "You added carol",
        "bob left",
    ]
    .into_iter()
    .filter(|note| timeline.contains(note))
    .collect();
    assert_eq!(notes.len(), 4, "every note, in the timeline: {timeline}");

    // A page that has not said what it shows gets its inbox whole.
    let (mut quiet, _) = carol.connect_dashboard().await;
    alice
        .post(
            &format!("/conversations/{group}/title"),
            &[("csrf", &csrf), ("title", "Crew 2")],
        )
        .await;
    let list = expect_text(&mut quiet, "Crew 2").await;
    assert!(list.contains(r#"id="inbox""#), "{list}");
}

#[tokio::test]
async fn the_open_conversations_row_follows_each_message_in_the_same_frame() {
    let (_server, alice, bob, id) = start().await;
    let (mut alice_chat, _) = alice.connect(id, 0).await;
    send(&mut alice_chat, "first", "f1").await;
    expect_text(&mut alice_chat, "first").await;
    // Bob's conversation page says what its sidebar shows: this row, one unread.
    let (mut bob_chat, _) = bob.connect(id, 1).await;
    let said = serde_json::json!({"resume": {"inbox": [[id, 1, 1]]}});
    bob_chat
        .send(WsMessage::Text(said.to_string()))
        .await
        .unwrap();
    expect_silence(&mut bob_chat, 300).await;
    send(&mut alice_chat, "second", "f2").await;
    let frame = expect_text(&mut bob_chat, "second").await;
    assert!(
        frame.contains(r#"hx-swap-oob="beforeend:#live""#),
        "{frame}"
    );
    assert!(
        frame.contains(r##"hx-swap-oob="afterbegin:#inbox""##)
            && frame.contains(r#"data-seq="2" data-count="2""#),
        "the row, moved up with two unread, in the same frame: {frame}"
    );
    // Bob's own answer moves it too, without counting as unread.
    send(&mut bob_chat, "hi", "f3").await;
    let own = expect_text(&mut bob_chat, r#"data-seq="3""#).await;
    assert!(own.contains(r#"data-count="2""#), "{own}");
}

#[tokio::test]
async fn a_crowd_coming_online_reaches_only_the_pages_that_show_them_gathered_into_few_frames() {
    let (server, alice, bob, _) = start().await;
    // (Eight: with alice and bob, the sign-up burst of one address.)
    let crowd: Vec<Browser> = (0..8).map(|_| server.browser()).collect();
    for (n, person) in crowd.iter().enumerate() {
        person.signup(&format!("walker{n}")).await;
    }
    // Alice looks at the directory (everyone's presence); bob at his inbox
    // (nobody's).
    let (mut directory, _) = alice.connect_people().await;
    let (mut inbox, _) = bob.connect_dashboard().await;
    // Eight people come online at once: their arrivals reach the directory
    // gathered into a few frames, not one each.
    let sockets =
        futures::future::join_all(crowd.iter().map(|person| person.connect_dashboard())).await;
    let mut frames = 0;
    let mut shown = std::collections::HashSet::new();
    while shown.len() < crowd.len() {
        let frame = next_text(&mut directory).await.expect("presence");
        frames += 1;
        for part in frame.split(r#"id="presence-"#).skip(1) {
            if part.contains(r#"class="presence online""#) {
                shown.insert(part.split('"').next().unwrap_or_default().to_owned());
            }
        }
    }
    assert!(frames <= 4, "{frames} frames for {} arrivals", crowd.len());
    expect_silence(&mut inbox, 400).await;
    drop(sockets);
}
