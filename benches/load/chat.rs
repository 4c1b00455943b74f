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
    ChatCorrectness, ChatFixture, ConnectStats, CpuShare, LoadAverage, Percentiles, Phase, Report,
    SaturationReport, SaturationStep, Second,
};
use crate::server::{CpuMeter, RssSampler, Servers};
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
pub(crate) fn socket_rate() -> f64 {
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
    // Each scenario's load average is taken from when work for it begins:
    // the shared setup counts as the first one's.
    let mut steady_load = options
        .runs(Scenario::Steady)
        .then(|| LoadAverage::begin("steady"));
    let mut saturation_load = (options.runs(Scenario::Saturation) && steady_load.is_none())
        .then(|| LoadAverage::begin("saturation"));
    progress(&format!(
        "chat: seeding {pairs} pairs, opening {} sockets",
        2 * pairs
    ));
    let mut chat = Chat::setup(database, options, options.chat_capacity()).await?;
    report.chat = Some(chat.fixture.clone());

    let result = async {
        if let Some(load) = steady_load.take() {
            if options.warmup_seconds > 0.0 {
                progress("steady: warming up");
                report.warmup = Some(chat.drive(options.rate, options.warmup_seconds).await?);
            }
            progress(&format!(
                "steady: {} msg/s for {} s",
                options.rate, options.seconds
            ));
            let steady = chat.drive(options.rate, options.seconds).await;
            report.load_average.push(load.end());
            report.steady = Some(steady?);
        }
        if options.runs(Scenario::Saturation) {
            let load = saturation_load
                .take()
                .unwrap_or_else(|| LoadAverage::begin("saturation"));
            let saturation = saturation(&mut chat, options).await;
            report.load_average.push(load.end());
            report.saturation = Some(saturation?);
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
    let correctness = check_messages(&chat.tracker, 0..chat.next_seq, database, &deleted).await;
    chat.stop().await;
    result?;
    let mut correctness = correctness?;
    if let Some(changes) = changes {
        correctness.changes = Some(changes?);
    }
    let c = &correctness;
    report.problems.extend(c.problems(None));
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
pub(crate) async fn read_chat(
    mut stream: SplitStream<Socket>,
    tracker: Arc<Tracker>,
    socket: usize,
) {
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

/// One conversation: its id and both members' logins (for the changes made
/// over HTTP). Its members' sockets are `2 * pair` and `2 * pair + 1`.
pub(crate) struct Pair {
    pub(crate) conversation_id: ConversationId,
    pub(crate) sessions: [Session; 2],
}

/// Conversation sockets open as their pages have them, each read into a
/// tracker, by socket index.
pub(crate) struct ConversationSockets {
    /// The writing halves.
    pub(crate) sinks: Arc<[tokio::sync::Mutex<Sink>]>,
    /// The page address each socket belongs to (its instance's origin).
    pub(crate) origins: Arc<[String]>,
    readers: Vec<JoinHandle<()>>,
    pub(crate) connect: ConnectStats,
}

impl ConversationSockets {
    /// Opens one socket per `(conversation, session token)`, socket `i` on
    /// instance `i % n`, each read by `read_chat` into `tracker`; then each
    /// page says what its inbox shows and the sockets are left to go quiet.
    pub(crate) async fn open(
        servers: &Servers,
        tracker: &Arc<Tracker>,
        targets: Vec<(ConversationId, String)>,
        what: &str,
    ) -> Result<ConversationSockets, String> {
        let count = targets.len();
        let targets = targets
            .into_iter()
            .map(|(conversation, token)| {
                (format!("/conversations/{conversation}/socket?seq=0"), token)
            })
            .collect();
        let (opened, connect) = open_sockets(&servers.ports(), targets, |socket, _, stream| {
            tokio::spawn(read_chat(stream, Arc::clone(tracker), socket))
        })
        .await;
        let mut readers = Vec::with_capacity(count);
        let mut sinks = Vec::with_capacity(count);
        for (sink, reader) in opened.into_iter().flatten() {
            sinks.push(sink);
            readers.push(reader);
        }
        let sockets = ConversationSockets {
            sinks: sinks.into_iter().map(tokio::sync::Mutex::new).collect(),
            origins: (0..count).map(|i| servers.for_socket(i).origin()).collect(),
            readers,
            connect,
        };
        if sockets.connect.failed > 0 {
            sockets.abort();
            return Err(format!(
                "{} of {} conversation sockets failed to open, first: {}",
                sockets.connect.failed,
                sockets.connect.attempted,
                sockets.connect.first_error.clone().unwrap_or_default()
            ));
        }
        // Each page then says what its inbox shows, as app.js does when its
        // socket opens (a conversation page has the inbox beside it): here,
        // nothing yet.
        for sink in sockets.sinks.iter() {
            let said = sink
                .lock()
                .await
                .send(WsMessage::Text(r#"{"resume":{"inbox":[]}}"#.into()))
                .await;
            if let Err(e) = said {
                sockets.abort();
                return Err(format!("saying what a page shows: {e}"));
            }
        }
        progress(&format!(
            "{what}: {} sockets open in {:.1} s, waiting for quiet",
            sockets.connect.opened, sockets.connect.seconds
        ));
        tracker
            .activity
            .settle(Duration::from_secs(1), Duration::from_secs(30))
            .await;
        Ok(sockets)
    }

    /// Stops reading (the servers close the sockets when stopped).
    pub(crate) fn abort(&self) {
        for reader in &self.readers {
            reader.abort();
        }
    }
}

/// `pairs` conversations of two users, each with one open conversation socket.
struct Chat {
    servers: Servers,
    pairs: Vec<Arc<Pair>>,
    sockets: ConversationSockets,
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
        let tracker = Arc::new(Tracker::new(capacity, 2 * pairs, 2));
        // A pair's two sockets are neighbours, so with several instances each
        // message is sent on one and delivered on another.
        let targets = seeded
            .iter()
            .flat_map(|(conversation, sessions)| {
                sessions
                    .iter()
                    .map(move |session| (*conversation, session.token.clone()))
            })
            .collect();
        let sockets = match ConversationSockets::open(&servers, &tracker, targets, "chat").await {
            Ok(sockets) => sockets,
            Err(e) => {
                servers.stop().await;
                return Err(e);
            }
        };
        let built = seeded
            .into_iter()
            .map(|(conversation_id, sessions)| {
                Arc::new(Pair {
                    conversation_id,
                    sessions,
                })
            })
            .collect();
        let rss_connected = servers.rss_kib();
        Ok(Chat {
            fixture: ChatFixture {
                pairs,
                sockets: 2 * pairs,
                seed_seconds,
                connect: sockets.connect.clone(),
                server_rss_before_kib: rss_before,
                server_rss_connected_kib: rss_connected,
            },
            servers,
            pairs: built,
            sockets,
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
        let meter = CpuMeter::start(&self.servers);
        let sampler = RssSampler::start(self.servers.pids());
        let mut senders = Vec::with_capacity(pairs);
        for (p, pair) in self.pairs.iter().enumerate() {
            let count = (planned + pairs - 1 - p) / pairs;
            if count == 0 {
                continue;
            }
            // Pair `p` sends every `pairs`-th message, its sides taking turns.
            let sends = (0..count)
                .map(|k| (range.start + k * pairs + p, 2 * p + k % 2))
                .collect();
            let offset = period.mul_f64(p as f64 / pairs as f64);
            senders.push(tokio::spawn(send_loop(SendPlan {
                tracker: Arc::clone(&self.tracker),
                sinks: Arc::clone(&self.sockets.sinks),
                origins: Arc::clone(&self.sockets.origins),
                conversation_id: pair.conversation_id,
                sends,
                start: start + offset,
                period,
            })));
        }
        let mut sent = SendOutcome::default();
        for sender in senders {
            sent.add(
                sender
                    .await
                    .map_err(|e| format!("a sender task failed: {e}"))?,
            );
        }
        let sends_done = Instant::now();
        sent.tell_errors();
        self.tracker.drain(range.clone()).await;
        self.servers.check_alive()?;
        let cpu = meter.read(&self.servers);
        let peak = sampler.peak().await;
        Ok(self.phase(PhaseInput {
            range,
            rate,
            seconds,
            start: start.into_std(),
            sends_done,
            lags_us: sent.lags_us,
            send_errors: sent.errors,
            cpu,
            rss_peak: peak,
        }))
    }

    fn phase(&self, input: PhaseInput) -> Phase {
        let t = &self.tracker;
        let mut phase = Phase {
            target_rate: input.rate,
            seconds: input.seconds,
            planned: input.range.len(),
            send_errors: input.send_errors,
            cpu: input.cpu,
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
            phase.duplicates += fate.duplicates;
            if fate.refused {
                phase.refused += 1;
                continue;
            }
            phase.lost_to_recipient += usize::from(fate.missed_by_recipients > 0);
            phase.lost_to_sender += usize::from(fate.missed_by_sender);
            phase.via_resync += usize::from(fate.resynced_only > 0);
            if fate.to_sender > 0 && fate.echoed_ns > 0 {
                echoes.push(fate.echoed_ns.saturating_sub(due) / 1000);
            }
            // A pair has one recipient.
            if let Some(&received) = fate.received_ns.iter().min() {
                phase.delivered += 1;
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

    async fn stop(self) {
        self.sockets.abort();
        self.servers.stop().await;
    }
}

/// Totals over the messages `used`, and the database read back (`deleted`:
/// the messages deleted since, whose text is rightly gone).
pub(crate) async fn check_messages(
    t: &Tracker,
    used: Range<usize>,
    database: &Database,
    deleted: &HashSet<usize>,
) -> Result<ChatCorrectness, String> {
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
        c.duplicate_deliveries += fate.duplicates;
        if fate.refused {
            c.refused += 1;
            continue;
        }
        c.store.expected += 1;
        c.lost_deliveries += fate.lost();
    }

    let stored = database.chat_messages().await?;
    c.store.stored = stored.rows;
    c.store.stored_distinct_client_ids = stored.distinct_client_ids;
    let mut copies = vec![0u32; used.end];
    for body in &stored.bodies {
        match tags(body).next().filter(|&seq| seq < copies.len()) {
            Some(seq) => copies[seq] += 1,
            None => c.store.unexpected += 1,
        }
    }
    for seq in used {
        let accepted =
            t.due_ns[seq].load(Ordering::Acquire) != 0 && !t.refused[seq].load(Ordering::Acquire);
        match (accepted, copies[seq]) {
            (true, 0) if deleted.contains(&seq) => c.store.deleted += 1,
            (true, 0) => {
                c.store.missing += 1;
                // Shown on its sender's page: the server had confirmed it.
                if t.fate(seq).is_some_and(|fate| fate.to_sender > 0) {
                    c.store.confirmed_missing += 1;
                }
            }
            (false, n) if n > 0 => c.store.unexpected += n as usize,
            (_, n) if n > 1 => c.store.stored_twice += 1,
            _ => {}
        }
    }
    Ok(c)
}

struct PhaseInput {
    range: Range<usize>,
    rate: f64,
    seconds: f64,
    start: Instant,
    sends_done: Instant,
    lags_us: Vec<u64>,
    send_errors: usize,
    cpu: CpuShare,
    rss_peak: u64,
}

/// What one sender does in a phase: messages into one conversation, each
/// from one of its members' sockets, one a tick.
pub(crate) struct SendPlan {
    pub(crate) tracker: Arc<Tracker>,
    /// Every socket, by index.
    pub(crate) sinks: Arc<[tokio::sync::Mutex<Sink>]>,
    /// The page address each socket belongs to.
    pub(crate) origins: Arc<[String]>,
    pub(crate) conversation_id: ConversationId,
    /// `(seq, socket)` of each message, in the order sent.
    pub(crate) sends: Vec<(usize, usize)>,
    pub(crate) start: tokio::time::Instant,
    pub(crate) period: Duration,
}

#[derive(Default)]
pub(crate) struct SendOutcome {
    pub(crate) lags_us: Vec<u64>,
    pub(crate) errors: usize,
    pub(crate) first_error: Option<String>,
}

impl SendOutcome {
    fn add(&mut self, other: SendOutcome) {
        self.lags_us.extend(other.lags_us);
        self.errors += other.errors;
        self.first_error = self.first_error.take().or(other.first_error);
    }

    /// Says so on the console if some frames could not be written.
    pub(crate) fn tell_errors(&self) {
        if let Some(e) = &self.first_error {
            progress(&format!("{} frames could not be written: {e}", self.errors));
        }
    }
}

/// Sends a plan's messages on schedule. A tick missed because a write was
/// slow is made up at once (`Burst`), and latency counts from the tick, so a
/// sender held back by the server still charges the wait to it.
pub(crate) async fn send_loop(plan: SendPlan) -> SendOutcome {
    let mut ticks = tokio::time::interval_at(plan.start, plan.period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut outcome = SendOutcome {
        lags_us: Vec::with_capacity(plan.sends.len()),
        ..SendOutcome::default()
    };
    for &(seq, socket) in &plan.sends {
        let due = ticks.tick().await.into_std();
        plan.tracker.sending(seq, socket, due);
        let frame = send_frame(seq, plan.conversation_id, &plan.origins[socket]);
        let written = plan.sinks[socket].lock().await.send(frame).await;
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
