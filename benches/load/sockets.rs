//! Opening sockets as the page does, many at a time, and watching for the
//! moment they go quiet.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::stream::{SplitSink, SplitStream};
use futures::StreamExt;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::report::{ConnectStats, Percentiles};
use crate::wire::{self, Socket};

/// Sockets opened at once while connecting: a busy page load, not a flood.
const CONNECT_CONCURRENCY: usize = 64;

/// The writing half of an open socket.
pub(crate) type Sink = SplitSink<Socket, WsMessage>;

/// The `Cookie` header of a browser logged in with session `token`.
pub(crate) fn session_cookie(token: &str) -> String {
    format!("natter_session={token}")
}

/// Opens a socket as the page does and reads the first frame (the resync);
/// returns the socket and that frame.
async fn open_socket(port: u16, path: &str, token: &str) -> Result<(Socket, String), String> {
    let url = format!("ws://127.0.0.1:{port}{path}");
    let cookie = session_cookie(token);
    let origin = format!("http://127.0.0.1:{port}");
    let request = wire::socket_request(&url, &cookie, &origin).map_err(|e| e.to_string())?;
    // Browsers disable Nagle's algorithm too; with it, small frames would wait.
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    let first = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match socket.next().await {
                Some(Ok(WsMessage::Text(text))) => return Ok(text),
                Some(Ok(WsMessage::Close(frame))) => return Err(format!("closed: {frame:?}")),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("closed".into()),
            }
        }
    })
    .await;
    match first {
        Ok(Ok(first)) => Ok((socket, first)),
        Ok(Err(e)) => Err(format!("{path}: no first frame: {e}")),
        Err(_) => Err(format!("{path}: no first frame within 30 s")),
    }
}

/// Opens every target (`(path, token)`) with bounded concurrency, target `i`
/// on the server at `ports[i % ports.len()]`; each open
/// socket is split at once and its reading half handed to `reader` with the
/// first frame, so early sockets are drained while later ones connect.
/// Returns the writing halves and readers by target index.
pub(crate) async fn open_sockets<F>(
    ports: &[u16],
    targets: Vec<(String, String)>,
    reader: F,
) -> (Vec<Option<(Sink, JoinHandle<()>)>>, ConnectStats)
where
    F: Fn(usize, String, SplitStream<Socket>) -> JoinHandle<()>,
{
    let attempted = targets.len();
    let started = Instant::now();
    let reader = &reader;
    let results: Vec<_> = futures::stream::iter(targets.into_iter().enumerate())
        .map(|(index, (path, token))| async move {
            let port = ports[index % ports.len()];
            let begun = Instant::now();
            let result = open_socket(port, &path, &token)
                .await
                .map(|(socket, first)| {
                    let (sink, stream) = socket.split();
                    let bytes = first.len();
                    (sink, reader(index, first, stream), bytes)
                });
            (index, result, begun.elapsed())
        })
        .buffer_unordered(CONNECT_CONCURRENCY)
        .collect()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    let mut opened: Vec<Option<(Sink, JoinHandle<()>)>> = (0..attempted).map(|_| None).collect();
    let mut latencies = Vec::with_capacity(attempted);
    let mut first_bytes = 0;
    let mut stats = ConnectStats {
        attempted,
        seconds,
        ..ConnectStats::default()
    };
    for (index, result, took) in results {
        match result {
            Ok((sink, reader, bytes)) => {
                opened[index] = Some((sink, reader));
                latencies.push(took.as_micros() as u64);
                stats.opened += 1;
                first_bytes += bytes;
                stats.first_frame_max_bytes = stats.first_frame_max_bytes.max(bytes);
            }
            Err(e) => {
                stats.failed += 1;
                stats.first_error.get_or_insert(e);
            }
        }
    }
    stats.per_second = stats.opened as f64 / seconds.max(1e-9);
    stats.first_frame_mean_bytes = first_bytes / stats.opened.max(1);
    stats.latency_ms = Percentiles::of_micros(latencies);
    (opened, stats)
}

/// Frames seen on a set of sockets, to know when things have gone quiet.
pub(crate) struct Activity {
    pub(crate) base: Instant,
    frames: AtomicU64,
    last_frame_ns: AtomicU64,
    pub(crate) closed: AtomicU64,
}

impl Activity {
    pub(crate) fn new() -> Activity {
        Activity {
            base: Instant::now(),
            frames: AtomicU64::new(0),
            last_frame_ns: AtomicU64::new(0),
            closed: AtomicU64::new(0),
        }
    }

    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    pub(crate) fn saw_frame(&self) -> u64 {
        let now = self.now_ns();
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.last_frame_ns.fetch_max(now, Ordering::Relaxed);
        now
    }

    /// Waits until no frame arrived for `quiet` (at most `limit`): after a
    /// thousand users come online, presence updates keep flowing for a while.
    pub(crate) async fn settle(&self, quiet: Duration, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let last = Duration::from_nanos(self.last_frame_ns.load(Ordering::Relaxed));
            let silent = self.base.elapsed().saturating_sub(last);
            if silent >= quiet || Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(quiet - silent).await;
        }
    }
}
