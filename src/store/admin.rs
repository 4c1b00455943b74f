//! Running a server: administrators and deactivated accounts, settings
//! changed at run time, invitations, and the log of what administrators did.

use time::OffsetDateTime;

use super::{now, users::username_key, Pool};
use crate::domain::{Invite, LogEntry, ManagedUser, UserId};
use crate::error::Result;

/// The accounts whose name contains `search` (all when empty), by name.
pub(crate) async fn users(pool: &Pool, search: &str, limit: i64) -> Result<Vec<ManagedUser>> {
    let pattern = format!(
        "%{}%",
        username_key(search.trim())
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    on_pool!(pool, db => {
        Ok(sqlx::query_as::<_, ManagedUser>(
            "SELECT u.id, u.username, u.created_at, u.last_seen_at, u.is_admin, u.deactivated_at,
                    (SELECT COUNT(*) FROM sessions s WHERE s.user_id = u.id AND s.expires_at > $1) AS sessions
             FROM users u WHERE u.username_key LIKE $2 ESCAPE '\\'
             ORDER BY u.username_key LIMIT $3",
        )
        .bind(now())
        .bind(pattern)
        .bind(limit)
        .fetch_all(db)
        .await?)
    })
}

/// Whether the user is an administrator (and their account active).
pub(crate) async fn is_admin(pool: &Pool, user_id: UserId) -> Result<bool> {
    on_pool!(pool, db => {
        Ok(sqlx::query_scalar::<_, bool>(
            "SELECT is_admin FROM users WHERE id = $1 AND deactivated_at IS NULL",
        )
        .bind(user_id)
        .fetch_optional(db)
        .await?
        .unwrap_or(false))
    })
}

/// Makes a user an administrator or not. Returns their name if they exist.
pub(crate) async fn set_admin(pool: &Pool, user_id: UserId, admin: bool) -> Result<Option<String>> {
    on_pool!(pool, db => {
        Ok(sqlx::query_scalar("UPDATE users SET is_admin = $1 WHERE id = $2 RETURNING username")
            .bind(admin)
            .bind(user_id)
            .fetch_optional(db)
            .await?)
    })
}

/// Deactivates an account (it cannot log in; its sessions are ended by
/// the caller) or makes it active again. Returns its name if it exists.
pub(crate) async fn set_deactivated(
    pool: &Pool,
    user_id: UserId,
    deactivated: bool,
) -> Result<Option<String>> {
    let at = deactivated.then(now);
    on_pool!(pool, db => {
        Ok(sqlx::query_scalar("UPDATE users SET deactivated_at = $1 WHERE id = $2 RETURNING username")
            .bind(at)
            .bind(user_id)
            .fetch_optional(db)
            .await?)
    })
}

/// Claims being the server's first account: true for exactly one caller
/// (a row's primary key decides, on either database), and only while the
/// server has no account.
pub(crate) async fn claim_first_account(pool: &Pool) -> Result<bool> {
    on_pool!(pool, db => {
        let done = sqlx::query(
            "INSERT INTO server_settings (name, value)
             SELECT 'first_account', 'claimed' WHERE NOT EXISTS (SELECT 1 FROM users)
             ON CONFLICT (name) DO NOTHING",
        )
        .execute(db)
        .await?;
        Ok(done.rows_affected() == 1)
    })
}

/// Gives the claim back when the first account was not made after all.
pub(crate) async fn release_first_account(pool: &Pool) -> Result<()> {
    on_pool!(pool, db => {
        sqlx::query(
            "DELETE FROM server_settings WHERE name = 'first_account'
             AND NOT EXISTS (SELECT 1 FROM users)",
        )
        .execute(db)
        .await?;
        Ok(())
    })
}

/// Revokes every invitation `user_id` made that still works.
pub(crate) async fn revoke_invites_of(pool: &Pool, user_id: UserId) -> Result<()> {
    on_pool!(pool, db => {
        sqlx::query("UPDATE invites SET revoked_at = $1 WHERE created_by = $2 AND revoked_at IS NULL")
            .bind(now())
            .bind(user_id)
            .execute(db)
            .await?;
        Ok(())
    })
}

/// Takes administration from a user unless that would leave the server
/// without an active administrator. Returns their name if it was done.
pub(crate) async fn unmake_admin(pool: &Pool, user_id: UserId) -> Result<Option<String>> {
    on_pool!(pool, db => {
        Ok(sqlx::query_scalar(
            "UPDATE users SET is_admin = FALSE WHERE id = $1
               AND (SELECT COUNT(*) FROM users
                    WHERE is_admin = TRUE AND deactivated_at IS NULL AND id <> $1) > 0
             RETURNING username",
        )
        .bind(user_id)
        .fetch_optional(db)
        .await?)
    })
}

/// Whether the server has no account yet.
pub(crate) async fn no_users(pool: &Pool) -> Result<bool> {
    on_pool!(pool, db => {
        Ok(!sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM users)")
            .fetch_one(db)
            .await?)
    })
}

/// A setting changed at run time, if it was.
pub(crate) async fn setting(pool: &Pool, name: &str) -> Result<Option<String>> {
    on_pool!(pool, db => {
        Ok(sqlx::query_scalar("SELECT value FROM server_settings WHERE name = $1")
            .bind(name)
            .fetch_optional(db)
            .await?)
    })
}

pub(crate) async fn set_setting(pool: &Pool, name: &str, value: &str) -> Result<()> {
    on_pool!(pool, db => {
        sqlx::query(
            "INSERT INTO server_settings (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(db)
        .await?;
        Ok(())
    })
}

/// Stores an invitation; returns its id.
pub(crate) async fn create_invite(
    pool: &Pool,
    token_hash: &str,
    created_by: UserId,
    expires_at: OffsetDateTime,
    uses: i64,
) -> Result<i64> {
    on_pool!(pool, db => {
        Ok(sqlx::query_scalar(
            "INSERT INTO invites (token_hash, created_by, created_at, expires_at, uses_left)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(token_hash)
        .bind(created_by)
        .bind(now())
        .bind(expires_at)
        .bind(uses)
        .fetch_one(db)
        .await?)
    })
}

/// The invitations that still work, newest first: everyone's, or only
/// those `made_by` made.
pub(crate) async fn invites(pool: &Pool, made_by: Option<UserId>) -> Result<Vec<Invite>> {
    on_pool!(pool, db => {
        Ok(sqlx::query_as::<_, Invite>(
            "SELECT i.id, u.username AS created_by, i.created_at, i.expires_at, i.uses_left
             FROM invites i LEFT JOIN users u ON u.id = i.created_by
             WHERE i.revoked_at IS NULL AND i.uses_left > 0 AND i.expires_at > $1
               AND ($2 IS NULL OR i.created_by = $2)
             ORDER BY i.created_at DESC, i.id DESC",
        )
        .bind(now())
        .bind(made_by)
        .fetch_all(db)
        .await?)
    })
}

/// Revokes an invitation (only one `made_by` made, when given); returns
/// whether one still worked.
pub(crate) async fn revoke_invite(pool: &Pool, id: i64, made_by: Option<UserId>) -> Result<bool> {
    on_pool!(pool, db => {
        let done = sqlx::query(
            "UPDATE invites SET revoked_at = $1
             WHERE id = $2 AND revoked_at IS NULL AND ($3 IS NULL OR created_by = $3)",
        )
        .bind(now())
        .bind(id)
        .bind(made_by)
        .execute(db)
        .await?;
        Ok(done.rows_affected() > 0)
    })
}

/// Takes one use of the invitation with this token hash, if it still
/// works; returns its id.
pub(crate) async fn use_invite(pool: &Pool, token_hash: &str) -> Result<Option<i64>> {
    on_pool!(pool, db => {
        Ok(sqlx::query_scalar(
            "UPDATE invites SET uses_left = uses_left - 1
             WHERE token_hash = $1 AND uses_left > 0 AND revoked_at IS NULL AND expires_at > $2
             RETURNING id",
        )
        .bind(token_hash)
        .bind(now())
        .fetch_optional(db)
        .await?)
    })
}

/// Gives back a use taken by a sign-up that then failed (a taken name).
pub(crate) async fn give_back_invite(pool: &Pool, id: i64) -> Result<()> {
    on_pool!(pool, db => {
        sqlx::query("UPDATE invites SET uses_left = uses_left + 1 WHERE id = $1")
            .bind(id)
            .execute(db)
            .await?;
        Ok(())
    })
}

/// Records what an administrator (`None`: the command line) did.
pub(crate) async fn log(
    pool: &Pool,
    actor: Option<UserId>,
    actor_name: &str,
    action: &str,
) -> Result<()> {
    on_pool!(pool, db => {
        sqlx::query(
            "INSERT INTO admin_log (actor_id, actor_name, action, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(actor)
        .bind(actor_name)
        .bind(action)
        .bind(now())
        .execute(db)
        .await?;
        Ok(())
    })
}

/// The latest log entries, newest first.
pub(crate) async fn log_entries(pool: &Pool, limit: i64) -> Result<Vec<LogEntry>> {
    on_pool!(pool, db => {
        Ok(sqlx::query_as::<_, LogEntry>(
            "SELECT actor_name, action, created_at FROM admin_log
             ORDER BY created_at DESC, id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(db)
        .await?)
    })
}
