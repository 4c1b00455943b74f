//! Group conversations: create, add, leave, rename, with membership enforced
//! on every path (pages, fragments, posts, sockets).

mod common;

use common::*;
use rocket::http::Status;
use rocket::local::asynchronous::Client;

async fn user_id(app: &TestApp, name: &str) -> i64 {
    natter::store::users::by_username(app.pool(), name)
        .await
        .unwrap()
        .expect("user exists")
        .id
        .get()
}

struct Cast {
    app: TestApp,
    bob: Client,
    carol: Client,
    dave: Client,
}

/// alice (app.client) with bob, carol and dave signed up.
async fn cast() -> Cast {
    let app = TestApp::new().await;
    let bob = app.another_browser().await;
    signup(&bob, "bob").await;
    let carol = app.another_browser().await;
    signup(&carol, "carol").await;
    let dave = app.another_browser().await;
    signup(&dave, "dave").await;
    signup(&app.client, "alice").await;
    Cast {
        app,
        bob,
        carol,
        dave,
    }
}

#[rocket::async_test]
async fn a_group_is_created_with_chosen_members_who_all_see_it() {
    let c = cast().await;
    let (bob, carol) = (user_id(&c.app, "bob").await, user_id(&c.app, "carol").await);
    let path = create_group(&c.app.client, "Weekend plans", &[bob, carol]).await;
    for client in [&c.app.client, &c.bob, &c.carol] {
        let dashboard = page_text(client, "/").await;
        assert!(dashboard.contains("Weekend plans"), "listed");
        assert_eq!(
            client.get(path.clone()).dispatch().await.status(),
            Status::Ok
        );
    }
    assert!(!page_text(&c.dave, "/").await.contains("Weekend plans"));
    let page = page_text(&c.app.client, &path).await;
    assert!(
        page.contains("<h1>Weekend plans</h1>") && page.contains("3 members: alice, bob, carol")
    );
    assert!(page.contains(r#"value="dave""#), "dave can be added");
}

#[rocket::async_test]
async fn group_messages_show_their_sender_and_count_as_unread() {
    let c = cast().await;
    let bob = user_id(&c.app, "bob").await;
    let path = create_group(&c.app.client, "Team", &[bob]).await;
    assert_eq!(
        post_message(&c.app.client, &path, "hello team").await,
        Status::SeeOther
    );
    let page = page_text(&c.bob, &path).await;
    assert!(
        page.contains(r#"<span class="sender hue-"#) && page.contains(">alice</span>"),
        "{page}"
    );
    assert!(page.contains("hello team"));
    assert_eq!(
        post_message(&c.app.client, &path, "second").await,
        Status::SeeOther
    );
    let id = path.trim_start_matches("/conversations/");
    let dashboard = page_text(&c.bob, "/").await;
    assert_eq!(
        badge_text(&dashboard, &format!("unread-{id}")).as_deref(),
        Some("1"),
        "{dashboard}"
    );
}

#[rocket::async_test]
async fn outsiders_get_404_on_every_group_path() {
    let c = cast().await;
    let bob = user_id(&c.app, "bob").await;
    let path = create_group(&c.app.client, "Private", &[bob]).await;
    post_message(&c.app.client, &path, "members only").await;
    let dave = &c.dave;
    let csrf = csrf_of(dave, "/").await;
    assert_eq!(
        dave.get(path.clone()).dispatch().await.status(),
        Status::NotFound
    );
    assert_eq!(
        dave.get(format!("{path}/messages?before=999"))
            .dispatch()
            .await
            .status(),
        Status::NotFound
    );
    for (action, fields) in [
        (
            "messages",
            vec![
                ("csrf", csrf.as_str()),
                ("client_id", "d1"),
                ("body", "let me in"),
            ],
        ),
        (
            "members",
            vec![("csrf", csrf.as_str()), ("username", "dave")],
        ),
        (
            "title",
            vec![("csrf", csrf.as_str()), ("title", "hijacked")],
        ),
        ("leave", vec![("csrf", csrf.as_str())]),
    ] {
        let status = post_form(dave, &format!("{path}/{action}"), &fields)
            .await
            .status();
        assert_eq!(status, Status::NotFound, "{action}");
    }
    assert_eq!(
        count(c.app.pool(), "members").await,
        2,
        "dave did not get in"
    );
    let page = page_text(&c.app.client, &path).await;
    assert!(page.contains("<h1>Private</h1>") && !page.contains("let me in"));
}

#[rocket::async_test]
async fn a_member_adds_someone_who_then_reads_the_history() {
    let c = cast().await;
    let bob = user_id(&c.app, "bob").await;
    let path = create_group(&c.app.client, "Growing", &[bob]).await;
    post_message(&c.app.client, &path, "before dave").await;
    let csrf = csrf_of(&c.bob, &path).await;
    let status = post_form(
        &c.bob,
        &format!("{path}/members"),
        &[("csrf", &csrf), ("username", "dave")],
    )
    .await
    .status();
    assert_eq!(status, Status::SeeOther);
    let page = page_text(&c.dave, &path).await;
    assert!(page.contains("before dave"));
    assert_eq!(
        post_message(&c.dave, &path, "hi, dave here").await,
        Status::SeeOther
    );
    assert!(page_text(&c.app.client, &path)
        .await
        .contains("hi, dave here"));
}

#[rocket::async_test]
async fn only_the_creator_renames_and_names_are_checked() {
    let c = cast().await;
    let bob = user_id(&c.app, "bob").await;
    let path = create_group(&c.app.client, "Old name", &[bob]).await;
    let csrf = csrf_of(&c.bob, &path).await;
    let response = post_form(
        &c.bob,
        &format!("{path}/title"),
        &[("csrf", &csrf), ("title", "Bob's name")],
    )
    .await;
    assert_eq!(response.status(), Status::Forbidden);
    assert!(response
        .into_string()
        .await
        .unwrap()
        .contains("Only the person who made the group"));
    let csrf = csrf_of(&c.app.client, &path).await;
    for bad in ["   ", &"x".repeat(65)] {
        let status = post_form(
            &c.app.client,
            &format!("{path}/title"),
            &[("csrf", &csrf), ("title", bad)],
        )
        .await
        .status();
        assert_eq!(status, Status::UnprocessableEntity);
    }
    let status = post_form(
        &c.app.client,
        &format!("{path}/title"),
        &[("csrf", &csrf), ("title", "<b>New</b> name")],
    )
    .await
    .status();
    assert_eq!(status, Status::SeeOther);
    let page = page_text(&c.bob, &path).await;
    assert!(
        page.contains("<h1>&lt;b&gt;New&lt;/b&gt; name</h1>"),
        "renamed, escaped"
    );
}

#[rocket::async_test]
async fn a_member_who_leaves_loses_access_at_once() {
    let c = cast().await;
    let bob = user_id(&c.app, "bob").await;
    let path = create_group(&c.app.client, "Leaving", &[bob]).await;
    // The group page asks first: its link leads to a page with the button.
    let page = page_text(&c.bob, &path).await;
    assert!(page.contains(&format!(r#"href="{path}/leave""#)), "{page}");
    assert!(
        !page.contains(&format!(r#"action="{path}/leave""#)),
        "no one-click leave"
    );
    let confirm = page_text(&c.bob, &format!("{path}/leave")).await;
    assert!(confirm.contains("<h1>Leave Leaving?</h1>"), "{confirm}");
    assert!(confirm.contains(&format!(r#"action="{path}/leave""#)));
    assert!(
        confirm.contains(&format!(r#"href="{path}" autofocus"#)),
        "staying is the default"
    );
    assert_eq!(
        c.bob.get(format!("{path}/leave")).dispatch().await.status(),
        Status::Ok,
        "asking changes nothing"
    );
    assert_eq!(
        c.bob.get(path.clone()).dispatch().await.status(),
        Status::Ok
    );
    let csrf = csrf_of(&c.bob, &path).await;
    let response = post_form(&c.bob, &format!("{path}/leave"), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(
        c.bob.get(path.clone()).dispatch().await.status(),
        Status::NotFound
    );
    let csrf = csrf_of(&c.bob, "/").await;
    let status = post_form(
        &c.bob,
        &format!("{path}/messages"),
        &[
            ("csrf", &csrf),
            ("client_id", "late"),
            ("body", "still here?"),
        ],
    )
    .await
    .status();
    assert_eq!(status, Status::NotFound);
    assert!(!page_text(&c.bob, "/").await.contains("Leaving"));
    assert!(page_text(&c.app.client, &path)
        .await
        .contains("1 member: alice"));
    drop(c.carol);
}

#[tokio::test]
async fn over_sockets_members_get_group_messages_and_a_leaver_is_cut_off() {
    let server = Server::start().await;
    let alice = server.browser();
    alice.signup("alice").await;
    let bob = server.browser();
    bob.signup("bob").await;
    let carol = server.browser();
    carol.signup("carol").await;
    let page = alice.get_text("/people").await;
    let ids: Vec<String> = ["bob", "carol"]
        .iter()
        .map(|name| {
            let link = page.find(&format!(r#"href="/c/{name}""#)).unwrap();
            let start = page[..link].rfind(r#"id="contact-"#).unwrap() + r#"id="contact-"#.len();
            page[start..start + page[start..].find('"').unwrap()].to_owned()
        })
        .collect();
    let csrf = hidden_field(&page, "csrf").unwrap();
    let response = alice
        .post(
            "/groups",
            &[
                ("csrf", &csrf),
                ("title", "Live group"),
                ("members", &ids[0]),
                ("members", &ids[1]),
            ],
        )
        .await;
    let id: i64 = response
        .url()
        .path()
        .trim_start_matches("/conversations/")
        .parse()
        .unwrap();

    let (mut alice_socket, _) = alice.connect(id, 0).await;
    let (mut bob_socket, _) = bob.connect(id, 0).await;
    let (mut carol_socket, _) = carol.connect(id, 0).await;
    let outsider = server.browser();
    outsider.signup("eve").await;
    assert!(
        outsider.try_connect(id, 0, &server.origin()).await.is_err(),
        "non-member refused"
    );

    send(&mut alice_socket, "hello everyone", "g1").await;
    let at_bob = expect_text(&mut bob_socket, "hello everyone").await;
    assert!(
        at_bob.contains(r#"<span class="sender hue-"#) && at_bob.contains(">alice</span>"),
        "{at_bob}"
    );
    let at_carol = expect_text(&mut carol_socket, "hello everyone").await;
    // Both draw the bubble alike (the server drew it once for both pages),
    // with no form token of anyone's in it.
    let bubble = |frame: &str| {
        let start = frame.find("<article").unwrap();
        frame[start..start + frame[start..].find("</article>").unwrap()].to_owned()
    };
    assert_eq!(bubble(&at_bob), bubble(&at_carol));
    assert!(!at_bob.contains(r#"name="csrf""#), "{at_bob}");
    let at_alice = expect_text(&mut alice_socket, "hello everyone").await;
    assert!(bubble(&at_alice).contains("message mine"), "{at_alice}");

    // Carol leaves: her open socket on the group is closed at once.
    let carol_page = carol.get_text(&format!("/conversations/{id}")).await;
    let carol_csrf = hidden_field(&carol_page, "csrf").unwrap();
    carol
        .post(
            &format!("/conversations/{id}/leave"),
            &[("csrf", &carol_csrf)],
        )
        .await;
    assert_eq!(expect_close(&mut carol_socket).await, Some(1000));
    let heading = expect_text(&mut bob_socket, "2 members").await;
    assert!(heading.contains("alice, bob"));
    send(&mut alice_socket, "after carol left", "g2").await;
    expect_text(&mut bob_socket, "after carol left").await;
    assert!(
        carol.try_connect(id, 0, &server.origin()).await.is_err(),
        "no way back in"
    );
}
