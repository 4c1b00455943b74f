//! The account page: sessions and "log out everywhere", password change
//! (which ends the other sessions), account deletion, and the profile
//! (display name, status, picture).

use maud::Markup;
use rocket::fs::TempFile;
use rocket::http::{Cookie, CookieJar, SameSite, Status};
use rocket::response::Redirect;
use rocket::{FromForm, State};

use super::viewer;
use crate::app::App;
use crate::auth::{self, CsrfForm, CurrentUser, ZONE_COOKIE};
use crate::chat::{accounts, admin, profiles, push, secret};
use crate::config::Settings;
use crate::domain::User;
use crate::domain::{NewPassword, Zone};
use crate::error::{Error, Result};
use crate::http::accounts::{Reply, TokenForm};
use crate::http::media::read_upload;
use crate::limits::AVATAR_MAX_BYTES;
use crate::store::Db;
use crate::views::account::{self as view, Notice};
use crate::SharedHub;

async fn render(db: &Db, me: &CurrentUser, notice: Option<Notice<'_>>) -> Result<Markup> {
    let list = accounts::sessions_of(db.pool(), me.id()).await?;
    let devices = secret::devices_of(db.pool(), me.id()).await?;
    let this_device = secret::this_device(db.pool(), &me.session.token_hash).await?;
    let pushed = push::subscriptions_of(db.pool(), me.id()).await?;
    let may_invite = admin::may_invite(db.pool(), me.id()).await?;
    let signed_in = view::SignedIn {
        current_session: &me.session.token_hash,
        sessions: &list,
        devices: &devices,
        this_device,
    };
    Ok(view::account(
        &viewer(me),
        &signed_in,
        &pushed,
        may_invite,
        Zone::names(),
        notice,
    ))
}

#[rocket::get("/account")]
async fn page(me: CurrentUser, db: &Db) -> Result<Markup> {
    render(db, &me, None).await
}

#[rocket::post("/account/logout-others", data = "<_form>")]
async fn logout_others(
    _form: CsrfForm<TokenForm>,
    me: CurrentUser,
    db: &Db,
    hub: &State<SharedHub>,
) -> Result<Markup> {
    let keep = Some(me.session.token_hash.as_str());
    accounts::end_sessions(db.pool(), hub.as_ref(), me.id(), keep).await?;
    render(
        db,
        &me,
        Some(Notice::Done("Every other session is logged out.")),
    )
    .await
}

#[rocket::post("/account/logout-everywhere", data = "<_form>")]
async fn logout_everywhere(
    _form: CsrfForm<TokenForm>,
    me: CurrentUser,
    db: &Db,
    settings: &State<Settings>,
    cookies: &CookieJar<'_>,
    hub: &State<SharedHub>,
) -> Result<Redirect> {
    accounts::end_sessions(db.pool(), hub.as_ref(), me.id(), None).await?;
    auth::end_session(db, settings, cookies).await?;
    Ok(Redirect::to("/login"))
}

#[derive(FromForm)]
struct ZoneForm {
    csrf: String,
    zone: String,
}

/// Shows times in the chosen zone from now on, in this browser (the page
/// script reports the browser's own zone only where none is set).
#[rocket::post("/account/time-zone", data = "<form>")]
async fn choose_time_zone(
    form: CsrfForm<ZoneForm>,
    me: CurrentUser,
    db: &Db,
    settings: &State<Settings>,
    cookies: &CookieJar<'_>,
) -> Result<Reply> {
    let Some(zone) = Zone::named(&form.0.zone) else {
        let page = render(db, &me, Some(Notice::Failed("That is not a time zone."))).await?;
        return Ok(Reply::Refused((Status::UnprocessableEntity, page)));
    };
    cookies.add(
        Cookie::build((ZONE_COOKIE, zone.label().to_owned()))
            .path("/")
            .same_site(SameSite::Lax)
            .secure(settings.secure_cookies)
            .max_age(rocket::time::Duration::days(400)),
    );
    Ok(Reply::Redirect(Redirect::to("/account")))
}

#[derive(FromForm)]
struct PasswordForm {
    csrf: String,
    current: String,
    password: String,
    confirmation: String,
}

#[rocket::post("/account/password", data = "<form>")]
async fn change_password(
    form: CsrfForm<PasswordForm>,
    me: CurrentUser,
    db: &Db,
    hub: &State<SharedHub>,
) -> Result<Reply> {
    let form = form.0;
    let checked = if !accounts::password_matches(db.pool(), me.id(), &form.current).await? {
        Err("The current password is not right.".to_owned())
    } else {
        NewPassword::parse(&form.password, &form.confirmation)
    };
    let password = match checked {
        Ok(password) => password,
        Err(text) => {
            let page = render(db, &me, Some(Notice::Failed(&text))).await?;
            return Ok(Reply::Refused((Status::UnprocessableEntity, page)));
        }
    };
    let hash = auth::hash_password(password.into_string()).await?;
    let keep = &me.session.token_hash;
    accounts::change_password(db.pool(), hub.as_ref(), me.id(), &hash, keep).await?;
    let notice = Notice::Done("Password changed. Every other session is logged out.");
    Ok(Reply::Page(render(db, &me, Some(notice)).await?))
}

#[derive(FromForm)]
struct DeleteForm {
    csrf: String,
    password: String,
}

#[rocket::post("/account/delete", data = "<form>")]
async fn delete(
    form: CsrfForm<DeleteForm>,
    me: CurrentUser,
    db: &Db,
    settings: &State<Settings>,
    cookies: &CookieJar<'_>,
    hub: &State<SharedHub>,
) -> Result<Reply> {
    if !accounts::password_matches(db.pool(), me.id(), &form.0.password).await? {
        let notice = Notice::Failed("The password is not right; the account was not deleted.");
        let page = render(db, &me, Some(notice)).await?;
        return Ok(Reply::Refused((Status::UnprocessableEntity, page)));
    }
    accounts::delete_account(db.pool(), hub.as_ref(), &settings.media_dir, me.id()).await?;
    auth::end_session(db, settings, cookies).await?;
    Ok(Reply::Redirect(Redirect::to("/signup")))
}

#[derive(FromForm)]
struct ProfileForm {
    csrf: String,
    display_name: String,
    status: String,
}

#[derive(FromForm)]
struct AvatarForm<'r> {
    csrf: String,
    avatar: TempFile<'r>,
}

/// A profile change's outcome: back to the page, or the page with the
/// reason it was refused (nothing changed).
async fn after_profile_change(db: &Db, me: &CurrentUser, changed: Result<User>) -> Result<Reply> {
    match changed {
        Ok(_) => Ok(Reply::Redirect(Redirect::to("/account"))),
        Err(e) if e.is_refusal() => {
            let text = e.public_message();
            let page = render(db, me, Some(Notice::Failed(&text))).await?;
            Ok(Reply::Refused((e.status(), page)))
        }
        Err(e) => Err(e),
    }
}

#[rocket::post("/account/profile", data = "<form>")]
async fn save_profile(form: CsrfForm<ProfileForm>, me: CurrentUser, app: App<'_>) -> Result<Reply> {
    let form = form.0;
    let pool = app.db.pool();
    let hub = app.hub.as_ref();
    let changed = profiles::set_profile(pool, hub, me.id(), &form.display_name, &form.status).await;
    after_profile_change(app.db, &me, changed).await
}

/// A new picture; Rocket's `file` limit bounds what streams in, and
/// `AVATAR_MAX_BYTES` what an avatar may be.
#[rocket::post("/account/avatar", data = "<form>")]
async fn upload_avatar(
    form: CsrfForm<AvatarForm<'_>>,
    me: CurrentUser,
    app: App<'_>,
) -> Result<Reply> {
    let form = form.0;
    let changed = async {
        if form.avatar.len() > AVATAR_MAX_BYTES {
            return Err(Error::Invalid(format!(
                "A picture can be at most {} MiB.",
                AVATAR_MAX_BYTES / 1024 / 1024
            )));
        }
        app.budgets.upload(me.id())?;
        let bytes = read_upload(&form.avatar).await?;
        let (pool, hub, dir) = (app.db.pool(), app.hub.as_ref(), &app.settings.media_dir);
        profiles::set_avatar(pool, hub, dir, me.id(), Some(bytes)).await
    }
    .await;
    after_profile_change(app.db, &me, changed).await
}

#[rocket::post("/account/avatar/delete", data = "<_form>")]
async fn remove_avatar(_form: CsrfForm<TokenForm>, me: CurrentUser, app: App<'_>) -> Result<Reply> {
    let (pool, hub, dir) = (app.db.pool(), app.hub.as_ref(), &app.settings.media_dir);
    let changed = profiles::set_avatar(pool, hub, dir, me.id(), None).await;
    after_profile_change(app.db, &me, changed).await
}

/// Stops pushing to one of the user's browsers.
#[rocket::post("/account/push/<id>/delete", data = "<_form>")]
async fn remove_push(
    id: i64,
    _form: CsrfForm<TokenForm>,
    me: CurrentUser,
    db: &Db,
) -> Result<Markup> {
    let notice = if push::unsubscribe(db.pool(), me.id(), Some(id), None).await? {
        Notice::Done("That browser gets no more push notifications.")
    } else {
        Notice::Failed("That browser was not getting push notifications.")
    };
    render(db, &me, Some(notice)).await
}

crate::csrf_forms!(
    ZoneForm,
    PasswordForm,
    DeleteForm,
    ProfileForm,
    AvatarForm<'_>
);

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![
        page,
        logout_others,
        logout_everywhere,
        choose_time_zone,
        change_password,
        delete,
        remove_push,
        save_profile,
        upload_avatar,
        remove_avatar
    ]
}
