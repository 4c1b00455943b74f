//! The idle scenario: many open dashboard sockets doing nothing, and what
//! each costs the server.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::SplitStream;
use futures::StreamExt;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::database::Database;
use crate::options::Options;
use crate::progress;
use crate::report::IdleReport;
use crate::server::{CpuMeter, Servers};
use crate::sockets::{open_sockets, Activity};
use crate::wire::Socket;

/// Idle sockets per user: a little under the server's cap per user, so a
/// socket still being counted out never gets a new one refused.
pub(crate) const IDLE_SOCKETS_PER_USER: usize = natter::limits::SOCKETS_PER_USER - 2;

/// An idle page: reads (and so answers pings) until the socket closes.
async fn read_idle(mut stream: SplitStream<Socket>, activity: Arc<Activity>) {
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(WsMessage::Close(_)) | Err(_) => break,
            Ok(_) => {
                activity.saw_frame();
            }
        }
    }
    activity.closed.fetch_add(1, Ordering::Relaxed);
}

/// Many open dashboard sockets doing nothing: what one costs the server.
pub(crate) async fn idle(database: &Database, options: &Options) -> Result<IdleReport, String> {
    let sockets = options.sockets;
    let users = sockets.div_ceil(IDLE_SOCKETS_PER_USER).max(1);
    let tokens = database.seed_idle_users(users).await?;

    let servers = Servers::start(database, options).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = servers.rss_kib();
    let activity = Arc::new(Activity::new());
    let meter = CpuMeter::start(&servers);
    // Round-robin over users: every user's first socket (which announces them
    // online to everybody) opens before anyone's second.
    let targets = (0..sockets)
        .map(|i| ("/socket".to_owned(), tokens[i % users].clone()))
        .collect();
    let (opened, connect) = open_sockets(&servers.ports(), targets, |_, _, stream| {
        tokio::spawn(read_idle(stream, Arc::clone(&activity)))
    })
    .await;
    progress(&format!(
        "idle: {} open in {:.1} s, waiting for quiet",
        connect.opened, connect.seconds
    ));
    activity
        .settle(Duration::from_secs(1), Duration::from_secs(30))
        .await;
    let cpu = meter.read(&servers);
    let rss_idle = servers.rss_kib();
    let closed = activity.closed.load(Ordering::Relaxed);
    let per_socket = rss_idle.saturating_sub(rss_before) as f64 / connect.opened.max(1) as f64;

    servers.stop().await;
    for (_, reader) in opened.into_iter().flatten() {
        reader.abort();
    }
    Ok(IdleReport {
        sockets,
        users,
        connect,
        server_rss_before_kib: rss_before,
        server_rss_idle_kib: rss_idle,
        rss_per_socket_kib: per_socket,
        cpu,
        closed,
    })
}
