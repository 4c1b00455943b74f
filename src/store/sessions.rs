//! Server-side sessions, keyed by the hash of the cookie token.

use time::OffsetDateTime;

use super::users::User;
use super::{now, Pool};
use crate::error::Result;

/// A live session and its user.
#[derive(Debug, Clone)]
pub struct Session {
    pub token_hash: String,
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
    pub user: User,
}

/// Stores a new session.
pub async fn create(
    pool: &Pool,
    token_hash: &str,
    user_id: i64,
    csrf_token: &str,
    expires_at: OffsetDateTime,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(csrf_token)
    .bind(now())
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// The unexpired session with this token hash; an expired one is deleted.
pub async fn find(pool: &Pool, token_hash: &str) -> Result<Option<Session>> {
    let row = sqlx::query_as::<_, (String, OffsetDateTime, i64, String, OffsetDateTime)>(
        "SELECT s.csrf_token, s.expires_at, u.id, u.username, u.created_at
         FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = ?",
    )
    .bind(token_hash)
    .fetch_optional(pool)
    .await?;
    let Some((csrf_token, expires_at, id, username, created_at)) = row else {
        return Ok(None);
    };
    if expires_at <= now() {
        delete(pool, token_hash).await?;
        return Ok(None);
    }
    Ok(Some(Session {
        token_hash: token_hash.to_owned(),
        csrf_token,
        expires_at,
        user: User {
            id,
            username,
            created_at,
        },
    }))
}

/// Ends a session: its cookie is dead from now on.
pub async fn delete(pool: &Pool, token_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
        .bind(token_hash)
        .execute(pool)
        .await?;
    Ok(())
}
