//! Every HTTP request: an id (answered as `X-Request-Id`, on its log line
//! and on any error logged while answering it), one structured log line,
//! and its count and latency for the metrics. Requests are named by their
//! route's pattern (`/conversations/<id>`), never by their path or query,
//! which hold names and invitation tokens.

use std::time::Instant;

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::Header;
use rocket::{Data, Request, Response};

/// When a request arrived, and its id.
struct Arrival {
    id: String,
    at: Instant,
}

/// The id of the request being answered.
pub(crate) fn request_id<'r>(req: &'r Request<'_>) -> &'r str {
    &arrival(req).id
}

fn arrival<'r>(req: &'r Request<'_>) -> &'r Arrival {
    req.local_cache(|| Arrival {
        id: crate::auth::random_token()[..16].to_owned(),
        at: Instant::now(),
    })
}

/// The fairing that ids, logs and counts requests.
pub struct RequestLog;

#[rocket::async_trait]
impl Fairing for RequestLog {
    fn info(&self) -> Info {
        Info {
            name: "request ids, log and metrics",
            kind: Kind::Request | Kind::Response,
        }
    }

    async fn on_request(&self, req: &mut Request<'_>, _: &mut Data<'_>) {
        arrival(req);
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        let arrival = arrival(req);
        let took = arrival.at.elapsed();
        let route = req.route().map_or("(none)", |r| r.uri.path());
        let method = req.method().as_str();
        let status = res.status().code;
        tracing::info!(
            target: "natter::http",
            request_id = %arrival.id,
            method,
            route,
            status,
            ms = took.as_secs_f64() * 1000.0,
            "answered"
        );
        crate::metrics::http_request(method, route, status, took);
        res.set_header(Header::new("X-Request-Id", arrival.id.clone()));
    }
}
