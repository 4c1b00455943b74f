//! The group scenario: one big group, every member with its conversation page
//! open, and messages sent into it by random members at a set rate. It
//! measures what delivering to many costs: frames pushed to all sockets,
//! latency at each receiving socket, the server's CPU and memory while
//! sending; and it checks that every message reached every member's socket,
//! the sender's own included, exactly once, and was stored once.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;

use crate::chat::{check_messages, send_loop, socket_rate, ConversationSockets, SendPlan};
use crate::database::Database;
use crate::options::Options;
use crate::progress;
use crate::report::{GroupReport, Percentiles};
use crate::server::{CpuMeter, RssSampler, Servers};
use crate::tracker::Tracker;

/// Seeds the group, opens every member's page and sends into it.
pub(crate) async fn group(database: &Database, options: &Options) -> Result<GroupReport, String> {
    let members = options.members;
    let rate = options.group_rate;
    // Random senders, but every member takes a turn before anyone's next, so
    // each sends `rate / members` a second.
    let per_member = rate / members as f64;
    if per_member > socket_rate() * 0.9 {
        return Err(format!(
            "{rate} msg/s over {members} members is {per_member:.1} messages/s per member; the \
             server allows {}/s per socket, so use at least --members {}",
            socket_rate(),
            (rate / (socket_rate() * 0.9)).ceil()
        ));
    }
    let seeding = Instant::now();
    let (conversation_id, sessions) = database.seed_group(members).await?;
    let seed_seconds = seeding.elapsed().as_secs_f64();

    let mut servers = Servers::start(database, options).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = servers.rss_kib();
    let planned = ((rate * options.seconds).round() as usize).max(1);
    // One conversation, every member's socket in it.
    let tracker = Arc::new(Tracker::new(planned, members, members));
    let targets = sessions
        .into_iter()
        .map(|session| (conversation_id, session.token))
        .collect();
    let sockets = match ConversationSockets::open(&servers, &tracker, targets, "group").await {
        Ok(sockets) => sockets,
        Err(e) => {
            servers.stop().await;
            return Err(e);
        }
    };
    let rss_connected = servers.rss_kib();

    progress(&format!(
        "group: {rate} msg/s for {} s into {members} members",
        options.seconds
    ));
    let mut rng = rand::thread_rng();
    let mut order: Vec<usize> = (0..members).collect();
    let mut senders = Vec::with_capacity(planned);
    while senders.len() < planned {
        order.shuffle(&mut rng);
        senders.extend(order.iter().take(planned - senders.len()));
    }
    // Message `seq` from member `senders[seq]`'s socket.
    let sends = senders.into_iter().enumerate().collect();
    let sent = async {
        let start = tokio::time::Instant::now() + Duration::from_millis(20);
        let meter = CpuMeter::start(&servers);
        let sampler = RssSampler::start(servers.pids());
        let outcome = send_loop(SendPlan {
            tracker: Arc::clone(&tracker),
            sinks: Arc::clone(&sockets.sinks),
            origins: Arc::clone(&sockets.origins),
            conversation_id,
            sends,
            start,
            period: Duration::from_secs_f64(1.0 / rate),
        })
        .await;
        let sends_done = Instant::now();
        outcome.tell_errors();
        tracker.drain(0..planned).await;
        servers.check_alive()?;
        let cpu = meter.read(&servers);
        let peak = sampler.peak().await;
        Ok::<_, String>((start.into_std(), sends_done, outcome, cpu, peak))
    }
    .await;
    let correctness = check_messages(&tracker, 0..planned, database, &HashSet::new()).await;
    sockets.abort();
    servers.stop().await;
    let (start, sends_done, outcome, cpu, peak) = sent?;
    let correctness = correctness?;

    let mut report = GroupReport {
        members,
        seed_seconds,
        connect: sockets.connect,
        target_rate: rate,
        seconds: options.seconds,
        planned,
        sent: 0,
        sent_per_s: 0.0,
        send_errors: outcome.errors,
        refused: 0,
        deliveries: 0,
        deliveries_per_s: 0.0,
        deliveries_per_message: 0.0,
        via_resync: 0,
        latency_ms: Percentiles::default(),
        last_member_ms: Percentiles::default(),
        send_lag_ms: Percentiles::of_micros(outcome.lags_us),
        cpu,
        server_rss_before_kib: rss_before,
        server_rss_connected_kib: rss_connected,
        server_rss_peak_kib: peak,
        correctness,
    };
    let start_ns = tracker.ns_of(start);
    let mut last_received = start_ns;
    let mut latencies = Vec::with_capacity(planned * (members - 1));
    let mut last_member = Vec::with_capacity(planned);
    let mut accepted = 0usize;
    for seq in 0..planned {
        let Some(fate) = tracker.fate(seq) else {
            continue;
        };
        report.sent += 1;
        if fate.refused {
            report.refused += 1;
            continue;
        }
        accepted += 1;
        report.via_resync += fate.resynced_only;
        report.deliveries += fate.received_ns.len() + usize::from(fate.to_sender > 0);
        let due = fate.due_ns;
        latencies.extend(
            fate.received_ns
                .iter()
                .map(|r| r.saturating_sub(due) / 1000),
        );
        let newest = fate.received_ns.iter().copied().max().unwrap_or(0);
        last_received = last_received.max(newest).max(fate.echoed_ns);
        if fate.received_ns.len() == members - 1 {
            last_member.push(newest.saturating_sub(due) / 1000);
        }
    }
    let send_window = sends_done.saturating_duration_since(start).as_secs_f64();
    report.sent_per_s = report.sent as f64 / send_window.max(1e-9);
    let delivery_window = (last_received - start_ns) as f64 / 1e9;
    report.deliveries_per_s = report.deliveries as f64 / delivery_window.max(1e-9);
    report.deliveries_per_message = report.deliveries as f64 / accepted.max(1) as f64;
    report.latency_ms = Percentiles::of_micros(latencies);
    report.last_member_ms = Percentiles::of_micros(last_member);
    Ok(report)
}
