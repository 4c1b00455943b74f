//! Running a server: who may join (the configured mode, changed at run time
//! by an administrator, and invitation links), and what administrators do
//! to accounts (deactivate, reactivate, delete, make or unmake admins), each
//! logged with who did it.

use std::path::Path;

use crate::domain::{Invite, LogEntry, ManagedUser, Registration, User, UserId};
use crate::error::{Error, Result};
use crate::limits::{ADMIN_LOG_SHOWN, ADMIN_USERS_SHOWN, INVITE_MAX_DAYS, INVITE_MAX_USES};
use crate::live::hub::Fanout;
use crate::store::{admin, now, users, Pool};

use super::accounts;

/// The name the registration mode is kept under in `server_settings`.
const REGISTRATION: &str = "registration";
/// The name of "members may make invitation links" in `server_settings`.
const MEMBERS_INVITE: &str = "members_invite";

/// Whether members who do not administer the server may make invitation
/// links (an administrator's choice; off until made).
pub async fn members_may_invite(pool: &Pool) -> Result<bool> {
    Ok(admin::setting(pool, MEMBERS_INVITE).await?.as_deref() == Some("on"))
}

/// Lets members make invitation links, or stops them (links they made
/// keep working until revoked or used up).
pub async fn set_members_may_invite(pool: &Pool, actor: &User, allowed: bool) -> Result<()> {
    let value = if allowed { "on" } else { "off" };
    admin::set_setting(pool, MEMBERS_INVITE, value).await?;
    let action = if allowed {
        "let members make invitation links"
    } else {
        "stopped members making invitation links"
    };
    admin::log(pool, Some(actor.id), &actor.username, action).await
}

/// Whether `user` may make invitation links: administrators always,
/// others when administrators allow it.
pub async fn may_invite(pool: &Pool, user: UserId) -> Result<bool> {
    Ok(admin::is_admin(pool, user).await? || members_may_invite(pool).await?)
}

/// The links `user` made that still work.
pub async fn invites_of(pool: &Pool, user: UserId) -> Result<Vec<Invite>> {
    admin::invites(pool, Some(user)).await
}

/// Who may sign up now: the mode an administrator chose, or else the
/// configured one.
pub async fn registration(pool: &Pool, configured: Registration) -> Result<Registration> {
    Ok(admin::setting(pool, REGISTRATION)
        .await?
        .as_deref()
        .and_then(Registration::parse)
        .unwrap_or(configured))
}

/// How a sign-up is let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The server's first account: its administrator, in every mode.
    First,
    /// Anyone may sign up.
    Open,
    /// Through the invitation with this id (one of its uses is taken).
    Invited(i64),
}

/// Whether a sign-up may go ahead, with `invite` the token of the link it
/// came through. An invitation's use is taken now; `not_admitted` gives it
/// back if the account is not made after all.
pub async fn admit(
    pool: &Pool,
    configured: Registration,
    invite: Option<&str>,
) -> Result<Admission> {
    if admin::claim_first_account(pool).await? {
        return Ok(Admission::First);
    }
    let invite = invite.map(str::trim).filter(|t| !t.is_empty());
    match (registration(pool, configured).await?, invite) {
        (Registration::Closed, _) => Err(Error::NotAllowed(
            "This server is not taking new accounts.",
        )),
        // Anyone may: a link (perhaps stale) is not needed, nor used up.
        (Registration::Open, _) => Ok(Admission::Open),
        (_, Some(token)) => match admin::use_invite(pool, &crate::auth::token_hash(token)).await? {
            Some(id) => Ok(Admission::Invited(id)),
            None => Err(Error::NotAllowed(
                "That invitation link has expired, been used up or been revoked. Ask for a new one.",
            )),
        },
        (Registration::Invite, None) => Err(Error::NotAllowed(
            "Signing up here needs an invitation link. Ask someone on this server for one.",
        )),
    }
}

/// What the sign-up page says before anyone fills it in, when signing up is
/// not open to all (`None` when it is, or the server has no account yet).
pub async fn signup_notice(
    pool: &Pool,
    configured: Registration,
    has_invite: bool,
) -> Result<Option<&'static str>> {
    if admin::no_users(pool).await? {
        return Ok(None);
    }
    Ok(match registration(pool, configured).await? {
        Registration::Open => None,
        Registration::Invite if has_invite => None,
        Registration::Invite => {
            Some("Signing up here needs an invitation link. Ask someone on this server for one.")
        }
        Registration::Closed => Some("This server is not taking new accounts."),
    })
}

/// Gives back what `admit` took when the account was not made (a taken
/// name): the invitation's use.
pub async fn not_admitted(pool: &Pool, admission: Admission) -> Result<()> {
    match admission {
        Admission::Invited(id) => admin::give_back_invite(pool, id).await,
        Admission::First => admin::release_first_account(pool).await,
        Admission::Open => Ok(()),
    }
}

/// What follows a sign-up let in as `admission`: the server's first
/// account administers it.
pub async fn admitted(pool: &Pool, admission: Admission, user: UserId) -> Result<()> {
    if admission == Admission::First {
        admin::set_admin(pool, user, true).await?;
    }
    Ok(())
}

/// What the admin page shows: accounts matching `search`, the invitations
/// that still work, and the latest log entries.
pub async fn overview(
    pool: &Pool,
    search: &str,
) -> Result<(Vec<ManagedUser>, Vec<Invite>, Vec<LogEntry>)> {
    Ok((
        admin::users(pool, search, ADMIN_USERS_SHOWN).await?,
        admin::invites(pool, None).await?,
        admin::log_entries(pool, ADMIN_LOG_SHOWN).await?,
    ))
}

/// Changes who may sign up, at once, on every instance.
pub async fn set_registration(pool: &Pool, actor: &User, mode: Registration) -> Result<()> {
    admin::set_setting(pool, REGISTRATION, mode.as_str()).await?;
    let action = format!("set sign-up to {}", mode.as_str());
    admin::log(pool, Some(actor.id), &actor.username, &action).await
}

/// Makes an invitation link for `uses` sign-ups within `days`; returns its
/// token (only its hash is kept, so it is shown this once).
pub async fn create_invite(pool: &Pool, actor: &User, uses: i64, days: i64) -> Result<String> {
    if !may_invite(pool, actor.id).await? {
        return Err(Error::NotFound);
    }
    if !(1..=INVITE_MAX_USES).contains(&uses) || !(1..=INVITE_MAX_DAYS).contains(&days) {
        return Err(Error::Invalid(format!(
            "An invitation is for 1 to {INVITE_MAX_USES} people, for 1 to {INVITE_MAX_DAYS} days."
        )));
    }
    let token = crate::auth::random_token();
    let expires_at = now() + time::Duration::days(days);
    let id = admin::create_invite(
        pool,
        &crate::auth::token_hash(&token),
        actor.id,
        expires_at,
        uses,
    )
    .await?;
    let action = format!("made invitation #{id} for {uses} for {days} days");
    admin::log(pool, Some(actor.id), &actor.username, &action).await?;
    Ok(token)
}

/// Revokes an invitation: any, by an administrator; one's own, by a
/// member.
pub async fn revoke_invite(pool: &Pool, actor: &User, id: i64) -> Result<()> {
    let only_own = (!admin::is_admin(pool, actor.id).await?).then_some(actor.id);
    if !admin::revoke_invite(pool, id, only_own).await? {
        return Err(Error::NotFound);
    }
    let action = format!("revoked invitation #{id}");
    admin::log(pool, Some(actor.id), &actor.username, &action).await
}

/// What an administrator does to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountAction {
    Deactivate,
    Reactivate,
    MakeAdmin,
    UnmakeAdmin,
    Delete,
}

impl AccountAction {
    /// The action a form names.
    pub fn parse(text: &str) -> Option<AccountAction> {
        Some(match text {
            "deactivate" => AccountAction::Deactivate,
            "reactivate" => AccountAction::Reactivate,
            "make-admin" => AccountAction::MakeAdmin,
            "unmake-admin" => AccountAction::UnmakeAdmin,
            "delete" => AccountAction::Delete,
            _ => return None,
        })
    }

    fn done(self) -> &'static str {
        match self {
            AccountAction::Deactivate => "deactivated",
            AccountAction::Reactivate => "reactivated",
            AccountAction::MakeAdmin => "made an administrator:",
            AccountAction::UnmakeAdmin => "took administration from",
            AccountAction::Delete => "deleted",
        }
    }
}

/// Does `action` to the account `target`, as `actor` (`None`: the command
/// line). Deactivating ends the account's sessions and closes its pages at
/// once, on every instance. Administrators cannot do this to themselves
/// (so a server always keeps one). Returns the account's name.
pub async fn act_on_account(
    pool: &Pool,
    hub: &dyn Fanout,
    media_dir: &Path,
    actor: Option<&User>,
    target: UserId,
    action: AccountAction,
) -> Result<String> {
    if actor.is_some_and(|a| a.id == target) {
        return Err(Error::NotAllowed(
            "Administrators cannot do that to their own account here.",
        ));
    }
    let name = match action {
        AccountAction::Deactivate => {
            let name = admin::set_deactivated(pool, target, true).await?;
            accounts::end_sessions(pool, hub, target, None).await?;
            admin::revoke_invites_of(pool, target).await?;
            name
        }
        AccountAction::Reactivate => admin::set_deactivated(pool, target, false).await?,
        AccountAction::MakeAdmin => admin::set_admin(pool, target, true).await?,
        AccountAction::UnmakeAdmin => match admin::unmake_admin(pool, target).await? {
            Some(name) => Some(name),
            None if users::by_id(pool, target).await?.is_some() => {
                return Err(Error::NotAllowed(
                    "That is the server's last administrator.",
                ))
            }
            None => None,
        },
        AccountAction::Delete => {
            let name = users::by_id(pool, target).await?.map(|u| u.username);
            if name.is_some() {
                admin::revoke_invites_of(pool, target).await?;
                accounts::delete_account(pool, hub, media_dir, target).await?;
            }
            name
        }
    };
    let name = name.ok_or(Error::NotFound)?;
    let (actor_id, actor_name) = match actor {
        Some(actor) => (Some(actor.id), actor.username.as_str()),
        None => (None, "command line"),
    };
    let text = format!("{} {name}", action.done());
    admin::log(pool, actor_id, actor_name, &text).await?;
    Ok(name)
}
