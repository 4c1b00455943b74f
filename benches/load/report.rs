//! The figures each scenario reports, latency percentiles, the table printed
//! at the end and the JSON report.

use std::fmt::Write as _;

use serde::Serialize;

use crate::changes::ChangeCheck;

use crate::idle::IDLE_SOCKETS_PER_USER;
use crate::options::Options;
use crate::server::load_average;

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct Percentiles {
    pub(crate) samples: usize,
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
}

impl Percentiles {
    /// From samples in microseconds (nearest-rank percentiles).
    pub(crate) fn of_micros(mut samples: Vec<u64>) -> Percentiles {
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
pub(crate) struct ConnectStats {
    pub(crate) attempted: usize,
    pub(crate) opened: usize,
    pub(crate) failed: usize,
    pub(crate) first_error: Option<String>,
    pub(crate) seconds: f64,
    /// Sockets opened per second, each counted once its first frame arrived.
    pub(crate) per_second: f64,
    /// Handshake to first frame (the server's resync), per socket.
    pub(crate) latency_ms: Percentiles,
    /// Size of that first frame (contact list and live region).
    pub(crate) first_frame_mean_bytes: usize,
    pub(crate) first_frame_max_bytes: usize,
}

/// CPU used over a stretch of a scenario, in % of one core (the bench shares
/// the machine's cores with the server).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct CpuShare {
    /// The stretch measured.
    pub(crate) wall_seconds: f64,
    /// CPU time of the server instances together.
    pub(crate) server_core_seconds: f64,
    /// Context switches of the server's threads: how often they woke each
    /// other (per message, in the chat phases).
    pub(crate) server_context_switches: u64,
    pub(crate) server_cpu_percent: f64,
    /// PostgreSQL's processes on this machine (0 on SQLite, which runs
    /// inside the server).
    pub(crate) database_cpu_percent: f64,
    pub(crate) bench_cpu_percent: f64,
    /// Everything else on the machine (kernel work for loopback included):
    /// high values mean the figures were disturbed by another load.
    pub(crate) other_cpu_percent: f64,
}

/// The machine's 1-minute load average when a scenario began and ended
/// (`None` where `/proc/loadavg` could not be read).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LoadAverage {
    pub(crate) scenario: String,
    pub(crate) start: Option<f64>,
    pub(crate) end: Option<f64>,
}

impl LoadAverage {
    pub(crate) fn begin(scenario: &str) -> LoadAverage {
        LoadAverage {
            scenario: scenario.to_owned(),
            start: load_average(),
            end: None,
        }
    }

    pub(crate) fn end(mut self) -> LoadAverage {
        self.end = load_average();
        self
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct IdleReport {
    pub(crate) sockets: usize,
    pub(crate) users: usize,
    pub(crate) connect: ConnectStats,
    pub(crate) server_rss_before_kib: u64,
    pub(crate) server_rss_idle_kib: u64,
    /// (idle RSS − RSS before any socket) / sockets opened.
    pub(crate) rss_per_socket_kib: f64,
    /// From the first connect until the sockets went quiet.
    pub(crate) cpu: CpuShare,
    /// Sockets that closed while they should have stayed open.
    pub(crate) closed: u64,
}

/// Many distinct people coming online at once, one page each.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CrowdReport {
    pub(crate) users: usize,
    pub(crate) connect: ConnectStats,
    /// Frames carrying presence that pages got, in all.
    pub(crate) presence_frames: u64,
    /// Of those, per page opened: bounded by who can see a person (here,
    /// one partner each), not by how many are online.
    pub(crate) presence_frames_per_connect: f64,
    /// Presence shown to a page that does not show that person.
    pub(crate) foreign_presence: u64,
    /// Pages never shown that their partner is online.
    pub(crate) pages_not_told: usize,
    /// Server CPU from the first connect until the pages went quiet.
    pub(crate) server_cpu_seconds: f64,
    /// All CPU use over that same stretch.
    pub(crate) cpu: CpuShare,
    pub(crate) server_rss_before_kib: u64,
    pub(crate) server_rss_peak_kib: u64,
    /// Once every page is online and the server quiet.
    pub(crate) server_rss_online_kib: u64,
    /// (online - before) / pages: what one idle page of its own user costs.
    pub(crate) rss_per_page_kib: f64,
    /// Pages whose socket closed while they should have stayed open.
    pub(crate) closed: u64,
}

impl CrowdReport {
    /// What makes the run fail.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.connect.failed > 0 || self.closed > 0 {
            problems.push(format!(
                "crowd: {} pages failed to connect and {} closed ({})",
                self.connect.failed,
                self.closed,
                self.connect.first_error.as_deref().unwrap_or("no error")
            ));
        }
        if self.foreign_presence > 0 {
            problems.push(format!(
                "crowd: pages were shown the presence of {} people they do not show",
                self.foreign_presence
            ));
        }
        if self.pages_not_told > 0 {
            problems.push(format!(
                "crowd: {} pages were never shown that their partner is online",
                self.pages_not_told
            ));
        }
        // Each page shows one person, who arrives once.
        if self.presence_frames_per_connect > 1.0 {
            problems.push(format!(
                "crowd: {:.2} presence frames per page, more than the one person each page shows",
                self.presence_frames_per_connect
            ));
        }
        problems
    }
}

/// One stretch of driven load (warm-up, steady, or a saturation step).
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Phase {
    pub(crate) target_rate: f64,
    pub(crate) seconds: f64,
    /// Messages scheduled.
    pub(crate) planned: usize,
    /// Frames written to a socket.
    pub(crate) sent: usize,
    pub(crate) send_errors: usize,
    /// Sends the server answered with an error (not stored, the user is told).
    pub(crate) refused: usize,
    pub(crate) sent_per_s: f64,
    /// Messages that reached the recipient's socket.
    pub(crate) delivered: usize,
    pub(crate) delivered_per_s: f64,
    /// From the moment each message was due to be sent to its arrival at the
    /// recipient's socket.
    pub(crate) latency_ms: Percentiles,
    /// The same to the sender's own socket, which shows the message without
    /// first recording a read receipt.
    pub(crate) echo_latency_ms: Percentiles,
    /// How late the sender wrote frames behind their schedule (client side).
    pub(crate) send_lag_ms: Percentiles,
    pub(crate) lost_to_recipient: usize,
    pub(crate) lost_to_sender: usize,
    pub(crate) duplicates: usize,
    /// Messages that arrived in a resync (the socket had fallen behind)
    /// rather than as a push: shown on the page, but late.
    pub(crate) via_resync: usize,
    /// CPU used during the phase (drain included).
    #[serde(flatten)]
    pub(crate) cpu: CpuShare,
    pub(crate) server_rss_peak_kib: u64,
    /// Latency of the messages due in each second of the phase: shows
    /// whether a queue builds up.
    pub(crate) by_second: Vec<Second>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Second {
    pub(crate) second: usize,
    pub(crate) delivered: usize,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct SaturationStep {
    pub(crate) phase: Phase,
    pub(crate) passed: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct SaturationReport {
    pub(crate) steps: Vec<SaturationStep>,
    /// Highest step rate whose p99 stayed under 50 ms with every message
    /// delivered, none refused and deliveries keeping up with the rate.
    pub(crate) max_rate_p99_under_50ms: Option<f64>,
    /// Highest delivered rate seen in any step.
    pub(crate) peak_delivered_per_s: f64,
    pub(crate) stopped_because: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct ChatFixture {
    pub(crate) pairs: usize,
    pub(crate) sockets: usize,
    pub(crate) seed_seconds: f64,
    pub(crate) connect: ConnectStats,
    pub(crate) server_rss_before_kib: u64,
    pub(crate) server_rss_connected_kib: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct StoreCheck {
    /// Messages the server accepted (sent and not refused).
    pub(crate) expected: usize,
    /// `SELECT COUNT(*), COUNT(DISTINCT client_id) ... WHERE body LIKE 'bench-%'`.
    pub(crate) stored: i64,
    pub(crate) stored_distinct_client_ids: i64,
    pub(crate) missing: usize,
    /// Of those, messages the sender's page had been shown (the server
    /// confirms a message by pushing it back once committed): these would
    /// be confirmed messages lost. The rest were never answered.
    pub(crate) confirmed_missing: usize,
    /// Accepted, then deleted for everyone (by the change check).
    pub(crate) deleted: usize,
    pub(crate) stored_twice: usize,
    /// Stored although refused or never sent.
    pub(crate) unexpected: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct ChatCorrectness {
    pub(crate) lost_deliveries: usize,
    pub(crate) duplicate_deliveries: usize,
    /// Messages seen on a socket of a conversation they do not belong to.
    pub(crate) misrouted: u64,
    /// Sockets that closed during the run.
    pub(crate) closed: u64,
    pub(crate) refused: usize,
    pub(crate) refusal_samples: Vec<String>,
    pub(crate) store: StoreCheck,
    /// Edits and deletions, each checked on both members' sockets.
    pub(crate) changes: Option<ChangeCheck>,
}

impl ChatCorrectness {
    /// What makes the run fail, each named after `scenario` if given.
    pub(crate) fn problems(&self, scenario: Option<&str>) -> Vec<String> {
        let mut problems = Vec::new();
        if self.lost_deliveries > 0 {
            problems.push(format!(
                "{} deliveries lost (a message missing on a member's socket)",
                self.lost_deliveries
            ));
        }
        if self.duplicate_deliveries > 0 {
            problems.push(format!(
                "{} duplicate deliveries",
                self.duplicate_deliveries
            ));
        }
        if self.misrouted > 0 {
            problems.push(format!(
                "{} messages reached a socket of another conversation",
                self.misrouted
            ));
        }
        let s = &self.store;
        let kept = s.expected - s.deleted;
        if s.missing > 0 || s.stored_twice > 0 || s.unexpected > 0 {
            problems.push(format!(
                "database: {} accepted messages missing ({} of them confirmed to their sender), {} stored twice, {} unexpected",
                s.missing, s.confirmed_missing, s.stored_twice, s.unexpected
            ));
        }
        if s.stored != kept as i64 || s.stored_distinct_client_ids != kept as i64 {
            problems.push(format!(
                "database: {} rows ({} distinct client ids) for {} accepted messages, {} deleted since",
                s.stored, s.stored_distinct_client_ids, s.expected, s.deleted
            ));
        }
        if let Some(x) = &self.changes {
            if x.refused > 0 || x.lost > 0 || x.duplicated > 0 || x.not_stored > 0 {
                problems.push(format!(
                    "changes: {} refused ({:?}), {} lost on a socket, {} shown twice, {} not in the database",
                    x.refused, x.refusal_samples, x.lost, x.duplicated, x.not_stored
                ));
            }
        }
        match scenario {
            Some(name) => problems
                .into_iter()
                .map(|p| format!("{name}: {p}"))
                .collect(),
            None => problems,
        }
    }
}

/// One group whose every member has its conversation page open, and
/// messages sent into it at a set rate: the cost of delivering to many.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct GroupReport {
    pub(crate) members: usize,
    pub(crate) seed_seconds: f64,
    /// One conversation socket per member.
    pub(crate) connect: ConnectStats,
    pub(crate) target_rate: f64,
    pub(crate) seconds: f64,
    /// Messages scheduled.
    pub(crate) planned: usize,
    /// Messages written to a member's socket.
    pub(crate) sent: usize,
    pub(crate) sent_per_s: f64,
    pub(crate) send_errors: usize,
    /// Sends the server answered with an error.
    pub(crate) refused: usize,
    /// Messages pushed to member sockets, the sender's own included (each
    /// message a frame to each socket), counted once per socket.
    pub(crate) deliveries: usize,
    /// Those per second, over all sockets, from the first send due to the
    /// last arrival.
    pub(crate) deliveries_per_s: f64,
    /// Deliveries per accepted message: every member, so `members`.
    pub(crate) deliveries_per_message: f64,
    /// Message copies a socket saw only in a resync (it had fallen behind).
    pub(crate) via_resync: usize,
    /// From when each message was due to be sent to its arrival at each
    /// other member's socket (one sample per message and receiving socket).
    pub(crate) latency_ms: Percentiles,
    /// Until the last member's socket had it, per message that reached all.
    pub(crate) last_member_ms: Percentiles,
    /// How late the sender wrote frames behind their schedule (client side).
    pub(crate) send_lag_ms: Percentiles,
    /// CPU used while sending, until every delivery arrived.
    pub(crate) cpu: CpuShare,
    pub(crate) server_rss_before_kib: u64,
    pub(crate) server_rss_connected_kib: u64,
    /// Peak while sending.
    pub(crate) server_rss_peak_kib: u64,
    /// Every message on every member's socket once, and stored once.
    pub(crate) correctness: ChatCorrectness,
}

impl GroupReport {
    /// What makes the run fail.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = self.correctness.problems(Some("group"));
        if self.refused > 0 || self.send_errors > 0 {
            problems.push(format!(
                "group: the server refused {} messages and {} could not be written: {:?}",
                self.refused, self.send_errors, self.correctness.refusal_samples
            ));
        }
        if self.correctness.closed > 0 {
            problems.push(format!(
                "group: {} member sockets closed while sending",
                self.correctness.closed
            ));
        }
        problems
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct HistoryReport {
    pub(crate) messages: usize,
    pub(crate) seed_seconds: f64,
    /// The very first open: marks 100k messages read, cold caches.
    pub(crate) first_open_ms: f64,
    /// `GET /conversations/<id>`: the newest page, sidebar and composer.
    pub(crate) open_ms: Percentiles,
    /// `GET /conversations/<id>/messages?before=<middle>`: a page from the middle.
    pub(crate) earlier_page_ms: Percentiles,
    pub(crate) page_bytes: usize,
    pub(crate) server_rss_kib: u64,
}

/// One query of the search scenario.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SearchQueryReport {
    pub(crate) name: String,
    pub(crate) query: String,
    /// What the page said it found ("100+ messages").
    pub(crate) results: String,
    /// `GET /search?q=…` as the search box sends it (the results section).
    pub(crate) ms: Percentiles,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct SearchReport {
    pub(crate) messages: usize,
    pub(crate) conversations: usize,
    /// How many of them the searcher is in.
    pub(crate) searcher_conversations: usize,
    pub(crate) seed_seconds: f64,
    /// Building the index over every message, as the migration does.
    pub(crate) index_build_seconds: f64,
    /// The database's size with every message and the index.
    pub(crate) database_mib: f64,
    pub(crate) queries: Vec<SearchQueryReport>,
    pub(crate) server_rss_kib: u64,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) options: Options,
    pub(crate) cores: usize,
    pub(crate) fd_limit: u64,
    pub(crate) idle: Option<IdleReport>,
    pub(crate) crowd: Option<CrowdReport>,
    pub(crate) chat: Option<ChatFixture>,
    pub(crate) warmup: Option<Phase>,
    pub(crate) steady: Option<Phase>,
    pub(crate) saturation: Option<SaturationReport>,
    pub(crate) chat_correctness: Option<ChatCorrectness>,
    pub(crate) group: Option<GroupReport>,
    pub(crate) history: Option<HistoryReport>,
    pub(crate) search: Option<SearchReport>,
    /// The 1-minute load average at each scenario's start and end.
    pub(crate) load_average: Vec<LoadAverage>,
    pub(crate) elapsed_seconds: f64,
    /// Everything that makes the run fail: loss, duplicates, misdelivery, errors.
    pub(crate) problems: Vec<String>,
    /// Caveats about the figures (not failures).
    pub(crate) notes: Vec<String>,
    pub(crate) passed: bool,
}

/// Flags phases during which something besides the server, the database and
/// the bench kept the machine busy: they were taken under interference, and
/// their figures say more about that than about Natter.
pub(crate) fn disturbance_notes(report: &Report) -> Vec<String> {
    const BUSY: f64 = 25.0;
    let mut phases: Vec<(String, &CpuShare)> = Vec::new();
    phases.extend(report.idle.iter().map(|r| ("idle".to_owned(), &r.cpu)));
    phases.extend(report.crowd.iter().map(|r| ("crowd".to_owned(), &r.cpu)));
    phases.extend(report.warmup.iter().map(|p| ("warm-up".to_owned(), &p.cpu)));
    phases.extend(report.steady.iter().map(|p| ("steady".to_owned(), &p.cpu)));
    if let Some(saturation) = &report.saturation {
        for step in &saturation.steps {
            let name = format!("saturation {:.0} msg/s", step.phase.target_rate);
            phases.push((name, &step.phase.cpu));
        }
    }
    phases.extend(report.group.iter().map(|r| ("group".to_owned(), &r.cpu)));
    phases
        .into_iter()
        .filter(|(_, cpu)| cpu.other_cpu_percent > BUSY)
        .map(|(name, cpu)| {
            format!(
                "{name} was taken under interference: other processes used {:.0}% of a core \
                 (over {BUSY:.0}%), so its figures are disturbed; run again on a quiet machine",
                cpu.other_cpu_percent
            )
        })
        .collect()
}

pub(crate) fn write_json(report: &Report) -> Result<(), String> {
    let path = &report.options.json;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let json = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
    std::fs::write(path, json + "\n").map_err(|e| e.to_string())
}

/// The report as a table: scenario, metric, value, target.
pub(crate) fn table(report: &Report) -> String {
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
        cpu_row(&mut row, "idle", &idle.cpu);
        if idle.connect.failed > 0 || idle.closed > 0 {
            row(
                "idle",
                "failed / closed",
                format!("{} / {}", idle.connect.failed, idle.closed),
                "0",
            );
        }
    }
    if let Some(crowd) = &report.crowd {
        let s = "crowd";
        row(
            s,
            "people online / requested",
            format!("{} / {}", crowd.connect.opened, crowd.users),
            target(">= 10000"),
        );
        row(
            s,
            "all online after",
            format!("{:.1} s", crowd.connect.seconds),
            target("< 10 s"),
        );
        row(
            s,
            "connect rate",
            format!("{:.0} pages/s", crowd.connect.per_second),
            "",
        );
        row(s, "connect p50 / p99", ms2(&crowd.connect.latency_ms), "");
        row(
            s,
            "presence frames per connect",
            format!("{:.2}", crowd.presence_frames_per_connect),
            "<= 1 (one partner each)",
        );
        row(
            s,
            "server CPU",
            format!("{:.1} core-s", crowd.server_cpu_seconds),
            "",
        );
        cpu_row(&mut row, s, &crowd.cpu);
        row(
            s,
            "server RSS before / peak / online",
            format!(
                "{} / {} / {}",
                mib(crowd.server_rss_before_kib),
                mib(crowd.server_rss_peak_kib),
                mib(crowd.server_rss_online_kib)
            ),
            "",
        );
        row(
            s,
            "server RSS per idle page",
            format!("{:.1} KiB", crowd.rss_per_page_kib),
            target("<= 16 KiB"),
        );
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
                    p.cpu.server_cpu_percent,
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
            "= accepted - deleted",
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
        if let Some(x) = &c.changes {
            row(
                s,
                "edits / deletions made",
                format!("{} / {}", x.edits, x.deletions),
                "",
            );
            row(s, "changes lost on a socket", x.lost.to_string(), "0");
            row(s, "changes shown twice", x.duplicated.to_string(), "0");
            row(
                s,
                "changes not in the database",
                x.not_stored.to_string(),
                "0",
            );
        }
    }
    if let Some(g) = &report.group {
        group_rows(&mut row, g);
    }
    if let Some(h) = &report.history {
        let s = "history";
        row(s, "stored messages", h.messages.to_string(), "");
        row(s, "first open", format!("{:.1} ms", h.first_open_ms), "");
        row(s, "open p50 / p99", ms2(&h.open_ms), "");
        row(s, "earlier page p50 / p99", ms2(&h.earlier_page_ms), "");
        row(s, "page size", format!("{} KiB", h.page_bytes / 1024), "");
    }
    if let Some(x) = &report.search {
        let s = "search";
        row(
            s,
            "messages / conversations (searcher's)",
            format!(
                "{} / {} ({})",
                x.messages, x.conversations, x.searcher_conversations
            ),
            "",
        );
        row(
            s,
            "index build",
            format!("{:.1} s", x.index_build_seconds),
            "",
        );
        row(s, "database size", format!("{:.0} MiB", x.database_mib), "");
        for q in &x.queries {
            let target = if report.options.postgres.is_none() {
                "p99 < 50 ms"
            } else {
                ""
            };
            row(
                s,
                &format!("{} p50 / p99 ({})", q.name, q.results),
                ms2(&q.ms),
                target,
            );
        }
    }
    for load in &report.load_average {
        let shown = |l: Option<f64>| l.map_or("unknown".to_owned(), |l| format!("{l:.2}"));
        row(
            &load.scenario,
            "load average start / end",
            format!("{} / {}", shown(load.start), shown(load.end)),
            "",
        );
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
    cpu_row(row, scenario, &p.cpu);
    row(
        scenario,
        "server context switches per message",
        format!(
            "{:.1}",
            p.cpu.server_context_switches as f64 / p.delivered.max(1) as f64
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

fn group_rows(row: &mut impl FnMut(&str, &str, String, &str), g: &GroupReport) {
    let s = "group";
    row(
        s,
        "members / sockets open",
        format!("{} / {}", g.members, g.connect.opened),
        "",
    );
    row(s, "connect p50 / p99", ms2(&g.connect.latency_ms), "");
    row(
        s,
        "target rate x duration",
        format!("{:.0} msg/s x {} s", g.target_rate, g.seconds),
        "",
    );
    row(
        s,
        "messages sent",
        format!("{} ({:.1} msg/s)", g.sent, g.sent_per_s),
        "",
    );
    row(
        s,
        "frames delivered, all sockets",
        format!("{:.0}/s ({})", g.deliveries_per_s, g.deliveries),
        "",
    );
    row(
        s,
        "delivered per message",
        format!("{:.2}", g.deliveries_per_message),
        &format!("= {} (every member)", g.members),
    );
    row(
        s,
        "latency at receiving sockets p50 / p99",
        ms2(&g.latency_ms),
        "",
    );
    row(
        s,
        "until the last member p50 / p99",
        ms2(&g.last_member_ms),
        "",
    );
    row(
        s,
        "sender lag p99",
        format!("{:.2} ms", g.send_lag_ms.p99),
        "",
    );
    row(
        s,
        "server CPU while sending",
        format!(
            "{:.2} core-s in {:.1} s, {:.0}% of one core",
            g.cpu.server_core_seconds, g.cpu.wall_seconds, g.cpu.server_cpu_percent
        ),
        "",
    );
    cpu_row(row, s, &g.cpu);
    row(
        s,
        "server RSS connected / peak",
        format!(
            "{} / {}",
            mib(g.server_rss_connected_kib),
            mib(g.server_rss_peak_kib)
        ),
        "",
    );
    let c = &g.correctness;
    row(
        s,
        "lost / duplicate / misrouted",
        format!(
            "{} / {} / {}",
            c.lost_deliveries, c.duplicate_deliveries, c.misrouted
        ),
        "0 / 0 / 0",
    );
    row(
        s,
        "stored (rows / distinct ids)",
        format!(
            "{} / {}",
            c.store.stored, c.store.stored_distinct_client_ids
        ),
        "= accepted",
    );
    if g.refused + g.via_resync + g.send_errors > 0 {
        row(
            s,
            "refused / via resync / send errors",
            format!("{} / {} / {}", g.refused, g.via_resync, g.send_errors),
            "0",
        );
    }
}

fn cpu_row(row: &mut impl FnMut(&str, &str, String, &str), scenario: &str, cpu: &CpuShare) {
    row(
        scenario,
        "CPU server / database / bench / rest",
        format!(
            "{:.0}% / {:.0}% / {:.0}% / {:.0}% of one core",
            cpu.server_cpu_percent,
            cpu.database_cpu_percent,
            cpu.bench_cpu_percent,
            cpu.other_cpu_percent
        ),
        "",
    );
}

fn ms2(p: &Percentiles) -> String {
    format!("{:.2} / {:.2} ms", p.p50, p.p99)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}
