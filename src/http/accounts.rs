//! Sign up, log in, log out, and the redirect to login for private pages.

use maud::Markup;
use rocket::http::{CookieJar, Status};
use rocket::response::Redirect;
use rocket::{FromForm, Request, State};

use crate::auth::{self, CsrfForm, CurrentUser, Visitor};
use crate::chat::{accounts, admin};
use crate::config::Settings;
use crate::domain::{NewPassword, Username};
use crate::error::{Error, Result};
use crate::store::users::CreateError;
use crate::store::Db;
use crate::throttle::{address_key, try_again_message, AccountThrottles};
use crate::views::pages::{self, AccountForm};
use crate::SharedHub;

/// What an account page answers: the page, the form again with an error, or
/// a redirect.
#[derive(rocket::Responder)]
#[allow(clippy::large_enum_variant)] // built once per response, never stored
pub(crate) enum Reply {
    Page(Markup),
    Refused((Status, Markup)),
    Redirect(Redirect),
}

#[derive(FromForm)]
struct SignupForm {
    csrf: String,
    username: String,
    password: String,
    confirmation: String,
    /// The token of the invitation link the page was opened with.
    invite: Option<String>,
}

#[derive(FromForm)]
struct LoginForm {
    csrf: String,
    username: String,
    password: String,
    next: Option<String>,
}

/// A form with nothing but its token (log out).
#[derive(FromForm)]
pub(crate) struct TokenForm {
    csrf: String,
}

#[rocket::get("/signup?<invite>")]
async fn signup_page(
    invite: Option<&str>,
    me: Option<CurrentUser>,
    db: &Db,
    settings: &State<Settings>,
    cookies: &CookieJar<'_>,
) -> Result<Reply> {
    if me.is_some() {
        return Ok(Reply::Redirect(Redirect::to("/")));
    }
    let invite = invite.filter(|t| !t.is_empty());
    let notice = admin::signup_notice(db.pool(), settings.registration, invite.is_some()).await?;
    let csrf = auth::anonymous_csrf(settings, cookies);
    Ok(Reply::Page(pages::signup(
        &csrf,
        &AccountForm {
            error: notice,
            invite,
            ..AccountForm::default()
        },
    )))
}

#[rocket::post("/signup", data = "<form>")]
async fn signup(
    form: CsrfForm<SignupForm>,
    db: &Db,
    settings: &State<Settings>,
    cookies: &CookieJar<'_>,
    hub: &State<SharedHub>,
    throttles: &State<AccountThrottles>,
    visitor: Visitor,
) -> Result<Reply> {
    let form = form.0;
    let username = form.username.trim();
    let refuse_with = |status: Status, error: &str| {
        let page = pages::signup(
            &form.csrf,
            &AccountForm {
                username,
                next: None,
                error: Some(error),
                invite: form.invite.as_deref(),
            },
        );
        Ok(Reply::Refused((status, page)))
    };
    let refuse = |error: &str| refuse_with(Status::UnprocessableEntity, error);
    if let Err(wait) = throttles
        .signup_by_address
        .attempt(&[address_key(visitor.address)])
    {
        return refuse_with(Status::TooManyRequests, &try_again_message(wait));
    }
    let username = match Username::parse(username) {
        Ok(username) => username,
        Err(error) => return refuse(&error),
    };
    let password = match NewPassword::parse(&form.password, &form.confirmation) {
        Ok(password) => password,
        Err(error) => return refuse(&error),
    };
    let admission =
        match admin::admit(db.pool(), settings.registration, form.invite.as_deref()).await {
            Ok(admission) => admission,
            Err(Error::NotAllowed(why)) => return refuse_with(Status::Forbidden, why),
            Err(e) => return Err(e),
        };
    let hash = match auth::hash_password(password.into_string()).await {
        Ok(hash) => hash,
        Err(e) => {
            admin::not_admitted(db.pool(), admission).await?;
            return Err(e);
        }
    };
    let created = accounts::sign_up(db.pool(), hub.as_ref(), &username, &hash).await;
    if created.is_err() {
        admin::not_admitted(db.pool(), admission).await?;
    }
    let user = match created {
        Ok(user) => {
            admin::admitted(db.pool(), admission, user.id).await?;
            user
        }
        Err(CreateError::Taken) => return refuse("That username is taken. Try another one."),
        Err(CreateError::LooksTaken) => {
            return refuse("That username looks too much like one that is taken. Try another one.")
        }
        Err(CreateError::Database(e)) => return Err(e.into()),
    };
    auth::log_in(db, settings, cookies, user.id, &visitor).await?;
    auth::remember_device(db, settings, cookies, user.id).await?;
    Ok(Reply::Redirect(Redirect::to("/")))
}

#[rocket::get("/login?<next>")]
fn login_page(
    next: Option<&str>,
    me: Option<CurrentUser>,
    settings: &State<Settings>,
    cookies: &CookieJar<'_>,
) -> Reply {
    let next = auth::safe_return_path(next);
    if me.is_some() {
        return Reply::Redirect(Redirect::to(next.unwrap_or_else(|| "/".into())));
    }
    let csrf = auth::anonymous_csrf(settings, cookies);
    Reply::Page(pages::login(
        &csrf,
        &AccountForm {
            next: next.as_deref(),
            ..AccountForm::default()
        },
    ))
}

#[rocket::post("/login", data = "<form>")]
async fn login(
    form: CsrfForm<LoginForm>,
    db: &Db,
    settings: &State<Settings>,
    cookies: &CookieJar<'_>,
    throttles: &State<AccountThrottles>,
    visitor: Visitor,
) -> Result<Reply> {
    let form = form.0;
    let username = form.username.trim();
    let next = auth::safe_return_path(form.next.as_deref());
    let refuse = |status: Status, error: &str| {
        let page = pages::login(
            &form.csrf,
            &AccountForm {
                username,
                next: next.as_deref(),
                error: Some(error),
                invite: None,
            },
        );
        Ok(Reply::Refused((status, page)))
    };
    // OWASP's advice: limit by address, and by username only for browsers
    // that have not logged in to this account before, so that a stranger's
    // wrong guesses cannot lock the owner out of their own devices.
    let address = address_key(visitor.address);
    let known_device = auth::is_known_device(db, settings, cookies, username).await?;
    let key = auth::username_key(username);
    let allowed = throttles
        .login_by_address
        .attempt(std::slice::from_ref(&address))
        .and_then(|()| match known_device {
            true => Ok(()),
            false => throttles
                .login_by_username_and_address
                .attempt(&[format!("{key}\n{address}")])
                .and_then(|()| throttles.login_by_username.attempt(&[key])),
        });
    if let Err(wait) = allowed {
        return refuse(Status::TooManyRequests, &try_again_message(wait));
    }
    let found = accounts::credentials(db.pool(), username).await?;
    let (user, hash, deactivated) = match found {
        Some(found) => (
            Some(found.user),
            Some(found.password_hash),
            found.deactivated,
        ),
        None => (None, None, false),
    };
    let verified = auth::verify_password(form.password.clone(), hash).await?;
    match user {
        // Said only to whoever knows the password.
        Some(_) if verified && deactivated => refuse(
            Status::Forbidden,
            "An administrator has deactivated this account.",
        ),
        Some(user) if verified => {
            auth::log_in(db, settings, cookies, user.id, &visitor).await?;
            auth::remember_device(db, settings, cookies, user.id).await?;
            Ok(Reply::Redirect(Redirect::to(
                next.unwrap_or_else(|| "/".into()),
            )))
        }
        _ => refuse(Status::Unauthorized, "Wrong username or password."),
    }
}

#[rocket::post("/logout", data = "<_form>")]
async fn logout(
    _form: CsrfForm<TokenForm>,
    me: Option<CurrentUser>,
    db: &Db,
    settings: &State<Settings>,
    cookies: &CookieJar<'_>,
    hub: &State<SharedHub>,
) -> Result<Redirect> {
    if let Some(token_hash) = auth::end_session(db, settings, cookies).await? {
        if let Some(me) = me {
            accounts::session_ended(hub.as_ref(), me.id(), &token_hash);
        }
    }
    Ok(Redirect::to("/login"))
}

/// Private pages without a session: off to the login page, and back after.
#[rocket::catch(401)]
fn unauthorized(req: &Request<'_>) -> Redirect {
    let here = req.uri().to_string();
    let next = rocket::http::RawStr::new(&here).percent_encode();
    Redirect::to(format!("/login?next={next}"))
}

crate::csrf_forms!(SignupForm, LoginForm, TokenForm);

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![signup_page, signup, login_page, login, logout]
}

/// Every other error status gets the app's own page (and its headers).
#[rocket::catch(default)]
fn any_error(status: Status, _req: &Request<'_>) -> (Status, Markup) {
    let message = match status.code {
        404 => "That page does not exist.",
        403 => "This request could not be verified. Reload the page and try again.",
        413 => "That is too large.",
        422 | 400 => "That request could not be read.",
        429 => "Too many requests. Wait a moment and try again.",
        503 => crate::error::DATABASE_UNREACHABLE,
        _ => "Something went wrong on our side. Please try again.",
    };
    (status, pages::error(status, message))
}

pub(crate) fn catchers() -> Vec<rocket::Catcher> {
    rocket::catchers![unauthorized, any_error]
}
