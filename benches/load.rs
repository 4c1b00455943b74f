//! Natter's load generator: `cargo bench --bench load -- [flags]`.
//!
//! Every scenario starts the real server binary (built with the bench, that is
//! release, profile) on an ephemeral port with a fresh SQLite database, or
//! (`--postgres`) several instances on ports of their own sharing a fresh
//! PostgreSQL database, with sockets spread over them. Users,
//! sessions and conversations are seeded straight into the database through
//! the library, because an argon2 hash per sign-up would take minutes. Sockets
//! are then opened exactly as the browser's htmx ws extension opens them
//! (session cookie, `Origin` header, JSON frames), messages are driven at a set
//! rate, and the figures a user would notice are measured: send→receive
//! latency at the receiving socket, throughput, how fast sockets connect, and
//! the server's resident memory (`VmRSS`).
//!
//! Afterwards every message is checked: stored exactly once (read back from the
//! database) and delivered exactly once to every open socket of both members
//! of its conversation. Any loss, duplicate or misdelivery makes the process
//! exit non-zero. `benches/README.md` lists the flags, scenarios and results.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::ops::Range;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use natter::store::Pool;
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqlitePoolOptions, SqliteSynchronous};
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const USAGE: &str = "\
Natter load generator

usage: cargo bench --bench load -- [flags]

  --scenario NAME   idle | steady | saturation | history | all (default: all)
  --quick           tiny correctness smoke: checks loss and duplicates only
  --pairs N         conversations (two users, one socket each) for steady and
                    saturation (default 500; quick 10)
  --rate N          steady message rate, messages/s (default 1000; quick 50)
  --seconds S       steady duration (default 15; quick 4)
  --sockets N       idle sockets (default 10000; quick 50)
  --history N       messages stored in the history conversation (default 100000; quick 1000)
  --page-loads N    timed page loads in the history scenario (default 200; quick 20)
  --steps A,B,...   saturation rates, messages/s (default 500,1000,2000,4000,8000)
  --step-seconds S  duration of each saturation step (default 3; quick 1)
  --json PATH       where the JSON report goes (default target/bench-load.json)
  --server PATH     run this natter binary instead of the one built with the
                    bench, to compare builds (it must use the same schema)
  --server-env K=V  extra environment for the server (repeatable), e.g. to try
                    another pool size: ROCKET_DATABASES={natter={max_connections=1}}
  --postgres URL    run on PostgreSQL instead of SQLite: a fresh database is made
                    on this server (e.g. postgres://postgres@127.0.0.1:5432) and
                    dropped afterwards
  --instances N     server instances sharing the database (default 2 with
                    --postgres, else 1); each pair's two sockets go to different
                    instances, so every message crosses between them
  --help            this text
";

/// Saturation passes a step while its p99 stays under this.
const SATURATION_P99_MS: f64 = 50.0;
/// Sockets opened at once while connecting: a busy page load, not a flood.
const CONNECT_CONCURRENCY: usize = 64;
/// Idle sockets per user: a little under the server's cap per user, so a
/// socket still being counted out never gets a new one refused.
const IDLE_SOCKETS_PER_USER: usize = natter::limits::SOCKETS_PER_USER - 2;

/// The server's per-socket send allowance: a burst, then a steady rate. A
/// sender beyond it is refused, so the driver must never need more.
fn socket_burst() -> f64 {
    f64::from(natter::limits::SOCKET_MESSAGES.burst)
}

/// Messages per second one socket may send once its burst is spent.
fn socket_rate() -> f64 {
    1.0 / natter::limits::SOCKET_MESSAGES.refill_every.as_secs_f64()
}
/// What every message body starts with; only letters, digits and `-`, so the
/// server's HTML escaping leaves it as is and it can be found in a frame.
const TAG: &str = "bench-";
/// Rest of each body, so a message is about the size of a short chat line.
const FILLER: &str = "the quick brown fox jumps over the lazy dog";
/// Marks a pushed message (an htmx out-of-band append to the live region).
const APPEND_MARKER: &str = r#"hx-swap-oob="beforeend:#live""#;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Sink = SplitSink<Ws, WsMessage>;

// ---------------------------------------------------------------- options

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Scenario {
    Idle,
    Steady,
    Saturation,
    History,
    All,
}

#[derive(Debug, Clone, Serialize)]
struct Options {
    scenario: Scenario,
    quick: bool,
    pairs: usize,
    rate: f64,
    seconds: f64,
    sockets: usize,
    history: usize,
    page_loads: usize,
    steps: Vec<f64>,
    step_seconds: f64,
    /// A short run at the steady rate before measuring, so cold statement
    /// caches and first-use allocations do not land in the steady p99.
    warmup_seconds: f64,
    json: PathBuf,
    server: PathBuf,
    server_env: Vec<(String, String)>,
    /// The PostgreSQL server to run on, when not SQLite.
    postgres: Option<String>,
    instances: usize,
}

impl Options {
    /// Reads the flags; `None` for `--help`.
    fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
        let args: Vec<String> = args.into_iter().collect();
        let quick = args.iter().any(|a| a == "--quick");
        let mut options = if quick {
            Options {
                scenario: Scenario::All,
                quick,
                pairs: 10,
                rate: 50.0,
                seconds: 4.0,
                sockets: 50,
                history: 1000,
                page_loads: 20,
                steps: vec![40.0, 80.0],
                step_seconds: 1.0,
                warmup_seconds: 0.0,
                json: PathBuf::from("target/bench-load.json"),
                server: PathBuf::from(env!("CARGO_BIN_EXE_natter")),
                server_env: Vec::new(),
                postgres: None,
                instances: 0,
            }
        } else {
            Options {
                scenario: Scenario::All,
                quick,
                pairs: 500,
                rate: 1000.0,
                seconds: 15.0,
                sockets: 10_000,
                history: 100_000,
                page_loads: 200,
                steps: vec![500.0, 1000.0, 2000.0, 4000.0, 8000.0],
                step_seconds: 3.0,
                warmup_seconds: 1.0,
                json: PathBuf::from("target/bench-load.json"),
                server: PathBuf::from(env!("CARGO_BIN_EXE_natter")),
                server_env: Vec::new(),
                postgres: None,
                instances: 0,
            }
        };
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                // `cargo bench` passes `--bench` to every bench binary.
                "--bench" | "--quick" => {}
                "--help" | "-h" => return Ok(None),
                "--scenario" => {
                    options.scenario = match value()?.as_str() {
                        "idle" => Scenario::Idle,
                        "steady" => Scenario::Steady,
                        "saturation" => Scenario::Saturation,
                        "history" => Scenario::History,
                        "all" => Scenario::All,
                        other => return Err(format!("unknown scenario {other:?}")),
                    }
                }
                "--pairs" => options.pairs = number(&flag, &value()?)?,
                "--rate" => options.rate = number(&flag, &value()?)?,
                "--seconds" => options.seconds = number(&flag, &value()?)?,
                "--sockets" => options.sockets = number(&flag, &value()?)?,
                "--history" => options.history = number(&flag, &value()?)?,
                "--page-loads" => options.page_loads = number(&flag, &value()?)?,
                "--step-seconds" => options.step_seconds = number(&flag, &value()?)?,
                "--steps" => {
                    options.steps = value()?
                        .split(',')
                        .map(|step| number(&flag, step.trim()))
                        .collect::<Result<_, _>>()?
                }
                "--json" => options.json = PathBuf::from(value()?),
                "--server" => options.server = PathBuf::from(value()?),
                "--server-env" => {
                    let pair = value()?;
                    let (key, val) = pair
                        .split_once('=')
                        .ok_or_else(|| format!("--server-env wants KEY=VALUE, not {pair:?}"))?;
                    options.server_env.push((key.to_owned(), val.to_owned()));
                }
                "--postgres" => options.postgres = Some(value()?.trim_end_matches('/').to_owned()),
                "--instances" => options.instances = number(&flag, &value()?)?,
                other => return Err(format!("unknown flag {other:?}")),
            }
        }
        if options.instances == 0 {
            options.instances = if options.postgres.is_some() { 2 } else { 1 };
        }
        if options.instances > 1 && options.postgres.is_none() {
            return Err("several --instances share one database: add --postgres URL".into());
        }
        let positive = [
            ("--pairs", options.pairs as f64),
            ("--rate", options.rate),
            ("--seconds", options.seconds),
            ("--sockets", options.sockets as f64),
            ("--history", options.history as f64),
            ("--page-loads", options.page_loads as f64),
            ("--step-seconds", options.step_seconds),
        ];
        if let Some((flag, _)) = positive.iter().find(|(_, v)| v.is_nan() || *v <= 0.0) {
            return Err(format!("{flag} must be positive"));
        }
        if options.steps.iter().any(|s| s.is_nan() || *s <= 0.0) {
            return Err("--steps must be positive rates".into());
        }
        Ok(Some(options))
    }

    fn runs(&self, scenario: Scenario) -> bool {
        self.scenario == Scenario::All || self.scenario == scenario
    }

    /// Messages the chat fixture may send in total, so its tables are sized once.
    fn chat_capacity(&self) -> usize {
        let mut total = 0.0;
        if self.runs(Scenario::Steady) {
            total += self.rate * (self.seconds + self.warmup_seconds);
        }
        if self.runs(Scenario::Saturation) {
            total += self
                .steps
                .iter()
                .map(|r| r * self.step_seconds)
                .sum::<f64>();
        }
        total.ceil() as usize + 16
    }
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag}: {text:?} is not a number"))
}

// ---------------------------------------------------------------- report

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
struct Percentiles {
    samples: usize,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

impl Percentiles {
    /// From samples in microseconds (nearest-rank percentiles).
    fn of_micros(mut samples: Vec<u64>) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let rank = |q: f64| {
            let index = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[index] as f64 / 1000.0
        };
        Percentiles {
            samples: samples.len(),
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: rank(1.0),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
struct ConnectStats {
    attempted: usize,
    opened: usize,
    failed: usize,
    first_error: Option<String>,
    seconds: f64,
    /// Sockets opened per second, each counted once its first frame arrived.
    per_second: f64,
    /// Handshake to first frame (the server's resync), per socket.
    latency_ms: Percentiles,
    /// Size of that first frame (contact list and live region).
    first_frame_mean_bytes: usize,
    first_frame_max_bytes: usize,
}

#[derive(Debug, Clone, Serialize)]
struct IdleReport {
    sockets: usize,
    users: usize,
    connect: ConnectStats,
    server_rss_before_kib: u64,
    server_rss_idle_kib: u64,
    /// (idle RSS − RSS before any socket) / sockets opened.
    rss_per_socket_kib: f64,
    /// Sockets that closed while they should have stayed open.
    closed: u64,
}

/// One stretch of driven load (warm-up, steady, or a saturation step).
#[derive(Debug, Clone, Default, Serialize)]
struct Phase {
    target_rate: f64,
    seconds: f64,
    /// Messages scheduled.
    planned: usize,
    /// Frames written to a socket.
    sent: usize,
    send_errors: usize,
    /// Sends the server answered with an error (not stored, the user is told).
    refused: usize,
    sent_per_s: f64,
    /// Messages that reached the recipient's socket.
    delivered: usize,
    delivered_per_s: f64,
    /// From the moment each message was due to be sent to its arrival at the
    /// recipient's socket.
    latency_ms: Percentiles,
    /// The same to the sender's own socket, which shows the message without
    /// first recording a read receipt.
    echo_latency_ms: Percentiles,
    /// How late the sender wrote frames behind their schedule (client side).
    send_lag_ms: Percentiles,
    lost_to_recipient: usize,
    lost_to_sender: usize,
    duplicates: usize,
    /// Messages that arrived in a resync (the socket had fallen behind)
    /// rather than as a push: shown on the page, but late.
    via_resync: usize,
    /// CPU used during the phase (drain included), in % of one core; the
    /// bench shares the machine's cores with the server.
    server_cpu_percent: f64,
    /// PostgreSQL's processes on this machine (0 on SQLite, which runs
    /// inside the server).
    database_cpu_percent: f64,
    bench_cpu_percent: f64,
    /// Everything else on the machine (kernel work for loopback included):
    /// high values mean the figures were disturbed by another load.
    other_cpu_percent: f64,
    server_rss_peak_kib: u64,
    /// Latency of the messages due in each second of the phase: shows
    /// whether a queue builds up.
    by_second: Vec<Second>,
}

#[derive(Debug, Clone, Default, Serialize)]
struct Second {
    second: usize,
    delivered: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
struct SaturationStep {
    phase: Phase,
    passed: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
struct SaturationReport {
    steps: Vec<SaturationStep>,
    /// Highest step rate whose p99 stayed under 50 ms with every message
    /// delivered, none refused and deliveries keeping up with the rate.
    max_rate_p99_under_50ms: Option<f64>,
    /// Highest delivered rate seen in any step.
    peak_delivered_per_s: f64,
    stopped_because: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
struct ChatFixture {
    pairs: usize,
    sockets: usize,
    seed_seconds: f64,
    connect: ConnectStats,
    server_rss_before_kib: u64,
    server_rss_connected_kib: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
struct StoreCheck {
    /// Messages the server accepted (sent and not refused).
    expected: usize,
    /// `SELECT COUNT(*), COUNT(DISTINCT client_id) ... WHERE body LIKE 'bench-%'`.
    stored: i64,
    stored_distinct_client_ids: i64,
    missing: usize,
    stored_twice: usize,
    /// Stored although refused or never sent.
    unexpected: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
struct ChatCorrectness {
    lost_deliveries: usize,
    duplicate_deliveries: usize,
    /// Messages seen on a socket of a conversation they do not belong to.
    misrouted: u64,
    /// Sockets that closed during the run.
    closed: u64,
    refused: usize,
    refusal_samples: Vec<String>,
    store: StoreCheck,
}

#[derive(Debug, Clone, Serialize)]
struct HistoryReport {
    messages: usize,
    seed_seconds: f64,
    /// The very first open: marks 100k messages read, cold caches.
    first_open_ms: f64,
    /// `GET /conversations/<id>`: the newest page, sidebar and composer.
    open_ms: Percentiles,
    /// `GET /conversations/<id>/messages?before=<middle>`: a page from the middle.
    earlier_page_ms: Percentiles,
    page_bytes: usize,
    server_rss_kib: u64,
}

#[derive(Debug, Clone, Serialize)]
struct Report {
    options: Options,
    cores: usize,
    fd_limit: u64,
    idle: Option<IdleReport>,
    chat: Option<ChatFixture>,
    warmup: Option<Phase>,
    steady: Option<Phase>,
    saturation: Option<SaturationReport>,
    chat_correctness: Option<ChatCorrectness>,
    history: Option<HistoryReport>,
    elapsed_seconds: f64,
    /// Everything that makes the run fail: loss, duplicates, misdelivery, errors.
    problems: Vec<String>,
    /// Caveats about the figures (not failures).
    notes: Vec<String>,
    passed: bool,
}

// ---------------------------------------------------------------- main

fn main() {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}");
            return;
        }
        Err(e) => {
            eprintln!("{e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let code = runtime.block_on(run(options));
    // Reader tasks of sockets already closed may linger; do not wait on them.
    runtime.shutdown_timeout(Duration::from_secs(1));
    std::process::exit(code);
}

async fn run(mut options: Options) -> i32 {
    let started = Instant::now();
    let fd_limit = raise_fd_limit();
    // Each socket is a descriptor here and one in the server (which inherits
    // this limit); keep some for the database, HTTP and the runtime.
    let fd_room = (fd_limit.saturating_sub(256)) as usize;
    if options.runs(Scenario::Idle) && options.sockets > fd_room {
        eprintln!(
            "note: the file-descriptor limit is {fd_limit}; opening {fd_room} idle sockets instead of {}",
            options.sockets
        );
        options.sockets = fd_room.max(1);
    }
    let mut report = Report {
        options: options.clone(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        fd_limit,
        idle: None,
        chat: None,
        warmup: None,
        steady: None,
        saturation: None,
        chat_correctness: None,
        history: None,
        elapsed_seconds: 0.0,
        problems: Vec::new(),
        notes: Vec::new(),
        passed: false,
    };
    if let Err(e) = run_scenarios(&options, &mut report).await {
        report.problems.push(format!("the run stopped: {e}"));
    }
    report.elapsed_seconds = started.elapsed().as_secs_f64();
    report.passed = report.problems.is_empty();
    report.notes = disturbance_notes(&report);

    println!("{}", table(&report));
    for note in &report.notes {
        println!("note: {note}");
    }
    match write_json(&report) {
        Ok(()) => println!("JSON report: {}", options.json.display()),
        Err(e) => {
            eprintln!("could not write {}: {e}", options.json.display());
            report.passed = false;
        }
    }
    if report.passed {
        println!("PASS: every message stored once and delivered once to every open socket of its members");
        0
    } else {
        for problem in &report.problems {
            println!("FAIL: {problem}");
        }
        1
    }
}

async fn run_scenarios(options: &Options, report: &mut Report) -> Result<(), String> {
    if options.runs(Scenario::Idle) {
        progress(&format!("idle: {} sockets", options.sockets));
        report.idle = Some(on_fresh_database(options, async |db| idle(db, options).await).await?);
    }
    if options.runs(Scenario::Steady) || options.runs(Scenario::Saturation) {
        on_fresh_database(options, async |db| {
            chat_scenarios(db, options, report).await
        })
        .await?;
    }
    if options.runs(Scenario::History) {
        progress(&format!("history: {} messages", options.history));
        let history = on_fresh_database(options, async |db| history(db, options).await).await?;
        report.history = Some(history);
    }
    Ok(())
}

/// Runs a scenario on a database of its own, removed afterwards (whether the
/// scenario succeeded or not).
async fn on_fresh_database<T>(
    options: &Options,
    scenario: impl AsyncFnOnce(&Database) -> Result<T, String>,
) -> Result<T, String> {
    let database = Database::fresh(options).await?;
    let result = scenario(&database).await;
    database.remove().await;
    result
}

/// Steady and saturation share one deployment and one set of open sockets:
/// connecting a thousand conversation sockets is the slow part of both.
async fn chat_scenarios(
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

    // Check what was sent even when a phase failed half-way.
    let correctness = chat.check(database).await;
    chat.stop().await;
    result?;
    let correctness = correctness?;
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
    if s.missing > 0 || s.stored_twice > 0 || s.unexpected > 0 {
        report.problems.push(format!(
            "database: {} accepted messages missing, {} stored twice, {} unexpected",
            s.missing, s.stored_twice, s.unexpected
        ));
    }
    if s.stored != s.expected as i64 || s.stored_distinct_client_ids != s.expected as i64 {
        report.problems.push(format!(
            "database: {} rows ({} distinct client ids) for {} accepted messages",
            s.stored, s.stored_distinct_client_ids, s.expected
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

fn progress(what: &str) {
    eprintln!("[load] {what}");
}

/// Raises the soft descriptor limit to the hard one; the server inherits it.
fn raise_fd_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            eprintln!("note: could not raise the file-descriptor limit: {e}");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// Flags phases during which something besides the server and the bench kept
/// the machine busy: their latencies say more about that than about Natter.
fn disturbance_notes(report: &Report) -> Vec<String> {
    const BUSY: f64 = 25.0;
    let mut phases: Vec<(String, &Phase)> = Vec::new();
    phases.extend(report.warmup.iter().map(|p| ("warm-up".to_owned(), p)));
    phases.extend(report.steady.iter().map(|p| ("steady".to_owned(), p)));
    if let Some(saturation) = &report.saturation {
        for step in &saturation.steps {
            let name = format!("saturation {:.0} msg/s", step.phase.target_rate);
            phases.push((name, &step.phase));
        }
    }
    phases
        .into_iter()
        .filter(|(_, p)| p.other_cpu_percent > BUSY)
        .map(|(name, p)| {
            format!(
                "during {name} other processes used {:.0}% of a core: figures disturbed, run again on a quiet machine",
                p.other_cpu_percent
            )
        })
        .collect()
}

fn write_json(report: &Report) -> Result<(), String> {
    let path = &report.options.json;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let json = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    std::fs::write(path, json + "\n").map_err(|e| e.to_string())
}

// ---------------------------------------------------------------- server

/// The servers under test: one, or several instances sharing one PostgreSQL
/// database. Socket `i` goes to instance `i % n`.
struct Servers {
    instances: Vec<Server>,
}

impl Servers {
    /// Starts `options.instances` servers on the (seeded) database.
    async fn start(database: &Database, options: &Options) -> Result<Servers, String> {
        let mut instances = Vec::with_capacity(options.instances);
        for _ in 0..options.instances {
            instances.push(Server::start(&database.url, options).await?);
        }
        Ok(Servers { instances })
    }

    fn for_socket(&self, index: usize) -> &Server {
        &self.instances[index % self.instances.len()]
    }

    fn ports(&self) -> Vec<u16> {
        self.instances.iter().map(|s| s.port).collect()
    }

    fn pids(&self) -> Vec<u32> {
        self.instances.iter().map(|s| s.pid).collect()
    }

    /// Resident memory of all instances together.
    fn rss_kib(&self) -> u64 {
        self.instances.iter().map(Server::rss_kib).sum()
    }

    /// CPU time of all instances together.
    fn cpu_seconds(&self) -> f64 {
        self.instances.iter().map(Server::cpu_seconds).sum()
    }

    fn check_alive(&mut self) -> Result<(), String> {
        self.instances.iter_mut().try_for_each(Server::check_alive)
    }

    async fn stop(self) {
        for server in self.instances {
            server.stop().await;
        }
    }
}

/// A Natter process on an ephemeral port, killed when stopped or dropped.
struct Server {
    child: tokio::process::Child,
    port: u16,
    pid: u32,
    /// Its working directory: media and its log.
    dir: TempDir,
}

impl Server {
    /// Starts the binary on the database at `url` (already seeded) and waits
    /// until it serves the login page.
    async fn start(url: &str, options: &Options) -> Result<Server, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let log_path = dir.path().join("server.log");
        let log = std::fs::File::create(&log_path).map_err(|e| format!("server log: {e}"))?;
        let mut child = tokio::process::Command::new(&options.server)
            .current_dir(dir.path())
            .env("ROCKET_ADDRESS", "127.0.0.1")
            .env("ROCKET_PORT", port.to_string())
            .env("ROCKET_LOG_LEVEL", "off")
            .env("NATTER_DATABASE_URL", url)
            .env("NATTER_PRESENCE_GRACE_MS", "200")
            .envs(options.server_env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", options.server.display()))?;
        let pid = child.id().ok_or("the server exited at once")?;
        let http = reqwest::Client::new();
        let login = format!("http://127.0.0.1:{port}/login");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = http.get(&login).send().await {
                if response.status().is_success() {
                    break;
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!("the server exited ({status}): {log}"));
            }
            if Instant::now() > deadline {
                return Err("the server did not answer GET /login within 30 s".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Server {
            child,
            port,
            pid,
            dir,
        })
    }

    fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn rss_kib(&self) -> u64 {
        rss_kib(self.pid)
    }

    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(&self.pid.to_string())
    }

    /// Fails if the server died under load.
    fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                let log =
                    std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
                Err(format!("the server exited ({status}): {log}"))
            }
            Err(e) => Err(format!("cannot check the server: {e}")),
        }
    }

    async fn stop(mut self) {
        // The server is disposable: no graceful shutdown to wait for.
        let _ = self.child.kill().await;
    }
}

/// A process's resident memory, from `/proc/<pid>/status`.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time PostgreSQL's processes on this machine have used (its backends
/// live as long as the servers' pooled connections, so none is missed).
fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == "postgres")
        })
        .map(|pid| cpu_seconds(&pid))
        .sum()
}

/// CPU time a process (a pid, or `self`) has used, user + system, from
/// `/proc/<pid>/stat`, counting the usual 100 clock ticks per second.
fn cpu_seconds(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // Fields after the command name, which may hold spaces.
            let rest = &stat[stat.rfind(')')? + 1..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks: u64 =
                fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
            Some(ticks as f64 / 100.0)
        })
        .unwrap_or(0.0)
}

/// CPU time the whole machine has spent busy (all cores), from `/proc/stat`.
fn machine_busy_seconds() -> f64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|stat| {
            let ticks: Vec<u64> = stat
                .lines()
                .next()?
                .split_whitespace()
                .skip(1)
                .filter_map(|t| t.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal: all but idle and iowait.
            let busy: u64 = ticks.iter().take(8).sum::<u64>() - ticks.get(3)? - ticks.get(4)?;
            Some(busy as f64 / 100.0)
        })
        .unwrap_or(0.0)
}

/// Samples the server's RSS until stopped; yields the peak.
struct RssSampler {
    stop: Arc<AtomicBool>,
    task: JoinHandle<u64>,
}

impl RssSampler {
    /// Samples the sum over `pids` (the instances of one deployment).
    fn start(pids: Vec<u32>) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                let rss: u64 = pids.iter().map(|&pid| rss_kib(pid)).sum();
                peak = peak.max(rss);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            peak
        });
        RssSampler { stop, task }
    }

    async fn peak(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap_or(0)
    }
}

// ---------------------------------------------------------------- seeding

/// The database of one scenario: a SQLite file in a temporary directory, or
/// a PostgreSQL database made for the run and dropped when done.
struct Database {
    url: String,
    /// Holds the SQLite file.
    _dir: TempDir,
    /// The PostgreSQL server and the database's name, to drop it afterwards.
    postgres: Option<(String, String)>,
}

impl Database {
    /// A fresh, migrated database of the kind the options ask for.
    async fn fresh(options: &Options) -> Result<Database, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let database = match &options.postgres {
            Some(server) => {
                static RUNS: AtomicU32 = AtomicU32::new(0);
                let name = format!(
                    "natter_bench_{}_{}",
                    std::process::id(),
                    RUNS.fetch_add(1, Ordering::Relaxed)
                );
                postgres_admin(server, &format!("CREATE DATABASE \"{name}\"")).await?;
                Database {
                    url: format!("{server}/{name}"),
                    _dir: dir,
                    postgres: Some((server.clone(), name)),
                }
            }
            None => Database {
                url: format!("sqlite://{}", dir.path().join("natter.db").display()),
                _dir: dir,
                postgres: None,
            },
        };
        let pool = database.open().await?;
        pool.migrate()
            .await
            .map_err(|e| format!("migrating: {e}"))?;
        pool.close().await;
        Ok(database)
    }

    /// A connection for seeding and checking, without waiting for each commit
    /// to reach the disk: the setting is per connection, so the servers still
    /// write with full durability, and seeding a thousand users does not wait
    /// on thousands of fsyncs.
    async fn open(&self) -> Result<Pool, String> {
        let pool = if self.postgres.is_some() {
            let options = self
                .url
                .parse::<PgConnectOptions>()
                .map_err(|e| format!("database options: {e}"))?
                .options([("synchronous_commit", "off")]);
            Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await
                    .map_err(|e| format!("opening the database: {e}"))?,
            )
        } else {
            let options = natter::store::connect_options(&self.url)
                .map_err(|e| format!("database options: {e}"))?
                .synchronous(SqliteSynchronous::Off);
            Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await
                    .map_err(|e| format!("opening {}: {e}", self.url))?,
            )
        };
        Ok(pool)
    }

    /// Drops a PostgreSQL database (the servers must be stopped).
    async fn remove(self) {
        if let Some((server, name)) = &self.postgres {
            let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
            if let Err(e) = postgres_admin(server, &drop).await {
                eprintln!("note: could not drop the database {name}: {e}");
            }
        }
    }
}

/// Runs one statement on a PostgreSQL server's maintenance database.
async fn postgres_admin(server: &str, sql: &str) -> Result<(), String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .map_err(|e| format!("connecting to {server}: {e}"))?;
    let result = sqlx::query(sql).execute(&mut conn).await;
    let _ = conn.close().await;
    result.map(drop).map_err(|e| format!("{sql}: {e}"))
}

/// One argon2 hash, shared by every seeded user (nobody logs in with it).
async fn shared_password_hash() -> Result<String, String> {
    natter::auth::hash_password("bench password, never used to log in".into())
        .await
        .map_err(|e| format!("hashing: {e}"))
}

/// A user with a live session; returns the user id and the cookie token.
async fn seed_user(pool: &Pool, name: &str, hash: &str) -> Result<(i64, String), String> {
    let user = natter::store::users::create(pool, name, hash)
        .await
        .map_err(|e| format!("creating {name}: {e}"))?;
    let token = natter::auth::random_token();
    let expires_at = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    natter::store::sessions::create(
        pool,
        &natter::auth::token_hash(&token),
        user.id,
        &natter::auth::random_token(),
        expires_at,
    )
    .await
    .map_err(|e| format!("session for {name}: {e}"))?;
    Ok((user.id, token))
}

// ---------------------------------------------------------------- sockets

/// Opens a socket as the page does and reads the first frame (the resync);
/// returns the socket and the size of that frame.
async fn open_socket(port: u16, path: &str, token: &str) -> Result<(Ws, usize), String> {
    let url = format!("ws://127.0.0.1:{port}{path}");
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    let headers = request.headers_mut();
    let cookie = format!("natter_session={token}");
    let origin = format!("http://127.0.0.1:{port}");
    headers.insert(
        "Cookie",
        HeaderValue::from_str(&cookie).map_err(|e| e.to_string())?,
    );
    headers.insert(
        "Origin",
        HeaderValue::from_str(&origin).map_err(|e| e.to_string())?,
    );
    // Browsers disable Nagle's algorithm too; with it, small frames would wait.
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .map_err(|e| format!("{path}: {e}"))?;
    let first = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match socket.next().await {
                Some(Ok(WsMessage::Text(text))) => return Ok(text.len()),
                Some(Ok(WsMessage::Close(frame))) => return Err(format!("closed: {frame:?}")),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.to_string()),
                None => return Err("closed".into()),
            }
        }
    })
    .await;
    match first {
        Ok(Ok(bytes)) => Ok((socket, bytes)),
        Ok(Err(e)) => Err(format!("{path}: no first frame: {e}")),
        Err(_) => Err(format!("{path}: no first frame within 30 s")),
    }
}

/// Opens every target (`(path, token)`) with bounded concurrency, target `i`
/// on the server at `ports[i % ports.len()]`; each open
/// socket is split at once and its reading half handed to `reader`, so early
/// sockets are drained while later ones connect. Returns the writing halves
/// and readers by target index.
async fn open_sockets<F>(
    ports: &[u16],
    targets: Vec<(String, String)>,
    reader: F,
) -> (Vec<Option<(Sink, JoinHandle<()>)>>, ConnectStats)
where
    F: Fn(usize, SplitStream<Ws>) -> JoinHandle<()>,
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
                .map(|(socket, bytes)| {
                    let (sink, stream) = socket.split();
                    (sink, reader(index, stream), bytes)
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
struct Activity {
    base: Instant,
    frames: AtomicU64,
    last_frame_ns: AtomicU64,
    closed: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
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

    fn saw_frame(&self) -> u64 {
        let now = self.now_ns();
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.last_frame_ns.fetch_max(now, Ordering::Relaxed);
        now
    }

    /// Waits until no frame arrived for `quiet` (at most `limit`): after a
    /// thousand users come online, presence updates keep flowing for a while.
    async fn settle(&self, quiet: Duration, limit: Duration) {
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

/// An idle page: reads (and so answers pings) until the socket closes.
async fn read_idle(mut stream: SplitStream<Ws>, activity: Arc<Activity>) {
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

// ---------------------------------------------------------------- idle

/// Many open dashboard sockets doing nothing: what one costs the server.
async fn idle(database: &Database, options: &Options) -> Result<IdleReport, String> {
    let sockets = options.sockets;
    let users = sockets.div_ceil(IDLE_SOCKETS_PER_USER).max(1);
    let pool = database.open().await?;
    let hash = shared_password_hash().await?;
    let mut tokens = Vec::with_capacity(users);
    for i in 0..users {
        tokens.push(seed_user(&pool, &format!("idle{i:05}"), &hash).await?.1);
    }
    pool.close().await;

    let servers = Servers::start(database, options).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = servers.rss_kib();
    let activity = Arc::new(Activity::new());
    // Round-robin over users: every user's first socket (which announces them
    // online to everybody) opens before anyone's second.
    let targets = (0..sockets)
        .map(|i| ("/socket".to_owned(), tokens[i % users].clone()))
        .collect();
    let (opened, connect) = open_sockets(&servers.ports(), targets, |_, stream| {
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
        closed,
    })
}

// ---------------------------------------------------------------- chat

/// What is known about every message, indexed by sequence number. Atomics,
/// because every socket's reader task records into the same tables.
struct Tracker {
    activity: Activity,
    /// When the message was due to be sent, in ns since `activity.base` (0: not sent).
    due_ns: Vec<AtomicU64>,
    /// `pair * 2 + side + 1` of the sending socket (0: not sent).
    sender: Vec<AtomicU32>,
    to_recipient: Vec<AtomicU8>,
    to_sender: Vec<AtomicU8>,
    /// When it first reached the recipient's socket, ns since base.
    received_ns: Vec<AtomicU64>,
    /// When it first came back to the sender's own socket, ns since base.
    echoed_ns: Vec<AtomicU64>,
    /// Bit 0: seen by the recipient in a resync; bit 1: by the sender.
    resynced: Vec<AtomicU8>,
    refused: Vec<AtomicBool>,
    /// Per socket, the messages sent and not yet answered: the server answers
    /// every send frame, in order, with a fresh form or an error.
    pending: Vec<Mutex<VecDeque<usize>>>,
    refusal_samples: Mutex<Vec<String>>,
    misrouted: AtomicU64,
}

fn atomics<T>(n: usize, make: impl Fn() -> T) -> Vec<T> {
    (0..n).map(|_| make()).collect()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What became of one sent message, as its sockets saw it.
struct Fate {
    /// When it was due to be sent, ns since the tracker's base.
    due_ns: u64,
    /// Copies pushed live to the recipient's and to the sender's socket.
    to_recipient: usize,
    to_sender: usize,
    /// Bit 0: seen by the recipient in a resync; bit 1: by the sender.
    resynced: u8,
    refused: bool,
}

impl Fate {
    /// Copies beyond the first, on either socket.
    fn duplicates(&self) -> usize {
        self.to_recipient.saturating_sub(1) + self.to_sender.saturating_sub(1)
    }

    /// The recipient never saw it, live or in a resync.
    fn lost_to_recipient(&self) -> bool {
        self.to_recipient == 0 && self.resynced & 1 == 0
    }

    /// The sender's page never showed it, live or in a resync.
    fn lost_to_sender(&self) -> bool {
        self.to_sender == 0 && self.resynced & 2 == 0
    }
}

impl Tracker {
    /// What became of message `seq`; `None` if it was never sent.
    fn fate(&self, seq: usize) -> Option<Fate> {
        let due_ns = self.due_ns[seq].load(Ordering::Acquire);
        (due_ns != 0).then(|| Fate {
            due_ns,
            to_recipient: self.to_recipient[seq].load(Ordering::Relaxed) as usize,
            to_sender: self.to_sender[seq].load(Ordering::Relaxed) as usize,
            resynced: self.resynced[seq].load(Ordering::Relaxed),
            refused: self.refused[seq].load(Ordering::Acquire),
        })
    }

    fn new(capacity: usize, sockets: usize) -> Tracker {
        Tracker {
            activity: Activity::new(),
            due_ns: atomics(capacity, || AtomicU64::new(0)),
            sender: atomics(capacity, || AtomicU32::new(0)),
            to_recipient: atomics(capacity, || AtomicU8::new(0)),
            to_sender: atomics(capacity, || AtomicU8::new(0)),
            received_ns: atomics(capacity, || AtomicU64::new(0)),
            echoed_ns: atomics(capacity, || AtomicU64::new(0)),
            resynced: atomics(capacity, || AtomicU8::new(0)),
            refused: atomics(capacity, || AtomicBool::new(false)),
            pending: atomics(sockets, || Mutex::new(VecDeque::new())),
            refusal_samples: Mutex::new(Vec::new()),
            misrouted: AtomicU64::new(0),
        }
    }

    fn capacity(&self) -> usize {
        self.due_ns.len()
    }

    fn ns_of(&self, instant: Instant) -> u64 {
        instant
            .saturating_duration_since(self.activity.base)
            .as_nanos()
            .max(1) as u64
    }

    /// Records a message about to be written by `socket` (pair * 2 + side).
    fn sending(&self, seq: usize, socket: usize, due: Instant) {
        self.sender[seq].store(socket as u32 + 1, Ordering::Release);
        self.due_ns[seq].store(self.ns_of(due), Ordering::Release);
        lock(&self.pending[socket]).push_back(seq);
    }

    /// Forgets a message whose frame could not be written.
    fn not_sent(&self, seq: usize, socket: usize) {
        self.due_ns[seq].store(0, Ordering::Release);
        let mut pending = lock(&self.pending[socket]);
        if pending.back() == Some(&seq) {
            pending.pop_back();
        }
    }

    /// Reads one frame that arrived on `socket`.
    fn on_frame(&self, socket: usize, text: &str) {
        let now = self.activity.saw_frame();
        // The reply to one of this socket's sends: a fresh form, or an error.
        if text.contains(r#"id="client-id""#) {
            lock(&self.pending[socket]).pop_front();
        } else if let Some(error) = composer_error(text) {
            if let Some(seq) = lock(&self.pending[socket]).pop_front() {
                self.refused[seq].store(true, Ordering::Release);
            }
            let mut samples = lock(&self.refusal_samples);
            if samples.len() < 5 && !samples.iter().any(|s| s == error) {
                samples.push(error.to_owned());
            }
        }
        let append = text.contains(APPEND_MARKER);
        // A resync replaces the live region or the whole list (the socket fell behind).
        let resync =
            !append && (text.contains(r#"id="live""#) || text.contains(r#"id="messages""#));
        if !append && !resync {
            return;
        }
        for seq in tags(text) {
            let Some(sender) = self.sender.get(seq).map(|s| s.load(Ordering::Acquire)) else {
                self.misrouted.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let sender = sender as usize;
            if sender == 0 || (sender - 1) / 2 != socket / 2 {
                self.misrouted.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let mine = sender - 1 == socket;
            if resync {
                self.resynced[seq].fetch_or(if mine { 2 } else { 1 }, Ordering::Relaxed);
            } else if mine {
                if self.to_sender[seq].fetch_add(1, Ordering::Relaxed) == 0 {
                    self.echoed_ns[seq].store(now, Ordering::Release);
                }
            } else if self.to_recipient[seq].fetch_add(1, Ordering::Relaxed) == 0 {
                self.received_ns[seq].store(now, Ordering::Release);
            }
        }
    }

    /// Whether every message in `range` that the server accepted has reached
    /// both members' sockets (and every send has been answered).
    fn complete(&self, range: Range<usize>) -> (bool, usize) {
        let mut arrived = 0;
        let mut complete = true;
        for seq in range {
            if self.due_ns[seq].load(Ordering::Acquire) == 0 {
                continue;
            }
            let resynced = self.resynced[seq].load(Ordering::Relaxed);
            let at_recipient =
                self.to_recipient[seq].load(Ordering::Relaxed) > 0 || resynced & 1 != 0;
            let at_sender = self.to_sender[seq].load(Ordering::Relaxed) > 0 || resynced & 2 != 0;
            arrived += usize::from(at_recipient) + usize::from(at_sender);
            let settled = (at_recipient && at_sender) || self.refused[seq].load(Ordering::Acquire);
            complete &= settled;
        }
        let unanswered = self.pending.iter().any(|p| !lock(p).is_empty());
        (complete && !unanswered, arrived)
    }
}

/// Every `bench-<seq>` in a frame.
fn tags(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.match_indices(TAG).filter_map(move |(at, _)| {
        let digits = &text[at + TAG.len()..];
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        digits[..end].parse().ok()
    })
}

/// The text of a non-empty `#composer-error` in a frame.
fn composer_error(text: &str) -> Option<&str> {
    let at = text.find(r#"id="composer-error""#)?;
    let rest = &text[at..];
    let open = rest.find('>')? + 1;
    let close = rest[open..].find('<')? + open;
    let message = rest[open..close].trim();
    (!message.is_empty()).then_some(message)
}

/// A conversation page's socket: records every frame into the tracker.
async fn read_chat(mut stream: SplitStream<Ws>, tracker: Arc<Tracker>, socket: usize) {
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
fn send_frame(seq: usize, conversation_id: i64, origin: &str) -> WsMessage {
    let frame = serde_json::json!({
        "csrf": "unused-over-the-socket",
        "client_id": format!("b{seq}"),
        "body": format!("{TAG}{seq} {FILLER}"),
        "HEADERS": {
            "HX-Request": "true",
            "HX-Trigger": "composer",
            "HX-Target": null,
            "HX-Current-URL": format!("{origin}/conversations/{conversation_id}"),
        },
    });
    WsMessage::Text(frame.to_string())
}

/// One conversation: its id and the writing halves of both members' sockets.
struct Pair {
    conversation_id: i64,
    sides: [tokio::sync::Mutex<Sink>; 2],
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
        let pool = database.open().await?;
        let hash = shared_password_hash().await?;
        let mut seeded = Vec::with_capacity(pairs);
        for i in 0..pairs {
            let (a, token_a) = seed_user(&pool, &format!("p{i:05}a"), &hash).await?;
            let (b, token_b) = seed_user(&pool, &format!("p{i:05}b"), &hash).await?;
            let conversation = natter::store::conversations::open_direct(&pool, a, b)
                .await
                .map_err(|e| format!("conversation {i}: {e}"))?;
            seeded.push((conversation, [token_a, token_b]));
        }
        pool.close().await;
        let seed_seconds = seeding.elapsed().as_secs_f64();

        let servers = Servers::start(database, options).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_before = servers.rss_kib();
        let tracker = Arc::new(Tracker::new(capacity, 2 * pairs));
        let targets = seeded
            .iter()
            .flat_map(|(conversation, tokens)| {
                tokens.iter().map(move |token| {
                    (
                        format!("/conversations/{conversation}/socket?after=0"),
                        token.clone(),
                    )
                })
            })
            .collect();
        // A pair's two sockets are neighbours, so with several instances each
        // message is sent on one and delivered on another.
        let (opened, connect) = open_sockets(&servers.ports(), targets, |socket, stream| {
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
        for (conversation_id, _) in &seeded {
            let (Some(a), Some(b)) = (sinks.next(), sinks.next()) else {
                return Err("a socket went missing".into());
            };
            built.push(Arc::new(Pair {
                conversation_id: *conversation_id,
                sides: [tokio::sync::Mutex::new(a), tokio::sync::Mutex::new(b)],
            }));
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

    /// Totals over every phase, and the database read back.
    async fn check(&self, database: &Database) -> Result<ChatCorrectness, String> {
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

        // The servers keep running; on SQLite (WAL) a second connection reads fine.
        let pool = database.open().await?;
        let counted = natter::on_pool!(&pool, p => {
            sqlx::query_as(
                "SELECT COUNT(*), COUNT(DISTINCT client_id) FROM messages WHERE body LIKE 'bench-%'",
            )
            .fetch_one(p)
            .await
        });
        let (stored, distinct): (i64, i64) =
            counted.map_err(|e| format!("counting messages: {e}"))?;
        c.store.stored = stored;
        c.store.stored_distinct_client_ids = distinct;
        let bodies: Result<Vec<String>, _> = natter::on_pool!(&pool, p => {
            sqlx::query_scalar("SELECT body FROM messages WHERE body LIKE 'bench-%'")
                .fetch_all(p)
                .await
        });
        let bodies = bodies.map_err(|e| format!("reading messages: {e}"))?;
        pool.close().await;
        let mut copies = vec![0u32; self.next_seq];
        for body in &bodies {
            match tags(body).next().filter(|&seq| seq < copies.len()) {
                Some(seq) => copies[seq] += 1,
                None => c.store.unexpected += 1,
            }
        }
        for seq in used {
            let accepted = t.due_ns[seq].load(Ordering::Acquire) != 0
                && !t.refused[seq].load(Ordering::Acquire);
            match (accepted, copies[seq]) {
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

// ---------------------------------------------------------------- saturation

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

// ---------------------------------------------------------------- history

/// A conversation with a long history: how long opening it takes.
async fn history(database: &Database, options: &Options) -> Result<HistoryReport, String> {
    let messages = options.history;
    let seeding = Instant::now();
    let pool = database.open().await?;
    let hash = shared_password_hash().await?;
    let (reader, token) = seed_user(&pool, "hist-reader", &hash).await?;
    let (writer, _) = seed_user(&pool, "hist-writer", &hash).await?;
    let conversation = natter::store::conversations::open_direct(&pool, reader, writer)
        .await
        .map_err(|e| format!("conversation: {e}"))?;
    // One statement: a hundred thousand round trips through sqlx would take
    // longer than the measurement.
    let inserted = natter::on_pool!(&pool, p => {
        sqlx::query(
            "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < $1)
             INSERT INTO messages (conversation_id, seq, sender_id, body, client_id, created_at)
             SELECT $2, (SELECT last_seq FROM conversations WHERE id = $3) + n,
                    CASE WHEN n % 2 = 0 THEN $4 ELSE $5 END,
                    'history-' || n || ' ' || $6, 'h' || n, $7
             FROM seq",
        )
        .bind(messages as i64)
        .bind(conversation)
        .bind(conversation)
        .bind(reader)
        .bind(writer)
        .bind(FILLER)
        .bind(time::OffsetDateTime::now_utc())
        .execute(p)
        .await
        .map(|done| done.rows_affected())
    });
    let inserted = inserted.map_err(|e| format!("inserting the history: {e}"))?;
    let numbered = natter::on_pool!(&pool, p => {
        sqlx::query("UPDATE conversations SET last_seq = last_seq + $1 WHERE id = $2")
            .bind(inserted as i64)
            .bind(conversation)
            .execute(p)
            .await
            .map(drop)
    });
    numbered.map_err(|e| format!("numbering the history: {e}"))?;
    let bounds = natter::on_pool!(&pool, p => {
        sqlx::query_as("SELECT MIN(id), MAX(id) FROM messages WHERE conversation_id = $1")
            .bind(conversation)
            .fetch_one(p)
            .await
    });
    let (first_id, last_id): (i64, i64) = bounds.map_err(|e| e.to_string())?;
    pool.close().await;
    let seed_seconds = seeding.elapsed().as_secs_f64();

    let servers = Servers::start(database, options).await?;
    let http = reqwest::Client::new();
    let cookie = format!("natter_session={token}");
    // Page loads take turns over the instances, as behind a load balancer.
    let loads = AtomicUsize::new(0);
    let fetch = |path: String| {
        let server = servers.for_socket(loads.fetch_add(1, Ordering::Relaxed));
        let request = http
            .get(format!("{}{path}", server.origin()))
            .header("Cookie", &cookie);
        async move {
            let begun = Instant::now();
            let response = request.send().await.map_err(|e| format!("{path}: {e}"))?;
            let status = response.status();
            let body = response.text().await.map_err(|e| format!("{path}: {e}"))?;
            if !status.is_success() {
                return Err(format!("{path}: {status}"));
            }
            Ok::<_, String>((begun.elapsed(), body))
        }
    };

    let page = format!("/conversations/{conversation}");
    let newest = format!("history-{messages} ");
    let (first_open, body) = fetch(page.clone()).await?;
    if !body.contains(&newest) {
        return Err(format!("{page} does not show the newest message"));
    }
    let mut opens = Vec::with_capacity(options.page_loads);
    for _ in 0..options.page_loads {
        opens.push(fetch(page.clone()).await?.0.as_micros() as u64);
    }
    // A page from the middle of the history ("load earlier", deep down).
    let middle = first_id + (last_id - first_id) / 2;
    let earlier = format!("/conversations/{conversation}/messages?before={middle}");
    let expected = format!("history-{} ", middle - first_id);
    let (_, chunk) = fetch(earlier.clone()).await?;
    if !chunk.contains(&expected) {
        return Err(format!("{earlier} does not show message {expected}"));
    }
    let mut earlier_loads = Vec::with_capacity(options.page_loads);
    for _ in 0..options.page_loads {
        earlier_loads.push(fetch(earlier.clone()).await?.0.as_micros() as u64);
    }
    let rss = servers.rss_kib();
    servers.stop().await;
    Ok(HistoryReport {
        messages,
        seed_seconds,
        first_open_ms: first_open.as_secs_f64() * 1000.0,
        open_ms: Percentiles::of_micros(opens),
        earlier_page_ms: Percentiles::of_micros(earlier_loads),
        page_bytes: body.len(),
        server_rss_kib: rss,
    })
}

// ---------------------------------------------------------------- table

/// The report as a table: scenario, metric, value, target.
fn table(report: &Report) -> String {
    let mut rows: Vec<[String; 4]> = Vec::new();
    let mut row = |scenario: &str, metric: &str, value: String, target: &str| {
        rows.push([scenario.into(), metric.into(), value, target.into()]);
    };
    let quick = report.options.quick;
    let target = |t: &'static str| if quick { "" } else { t };
    if let Some(idle) = &report.idle {
        row(
            "idle",
            "sockets open / requested",
            format!("{} / {}", idle.connect.opened, idle.sockets),
            target(">= 10000"),
        );
        row(
            "idle",
            "users",
            format!("{} ({IDLE_SOCKETS_PER_USER} sockets each)", idle.users),
            "",
        );
        row(
            "idle",
            "connect rate",
            format!("{:.0} sockets/s", idle.connect.per_second),
            "",
        );
        row(
            "idle",
            "connect p50 / p99",
            ms2(&idle.connect.latency_ms),
            "",
        );
        row(
            "idle",
            "first frame (contact list)",
            format!(
                "{:.0} KiB",
                idle.connect.first_frame_mean_bytes as f64 / 1024.0
            ),
            "",
        );
        row(
            "idle",
            "server RSS, no sockets",
            mib(idle.server_rss_before_kib),
            "",
        );
        row(
            "idle",
            "server RSS, all open",
            mib(idle.server_rss_idle_kib),
            "",
        );
        row(
            "idle",
            "RSS per idle socket",
            format!("{:.1} KiB", idle.rss_per_socket_kib),
            target("<= 50 KiB"),
        );
        if idle.connect.failed > 0 || idle.closed > 0 {
            row(
                "idle",
                "failed / closed",
                format!("{} / {}", idle.connect.failed, idle.closed),
                "0",
            );
        }
    }
    if let Some(chat) = &report.chat {
        let s = "chat";
        row(
            s,
            "pairs / sockets",
            format!("{} / {}", chat.pairs, chat.sockets),
            "",
        );
        row(
            s,
            "connect rate",
            format!("{:.0} sockets/s", chat.connect.per_second),
            "",
        );
        row(s, "connect p50 / p99", ms2(&chat.connect.latency_ms), "");
        row(
            s,
            "first frame (contact list)",
            format!(
                "{:.0} KiB",
                chat.connect.first_frame_mean_bytes as f64 / 1024.0
            ),
            "",
        );
        row(
            s,
            "server RSS, no sockets",
            mib(chat.server_rss_before_kib),
            "",
        );
        row(
            s,
            "server RSS, sockets open",
            mib(chat.server_rss_connected_kib),
            "",
        );
    }
    if let Some(steady) = &report.steady {
        phase_rows(&mut row, "steady", steady, target("p99 < 5 ms"));
    }
    if let Some(sat) = &report.saturation {
        for step in &sat.steps {
            let p = &step.phase;
            row(
                "saturation",
                &format!("{:.0} msg/s", p.target_rate),
                format!(
                    "{:.0} delivered/s, p50 {:.1} p99 {:.1} max {:.1} ms, cpu {:.0}% {}",
                    p.delivered_per_s,
                    p.latency_ms.p50,
                    p.latency_ms.p99,
                    p.latency_ms.max,
                    p.server_cpu_percent,
                    if step.passed { "pass" } else { "FAIL" }
                ),
                "",
            );
        }
        row(
            "saturation",
            "highest rate with p99 < 50 ms",
            sat.max_rate_p99_under_50ms
                .map_or("none".into(), |r| format!("{r:.0} msg/s")),
            target(">= 5000"),
        );
        row(
            "saturation",
            "peak delivered",
            format!("{:.0} msg/s", sat.peak_delivered_per_s),
            target(">= 5000"),
        );
        if let Some(why) = &sat.stopped_because {
            row("saturation", "stopped", why.clone(), "");
        }
    }
    if let Some(c) = &report.chat_correctness {
        let s = "correctness";
        row(s, "messages accepted", c.store.expected.to_string(), "");
        row(
            s,
            "stored (rows / distinct ids)",
            format!(
                "{} / {}",
                c.store.stored, c.store.stored_distinct_client_ids
            ),
            "= accepted",
        );
        row(s, "lost deliveries", c.lost_deliveries.to_string(), "0");
        row(
            s,
            "duplicate deliveries",
            c.duplicate_deliveries.to_string(),
            "0",
        );
        row(s, "misrouted", c.misrouted.to_string(), "0");
        row(s, "refused by the server", c.refused.to_string(), "");
    }
    if let Some(h) = &report.history {
        let s = "history";
        row(s, "stored messages", h.messages.to_string(), "");
        row(s, "first open", format!("{:.1} ms", h.first_open_ms), "");
        row(s, "open p50 / p99", ms2(&h.open_ms), "");
        row(s, "earlier page p50 / p99", ms2(&h.earlier_page_ms), "");
        row(s, "page size", format!("{} KiB", h.page_bytes / 1024), "");
    }
    let deployment = match report.options.instances {
        1 if report.options.postgres.is_none() => "one instance, SQLite".to_owned(),
        1 => "one instance, PostgreSQL".to_owned(),
        n => format!("{n} instances sharing PostgreSQL"),
    };
    row("run", "deployment", deployment, "");
    row(
        "run",
        "elapsed",
        format!("{:.1} s", report.elapsed_seconds),
        "",
    );

    let widths: Vec<usize> = (0..4)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let header = ["scenario", "metric", "value", "target"];
    let mut out = String::new();
    for (n, cells) in std::iter::once(header.map(String::from))
        .chain(rows)
        .enumerate()
    {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let _ = write!(
                line,
                "{cell:<width$}  ",
                width = widths[i].max(header[i].len())
            );
        }
        out.push_str(line.trim_end());
        out.push('\n');
        if n == 0 {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 8));
            out.push('\n');
        }
    }
    out
}

fn phase_rows(
    row: &mut impl FnMut(&str, &str, String, &str),
    scenario: &str,
    p: &Phase,
    latency_target: &str,
) {
    row(
        scenario,
        "target rate x duration",
        format!("{:.0} msg/s x {} s", p.target_rate, p.seconds),
        "",
    );
    row(
        scenario,
        "sent",
        format!("{:.0} msg/s ({})", p.sent_per_s, p.sent),
        "",
    );
    row(
        scenario,
        "delivered",
        format!("{:.0} msg/s ({})", p.delivered_per_s, p.delivered),
        "",
    );
    row(
        scenario,
        "latency p50 / p90 / p99 / max",
        format!(
            "{:.2} / {:.2} / {:.2} / {:.2} ms",
            p.latency_ms.p50, p.latency_ms.p90, p.latency_ms.p99, p.latency_ms.max
        ),
        latency_target,
    );
    row(
        scenario,
        "echo to sender p50 / p99",
        ms2(&p.echo_latency_ms),
        "",
    );
    row(
        scenario,
        "sender lag p99",
        format!("{:.2} ms", p.send_lag_ms.p99),
        "",
    );
    row(
        scenario,
        "CPU server / database / bench / rest",
        format!(
            "{:.0}% / {:.0}% / {:.0}% / {:.0}% of one core",
            p.server_cpu_percent, p.database_cpu_percent, p.bench_cpu_percent, p.other_cpu_percent
        ),
        "",
    );
    row(scenario, "server RSS peak", mib(p.server_rss_peak_kib), "");
    if p.refused + p.via_resync + p.send_errors > 0 {
        row(
            scenario,
            "refused / via resync / send errors",
            format!("{} / {} / {}", p.refused, p.via_resync, p.send_errors),
            "0",
        );
    }
}

fn ms2(p: &Percentiles) -> String {
    format!("{:.2} / {:.2} ms", p.p50, p.p99)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}
