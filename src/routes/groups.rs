//! Group conversations: create one, add someone, leave, rename. Every change
//! is pushed to the pages of everyone it concerns.

use maud::Markup;
use rocket::response::Redirect;
use rocket::FromForm;

use crate::app::App;
use crate::auth::{CsrfForm, CurrentUser};
use crate::error::{Error, Result};
use crate::hub::Event;
use crate::limits::GROUP_TITLE_MAX_CHARS;
use crate::store::groups::{self};
use crate::store::{conversations, users};
use crate::views::conversation_url;
use crate::views::groups::group_list;

/// Checks a group name: trimmed, 1 to 64 characters, no control characters.
pub fn check_title(raw: &str) -> Result<String> {
    let title = raw.trim();
    if title.is_empty() || title.chars().count() > GROUP_TITLE_MAX_CHARS {
        return Err(Error::Invalid(format!(
            "Group names are 1 to {GROUP_TITLE_MAX_CHARS} characters long."
        )));
    }
    if title.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "Group names cannot contain control characters.".into(),
        ));
    }
    Ok(title.to_owned())
}

/// Tells everyone concerned (members before and after) that a group changed.
fn announce(app: &App<'_>, conversation_id: i64, mut concerned: Vec<i64>, extra: &[i64]) {
    concerned.extend_from_slice(extra);
    app.hub
        .publish(&concerned, Event::GroupChanged { conversation_id });
}

#[derive(FromForm)]
struct NewGroup {
    csrf: String,
    title: String,
    members: Vec<i64>,
}

#[rocket::post("/groups", data = "<form>")]
async fn create(form: CsrfForm<NewGroup>, me: CurrentUser, app: App<'_>) -> Result<Redirect> {
    let title = check_title(&form.0.title)?;
    let id = groups::create(app.db.pool(), me.id(), &title, &form.0.members).await?;
    let members = conversations::member_ids(app.db.pool(), id).await?;
    announce(&app, id, members, &[]);
    Ok(Redirect::to(conversation_url(id)))
}

#[derive(FromForm)]
struct AddMember {
    csrf: String,
    username: String,
}

#[rocket::post("/conversations/<id>/members", data = "<form>")]
async fn add(
    id: i64,
    form: CsrfForm<AddMember>,
    me: CurrentUser,
    app: App<'_>,
) -> Result<Redirect> {
    let pool = app.db.pool();
    let user = users::by_username(pool, &form.0.username)
        .await?
        .ok_or_else(|| Error::Invalid("There is nobody with that username.".into()))?;
    groups::add_member(pool, id, me.id(), user.id).await?;
    let members = conversations::member_ids(pool, id).await?;
    announce(&app, id, members, &[]);
    Ok(Redirect::to(conversation_url(id)))
}

#[derive(FromForm)]
struct Rename {
    csrf: String,
    title: String,
}

#[rocket::post("/conversations/<id>/title", data = "<form>")]
async fn rename(
    id: i64,
    form: CsrfForm<Rename>,
    me: CurrentUser,
    app: App<'_>,
) -> Result<Redirect> {
    let title = check_title(&form.0.title)?;
    groups::rename(app.db.pool(), id, me.id(), &title).await?;
    let members = conversations::member_ids(app.db.pool(), id).await?;
    announce(&app, id, members, &[]);
    Ok(Redirect::to(conversation_url(id)))
}

#[derive(FromForm)]
struct Leave {
    csrf: String,
}

/// Leaving takes effect at once: the leaver's open pages of the group are
/// closed by the push, and every query checks membership.
#[rocket::post("/conversations/<id>/leave", data = "<_form>")]
async fn leave(id: i64, _form: CsrfForm<Leave>, me: CurrentUser, app: App<'_>) -> Result<Redirect> {
    groups::leave(app.db.pool(), id, me.id()).await?;
    let members = conversations::member_ids(app.db.pool(), id).await?;
    announce(&app, id, members, &[me.id()]);
    Ok(Redirect::to("/"))
}

/// The group list alone, for a page that reconnects after missing updates.
#[rocket::get("/groups?<current>")]
async fn list(current: Option<i64>, me: CurrentUser, app: App<'_>) -> Result<Markup> {
    let groups = groups::of_member(app.db.pool(), me.id()).await?;
    Ok(group_list(&groups, current, false))
}

crate::csrf_forms!(NewGroup, AddMember, Rename, Leave);

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![create, add, rename, leave, list]
}
