//! HTTP handlers, grouped by page.

pub mod account;
pub mod accounts;
pub mod assets;
pub mod contacts;
pub mod conversations;
pub mod socket;

/// Every route of the app.
pub fn all() -> Vec<rocket::Route> {
    let mut routes = Vec::new();
    routes.extend(account::routes());
    routes.extend(accounts::routes());
    routes.extend(assets::routes());
    routes.extend(contacts::routes());
    routes.extend(conversations::routes());
    routes.extend(socket::routes());
    routes
}
