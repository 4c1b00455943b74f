//! The `App` guard: the shared state (database, hub, presence, writer,
//! settings, budgets) handed to every page and socket handler.

use std::sync::Arc;

use rocket::outcome::try_outcome;
use rocket::request::{self, FromRequest, Request};
use rocket::{Shutdown, State};

use crate::config::Settings;
use crate::live::presence::Presence;
use crate::store::writer::Writer;
use crate::store::Db;
use crate::throttle::PostingBudgets;
use crate::SharedHub;

/// Everything a page or socket handler may need from the app.
pub struct App<'r> {
    pub db: &'r Db,
    pub hub: &'r SharedHub,
    pub presence: &'r Presence,
    pub writer: &'r Writer,
    pub settings: &'r Settings,
    pub shutdown: Shutdown,
    /// Per-user posting budgets, shared by sockets and forms.
    pub budgets: &'r Arc<PostingBudgets>,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for App<'r> {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, ()> {
        let db = try_outcome!(req.guard::<&Db>().await.map_error(|(s, _)| (s, ())));
        let hub = try_outcome!(req.guard::<&State<SharedHub>>().await);
        let presence = try_outcome!(req.guard::<&State<Presence>>().await);
        let writer = try_outcome!(req.guard::<&State<Writer>>().await);
        let settings = try_outcome!(req.guard::<&State<Settings>>().await);
        let budgets = try_outcome!(req.guard::<&State<Arc<PostingBudgets>>>().await);
        let shutdown = try_outcome!(req.guard::<Shutdown>().await.map_error(|(s, _)| (s, ())));
        request::Outcome::Success(App {
            db,
            hub: hub.inner(),
            presence: presence.inner(),
            writer: writer.inner(),
            settings: settings.inner(),
            shutdown,
            budgets: budgets.inner(),
        })
    }
}
