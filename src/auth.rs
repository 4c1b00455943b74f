//! Who is asking: password rules and hashing (argon2id), server-side sessions,
//! the `CurrentUser` guard, same-origin checks and CSRF tokens.

use rand::rngs::OsRng;
use rand::RngCore;
use rocket::data::{self, Data, FromData};
use rocket::form::{Form, FromForm};
use rocket::http::{Cookie, CookieJar, SameSite, Status};
use rocket::outcome::try_outcome;
use rocket::outcome::Outcome;
use rocket::request::{self, FromRequest, Request};
use sha2::{Digest, Sha256};

use crate::config::Settings;
use crate::domain::{UserId, Zone};
use crate::error::{Error, Result};
use crate::store::devices;
use crate::store::sessions::{self, Session};
use crate::store::users::User;
use crate::store::{self, Db};
use rocket_db_pools::Database;

// ---------------------------------------------------------------- rules

/// Whether a session still stands (not logged out, not expired): a
/// socket of an ended session is closed. If the database cannot say, it
/// stands.
pub(crate) async fn session_is_live(
    pool: &store::Pool,
    token_hash: &str,
    idle: time::Duration,
) -> bool {
    sessions::is_live(pool, token_hash, idle)
        .await
        .unwrap_or(true)
}

/// The key a username is throttled and looked up under (case-insensitive).
pub(crate) fn username_key(username: &str) -> String {
    crate::store::users::username_key(username)
}

// ---------------------------------------------------------------- hashing

pub use crate::passwords::{hash_password, verify_password};

// ---------------------------------------------------------------- tokens

/// 256 random bits from the operating system's CSPRNG, hex-encoded.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the database stores instead of a session token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn settings<'r>(req: &'r Request<'_>) -> Option<&'r Settings> {
    req.rocket().state::<Settings>()
}

/// Cookie names: with the `__Host-` prefix when cookies are secure, so they
/// cannot be set by a subdomain or over plain HTTP.
fn cookie_name(settings: &Settings, name: &str) -> String {
    if settings.secure_cookies {
        format!("__Host-{name}")
    } else {
        name.to_owned()
    }
}

fn base_cookie(settings: &Settings, name: &str, value: String) -> Cookie<'static> {
    Cookie::build((cookie_name(settings, name), value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(settings.secure_cookies)
        .build()
}

const SESSION_COOKIE: &str = "natter_session";
const ANON_CSRF_COOKIE: &str = "natter_csrf";
const DEVICE_COOKIE: &str = "natter_device";
/// How long a browser stays known to the accounts it logged in to.
const DEVICE_COOKIE_DAYS: i64 = 400;

// ---------------------------------------------------------------- sessions

/// Starts a fresh session for `user_id` and sets its cookie. Any session the
/// browser had is ended first, so a planted session id is never reused.
pub async fn log_in(
    db: &Db,
    settings: &Settings,
    cookies: &CookieJar<'_>,
    user_id: UserId,
    visitor: &Visitor,
) -> Result<()> {
    end_session(db, settings, cookies).await?;
    let token = random_token();
    let expires_at = store::now() + time::Duration::hours(settings.session_hours);
    sessions::create_for_agent(
        db.pool(),
        &token_hash(&token),
        user_id,
        &random_token(),
        expires_at,
        visitor.user_agent.as_deref(),
    )
    .await?;
    let mut cookie = base_cookie(settings, SESSION_COOKIE, token);
    cookie.set_max_age(time::Duration::hours(settings.session_hours));
    cookies.add(cookie);
    Ok(())
}

/// Whether this browser logged in as `username` before (its device cookie
/// is known for that account).
pub(crate) async fn is_known_device(
    db: &Db,
    settings: &Settings,
    cookies: &CookieJar<'_>,
    username: &str,
) -> Result<bool> {
    match cookies.get(&cookie_name(settings, DEVICE_COOKIE)) {
        Some(cookie) => devices::is_known(db.pool(), &token_hash(cookie.value()), username).await,
        None => Ok(false),
    }
}

/// Remembers this browser as a device of `user_id`, giving it a device
/// cookie if it has none yet.
pub(crate) async fn remember_device(
    db: &Db,
    settings: &Settings,
    cookies: &CookieJar<'_>,
    user_id: UserId,
) -> Result<()> {
    let name = cookie_name(settings, DEVICE_COOKIE);
    let token = match cookies.get(&name) {
        Some(cookie) => cookie.value().to_owned(),
        None => random_token(),
    };
    devices::remember(db.pool(), &token_hash(&token), user_id).await?;
    let mut cookie = base_cookie(settings, DEVICE_COOKIE, token);
    cookie.set_max_age(time::Duration::days(DEVICE_COOKIE_DAYS));
    cookies.add(cookie);
    Ok(())
}

/// Deletes the browser's session row (its cookie is dead from now on) and the
/// cookie. Returns the ended session's token hash, if there was one.
pub(crate) async fn end_session(
    db: &Db,
    settings: &Settings,
    cookies: &CookieJar<'_>,
) -> Result<Option<String>> {
    let name = cookie_name(settings, SESSION_COOKIE);
    let Some(cookie) = cookies.get(&name) else {
        return Ok(None);
    };
    let hash = token_hash(cookie.value());
    sessions::delete(db.pool(), &hash).await?;
    cookies.remove(base_cookie(settings, SESSION_COOKIE, String::new()));
    Ok(Some(hash))
}

/// Who is at the door: the client address (for rate limits) and the
/// browser's `User-Agent`, shortened (to tell sessions apart on the account page).
pub struct Visitor {
    pub address: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Visitor {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, Self::Error> {
        let user_agent = req
            .headers()
            .get_one("User-Agent")
            .map(|a| a.chars().filter(|c| !c.is_control()).take(200).collect());
        let (trusted, header) = settings(req).map_or((&[][..], "X-Real-IP"), |s| {
            (s.trusted_proxies.as_slice(), s.proxy_header.as_str())
        });
        Outcome::Success(Visitor {
            address: client_address(req.remote().map(|a| a.ip()), trusted, header, |name| {
                req.headers().get(name).collect()
            }),
            user_agent,
        })
    }
}

/// The client's address: the connection's peer, unless that is a trusted
/// proxy, which says whom it forwards for in `header` (the one it writes:
/// `X-Real-IP`, or `X-Forwarded-For`). Only what the proxy itself wrote
/// counts: the last `X-Real-IP`, or in `X-Forwarded-For` the nearest entry
/// that is not a trusted proxy (an entry that is not an address ends the
/// search: what comes before it is the client's own writing). From anyone
/// else the headers are ignored.
pub(crate) fn client_address<'h>(
    peer: Option<std::net::IpAddr>,
    trusted: &[std::net::IpAddr],
    header: &str,
    values: impl Fn(&str) -> Vec<&'h str>,
) -> Option<std::net::IpAddr> {
    let peer = peer?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    if !header.eq_ignore_ascii_case("X-Forwarded-For") {
        return Some(
            values(header)
                .last()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(peer),
        );
    }
    let hops: Vec<&str> = values(header)
        .into_iter()
        .flat_map(|v| v.split(','))
        .collect();
    for hop in hops.into_iter().rev() {
        match hop.trim().parse::<std::net::IpAddr>() {
            Ok(ip) if trusted.contains(&ip) => continue,
            Ok(ip) => return Some(ip),
            Err(_) => return Some(peer),
        }
    }
    Some(peer)
}

/// The request's session: `Err` carries the status to answer when the
/// database could not say (unreachable: 503), which must never look like
/// being logged out.
struct CachedSession(Result<Option<Session>, Status>);

async fn session_of(req: &Request<'_>) -> Result<Option<Session>, Status> {
    let cached = req
        .local_cache_async(async {
            let (Some(settings), Some(db)) = (settings(req), Db::fetch(req.rocket())) else {
                return CachedSession(Err(Status::InternalServerError));
            };
            let Some(cookie) = req.cookies().get(&cookie_name(settings, SESSION_COOKIE)) else {
                return CachedSession(Ok(None));
            };
            if db.health().is_down() {
                return CachedSession(Err(Status::ServiceUnavailable));
            }
            let idle = time::Duration::hours(settings.session_idle_hours);
            match sessions::find(db.pool(), &token_hash(cookie.value()), idle).await {
                Ok(session) => CachedSession(Ok(session)),
                Err(e) => {
                    rocket::error!("session lookup failed: {e}");
                    if e.is_busy() {
                        req.local_cache(|| crate::error::AnsweredBusy(true));
                    }
                    CachedSession(Err(e.status()))
                }
            }
        })
        .await;
    cached.0.clone()
}

/// The cookie holding the viewer's time zone: the browser's, which app.js
/// reports, or the one chosen on the account page.
pub(crate) const ZONE_COOKIE: &str = "natter_tz";

/// The logged-in user of a request. Without a live session the request fails
/// with 401, which the app turns into a redirect to the login page.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: User,
    pub session: Session,
    /// The clock their pages are shown on (UTC, said so, until known).
    pub zone: Zone,
}

impl CurrentUser {
    pub fn id(&self) -> UserId {
        self.user.id
    }

    /// The synchronizer token of this session, put in every form.
    pub fn csrf(&self) -> &str {
        &self.session.csrf_token
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for CurrentUser {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, ()> {
        match session_of(req).await {
            Ok(Some(session)) => Outcome::Success(CurrentUser {
                user: session.user.clone(),
                session,
                zone: req
                    .cookies()
                    .get(ZONE_COOKIE)
                    .and_then(|c| Zone::named(c.value()))
                    .unwrap_or_default(),
            }),
            Ok(None) => Outcome::Error((Status::Unauthorized, ())),
            Err(status) => Outcome::Error((status, ())),
        }
    }
}

/// A logged-in administrator. Anyone else gets the same 404 as for a page
/// that does not exist (and a visitor the login page).
pub struct Admin(pub CurrentUser);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Admin {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, ()> {
        let me = try_outcome!(req.guard::<CurrentUser>().await);
        if me.session.is_admin {
            Outcome::Success(Admin(me))
        } else {
            Outcome::Error((Status::NotFound, ()))
        }
    }
}

// ---------------------------------------------------------------- same origin

/// The origin the site is served from: the configured `site`, or the one the
/// request's `Host` names.
fn expected_origin(req: &Request<'_>, settings: &Settings) -> Option<String> {
    if let Some(site) = &settings.site {
        return Some(site.trim_end_matches('/').to_owned());
    }
    let host = req.headers().get_one("Host")?;
    let scheme = if settings.secure_cookies {
        "https"
    } else {
        "http"
    };
    Some(format!("{scheme}://{host}"))
}

/// Whether the request comes from our own pages. A cross-site `Sec-Fetch-Site`
/// or a foreign `Origin` fails; a missing `Origin` fails only when `required`.
fn is_same_origin(req: &Request<'_>, required: bool) -> bool {
    let Some(settings) = settings(req) else {
        return false;
    };
    let headers = req.headers();
    if let Some(site) = headers.get_one("Sec-Fetch-Site") {
        if !matches!(site, "same-origin" | "none") {
            return false;
        }
    }
    match headers.get_one("Origin") {
        None => !required,
        Some(origin) => expected_origin(req, settings).is_some_and(|expected| origin == expected),
    }
}

/// Guard for WebSocket handshakes: the `Origin` header must name this site,
/// refusing cross-site WebSocket hijacking before any upgrade happens.
pub(crate) struct SameOrigin;

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SameOrigin {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> request::Outcome<Self, ()> {
        if is_same_origin(req, true) {
            Outcome::Success(SameOrigin)
        } else {
            Outcome::Error((Status::Forbidden, ()))
        }
    }
}

// ---------------------------------------------------------------- CSRF

/// The CSRF token for forms shown to a visitor without a session, kept in an
/// HttpOnly cookie and compared with the form field (double submit).
pub(crate) fn anonymous_csrf(settings: &Settings, cookies: &CookieJar<'_>) -> String {
    if let Some(cookie) = cookies.get(&cookie_name(settings, ANON_CSRF_COOKIE)) {
        return cookie.value().to_owned();
    }
    let token = random_token();
    cookies.add(base_cookie(settings, ANON_CSRF_COOKIE, token.clone()));
    token
}

/// A form that carries a CSRF token in its `csrf` field.
pub(crate) trait CsrfToken {
    fn csrf_token(&self) -> &str;
}

/// Implements `CsrfToken` for form structs whose token is their `csrf` field.
#[macro_export]
macro_rules! csrf_forms {
    ($($form:ty),+ $(,)?) => {
        $(impl $crate::auth::CsrfToken for $form {
            fn csrf_token(&self) -> &str {
                &self.csrf
            }
        })+
    };
}

/// A form accepted only from our own pages: same origin, and a token that
/// matches the session's (or, before login, the visitor's cookie). Every
/// state-changing handler takes its form through this.
pub(crate) struct CsrfForm<T>(pub T);

#[rocket::async_trait]
impl<'r, T> FromData<'r> for CsrfForm<T>
where
    T: FromForm<'r> + CsrfToken + Send + 'r,
{
    type Error = Error;

    async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        if !is_same_origin(req, false) {
            return Outcome::Error((Status::Forbidden, Error::Forbidden("cross-site request")));
        }
        let form = match Form::<T>::from_data(req, data).await {
            Outcome::Success(form) => form.into_inner(),
            Outcome::Forward(forward) => return Outcome::Forward(forward),
            Outcome::Error((status, errors)) => {
                // A field over its size limit makes the whole request too large,
                // whatever else failed because the stream was cut short.
                let too_large = errors.iter().any(|e| e.status() == Status::PayloadTooLarge);
                let status = if too_large {
                    Status::PayloadTooLarge
                } else {
                    status
                };
                return Outcome::Error((status, Error::Invalid("Malformed form.".into())));
            }
        };
        let given = req
            .headers()
            .get_one("X-CSRF-Token")
            .unwrap_or(form.csrf_token());
        // Signed in, only the session's token counts: the token a visitor
        // had before logging in dies with the login.
        let expected = match session_of(req).await {
            Ok(Some(session)) => Some(session.csrf_token),
            Ok(None) => settings(req).and_then(|settings| {
                req.cookies()
                    .get(&cookie_name(settings, ANON_CSRF_COOKIE))
                    .map(|c| c.value().to_owned())
            }),
            Err(status) => {
                let error = Error::Unreachable("the session could not be looked up".into());
                return Outcome::Error((status, error));
            }
        };
        let valid = !given.is_empty()
            && expected.is_some_and(|expected| constant_time_eq(&expected, given));
        if valid {
            Outcome::Success(CsrfForm(form))
        } else {
            Outcome::Error((Status::Forbidden, Error::Forbidden("bad CSRF token")))
        }
    }
}

// ---------------------------------------------------------------- redirects

/// A return path after login, if it stays on this site: an absolute path,
/// not `//host` or `/\host`, with no scheme, no control characters, and a
/// valid URI (a redirect to anything else would fail).
pub(crate) fn safe_return_path(next: Option<&str>) -> Option<String> {
    let next = next?;
    let safe = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.chars().any(|c| c.is_control() || c == '\\')
        && next.len() <= 512
        && rocket::http::uri::Origin::parse(next).is_ok();
    safe.then(|| next.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_trusted_proxy_names_the_client_in_the_header_it_writes() {
        let proxy: std::net::IpAddr = "10.0.0.2".parse().unwrap();
        let client: std::net::IpAddr = "203.0.113.7".parse().unwrap();
        let trusted = [proxy, "10.0.0.3".parse().unwrap()];
        // X-Real-IP: the proxy's own (last) value; a client's first one is not it.
        let real = |name: &str| {
            if name == "X-Real-IP" {
                vec!["6.6.6.6", "203.0.113.7"]
            } else {
                vec!["9.9.9.9"]
            }
        };
        assert_eq!(
            client_address(Some(proxy), &trusted, "X-Real-IP", real),
            Some(client)
        );
        assert_eq!(
            client_address(Some(client), &trusted, "X-Real-IP", |_| vec!["10.9.9.9"]),
            Some(client),
            "a client's own header is ignored"
        );
        // X-Forwarded-For: the nearest hop that is not a trusted proxy,
        // whatever the client wrote before it; X-Real-IP is not read then.
        let forwarded = |name: &str| {
            if name == "X-Forwarded-For" {
                vec!["1.2.3.4, 203.0.113.7", "10.0.0.3"]
            } else {
                vec!["6.6.6.6"]
            }
        };
        assert_eq!(
            client_address(Some(proxy), &trusted, "X-Forwarded-For", forwarded),
            Some(client)
        );
        // An entry that is not an address stops the search.
        let garbled = |_: &str| vec!["1.2.3.4, unknown, 10.0.0.3"];
        assert_eq!(
            client_address(Some(proxy), &trusted, "X-Forwarded-For", garbled),
            Some(proxy)
        );
        assert_eq!(
            client_address(Some(proxy), &trusted, "X-Real-IP", |_| vec![
                "not an address"
            ]),
            Some(proxy)
        );
        assert_eq!(client_address(None, &trusted, "X-Real-IP", real), None);
    }
}
