//! Messages: saving (idempotent per client id) and reading history. Every
//! query checks that the reader is a member, in the query itself.

use time::OffsetDateTime;

use super::users::username_key;
use super::{now, Pool, Tx};
use crate::domain::{mentioned_names, Mention, QuoteColumns, Reaction};
pub use crate::domain::{Attachment, AttachmentColumns, Message, MessageKind, NewAttachment};
use crate::domain::{ConversationId, MessageId, UserId};
use crate::error::{Error, Result};
use crate::limits::{MENTIONS_MAX, REACTIONS};

/// What saving a message did.
#[derive(Debug, Clone)]
pub enum Saved {
    /// The message is new and committed.
    Created(Message),
    /// The sender already sent this client id with the same body: nothing new.
    Duplicate(Message),
    /// The sender already used this client id for a different body.
    ClientIdReused,
}

pub(super) const SELECT: &str =
    "SELECT m.id, m.conversation_id, m.seq, m.changed_seq, m.sender_id, u.username AS sender_name,
        u.display_name AS sender_display,
        m.body, m.created_at, m.kind = 'note' AS note, m.edited_at,
        m.deleted_at IS NOT NULL AS deleted,
        a.id AS attachment_id, a.content_type AS attachment_type,
        a.size AS attachment_size, a.filename AS attachment_name,
        a.has_thumbnail AS attachment_thumbnail,
        a.thumbnail_width AS attachment_thumbnail_width,
        a.thumbnail_height AS attachment_thumbnail_height,
        m.reply_to, ru.username AS reply_sender, SUBSTR(r.body, 1, 100) AS reply_text,
        r.deleted_at IS NOT NULL AS reply_deleted
    FROM messages m JOIN users u ON u.id = m.sender_id
    LEFT JOIN attachments a ON a.message_id = m.id
    LEFT JOIN messages r ON r.id = m.reply_to
    LEFT JOIN users ru ON ru.id = r.sender_id";

/// Saves a message in its own transaction, if the sender is a member.
/// Returns `NotFound` otherwise, so nobody learns whether the conversation exists.
/// (The app saves through `store::writer`, which commits many at once.)
pub async fn save(
    pool: &Pool,
    conversation_id: ConversationId,
    sender_id: UserId,
    body: &str,
    client_id: &str,
) -> Result<Saved> {
    let mut tx = pool.begin().await?;
    let saved = save_in(
        &mut tx,
        conversation_id,
        sender_id,
        (MessageKind::Text, body),
        client_id,
        None,
        None,
    )
    .await?;
    if let Saved::Created(message) = &saved {
        senders_read_own_in(&mut tx, &[message]).await?;
    }
    tx.commit().await?;
    Ok(saved)
}

/// Moves each sender's read position up to their own new message, for a
/// whole batch in one statement (`save_in` leaves it to the caller, so a batch
/// of saves costs one round trip each rather than two).
pub(crate) async fn senders_read_own_in(tx: &mut Tx, sent: &[&Message]) -> Result<(), sqlx::Error> {
    // One row per (conversation, sender): with several, which row an
    // UPDATE … FROM uses would be unspecified.
    let mut newest = std::collections::BTreeMap::new();
    for message in sent {
        let position = newest
            .entry((message.conversation_id, message.sender_id))
            .or_insert(message.id);
        *position = (*position).max(message.id);
    }
    if newest.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..newest.len())
        .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
        .collect();
    // VALUES columns are named column1, column2, … in both dialects.
    let sql = format!(
        "UPDATE members SET last_read_message_id = v.column3
         FROM (VALUES {}) AS v
         WHERE members.conversation_id = v.column1 AND members.user_id = v.column2
           AND members.last_read_message_id < v.column3",
        rows.join(", ")
    );
    on_tx!(tx, tx => {
        let mut query = sqlx::query(&sql);
        for ((conversation_id, sender_id), id) in &newest {
            query = query.bind(*conversation_id).bind(*sender_id).bind(*id);
        }
        query.execute(&mut *tx).await.map(drop)
    })
}

/// Saves a message inside the caller's transaction (see `save`); the caller
/// then moves the sender's read position (`senders_read_own_in`).
pub(crate) async fn save_in(
    tx: &mut Tx,
    conversation_id: ConversationId,
    sender_id: UserId,
    (kind, body): (MessageKind, &str),
    client_id: &str,
    attachment: Option<&NewAttachment>,
    reply_to: Option<MessageId>,
) -> Result<Saved> {
    on_tx!(tx, tx => {
    // Taking the conversation's next sequence number locks its row until
    // the commit: writers to one conversation commit in sequence order, on
    // any number of instances, while other conversations go on in parallel.
    let seq: Option<i64> = sqlx::query_scalar(
        "UPDATE conversations SET last_seq = last_seq + 1
         WHERE id = $1 AND EXISTS
             (SELECT 1 FROM members WHERE conversation_id = $2 AND user_id = $3)
         RETURNING last_seq",
    )
    .bind(conversation_id)
    .bind(conversation_id)
    .bind(sender_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(seq) = seq else {
        return Err(Error::NotFound);
    };
    let inserted: Option<(MessageId, OffsetDateTime, String, String)> = sqlx::query_as(
        "INSERT INTO messages
             (conversation_id, seq, changed_seq, sender_id, body, client_id, created_at, kind,
              reply_to)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
             (SELECT id FROM messages WHERE id = $9 AND conversation_id = $10))
         ON CONFLICT (sender_id, client_id) DO NOTHING
         RETURNING id, created_at, (SELECT username FROM users WHERE id = sender_id),
             (SELECT display_name FROM users WHERE id = sender_id)",
    )
    .bind(conversation_id)
    .bind(seq)
    .bind(seq)
    .bind(sender_id)
    .bind(body)
    .bind(client_id)
    .bind(now())
    .bind(kind.as_str())
    .bind(reply_to)
    .bind(conversation_id)
    .fetch_optional(&mut *tx)
    .await?;
    if inserted.is_none() {
        // Nothing new: give the number back (the row is still ours), so the
        // log gets no hole a page would stop to look into (deleted accounts
        // still leave some: a page reads past them).
        sqlx::query("UPDATE conversations SET last_seq = last_seq - 1 WHERE id = $1")
            .bind(conversation_id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(match inserted {
        // Everything the page shows is known here: no need to read it back.
        Some((id, created_at, sender_name, sender_display)) => {
            let mut attachment_columns = AttachmentColumns::default();
            if let Some(file) = attachment {
                let attachment_id: i64 = sqlx::query_scalar(
                    "INSERT INTO attachments (message_id, sha256, content_type, size, filename,
                         has_thumbnail, thumbnail_width, thumbnail_height)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     RETURNING id",
                )
                .bind(id)
                .bind(&file.sha256)
                .bind(&file.content_type)
                .bind(file.size)
                .bind(&file.filename)
                .bind(file.has_thumbnail)
                .bind(file.thumbnail_size.map(|(w, _)| w))
                .bind(file.thumbnail_size.map(|(_, h)| h))
                .fetch_one(&mut *tx)
                .await?;
                attachment_columns = AttachmentColumns {
                    attachment_id: Some(attachment_id),
                    attachment_type: Some(file.content_type.clone()),
                    attachment_size: Some(file.size),
                    attachment_name: Some(file.filename.clone()),
                    attachment_thumbnail: Some(file.has_thumbnail),
                    attachment_thumbnail_width: file.thumbnail_size.map(|(w, _)| w),
                    attachment_thumbnail_height: file.thumbnail_size.map(|(_, h)| h),
                };
            }
            // Who it calls by name: members only, never the sender (a
            // group's note calls nobody, whatever the group is named).
            let named = if kind == MessageKind::Text { mentioned_names(body) } else { Vec::new() };
            let keys: Vec<String> = named
                .iter()
                .take(MENTIONS_MAX)
                .map(|name| username_key(name))
                .collect();
            let mut mentions = Vec::new();
            if !keys.is_empty() {
                let placeholders: Vec<String> = (0..keys.len()).map(|i| format!("${}", i + 4)).collect();
                let sql = format!(
                    "INSERT INTO mentions (message_id, user_id)
                     SELECT $1, u.id FROM users u
                     JOIN members mb ON mb.user_id = u.id AND mb.conversation_id = $2
                     WHERE u.id <> $3 AND u.username_key IN ({})
                     RETURNING user_id, (SELECT username FROM users WHERE id = user_id)",
                    placeholders.join(", ")
                );
                let mut query = sqlx::query_as::<_, (UserId, String)>(&sql)
                    .bind(id)
                    .bind(conversation_id)
                    .bind(sender_id);
                for key in &keys {
                    query = query.bind(key);
                }
                mentions = query
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .map(|(user_id, username)| Mention { user_id, username })
                    .collect();
            }
            let quote = match reply_to {
                Some(original) => sqlx::query_as::<_, (String, String, bool)>(
                    "SELECT ru.username, SUBSTR(r.body, 1, 100), r.deleted_at IS NOT NULL
                     FROM messages r JOIN users ru ON ru.id = r.sender_id
                     WHERE r.id = $1 AND r.conversation_id = $2",
                )
                .bind(original)
                .bind(conversation_id)
                .fetch_optional(&mut *tx)
                .await?
                .map(|(sender, text, deleted)| QuoteColumns {
                    reply_to: Some(original),
                    reply_sender: Some(sender),
                    reply_text: Some(text),
                    reply_deleted: deleted,
                })
                .unwrap_or_default(),
                None => QuoteColumns::default(),
            };
            Saved::Created(Message {
                id,
                conversation_id,
                seq,
                changed_seq: seq,
                sender_id,
                sender_name,
                sender_display,
                body: body.to_owned(),
                created_at,
                note: kind == MessageKind::Note,
                edited_at: None,
                deleted: false,
                attachment: attachment_columns,
                quote,
                reactions: Vec::new(),
                mentions,
            })
        }
        None => {
            let earlier = sqlx::query_as::<_, Message>(&format!(
                "{SELECT} WHERE m.sender_id = $1 AND m.client_id = $2 AND m.conversation_id = $3"
            ))
            .bind(sender_id)
            .bind(client_id)
            .bind(conversation_id)
            .fetch_optional(&mut *tx)
            .await?;
            match earlier {
                // (A replay of a message deleted since stays deleted.)
                Some(message) if message.body == body || message.deleted => {
                    Saved::Duplicate(message)
                }
                // The id was used in another conversation, or for another body.
                _ => Saved::ClientIdReused,
            }
        }
    })
    })
}

const MEMBER_ONLY: &str = "m.conversation_id = $1 AND EXISTS
    (SELECT 1 FROM members WHERE conversation_id = m.conversation_id AND user_id = $2)";

/// Up to `limit` messages before `before` (or the newest), oldest first.
pub(crate) async fn page_before(
    pool: &Pool,
    conversation_id: ConversationId,
    viewer: UserId,
    before: Option<MessageId>,
    limit: i64,
) -> Result<Vec<Message>> {
    on_pool!(pool, db => {
        let mut page = sqlx::query_as::<_, Message>(&format!(
            "{SELECT} WHERE {MEMBER_ONLY} AND m.id < $3 ORDER BY m.id DESC LIMIT $4"
        ))
        .bind(conversation_id)
        .bind(viewer)
        .bind(before.map_or(i64::MAX, MessageId::get))
        .bind(limit)
        .fetch_all(db)
        .await?;
        page.reverse();
        decorate(pool, &mut page).await?;
        Ok(page)
    })
}

/// Up to `limit` messages created or changed after sequence number `after`,
/// in the order of their latest change, each in its current state.
pub(crate) async fn page_after(
    pool: &Pool,
    conversation_id: ConversationId,
    viewer: UserId,
    after: i64,
    limit: i64,
) -> Result<Vec<Message>> {
    let mut page = on_pool!(pool, db => sqlx::query_as::<_, Message>(&format!(
            "{SELECT} WHERE {MEMBER_ONLY} AND m.changed_seq > $3 ORDER BY m.changed_seq LIMIT $4"
        ))
        .bind(conversation_id)
        .bind(viewer)
        .bind(after)
        .bind(limit)
        .fetch_all(db)
        .await?);
    decorate(pool, &mut page).await?;
    Ok(page)
}

/// One message in its current state, if `viewer` is a member of its
/// conversation.
pub(crate) async fn one(
    pool: &Pool,
    conversation_id: ConversationId,
    message_id: MessageId,
    viewer: UserId,
) -> Result<Option<Message>> {
    let found = on_pool!(pool, db => sqlx::query_as::<_, Message>(&format!(
            "{SELECT} WHERE {MEMBER_ONLY} AND m.id = $3"
        ))
        .bind(conversation_id)
        .bind(viewer)
        .bind(message_id)
        .fetch_optional(db)
        .await?);
    let mut found: Vec<Message> = found.into_iter().collect();
    decorate(pool, &mut found).await?;
    Ok(found.pop())
}

/// Loads the reactions and mentions of `messages`, two queries for them all.
pub(crate) async fn decorate(pool: &Pool, messages: &mut [Message]) -> Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let placeholders: Vec<String> = (1..=messages.len()).map(|i| format!("${i}")).collect();
    let ids = placeholders.join(", ");
    let reactions_sql = format!(
        "SELECT r.message_id, r.emoji, r.user_id, u.username FROM reactions r
         JOIN users u ON u.id = r.user_id
         WHERE r.message_id IN ({ids}) ORDER BY r.message_id, u.username_key"
    );
    let mentions_sql = format!(
        "SELECT mn.message_id, mn.user_id, u.username FROM mentions mn
         JOIN users u ON u.id = mn.user_id
         WHERE mn.message_id IN ({ids})"
    );
    // A message never changed has no reactions, and one without "@" no
    // mentions: new messages (most of what is loaded) cost no query here.
    let reactions: Vec<(MessageId, String, UserId, String)> =
        if messages.iter().any(|m| m.changed_seq > m.seq) {
            on_pool!(pool, db => {
                let mut query = sqlx::query_as(&reactions_sql);
                for message in messages.iter() {
                    query = query.bind(message.id);
                }
                query.fetch_all(db).await?
            })
        } else {
            Vec::new()
        };
    let mentions: Vec<(MessageId, UserId, String)> =
        if messages.iter().any(|m| m.body.contains('@')) {
            on_pool!(pool, db => {
                let mut query = sqlx::query_as(&mentions_sql);
                for message in messages.iter() {
                    query = query.bind(message.id);
                }
                query.fetch_all(db).await?
            })
        } else {
            Vec::new()
        };
    for message in messages.iter_mut() {
        message.reactions = REACTIONS
            .iter()
            .filter_map(|emoji| {
                let users: Vec<(UserId, String)> = reactions
                    .iter()
                    .filter(|(id, e, ..)| *id == message.id && e == emoji)
                    .map(|(_, _, user, name)| (*user, name.clone()))
                    .collect();
                (!users.is_empty()).then(|| Reaction {
                    emoji: (*emoji).to_owned(),
                    users,
                })
            })
            .collect();
        message.mentions = mentions
            .iter()
            .filter(|(id, ..)| *id == message.id)
            .map(|(_, user_id, username)| Mention {
                user_id: *user_id,
                username: username.clone(),
            })
            .collect();
    }
    Ok(())
}

/// The newest message at or before sequence number `seq`, if `viewer` is a
/// member of its conversation.
pub(crate) async fn at_or_before(
    pool: &Pool,
    conversation_id: ConversationId,
    viewer: UserId,
    seq: i64,
) -> Result<Option<Message>> {
    on_pool!(pool, db => {
        Ok(
            sqlx::query_as::<_, Message>(&format!(
                "{SELECT} WHERE {MEMBER_ONLY} AND m.seq <= $3 ORDER BY m.seq DESC LIMIT 1"
            ))
                .bind(conversation_id)
                .bind(viewer)
                .bind(seq)
                .fetch_optional(db)
                .await?,
        )
    })
}

/// Where an attachment's bytes are, if `viewer` is a member of its conversation.
pub(crate) async fn attachment_for_member(
    pool: &Pool,
    attachment_id: i64,
    viewer: UserId,
) -> Result<Option<(String, Attachment)>> {
    on_pool!(pool, db => {
        let row: Option<(String, String, i64, String, bool)> = sqlx::query_as(
            "SELECT a.sha256, a.content_type, a.size, a.filename, a.has_thumbnail
         FROM attachments a JOIN messages m ON m.id = a.message_id
         WHERE a.id = $1 AND EXISTS
             (SELECT 1 FROM members WHERE conversation_id = m.conversation_id AND user_id = $2)",
        )
        .bind(attachment_id)
        .bind(viewer)
        .fetch_optional(db)
        .await?;
        Ok(
            row.map(|(sha256, content_type, size, filename, has_thumbnail)| {
                (
                    sha256,
                    Attachment {
                        id: attachment_id,
                        content_type,
                        size,
                        filename,
                        has_thumbnail,
                        // Serving the bytes does not need it.
                        thumbnail_size: None,
                    },
                )
            }),
        )
    })
}

/// Whether any attachment still uses these bytes.
pub(crate) async fn sha256_in_use(pool: &Pool, sha256: &str) -> Result<bool> {
    on_pool!(pool, db => {
        Ok(sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM attachments WHERE sha256 = $1)",
        )
        .bind(sha256)
        .fetch_one(db)
        .await?)
    })
}

/// The messages with these ids, in no particular order (deleted ones are
/// missing), with no membership check: what an instance loads to deliver
/// messages that another instance saved, whose recipients that instance
/// already decided. Callers keep `ids` to a few hundred (one placeholder each).
pub(crate) async fn by_ids(pool: &Pool, ids: &[MessageId]) -> Result<Vec<Message>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!("{SELECT} WHERE m.id IN ({})", placeholders.join(", "));
    on_pool!(pool, db => {
        let mut query = sqlx::query_as::<_, Message>(&sql);
        for id in ids {
            query = query.bind(*id);
        }
        let mut found = query.fetch_all(db).await?;
        decorate(pool, &mut found).await?;
        Ok(found)
    })
}
