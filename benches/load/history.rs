//! The history scenario: how long a conversation with a long history takes
//! to open, and to load an earlier page of.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::database::{Database, SeededHistory};
use crate::options::Options;
use crate::report::{HistoryReport, Percentiles};
use crate::server::Servers;
use crate::sockets::session_cookie;

/// A conversation with a long history: how long opening it takes.
pub(crate) async fn history(
    database: &Database,
    options: &Options,
) -> Result<HistoryReport, String> {
    let messages = options.history;
    let seeding = Instant::now();
    let SeededHistory {
        conversation,
        reader_token,
        first_id,
        last_id,
    } = database.seed_history(messages).await?;
    let seed_seconds = seeding.elapsed().as_secs_f64();

    let servers = Servers::start(database, options).await?;
    let http = reqwest::Client::new();
    let cookie = session_cookie(&reader_token);
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
    // Times `--page-loads` loads of a page, in µs.
    let timed = async |path: &str| {
        let mut micros = Vec::with_capacity(options.page_loads);
        for _ in 0..options.page_loads {
            micros.push(fetch(path.to_owned()).await?.0.as_micros() as u64);
        }
        Ok::<_, String>(micros)
    };

    let page = format!("/conversations/{conversation}");
    let newest = format!("history-{messages} ");
    let (first_open, body) = fetch(page.clone()).await?;
    if !body.contains(&newest) {
        return Err(format!("{page} does not show the newest message"));
    }
    let opens = timed(&page).await?;
    // A page from the middle of the history ("load earlier", deep down).
    let middle = first_id + (last_id - first_id) / 2;
    let earlier = format!("/conversations/{conversation}/messages?before={middle}");
    let expected = format!("history-{} ", middle - first_id);
    let (_, chunk) = fetch(earlier.clone()).await?;
    if !chunk.contains(&expected) {
        return Err(format!("{earlier} does not show message {expected}"));
    }
    let earlier_loads = timed(&earlier).await?;
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
