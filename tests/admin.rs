//! Running a server: the first account administers it; an administrator
//! deactivates, reactivates, deletes and promotes accounts (each logged),
//! chooses who may sign up and makes invitation links; the binary's
//! commands recover administration and back up a running server; health
//! checks for load balancers.

mod common;

use std::time::Duration;

use common::*;

/// A real server with the given extra configuration, whose first account
/// is alice (its administrator).
async fn server_with(
    configure: fn(rocket::figment::Figment) -> rocket::figment::Figment,
) -> (Server, Browser) {
    let server = Server::start_with(tempfile::tempdir().expect("temp dir"), configure).await;
    let alice = server.browser();
    alice.signup("alice").await;
    (server, alice)
}

/// Posts an admin form from the admin page (with its token); returns the
/// status and the page it answers with.
async fn admin_post(admin: &Browser, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let csrf = hidden_field(&admin.get_text("/admin").await, "csrf").expect("csrf");
    let mut all = vec![("csrf", csrf.as_str())];
    all.extend_from_slice(fields);
    let response = admin.post(path, &all).await;
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

/// The id of `username`'s account, as the admin page lists it.
async fn account_id(admin: &Browser, username: &str) -> String {
    let page = admin.get_text("/admin").await;
    let name = page
        .find(&format!(r#"<th scope="row">{username}"#))
        .unwrap_or_else(|| panic!("{username} on the admin page"));
    let start = page[..name].rfind(r#"id="account-"#).expect("a row") + r#"id="account-"#.len();
    page[start..start + page[start..].find('"').expect("id end")].to_owned()
}

/// What an administrator does to `username`'s account, by its button.
async fn act(admin: &Browser, username: &str, action: &str) -> (u16, String) {
    let id = account_id(admin, username).await;
    admin_post(admin, &format!("/admin/users/{id}"), &[("action", action)]).await
}

#[tokio::test]
async fn the_first_account_administers_the_server_and_no_one_else_sees_the_admin_page() {
    let (server, alice) = server_with(|f| f).await;
    let page = alice.get_text("/admin").await;
    assert!(page.contains("Administration"), "{page}");
    assert!(
        page.contains(r#"<a href="/admin">Admin</a>"#),
        "the header links it"
    );
    assert!(
        page.contains("If it can be reached from the internet, choose invitations."),
        "open sign-up is flagged"
    );
    let bob = server.browser();
    bob.signup("bob").await;
    assert_eq!(bob.get("/admin").await.status(), 404);
    assert!(!bob.get_text("/").await.contains(r#"href="/admin""#));
    // Bob cannot use the admin forms either.
    let csrf = hidden_field(&bob.get_text("/").await, "csrf").unwrap();
    let id = bob.user_id_of("alice").await;
    let tried = bob
        .post(
            &format!("/admin/users/{id}"),
            &[("csrf", &csrf), ("action", "deactivate")],
        )
        .await;
    assert_eq!(tried.status(), 404);
    assert!(alice.get_text("/").await.contains("alice"));
}

#[tokio::test]
async fn a_deactivated_account_is_logged_out_at_once_cannot_log_in_and_keeps_its_messages() {
    let (server, alice) = server_with(|f| f).await;
    let bob = server.browser();
    bob.signup("bob").await;
    let id = alice.open_conversation("bob").await;
    let (mut bob_socket, _) = bob.connect(id, 0).await;
    send(&mut bob_socket, "Hello from bob", "b1").await;
    expect_text(&mut bob_socket, "Hello from bob").await;

    let (status, page) = act(&alice, "bob", "deactivate").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Done: bob is deactivated and logged out everywhere."),
        "{page}"
    );
    assert!(page.contains("deactivated</span>"), "{page}");
    assert_eq!(expect_close(&mut bob_socket).await, Some(1000));
    assert!(bob.get("/").await.url().path().starts_with("/login"));
    // His password is right, and he is told why he cannot come in.
    let csrf = hidden_field(&bob.get_text("/login").await, "csrf").unwrap();
    let refused = bob
        .post(
            "/login",
            &[("csrf", &csrf), ("username", "bob"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(refused.status(), 403);
    let text = refused.text().await.unwrap();
    assert!(
        text.contains("An administrator has deactivated this account."),
        "{text}"
    );
    // With a wrong password, nothing is given away.
    let csrf = hidden_field(&bob.get_text("/login").await, "csrf").unwrap();
    let wrong = bob
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("username", "bob"),
                ("password", "not the password"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), 401);
    // His messages stay, with his name.
    let history = alice.get_text(&format!("/conversations/{id}")).await;
    assert!(history.contains("Hello from bob"), "{history}");
    assert!(history.contains("bob"));

    let (_, page) = act(&alice, "bob", "reactivate").await;
    assert!(page.contains("Done: bob can log in again."), "{page}");
    bob.login("bob").await;
    assert_eq!(bob.get("/").await.url().path(), "/");
    let log = alice.get_text("/admin").await;
    assert!(
        log.contains("deactivated bob") && log.contains("reactivated bob"),
        "{log}"
    );
}

#[tokio::test]
async fn administrators_promote_demote_and_delete_others_but_not_themselves() {
    let (server, alice) = server_with(|f| f).await;
    let bob = server.browser();
    bob.signup("bob").await;
    let carol = server.browser();
    carol.signup("carol").await;
    let (_, page) = act(&alice, "bob", "make-admin").await;
    assert!(page.contains("Done: bob is an administrator."), "{page}");
    assert!(bob.get_text("/admin").await.contains("Administration"));
    // Bob, now an administrator, takes it back from alice; neither can do
    // anything to their own account.
    let (status, page) = act(&bob, "bob", "unmake-admin").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Administrators cannot do that to their own account here."),
        "{page}"
    );
    let (_, page) = act(&bob, "alice", "unmake-admin").await;
    assert!(
        page.contains("alice is no longer an administrator"),
        "{page}"
    );
    assert_eq!(alice.get("/admin").await.status(), 404);
    // Deleting: carol's account goes, as if she had deleted it.
    let (_, page) = act(&bob, "carol", "delete").await;
    assert!(page.contains("Done: carol is deleted."), "{page}");
    assert!(!bob.get_text("/people").await.contains("carol"));
    assert!(carol.get("/").await.url().path().starts_with("/login"));
    let (_, page) = act(&bob, "alice", "no-such-thing").await;
    assert!(
        page.contains("That is not something an administrator can do."),
        "{page}"
    );
    let log = bob.get_text("/admin").await;
    for entry in [
        "made an administrator: bob",
        "took administration from alice",
        "deleted carol",
    ] {
        assert!(log.contains(entry), "{entry}: {log}");
    }
}

#[tokio::test]
async fn sign_up_is_open_by_invitation_or_closed_as_the_administrator_says() {
    let (server, alice) = server_with(|f| f.merge(("registration", "invite"))).await;
    // Without a link: the page says so, and a sign-up is refused.
    let stranger = server.browser();
    let page = stranger.get_text("/signup").await;
    assert!(
        page.contains("Signing up here needs an invitation link."),
        "{page}"
    );
    let csrf = hidden_field(&page, "csrf").unwrap();
    let fields = |csrf: &str, name: &str, invite: &str| {
        vec![
            ("csrf".to_owned(), csrf.to_owned()),
            ("username".to_owned(), name.to_owned()),
            ("password".to_owned(), PASSWORD.to_owned()),
            ("confirmation".to_owned(), PASSWORD.to_owned()),
            ("invite".to_owned(), invite.to_owned()),
        ]
    };
    let post = |browser: Browser, fields: Vec<(String, String)>| async move {
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let response = browser.post("/signup", &pairs).await;
        (
            response.status().as_u16(),
            response.text().await.unwrap_or_default(),
        )
    };
    let (status, text) = post(stranger.clone(), fields(&csrf, "stranger", "")).await;
    assert_eq!(status, 403);
    assert!(text.contains("needs an invitation link"), "{text}");

    // An invitation for one person.
    let (_, page) = admin_post(&alice, "/admin/invites", &[("uses", "1"), ("days", "7")]).await;
    let start = page
        .find("/signup?invite=")
        .unwrap_or_else(|| panic!("the new link: {page}"));
    let link = &page[start..start + page[start..].find('"').unwrap()];
    let token = link.trim_start_matches("/signup?invite=");
    let invited = server.browser();
    let page = invited.get_text(link).await;
    assert!(!page.contains("needs an invitation"), "{page}");
    let csrf = hidden_field(&page, "csrf").unwrap();
    let (status, _) = post(invited.clone(), fields(&csrf, "dave", token)).await;
    assert_eq!(status, 200, "signed up through the link");
    assert_eq!(invited.get("/").await.url().path(), "/");
    // Used up.
    let late = server.browser();
    let csrf = hidden_field(&late.get_text(link).await, "csrf").unwrap();
    let (status, text) = post(late.clone(), fields(&csrf, "erin", token)).await;
    assert_eq!(status, 403);
    assert!(
        text.contains("expired, been used up or been revoked"),
        "{text}"
    );

    // A taken name does not use up an invitation; a revoked one works no more.
    let (_, page) = admin_post(&alice, "/admin/invites", &[("uses", "1"), ("days", "1")]).await;
    let start = page.find("/signup?invite=").expect("the new link");
    let link = page[start..start + page[start..].find('"').unwrap()].to_owned();
    let token = link.trim_start_matches("/signup?invite=").to_owned();
    let csrf = hidden_field(&late.get_text(&link).await, "csrf").unwrap();
    let (status, text) = post(late.clone(), fields(&csrf, "dave", &token)).await;
    assert_eq!(status, 422, "{text}");
    let page = alice.get_text("/admin").await;
    assert!(page.contains("1 left"), "the use given back: {page}");
    let start = page.find("/admin/invites/").expect("a revoke form");
    let revoke = &page[start..start + page[start..].find('"').unwrap()];
    let (_, page) = admin_post(&alice, revoke, &[]).await;
    assert!(page.contains("no longer works"), "{page}");
    let (status, _) = post(late.clone(), fields(&csrf, "erin", &token)).await;
    assert_eq!(status, 403);
    // Out of range: refused with the rule.
    let (_, page) = admin_post(&alice, "/admin/invites", &[("uses", "1000"), ("days", "7")]).await;
    assert!(
        page.contains("An invitation is for 1 to 100 people"),
        "{page}"
    );

    // Closed, at once: even a fresh link does not let anyone in.
    let (_, page) = admin_post(&alice, "/admin/registration", &[("mode", "closed")]).await;
    assert!(page.contains("Saved: Nobody may sign up."), "{page}");
    let nobody = server.browser();
    let page = nobody.get_text("/signup").await;
    assert!(
        page.contains("This server is not taking new accounts."),
        "{page}"
    );
    let csrf = hidden_field(&page, "csrf").unwrap();
    let (status, _) = post(nobody.clone(), fields(&csrf, "frank", "")).await;
    assert_eq!(status, 403);
    // Open again: anyone.
    admin_post(&alice, "/admin/registration", &[("mode", "open")]).await;
    let csrf = hidden_field(&nobody.get_text("/signup").await, "csrf").unwrap();
    let (status, _) = post(nobody.clone(), fields(&csrf, "frank", "")).await;
    assert_eq!(status, 200);
    let log = alice.get_text("/admin").await;
    for entry in [
        "set sign-up to closed",
        "set sign-up to open",
        "revoked invitation",
    ] {
        assert!(log.contains(entry), "{entry}: {log}");
    }
}

#[tokio::test]
async fn a_closed_server_still_lets_its_first_account_in() {
    let server = Server::start_with(tempfile::tempdir().unwrap(), |f| {
        f.merge(("registration", "closed"))
    })
    .await;
    let first = server.browser();
    assert!(!first
        .get_text("/signup")
        .await
        .contains("not taking new accounts"));
    first.signup("root").await;
    assert!(first.get_text("/admin").await.contains("Administration"));
}

#[tokio::test]
async fn health_checks_say_whether_the_instance_can_serve() {
    let (server, alice) = server_with(|f| f).await;
    let healthz = alice.get("/healthz").await;
    assert_eq!(healthz.status(), 200);
    let readyz = alice.get("/readyz").await;
    assert_eq!(readyz.status(), 200);
    assert_eq!(readyz.text().await.unwrap(), "ready");
    // Without its migrations' record the database is not what this build
    // expects: not ready, saying why.
    let pool = open_database(&server.dir).await;
    natter::on_pool!(&pool, db => {
        sqlx::query("UPDATE _sqlx_migrations SET success = FALSE WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)")
            .execute(db)
            .await
            .expect("marked");
    });
    pool.close().await;
    let readyz = alice.get("/readyz").await;
    assert_eq!(readyz.status(), 503);
    let why = readyz.text().await.unwrap();
    assert!(why.contains("migrations applied"), "{why}");
    assert_eq!(alice.get("/healthz").await.status(), 200);
}

/// Runs the binary's command line in `folder` with the database `url`.
fn natter_command(folder: &std::path::Path, url: &str, args: &[&str]) -> std::process::Output {
    let binary =
        std::env::var("NATTER_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_natter").to_owned());
    std::process::Command::new(binary)
        .current_dir(folder)
        .env_clear()
        .env("NATTER_DATABASE_URL", url)
        .env("ROCKET_LOG_LEVEL", "off")
        .args(args)
        .output()
        .expect("natter runs")
}

#[tokio::test]
async fn the_command_line_grants_and_revokes_administration() {
    let (server, alice) = server_with(|f| f).await;
    let bob = server.browser();
    bob.signup("bob").await;
    let url = database_url(&server.dir);
    let granted = natter_command(server.dir.path(), &url, &["admin", "grant", "BOB"]);
    assert!(granted.status.success(), "{granted:?}");
    assert_eq!(
        String::from_utf8_lossy(&granted.stdout).trim(),
        "bob is an administrator"
    );
    assert!(bob.get_text("/admin").await.contains("Administration"));
    let revoked = natter_command(server.dir.path(), &url, &["admin", "revoke", "bob"]);
    assert!(revoked.status.success(), "{revoked:?}");
    assert_eq!(bob.get("/admin").await.status(), 404);
    assert!(alice.get_text("/admin").await.contains("command line"));
    let nobody = natter_command(server.dir.path(), &url, &["admin", "grant", "nobody"]);
    assert!(!nobody.status.success());
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("no account named nobody"));
    let unknown = natter_command(server.dir.path(), &url, &["frobnicate"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("usage:"));
}

#[tokio::test]
async fn a_backup_of_a_running_server_under_writes_restores_everything_confirmed_before_it() {
    if std::env::var(POSTGRES_ENV).is_ok_and(|url| !url.is_empty()) {
        eprintln!("skipped: backups of PostgreSQL are pg_dump's (the README says how)");
        return;
    }
    let (server, _alice) = server_with(|f| f).await;
    // Eight writers keep sending while the backup runs (each as fast as its
    // posting budget allows); each send is confirmed (saved) before the next.
    let mut writers = Vec::new();
    let mut first_conversation = 0;
    for w in 0..8 {
        let writer = server.browser();
        writer.signup(&format!("writer{w}")).await;
        let id = writer.open_conversation("alice").await;
        if w == 0 {
            first_conversation = id;
        }
        let (mut socket, _) = writer.connect(id, 0).await;
        writers.push(tokio::spawn(async move {
            let mut confirmed = Vec::new();
            for n in 0..40 {
                if n >= 20 {
                    tokio::time::sleep(Duration::from_millis(210)).await;
                }
                let body = format!("message {w}-{n}");
                send(&mut socket, &body, &format!("c{n}")).await;
                expect_text(&mut socket, "client-id").await;
                confirmed.push(body);
            }
            confirmed
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let backup_dir = tempfile::tempdir().unwrap();
    let file = backup_dir.path().join("natter-backup.db");
    let url = database_url(&server.dir);
    // Whatever was saved before the backup started must be in it.
    let before = stored_bodies(&server.dir).await;
    assert!(!before.is_empty());
    let made = {
        let (folder, file) = (server.dir.path().to_owned(), file.clone());
        tokio::task::spawn_blocking(move || {
            natter_command(&folder, &url, &["backup", file.to_str().unwrap()])
        })
        .await
        .unwrap()
    };
    assert!(made.status.success(), "{made:?}");
    let said = String::from_utf8_lossy(&made.stdout).into_owned();
    assert!(said.contains("copied the database"), "{said}");
    let mut confirmed = Vec::new();
    for writer in writers {
        confirmed.extend(writer.await.unwrap());
    }
    assert_eq!(confirmed.len(), 8 * 40);
    let after = stored_bodies(&server.dir).await;
    // Restored: a server on the copy has every message saved before the
    // backup began, each once, and the database is sound.
    let copy_url = format!("sqlite://{}", file.display());
    let restored = Server::start_with(tempfile::tempdir().unwrap(), {
        let url = copy_url.clone();
        move |f| f.merge(("databases.natter.url", url))
    })
    .await;
    let pool = natter::store::Pool::connect(&copy_url, 1).await.unwrap();
    let (bodies, integrity): (Vec<String>, String) = natter::on_pool!(&pool, db => {
        let bodies = sqlx::query_scalar("SELECT body FROM messages WHERE body LIKE 'message %'")
            .fetch_all(db).await.unwrap();
        let integrity = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(db).await.unwrap();
        (bodies, integrity)
    });
    pool.close().await;
    assert_eq!(integrity, "ok");
    let copied: std::collections::HashSet<&String> = bodies.iter().collect();
    assert_eq!(copied.len(), bodies.len(), "each once");
    for body in &before {
        assert!(
            copied.contains(body),
            "{body}, saved before the backup, is in it"
        );
    }
    assert!(
        bodies.iter().all(|b| after.contains(b)),
        "nothing that was not saved"
    );
    assert!(
        bodies.len() < after.len(),
        "writes went on during the backup: {} copied of {} in the end",
        bodies.len(),
        after.len()
    );
    let restored_alice = restored.browser();
    restored_alice.login("alice").await;
    let history = restored_alice
        .get_text(&format!("/conversations/{first_conversation}"))
        .await;
    assert!(history.contains("message 0-0"), "{history}");
    // A second backup to the same file is refused rather than overwriting.
    let again = natter_command(
        server.dir.path(),
        &database_url(&server.dir),
        &["backup", file.to_str().unwrap()],
    );
    assert!(!again.status.success());
}

/// The bodies of the stored messages the writers sent.
async fn stored_bodies(dir: &tempfile::TempDir) -> Vec<String> {
    let pool = open_database(dir).await;
    let bodies = natter::on_pool!(&pool, db => sqlx::query_scalar("SELECT body FROM messages WHERE body LIKE 'message %'")
        .fetch_all(db)
        .await
        .expect("bodies"));
    pool.close().await;
    bodies
}

#[tokio::test]
async fn members_make_invitation_links_only_while_administrators_let_them() {
    let (server, alice) = server_with(|f| f.merge(("registration", "invite"))).await;
    // Alice lets in bob, who is not an administrator.
    let (_, page) = admin_post(&alice, "/admin/invites", &[("uses", "1"), ("days", "1")]).await;
    let start = page.find("/signup?invite=").expect("a link");
    let link = page[start..start + page[start..].find('"').unwrap()].to_owned();
    let bob = server.browser();
    let token = link.trim_start_matches("/signup?invite=");
    assert_eq!(
        bob.signup_from(&bob.get_text(&link).await, "bob", token)
            .await,
        200
    );
    // Not allowed yet: no page, no link on his account page, no invitation.
    assert_eq!(bob.get("/invites").await.status(), 404);
    assert!(!bob.get_text("/account").await.contains("Invite people"));
    let csrf = hidden_field(&bob.get_text("/").await, "csrf").unwrap();
    let refused = bob
        .post("/invites", &[("csrf", &csrf), ("uses", "1"), ("days", "1")])
        .await;
    assert_eq!(refused.status(), 404);

    let (_, page) = admin_post(&alice, "/admin/members-invite", &[("allowed", "on")]).await;
    assert!(
        page.contains("Saved: members may make invitation links."),
        "{page}"
    );
    assert!(bob
        .get_text("/account")
        .await
        .contains(r#"<a href="/invites">Invite people</a>"#));
    let csrf = hidden_field(&bob.get_text("/invites").await, "csrf").unwrap();
    let made = bob
        .post("/invites", &[("csrf", &csrf), ("uses", "2"), ("days", "3")])
        .await
        .text()
        .await
        .unwrap();
    let start = made.find("/signup?invite=").expect("bob's link");
    let bobs_link = made[start..start + made[start..].find('"').unwrap()].to_owned();
    assert!(made.contains("2 left"), "{made}");
    // The link works for a newcomer.
    let carol = server.browser();
    let page = carol.get_text(&bobs_link).await;
    assert_eq!(
        carol
            .signup_from(
                &page,
                "carol",
                bobs_link.trim_start_matches("/signup?invite=")
            )
            .await,
        200
    );
    // Bob sees and revokes only his own; alice's admin page lists it as his.
    let admin_page = alice.get_text("/admin").await;
    assert!(admin_page.contains(" by bob"), "{admin_page}");
    let mine = bob.get_text("/invites").await;
    let start = mine.find("/invites/").expect("a revoke form");
    let revoke = mine[start..start + mine[start..].find('"').unwrap()].to_owned();
    let csrf = hidden_field(&mine, "csrf").unwrap();
    let revoked = bob
        .post(&revoke, &[("csrf", &csrf)])
        .await
        .text()
        .await
        .unwrap();
    assert!(revoked.contains("no longer works"), "{revoked}");
    // Another's invitation is not his to revoke.
    let csrf = hidden_field(&bob.get_text("/invites").await, "csrf").unwrap();
    let not_his = bob.post("/invites/1/revoke", &[("csrf", &csrf)]).await;
    assert_eq!(not_his.status(), 404);
    // Stopped again: his page goes.
    admin_post(&alice, "/admin/members-invite", &[]).await;
    assert_eq!(bob.get("/invites").await.status(), 404);
    assert!(alice
        .get_text("/admin")
        .await
        .contains("stopped members making invitation links"));
}

#[tokio::test]
async fn of_two_first_sign_ups_at_once_exactly_one_administers() {
    let server = Server::start_with(tempfile::tempdir().unwrap(), |f| f).await;
    let (first, second) = (server.browser(), server.browser());
    tokio::join!(first.signup("first"), second.signup("second"));
    let pool = open_database(&server.dir).await;
    let admins: i64 = natter::on_pool!(&pool, db => sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE is_admin = TRUE",
    )
    .fetch_one(db)
    .await
    .expect("counted"));
    pool.close().await;
    assert_eq!(admins, 1);
    let reached = [
        first.get("/admin").await.status(),
        second.get("/admin").await.status(),
    ];
    assert!(
        reached.contains(&reqwest::StatusCode::OK)
            && reached.contains(&reqwest::StatusCode::NOT_FOUND)
    );
}

#[tokio::test]
async fn an_open_server_ignores_a_stale_link_and_a_deactivated_members_links_stop_working() {
    let (server, alice) = server_with(|f| f).await;
    let newcomer = server.browser();
    let page = newcomer.get_text("/signup?invite=not-a-real-token").await;
    assert_eq!(
        newcomer.signup_from(&page, "bob", "not-a-real-token").await,
        200,
        "anyone may sign up on an open server"
    );
    // Bob (a member allowed to invite) makes a link; deactivating him ends it.
    admin_post(&alice, "/admin/members-invite", &[("allowed", "on")]).await;
    admin_post(&alice, "/admin/registration", &[("mode", "invite")]).await;
    let csrf = hidden_field(&newcomer.get_text("/invites").await, "csrf").unwrap();
    let made = newcomer
        .post("/invites", &[("csrf", &csrf), ("uses", "5"), ("days", "3")])
        .await
        .text()
        .await
        .unwrap();
    let start = made.find("/signup?invite=").expect("bob's link");
    let link = made[start..start + made[start..].find('"').unwrap()].to_owned();
    act(&alice, "bob", "deactivate").await;
    let late = server.browser();
    assert_eq!(
        late.signup_from(
            &late.get_text(&link).await,
            "carol",
            link.trim_start_matches("/signup?invite=")
        )
        .await,
        403
    );
}

#[tokio::test]
async fn the_commands_never_make_a_database_and_granting_reactivates() {
    let (server, alice) = server_with(|f| f).await;
    let bob = server.browser();
    bob.signup("bob").await;
    act(&alice, "bob", "deactivate").await;
    let url = database_url(&server.dir);
    let granted = natter_command(server.dir.path(), &url, &["admin", "grant", "bob"]);
    assert!(granted.status.success(), "{granted:?}");
    bob.login("bob").await;
    assert!(bob.get_text("/admin").await.contains("Administration"));
    // Run elsewhere, with the default database: nothing is made there.
    if std::env::var(POSTGRES_ENV).map_or(true, |url| url.is_empty()) {
        let elsewhere = tempfile::tempdir().unwrap();
        let missing = natter_command(
            elsewhere.path(),
            "sqlite://natter.db",
            &["backup", "copy.db"],
        );
        assert!(!missing.status.success());
        let said = String::from_utf8_lossy(&missing.stderr).into_owned();
        assert!(said.contains("there is no database"), "{said}");
        assert!(!elsewhere.path().join("natter.db").exists());
    }
}
