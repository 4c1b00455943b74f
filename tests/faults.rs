//! Faults an operator meets on a bad day, against the real binary: a full
//! disk under the database, a page that stops reading its socket, a stop
//! while sends are in flight. Nothing confirmed may be lost, and the server
//! must recover by itself.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::outages::{PrivatePostgres, SmallDisk};
use common::*;

/// What the server answered a send from the page.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// The form came back empty: the message is stored.
    Confirmed,
    /// The error line says the disk is full; the text stays in the form.
    StorageFull,
}

/// Sends from a page's socket and reads until the form's answer.
async fn attempt(socket: &mut Socket, body: &str, client_id: &str) -> Answer {
    send(socket, body, client_id).await;
    loop {
        let frame = next_text(socket)
            .await
            .unwrap_or_else(|| panic!("no answer to {body:?}"));
        if frame.contains("The server&#39;s storage is full; your message was not sent.")
            || frame.contains("The server's storage is full; your message was not sent.")
        {
            return Answer::StorageFull;
        }
        assert!(
            !frame.contains("Something went wrong"),
            "{body:?} failed: {frame}"
        );
        if frame.contains(r#"id="client-id""#) {
            return Answer::Confirmed;
        }
    }
}

/// Reads whatever frames arrive until the socket is quiet for a moment.
async fn drain(socket: &mut Socket) -> Vec<String> {
    let mut frames = Vec::new();
    while let Ok(Some(text)) =
        tokio::time::timeout(Duration::from_millis(500), next_text(socket)).await
    {
        frames.push(text);
    }
    frames
}

#[tokio::test]
async fn a_full_disk_confirms_nothing_it_did_not_store_and_recovers_when_space_returns() {
    let Some(disk) = SmallDisk::mount("8m") else {
        return;
    };
    let port = free_port();
    let mut natter = Natter::start(disk.path(), port).await;
    let alice = Browser::new(&natter.base());
    alice.signup("alice").await;
    let bob = Browser::new(&natter.base());
    bob.signup("bob").await;
    let id = alice.open_conversation("bob").await;
    let (mut alice_socket, _) = alice.connect(id, 0).await;
    let (mut bob_socket, _) = bob.connect(id, 0).await;
    let mut confirmed = vec!["before the disk filled".to_owned()];
    assert_eq!(
        attempt(&mut alice_socket, &confirmed[0], "before").await,
        Answer::Confirmed
    );

    disk.fill();
    let mut refused = Vec::new();
    for n in 0..8 {
        let body = format!("while the disk is full {n}");
        match attempt(&mut alice_socket, &body, &format!("full{n}")).await {
            Answer::Confirmed => confirmed.push(body),
            Answer::StorageFull => refused.push(body),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !refused.is_empty(),
        "the disk filled up, yet every send was confirmed"
    );

    // Reading keeps working on a full disk.
    let page = bob.get(&format!("/conversations/{id}")).await;
    assert_eq!(page.status(), 200, "a conversation opens on a full disk");
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("before the disk filled"));

    // Without JavaScript, the refusal keeps the text in the form.
    let html = alice.get_text(&format!("/conversations/{id}")).await;
    let csrf = hidden_field(&html, "csrf").expect("csrf");
    let posted = alice
        .post(
            &format!("/conversations/{id}/messages"),
            &[
                ("csrf", &csrf),
                ("client_id", "plain-full"),
                ("body", "posted on a full disk"),
            ],
        )
        .await;
    assert_eq!(posted.status(), 507);
    let refusal = posted.text().await.unwrap();
    assert!(refusal.contains("storage is full"), "{refusal}");
    assert!(refusal.contains("posted on a full disk"), "text kept");
    refused.push("posted on a full disk".to_owned());

    // Space comes back: sending works again at once, without a restart.
    disk.free();
    for n in 0..5 {
        let body = format!("after space returned {n}");
        assert_eq!(
            attempt(&mut alice_socket, &body, &format!("after{n}")).await,
            Answer::Confirmed,
            "{body}"
        );
        confirmed.push(body);
    }
    let posted = alice
        .post(
            &format!("/conversations/{id}/messages"),
            &[
                ("csrf", &csrf),
                ("client_id", "plain-after"),
                ("body", "posted after space returned"),
            ],
        )
        .await;
    assert!(posted.status().is_success(), "{}", posted.status());
    confirmed.push("posted after space returned".to_owned());

    // Everything bob was shown is stored.
    let seen_by_bob: Vec<(i64, String)> = drain(&mut bob_socket)
        .await
        .iter()
        .flat_map(|frame| bubbles(frame))
        .collect();

    // A crash now loses nothing that was confirmed, and keeps nothing refused.
    natter.signal("KILL");
    natter.exited(Duration::from_secs(10)).await;
    let stored = stored_messages(disk.path()).await;
    let bodies: BTreeSet<&String> = stored.values().collect();
    for body in &confirmed {
        assert!(bodies.contains(body), "{body:?} was confirmed but is lost");
    }
    for body in &refused {
        assert!(!bodies.contains(body), "{body:?} was refused but stored");
    }
    for (message_id, body) in &seen_by_bob {
        assert_eq!(stored.get(message_id), Some(body), "bob saw {body:?}");
    }
    assert_eq!(stored.len(), confirmed.len(), "nothing stored twice");

    let _natter = Natter::start(disk.path(), port).await;
    let page = alice.get_text(&format!("/conversations/{id}")).await;
    for body in &confirmed {
        assert!(page.contains(body.as_str()), "{body:?} shown after restart");
    }
}

#[tokio::test]
async fn sigterm_under_load_answers_every_send_in_flight_and_loses_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut natter = Natter::start(folder.path(), port).await;
    let mut senders = Vec::new();
    for pair in 0..4 {
        let sender = Browser::new(&natter.base());
        sender.signup(&format!("sender{pair}")).await;
        let reader = Browser::new(&natter.base());
        reader.signup(&format!("reader{pair}")).await;
        let id = sender.open_conversation(&format!("reader{pair}")).await;
        let (socket, _) = sender.connect(id, 0).await;
        senders.push(socket);
    }
    // Every sender fires its whole burst without waiting for answers; the
    // stop comes while those sends are queued and being saved.
    let mut tasks = Vec::new();
    for (pair, mut socket) in senders.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for n in 0..20 {
                let body = format!("in flight {pair}-{n}");
                futures::SinkExt::send(&mut socket, send_frame(&body, &format!("f{pair}x{n}")))
                    .await
                    .unwrap();
            }
            let mut frames = Vec::new();
            let close = loop {
                match tokio::time::timeout(
                    Duration::from_secs(15),
                    futures::StreamExt::next(&mut socket),
                )
                .await
                {
                    Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))) => {
                        frames.push(text)
                    }
                    Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(frame)))) => {
                        break frame.map(|f| u16::from(f.code))
                    }
                    Ok(Some(Ok(_))) => {}
                    _ => break None,
                }
            };
            (frames, close)
        }));
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    natter.signal("TERM");
    let mut confirmed = 0;
    let mut shown = Vec::new();
    for task in tasks {
        let (frames, close) = task.await.unwrap();
        for frame in &frames {
            assert!(
                !frame.contains("Something went wrong"),
                "a send in flight failed at the stop: {frame}"
            );
        }
        confirmed += frames
            .iter()
            .filter(|f| f.contains(r#"id="client-id""#))
            .count();
        shown.extend(frames.iter().flat_map(|f| bubbles(f)));
        assert_eq!(close, Some(1012), "told to reconnect");
    }
    let exit = natter.exited(Duration::from_secs(15)).await;
    assert!(exit.success(), "clean exit: {exit:?}");
    let stored = stored_messages(folder.path()).await;
    assert!(
        stored.len() >= confirmed,
        "{confirmed} confirmed, {} stored",
        stored.len()
    );
    for (message_id, body) in &shown {
        assert_eq!(stored.get(message_id), Some(body), "shown, then lost");
    }
}

#[tokio::test]
async fn a_database_outage_shows_a_retry_page_keeps_sessions_and_recovers() {
    let Some(postgres) = PrivatePostgres::start() else {
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    let url = postgres.url();
    let natter = Natter::start_with(
        folder.path(),
        free_port(),
        &[("NATTER_DATABASE_URL", url.as_str())],
    )
    .await;
    let alice = Browser::new(&natter.base());
    alice.signup("alice").await;
    assert_eq!(alice.get("/").await.status(), 200);

    postgres.stop("fast");
    for attempt in 0..3 {
        let response = alice.get("/").await;
        assert_eq!(response.status(), 503, "attempt {attempt}");
        assert_eq!(
            response
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok()),
            Some("5")
        );
        let page = response.text().await.unwrap();
        assert!(page.contains("can't reach its database"), "{page}");
        assert!(!page.contains("Log in"), "not sent to the login form");
    }
    // A load balancer asking: the process is up, but not ready.
    assert_eq!(alice.get("/healthz").await.status(), 200);
    assert_eq!(alice.get("/readyz").await.status(), 503);

    postgres.pg_ctl_start();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let response = alice.get("/").await;
        if response.status() == 200 {
            let page = response.text().await.unwrap();
            assert!(page.contains("alice"), "still signed in as alice");
            assert_eq!(alice.get("/readyz").await.status(), 200);
            break;
        }
        assert_eq!(response.status(), 503);
        assert!(
            std::time::Instant::now() < deadline,
            "natter did not recover"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
