//! The inbox and the directory of people: where a signed-in user starts.

use maud::Markup;
use rocket::State;

use super::{unread_total, viewer};
use crate::auth::CurrentUser;
use crate::chat;
use crate::domain::SearchQuery;
use crate::error::Result;
use crate::live::presence::Presence;
use crate::store::Db;
use crate::views::inbox::keep_matching;
use crate::views::layout::Viewer;
use crate::views::pages;
use crate::views::search::SearchView;

/// The filter's text, at most this long (a longer one matches nothing
/// anyway, and is not echoed back whole).
const QUERY_MAX_CHARS: usize = 100;

fn query(q: Option<&str>) -> String {
    q.unwrap_or_default()
        .chars()
        .take(QUERY_MAX_CHARS)
        .collect()
}

/// The viewer's conversations, newest activity first; `q` filters them by name.
#[rocket::get("/?<q>")]
async fn inbox(q: Option<&str>, me: CurrentUser, db: &Db) -> Result<Markup> {
    let mut rows = chat::inbox(db.pool(), me.id()).await?;
    let viewer = Viewer {
        unread: unread_total(&rows),
        admin: me.session.is_admin,
        ..viewer(&me)
    };
    let q = query(q);
    // Without the script, the filter's text also searches the messages.
    let search = SearchQuery::parse(&q);
    let found = if search.is_empty() {
        None
    } else {
        Some(chat::search::search(db.pool(), me.id(), &me.zone, &search, None, None).await?)
    };
    keep_matching(&mut rows, |row| [&row.title, ""], &q);
    let view = found.as_ref().map(|results| SearchView {
        query: &q,
        terms: &search.terms,
        scope: None,
        results,
        zone: &me.zone,
    });
    Ok(pages::inbox(&viewer, &rows, &q, view.as_ref()))
}

/// Everyone else, to start a conversation or a group with; `q` filters
/// them by name.
#[rocket::get("/people?<q>")]
async fn people(
    q: Option<&str>,
    me: CurrentUser,
    db: &Db,
    presence: &State<Presence>,
) -> Result<Markup> {
    let mut list = chat::contacts_of(db.pool(), me.id()).await?;
    let q = query(q);
    keep_matching(
        &mut list,
        |contact| [&contact.username, &contact.profile.display_name],
        &q,
    );
    let is_online = |id| presence.is_online(id);
    Ok(pages::people(&viewer(&me), &list, &is_online, &q))
}

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![inbox, people]
}
