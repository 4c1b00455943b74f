//! What Natter measures, for Prometheus: every metric's name and meaning in
//! one place, recorded through the `metrics` facade and rendered by
//! `metrics-exporter-prometheus` at `/metrics` (see `http::metrics`).

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Upper bounds of the latency histograms, in seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Upper bounds of the commit batch size histogram, in writes.
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// The process's recorder, installed by the first app to start (tests run
/// several in one process: they share it).
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// How often histogram samples are drained into their buckets when
/// nothing scrapes (without it they would pile up for ever).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Drains the recorder's samples every `UPKEEP_EVERY` on a thread of its
/// own, started once per process (tests start many servers, each on a
/// runtime of its own, in one).
pub fn keep_up() {
    static STARTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let Some(handle) = handle() else {
        return;
    };
    if STARTED.swap(true, std::sync::atomic::Ordering::AcqRel) {
        return;
    }
    let started = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_EVERY);
            handle.run_upkeep();
        });
    if let Err(e) = started {
        rocket::warn!("metrics upkeep did not start ({e}); samples drain only when scraped");
    }
}

/// Installs the recorder once; `None` if another recorder got there first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("natter_commit_batch_size".into()),
                        &BATCH_BUCKETS,
                    )
                });
            let installed = built.and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    rocket::warn!("metrics are off: {e}");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_gauge!("natter_open_sockets", "Page sockets open on this instance.");
    describe_counter!(
        "natter_messages_total",
        "Messages committed by this instance."
    );
    describe_histogram!(
        "natter_commit_batch_size",
        Unit::Count,
        "Writes committed together in one transaction."
    );
    describe_histogram!(
        "natter_commit_seconds",
        Unit::Seconds,
        "Time to apply and commit one batch of writes."
    );
    describe_gauge!(
        "natter_writer_queue_depth",
        "Writes waiting for the writer when a batch starts."
    );
    describe_gauge!(
        "natter_push_queue_depth",
        "Web Push jobs waiting to be sent."
    );
    describe_histogram!(
        "natter_notify_lag_seconds",
        Unit::Seconds,
        "PostgreSQL NOTIFY: from publishing on one instance to receiving on this one (wall clocks)."
    );
    describe_counter!(
        "natter_http_requests_total",
        "HTTP requests answered, by method, route and status."
    );
    describe_histogram!(
        "natter_http_request_seconds",
        Unit::Seconds,
        "Time to answer an HTTP request, by method and route."
    );
}

/// A page's socket opened (`true`) or closed.
pub fn socket(opened: bool) {
    let open = gauge!("natter_open_sockets");
    if opened {
        open.increment(1.0);
    } else {
        open.decrement(1.0);
    }
}

/// A batch of `writes` committed together in `took`.
pub fn batch_committed(writes: usize, took: Duration) {
    histogram!("natter_commit_batch_size").record(writes as f64);
    histogram!("natter_commit_seconds").record(took.as_secs_f64());
}

/// New messages committed.
pub fn messages_committed(count: usize) {
    if count > 0 {
        counter!("natter_messages_total").increment(count as u64);
    }
}

/// Writes waiting for the writer.
pub fn writer_queue(depth: usize) {
    gauge!("natter_writer_queue_depth").set(depth as f64);
}

/// Web Push jobs waiting.
pub fn push_queue(depth: usize) {
    gauge!("natter_push_queue_depth").set(depth as f64);
}

/// An event published by another instance arrived `lag` after it was sent.
pub fn notify_lag(lag: Duration) {
    histogram!("natter_notify_lag_seconds").record(lag.as_secs_f64());
}

/// An HTTP request answered: its route's pattern (never its path, which
/// holds ids and names), its status and how long it took.
pub fn http_request(method: &str, route: &str, status: u16, took: Duration) {
    counter!(
        "natter_http_requests_total",
        "method" => method.to_owned(),
        "route" => route.to_owned(),
        "status" => status.to_string()
    )
    .increment(1);
    histogram!(
        "natter_http_request_seconds",
        "method" => method.to_owned(),
        "route" => route.to_owned()
    )
    .record(took.as_secs_f64());
}
