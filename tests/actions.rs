//! Message actions: editing and deleting one's own messages, replies,
//! reactions and mentions, over plain forms (the local client) and live over
//! real sockets, with who may do what and how a page catches up on them.

mod common;

use common::*;
use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::Client;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Alice and bob in a conversation, carol outside it; alice has written
/// "helo wrold". Returns the app, the clients, the conversation's path and
/// the message's id.
struct Cast {
    app: TestApp,
    bob: Client,
    carol: Client,
    path: String,
    message: i64,
}

async fn cast() -> Cast {
    let (app, bob, carol, path) = alice_bob_and_carol().await;
    assert_eq!(
        post_message(&app.client, &path, "helo wrold").await,
        Status::SeeOther
    );
    let page = page_text(&app.client, &path).await;
    let message = newest_message_id(&page);
    Cast {
        app,
        bob,
        carol,
        path,
        message,
    }
}

/// The id of the last bubble on a page.
fn newest_message_id(page: &str) -> i64 {
    let start = page.rfind(r#"<article id="message-"#).expect("a bubble")
        + r#"<article id="message-"#.len();
    page[start..start + page[start..].find('"').unwrap()]
        .parse()
        .unwrap()
}

/// The bubble of message `id` on a page.
fn bubble(page: &str, id: i64) -> &str {
    let start = page
        .find(&format!(r#"<article id="message-{id}""#))
        .unwrap_or_else(|| panic!("message {id} on the page: {page}"));
    let end = start + page[start..].find("</article>").unwrap();
    &page[start..end]
}

/// Posts an action's form with the client's own token.
async fn act(client: &Client, path: &str, action: &str, fields: &[(&str, &str)]) -> Status {
    let csrf = csrf_of(client, "/").await;
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    post_form(client, &format!("{path}/{action}"), &all)
        .await
        .status()
}

/// The change a conversation's page was rendered at (its socket resumes
/// from there).
async fn page_seq(browser: &Browser, id: i64) -> i64 {
    resume_seq(&browser.get_text(&format!("/conversations/{id}")).await)
}

#[rocket::async_test]
async fn the_author_edits_a_message_and_everyone_sees_it_marked_edited() {
    let c = cast().await;
    let url = format!("{}/messages/{}", c.path, c.message);
    // Without JavaScript: the edit page has the form with the text.
    let form = page_text(&c.app.client, &format!("{url}/edit")).await;
    assert!(form.contains(">helo wrold</textarea>"), "{form}");
    assert_eq!(
        act(&c.app.client, &url, "edit", &[("body", "hello world")]).await,
        Status::SeeOther
    );
    let seen = page_text(&c.bob, &c.path).await;
    let edited = bubble(&seen, c.message);
    assert!(
        edited.contains("hello world") && edited.contains(">edited</time>"),
        "{edited}"
    );
    assert!(!seen.contains("helo wrold"), "the old text is gone");
    // With htmx the answer is the bubble itself.
    let csrf = csrf_of(&c.app.client, "/").await;
    let answer = c
        .app
        .client
        .post(format!("{url}/edit"))
        .header(rocket::http::ContentType::Form)
        .header(Header::new("HX-Request", "true"))
        .body(common::form(&[
            ("csrf", csrf.as_str()),
            ("body", "hello, world"),
        ]))
        .dispatch()
        .await;
    assert_eq!(answer.status(), Status::Ok);
    let fragment = answer.into_string().await.unwrap();
    assert!(
        fragment.starts_with(&format!(r#"<article id="message-{}""#, c.message)),
        "{fragment}"
    );
    // An empty text is refused and nothing changes.
    assert_eq!(
        act(&c.app.client, &url, "edit", &[("body", "  ")]).await,
        Status::UnprocessableEntity
    );
    assert!(page_text(&c.bob, &c.path).await.contains("hello, world"));
    // Only its author: bob is refused, carol (outside) gets the 404 of a
    // message that does not exist.
    assert_eq!(
        act(&c.bob, &url, "edit", &[("body", "bob was here")]).await,
        Status::Forbidden
    );
    assert_eq!(
        act(&c.carol, &url, "edit", &[("body", "carol was here")]).await,
        Status::NotFound
    );
    assert_eq!(
        c.carol.get(format!("{url}/edit")).dispatch().await.status(),
        Status::NotFound
    );
    assert_eq!(stored_count(&c.app.dir, "hello, world").await, 1);
}

#[rocket::async_test]
async fn deleting_removes_the_text_and_file_for_everyone_and_keeps_counts_right() {
    let c = cast().await;
    let url = format!("{}/messages/{}", c.path, c.message);
    assert_eq!(
        unread_counts(&page_text(&c.bob, "/").await),
        vec![1],
        "bob has one unread"
    );
    // Bob may not delete alice's message; carol cannot even see it.
    assert_eq!(act(&c.bob, &url, "delete", &[]).await, Status::Forbidden);
    assert_eq!(act(&c.carol, &url, "delete", &[]).await, Status::NotFound);
    // The question first (a page without JavaScript), then the deletion.
    let question = page_text(&c.app.client, &format!("{url}/delete")).await;
    assert!(question.contains("Delete this message for everyone?"));
    assert_eq!(
        act(&c.app.client, &url, "delete", &[]).await,
        Status::SeeOther
    );
    let seen = page_text(&c.bob, &c.path).await;
    assert!(
        bubble(&seen, c.message).contains("This message was deleted"),
        "{seen}"
    );
    assert!(!seen.contains("helo wrold"));
    let inbox = page_text(&c.bob, "/").await;
    assert!(
        inbox.contains("This message was deleted"),
        "the preview says so"
    );
    assert_eq!(
        unread_counts(&inbox),
        vec![0],
        "a deleted message is not unread"
    );
    // Gone from the database file itself, not only from the pages.
    let pool = c.app.pool();
    let body: String = natter::on_pool!(pool, p => sqlx::query_scalar("SELECT body FROM messages WHERE id = $1")
        .bind(c.message)
        .fetch_one(p)
        .await
        .unwrap());
    assert_eq!(body, "");
    if pool.postgres().is_none() {
        for file in ["natter.db", "natter.db-wal"] {
            let path = c.app.dir.path().join(file);
            if let Ok(bytes) = std::fs::read(&path) {
                assert!(
                    !bytes.windows(10).any(|w| w == b"helo wrold"),
                    "the text is still in {file}"
                );
            }
        }
    }
    // Deleted once: again is a 404, and it cannot be edited or reacted to.
    assert_eq!(
        act(&c.app.client, &url, "delete", &[]).await,
        Status::NotFound
    );
    assert_eq!(
        act(&c.app.client, &url, "edit", &[("body", "back")]).await,
        Status::NotFound
    );
    assert_eq!(
        act(&c.bob, &url, "reactions", &[("emoji", "👍")]).await,
        Status::NotFound
    );
}

/// Sends `bytes` as a file into the conversation at `path`, as the page's
/// upload form does; returns the new message's id.
async fn send_file(client: &Client, path: &str, bytes: &[u8]) -> i64 {
    let page = page_text(client, path).await;
    let body = multipart(
        &[
            ("csrf", &hidden_field(&page, "csrf").unwrap()),
            ("client_id", &natter::chat::new_client_id()),
            ("caption", "the plan"),
        ],
        "plan.png",
        "image/png",
        bytes,
    );
    let sent = client
        .post(format!("{path}/attachments"))
        .header(ContentType::new("multipart", "form-data").with_params(("boundary", BOUNDARY)))
        .body(body)
        .dispatch()
        .await;
    assert_eq!(sent.status(), Status::SeeOther);
    newest_message_id(&page_text(client, path).await)
}

#[rocket::async_test]
async fn deleting_a_file_removes_its_row_and_its_bytes_once_no_message_has_them() {
    let c = cast().await;
    let media = c.app.dir.path().join("media");
    let stored = |media: &std::path::Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(media)
            .map(|dir| {
                dir.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|name| !name.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    let picture = png(40, 30);
    // The same picture sent twice: stored once, used by two messages.
    let first = send_file(&c.app.client, &c.path, &picture).await;
    let second = send_file(&c.bob, &c.path, &picture).await;
    assert_eq!(count(c.app.pool(), "attachments").await, 2);
    let files = stored(&media);
    assert!(!files.is_empty(), "the bytes are on disk");
    // Bob cannot delete alice's; alice deletes hers: its row goes, the bytes
    // stay for bob's message.
    let url = |m: i64| format!("{}/messages/{m}", c.path);
    assert_eq!(
        act(&c.bob, &url(first), "delete", &[]).await,
        Status::Forbidden
    );
    assert_eq!(
        act(&c.app.client, &url(first), "delete", &[]).await,
        Status::SeeOther
    );
    assert_eq!(count(c.app.pool(), "attachments").await, 1);
    assert_eq!(stored(&media), files, "still used by bob's message");
    let page = page_text(&c.bob, &c.path).await;
    assert!(bubble(&page, first).contains("This message was deleted"));
    assert!(
        !bubble(&page, first).contains("the plan"),
        "nor its caption"
    );
    // Bob deletes his: nothing refers to the bytes any more.
    assert_eq!(
        act(&c.bob, &url(second), "delete", &[]).await,
        Status::SeeOther
    );
    assert_eq!(count(c.app.pool(), "attachments").await, 0);
    assert_eq!(stored(&media), Vec::<String>::new(), "the file is gone");
}

#[rocket::async_test]
async fn a_message_can_be_edited_only_within_the_edit_window() {
    let c = cast().await;
    let url = format!("{}/messages/{}", c.path, c.message);
    // Sent just over the window ago.
    let long_ago =
        time::OffsetDateTime::now_utc() - natter::limits::EDIT_WINDOW - time::Duration::minutes(1);
    let pool = c.app.pool();
    natter::on_pool!(pool, p => sqlx::query("UPDATE messages SET created_at = $1 WHERE id = $2")
        .bind(long_ago)
        .bind(c.message)
        .execute(p)
        .await
        .map(drop)
        .unwrap());
    let csrf = csrf_of(&c.app.client, "/").await;
    let refused = post_form(
        &c.app.client,
        &format!("{url}/edit"),
        &[("csrf", &csrf), ("body", "too late")],
    )
    .await;
    assert_eq!(refused.status(), Status::Forbidden);
    let page = refused.into_string().await.unwrap();
    let hours = natter::limits::EDIT_WINDOW.whole_hours();
    assert!(
        page.contains(&format!("can be edited for {hours} hours")),
        "{page}"
    );
    assert_eq!(stored_count(&c.app.dir, "too late").await, 0);
    assert_eq!(stored_count(&c.app.dir, "helo wrold").await, 1);
    // Deleting has no window.
    assert_eq!(
        act(&c.app.client, &url, "delete", &[]).await,
        Status::SeeOther
    );
}

#[rocket::async_test]
async fn members_toggle_reactions_from_a_fixed_set_and_outsiders_cannot() {
    let c = cast().await;
    let url = format!("{}/messages/{}", c.path, c.message);
    assert_eq!(
        act(&c.bob, &url, "reactions", &[("emoji", "👍")]).await,
        Status::SeeOther
    );
    assert_eq!(
        act(&c.app.client, &url, "reactions", &[("emoji", "👍")]).await,
        Status::SeeOther
    );
    let page = page_text(&c.bob, &c.path).await;
    let reacted = bubble(&page, c.message);
    assert!(
        reacted.contains(r#"aria-pressed="true" title="alice, bob""#)
            && reacted.contains("👍 </span>2"),
        "{reacted}"
    );
    // Again: taken back.
    assert_eq!(
        act(&c.bob, &url, "reactions", &[("emoji", "👍")]).await,
        Status::SeeOther
    );
    let page = page_text(&c.bob, &c.path).await;
    let reacted = bubble(&page, c.message);
    assert!(
        reacted.contains(r#"aria-pressed="false" title="alice""#),
        "{reacted}"
    );
    // Without JavaScript, "⋯" opens the message's page with every action.
    let actions = page_text(&c.bob, &url).await;
    assert_eq!(
        actions.matches(r#"name="emoji""#).count(),
        6 + 1,
        "the set and alice's chip"
    );
    assert!(
        actions.contains("Reply") && !actions.contains("/edit"),
        "{actions}"
    );
    let own = page_text(&c.app.client, &url).await;
    assert!(
        own.contains(&format!(r#"href="{url}/edit""#))
            && own.contains(&format!(r#"href="{url}/delete""#))
    );
    // Not one of the set, or not a member.
    assert_eq!(
        act(&c.bob, &url, "reactions", &[("emoji", "💩")]).await,
        Status::UnprocessableEntity
    );
    assert_eq!(
        act(&c.carol, &url, "reactions", &[("emoji", "👍")]).await,
        Status::NotFound
    );
}

#[rocket::async_test]
async fn a_reply_quotes_what_it_answers_even_once_that_is_deleted() {
    let c = cast().await;
    // Without JavaScript: "Reply" opens the conversation with the composer set.
    let page = page_text(&c.bob, &format!("{}?reply_to={}", c.path, c.message)).await;
    assert!(
        page.contains(&format!(r#"name="reply_to" value="{}""#, c.message)),
        "{page}"
    );
    assert!(page.contains(r#"<span class="reply-text">helo wrold</span>"#));
    let csrf = hidden_field(&page, "csrf").unwrap();
    let client_id = hidden_field(&page, "client_id").unwrap();
    let sent = post_form(
        &c.bob,
        &format!("{}/messages", c.path),
        &[
            ("csrf", &csrf),
            ("client_id", &client_id),
            ("body", "you mean hello world?"),
            ("reply_to", &c.message.to_string()),
        ],
    )
    .await;
    assert_eq!(sent.status(), Status::SeeOther);
    let page = page_text(&c.app.client, &c.path).await;
    let reply = bubble(&page, newest_message_id(&page));
    assert!(
        reply.contains(&format!(r##"data-quotes="message-{}""##, c.message))
            && reply.contains(r#"<span class="quote-sender">alice</span>"#)
            && reply.contains(r#"<span class="quote-text">helo wrold</span>"#),
        "{reply}"
    );
    // The original deleted: the quote says so.
    let url = format!("{}/messages/{}", c.path, c.message);
    assert_eq!(
        act(&c.app.client, &url, "delete", &[]).await,
        Status::SeeOther
    );
    let page = page_text(&c.app.client, &c.path).await;
    let reply = bubble(&page, newest_message_id(&page));
    assert!(
        reply.contains("<em>This message was deleted</em>"),
        "{reply}"
    );
    // A message of another conversation cannot be answered: no quote.
    let other = open_conversation(&c.carol, "alice").await;
    post_message(&c.carol, &other, "elsewhere").await;
    let elsewhere = newest_message_id(&page_text(&c.carol, &other).await);
    let page = page_text(&c.bob, &c.path).await;
    let sent = post_form(
        &c.bob,
        &format!("{}/messages", c.path),
        &[
            ("csrf", &hidden_field(&page, "csrf").unwrap()),
            ("client_id", &hidden_field(&page, "client_id").unwrap()),
            ("body", "sneaky"),
            ("reply_to", &elsewhere.to_string()),
        ],
    )
    .await;
    assert_eq!(sent.status(), Status::SeeOther);
    let page = page_text(&c.bob, &c.path).await;
    let sneaky = bubble(&page, newest_message_id(&page));
    assert!(!sneaky.contains("quote"), "{sneaky}");
    assert!(!page.contains("elsewhere"));
}

#[rocket::async_test]
async fn mentions_of_members_are_links_mark_the_badge_and_others_stay_text() {
    let c = cast().await;
    assert_eq!(
        post_message(&c.app.client, &c.path, "@bob look, and @carol too").await,
        Status::SeeOther
    );
    let inbox = page_text(&c.bob, "/").await;
    assert!(inbox.contains(r#"<span class="mention-mark" aria-hidden="true">@</span>"#));
    // Read (opened without the script): the mark goes with the count.
    let page = page_text(&c.bob, &c.path).await;
    assert!(!page_text(&c.bob, "/").await.contains("mention-mark"));
    let mentioned = bubble(&page, newest_message_id(&page));
    assert!(
        mentioned.contains(r#"<strong class="mention mention-me">@bob</strong>"#),
        "{mentioned}"
    );
    assert!(mentioned.contains(" and @carol too"), "not a member: text");
    let alice_sees = page_text(&c.app.client, &c.path).await;
    assert!(
        bubble(&alice_sees, newest_message_id(&alice_sees))
            .contains(r#"<a class="mention" href="/c/bob">@bob</a>"#),
        "a link for everyone else"
    );
    // Suggestions: members whose name starts so, never oneself; nothing
    // for outsiders.
    let offered = page_text(&c.app.client, &format!("{}/mentions?q=B", c.path)).await;
    assert!(offered.contains(r#"data-mention="bob""#), "{offered}");
    let all = page_text(&c.app.client, &format!("{}/mentions?q=", c.path)).await;
    assert!(!all.contains(r#"data-mention="alice""#), "{all}");
    assert_eq!(
        c.carol
            .get(format!("{}/mentions?q=", c.path))
            .dispatch()
            .await
            .status(),
        Status::NotFound
    );
}

#[rocket::async_test]
async fn a_groups_notes_cannot_be_edited_deleted_or_reacted_to_and_a_leaver_can_do_nothing() {
    let c = cast().await;
    let bob_id = user_id_in_directory(&c.app.client, "bob").await;
    let group = create_group(&c.app.client, "Team", &[bob_id]).await;
    let page = page_text(&c.app.client, &group).await;
    let note: i64 = {
        let start = page
            .find(r#"<p class="note" id="message-"#)
            .expect("the note")
            + r#"<p class="note" id="message-"#.len();
        page[start..start + page[start..].find('"').unwrap()]
            .parse()
            .unwrap()
    };
    let url = format!("{group}/messages/{note}");
    assert_eq!(
        act(&c.app.client, &url, "edit", &[("body", "made by me")]).await,
        Status::Forbidden
    );
    assert_eq!(
        act(&c.app.client, &url, "delete", &[]).await,
        Status::Forbidden
    );
    assert_eq!(
        act(&c.bob, &url, "reactions", &[("emoji", "👍")]).await,
        Status::NotFound
    );
    // Bob writes, then leaves: his message is beyond his reach.
    post_message(&c.bob, &group, "bye all").await;
    let mine = newest_message_id(&page_text(&c.bob, &group).await);
    let csrf = csrf_of(&c.bob, "/").await;
    post_form(&c.bob, &format!("{group}/leave"), &[("csrf", &csrf)]).await;
    let url = format!("{group}/messages/{mine}");
    assert_eq!(
        act(&c.bob, &url, "edit", &[("body", "changed")]).await,
        Status::NotFound
    );
    assert_eq!(act(&c.bob, &url, "delete", &[]).await, Status::NotFound);
    assert_eq!(
        act(&c.bob, &url, "reactions", &[("emoji", "👍")]).await,
        Status::NotFound
    );
}

#[tokio::test]
async fn every_change_reaches_open_pages_live_and_a_reconnecting_page_catches_up_once() {
    let (server, alice, bob, id) = Server::start().await.alice_and_bob().await;
    let (mut alice_chat, _) = alice.connect(id, 0).await;
    send(&mut alice_chat, "first draft", "d1").await;
    expect_text(&mut alice_chat, "first draft").await;
    send(&mut alice_chat, "second", "d2").await;
    expect_text(&mut alice_chat, "second").await;
    // Bob's page shows both (change 2); his socket is open.
    let (mut bob_chat, _) = bob.connect(id, 2).await;
    let page = bob.get_text(&format!("/conversations/{id}")).await;
    let first = bubbles(&page)[0].0;
    let second = bubbles(&page)[1].0;
    let url = |m: i64| format!("/conversations/{id}/messages/{m}");
    let csrf = hidden_field(&alice.get_text("/").await, "csrf").unwrap();
    let bob_csrf = hidden_field(&bob.get_text("/").await, "csrf").unwrap();

    alice
        .post(
            &format!("{}/edit", url(first)),
            &[("csrf", &csrf), ("body", "final text")],
        )
        .await;
    let edited = expect_text(&mut bob_chat, "final text").await;
    assert!(
        edited.contains(r#"hx-swap-oob="beforeend:#changes""#),
        "{edited}"
    );
    assert!(edited.contains(">edited</time>"), "{edited}");
    bob.post(
        &format!("{}/reactions", url(first)),
        &[("csrf", &bob_csrf), ("emoji", "❤️")],
    )
    .await;
    let reacted = expect_text(&mut alice_chat, "❤️").await;
    assert!(reacted.contains(r#"title="bob""#), "{reacted}");
    // Bob answers the second message over his socket, as the page does.
    let answer = serde_json::json!({"body": "what second?", "client_id": "r1",
        "reply_to": second.to_string()});
    futures::SinkExt::send(&mut bob_chat, WsMessage::Text(answer.to_string()))
        .await
        .unwrap();
    let quoted = expect_text(&mut alice_chat, "what second?").await;
    assert!(
        quoted.contains(r#"<span class="quote-text">second</span>"#),
        "{quoted}"
    );
    let reply = bubbles(&quoted)[0].0;
    // Bob's inbox, in another tab, knows what it shows.
    let (mut bob_inbox, _) = bob.connect_dashboard().await;
    let stale = serde_json::json!({"resume": {"inbox": [[999_999, 0, 0]]}});
    futures::SinkExt::send(&mut bob_inbox, WsMessage::Text(stale.to_string()))
        .await
        .unwrap();
    expect_text(&mut bob_inbox, r#"id="inbox""#).await;
    alice
        .post(&format!("{}/delete", url(second)), &[("csrf", &csrf)])
        .await;
    let deleted = expect_text(&mut bob_chat, "This message was deleted").await;
    assert!(deleted.contains(&format!(r#"id="message-{second}""#)));
    // The reply's quote no longer shows the text either.
    assert!(
        deleted.contains(&format!(r#"<article id="message-{reply}""#))
            && deleted.contains("<em>This message was deleted</em>"),
        "{deleted}"
    );
    // The inbox row is drawn again where it is, as of the deletion.
    let row = expect_text(&mut bob_inbox, r#"data-seq="6""#).await;
    assert!(
        row.contains(&format!(r#"<li id="conversation-{id}""#))
            && row.contains(r#"hx-swap-oob="true""#)
            && !row.contains("afterbegin"),
        "{row}"
    );

    // A page rendered at change 2 that was away through all of it catches
    // up: each changed bubble once, as a replacement; only the reply is
    // appended.
    let (_, resync) = bob.connect(id, 2).await;
    let live = &resync[resync.find(r#"<div id="live""#).unwrap()..];
    let live = &live[..live.find("</div>").unwrap()];
    assert_eq!(
        bubbles(live).iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [reply],
        "only the reply is new to this page: {resync}"
    );
    assert_eq!(
        resync
            .matches(&format!(r#"<article id="message-{first}""#))
            .count(),
        1
    );
    assert_eq!(
        resync
            .matches(&format!(r#"<article id="message-{second}""#))
            .count(),
        1
    );
    assert!(
        resync.contains("final text") && resync.contains("❤️"),
        "{resync}"
    );
    assert!(
        !resync.contains("first draft") && !resync.contains(">second<"),
        "{resync}"
    );
    // A page up to date gets none of it again.
    let seq = page_seq(&bob, id).await;
    assert_eq!(seq, 6, "three messages, an edit, a reaction, a deletion");
    let (_, resync) = bob.connect(id, seq).await;
    assert!(!resync.contains("<article"), "{resync}");
    drop(server);
}

#[tokio::test]
async fn in_a_group_every_action_reaches_the_members_and_the_authors_other_tab_live() {
    let (server, alice, bob, _) = Server::start().await.alice_and_bob().await;
    let group = alice.create_group("Hikers", &["bob"]).await;
    let url = |m: i64| format!("/conversations/{group}/messages/{m}");
    // (the group's notes so far)
    let start = page_seq(&alice, group).await;
    let (mut alice_tab, _) = alice.connect(group, start).await;
    let (mut alice_other_tab, _) = alice.connect(group, start).await;
    let (mut bob_chat, _) = bob.connect(group, start).await;

    send(&mut alice_tab, "Plan for\nSaturday", "p1").await;
    let plan = bubbles(&expect_text(&mut bob_chat, "Plan for").await)[0].0;
    expect_text(&mut alice_other_tab, "Plan for").await;

    // A reply with a mention, over bob's socket: the quote has the first
    // line only, and alice's pages call her by name.
    let answer = serde_json::json!({"body": "@alice count me in", "client_id": "r1",
        "reply_to": plan.to_string()});
    futures::SinkExt::send(&mut bob_chat, WsMessage::Text(answer.to_string()))
        .await
        .unwrap();
    let reply = expect_text(&mut alice_other_tab, "count me in").await;
    assert!(
        reply.contains(r#"<span class="quote-text">Plan for</span>"#)
            && reply.contains(r#"<span class="quote-sender">alice</span>"#),
        "{reply}"
    );
    assert!(
        reply.contains(r#"<strong class="mention mention-me">@alice</strong>"#),
        "{reply}"
    );

    // Alice edits in one tab: her other tab and bob's page get the bubble,
    // marked edited with the time on hover.
    let csrf = hidden_field(&alice.get_text("/").await, "csrf").unwrap();
    let edited = alice
        .post(
            &format!("{}/edit", url(plan)),
            &[("csrf", &csrf), ("body", "Plan for Sunday")],
        )
        .await;
    assert!(edited.status().is_success(), "{}", edited.status());
    for socket in [&mut alice_other_tab, &mut bob_chat] {
        let frame = expect_text(socket, "Plan for Sunday").await;
        assert!(
            frame.contains(r#"class="edited""#) && frame.contains(r#"title="Edited "#),
            "{frame}"
        );
    }
    // The reply quoting it follows the edit.
    let quote = expect_text(
        &mut alice_tab,
        r#"<span class="quote-text">Plan for Sunday</span>"#,
    )
    .await;
    assert!(quote.contains("count me in"), "{quote}");

    // Bob reacts: both of alice's tabs see it, with his name.
    let bob_csrf = hidden_field(&bob.get_text("/").await, "csrf").unwrap();
    bob.post(
        &format!("{}/reactions", url(plan)),
        &[("csrf", &bob_csrf), ("emoji", "👍")],
    )
    .await;
    for socket in [&mut alice_tab, &mut alice_other_tab] {
        let frame = expect_text(socket, "👍").await;
        assert!(frame.contains(r#"title="bob""#), "{frame}");
    }

    // Bob leaves the group page for his inbox; alice calls him there: his
    // row comes with the "@" mark.
    drop(bob_chat);
    let (mut bob_inbox, _) = bob.connect_dashboard().await;
    let shown = serde_json::json!({"resume": {"inbox": [[999_999, 0, 0]]}});
    futures::SinkExt::send(&mut bob_inbox, WsMessage::Text(shown.to_string()))
        .await
        .unwrap();
    expect_text(&mut bob_inbox, r#"id="inbox""#).await;
    send(&mut alice_tab, "@bob bring the map", "m1").await;
    let row = expect_text(&mut bob_inbox, "bring the map").await;
    assert!(
        row.contains(&format!(r#"<li id="conversation-{group}""#))
            && row.contains(r#"<span class="mention-mark" aria-hidden="true">@</span>"#),
        "{row}"
    );

    // Alice deletes her plan: her other tab sees the deletion.
    alice
        .post(&format!("{}/delete", url(plan)), &[("csrf", &csrf)])
        .await;
    let deleted = expect_text(&mut alice_other_tab, "This message was deleted").await;
    assert!(
        deleted.contains(&format!(r#"id="message-{plan}""#)),
        "{deleted}"
    );

    // Bob's group page, away since the plan arrived, catches up: the plan
    // as deleted, the reply's quote saying so, each once.
    let (_, resync) = bob.connect(group, start + 1).await;
    assert_eq!(
        resync
            .matches(&format!(r#"<article id="message-{plan}""#))
            .count(),
        1,
        "{resync}"
    );
    assert!(resync.contains("This message was deleted"), "{resync}");
    assert!(
        resync.contains("<em>This message was deleted</em>"),
        "{resync}"
    );
    assert!(!resync.contains("Plan for"), "{resync}");
    assert!(resync.contains("bring the map"), "{resync}");
    drop(server);
}

/// An edit or deletion marks the replies quoting the message, and deleting
/// one clears its replies' link: both find the replies by an index, not by
/// reading every message there is.
#[rocket::async_test]
async fn replies_are_found_by_an_index_when_their_message_changes() {
    let app = TestApp::new().await;
    let update = "UPDATE messages SET changed_seq = 1 WHERE reply_to = 5";
    let plan: Vec<String> = match app.pool() {
        natter::store::Pool::Sqlite(db) => {
            let rows: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&format!("EXPLAIN QUERY PLAN {update}"))
                    .fetch_all(db)
                    .await
                    .expect("a plan");
            rows.into_iter().map(|r| r.3).collect()
        }
        natter::store::Pool::Postgres(db) => {
            // Whether the index can serve it; on a table this small the
            // planner would rather read it all.
            let mut conn = db.acquire().await.expect("a connection");
            sqlx::query("SET enable_seqscan = off")
                .execute(&mut *conn)
                .await
                .expect("set");
            sqlx::query_scalar(&format!("EXPLAIN {update}"))
                .fetch_all(&mut *conn)
                .await
                .expect("a plan")
        }
    };
    assert!(
        plan.iter().any(|line| line.contains("messages_reply_to")),
        "{plan:?}"
    );
}
