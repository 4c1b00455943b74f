//! The admin page and what it does: who may sign up, invitation links,
//! and deactivating, reactivating, deleting and promoting accounts. Only
//! administrators reach it; anyone else gets a 404. Also a member's own
//! invitation links, when administrators let members make them.

use maud::Markup;
use rocket::FromForm;

use super::viewer;
use crate::app::App;
use crate::auth::{Admin, CsrfForm, CurrentUser};
use crate::chat::admin::{self, AccountAction};
use crate::domain::{Registration, User, UserId};
use crate::error::{Error, Result};
use crate::views::admin::{self as view, AdminView};

/// The page, after what was just done (or why it was refused), and with a
/// new invitation link when one was made.
async fn render(
    app: &App<'_>,
    me: &Admin,
    search: &str,
    notice: Option<Result<&str, &str>>,
    new_invite: Option<&str>,
) -> Result<Markup> {
    let pool = app.db.pool();
    let registration = admin::registration(pool, app.settings.registration).await?;
    let members_invite = admin::members_may_invite(pool).await?;
    let (users, invites, log) = admin::overview(pool, search).await?;
    Ok(view::admin(
        &viewer(&me.0),
        &AdminView {
            registration,
            users: &users,
            search,
            invites: &invites,
            log: &log,
            new_invite,
            members_invite,
            notice,
        },
    ))
}

/// What a refusal the administrator can act on says; anything else stays
/// an error page.
async fn done_or_refused(app: &App<'_>, me: &Admin, result: Result<String>) -> Result<Markup> {
    match result {
        Ok(text) => render(app, me, "", Some(Ok(&text)), None).await,
        Err(e) if e.is_refusal() || matches!(e, Error::NotAllowed(_)) => {
            let why = e.public_message();
            render(app, me, "", Some(Err(&why)), None).await
        }
        Err(e) => Err(e),
    }
}

#[rocket::get("/admin?<q>")]
async fn page(q: Option<&str>, me: Admin, app: App<'_>) -> Result<Markup> {
    render(&app, &me, q.unwrap_or_default(), None, None).await
}

#[derive(FromForm)]
struct AccountForm {
    csrf: String,
    action: String,
}

#[derive(FromForm)]
struct RegistrationForm {
    csrf: String,
    mode: String,
}

#[derive(FromForm)]
struct InviteForm {
    csrf: String,
    uses: i64,
    days: i64,
}

#[derive(FromForm)]
struct MembersInviteForm {
    csrf: String,
    allowed: Option<String>,
}

crate::csrf_forms!(AccountForm, RegistrationForm, InviteForm, MembersInviteForm);

#[rocket::post("/admin/users/<id>", data = "<form>")]
async fn act_on_account(
    id: UserId,
    form: CsrfForm<AccountForm>,
    me: Admin,
    app: App<'_>,
) -> Result<Markup> {
    let result = async {
        let action = AccountAction::parse(&form.0.action).ok_or_else(|| {
            Error::Invalid("That is not something an administrator can do.".into())
        })?;
        let name = admin::act_on_account(
            app.db.pool(),
            app.hub.as_ref(),
            &app.settings.media_dir,
            Some(&me.0.user),
            id,
            action,
        )
        .await?;
        Ok(format!("Done: {name} {}.", action_done(action)))
    }
    .await;
    done_or_refused(&app, &me, result).await
}

/// How the page confirms an action.
fn action_done(action: AccountAction) -> &'static str {
    match action {
        AccountAction::Deactivate => "is deactivated and logged out everywhere",
        AccountAction::Reactivate => "can log in again",
        AccountAction::MakeAdmin => "is an administrator",
        AccountAction::UnmakeAdmin => "is no longer an administrator",
        AccountAction::Delete => "is deleted",
    }
}

#[rocket::post("/admin/registration", data = "<form>")]
async fn set_registration(
    form: CsrfForm<RegistrationForm>,
    me: Admin,
    app: App<'_>,
) -> Result<Markup> {
    let result = async {
        let mode = Registration::parse(&form.0.mode)
            .ok_or_else(|| Error::Invalid("Choose who may sign up.".into()))?;
        admin::set_registration(app.db.pool(), &me.0.user, mode).await?;
        Ok(format!("Saved: {}.", mode.label()))
    }
    .await;
    done_or_refused(&app, &me, result).await
}

#[rocket::post("/admin/invites", data = "<form>")]
async fn create_invite(form: CsrfForm<InviteForm>, me: Admin, app: App<'_>) -> Result<Markup> {
    match new_invite_link(&app, &me.0.user, &form.0).await {
        Ok(link) => render(&app, &me, "", None, Some(&link)).await,
        Err(e) => done_or_refused(&app, &me, Err(e)).await,
    }
}

/// Makes an invitation link as `user`, as the form asks; returns the link
/// to show (on the configured site, or this one).
async fn new_invite_link(app: &App<'_>, user: &User, form: &InviteForm) -> Result<String> {
    let token = admin::create_invite(app.db.pool(), user, form.uses, form.days).await?;
    let site = app.settings.site.as_deref().unwrap_or_default();
    Ok(format!("{site}/signup?invite={token}"))
}

#[rocket::post("/admin/invites/<id>/revoke", data = "<_form>")]
async fn revoke_invite(
    id: i64,
    _form: CsrfForm<crate::http::accounts::TokenForm>,
    me: Admin,
    app: App<'_>,
) -> Result<Markup> {
    let result = admin::revoke_invite(app.db.pool(), &me.0.user, id)
        .await
        .map(|()| format!("Invitation #{id} no longer works."));
    done_or_refused(&app, &me, result).await
}

#[rocket::post("/admin/members-invite", data = "<form>")]
async fn set_members_invite(
    form: CsrfForm<MembersInviteForm>,
    me: Admin,
    app: App<'_>,
) -> Result<Markup> {
    let allowed = form.0.allowed.as_deref() == Some("on");
    let result = admin::set_members_may_invite(app.db.pool(), &me.0.user, allowed)
        .await
        .map(|()| {
            if allowed {
                "Saved: members may make invitation links.".to_owned()
            } else {
                "Saved: only administrators make invitation links.".to_owned()
            }
        });
    done_or_refused(&app, &me, result).await
}

/// A member's own invitation links, after what was just done.
async fn member_page(
    app: &App<'_>,
    me: &CurrentUser,
    new_invite: Option<&str>,
    notice: Option<Result<&str, &str>>,
) -> Result<Markup> {
    let pool = app.db.pool();
    if !admin::may_invite(pool, me.id()).await? {
        return Err(Error::NotFound);
    }
    let invites = admin::invites_of(pool, me.id()).await?;
    Ok(view::member_invites(
        &viewer(me),
        &invites,
        new_invite,
        notice,
    ))
}

#[rocket::get("/invites")]
async fn member_invites(me: CurrentUser, app: App<'_>) -> Result<Markup> {
    member_page(&app, &me, None, None).await
}

#[rocket::post("/invites", data = "<form>")]
async fn member_create_invite(
    form: CsrfForm<InviteForm>,
    me: CurrentUser,
    app: App<'_>,
) -> Result<Markup> {
    match new_invite_link(&app, &me.user, &form.0).await {
        Ok(link) => member_page(&app, &me, Some(&link), None).await,
        Err(e) if e.is_refusal() => {
            let why = e.public_message();
            member_page(&app, &me, None, Some(Err(&why))).await
        }
        Err(e) => Err(e),
    }
}

#[rocket::post("/invites/<id>/revoke", data = "<_form>")]
async fn member_revoke_invite(
    id: i64,
    _form: CsrfForm<crate::http::accounts::TokenForm>,
    me: CurrentUser,
    app: App<'_>,
) -> Result<Markup> {
    admin::revoke_invite(app.db.pool(), &me.user, id).await?;
    let done = format!("Invitation #{id} no longer works.");
    member_page(&app, &me, None, Some(Ok(&done))).await
}

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![
        page,
        act_on_account,
        set_registration,
        create_invite,
        revoke_invite,
        set_members_invite,
        member_invites,
        member_create_invite,
        member_revoke_invite
    ]
}
