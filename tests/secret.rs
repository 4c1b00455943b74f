//! Secret conversations, the server's side (the MLS Delivery Service):
//! devices and their KeyPackages (each handed out once), commits taken only
//! for the group's current epoch and in one order, Welcomes per device, who
//! may fetch what, and devices whose sessions ended listed for removal. The
//! KeyPackage and Welcome are real ones made by the vendored MLS library;
//! group messages are framed as RFC 9420 frames them (the server reads
//! nothing else of them). Runs on SQLite, and on PostgreSQL when
//! `NATTER_TEST_POSTGRES` is set.

mod common;

use base64ct::{Base64, Encoding};
use common::*;
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use serde_json::Value;

const KEY_PACKAGE: &[u8] = include_bytes!("fixtures/mls/key_package.bin");
const WELCOME: &[u8] = include_bytes!("fixtures/mls/welcome.bin");
const COMMIT: &[u8] = include_bytes!("fixtures/mls/commit_epoch_0.bin");

fn b64(bytes: &[u8]) -> String {
    Base64::encode_string(bytes)
}

/// An `MLSMessage` holding a `PrivateMessage` for `group` at `epoch` of
/// `content_type` (1 application, 3 commit), as browsers frame it; the
/// encrypted parts are filler, which is all the server ever sees of them.
fn group_message(group: &str, epoch: u64, content_type: u8, filler: u8) -> Vec<u8> {
    let mut m = vec![0, 1, 0, 2, u8::try_from(group.len()).expect("short id")];
    m.extend(group.as_bytes());
    m.extend(epoch.to_be_bytes());
    m.push(content_type);
    m.push(0); // no authenticated data
    m.extend([
        8, filler, filler, filler, filler, filler, filler, filler, filler,
    ]);
    m.extend([16]);
    m.extend([filler; 16]);
    m
}

fn commit(conversation: i64, epoch: u64, filler: u8) -> Vec<u8> {
    group_message(&format!("natter:{conversation}"), epoch, 3, filler)
}

fn application(conversation: i64, epoch: u64, filler: u8) -> Vec<u8> {
    group_message(&format!("natter:{conversation}"), epoch, 1, filler)
}

async fn json_of(response: rocket::local::asynchronous::LocalResponse<'_>) -> (Status, Value) {
    let status = response.status();
    let text = response.into_string().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Registers the browser's device with a signature key made of `key`;
/// returns its id.
async fn register(client: &Client, key: u8) -> i64 {
    let csrf = csrf_of(client, "/").await;
    let (status, body) = json_of(
        post_form(
            client,
            "/secret/devices",
            &[("csrf", &csrf), ("signature_key", &b64(&[key; 32]))],
        )
        .await,
    )
    .await;
    assert_eq!(status, Status::Ok, "{body}");
    body["device"].as_i64().expect("a device id")
}

async fn upload_key_packages(client: &Client, packages: &[&[u8]]) -> (Status, Value) {
    let csrf = csrf_of(client, "/").await;
    let encoded: Vec<String> = packages.iter().map(|p| b64(p)).collect();
    let mut fields = vec![("csrf", csrf.as_str())];
    fields.extend(encoded.iter().map(|p| ("key_package", p.as_str())));
    json_of(post_form(client, "/secret/key-packages", &fields).await).await
}

async fn create_secret_group(client: &Client, title: &str, members: &[i64]) -> i64 {
    let csrf = csrf_of(client, "/").await;
    let ids: Vec<String> = members.iter().map(i64::to_string).collect();
    let mut fields = vec![("csrf", csrf.as_str()), ("title", title)];
    fields.extend(ids.iter().map(|id| ("members", id.as_str())));
    let (status, body) = json_of(post_form(client, "/secret/groups", &fields).await).await;
    assert_eq!(status, Status::Ok, "{body}");
    body["conversation"].as_i64().expect("a conversation id")
}

async fn claim(client: &Client, conversation: i64) -> (Status, Value) {
    let csrf = csrf_of(client, "/").await;
    let path = format!("/conversations/{conversation}/secret/claim");
    json_of(post_form(client, &path, &[("csrf", &csrf)]).await).await
}

/// Hands in a group message; `added` pairs a device with its Welcome.
async fn post_group(
    client: &Client,
    conversation: i64,
    message: &[u8],
    added: &[(i64, &[u8])],
    removed: &[i64],
) -> (Status, Value) {
    let csrf = csrf_of(client, "/").await;
    let message = b64(message);
    let added: Vec<(String, String)> = added.iter().map(|(d, w)| (d.to_string(), b64(w))).collect();
    let removed: Vec<String> = removed.iter().map(i64::to_string).collect();
    let mut fields = vec![("csrf", csrf.as_str()), ("message", message.as_str())];
    for (device, welcome) in &added {
        fields.push(("added", device));
        fields.push(("welcome", welcome));
    }
    fields.extend(removed.iter().map(|d| ("removed", d.as_str())));
    let path = format!("/conversations/{conversation}/secret/messages");
    json_of(post_form(client, &path, &fields).await).await
}

async fn fetch(client: &Client, conversation: i64, after: i64) -> (Status, Value) {
    let path = format!("/conversations/{conversation}/secret/messages?after={after}");
    json_of(client.get(path).dispatch().await).await
}

/// alice, bob and carol signed in, each browser registered as a device,
/// and a secret group of alice's with bob and carol (alice's device in it).
struct Group {
    app: TestApp,
    bob: Client,
    carol: Client,
    devices: [i64; 3],
    conversation: i64,
}

async fn secret_group() -> Group {
    let (app, bob, carol, _) = alice_bob_and_carol().await;
    let devices = [
        register(&app.client, 1).await,
        register(&bob, 2).await,
        register(&carol, 3).await,
    ];
    let bob_id = user_id_in_directory(&app.client, "bob").await;
    let carol_id = user_id_in_directory(&app.client, "carol").await;
    let conversation = create_secret_group(&app.client, "Plans", &[bob_id, carol_id]).await;
    Group {
        app,
        bob,
        carol,
        devices,
        conversation,
    }
}

#[rocket::async_test]
async fn a_browser_registers_one_device_and_keeps_key_packages_waiting() {
    let app = TestApp::new().await;
    signup(&app.client, "alice").await;
    let (status, this) = json_of(app.client.get("/secret/devices/this").dispatch().await).await;
    assert_eq!(
        (status, this),
        (Status::Ok, Value::Null),
        "no device before registering"
    );

    let device = register(&app.client, 1).await;
    assert_eq!(
        register(&app.client, 1).await,
        device,
        "the same key is the same device"
    );
    let (_, this) = json_of(app.client.get("/secret/devices/this").dispatch().await).await;
    assert_eq!(this["device"].as_i64(), Some(device));
    assert_eq!(this["key_packages_left"].as_i64(), Some(0));

    let (status, body) = upload_key_packages(&app.client, &[KEY_PACKAGE, KEY_PACKAGE]).await;
    assert_eq!((status, body["waiting"].as_i64()), (Status::Ok, Some(2)));

    // Not a KeyPackage, a key of the wrong size, not base64: refused, nothing stored.
    let (status, _) = upload_key_packages(&app.client, &[COMMIT]).await;
    assert_eq!(status, Status::UnprocessableEntity);
    let mut other_suite = KEY_PACKAGE.to_vec();
    other_suite[7] = 3;
    let (status, _) = upload_key_packages(&app.client, &[&other_suite]).await;
    assert_eq!(status, Status::UnprocessableEntity);
    let csrf = csrf_of(&app.client, "/").await;
    for key in [b64(&[1; 33]), "not base64!".to_owned(), String::new()] {
        let response = post_form(
            &app.client,
            "/secret/devices",
            &[("csrf", &csrf), ("signature_key", &key)],
        )
        .await;
        assert_eq!(response.status(), Status::UnprocessableEntity, "{key}");
    }
    let too_many = vec![KEY_PACKAGE; 99];
    let (status, body) = upload_key_packages(&app.client, &too_many).await;
    assert_eq!(status, Status::UnprocessableEntity, "{body}");
    assert_eq!(count(app.pool(), "mls_key_packages").await, 2);

    // The browser lost its keys and comes back with another: a new device;
    // the old one is no longer this session's.
    let again = register(&app.client, 9).await;
    assert_ne!(again, device);
    let (_, this) = json_of(app.client.get("/secret/devices/this").dispatch().await).await;
    assert_eq!(this["device"].as_i64(), Some(again));
}

/// Makes every claim to add a device look an hour old: stale.
async fn age_claims(app: &TestApp) {
    let hour_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    natter::on_pool!(app.pool(), p => sqlx::query("UPDATE mls_claims SET claimed_at = $1")
        .bind(hour_ago)
        .execute(p)
        .await
        .map(drop)
        .unwrap());
}

#[rocket::async_test]
async fn key_packages_are_handed_out_once_and_only_to_a_device_in_the_group() {
    let g = secret_group().await;
    upload_key_packages(&g.bob, &[KEY_PACKAGE, KEY_PACKAGE]).await;

    // Carol's device has none waiting: only bob's is offered, to one claim
    // at a time: while a claim is fresh its claimer is the one to add bob's
    // device; once it went stale (that claimer never committed), another
    // claim gets bob's next package.
    for round in 0..2 {
        if round > 0 {
            let (_, none) = claim(&g.app.client, g.conversation).await;
            assert_eq!(none, serde_json::json!([]), "claimed a moment ago");
            age_claims(&g.app).await;
        }
        let (status, claimed) = claim(&g.app.client, g.conversation).await;
        assert_eq!(status, Status::Ok);
        let claimed = claimed.as_array().expect("a list");
        assert_eq!(claimed.len(), 1, "{claimed:?}");
        assert_eq!(claimed[0]["device"].as_i64(), Some(g.devices[1]));
        assert_eq!(
            claimed[0]["key_package"]
                .as_str()
                .map(|k| Base64::decode_vec(k).ok()),
            Some(Some(KEY_PACKAGE.to_vec()))
        );
    }
    age_claims(&g.app).await;
    let (_, claimed) = claim(&g.app.client, g.conversation).await;
    assert_eq!(claimed, serde_json::json!([]), "each is handed out once");
    assert_eq!(count(g.app.pool(), "mls_key_packages").await, 0);

    // A member whose device is not in the group, and someone not a member,
    // get nothing.
    upload_key_packages(&g.bob, &[KEY_PACKAGE]).await;
    assert_eq!(claim(&g.carol, g.conversation).await.0, Status::NotFound);
    let dave = g.app.another_browser().await;
    signup(&dave, "dave").await;
    register(&dave, 4).await;
    assert_eq!(claim(&dave, g.conversation).await.0, Status::NotFound);
    assert_eq!(count(g.app.pool(), "mls_key_packages").await, 1);
}

#[rocket::async_test]
async fn commits_are_taken_only_for_the_current_epoch_and_every_device_fetches_one_order() {
    let g = secret_group().await;
    let (alice, id) = (&g.app.client, g.conversation);
    let bob_device = g.devices[1];

    // Epoch 0: alice's device adds bob's.
    let (status, posted) =
        post_group(alice, id, &commit(id, 0, 1), &[(bob_device, WELCOME)], &[]).await;
    assert_eq!(status, Status::Ok, "{posted}");
    assert_eq!(posted["epoch"].as_i64(), Some(1));
    let commit_seq = posted["seq"].as_i64().expect("a seq");

    // A second commit for epoch 0 lost the race: refused as stale, as is
    // a message for that epoch; nothing of them is stored.
    let (status, refused) = post_group(alice, id, &commit(id, 0, 2), &[], &[]).await;
    assert_eq!(status, Status::Conflict, "{refused}");
    assert_eq!(
        post_group(alice, id, &application(id, 0, 3), &[], &[])
            .await
            .0,
        Status::Conflict
    );
    // Another group's, not MLS at all, a roster change on a message that
    // is not a commit, a Welcome that is not one: refused.
    let other = group_message("natter:999", 1, 1, 4);
    for (message, added) in [
        (other.as_slice(), vec![]),
        (b"plain text".as_slice(), vec![]),
        (&application(id, 1, 5)[..], vec![(g.devices[2], WELCOME)]),
    ] {
        let (status, body) = post_group(alice, id, message, &added, &[]).await;
        assert_eq!(status, Status::UnprocessableEntity, "{body}");
    }
    let (status, _) = post_group(
        alice,
        id,
        &commit(id, 1, 6),
        &[(g.devices[2], KEY_PACKAGE)],
        &[],
    )
    .await;
    assert_eq!(
        status,
        Status::UnprocessableEntity,
        "a KeyPackage is not a Welcome"
    );

    // Epoch 1: alice's message; bob's device, not joined yet, fetches nothing.
    let (status, hello) = post_group(alice, id, &application(id, 1, 7), &[], &[]).await;
    assert_eq!((status, hello["epoch"].as_i64()), (Status::Ok, Some(1)));

    // Bob's device takes its Welcome once, then fetches both in order.
    let (_, welcomes) = json_of(g.bob.get("/secret/welcomes").dispatch().await).await;
    let welcomes = welcomes.as_array().expect("a list").clone();
    assert_eq!(welcomes.len(), 1);
    assert_eq!(welcomes[0]["conversation"].as_i64(), Some(id));
    assert_eq!(welcomes[0]["welcome"].as_str(), Some(b64(WELCOME).as_str()));
    assert_eq!(
        welcomes[0]["seq"].as_i64(),
        Some(commit_seq),
        "the device reads on after the commit that added it"
    );
    let taken = format!("/secret/welcomes/{}/taken", welcomes[0]["id"]);
    let csrf = csrf_of(&g.bob, "/").await;
    assert_eq!(
        post_form(&g.bob, &taken, &[("csrf", &csrf)]).await.status(),
        Status::NoContent
    );
    assert_eq!(
        post_form(&g.bob, &taken, &[("csrf", &csrf)]).await.status(),
        Status::NotFound
    );
    let csrf = csrf_of(alice, "/").await;
    assert_eq!(
        post_form(alice, &taken, &[("csrf", &csrf)]).await.status(),
        Status::NotFound
    );

    let (status, records) = fetch(&g.bob, id, 0).await;
    assert_eq!(status, Status::Ok);
    let records = records.as_array().expect("a list").clone();
    let kinds: Vec<(&str, i64)> = records
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap_or(""),
                r["epoch"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(kinds, [("commit", 0), ("application", 1)]);
    assert_eq!(records[0]["seq"].as_i64(), Some(commit_seq));
    assert!(records[1]["seq"].as_i64() > Some(commit_seq));
    assert_eq!(
        records[1]["message"].as_str(),
        Some(b64(&application(id, 1, 7)).as_str())
    );
    let (_, later) = fetch(&g.bob, id, commit_seq).await;
    assert_eq!(
        later.as_array().map(Vec::len),
        Some(1),
        "only what came after"
    );

    // Carol's device is not in the group: it may neither fetch nor post.
    assert_eq!(fetch(&g.carol, id, 0).await.0, Status::NotFound);
    assert_eq!(
        post_group(&g.carol, id, &application(id, 1, 8), &[], &[])
            .await
            .0,
        Status::NotFound
    );
    // Bob's may post at the current epoch.
    assert_eq!(
        post_group(&g.bob, id, &application(id, 1, 9), &[], &[])
            .await
            .0,
        Status::Ok
    );
}

#[rocket::async_test]
async fn two_commits_for_one_epoch_at_once_are_never_both_taken() {
    let g = secret_group().await;
    let id = g.conversation;
    post_group(
        &g.app.client,
        id,
        &commit(id, 0, 1),
        &[(g.devices[1], WELCOME)],
        &[],
    )
    .await;
    for epoch in 1..6u64 {
        let (mine, theirs) = (commit(id, epoch, 2), commit(id, epoch, 3));
        let (a, b) = tokio::join!(
            post_group(&g.app.client, id, &mine, &[], &[]),
            post_group(&g.bob, id, &theirs, &[], &[]),
        );
        let mut statuses = [a.0, b.0];
        statuses.sort_by_key(|s| s.code);
        assert_eq!(statuses, [Status::Ok, Status::Conflict], "epoch {epoch}");
    }
    let (_, records) = fetch(&g.bob, id, 0).await;
    let epochs: Vec<i64> = records
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|r| r["epoch"].as_i64())
        .collect();
    assert_eq!(epochs, [0, 1, 2, 3, 4, 5], "one commit per epoch, in order");
}

#[rocket::async_test]
async fn a_device_whose_session_ended_is_listed_for_removal_until_a_commit_removes_it() {
    let g = secret_group().await;
    let (alice, id) = (&g.app.client, g.conversation);
    let to_remove = format!("/conversations/{id}/secret/to-remove");
    post_group(
        alice,
        id,
        &commit(id, 0, 1),
        &[(g.devices[1], WELCOME)],
        &[],
    )
    .await;
    let (_, listed) = json_of(alice.get(to_remove.clone()).dispatch().await).await;
    assert_eq!(listed, serde_json::json!([]));

    logout(&g.bob).await;
    let (_, listed) = json_of(alice.get(to_remove.clone()).dispatch().await).await;
    assert_eq!(listed, serde_json::json!([g.devices[1]]));
    // Not a member: not told.
    let dave = g.app.another_browser().await;
    signup(&dave, "dave").await;
    assert_eq!(
        dave.get(to_remove.clone()).dispatch().await.status(),
        Status::NotFound
    );

    let (status, _) = post_group(alice, id, &commit(id, 1, 2), &[], &[g.devices[1]]).await;
    assert_eq!(status, Status::Ok);
    let (_, listed) = json_of(alice.get(to_remove).dispatch().await).await;
    assert_eq!(listed, serde_json::json!([]));

    // Bob logs in again: a new session is a new device, not in the group.
    login(&g.bob, "bob").await;
    let new_device = register(&g.bob, 2).await;
    assert_ne!(new_device, g.devices[1]);
    assert_eq!(fetch(&g.bob, id, 0).await.0, Status::NotFound);
    // Once it has a KeyPackage waiting, a device in the group can add it.
    upload_key_packages(&g.bob, &[KEY_PACKAGE]).await;
    let (_, claimed) = claim(alice, id).await;
    assert_eq!(claimed[0]["device"].as_i64(), Some(new_device));
}

/// A signed-in browser's session cookie and CSRF token, for Node to act
/// with, and its user's id.
async fn session_of(browser: &Browser, id: String) -> Value {
    let page = browser.get_text("/").await;
    serde_json::json!({
        "cookie": browser.cookie_header(),
        "csrf": hidden_field(&page, "csrf").expect("a csrf token"),
        "id": id.parse::<i64>().expect("an id"),
    })
}

/// Every plaintext the protocol run wrote.
const PLAINTEXTS: [&str; 4] = [
    "hello from alice",
    "from bob, on his phone",
    "after both commits",
    "carol cannot read this",
];

#[tokio::test]
async fn the_page_core_exchanges_messages_between_devices_and_a_leaver_reads_nothing_after() {
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: Node.js is not installed (apt-get install nodejs)");
        return;
    }
    let server = Server::start().await;
    let (alice, bob, bob_phone, carol) = (
        server.browser(),
        server.browser(),
        server.browser(),
        server.browser(),
    );
    alice.signup("alice").await;
    bob.signup("bob").await;
    bob_phone.login("bob").await;
    carol.signup("carol").await;
    let (alice_id, bob_id, carol_id) = (
        bob.user_id_of("alice").await,
        alice.user_id_of("bob").await,
        alice.user_id_of("carol").await,
    );
    let people = vec![
        session_of(&alice, alice_id).await,
        session_of(&bob, bob_id.clone()).await,
        session_of(&bob_phone, bob_id).await,
        session_of(&carol, carol_id).await,
    ];
    let config = serde_json::json!({ "base": server.url(""), "people": people });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mls/protocol.mjs");
    let run = tokio::process::Command::new("node")
        .arg(script)
        .arg(config.to_string())
        .output()
        .await
        .expect("node runs");
    // The last lines: a stack trace in the minified library repeats it whole.
    let stderr = String::from_utf8_lossy(&run.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(12).collect();
    assert!(run.status.success(), "node failed: {}", tail.join("\n"));
    let out: Value = serde_json::from_slice(&run.stdout).expect("one JSON report");
    let conversation = out["conversation"].as_i64().expect("a conversation");
    let devices: Vec<i64> = out["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    assert_eq!(devices.len(), 4);

    // One commit of alice's device put every device of bob and carol in the group.
    let mut members = devices.clone();
    members.sort_unstable();
    assert_eq!(out["members"], serde_json::json!(members));
    // Safety numbers: twelve groups of five digits; alice's for bob is
    // bob's for alice (on either of his devices), and carol's differs.
    let safety = &out["safety"];
    let alice_for_bob = safety["aliceForBob"].as_str().expect("a number");
    assert_eq!(alice_for_bob.split(' ').count(), 12, "{safety}");
    assert!(alice_for_bob
        .split(' ')
        .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit())));
    assert_eq!(safety["bobForAlice"], safety["aliceForBob"], "{safety}");
    assert_eq!(
        safety["bobPhoneForAlice"], safety["aliceForBob"],
        "{safety}"
    );
    assert_ne!(safety["aliceForCarol"], safety["aliceForBob"], "{safety}");
    assert_eq!(
        out["joined"],
        serde_json::json!([[conversation], [conversation], [conversation]])
    );
    // Everyone reads everything, both of bob's devices included; a sender
    // reads its own from what it kept.
    for reader in ["bob", "bobPhone", "carol"] {
        assert_eq!(
            out["hello"][reader],
            serde_json::json!(["hello from alice"]),
            "{reader}"
        );
    }
    for reader in ["bob", "carol", "bobPhone"] {
        assert_eq!(
            out["fromPhone"][reader],
            serde_json::json!(["from bob, on his phone"]),
            "{reader}: {out}"
        );
    }
    assert_eq!(
        out["fromPhone"]["alice"],
        serde_json::json!(["hello from alice", "from bob, on his phone"]),
        "alice's own message is read from what her device kept"
    );
    // Two commits for one epoch: one refused as stale, made again, both in.
    let epochs = out["concurrent"].as_array().expect("two results");
    assert!(
        epochs.iter().all(Value::is_i64),
        "both committed in the end: {out}"
    );
    assert!(
        out["staleRetries"].as_i64() >= Some(1),
        "one was refused as stale first: {out}"
    );
    for reader in ["bob", "bobPhone", "carol"] {
        assert_eq!(
            out["afterCommits"][reader],
            serde_json::json!(["after both commits"]),
            "{reader}: {out}"
        );
    }
    // Carol left: removed by alice's next commit, she can neither fetch nor,
    // handed the ciphertext, read what followed.
    assert_eq!(out["leaveStatus"], 303);
    assert_eq!(out["toRemove"], serde_json::json!([devices[3]]));
    assert_eq!(
        out["afterLeaving"]["bob"],
        serde_json::json!(["carol cannot read this"])
    );
    assert!(
        out["carolFetch"]
            .as_str()
            .is_some_and(|s| s.contains("404")),
        "{out}"
    );
    let handed = out["carolHanded"]
        .as_array()
        .expect("what carol made of it");
    assert!(
        !handed.is_empty()
            && handed
                .iter()
                .all(|t| t.as_str().is_some_and(|t| t.starts_with("ERROR"))),
        "{out}"
    );

    common::assert_no_plaintext_stored(&server.dir, &PLAINTEXTS).await;
}

/// Signs up `name` in a new browser of `server` and registers its device
/// (signature key made of `key`); returns the browser and its form token.
async fn device_on(server: &Server, name: &str, key: u8) -> (Browser, String) {
    let browser = server.browser();
    browser.signup(name).await;
    let csrf = hidden_field(&browser.get_text("/").await, "csrf").expect("a csrf token");
    let registered = browser
        .post(
            "/secret/devices",
            &[("csrf", &csrf), ("signature_key", &b64(&[key; 32]))],
        )
        .await;
    assert_eq!(registered.status(), reqwest::StatusCode::OK);
    (browser, csrf)
}

#[tokio::test]
async fn a_secret_message_reaches_members_sockets_as_a_bubble_with_its_ciphertext_and_never_as_text(
) {
    let server = Server::start().await;
    let (alice, alice_csrf) = device_on(&server, "alice", 1).await;
    let (bob, bob_csrf) = device_on(&server, "bob", 2).await;
    let bob_id = alice.user_id_of("bob").await;
    let created = alice
        .post(
            "/secret/groups",
            &[
                ("csrf", &alice_csrf),
                ("title", "Plans"),
                ("members", &bob_id),
            ],
        )
        .await;
    let created: Value = serde_json::from_str(&created.text().await.expect("body")).expect("json");
    // "New group" with "Secret" ticked, posted without the page's script
    // (which makes the group's keys): refused, saying why.
    let without_script = alice
        .post(
            "/groups",
            &[
                ("csrf", &alice_csrf),
                ("title", "Plans"),
                ("members", &bob_id),
                ("secret", "on"),
            ],
        )
        .await;
    assert!(without_script.status().is_client_error());
    assert!(without_script
        .text()
        .await
        .unwrap()
        .contains("needs JavaScript"));
    let conversation = created["conversation"].as_i64().expect("an id");
    let (mut bob_socket, _) = bob.connect(conversation, 0).await;

    // alice's device hands in an application message: bob's page gets a
    // bubble carrying the ciphertext, and the message has no text here.
    let ciphertext = application(conversation, 0, 7);
    let path = format!("/conversations/{conversation}/secret/messages");
    let fields = [
        ("csrf", alice_csrf.as_str()),
        ("message", &b64(&ciphertext)),
        ("client_id", "first-secret"),
    ];
    let posted = alice.post(&path, &fields).await.text().await.expect("body");
    let posted: Value = serde_json::from_str(&posted).expect("json");
    let seq = posted["seq"].as_i64().expect("a seq");
    let bubble = loop {
        let text = next_text(&mut bob_socket).await.expect("a push");
        if text.contains("data-ciphertext") {
            break text;
        }
    };
    assert!(bubble.contains(&format!(r#"data-ciphertext="{}""#, b64(&ciphertext))));
    assert!(bubble.contains(&format!(r#"data-seq="{seq}""#)));
    assert!(bubble.contains("Encrypted message"), "{bubble}");
    assert!(
        !bubble.contains("Actions for this message"),
        "no actions yet"
    );
    // Sent twice (the page did not hear back), stored once.
    let again = alice.post(&path, &fields).await.text().await.expect("body");
    let again: Value = serde_json::from_str(&again).expect("json");
    assert_eq!(again["seq"].as_i64(), Some(seq));
    let pool = open_database(&server.dir).await;
    let bodies: Vec<String> = natter::on_pool!(&pool, p => sqlx::query_scalar(
        "SELECT body FROM messages WHERE conversation_id = $1 AND kind = 'text'",
    )
    .bind(conversation)
    .fetch_all(p)
    .await
    .unwrap());
    assert_eq!(bodies, vec![String::new()]);
    let start = bubble.find(r#"id="message-"#).expect("a bubble id") + r#"id="message-"#.len();
    let message_id = &bubble[start..start + bubble[start..].find('"').expect("id end")];

    // Text in the clear is refused on every path: a socket frame, a plain
    // form, an edit, a reaction; none of it is stored.
    send(&mut bob_socket, "plain words over the socket", "plain-1").await;
    let refusal = loop {
        let text = next_text(&mut bob_socket).await.expect("an answer");
        if text.contains("composer-error") {
            break text;
        }
    };
    assert!(refusal.contains("secret conversation"), "{refusal}");
    let form = bob
        .post(
            &format!("/conversations/{conversation}/messages"),
            &[
                ("csrf", &bob_csrf),
                ("client_id", "plain-2"),
                ("body", "plain words in a form"),
            ],
        )
        .await;
    assert!(form.status().is_client_error(), "{}", form.status());
    let message_url = format!("/conversations/{conversation}/messages/{message_id}");
    let edit = alice
        .post(
            &format!("{message_url}/edit"),
            &[("csrf", &alice_csrf), ("body", "plain words in an edit")],
        )
        .await;
    assert_eq!(edit.status(), reqwest::StatusCode::NOT_FOUND);
    let react = bob
        .post(
            &format!("{message_url}/reactions"),
            &[("csrf", &bob_csrf), ("emoji", "👍")],
        )
        .await;
    assert_eq!(react.status(), reqwest::StatusCode::NOT_FOUND);
    assert_eq!(count(&pool, "reactions").await, 0);
    pool.close().await;
    assert_no_plaintext_stored(&server.dir, &["plain words"]).await;
}

/// Hands in an application message with a file (bytes the browser
/// encrypted) as the page's module does.
async fn post_file(client: &Client, conversation: i64, message: &[u8], file: &[u8]) -> Status {
    let csrf = csrf_of(client, "/").await;
    let body = multipart(
        &[("csrf", &csrf), ("message", &b64(message))],
        "encrypted",
        "application/octet-stream",
        file,
    );
    client
        .post(format!("/conversations/{conversation}/secret/files"))
        .header(
            rocket::http::ContentType::new("multipart", "form-data")
                .with_params(("boundary", BOUNDARY)),
        )
        .body(body)
        .dispatch()
        .await
        .status()
}

#[rocket::async_test]
async fn a_file_goes_only_with_an_application_message_and_is_stored_as_it_came() {
    let g = secret_group().await;
    let media = g.app.dir.path().join("media");
    // Opaque bytes (what AES-GCM makes looks like this to the server).
    let sealed: Vec<u8> = (0..200u8).map(|i| i.wrapping_mul(37)).collect();
    let status = post_file(
        &g.app.client,
        g.conversation,
        &commit(g.conversation, 0, 5),
        &sealed,
    )
    .await;
    assert_eq!(
        status,
        Status::UnprocessableEntity,
        "a commit carries no file"
    );
    assert_eq!(count(g.app.pool(), "attachments").await, 0);
    assert!(
        std::fs::read_dir(&media).map_or(true, |d| d.count() == 0),
        "nothing left behind"
    );
    let message = application(g.conversation, 0, 6);
    let status = post_file(&g.bob, g.conversation, &message, &sealed).await;
    assert_eq!(
        status,
        Status::NotFound,
        "bob's device is not in the group yet"
    );
    let status = post_file(&g.app.client, g.conversation, &message, &sealed).await;
    assert_eq!(status, Status::Ok);
    let stored: Vec<Vec<u8>> = std::fs::read_dir(&media)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(
        stored,
        vec![sealed],
        "kept as it came: no thumbnail, nothing re-encoded"
    );
    let kind: String = natter::on_pool!(g.app.pool(), p => sqlx::query_scalar(
        "SELECT content_type FROM attachments",
    )
    .fetch_one(p)
    .await
    .unwrap());
    assert_eq!(kind, "application/octet-stream");
}
