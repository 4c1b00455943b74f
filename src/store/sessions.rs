//! Server-side sessions, keyed by the hash of the cookie token.

use time::{Duration, OffsetDateTime};

use super::{now, Pool};
use crate::domain::UserId;
pub use crate::domain::{SessionInfo, User};
use crate::error::Result;

/// A live session and its user.
#[derive(Debug, Clone)]
pub struct Session {
    pub token_hash: String,
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
    pub user: User,
    /// Whether the user administers the server.
    pub is_admin: bool,
}

/// How long a session's last use is not rewritten, to spare the database a
/// write per request.
const TOUCH_EVERY: Duration = Duration::minutes(1);

/// Stores a new session.
pub async fn create(
    pool: &Pool,
    token_hash: &str,
    user_id: UserId,
    csrf_token: &str,
    expires_at: OffsetDateTime,
) -> Result<()> {
    create_for_agent(pool, token_hash, user_id, csrf_token, expires_at, None).await
}

/// Stores a new session, remembering the browser it was made for.
pub(crate) async fn create_for_agent(
    pool: &Pool,
    token_hash: &str,
    user_id: UserId,
    csrf_token: &str,
    expires_at: OffsetDateTime,
    user_agent: Option<&str>,
) -> Result<()> {
    on_pool!(pool, db => {
        let at = now();
        sqlx::query(
            "INSERT INTO sessions
             (token_hash, user_id, csrf_token, created_at, expires_at, last_used_at, user_agent)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(csrf_token)
        .bind(at)
        .bind(expires_at)
        .bind(at)
        .bind(user_agent)
        .execute(db)
        .await?;
        Ok(())
    })
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    csrf_token: String,
    expires_at: OffsetDateTime,
    session_created_at: OffsetDateTime,
    last_used_at: Option<OffsetDateTime>,
    #[sqlx(flatten)]
    user: User,
    is_admin: bool,
}

/// The live session with this token hash. A session past its absolute
/// expiry, or unused for longer than `idle`, is deleted instead.
pub async fn find(pool: &Pool, token_hash: &str, idle: Duration) -> Result<Option<Session>> {
    on_pool!(pool, db => {
        let row = sqlx::query_as::<_, SessionRow>(
            "SELECT s.csrf_token, s.expires_at, s.created_at AS session_created_at, s.last_used_at,
                u.id, u.username, u.created_at, u.display_name, u.status, u.avatar, u.is_admin
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = $1 AND u.deactivated_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(db)
        .await?;
        let Some(SessionRow {
            csrf_token,
            expires_at,
            session_created_at: created_at,
            last_used_at,
            user,
            is_admin,
        }) = row
        else {
            return Ok(None);
        };
        let at = now();
        let last_used = last_used_at.unwrap_or(created_at);
        // The writes below are housekeeping: on a full disk they fail, and
        // the session must still be found (or not) as if they had not.
        if has_expired(expires_at, last_used, idle, at) {
            if let Err(e) = delete(pool, token_hash).await {
                rocket::warn!("removing an expired session failed: {e}");
            }
            return Ok(None);
        }
        if last_used + TOUCH_EVERY <= at {
            let touched = sqlx::query("UPDATE sessions SET last_used_at = $1 WHERE token_hash = $2")
                .bind(at)
                .bind(token_hash)
                .execute(db)
                .await;
            if let Err(e) = touched {
                rocket::warn!("recording a session's use failed: {e}");
            }
        }
        Ok(Some(Session {
            token_hash: token_hash.to_owned(),
            csrf_token,
            expires_at,
            user,
            is_admin,
        }))
    })
}

/// Whether a session is past its absolute expiry or unused for `idle`.
fn has_expired(
    expires_at: OffsetDateTime,
    last_used: OffsetDateTime,
    idle: Duration,
    at: OffsetDateTime,
) -> bool {
    expires_at <= at || last_used + idle <= at
}

/// Whether the session still exists and has not expired, without counting
/// the question as a use: an open socket asks this at every ping, and a page
/// left open must not keep its session alive for ever.
pub(crate) async fn is_live(pool: &Pool, token_hash: &str, idle: Duration) -> Result<bool> {
    on_pool!(pool, db => {
        let row = sqlx::query_as::<_, (OffsetDateTime, OffsetDateTime, Option<OffsetDateTime>)>(
            "SELECT expires_at, created_at, last_used_at FROM sessions WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(db)
        .await?;
        Ok(row.is_some_and(|(expires_at, created_at, last_used_at)| {
            !has_expired(expires_at, last_used_at.unwrap_or(created_at), idle, now())
        }))
    })
}

/// Ends a session: its cookie is dead from now on.
pub async fn delete(pool: &Pool, token_hash: &str) -> Result<()> {
    on_pool!(pool, db => {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(db)
            .await?;
        Ok(())
    })
}

/// Every session of a user, newest first.
pub(crate) async fn list_for_user(pool: &Pool, user_id: UserId) -> Result<Vec<SessionInfo>> {
    on_pool!(pool, db => {
        Ok(sqlx::query_as::<_, SessionInfo>(
            "SELECT token_hash, created_at, last_used_at, user_agent FROM sessions
             WHERE user_id = $1 ORDER BY created_at DESC",
        )
        .bind(user_id)
        .fetch_all(db)
        .await?)
    })
}

/// Ends every session of a user but `keep`; returns the ended token hashes.
pub(crate) async fn delete_all_for_user(
    pool: &Pool,
    user_id: UserId,
    keep: Option<&str>,
) -> Result<Vec<String>> {
    on_pool!(pool, db => {
        Ok(sqlx::query_scalar(
            "DELETE FROM sessions WHERE user_id = $1 AND token_hash IS DISTINCT FROM $2 RETURNING token_hash",
        )
        .bind(user_id)
        .bind(keep)
        .fetch_all(db)
        .await?)
    })
}
