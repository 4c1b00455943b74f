//! The crowd scenario: many distinct people, one page each (a direct
//! conversation with their partner), all connecting as fast as the client
//! can, as after a restart. It measures how fast they connect, the presence
//! frames each arrival costs, the server's CPU and memory; it checks that
//! every page is told about its partner alone, and that its partner is
//! online.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::SplitStream;
use futures::StreamExt;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::database::Database;
use crate::options::Options;
use crate::progress;
use crate::report::CrowdReport;
use crate::server::{CpuMeter, RssSampler, Servers};
use crate::sockets::{open_sockets, Activity};
use crate::wire::Socket;

/// What one page was told about presence.
#[derive(Default)]
struct Told {
    /// Frames that carried presence.
    frames: AtomicU64,
    /// Presence of anyone but its partner (it shows nobody else's).
    foreign: AtomicU64,
    /// Whether the partner was last shown online.
    partner_online: AtomicBool,
}

/// The people a presence frame names, and whether it shows each online.
fn presence_in(frame: &str) -> impl Iterator<Item = (i64, bool)> + '_ {
    frame.split(r#"id="presence-"#).skip(1).filter_map(|rest| {
        let (id, after) = rest.split_once('"')?;
        Some((
            id.parse().ok()?,
            after.starts_with(r#" class="presence online""#),
        ))
    })
}

impl Told {
    /// Takes in one frame the page got.
    fn frame(&self, text: &str, partner: i64) {
        let mut carried = false;
        for (user, online) in presence_in(text) {
            carried = true;
            if user == partner {
                self.partner_online.store(online, Ordering::Relaxed);
            } else {
                self.foreign.fetch_add(1, Ordering::Relaxed);
            }
        }
        if carried {
            self.frames.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn read_page(
    first: String,
    mut stream: SplitStream<Socket>,
    partner: i64,
    told: Arc<Told>,
    activity: Arc<Activity>,
) {
    // The first frame catches up on what changed since the page was
    // rendered: a partner who arrived in between is in it.
    told.frame(&first, partner);
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(WsMessage::Text(text)) => {
                activity.saw_frame();
                told.frame(&text, partner);
            }
            Ok(WsMessage::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    activity.closed.fetch_add(1, Ordering::Relaxed);
}

pub(crate) async fn crowd(database: &Database, options: &Options) -> Result<CrowdReport, String> {
    let pairs = (options.users / 2).max(1);
    let seeded = database.seed_crowd(pairs).await?;
    let servers = Servers::start(database, options).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = servers.rss_kib();
    let meter = CpuMeter::start(&servers);
    let sampler = RssSampler::start(servers.pids());
    let activity = Arc::new(Activity::new());
    // Every pair's first page, then every second one: half the crowd is
    // online when the other half arrives and is told about each.
    let mut targets = Vec::with_capacity(pairs * 2);
    let mut partners = Vec::with_capacity(pairs * 2);
    // As if every page had been rendered now (pages say when, and their
    // socket catches up on presence since).
    let rendered = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    for side in 0..2 {
        for (conversation, members) in &seeded {
            let path = format!(
                "/conversations/{}/socket?seq=0&since={rendered}",
                conversation.get()
            );
            targets.push((path, members[side].1.clone()));
            partners.push(members[1 - side].0.get());
        }
    }
    let told: Vec<Arc<Told>> = (0..targets.len()).map(|_| Arc::default()).collect();
    let (opened, connect) = open_sockets(&servers.ports(), targets, |index, first, stream| {
        tokio::spawn(read_page(
            first,
            stream,
            partners[index],
            Arc::clone(&told[index]),
            Arc::clone(&activity),
        ))
    })
    .await;
    progress(&format!(
        "crowd: {} online in {:.1} s, waiting for quiet",
        connect.opened, connect.seconds
    ));
    activity
        .settle(Duration::from_secs(1), Duration::from_secs(60))
        .await;
    let cpu = meter.read(&servers);
    let rss_peak = sampler.peak().await;
    let rss_online = servers.rss_kib();
    let rss_per_page_kib =
        rss_online.saturating_sub(rss_before) as f64 / connect.opened.max(1) as f64;
    let frames: u64 = told.iter().map(|t| t.frames.load(Ordering::Relaxed)).sum();
    let foreign: u64 = told.iter().map(|t| t.foreign.load(Ordering::Relaxed)).sum();
    // Every page learns its partner is online: by an event if it was
    // listening when the partner arrived, else in its catch-up (which runs
    // after it starts listening, so nothing falls between the two).
    let not_told = told
        .iter()
        .filter(|t| !t.partner_online.load(Ordering::Relaxed))
        .count();
    let closed = activity.closed.load(Ordering::Relaxed);
    servers.stop().await;
    for (_, reader) in opened.into_iter().flatten() {
        reader.abort();
    }
    Ok(CrowdReport {
        users: pairs * 2,
        presence_frames_per_connect: frames as f64 / connect.opened.max(1) as f64,
        connect,
        presence_frames: frames,
        foreign_presence: foreign,
        pages_not_told: not_told,
        server_cpu_seconds: cpu.server_core_seconds,
        cpu,
        server_rss_before_kib: rss_before,
        server_rss_peak_kib: rss_peak,
        server_rss_online_kib: rss_online,
        rss_per_page_kib,
        closed,
    })
}
