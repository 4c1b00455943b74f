//! The search scenario: a million messages across a thousand conversations,
//! one person in a fiftieth of them searching: how long common and rare
//! words, a word being typed, a phrase and `from:` take, as the page's
//! search box asks for them (the results section over htmx), and how long
//! building the index over existing messages takes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::database::{Database, SeededSearch};
use crate::options::Options;
use crate::report::{Percentiles, SearchQueryReport, SearchReport};
use crate::server::Servers;
use crate::sockets::session_cookie;
use crate::wire::urlencode;

/// What is searched: a name, the query, and whether it must find something.
const QUERIES: &[(&str, &str, bool)] = &[
    ("common word (every message), typed", "quick", true),
    ("common word (every message), whole", "quick ", true),
    ("frequent word (~9 %)", "c3", true),
    ("rare word (0.001 %)", "r4242", false),
    ("word being typed (prefix)", "m12", true),
    ("two words", "c3 fox", true),
    ("phrase", "\"lazy dog\"", true),
    ("no such phrase", "\"dog lazy\"", false),
    ("from: and a word", "from:searcher c3", true),
    ("from: alone", "from:sp00001", true),
];

pub(crate) async fn search(database: &Database, options: &Options) -> Result<SearchReport, String> {
    let seeding = Instant::now();
    let SeededSearch {
        searcher_token,
        searcher_conversations,
        rounds,
        index_seconds,
        database_bytes,
    } = database
        .seed_search(options.search_conversations, options.search_messages)
        .await?;
    let seed_seconds = seeding.elapsed().as_secs_f64();
    let servers = Servers::start(database, options).await?;
    let http = reqwest::Client::new();
    let cookie = session_cookie(&searcher_token);
    let turns = AtomicUsize::new(0);
    // One search as the page's box makes it: the results section alone.
    let fetch = |path: String| {
        let server = servers.for_socket(turns.fetch_add(1, Ordering::Relaxed));
        let request = http
            .get(format!("{}{path}", server.origin()))
            .header("Cookie", &cookie)
            .header("HX-Request", "true");
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
    let mut queries = Vec::new();
    let in_one = format!("&c={}", searcher_conversations[0]);
    let all = QUERIES
        .iter()
        .map(|&(name, query, finds)| (name.to_owned(), query.to_owned(), String::new(), finds))
        .chain(std::iter::once((
            "common word, one conversation".to_owned(),
            "quick".to_owned(),
            in_one,
            true,
        )));
    for (name, query, scope, finds) in all {
        let path = format!("/search?q={}{scope}", urlencode(&query));
        // The first answer is checked, not timed.
        let (_, body) = fetch(path.clone()).await?;
        let results = count_text(&body);
        let hits = body.matches(r#"<li class="hit">"#).count();
        if finds && hits == 0 {
            return Err(format!("{name}: {query:?} found nothing"));
        }
        let mut micros = Vec::with_capacity(options.searches);
        for _ in 0..options.searches {
            micros.push(fetch(path.clone()).await?.0.as_micros() as u64);
        }
        queries.push(SearchQueryReport {
            name,
            query,
            results,
            ms: Percentiles::of_micros(micros),
        });
    }
    let rss = servers.rss_kib();
    servers.stop().await;
    Ok(SearchReport {
        messages: rounds * options.search_conversations,
        conversations: options.search_conversations,
        searcher_conversations: searcher_conversations.len(),
        seed_seconds,
        index_build_seconds: index_seconds,
        database_mib: database_bytes as f64 / (1024.0 * 1024.0),
        queries,
        server_rss_kib: rss,
    })
}

/// The count line of a results section ("100+ messages").
fn count_text(section: &str) -> String {
    section
        .split_once(r#"<p class="count">"#)
        .and_then(|(_, rest)| rest.split_once("</p>"))
        .map_or_else(String::new, |(count, _)| count.to_owned())
}
