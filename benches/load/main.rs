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
//! the server's resident memory (`VmRSS`). The machine's load average at
//! each scenario's start and end, and the CPU other processes used during it,
//! go into the report, so a figure taken under interference shows as such.
//!
//! Afterwards every message is checked: stored exactly once (read back from the
//! database) and delivered exactly once to every open socket of every member
//! of its conversation; then every conversation of two edits a message and
//! deletes another, and each change must show once on both members' sockets
//! and be held by the database. Any loss, duplicate or misdelivery makes the
//! process exit non-zero. `benches/README.md` lists the flags, scenarios and
//! results.
//!
//! One module a job: `options` reads the flags, `database` makes the fresh
//! database and seeds it, `server` starts the instances and reads their memory
//! and CPU, `sockets` opens sockets as the page does, `idle`, `crowd`, `chat`
//! (steady and saturation, with `tracker` following every message), `group`,
//! `history` and `search` run the scenarios, and `report` holds the figures, the table
//! and the JSON.

mod changes;
mod chat;
mod crowd;
mod database;
mod group;
mod history;
mod idle;
mod options;
mod report;
mod search;
mod server;
mod sockets;
mod tracker;
#[path = "../../tests/common/wire.rs"]
mod wire;

use std::time::{Duration, Instant};

use crate::chat::chat_scenarios;
use crate::crowd::crowd;
use crate::database::on_fresh_database;
use crate::group::group;
use crate::history::history;
use crate::idle::idle;
use crate::options::{Options, Scenario, USAGE};
use crate::report::{disturbance_notes, table, write_json, LoadAverage, Report};
use crate::search::search;

/// What every message body starts with; only letters, digits and `-`, so the
/// server's HTML escaping leaves it as is and it can be found in a frame.
const TAG: &str = "bench-";
/// Rest of each body, so a message is about the size of a short chat line.
const FILLER: &str = "the quick brown fox jumps over the lazy dog";

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
    if options.runs(Scenario::Crowd) && options.users > fd_room {
        eprintln!(
            "note: the file-descriptor limit is {fd_limit}; {fd_room} people in the crowd instead of {}",
            options.users
        );
        options.users = fd_room.max(2);
    }
    if options.runs(Scenario::Group) && options.members > fd_room {
        eprintln!(
            "note: the file-descriptor limit is {fd_limit}; {fd_room} members in the group instead of {}",
            options.members
        );
        options.members = fd_room.max(2);
    }
    let mut report = Report {
        options: options.clone(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        fd_limit,
        idle: None,
        crowd: None,
        chat: None,
        warmup: None,
        steady: None,
        saturation: None,
        chat_correctness: None,
        group: None,
        history: None,
        search: None,
        load_average: Vec::new(),
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
        println!("PASS: every message stored once and delivered once to every open socket of its members; every edit and deletion shown once on both members' sockets and held by the database");
        if report.crowd.is_some() {
            println!("PASS: in the crowd, every page connected, was shown no one's presence but its partner's, and was shown its partner online");
        }
        if let Some(g) = &report.group {
            println!(
                "PASS: in the group, every message reached all {} members' sockets exactly once",
                g.members
            );
        }
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
        let load = LoadAverage::begin("idle");
        let idle = on_fresh_database(options, async |db| idle(db, options).await).await;
        report.load_average.push(load.end());
        report.idle = Some(idle?);
    }
    if options.runs(Scenario::Crowd) {
        progress(&format!("crowd: {} people, one page each", options.users));
        let load = LoadAverage::begin("crowd");
        let crowd = on_fresh_database(options, async |db| crowd(db, options).await).await;
        report.load_average.push(load.end());
        let crowd = crowd?;
        report.problems.extend(crowd.problems());
        report.crowd = Some(crowd);
    }
    if options.runs(Scenario::Steady) || options.runs(Scenario::Saturation) {
        // Steady and saturation record their load averages themselves.
        on_fresh_database(options, async |db| {
            chat_scenarios(db, options, report).await
        })
        .await?;
    }
    if options.runs(Scenario::Group) {
        progress(&format!(
            "group: {} members, one page each",
            options.members
        ));
        let load = LoadAverage::begin("group");
        let group = on_fresh_database(options, async |db| group(db, options).await).await;
        report.load_average.push(load.end());
        let group = group?;
        report.problems.extend(group.problems());
        report.group = Some(group);
    }
    if options.runs(Scenario::History) {
        progress(&format!("history: {} messages", options.history));
        let load = LoadAverage::begin("history");
        let history = on_fresh_database(options, async |db| history(db, options).await).await;
        report.load_average.push(load.end());
        report.history = Some(history?);
    }
    if options.runs(Scenario::Search) {
        progress(&format!(
            "search: {} messages over {} conversations",
            options.search_messages, options.search_conversations
        ));
        let load = LoadAverage::begin("search");
        let found = on_fresh_database(options, async |db| search(db, options).await).await;
        report.load_average.push(load.end());
        report.search = Some(found?);
    }
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
