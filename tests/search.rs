//! Search: what words, phrases, prefixes and filters find; that only what
//! the searcher may read now is found (members, not after leaving, nothing
//! deleted, the current text of an edit); hostile queries answered safely;
//! paging and the capped count; and a result opening its conversation
//! around the message, with live messages still arriving below. Runs on
//! SQLite (FTS5), and on PostgreSQL (tsvector) when the suite does.

mod common;

use common::wire::urlencode;
use common::*;
use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::Client;

/// The texts of the results of `query` (`scope`: one conversation), newest
/// first, with the marks around matched words as `[…]`.
async fn found(client: &Client, query: &str, scope: Option<&str>) -> Vec<String> {
    let page = search_page(client, query, scope).await;
    snippets(&page)
}

async fn search_page(client: &Client, query: &str, scope: Option<&str>) -> String {
    let mut url = format!("/search?q={}", urlencode(query));
    if let Some(path) = scope {
        url.push_str(&format!(
            "&c={}",
            path.trim_start_matches("/conversations/")
        ));
    }
    let response = client.get(url).dispatch().await;
    assert_eq!(response.status(), Status::Ok, "searching {query:?}");
    response.into_string().await.unwrap_or_default()
}

/// Each result's snippet, tags dropped, marks as `[…]`.
fn snippets(page: &str) -> Vec<String> {
    page.split(r#"<span class="snippet">"#)
        .skip(1)
        .map(|rest| {
            let inner = &rest[..rest.find("</span></a>").expect("end of a snippet")];
            inner
                .replace("<mark>", "[")
                .replace("</mark>", "]")
                .replace("&amp;", "&")
        })
        .collect()
}

/// Saves `texts` from `sender` into the conversation straight through the
/// store (many at once would trip the sending rate limit).
async fn write_directly(
    pool: &natter::store::Pool,
    conversation: i64,
    sender: &str,
    texts: &[String],
) {
    let sender: i64 = natter::on_pool!(pool, p => sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(sender)
        .fetch_one(p)
        .await
        .unwrap());
    for (i, text) in texts.iter().enumerate() {
        natter::store::messages::save(
            pool,
            natter::domain::ConversationId::new(conversation),
            natter::domain::UserId::new(sender),
            text,
            &format!("direct-{i}"),
        )
        .await
        .unwrap();
    }
}

/// Alice and bob's conversation and a "Book Club" group of theirs, with
/// messages to find; carol is in neither.
struct Library {
    app: TestApp,
    bob: Client,
    carol: Client,
    direct: String,
    group: String,
}

async fn library() -> Library {
    let (app, bob, carol, direct) = alice_bob_and_carol().await;
    for text in [
        "Meet at the Café at noon",
        "The new chapter starts tomorrow",
        "new house, old chapter",
        "明日東京タワーに行った",
    ] {
        assert_eq!(
            post_message(&app.client, &direct, text).await,
            Status::SeeOther
        );
    }
    assert_eq!(
        post_message(&bob, &direct, "Bring the map").await,
        Status::SeeOther
    );
    let bob_id = user_id_in_directory(&app.client, "bob").await;
    let group = create_group(&app.client, "Book Club", &[bob_id]).await;
    assert_eq!(
        post_message(&app.client, &group, "chapter three tonight").await,
        Status::SeeOther
    );
    Library {
        app,
        bob,
        carol,
        direct,
        group,
    }
}

#[rocket::async_test]
async fn words_prefixes_phrases_and_filters_find_what_people_expect() {
    let l = library().await;
    let alice = &l.app.client;
    // Diacritics and case fold both ways.
    assert_eq!(
        found(alice, "cafe ", None).await,
        ["Meet at the [Café] at noon"]
    );
    assert_eq!(
        found(alice, "CAFÉ ", None).await,
        ["Meet at the [Café] at noon"]
    );
    // All words must match; the last one is a prefix while being typed.
    assert_eq!(
        found(alice, "chap", None).await,
        [
            "[chapter] three tonight",
            "new house, old [chapter]",
            "The new [chapter] starts tomorrow"
        ]
    );
    assert!(found(alice, "chap ", None).await.is_empty(), "a whole word");
    assert_eq!(
        found(alice, "new chapter ", None).await,
        [
            "[new] house, old [chapter]",
            "The [new] [chapter] starts tomorrow"
        ]
    );
    // A phrase: the words together, in order.
    assert_eq!(
        found(alice, "\"new chapter\"", None).await,
        ["The [new] [chapter] starts tomorrow"]
    );
    // Filters.
    assert_eq!(found(alice, "from:bob", None).await, ["Bring the map"]);
    assert_eq!(
        found(alice, "from:@Bob map", None).await,
        ["Bring the [map]"]
    );
    assert!(found(alice, "from:nobody", None).await.is_empty());
    assert_eq!(
        found(alice, "in:book chapter", None).await,
        ["[chapter] three tonight"]
    );
    assert_eq!(
        found(alice, r#"in:"Book Club" chapter"#, None).await,
        ["[chapter] three tonight"]
    );
    assert_eq!(
        found(alice, "chapter ", Some(&l.group)).await,
        ["[chapter] three tonight"],
        "searching one conversation"
    );
    // Chinese, Japanese and Korean text is found by substring.
    assert_eq!(
        found(alice, "東京", None).await,
        ["明日[東京]タワーに行った"]
    );
    // A file, by its caption and by has:file.
    let body = multipart(
        &[
            ("csrf", &csrf_of(alice, &l.direct).await),
            ("client_id", &natter::chat::new_client_id()),
            ("caption", "the plan"),
        ],
        "plan.png",
        "image/png",
        &png(20, 10),
    );
    let sent = alice
        .post(format!("{}/attachments", l.direct))
        .header(ContentType::new("multipart", "form-data").with_params(("boundary", BOUNDARY)))
        .body(body)
        .dispatch()
        .await;
    assert_eq!(sent.status(), Status::SeeOther);
    assert_eq!(
        found(alice, "has:file", None).await,
        ["📎 plan.png the plan"]
    );
    assert_eq!(found(alice, "plan", None).await, ["📎 plan.png the [plan]"]);
    // Dates, on the searcher's clock: one message from long ago.
    let pool = l.app.pool();
    let long_ago = time::macros::datetime!(2020-06-01 12:00 UTC);
    natter::on_pool!(pool, p => sqlx::query("UPDATE messages SET created_at = $1 WHERE body = $2")
        .bind(long_ago)
        .bind("new house, old chapter")
        .execute(p)
        .await
        .map(drop)
        .unwrap());
    assert_eq!(
        found(alice, "chapter before:2021-01-01", None).await,
        ["new house, old [chapter]"]
    );
    assert_eq!(
        found(alice, "chapter after:2021-01-01", None).await,
        [
            "[chapter] three tonight",
            "The new [chapter] starts tomorrow"
        ]
    );
    assert_eq!(
        found(alice, "after:2020-05-31 before:2020-06-02", None).await,
        ["new house, old chapter"]
    );
    // Unknown syntax is searched as words, never an error.
    assert!(found(alice, "colour:blue", None).await.is_empty());
    assert_eq!(found(alice, "bring:map", None).await, ["[Bring] the [map]"]);
}

#[rocket::async_test]
async fn only_what_the_searcher_may_read_now_is_found() {
    let l = library().await;
    let alice = &l.app.client;
    // Carol is in neither conversation: nothing, and one of them is a 404.
    assert!(found(&l.carol, "chapter", None).await.is_empty());
    assert!(found(&l.carol, "from:alice", None).await.is_empty());
    let scope = l.group.trim_start_matches("/conversations/");
    assert_eq!(
        l.carol
            .get(format!("/search?q=chapter&c={scope}"))
            .dispatch()
            .await
            .status(),
        Status::NotFound
    );
    // An edit: the new text is found, the old one no more.
    let page = page_text(alice, &l.direct).await;
    let noon = {
        let at = page.find("Meet at the Café").unwrap();
        let start = page[..at].rfind(r#"<article id="message-"#).unwrap()
            + r#"<article id="message-"#.len();
        page[start..start + page[start..].find('"').unwrap()].to_owned()
    };
    let csrf = csrf_of(alice, "/").await;
    let edited = post_form(
        alice,
        &format!("{}/messages/{noon}/edit", l.direct),
        &[("csrf", &csrf), ("body", "Meet at the bakery at one")],
    )
    .await;
    assert_eq!(edited.status(), Status::SeeOther);
    assert!(found(alice, "cafe", None).await.is_empty(), "the old text");
    assert_eq!(
        found(&l.bob, "bakery", None).await,
        ["Meet at the [bakery] at one"]
    );
    // Deleted: gone from the results.
    let deleted = post_form(
        alice,
        &format!("{}/messages/{noon}/delete", l.direct),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(deleted.status(), Status::SeeOther);
    assert!(found(&l.bob, "bakery", None).await.is_empty());
    // Group notes are not results.
    assert!(found(alice, "created", None).await.is_empty());
    // Bob leaves the group: nothing of it is found any more, before or after.
    assert_eq!(
        found(&l.bob, "chapter three", None).await,
        ["[chapter] [three] tonight"]
    );
    let csrf = csrf_of(&l.bob, "/").await;
    post_form(&l.bob, &format!("{}/leave", l.group), &[("csrf", &csrf)]).await;
    post_message(alice, &l.group, "chapter four next week").await;
    assert!(found(&l.bob, "chapter", None)
        .await
        .iter()
        .all(|hit| !hit.contains("three") && !hit.contains("four")));
    assert_eq!(
        found(alice, "chapter four", None).await,
        ["[chapter] [four] next week"]
    );
}

#[rocket::async_test]
async fn hostile_queries_are_answered_safely() {
    let l = library().await;
    let alice = &l.app.client;
    let long = "chapter ".repeat(1_300);
    let hostile = [
        "\"",
        "\"\"\"",
        "chapter\"",
        "NEAR(new chapter)",
        "new OR chapter",
        "new AND",
        "-chapter",
        "^chapter",
        "chapter*",
        "body:chapter",
        "{body}: chapter",
        "'",
        "a'b",
        "chapter & !new | house",
        "chapter:*",
        "new <-> chapter",
        "\u{0}chapter",
        "%",
        "_",
        "\\",
        "before:9999-99-99",
        "after:2026-02-30",
        "in:",
        "from:'; DROP TABLE users; --",
        "<script>alert(1)</script>",
        long.as_str(),
    ];
    for query in hostile {
        let page = search_page(alice, query, None).await;
        assert!(page.contains(r#"id="search-results""#), "{query:?}");
        assert!(
            !page.contains("<script>alert"),
            "echoed unescaped: {query:?}"
        );
    }
    // What is searched is only ever the words: operators are words or nothing.
    assert_eq!(
        found(alice, "new OR chapter", None).await,
        Vec::<String>::new(),
        "OR is a word, and no message has it"
    );
    assert_eq!(
        found(alice, "NEAR(new chapter)", None).await,
        Vec::<String>::new()
    );
    assert_eq!(found(alice, "chapter\"", None).await.len(), 3);
    // Everything is still there.
    assert_eq!(count(l.app.pool(), "users").await, 3);
    assert_eq!(stored_count(&l.app.dir, "Bring the map").await, 1);
}

#[rocket::async_test]
async fn results_are_paged_newest_first_and_counted_up_to_a_hundred() {
    let app = TestApp::new().await;
    signup(&app.client, "alice").await;
    let bob = app.another_browser().await;
    signup(&bob, "bob").await;
    let direct = open_conversation(&app.client, "bob").await;
    let id: i64 = direct
        .trim_start_matches("/conversations/")
        .parse()
        .unwrap();
    let pings: Vec<String> = (1..=110).map(|i| format!("ping number {i}")).collect();
    write_directly(app.pool(), id, "alice", &pings[..30]).await;
    // Two words: the next page's link carries the query encoded.
    let page = search_page(&app.client, "ping number", None).await;
    assert!(page.contains("30 messages"), "{page}");
    let first = snippets(&page);
    assert_eq!(first.len(), 20);
    assert_eq!(first[0], "[ping] [number] 30");
    // The next page, as the "More results" link asks for it (htmx: the
    // results alone).
    let start = page
        .find(r#"<li class="more"><a href=""#)
        .expect("a next page")
        + r#"<li class="more"><a href=""#.len();
    let next = page[start..start + page[start..].find('"').unwrap()].replace("&amp;", "&");
    let more = app
        .client
        .get(next)
        .header(Header::new("HX-Request", "true"))
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap();
    assert!(!more.contains("<html"), "a fragment");
    let second = snippets(&more);
    assert_eq!(second.len(), 10);
    assert_eq!(second[0], "[ping] [number] 10");
    assert_eq!(second[9], "[ping] [number] 1");
    assert!(!more.contains(r#"class="more""#), "no third page");
    natter::on_pool!(app.pool(), p => sqlx::query("DELETE FROM messages WHERE body LIKE 'ping%'")
        .execute(p)
        .await
        .map(drop)
        .unwrap());
    write_directly(app.pool(), id, "alice", &pings).await;
    let page = search_page(&app.client, "ping", None).await;
    assert!(page.contains("100+ messages"), "{page}");
    // The inbox's box searches messages too: without the script the page
    // shows them under the list.
    let inbox = page_text(&app.client, "/?q=number+110").await;
    assert!(inbox.contains(r#"id="message-results""#));
    assert_eq!(snippets(&inbox), ["ping [number] [110]"]);
}

#[tokio::test]
async fn a_result_opens_its_conversation_around_the_message_with_live_messages_below() {
    let (server, alice, bob, id) = Server::start().await.alice_and_bob().await;
    let texts: Vec<String> = (1..=60)
        .map(|i| {
            if i == 10 {
                "the needle".to_owned()
            } else {
                format!("hay {i}")
            }
        })
        .collect();
    let pool = open_database(&server.dir).await;
    write_directly(&pool, id, "alice", &texts).await;
    let (mut alice_socket, _) = alice.connect(id, 60).await;
    let results = bob.get_text("/search?q=needle").await;
    let start = results.find(r#"<li class="hit"><a href=""#).expect("a hit")
        + r#"<li class="hit"><a href=""#.len();
    let link = &results[start..start + results[start..].find('"').unwrap()];
    let (path, anchor) = link.split_once('#').unwrap();
    assert!(
        path.starts_with(&format!("/conversations/{id}?around=")),
        "{link}"
    );
    let page = bob.get_text(path).await;
    assert!(
        page.contains(&format!(r#"<article id="{anchor}""#)),
        "the message is there"
    );
    // Half a page either side: all 9 before it, 25 after it.
    assert!(
        page.contains(">hay 1<") && page.contains(">hay 35<"),
        "around it"
    );
    assert!(!page.contains(">hay 36<"), "half a page after it");
    assert!(page.contains("Showing messages around the one you opened"));
    assert!(page.contains("Load later messages"));
    // The gap fills in with "load later", up to the newest message the page
    // was rendered with, each once.
    let mut later_html = String::new();
    let mut html = page.clone();
    while let Some(at) = html.find(r#"class="load-later""#) {
        let start = at + html[at..].find(r#"hx-get=""#).unwrap() + r#"hx-get=""#.len();
        let url = html[start..start + html[start..].find('"').unwrap()].replace("&amp;", "&");
        html = bob.get_text(&url).await;
        later_html.push_str(&html);
    }
    for i in 36..=60 {
        assert_eq!(
            later_html.matches(&format!(">hay {i}<")).count(),
            1,
            "hay {i} once: {later_html}"
        );
    }
    // The socket resumes after the newest message when the page was made:
    // new messages arrive below.
    let seq = resume_seq(&page);
    assert_eq!(seq, 60);
    let (mut bob_socket, first) = bob.connect(id, seq).await;
    assert!(!first.contains("<article"), "nothing missed: {first}");
    send(&mut alice_socket, "fresh news", "m61").await;
    let arrived = expect_text(&mut bob_socket, "fresh news").await;
    assert!(arrived.contains("beforeend:#live"), "{arrived}");
    // Opening around a message does not read the conversation.
    let inbox = bob.get_text("/").await;
    assert!(unread_counts(&inbox).iter().any(|&n| n > 0), "{inbox}");
    drop(server);
}
