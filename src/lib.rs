//! Natter: a self-hosted real-time messenger. This module builds the Rocket:
//! configuration, database and migrations, the hub (in-process, or bridged
//! through PostgreSQL), routes, sockets and catchers.

mod app;
mod assets;
pub mod auth;
pub mod chat;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod headers;
pub mod http;
pub mod limits;
pub mod live;
pub mod logs;
pub mod media;
pub mod metrics;
pub mod passwords;
pub mod socket;
pub mod store;
pub mod throttle;
pub mod views;

use std::sync::Arc;

use rocket::fairing::AdHoc;
use rocket::{Build, Rocket};

/// The hub every route and socket publishes to and subscribes from.
pub(crate) type SharedHub = Arc<dyn live::hub::Fanout>;

/// The app, configured from `Rocket.toml` and the environment.
pub fn rocket() -> Rocket<Build> {
    rocket_with(config::figment())
}

/// The app with an explicit configuration (tests use this).
pub fn rocket_with(figment: rocket::figment::Figment) -> Rocket<Build> {
    // Recorded from the start, so the first scrape has everything.
    metrics::handle();
    rocket::custom(figment)
        .attach(AdHoc::config::<config::Settings>())
        .attach(store::stage())
        .attach(live::bridge::stage(live::presence::Presence::default()))
        .attach(headers::SecurityHeaders)
        .attach(http::requests::RequestLog)
        .attach(AdHoc::on_liftoff("metrics upkeep", |_| {
            Box::pin(async { metrics::keep_up() })
        }))
        .manage(throttle::AccountThrottles::default())
        .manage(Arc::new(throttle::PostingBudgets::default()))
        .mount("/", http::all())
        .mount("/", socket::routes())
        .register("/", http::accounts::catchers())
}
