//! Accounts: creation, lookup by name, and the contact list.

use super::{now, Pool};
pub use crate::domain::User;
use crate::domain::{ConversationId, UserId};
use crate::error::Result;

/// Why an account could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("that username is taken")]
    Taken,
    /// Another username looks the same (`paule` and `pauIe`).
    #[error("that username looks like one that is taken")]
    LooksTaken,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The case-insensitive key under which a username is unique.
pub(crate) fn username_key(username: &str) -> String {
    username.to_lowercase()
}

/// The form under which usernames that look alike are the same: the
/// Unicode TR39 confusable skeleton (`I`, `l` and `1` all become `l`; `rn`
/// and `m` one shape), lower-cased like the unique key.
pub(crate) fn username_skeleton(username: &str) -> String {
    unicode_security::skeleton(username)
        .collect::<String>()
        .to_lowercase()
}

/// Creates an account; fails with `Taken` if the name exists in any letter
/// case, and with `LooksTaken` if an existing one looks the same.
pub async fn create(pool: &Pool, username: &str, password_hash: &str) -> Result<User, CreateError> {
    on_pool!(pool, db => {
        let result = sqlx::query_as::<_, User>(
            "INSERT INTO users (username, username_key, username_skeleton, password_hash, created_at)
             SELECT $1, $2, $3, $4, $5
             WHERE NOT EXISTS (SELECT 1 FROM users
                               WHERE username_skeleton = $6 AND username_key <> $7)
             RETURNING id, username, created_at, display_name, status, avatar",
        )
        .bind(username)
        .bind(username_key(username))
        .bind(username_skeleton(username))
        .bind(password_hash)
        .bind(now())
        .bind(username_skeleton(username))
        .bind(username_key(username))
        .fetch_optional(db)
        .await;
        match result {
            Ok(Some(user)) => Ok(user),
            // The same name in other letters is `Taken` (the unique key).
            Ok(None) => Err(CreateError::LooksTaken),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(CreateError::Taken),
            Err(e) => Err(e.into()),
        }
    })
}

/// Fills in the look-alike form of usernames stored before it existed.
pub(crate) async fn fill_in_skeletons(pool: &Pool) -> Result<()> {
    on_pool!(pool, db => {
        let missing: Vec<(UserId, String)> =
            sqlx::query_as("SELECT id, username FROM users WHERE username_skeleton IS NULL")
                .fetch_all(db)
                .await?;
        for (id, username) in missing {
            sqlx::query("UPDATE users SET username_skeleton = $1 WHERE id = $2")
                .bind(username_skeleton(&username))
                .bind(id)
                .execute(db)
                .await?;
        }
        Ok(())
    })
}

/// A user as logging in needs them: their password hash, and whether an
/// administrator deactivated the account.
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
    pub deactivated: bool,
}

/// The user and their password hash, for logging in.
pub(crate) async fn credentials(pool: &Pool, username: &str) -> Result<Option<Credentials>> {
    on_pool!(pool, db => {
        #[derive(sqlx::FromRow)]
        struct Row {
            #[sqlx(flatten)]
            user: User,
            password_hash: String,
            deactivated: bool,
        }
        let row = sqlx::query_as::<_, Row>(
            "SELECT id, username, created_at, display_name, status, avatar, password_hash,
                    deactivated_at IS NOT NULL AS deactivated
             FROM users WHERE username_key = $1",
        )
        .bind(username_key(username))
        .fetch_optional(db)
        .await?;
        Ok(row.map(|row| Credentials {
            user: row.user,
            password_hash: row.password_hash,
            deactivated: row.deactivated,
        }))
    })
}

/// A user by name, in any letter case.
pub async fn by_username(pool: &Pool, username: &str) -> Result<Option<User>> {
    on_pool!(pool, db => {
        Ok(sqlx::query_as::<_, User>(
            "SELECT id, username, created_at, display_name, status, avatar FROM users WHERE username_key = $1",
        )
        .bind(username_key(username))
        .fetch_optional(db)
        .await?)
    })
}

/// Every user, alphabetically.
pub(crate) async fn all(pool: &Pool) -> Result<Vec<User>> {
    on_pool!(pool, db => {
        Ok(sqlx::query_as::<_, User>(
            "SELECT id, username, created_at, display_name, status, avatar FROM users ORDER BY username_key",
        )
        .fetch_all(db)
        .await?)
    })
}

/// Every user except `viewer`, alphabetically.
pub async fn others(pool: &Pool, viewer: UserId) -> Result<Vec<User>> {
    on_pool!(pool, db => {
        Ok(sqlx::query_as::<_, User>(
            "SELECT id, username, created_at, display_name, status, avatar FROM users WHERE id <> $1 ORDER BY username_key",
        )
        .bind(viewer)
        .fetch_all(db)
        .await?)
    })
}

/// The stored password hash of a user.
pub async fn password_hash(pool: &Pool, user_id: UserId) -> Result<Option<String>> {
    on_pool!(pool, db => {
        Ok(
            sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(db)
                .await?,
        )
    })
}

/// Replaces a user's password hash.
pub(crate) async fn set_password_hash(pool: &Pool, user_id: UserId, hash: &str) -> Result<()> {
    on_pool!(pool, db => {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(user_id)
            .execute(db)
            .await?;
        Ok(())
    })
}

/// Deletes an account with its sessions, memberships and messages; a direct
/// conversation left with fewer than two members goes too. One transaction.
/// Returns the hashes of stored files that no message refers to any more,
/// for the caller to remove from disk.
pub async fn delete(pool: &Pool, user_id: UserId) -> Result<Vec<String>> {
    on_pool!(pool, db => {
        let mut tx = db.begin().await?;
        let conversations: Vec<ConversationId> =
            sqlx::query_scalar("SELECT conversation_id FROM members WHERE user_id = $1")
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
        // Files that may lose their last reference: the user's own, and
        // everything in their direct conversations, which go with them.
        let files: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT a.sha256 FROM attachments a
             JOIN messages m ON m.id = a.message_id
             JOIN conversations c ON c.id = m.conversation_id
             WHERE m.sender_id = $1
                OR (c.kind = 'direct'
                    AND c.id IN (SELECT conversation_id FROM members WHERE user_id = $2))",
        )
        .bind(user_id)
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        for conversation in conversations {
            sqlx::query(
                "DELETE FROM conversations WHERE id = $1 AND kind = 'direct'
                   AND (SELECT COUNT(*) FROM members WHERE conversation_id = $2) < 2",
            )
            .bind(conversation)
            .bind(conversation)
            .execute(&mut *tx)
            .await?;
        }
        let mut unused = Vec::with_capacity(files.len());
        for sha256 in files {
            let in_use: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM attachments WHERE sha256 = $1)")
                    .bind(&sha256)
                    .fetch_one(&mut *tx)
                    .await?;
            if !in_use {
                unused.push(sha256);
            }
        }
        tx.commit().await?;
        Ok(unused)
    })
}

/// A user by id.
pub(crate) async fn by_id(pool: &Pool, id: UserId) -> Result<Option<User>> {
    on_pool!(pool, db => {
        Ok(sqlx::query_as::<_, User>(
            "SELECT id, username, created_at, display_name, status, avatar FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(db)
        .await?)
    })
}

/// Sets what a user says about themselves; the user as they are now, or
/// `None` when the account is gone.
pub(crate) async fn set_profile(
    pool: &Pool,
    id: UserId,
    display_name: &str,
    status: &str,
) -> Result<Option<User>> {
    on_pool!(pool, db => {
        Ok(sqlx::query_as::<_, User>(
            "UPDATE users SET display_name = $1, status = $2 WHERE id = $3
             RETURNING id, username, created_at, display_name, status, avatar",
        )
        .bind(display_name)
        .bind(status)
        .bind(id)
        .fetch_optional(db)
        .await?)
    })
}

/// Sets (or with `None` removes) a user's avatar; the user as they are now
/// and the avatar they had before, or `None` when the account is gone.
pub(crate) async fn set_avatar(
    pool: &Pool,
    id: UserId,
    avatar: Option<&str>,
) -> Result<Option<(User, Option<String>)>> {
    on_pool!(pool, db => {
        let mut tx = db.begin().await?;
        // A write first: it locks the row (PostgreSQL) or the database
        // (SQLite) until the commit, so two changes at once cannot both
        // read the same picture as the one they replace.
        sqlx::query("UPDATE users SET avatar = avatar WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let before: Option<Option<String>> =
            sqlx::query_scalar("SELECT avatar FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(before) = before else {
            return Ok(None);
        };
        let user = sqlx::query_as::<_, User>(
            "UPDATE users SET avatar = $1 WHERE id = $2
             RETURNING id, username, created_at, display_name, status, avatar",
        )
        .bind(avatar)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some((user, before)))
    })
}

/// Whether any account has this avatar (two people may upload the same
/// picture: its file stays while one of them has it).
pub(crate) async fn avatar_in_use(pool: &Pool, sha256: &str) -> Result<bool> {
    on_pool!(pool, db => {
        Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE avatar = $1)")
            .bind(sha256)
            .fetch_one(db)
            .await?)
    })
}
