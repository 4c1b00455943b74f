//! The search page: `/search?q=…` (all the viewer's conversations) or with
//! `&c=<id>` (one of them); `&before=<id>` pages on. A request from htmx
//! (typing in the form) gets the results section alone.

use maud::Markup;

use super::{unread_total, viewer, Htmx};
use crate::auth::CurrentUser;
use crate::chat;
use crate::chat::search::search as find;
use crate::domain::{ConversationId, MessageId, SearchQuery};
use crate::error::Result;
use crate::store::Db;
use crate::views::layout::Viewer;
use crate::views::search::{results_section, search_page, SearchView};

#[rocket::get("/search?<q>&<c>&<before>")]
async fn search(
    q: Option<&str>,
    c: Option<ConversationId>,
    before: Option<MessageId>,
    htmx: Htmx,
    me: CurrentUser,
    db: &Db,
) -> Result<Markup> {
    let query = SearchQuery::parse(q.unwrap_or_default());
    let results = find(db.pool(), me.id(), &me.zone, &query, c, before).await?;
    let view = SearchView {
        query: &query.text,
        terms: &query.terms,
        scope: results
            .scope
            .as_ref()
            .map(|row| (row.id, row.title.as_str())),
        results: &results,
        zone: &me.zone,
    };
    if htmx.0 {
        return Ok(results_section(&view));
    }
    let inbox = chat::inbox(db.pool(), me.id()).await?;
    let viewer = Viewer {
        unread: unread_total(&inbox),
        ..viewer(&me)
    };
    Ok(search_page(&viewer, &view))
}

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![search]
}
