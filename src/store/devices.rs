//! Known devices: browsers that logged in to an account before, by the hash
//! of their device cookie. A stranger's failed guesses may lock a username,
//! but not for the devices its owner already uses.

use super::{now, users, Pool};
use crate::domain::UserId;
use crate::error::Result;

/// Remembers that the device with this token hash logged in as `user_id`.
pub(crate) async fn remember(pool: &Pool, token_hash: &str, user_id: UserId) -> Result<()> {
    on_pool!(pool, db => {
        sqlx::query(
            "INSERT INTO known_devices (token_hash, user_id, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (token_hash, user_id) DO NOTHING",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now())
        .execute(db)
        .await?;
        Ok(())
    })
}

/// Whether the device with this token hash logged in as `username` before.
pub(crate) async fn is_known(pool: &Pool, token_hash: &str, username: &str) -> Result<bool> {
    on_pool!(pool, db => {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM known_devices d JOIN users u ON u.id = d.user_id
                            WHERE d.token_hash = $1 AND u.username_key = $2)",
        )
        .bind(token_hash)
        .bind(users::username_key(username))
        .fetch_one(db)
        .await?)
    })
}
