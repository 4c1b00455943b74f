//! Group conversations: creation, the member list, joining, leaving and
//! renaming. Every function checks membership in its own query.

use super::messages::{save_in, NewMessage, Saved};
use super::{now, Pool, Tx};
pub use crate::domain::{Conversation, User};
use crate::domain::{ConversationId, UserId};
use crate::domain::{Message, MessageKind};
use crate::error::{Error, Result};

/// A note for a group's timeline: what happened, worded to follow its
/// actor's name ("added bob"), and the client id it is stored under.
pub struct Note<'a> {
    pub text: &'a str,
    pub client_id: &'a str,
}

/// Records `note` by `actor` in the group's timeline, inside the caller's
/// transaction, as the next change of the conversation.
async fn note_in(
    tx: &mut Tx,
    id: ConversationId,
    actor: UserId,
    note: &Note<'_>,
) -> Result<Message> {
    let new = NewMessage {
        kind: MessageKind::Note,
        ..NewMessage::text(id, actor, note.text, note.client_id)
    };
    match save_in(tx, &new).await? {
        Saved::Created(message) => Ok(message),
        Saved::Duplicate(_) | Saved::ClientIdReused => Err(Error::Internal(
            "a group note's client id was used before".into(),
        )),
    }
}

/// Creates a group with its creator and the chosen users as members, and
/// its first note. Unknown user ids are ignored.
pub async fn create(
    pool: &Pool,
    creator: UserId,
    title: &str,
    members: &[UserId],
    note: &Note<'_>,
) -> Result<Message> {
    let mut tx = pool.begin().await?;
    let created = create_in(&mut tx, creator, title, members, note).await?;
    tx.commit().await?;
    Ok(created)
}

/// Like `create`, inside the caller's transaction.
pub(crate) async fn create_in(
    tx: &mut Tx,
    creator: UserId,
    title: &str,
    members: &[UserId],
    note: &Note<'_>,
) -> Result<Message> {
    let id: ConversationId = on_tx!(&mut *tx, conn => sqlx::query_scalar(
        "INSERT INTO conversations (kind, title, created_by, created_at)
         VALUES ('group', $1, $2, $3) RETURNING id",
    )
    .bind(title)
    .bind(creator)
    .bind(now())
    .fetch_one(conn)
    .await?);
    for user in std::iter::once(&creator).chain(members) {
        on_tx!(&mut *tx, conn => sqlx::query(
            "INSERT INTO members (conversation_id, user_id)
             SELECT $1, id FROM users WHERE id = $2 ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(user)
        .execute(conn)
        .await
        .map(drop)?);
    }
    note_in(tx, id, creator, note).await
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
            "SELECT u.id, u.username, u.created_at, u.display_name, u.status, u.avatar FROM members m JOIN users u ON u.id = m.user_id
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
            "SELECT u.id, u.username, u.created_at, u.display_name, u.status, u.avatar FROM members m JOIN users u ON u.id = m.user_id
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

/// Adds `user` to a group `actor` belongs to, with the note saying so.
/// `NotFound` unless the actor is a member of that group; `None` if the user
/// was a member already.
pub(crate) async fn add_member(
    pool: &Pool,
    id: ConversationId,
    actor: UserId,
    user: UserId,
    note: &Note<'_>,
) -> Result<Option<Message>> {
    let group = find(pool, id, actor).await?.filter(Conversation::is_group);
    if group.is_none() {
        return Err(Error::NotFound);
    }
    let mut tx = pool.begin().await?;
    let added = on_tx!(&mut tx, conn => sqlx::query(
        "INSERT INTO members (conversation_id, user_id, last_read_message_id)
         VALUES ($1, $2, 0) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(user)
    .execute(conn)
    .await?
    .rows_affected());
    if added == 0 {
        return Ok(None);
    }
    // The note fails (NotFound) if the actor left meanwhile: nothing is added.
    let noted = note_in(&mut tx, id, actor, note).await?;
    tx.commit().await?;
    Ok(Some(noted))
}

/// Takes `user` out of a group, with the note saying so (written while
/// they are still a member). `NotFound` unless they were a member of it.
pub async fn leave(
    pool: &Pool,
    id: ConversationId,
    user: UserId,
    note: &Note<'_>,
) -> Result<Message> {
    let group = find(pool, id, user).await?.filter(Conversation::is_group);
    if group.is_none() {
        return Err(Error::NotFound);
    }
    let mut tx = pool.begin().await?;
    let noted = note_in(&mut tx, id, user, note).await?;
    let left = on_tx!(&mut tx, conn => sqlx::query(
        "DELETE FROM members WHERE conversation_id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user)
    .execute(conn)
    .await?
    .rows_affected());
    if left == 0 {
        return Err(Error::NotFound);
    }
    tx.commit().await?;
    Ok(noted)
}

/// Renames a group, with the note saying so; only its creator may.
/// `NotFound` for non-members, `Forbidden` for other members.
pub async fn rename(
    pool: &Pool,
    id: ConversationId,
    actor: UserId,
    title: &str,
    note: &Note<'_>,
) -> Result<Message> {
    let group = find(pool, id, actor)
        .await?
        .filter(Conversation::is_group)
        .ok_or(Error::NotFound)?;
    if group.created_by != Some(actor) {
        return Err(Error::NotAllowed(
            "Only the person who made the group can rename it.",
        ));
    }
    let mut tx = pool.begin().await?;
    on_tx!(&mut tx, conn => sqlx::query("UPDATE conversations SET title = $1 WHERE id = $2")
        .bind(title)
        .bind(id)
        .execute(conn)
        .await
        .map(drop)?);
    let noted = note_in(&mut tx, id, actor, note).await?;
    tx.commit().await?;
    Ok(noted)
}
