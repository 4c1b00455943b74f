//! `/metrics` for Prometheus, behind the bearer token `metrics_token`: with
//! no token configured there is nothing there (404); a request without the
//! token, or with another, is refused (401). Socket, writer, push queue and
//! database figures are sampled as they change (see `crate::metrics`).

use rocket::http::{ContentType, Header};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::State;

use crate::config::Settings;

/// What a scrape is answered. (The refusals have a body of their own, so
/// they are not given to the page catchers, which send people to log in.)
#[derive(rocket::Responder)]
enum Scrape {
    Metrics((ContentType, String)),
    #[response(status = 401)]
    Refused(&'static str, Header<'static>),
    #[response(status = 404)]
    Absent(&'static str),
}

/// The `Authorization` header's bearer token, if any.
struct Bearer(Option<String>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Bearer {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let token = req
            .headers()
            .get_one("Authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned());
        Outcome::Success(Bearer(token))
    }
}

#[rocket::get("/metrics")]
fn metrics(bearer: Bearer, settings: &State<Settings>) -> Scrape {
    let Some(expected) = settings.metrics_token.as_deref().filter(|t| !t.is_empty()) else {
        return Scrape::Absent("no metrics here: metrics_token is not set");
    };
    let allowed = bearer
        .0
        .is_some_and(|given| crate::auth::constant_time_eq(expected, &given));
    if !allowed {
        return Scrape::Refused(
            "a bearer token is needed",
            Header::new("WWW-Authenticate", "Bearer realm=\"metrics\""),
        );
    }
    match crate::metrics::handle() {
        Some(handle) => {
            // Histograms are drained into their buckets here, as often as
            // Prometheus scrapes, rather than by a timer of our own.
            handle.run_upkeep();
            let text = ContentType::new("text", "plain").with_params(("version", "0.0.4"));
            Scrape::Metrics((text, handle.render()))
        }
        None => Scrape::Absent("metrics are off in this process"),
    }
}

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![metrics]
}
