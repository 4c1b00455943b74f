//! The steady and saturation scenarios: pairs of users chatting over their
//! conversation sockets at a set rate, each message followed by the tracker,
//! and afterwards checked for loss and duplicates, on the sockets and in the
//! database.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::SplitStream;
use futures::{SinkExt, StreamExt};
use natter::domain::ConversationId;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::changes::check_changes;
use crate::database::{Database, Session};
use crate::options::{Options, Scenario};
use crate::report::{
    ChatCorrectness, ChatFixture, Percentiles, Phase, Report, SaturationReport, SaturationStep,
    Second,
};
use crate::server::{cpu_seconds, machine_busy_seconds, postgres_cpu_seconds, RssSampler, Servers};
use crate::sockets::{open_sockets, Sink};
use crate::tracker::{lock, tags, Tracker};
use crate::wire::{self, Socket};
use crate::{progress, FILLER, TAG};

/// Saturation passes a step while its p99 stays under this.
const SATURATION_P99_MS: f64 = 50.0;

/// The server's per-socket send allowance: a burst, then a steady rate. A
/// sender beyond it is refused, so the driver must never need more.
fn socket_burst() -> f64 {
    f64::from(natter::limits::SOCKET_MESSAGES.burst)
}

/// Messages per second one socket may send once its burst is spent.
fn socket_rate() -> f64 {
    1.0 / natter::limits::SOCKET_MESSAGES.refill_every.as_secs_f64()
}

/// Steady and saturation share one deployment and one set of open sockets:
/// connecting a thousand conversation sockets is the slow part of both.
pub(crate) async fn chat_scenarios(
    database: &Database,
    options: &Options,
    report: &mut Report,
) -> Result<(), String> {
    let pairs = options.pairs;
    if options.runs(Scenario::Steady) {
        let per_socket = options.rate / (2.0 * pairs as f64);
        if per_socket > socket_rate() * 0.9 {
            return Err(format!(
                "{} msg/s over {pairs} pairs is {per_socket:.1} messages/s per socket; the server \
                 allows {}/s per socket, so use at least --pairs {}",
                options.rate,
                socket_rate(),
                (options.rate / (2.0 * socket_rate() * 0.9)).ceil()
            ));
        }
    }
    progress(&format!(
        "chat: seeding {pairs} pairs, opening {} sockets",
        2 * pairs
    ));
    let mut chat = Chat::setup(database, options, options.chat_capacity()).await?;
    report.chat = Some(chat.fixture.clone());

    let result = async {
        if options.runs(Scenario::Steady) {
            if options.warmup_seconds > 0.0 {
                progress("steady: warming up");
                report.warmup = Some(chat.drive(options.rate, options.warmup_seconds).await?);
            }
            progress(&format!(
                "steady: {} msg/s for {} s",
                options.rate, options.seconds
            ));
            report.steady = Some(chat.drive(options.rate, options.seconds).await?);
        }
        if options.runs(Scenario::Saturation) {
            report.saturation = Some(saturation(&mut chat, options).await?);
        }
        Ok::<(), String>(())
    }
    .await;

    // Every conversation then edits a message and deletes another.
    let changes = match &result {
        Ok(()) => Some(check_changes(database, &chat.servers, &chat.pairs, &chat.tracker).await),
        Err(_) => None,
    };
    let deleted = match &changes {
        Some(Ok(found)) => found.deleted.clone(),
        _ => HashSet::new(),
    };
    // Check what was sent even when a phase failed half-way.
    let correctness = chat.check(database, &deleted).await;
    chat.stop().await;
    result?;
    let mut correctness = correctness?;
    if let Some(changes) = changes {
        let changes = changes?;
        let x = &changes;
        if x.refused > 0 || x.lost > 0 || x.duplicated > 0 || x.not_stored > 0 {
            report.problems.push(format!(
                "changes: {} refused ({:?}), {} lost on a socket, {} shown twice, {} not in the database",
                x.refused, x.refusal_samples, x.lost, x.duplicated, x.not_stored
            ));
        }
        correctness.changes = Some(changes);
    }
    let c = &correctness;
    if c.lost_deliveries > 0 {
        report.problems.push(format!(
            "{} deliveries lost (a message missing on a member's socket)",
            c.lost_deliveries
        ));
    }
    if c.duplicate_deliveries > 0 {
        report
            .problems
            .push(format!("{} duplicate deliveries", c.duplicate_deliveries));
    }
    if c.misrouted > 0 {
        report.problems.push(format!(
            "{} messages reached a socket of another conversation",
            c.misrouted
        ));
    }
    let s = &c.store;
    let kept = s.expected - s.deleted;
    if s.missing > 0 || s.stored_twice > 0 || s.unexpected > 0 {
        report.problems.push(format!(
            "database: {} accepted messages missing, {} stored twice, {} unexpected",
            s.missing, s.stored_twice, s.unexpected
        ));
    }
    if s.stored != kept as i64 || s.stored_distinct_client_ids != kept as i64 {
        report.problems.push(format!(
            "database: {} rows ({} distinct client ids) for {} accepted messages, {} deleted since",
            s.stored, s.stored_distinct_client_ids, s.expected, s.deleted
        ));
    }
    // Under saturation a refusal is the server shedding load and saying so;
    // anywhere else it means the driver broke a server limit.
    let steady_refused = report.warmup.as_ref().map_or(0, |p| p.refused)
        + report.steady.as_ref().map_or(0, |p| p.refused);
    if steady_refused > 0 {
        report.problems.push(format!(
            "the server refused {steady_refused} messages at the steady rate: {:?}",
            c.refusal_samples
        ));
    }
    report.chat_correctness = Some(correctness);
    Ok(())
}

/// A conversation page's socket: records every frame into the tracker.
async fn read_chat(mut stream: SplitStream<Socket>, tracker: Arc<Tracker>, socket: usize) {
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(WsMessage::Text(text)) => tracker.on_frame(socket, &text),
            Ok(WsMessage::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    tracker.activity.closed.fetch_add(1, Ordering::Relaxed);
}

/// The frame the htmx ws extension sends when the message form is submitted.
fn send_frame(seq: usize, conversation_id: ConversationId, origin: &str) -> WsMessage {
    wire::message_frame(
        "unused-over-the-socket",
        &format!("b{seq}"),
        &format!("{TAG}{seq} {FILLER}"),
        Some(&format!("{origin}/conversations/{conversation_id}")),
    )
}

/// One conversation: its id, the writing halves of both members' sockets,
/// and both members' logins (for the changes made over HTTP).
pub(crate) struct Pair {
    pub(crate) conversation_id: ConversationId,
    sides: [tokio::sync::Mutex<Sink>; 2],
    pub(crate) sessions: [Session; 2],
}

/// `pairs` conversations of two users, each with one open conversation socket.
struct Chat {
    servers: Servers,
    pairs: Vec<Arc<Pair>>,
    readers: Vec<JoinHandle<()>>,
    tracker: Arc<Tracker>,
    next_seq: usize,
    fixture: ChatFixture,
}

impl Chat {
    async fn setup(
        database: &Database,
        options: &Options,
        capacity: usize,
    ) -> Result<Chat, String> {
        let pairs = options.pairs;
        let seeding = Instant::now();
        let seeded = database.seed_pairs(pairs).await?;
        let seed_seconds = seeding.elapsed().as_secs_f64();

        let servers = Servers::start(database, options).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_before = servers.rss_kib();
        let tracker = Arc::new(Tracker::new(capacity, 2 * pairs));
        let targets = seeded
            .iter()
            .flat_map(|(conversation, sessions)| {
                sessions.iter().map(move |session| {
                    (
                        format!("/conversations/{conversation}/socket?seq=0"),
                        session.token.clone(),
                    )
                })
            })
            .collect();
        // A pair's two sockets are neighbours, so with several instances each
        // message is sent on one and delivered on another.
        let (opened, connect) = open_sockets(&servers.ports(), targets, |socket, _, stream| {
            tokio::spawn(read_chat(stream, Arc::clone(&tracker), socket))
        })
        .await;
        let mut readers = Vec::with_capacity(2 * pairs);
        let mut sinks = Vec::with_capacity(2 * pairs);
        for (sink, reader) in opened.into_iter().flatten() {
            sinks.push(sink);
            readers.push(reader);
        }
        if connect.failed > 0 {
            for reader in &readers {
                reader.abort();
            }
            servers.stop().await;
            return Err(format!(
                "{} of {} conversation sockets failed to open, first: {}",
                connect.failed,
                connect.attempted,
                connect.first_error.clone().unwrap_or_default()
            ));
        }
        let mut sinks = sinks.into_iter();
        let mut built = Vec::with_capacity(pairs);
        for (conversation_id, sessions) in &seeded {
            let (Some(a), Some(b)) = (sinks.next(), sinks.next()) else {
                return Err("a socket went missing".into());
            };
            built.push(Arc::new(Pair {
                conversation_id: *conversation_id,
                sides: [tokio::sync::Mutex::new(a), tokio::sync::Mutex::new(b)],
                sessions: sessions.clone(),
            }));
        }
        // Each page then says what its inbox shows, as app.js does when its
        // socket opens (a conversation page has the inbox beside it): here,
        // nothing yet.
        for pair in &built {
            for side in &pair.sides {
                side.lock()
                    .await
                    .send(WsMessage::Text(r#"{"resume":{"inbox":[]}}"#.into()))
                    .await
                    .map_err(|e| format!("saying what a page shows: {e}"))?;
            }
        }
        progress(&format!(
            "chat: {} sockets open in {:.1} s, waiting for quiet",
            connect.opened, connect.seconds
        ));
        tracker
            .activity
            .settle(Duration::from_secs(1), Duration::from_secs(30))
            .await;
        let rss_connected = servers.rss_kib();
        Ok(Chat {
            fixture: ChatFixture {
                pairs,
                sockets: 2 * pairs,
                seed_seconds,
                connect,
                server_rss_before_kib: rss_before,
                server_rss_connected_kib: rss_connected,
            },
            servers,
            pairs: built,
            readers,
            tracker,
            next_seq: 0,
        })
    }

    /// Sends `rate` messages a second for `seconds`, spread evenly over the
    /// pairs and alternating between each pair's two members, then waits for
    /// every delivery and measures.
    async fn drive(&mut self, rate: f64, seconds: f64) -> Result<Phase, String> {
        let pairs = self.pairs.len();
        let planned =
            ((rate * seconds).round() as usize).min(self.tracker.capacity() - self.next_seq);
        let range = self.next_seq..self.next_seq + planned;
        self.next_seq += planned;
        // Each pair sends every `period`; pairs are staggered across it.
        let period = Duration::from_secs_f64(pairs as f64 / rate);
        let start = tokio::time::Instant::now() + Duration::from_millis(20);
        let cpu_before = self.servers.cpu_seconds();
        let database_before = postgres_cpu_seconds();
        let own_cpu_before = cpu_seconds("self");
        let machine_before = machine_busy_seconds();
        let cpu_clock = Instant::now();
        let sampler = RssSampler::start(self.servers.pids());
        let mut senders = Vec::with_capacity(pairs);
        for (p, pair) in self.pairs.iter().enumerate() {
            let count = (planned + pairs - 1 - p) / pairs;
            if count == 0 {
                continue;
            }
            let offset = period.mul_f64(p as f64 / pairs as f64);
            senders.push(tokio::spawn(send_loop(SendPlan {
                pair: Arc::clone(pair),
                tracker: Arc::clone(&self.tracker),
                origins: [0, 1].map(|side| self.servers.for_socket(2 * p + side).origin()),
                pair_index: p,
                pairs,
                first_seq: range.start,
                count,
                start: start + offset,
                period,
            })));
        }
        let mut lags = Vec::with_capacity(planned);
        let mut send_errors = 0;
        let mut first_error = None;
        for sender in senders {
            let outcome = sender
                .await
                .map_err(|e| format!("a sender task failed: {e}"))?;
            lags.extend(outcome.lags_us);
            send_errors += outcome.errors;
            first_error = first_error.or(outcome.first_error);
        }
        let sends_done = Instant::now();
        if let Some(e) = first_error {
            progress(&format!("{send_errors} frames could not be written: {e}"));
        }
        self.drain(range.clone()).await;
        self.servers.check_alive()?;
        let wall = cpu_clock.elapsed().as_secs_f64();
        let cpu = (self.servers.cpu_seconds() - cpu_before) / wall;
        let own_cpu = (cpu_seconds("self") - own_cpu_before) / wall;
        let database = (postgres_cpu_seconds() - database_before) / wall;
        let machine = (machine_busy_seconds() - machine_before) / wall;
        let peak = sampler.peak().await;
        Ok(self.phase(PhaseInput {
            range,
            rate,
            seconds,
            start: start.into_std(),
            sends_done,
            lags_us: lags,
            send_errors,
            cpu_percent: cpu * 100.0,
            own_cpu_percent: own_cpu * 100.0,
            database_cpu_percent: database * 100.0,
            other_cpu_percent: (machine - cpu - own_cpu - database).max(0.0) * 100.0,
            rss_peak: peak,
        }))
    }

    /// Waits until every message of `range` arrived everywhere, or until
    /// deliveries stop making progress; then a little longer, so a late
    /// duplicate would still be seen.
    async fn drain(&self, range: Range<usize>) {
        const STALLED: Duration = Duration::from_secs(5);
        const LIMIT: Duration = Duration::from_secs(120);
        let begun = Instant::now();
        let mut last_progress = Instant::now();
        let mut last_arrived = 0;
        loop {
            let (complete, arrived) = self.tracker.complete(range.clone());
            if complete {
                break;
            }
            if arrived != last_arrived {
                last_arrived = arrived;
                last_progress = Instant::now();
            }
            if last_progress.elapsed() > STALLED || begun.elapsed() > LIMIT {
                progress("deliveries stopped arriving; counting what is missing");
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    fn phase(&self, input: PhaseInput) -> Phase {
        let t = &self.tracker;
        let mut phase = Phase {
            target_rate: input.rate,
            seconds: input.seconds,
            planned: input.range.len(),
            send_errors: input.send_errors,
            server_cpu_percent: input.cpu_percent,
            bench_cpu_percent: input.own_cpu_percent,
            database_cpu_percent: input.database_cpu_percent,
            other_cpu_percent: input.other_cpu_percent,
            server_rss_peak_kib: input.rss_peak,
            send_lag_ms: Percentiles::of_micros(input.lags_us),
            ..Phase::default()
        };
        let start_ns = t.ns_of(input.start);
        let mut latencies = Vec::with_capacity(input.range.len());
        let mut seconds: Vec<Vec<u64>> = Vec::new();
        let mut echoes = Vec::with_capacity(input.range.len());
        let mut last_received = start_ns;
        for seq in input.range {
            let Some(fate) = t.fate(seq) else {
                continue;
            };
            let due = fate.due_ns;
            phase.sent += 1;
            phase.duplicates += fate.duplicates();
            if fate.refused {
                phase.refused += 1;
                continue;
            }
            phase.lost_to_recipient += usize::from(fate.lost_to_recipient());
            phase.lost_to_sender += usize::from(fate.lost_to_sender());
            if fate.to_recipient == 0 && fate.resynced != 0 {
                phase.via_resync += 1;
            }
            let echoed = t.echoed_ns[seq].load(Ordering::Acquire);
            if fate.to_sender > 0 && echoed > 0 {
                echoes.push(echoed.saturating_sub(due) / 1000);
            }
            if fate.to_recipient > 0 {
                phase.delivered += 1;
                let received = t.received_ns[seq].load(Ordering::Acquire);
                last_received = last_received.max(received);
                let latency = received.saturating_sub(due) / 1000;
                latencies.push(latency);
                let second = (due.saturating_sub(start_ns) / 1_000_000_000) as usize;
                if seconds.len() <= second {
                    seconds.resize_with(second + 1, Vec::new);
                }
                seconds[second].push(latency);
            }
        }
        let send_window = input
            .sends_done
            .saturating_duration_since(input.start)
            .as_secs_f64();
        phase.sent_per_s = phase.sent as f64 / send_window.max(1e-9);
        let delivery_window = (last_received - start_ns) as f64 / 1e9;
        phase.delivered_per_s = phase.delivered as f64 / delivery_window.max(1e-9);
        phase.latency_ms = Percentiles::of_micros(latencies);
        phase.echo_latency_ms = Percentiles::of_micros(echoes);
        phase.by_second = seconds
            .into_iter()
            .enumerate()
            .map(|(second, samples)| {
                let p = Percentiles::of_micros(samples);
                Second {
                    second,
                    delivered: p.samples,
                    p50_ms: p.p50,
                    p99_ms: p.p99,
                    max_ms: p.max,
                }
            })
            .collect();
        phase
    }

    /// Totals over every phase, and the database read back (`deleted`: the
    /// messages deleted since, whose text is rightly gone).
    async fn check(
        &self,
        database: &Database,
        deleted: &HashSet<usize>,
    ) -> Result<ChatCorrectness, String> {
        let t = &self.tracker;
        let used = 0..self.next_seq;
        let mut c = ChatCorrectness {
            misrouted: t.misrouted.load(Ordering::Relaxed),
            closed: t.activity.closed.load(Ordering::Relaxed),
            refusal_samples: lock(&t.refusal_samples).clone(),
            ..ChatCorrectness::default()
        };
        for seq in used.clone() {
            let Some(fate) = t.fate(seq) else {
                continue;
            };
            c.duplicate_deliveries += fate.duplicates();
            if fate.refused {
                c.refused += 1;
                continue;
            }
            c.store.expected += 1;
            c.lost_deliveries +=
                usize::from(fate.lost_to_recipient()) + usize::from(fate.lost_to_sender());
        }

        let stored = database.chat_messages().await?;
        c.store.stored = stored.rows;
        c.store.stored_distinct_client_ids = stored.distinct_client_ids;
        let mut copies = vec![0u32; self.next_seq];
        for body in &stored.bodies {
            match tags(body).next().filter(|&seq| seq < copies.len()) {
                Some(seq) => copies[seq] += 1,
                None => c.store.unexpected += 1,
            }
        }
        for seq in used {
            let accepted = t.due_ns[seq].load(Ordering::Acquire) != 0
                && !t.refused[seq].load(Ordering::Acquire);
            match (accepted, copies[seq]) {
                (true, 0) if deleted.contains(&seq) => c.store.deleted += 1,
                (true, 0) => c.store.missing += 1,
                (false, n) if n > 0 => c.store.unexpected += n as usize,
                (_, n) if n > 1 => c.store.stored_twice += 1,
                _ => {}
            }
        }
        Ok(c)
    }

    async fn stop(self) {
        for reader in &self.readers {
            reader.abort();
        }
        self.servers.stop().await;
    }
}

struct PhaseInput {
    range: Range<usize>,
    rate: f64,
    seconds: f64,
    start: Instant,
    sends_done: Instant,
    lags_us: Vec<u64>,
    send_errors: usize,
    cpu_percent: f64,
    own_cpu_percent: f64,
    database_cpu_percent: f64,
    other_cpu_percent: f64,
    rss_peak: u64,
}

/// What one pair's sender does in a phase.
struct SendPlan {
    pair: Arc<Pair>,
    tracker: Arc<Tracker>,
    /// The page address each side's socket belongs to.
    origins: [String; 2],
    pair_index: usize,
    pairs: usize,
    first_seq: usize,
    count: usize,
    start: tokio::time::Instant,
    period: Duration,
}

struct SendOutcome {
    lags_us: Vec<u64>,
    errors: usize,
    first_error: Option<String>,
}

/// Sends one pair's share of a phase on schedule. A tick missed because a
/// write was slow is made up at once (`Burst`), and latency counts from the
/// tick, so a sender held back by the server still charges the wait to it.
async fn send_loop(plan: SendPlan) -> SendOutcome {
    let mut ticks = tokio::time::interval_at(plan.start, plan.period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut outcome = SendOutcome {
        lags_us: Vec::with_capacity(plan.count),
        errors: 0,
        first_error: None,
    };
    for k in 0..plan.count {
        let due = ticks.tick().await.into_std();
        let seq = plan.first_seq + k * plan.pairs + plan.pair_index;
        let side = k % 2;
        let socket = plan.pair_index * 2 + side;
        plan.tracker.sending(seq, socket, due);
        let frame = send_frame(seq, plan.pair.conversation_id, &plan.origins[side]);
        let written = plan.pair.sides[side].lock().await.send(frame).await;
        outcome.lags_us.push(due.elapsed().as_micros() as u64);
        if let Err(e) = written {
            plan.tracker.not_sent(seq, socket);
            outcome.errors += 1;
            outcome.first_error.get_or_insert_with(|| e.to_string());
        }
    }
    outcome
}

/// Steps the rate up until p99 reaches 50 ms or deliveries fall behind.
async fn saturation(chat: &mut Chat, options: &Options) -> Result<SaturationReport, String> {
    let mut report = SaturationReport::default();
    let sockets = 2.0 * chat.pairs.len() as f64;
    for &rate in &options.steps {
        // Each socket may send a burst of 20, then 5 a second; a step needing
        // more would measure the limiter, not the server.
        let per_socket = rate * options.step_seconds / sockets;
        let allowance = socket_burst() + socket_rate() * options.step_seconds - 2.0;
        if per_socket > allowance {
            report.stopped_because = Some(format!(
                "{rate} msg/s for {} s needs {per_socket:.0} sends per socket, over the \
                 server's per-socket allowance ({allowance:.0}); use more --pairs",
                options.step_seconds
            ));
            break;
        }
        progress(&format!(
            "saturation: {rate} msg/s for {} s",
            options.step_seconds
        ));
        let phase = chat.drive(rate, options.step_seconds).await?;
        let kept_up = phase.delivered_per_s >= 0.9 * rate;
        let clean = phase.refused == 0
            && phase.lost_to_recipient == 0
            && phase.lost_to_sender == 0
            && phase.via_resync == 0;
        let passed = phase.latency_ms.p99 < SATURATION_P99_MS && kept_up && clean;
        report.peak_delivered_per_s = report.peak_delivered_per_s.max(phase.delivered_per_s);
        let why = (!passed).then(|| {
            format!(
                "at {rate} msg/s: p99 {:.1} ms, delivered {:.0}/s, {} refused, {} lost, {} via resync",
                phase.latency_ms.p99,
                phase.delivered_per_s,
                phase.refused,
                phase.lost_to_recipient + phase.lost_to_sender,
                phase.via_resync
            )
        });
        report.steps.push(SaturationStep { phase, passed });
        if let Some(why) = why {
            report.stopped_because = Some(why);
            break;
        }
        report.max_rate_p99_under_50ms = Some(rate);
        // Let the sockets' send allowance refill before the next step.
        let overdraft = per_socket - socket_rate() * options.step_seconds;
        if overdraft > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(overdraft / socket_rate())).await;
        }
    }
    Ok(report)
}
