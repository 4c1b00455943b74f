//! HTTP handlers, grouped by page; errors answered as pages.

use rocket::request::{FromRequest, Outcome, Request};

pub use crate::app::App;
use crate::auth::CurrentUser;

pub mod account;
pub mod accounts;
pub mod admin;
pub mod assets;
pub mod contacts;
pub mod conversations;
pub mod groups;
pub mod health;
pub mod media;
pub mod messages;
pub mod metrics;
pub mod push;
pub mod requests;
pub mod search;
pub mod secret;

/// An error answers with its status and a page saying what happened, in
/// words for the person waiting (the cause goes to the log).
impl<'r> rocket::response::Responder<'r, 'static> for crate::error::Error {
    fn respond_to(self, req: &'r Request<'_>) -> rocket::response::Result<'static> {
        let status = self.status();
        if self.is_busy() {
            req.local_cache(|| crate::error::AnsweredBusy(true));
        }
        if status.code >= 500 {
            tracing::error!(
                target: "natter::http",
                request_id = requests::request_id(req),
                "answering failed: {self}"
            );
        }
        let page = (
            status,
            crate::views::pages::error(status, &self.public_message()),
        );
        page.respond_to(req)
    }
}

/// The cookie the page script sets where it runs (see app.js).
pub(crate) const SCRIPT_COOKIE: &str = "natter_js";

/// Whether the browser runs the page script. Such a page says itself when
/// it has been read, and only while it is in view, so opening it (perhaps in
/// a background tab) must not mark it read; a page without the script reads
/// by being opened.
pub(crate) struct Scripted(pub(crate) bool);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Scripted {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(Scripted(req.cookies().get(SCRIPT_COOKIE).is_some()))
    }
}

/// Whether the request came from htmx (which wants a fragment, not a page).
pub(crate) struct Htmx(pub(crate) bool);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Htmx {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(Htmx(req.headers().get_one("HX-Request").is_some()))
    }
}

/// Who is looking at a page, as the page shell shows them.
pub(crate) fn viewer(me: &CurrentUser) -> crate::views::layout::Viewer<'_> {
    crate::views::layout::Viewer {
        user: &me.user,
        csrf: me.csrf(),
        zone: &me.zone,
        unread: 0,
        admin: me.session.is_admin,
    }
}

/// Everything unread in an inbox, for the tab's title and icon.
pub(crate) fn unread_total(inbox: &[crate::domain::InboxRow]) -> i64 {
    inbox.iter().map(|row| row.unread).sum()
}

/// Every route of the app.
pub fn all() -> Vec<rocket::Route> {
    let mut routes = Vec::new();
    routes.extend(account::routes());
    routes.extend(admin::routes());
    routes.extend(accounts::routes());
    routes.extend(assets::routes());
    routes.extend(contacts::routes());
    routes.extend(conversations::routes());
    routes.extend(groups::routes());
    routes.extend(health::routes());
    routes.extend(media::routes());
    routes.extend(messages::routes());
    routes.extend(metrics::routes());
    routes.extend(push::routes());
    routes.extend(search::routes());
    routes.extend(secret::routes());
    routes
}
