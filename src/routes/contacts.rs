//! The dashboard: everyone the signed-in user can talk to.

use maud::Markup;

use crate::auth::CurrentUser;
use crate::error::Result;
use crate::store::{users, Db};
use crate::views::layout::Viewer;
use crate::views::pages;

#[rocket::get("/")]
async fn dashboard(me: CurrentUser, db: &Db) -> Result<Markup> {
    let contacts = users::others(db.pool(), me.id()).await?;
    let viewer = Viewer {
        user: &me.user,
        csrf: me.csrf(),
    };
    Ok(pages::dashboard(&viewer, &contacts))
}

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![dashboard]
}
