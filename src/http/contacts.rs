//! The dashboard: everyone the signed-in user can talk to.

use maud::Markup;
use rocket::State;

use super::{unread_total, viewer};
use crate::auth::CurrentUser;
use crate::chat;
use crate::domain::Order;
use crate::error::Result;
use crate::live::presence::Presence;
use crate::store::Db;
use crate::views::layout::Viewer;
use crate::views::pages;

#[rocket::get("/?<order>")]
async fn dashboard(
    order: Option<&str>,
    me: CurrentUser,
    db: &Db,
    presence: &State<Presence>,
) -> Result<Markup> {
    let order = match order {
        Some("recent") => Order::Recent,
        _ => Order::Alphabetical,
    };
    let list = chat::contacts_of(db.pool(), me.id(), order).await?;
    let groups = chat::groups::of_member(db.pool(), me.id()).await?;
    let viewer = Viewer {
        unread: unread_total(&list, &groups),
        ..viewer(&me)
    };
    let is_online = |id| presence.is_online(id);
    Ok(pages::dashboard(&viewer, &list, &groups, &is_online, order))
}

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![dashboard]
}
