//! Group conversations: create one, add someone, leave, rename. Every change
//! is pushed to the pages of everyone it concerns.

use maud::Markup;
use rocket::response::Redirect;
use rocket::FromForm;

use super::viewer;
use crate::app::App;
use crate::auth::{CsrfForm, CurrentUser};
use crate::chat::{groups, scope_of, Scope};
use crate::domain::{ConversationId, UserId};
use crate::error::{Error, Result};
use crate::views::{conversation_url, pages};

#[derive(FromForm)]
struct NewGroup {
    csrf: String,
    title: String,
    members: Vec<UserId>,
    /// Ticked "Secret": only the page's script can make one (the group's
    /// keys are made in the browser), so this form without it refuses.
    secret: bool,
}

#[rocket::post("/groups", data = "<form>")]
async fn create(form: CsrfForm<NewGroup>, me: CurrentUser, app: App<'_>) -> Result<Redirect> {
    if form.0.secret {
        return Err(Error::Invalid(
            "A secret conversation is made by the page's script, with keys made in your browser: it needs JavaScript.".into(),
        ));
    }
    let (pool, hub) = (app.db.pool(), app.hub.as_ref());
    let id = groups::create(pool, hub, me.id(), &form.0.title, &form.0.members).await?;
    Ok(Redirect::to(conversation_url(id)))
}

#[derive(FromForm)]
struct AddMember {
    csrf: String,
    username: String,
}

#[rocket::post("/conversations/<id>/members", data = "<form>")]
async fn add(
    id: ConversationId,
    form: CsrfForm<AddMember>,
    me: CurrentUser,
    app: App<'_>,
) -> Result<Redirect> {
    let (pool, hub) = (app.db.pool(), app.hub.as_ref());
    groups::add_member(pool, hub, id, me.id(), &form.0.username).await?;
    Ok(Redirect::to(conversation_url(id)))
}

#[derive(FromForm)]
struct Rename {
    csrf: String,
    title: String,
}

#[rocket::post("/conversations/<id>/title", data = "<form>")]
async fn rename(
    id: ConversationId,
    form: CsrfForm<Rename>,
    me: CurrentUser,
    app: App<'_>,
) -> Result<Redirect> {
    groups::rename(app.db.pool(), app.hub.as_ref(), id, me.id(), &form.0.title).await?;
    Ok(Redirect::to(conversation_url(id)))
}

#[derive(FromForm)]
struct Leave {
    csrf: String,
}

/// Asks before leaving (a GET changes nothing).
#[rocket::get("/conversations/<id>/leave")]
async fn confirm_leave(id: ConversationId, me: CurrentUser, app: App<'_>) -> Result<Markup> {
    match scope_of(app.db.pool(), id, &me).await? {
        Scope::Group(group) => Ok(pages::confirm_leave(&viewer(&me), &group)),
        Scope::Direct(_) => Err(Error::NotFound),
    }
}

/// Leaving takes effect at once: the leaver's open pages of the group are
/// closed by the push, and every query checks membership.
#[rocket::post("/conversations/<id>/leave", data = "<_form>")]
async fn leave(
    id: ConversationId,
    _form: CsrfForm<Leave>,
    me: CurrentUser,
    app: App<'_>,
) -> Result<Redirect> {
    groups::leave(app.db.pool(), app.hub.as_ref(), id, me.id()).await?;
    Ok(Redirect::to("/"))
}

crate::csrf_forms!(NewGroup, AddMember, Rename, Leave);

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![create, add, rename, confirm_leave, leave]
}
