//! Group conversations: creation, the member list, joining, leaving and
//! renaming. Every function checks membership in its own query.

use super::{now, Pool};
pub use crate::domain::{Conversation, GroupRow, User};
use crate::domain::{ConversationId, UserId};
use crate::error::{Error, Result};

/// Creates a group with its creator and the chosen users as members.
/// Unknown user ids are ignored.
pub async fn create(
    pool: &Pool,
    creator: UserId,
    title: &str,
    members: &[UserId],
) -> Result<ConversationId> {
    on_pool!(pool, db => {
        let mut tx = db.begin().await?;
        let id: ConversationId = sqlx::query_scalar(
            "INSERT INTO conversations (kind, title, created_by, created_at)
             VALUES ('group', $1, $2, $3) RETURNING id",
        )
        .bind(title)
        .bind(creator)
        .bind(now())
        .fetch_one(&mut *tx)
        .await?;
        for user in std::iter::once(&creator).chain(members) {
            sqlx::query(
                "INSERT INTO members (conversation_id, user_id)
                 SELECT $1, id FROM users WHERE id = $2 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(id)
    })
}

/// The conversation, if `viewer` is a member of it.
pub async fn find(pool: &Pool, id: ConversationId, viewer: UserId) -> Result<Option<Conversation>> {
    on_pool!(pool, db => {
        Ok(sqlx::query_as::<_, Conversation>(
            "SELECT c.id, c.kind, c.title, c.created_by FROM conversations c
         JOIN members m ON m.conversation_id = c.id AND m.user_id = $1
         WHERE c.id = $2",
        )
        .bind(viewer)
        .bind(id)
        .fetch_optional(db)
        .await?)
    })
}

/// A group and its members, alphabetically, whoever asks: for the pages of
/// everyone a change concerns. `None` once it is gone.
pub(crate) async fn state(
    pool: &Pool,
    id: ConversationId,
) -> Result<Option<(Conversation, Vec<User>)>> {
    on_pool!(pool, db => {
        let group = sqlx::query_as::<_, Conversation>(
            "SELECT id, kind, title, created_by FROM conversations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(db)
        .await?;
        let Some(group) = group else {
            return Ok(None);
        };
        let members = sqlx::query_as::<_, User>(
            "SELECT u.id, u.username, u.created_at FROM members m JOIN users u ON u.id = m.user_id
             WHERE m.conversation_id = $1
             ORDER BY u.username_key",
        )
        .bind(id)
        .fetch_all(db)
        .await?;
        Ok(Some((group, members)))
    })
}

/// The members of a conversation, alphabetically, if `viewer` is one.
pub async fn members(pool: &Pool, id: ConversationId, viewer: UserId) -> Result<Vec<User>> {
    on_pool!(pool, db => {
        Ok(sqlx::query_as::<_, User>(
            "SELECT u.id, u.username, u.created_at FROM members m JOIN users u ON u.id = m.user_id
         WHERE m.conversation_id = $1
           AND EXISTS (SELECT 1 FROM members WHERE conversation_id = $2 AND user_id = $3)
         ORDER BY u.username_key",
        )
        .bind(id)
        .bind(id)
        .bind(viewer)
        .fetch_all(db)
        .await?)
    })
}

/// The groups `viewer` belongs to, most recently active first.
pub(crate) async fn of_member(pool: &Pool, viewer: UserId) -> Result<Vec<GroupRow>> {
    on_pool!(pool, db => {
        Ok(sqlx::query_as::<_, GroupRow>(&format!(
            "SELECT c.id, c.title, {unread} AS unread, c.last_seq,
                (SELECT MAX(x.id) FROM messages x WHERE x.conversation_id = c.id) AS last_activity
         FROM conversations c JOIN members m ON m.conversation_id = c.id AND m.user_id = $1
         WHERE c.kind = 'group'
         ORDER BY last_activity DESC NULLS LAST, c.id DESC",
            unread = super::contacts::unread_count("c.id", "m")
        ))
        .bind(viewer)
        .fetch_all(db)
        .await?)
    })
}

/// Adds `user` to a group `actor` belongs to. `NotFound` unless the actor is
/// a member of that group; returns false if the user was a member already.
pub(crate) async fn add_member(
    pool: &Pool,
    id: ConversationId,
    actor: UserId,
    user: UserId,
) -> Result<bool> {
    on_pool!(pool, db => {
        let group = find(pool, id, actor).await?.filter(Conversation::is_group);
        if group.is_none() {
            return Err(Error::NotFound);
        }
        let added = sqlx::query(
            "INSERT INTO members (conversation_id, user_id, last_read_message_id)
             VALUES ($1, $2, 0) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(user)
        .execute(db)
        .await?;
        Ok(added.rows_affected() > 0)
    })
}

/// Takes `user` out of a group. `NotFound` unless they were a member of it.
pub async fn leave(pool: &Pool, id: ConversationId, user: UserId) -> Result<()> {
    on_pool!(pool, db => {
        let left = sqlx::query(
            "DELETE FROM members WHERE conversation_id = $1 AND user_id = $2
               AND EXISTS (SELECT 1 FROM conversations WHERE id = $3 AND kind = 'group')",
        )
        .bind(id)
        .bind(user)
        .bind(id)
        .execute(db)
        .await?;
        if left.rows_affected() == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    })
}

/// Renames a group; only its creator may. `NotFound` for non-members,
/// `Forbidden` for other members.
pub async fn rename(pool: &Pool, id: ConversationId, actor: UserId, title: &str) -> Result<()> {
    on_pool!(pool, db => {
        let group = find(pool, id, actor)
            .await?
            .filter(Conversation::is_group)
            .ok_or(Error::NotFound)?;
        if group.created_by != Some(actor) {
            return Err(Error::NotAllowed(
                "Only the person who made the group can rename it.",
            ));
        }
        sqlx::query("UPDATE conversations SET title = $1 WHERE id = $2")
            .bind(title)
            .bind(id)
            .execute(db)
            .await?;
        Ok(())
    })
}
