//! Changes to messages already sent: edits, deletions for everyone and
//! reactions. Each takes the next sequence number of its conversation (like
//! a new message) and marks the message with it, so pages catch up on it.
//! Who may make each change is part of the statement that makes it.

use super::messages::{decorate, Message, SELECT};
use super::{now, Pool, Tx};
use crate::domain::{mentioned_names, ConversationId, MessageId, UserId};
use crate::error::{Error, Result};
use crate::limits::MENTIONS_MAX;

use super::users::username_key;

/// Takes the conversation's next sequence number for a change to `message`,
/// if `actor` is a member and the message is in it, not deleted, and one
/// members wrote (not a group's note); `author_only` also requires that
/// `actor` wrote it. `None` when any of that is not so, and in a secret
/// conversation, whose changes would have to be encrypted in the browser
/// too (not built yet): the server must not take them in the clear.
async fn next_change(
    tx: &mut Tx,
    conversation_id: ConversationId,
    message_id: MessageId,
    actor: UserId,
    author_only: bool,
) -> Result<Option<i64>> {
    let author = if author_only {
        "AND m.sender_id = $5"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE conversations SET last_seq = last_seq + 1
         WHERE id = $1
           AND EXISTS (SELECT 1 FROM members WHERE conversation_id = $2 AND user_id = $3)
           AND NOT EXISTS (SELECT 1 FROM mls_groups WHERE conversation_id = $1)
           AND EXISTS (SELECT 1 FROM messages m WHERE m.id = $4 AND m.conversation_id = $1
                         AND m.deleted_at IS NULL AND m.kind = 'text' {author})
         RETURNING last_seq"
    );
    Ok(on_tx!(tx, conn => {
        let mut query = sqlx::query_scalar(&sql)
            .bind(conversation_id)
            .bind(conversation_id)
            .bind(actor)
            .bind(message_id);
        if author_only {
            query = query.bind(actor);
        }
        query.fetch_optional(conn).await?
    }))
}

/// Marks the replies quoting `message_id` with change `seq` too: their
/// quotes show its text (or that it is gone), so pages redraw them.
async fn touch_replies(tx: &mut Tx, message_id: MessageId, seq: i64) -> Result<()> {
    on_tx!(tx, conn => sqlx::query("UPDATE messages SET changed_seq = $1 WHERE reply_to = $2")
        .bind(seq)
        .bind(message_id)
        .execute(conn)
        .await
        .map(drop)?);
    Ok(())
}

/// The message as it is now and the replies that change `seq` touched,
/// inside the transaction that changed them; the message first.
async fn current(tx: &mut Tx, message_id: MessageId, seq: i64) -> Result<Vec<Message>> {
    let sql = format!(
        "{SELECT} WHERE m.id = $1 OR (m.reply_to = $2 AND m.changed_seq = $3)
         ORDER BY m.id = $4 DESC, m.id"
    );
    Ok(on_tx!(tx, conn => sqlx::query_as::<_, Message>(&sql)
        .bind(message_id)
        .bind(message_id)
        .bind(seq)
        .bind(message_id)
        .fetch_all(conn)
        .await?))
}

/// Commits and returns the messages in their new state, with their
/// reactions and mentions.
async fn finish(tx: Tx, pool: &Pool, mut changed: Vec<Message>) -> Result<Vec<Message>> {
    tx.commit().await?;
    decorate(pool, &mut changed).await?;
    Ok(changed)
}

/// Replaces the text of `author`'s message; its mentions follow the new text.
/// `NotFound` unless it is theirs, in a conversation they are in, and not
/// deleted. Returns it, then the replies quoting it.
pub(crate) async fn edit(
    pool: &Pool,
    conversation_id: ConversationId,
    message_id: MessageId,
    author: UserId,
    body: &str,
) -> Result<Vec<Message>> {
    let mut tx = pool.begin().await?;
    let seq = next_change(&mut tx, conversation_id, message_id, author, true)
        .await?
        .ok_or(Error::NotFound)?;
    on_tx!(&mut tx, conn => {
        sqlx::query(
            "UPDATE messages SET body = $1, edited_at = $2, changed_seq = $3 WHERE id = $4",
        )
        .bind(body)
        .bind(now())
        .bind(seq)
        .bind(message_id)
        .execute(&mut *conn)
        .await?;
        sqlx::query("DELETE FROM mentions WHERE message_id = $1")
            .bind(message_id)
            .execute(&mut *conn)
            .await?;
        for name in mentioned_names(body).iter().take(MENTIONS_MAX) {
            sqlx::query(
                "INSERT INTO mentions (message_id, user_id)
                 SELECT $1, u.id FROM users u
                 JOIN members mb ON mb.user_id = u.id AND mb.conversation_id = $2
                 WHERE u.username_key = $3 AND u.id <> $4
                 ON CONFLICT DO NOTHING",
            )
            .bind(message_id)
            .bind(conversation_id)
            .bind(username_key(name))
            .bind(author)
            .execute(&mut *conn)
            .await?;
        }
    });
    touch_replies(&mut tx, message_id, seq).await?;
    let changed = current(&mut tx, message_id, seq).await?;
    finish(tx, pool, changed).await
}

/// Deletes `author`'s message for everyone: its text, file, reactions and
/// mentions go; the row stays to say so. Returns the message as it is now
/// and the replies quoting it, and the hash of the file it had, if any (the
/// caller removes the bytes when nothing else uses them).
pub(crate) async fn delete(
    pool: &Pool,
    conversation_id: ConversationId,
    message_id: MessageId,
    author: UserId,
) -> Result<(Vec<Message>, Option<String>)> {
    let mut tx = pool.begin().await?;
    let seq = next_change(&mut tx, conversation_id, message_id, author, true)
        .await?
        .ok_or(Error::NotFound)?;
    let file: Option<String> = on_tx!(&mut tx, conn => {
        sqlx::query(
            "UPDATE messages SET body = '', edited_at = NULL, deleted_at = $1, changed_seq = $2
             WHERE id = $3",
        )
        .bind(now())
        .bind(seq)
        .bind(message_id)
        .execute(&mut *conn)
        .await?;
        for table in ["reactions", "mentions"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE message_id = $1"))
                .bind(message_id)
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query_scalar("DELETE FROM attachments WHERE message_id = $1 RETURNING sha256")
            .bind(message_id)
            .fetch_optional(&mut *conn)
            .await?
    });
    touch_replies(&mut tx, message_id, seq).await?;
    let changed = current(&mut tx, message_id, seq).await?;
    let deleted = finish(tx, pool, changed).await?;
    // secure_delete zeroes the text in the database file, but the log still
    // holds the pages that had it until a checkpoint: copy them back and
    // empty it now. (Best effort: a long read in progress can delay it to
    // the next checkpoint.)
    if let Pool::Sqlite(p) = pool {
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(p)
            .await
        {
            rocket::warn!("checkpoint after a deletion failed: {e}");
        }
    }
    Ok((deleted, file))
}

/// Adds `user`'s `emoji` to a message in a conversation they are in, or
/// takes it away if it was there. `NotFound` unless they are a member and
/// the message is theirs to react to (not deleted, not a note).
pub(crate) async fn toggle_reaction(
    pool: &Pool,
    conversation_id: ConversationId,
    message_id: MessageId,
    user: UserId,
    emoji: &str,
) -> Result<Vec<Message>> {
    let mut tx = pool.begin().await?;
    let seq = next_change(&mut tx, conversation_id, message_id, user, false)
        .await?
        .ok_or(Error::NotFound)?;
    on_tx!(&mut tx, conn => {
        let removed = sqlx::query(
            "DELETE FROM reactions WHERE message_id = $1 AND user_id = $2 AND emoji = $3",
        )
        .bind(message_id)
        .bind(user)
        .bind(emoji)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if removed == 0 {
            sqlx::query("INSERT INTO reactions (message_id, user_id, emoji) VALUES ($1, $2, $3)")
                .bind(message_id)
                .bind(user)
                .bind(emoji)
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query("UPDATE messages SET changed_seq = $1 WHERE id = $2")
            .bind(seq)
            .bind(message_id)
            .execute(&mut *conn)
            .await?;
    });
    let changed = current(&mut tx, message_id, seq).await?;
    finish(tx, pool, changed).await
}
