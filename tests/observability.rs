//! Running a server in the dark is no fun: Prometheus metrics behind a
//! bearer token, an id on every response, and structured logs that carry
//! those ids and never a message, a password or a token.

mod common;

use common::*;
use rocket::http::{Header, Status};

const TOKEN: &str = "scrape-me-3f9a1c";

/// Checks `text` is Prometheus's text format, line by line: comments
/// (`# HELP`, `# TYPE`), or a sample, `name{labels} value`, whose name is a
/// metric name and whose value is a number. Returns the samples.
fn samples(text: &str) -> Vec<(String, f64)> {
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(
                comment.starts_with("HELP ") || comment.starts_with("TYPE "),
                "{line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let name = series.split('{').next().unwrap_or_default();
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "a metric name: {line}"
        );
        if let Some(labels) = series.strip_prefix(name) {
            assert!(
                labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                "labels: {line}"
            );
        }
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            number => number
                .parse()
                .unwrap_or_else(|_| panic!("a number: {line}")),
        };
        samples.push((series.to_owned(), value));
    }
    samples
}

fn value_of(samples: &[(String, f64)], series: &str) -> Option<f64> {
    samples.iter().find(|(s, _)| s == series).map(|(_, v)| *v)
}

#[rocket::async_test]
async fn metrics_are_refused_without_their_token_and_parse_as_prometheus_text() {
    let app = TestApp::with(|f| f.merge(("metrics_token", TOKEN))).await;
    signup(&app.client, "alice").await;
    let bob = app.another_browser().await;
    signup(&bob, "bob").await;
    let path = open_conversation(&app.client, "bob").await;
    assert_eq!(
        post_message(&app.client, &path, "hi bob").await,
        Status::SeeOther
    );

    let refused = app.client.get("/metrics").dispatch().await;
    assert_eq!(refused.status(), Status::Unauthorized);
    assert!(refused.headers().get_one("WWW-Authenticate").is_some());
    let wrong = app
        .client
        .get("/metrics")
        .header(Header::new("Authorization", "Bearer scrape-me-3f9a1d"))
        .dispatch()
        .await;
    assert_eq!(wrong.status(), Status::Unauthorized);
    let wrong_scheme = app
        .client
        .get("/metrics")
        .header(Header::new("Authorization", format!("Basic {TOKEN}")))
        .dispatch()
        .await;
    assert_eq!(wrong_scheme.status(), Status::Unauthorized);

    let scraped = app
        .client
        .get("/metrics")
        .header(Header::new("Authorization", format!("Bearer {TOKEN}")))
        .dispatch()
        .await;
    assert_eq!(scraped.status(), Status::Ok);
    let content_type = scraped.content_type().expect("a content type").to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = scraped.into_string().await.expect("text");
    let samples = samples(&text);
    // (One recorder per process: other tests here add to the same counts.)
    assert!(
        value_of(&samples, "natter_messages_total").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        value_of(&samples, "natter_commit_batch_size_count").is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        text.contains("natter_commit_seconds_bucket{le=\"+Inf\"}"),
        "a histogram: {text}"
    );
    assert!(text.contains("natter_writer_queue_depth"), "{text}");
    let posted = r#"natter_http_requests_total{method="POST",route="/conversations/<id>/messages",status="303"}"#;
    assert!(
        value_of(&samples, posted).is_some_and(|n| n >= 1.0),
        "{text}"
    );
    assert!(
        text.contains(r#"natter_http_request_seconds_bucket{method="GET",route="/login""#)
            || text.contains(r#"natter_http_request_seconds_bucket{method="GET",route="/signup""#),
        "latencies by route: {text}"
    );
    // Routes by their pattern: no ids, names or tokens in labels.
    assert!(!text.contains(&path), "no conversation's path: {text}");
    assert!(!text.contains("/c/bob"), "no username: {text}");
}

#[rocket::async_test]
async fn without_a_token_there_are_no_metrics_to_fetch() {
    let app = TestApp::new().await;
    let answer = app
        .client
        .get("/metrics")
        .header(Header::new("Authorization", "Bearer "))
        .dispatch()
        .await;
    assert_eq!(answer.status(), Status::NotFound);
}

#[rocket::async_test]
async fn every_response_carries_its_own_request_id() {
    let app = TestApp::new().await;
    let mut ids = std::collections::HashSet::new();
    for path in ["/login", "/signup", "/no-such-page", "/healthz"] {
        let response = app.client.get(path).dispatch().await;
        let id = response
            .headers()
            .get_one("X-Request-Id")
            .unwrap_or_else(|| panic!("an id on {path}"))
            .to_owned();
        assert!(
            id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
        assert!(ids.insert(id), "a new id for {path}");
    }
}

#[tokio::test]
async fn the_server_logs_json_lines_with_request_ids_and_never_a_secret() {
    let folder = tempfile::tempdir().expect("folder");
    let log = folder.path().join("natter.log");
    let port = free_port();
    let natter = Natter::start_logging(
        folder.path(),
        port,
        &[("NATTER_LOG_FORMAT", "json")],
        Some(&log),
    )
    .await;
    let alice = Browser::new(&natter.base());
    alice.signup("alice").await;
    let bob = Browser::new(&natter.base());
    bob.signup("bob").await;
    let id = alice.open_conversation("bob").await;
    let page = alice.get_text(&format!("/conversations/{id}")).await;
    let csrf = hidden_field(&page, "csrf").expect("csrf");
    let secret_text = "meet me at the old mill at midnight";
    let sent = alice
        .post(
            &format!("/conversations/{id}/messages"),
            &[
                ("csrf", &csrf),
                ("client_id", "log1"),
                ("body", secret_text),
            ],
        )
        .await;
    // (The client followed the redirect: this is the conversation page's id.)
    let request_id = sent
        .headers()
        .get("X-Request-Id")
        .and_then(|v| v.to_str().ok())
        .expect("an id")
        .to_owned();
    let invite = "f00dfeedf00dfeedf00dfeedf00dfeed";
    alice.get(&format!("/signup?invite={invite}")).await;
    let cookie = alice.cookie_header();
    let session = cookie
        .split(';')
        .find_map(|c| {
            c.trim()
                .split_once('=')
                .filter(|(k, _)| k.contains("session"))
        })
        .map(|(_, v)| v.to_owned())
        .expect("a session cookie");

    // The line of a request is written as it is answered; give the last
    // one a moment to reach the file.
    let mut lines = Vec::new();
    for _ in 0..50 {
        lines = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect();
        if lines
            .iter()
            .any(|l| l.contains("/signup") && l.contains("\"GET\""))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    drop(natter);
    let events: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let shown = events
        .iter()
        .find(|e| e["request_id"] == serde_json::json!(request_id))
        .unwrap_or_else(|| panic!("the page's request is logged by its id: {lines:#?}"));
    assert_eq!(shown["route"], "/conversations/<id>");
    assert_eq!(shown["method"], "GET");
    assert_eq!(shown["status"], 200);
    let posted = events
        .iter()
        .find(|e| e["route"] == "/conversations/<id>/messages")
        .unwrap_or_else(|| panic!("the message's request is logged: {lines:#?}"));
    assert_eq!(posted["method"], "POST");
    assert_eq!(posted["status"], 303);
    assert!(posted["ms"].is_number() && posted["level"] == "INFO");
    assert!(
        posted["request_id"]
            .as_str()
            .is_some_and(|id| id.len() == 16 && id != request_id),
        "{posted}"
    );
    let all = lines.join("\n");
    for secret in [
        secret_text,
        PASSWORD,
        invite,
        session.as_str(),
        csrf.as_str(),
    ] {
        assert!(!all.contains(secret), "{secret:?} is in the log:\n{all}");
    }
}
