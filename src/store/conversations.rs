//! Conversations and their members. A direct conversation has exactly two
//! members and a unique pair key, so there is one per pair of users.

use super::{now, Pool};
use crate::domain::{ConversationId, UserId};
use crate::error::Result;

/// The key that makes a direct conversation unique per pair, in either order.
fn direct_key(a: UserId, b: UserId) -> String {
    format!("{}:{}", a.min(b), a.max(b))
}

/// The direct conversation between two users, created with both members on
/// first use. Safe under concurrent first opens: the pair key is unique.
pub async fn open_direct(pool: &Pool, a: UserId, b: UserId) -> Result<ConversationId> {
    on_pool!(pool, db => {
        let key = direct_key(a, b);
        let mut tx = db.begin().await?;
        let created: Option<ConversationId> = sqlx::query_scalar(
            "INSERT INTO conversations (kind, direct_key, created_at) VALUES ('direct', $1, $2)
             ON CONFLICT (direct_key) DO NOTHING RETURNING id",
        )
        .bind(&key)
        .bind(now())
        .fetch_optional(&mut *tx)
        .await?;
        let id = match created {
            Some(id) => {
                for user in [a, b] {
                    sqlx::query("INSERT INTO members (conversation_id, user_id) VALUES ($1, $2)")
                        .bind(id)
                        .bind(user)
                        .execute(&mut *tx)
                        .await?;
                }
                id
            }
            None => {
                sqlx::query_scalar("SELECT id FROM conversations WHERE direct_key = $1")
                    .bind(&key)
                    .fetch_one(&mut *tx)
                    .await?
            }
        };
        tx.commit().await?;
        Ok(id)
    })
}

/// The existing direct conversation between two users, if any.
pub(crate) async fn find_direct(
    pool: &Pool,
    a: UserId,
    b: UserId,
) -> Result<Option<ConversationId>> {
    on_pool!(pool, db => {
        Ok(
            sqlx::query_scalar("SELECT id FROM conversations WHERE direct_key = $1")
                .bind(direct_key(a, b))
                .fetch_optional(db)
                .await?,
        )
    })
}

/// The ids of every member of a conversation.
pub(crate) async fn member_ids(
    pool: &Pool,
    conversation_id: ConversationId,
) -> Result<Vec<UserId>> {
    on_pool!(pool, db => {
        Ok(
            sqlx::query_scalar("SELECT user_id FROM members WHERE conversation_id = $1")
                .bind(conversation_id)
                .fetch_all(db)
                .await?,
        )
    })
}

/// The other member of a direct conversation, if `viewer` is a member of it.
pub async fn peer(
    pool: &Pool,
    conversation_id: ConversationId,
    viewer: UserId,
) -> Result<Option<super::users::User>> {
    on_pool!(pool, db => {
        Ok(sqlx::query_as::<_, super::users::User>(
            "SELECT u.id, u.username, u.created_at, u.display_name, u.status, u.avatar
         FROM members m JOIN users u ON u.id = m.user_id
         WHERE m.conversation_id = $1 AND m.user_id <> $2
           AND EXISTS (SELECT 1 FROM members WHERE conversation_id = $3 AND user_id = $4)
         LIMIT 1",
        )
        .bind(conversation_id)
        .bind(viewer)
        .bind(conversation_id)
        .bind(viewer)
        .fetch_optional(db)
        .await?)
    })
}
