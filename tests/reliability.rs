//! Faults: the real binary killed in the middle of a stream of sends, and a
//! graceful stop. Nothing any client saw may be lost, nothing doubled.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;

#[tokio::test]
async fn a_crash_mid_stream_loses_nothing_anyone_saw_and_clients_resync() {
    let folder = tempfile::tempdir().unwrap();
    let port = free_port();
    let natter = Natter::start(folder.path(), port).await;
    let base = format!("http://127.0.0.1:{port}");
    let alice = Browser::new(&base);
    alice.signup("alice").await;
    let bob = Browser::new(&base);
    bob.signup("bob").await;
    let id = alice.open_conversation("bob").await;
    let (mut alice_socket, _) = alice.connect(id, 0).await;
    let (mut bob_socket, _) = bob.connect(id, 0).await;

    // Alice sends a steady stream; bob reads in the background until the crash.
    let reader = tokio::spawn(async move {
        let (mut seen, mut last_change) = (Vec::new(), 0);
        while let Some(fragment) = next_text(&mut bob_socket).await {
            seen.extend(bubbles(&fragment));
            last_change = seqs(&fragment).into_iter().fold(last_change, i64::max);
        }
        (seen, last_change)
    });
    let mut sent = Vec::new();
    // Paced within the per-socket message budget (a burst, then five a second).
    for n in 0..40 {
        let body = format!("stream-{n}");
        if futures::SinkExt::send(&mut alice_socket, send_frame(&body, &format!("s{n}")))
            .await
            .is_err()
        {
            break;
        }
        sent.push(body);
        if n == 30 {
            // Kill without warning while sends are in flight.
            let mut natter = natter;
            natter.child.kill().unwrap();
            natter.child.wait().unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (seen_by_bob, last_change_seen) = reader.await.unwrap();
    assert!(!seen_by_bob.is_empty(), "bob saw messages before the crash");

    // Everything bob saw is stored, under the same id.
    let after_crash = stored_messages(folder.path()).await;
    for (message_id, body) in &seen_by_bob {
        assert_eq!(
            after_crash.get(message_id),
            Some(body),
            "message {message_id} was shown but lost"
        );
    }

    // Restart; bob's page reconnects from the last change it has.
    let _natter = Natter::start(folder.path(), port).await;
    let (_bob_again, resync) = bob.connect(id, last_change_seen).await;
    let replayed = bubbles(&resync);
    let mut on_page: Vec<i64> = seen_by_bob.iter().map(|(i, _)| *i).collect();
    on_page.extend(replayed.iter().map(|(i, _)| *i));
    let unique: BTreeSet<i64> = on_page.iter().copied().collect();
    assert_eq!(unique.len(), on_page.len(), "nothing doubled on bob's page");
    let stored_now = stored_messages(folder.path()).await;
    assert_eq!(
        unique,
        stored_now.keys().copied().collect(),
        "bob's page has every stored message"
    );

    // Alice's page replays what it never got confirmed; each is stored once.
    let (mut alice_again, _) = alice.connect(id, 0).await;
    for (n, body) in sent.iter().enumerate() {
        loop {
            futures::SinkExt::send(&mut alice_again, send_frame(body, &format!("s{n}")))
                .await
                .unwrap();
            let reply = expect_text(&mut alice_again, r#"id="composer-error""#).await;
            if !reply.contains("too fast") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let final_rows = stored_messages(folder.path()).await;
    let bodies: Vec<&String> = final_rows.values().collect();
    let distinct: BTreeSet<&String> = bodies.iter().copied().collect();
    assert_eq!(bodies.len(), distinct.len(), "no message stored twice");
    assert_eq!(
        bodies.len(),
        sent.len(),
        "every sent message stored exactly once"
    );
}

#[tokio::test]
async fn sigterm_closes_sockets_with_a_reconnect_code_and_exits() {
    let folder = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut natter = Natter::start(folder.path(), port).await;
    let base = format!("http://127.0.0.1:{port}");
    let alice = Browser::new(&base);
    alice.signup("alice").await;
    let bob = Browser::new(&base);
    bob.signup("bob").await;
    let id = alice.open_conversation("bob").await;
    let (mut socket, _) = alice.connect(id, 0).await;
    send(&mut socket, "saved before stopping", "last").await;
    expect_text(&mut socket, "saved before stopping").await;

    natter.signal("TERM");
    assert_eq!(
        expect_close(&mut socket).await,
        Some(1012),
        "pages are told to reconnect"
    );
    let exit = natter.exited(Duration::from_secs(15)).await;
    assert!(exit.success(), "clean exit: {exit:?}");
    assert_eq!(
        stored_messages(folder.path())
            .await
            .values()
            .collect::<Vec<_>>(),
        vec!["saved before stopping"]
    );
}
