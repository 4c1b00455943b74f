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
        r.deleted_at IS NOT NULL AS reply_deleted, mm.body AS ciphertext
    FROM messages m JOIN users u ON u.id = m.sender_id
    LEFT JOIN mls_messages mm ON mm.conversation_id = m.conversation_id AND mm.seq = m.seq
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
        &NewMessage::text(conversation_id, sender_id, body, client_id),
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
    let rows = json_rows(newest.iter().map(|((conversation_id, sender_id), id)| {
        [
            conversation_id.get().into(),
            sender_id.get().into(),
            id.get().into(),
        ]
    }));
    let sql = dialect(
        tx,
        "UPDATE members SET last_read_message_id = j.value->>2
         FROM json_each($1) AS j
         WHERE members.conversation_id = j.value->>0 AND members.user_id = j.value->>1
           AND members.last_read_message_id < j.value->>2",
        "UPDATE members SET last_read_message_id = (e->>2)::bigint
         FROM jsonb_array_elements($1::jsonb) AS e
         WHERE members.conversation_id = (e->>0)::bigint AND members.user_id = (e->>1)::bigint
           AND members.last_read_message_id < (e->>2)::bigint",
    );
    on_tx!(tx, tx => sqlx::query(sql).bind(&rows).execute(&mut *tx).await.map(drop))
}

/// A message to save: who writes what where, under which client id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewMessage<'a> {
    pub(crate) conversation_id: ConversationId,
    pub(crate) sender_id: UserId,
    pub(crate) kind: MessageKind,
    pub(crate) body: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) attachment: Option<&'a NewAttachment>,
    pub(crate) reply_to: Option<MessageId>,
}

impl<'a> NewMessage<'a> {
    /// A text message with nothing attached, answering nothing.
    pub(crate) fn text(
        conversation_id: ConversationId,
        sender_id: UserId,
        body: &'a str,
        client_id: &'a str,
    ) -> NewMessage<'a> {
        NewMessage {
            conversation_id,
            sender_id,
            kind: MessageKind::Text,
            body,
            client_id,
            attachment: None,
            reply_to: None,
        }
    }
}

/// The columns a new message's row gives back.
type Inserted = (MessageId, OffsetDateTime, String, String);

/// Saves a message inside the caller's transaction (see `save`); the caller
/// then moves the sender's read position (`senders_read_own_in`).
pub(crate) async fn save_in(tx: &mut Tx, new: &NewMessage<'_>) -> Result<Saved> {
    // Taking the conversation's next sequence number locks its row until
    // the commit: writers to one conversation commit in sequence order, on
    // any number of instances, while other conversations go on in parallel.
    let seq: Option<i64> = on_tx!(tx, tx => sqlx::query_scalar(
        "UPDATE conversations SET last_seq = last_seq + 1
         WHERE id = $1 AND EXISTS
             (SELECT 1 FROM members WHERE conversation_id = $2 AND user_id = $3)
         RETURNING last_seq",
    )
    .bind(new.conversation_id)
    .bind(new.conversation_id)
    .bind(new.sender_id)
    .fetch_optional(&mut *tx)
    .await?);
    let Some(seq) = seq else {
        return Err(Error::NotFound);
    };
    let inserted: Option<Inserted> = on_tx!(tx, tx => sqlx::query_as(
        "INSERT INTO messages
             (conversation_id, seq, changed_seq, sender_id, body, client_id, created_at, kind,
              reply_to)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
             (SELECT id FROM messages WHERE id = $9 AND conversation_id = $10))
         ON CONFLICT (sender_id, client_id) DO NOTHING
         RETURNING id, created_at, (SELECT username FROM users WHERE id = sender_id),
             (SELECT display_name FROM users WHERE id = sender_id)",
    )
    .bind(new.conversation_id)
    .bind(seq)
    .bind(seq)
    .bind(new.sender_id)
    .bind(new.body)
    .bind(new.client_id)
    .bind(now())
    .bind(new.kind.as_str())
    .bind(new.reply_to)
    .bind(new.conversation_id)
    .fetch_optional(&mut *tx)
    .await?);
    match inserted {
        Some(row) => Ok(Saved::Created(complete_in(tx, new, seq, row).await?)),
        None => {
            // Nothing new: give the number back (the row is still ours), so
            // the log gets no hole a page would stop to look into (deleted
            // accounts still leave some: a page reads past them).
            on_tx!(tx, tx => sqlx::query("UPDATE conversations SET last_seq = last_seq - 1 WHERE id = $1")
                .bind(new.conversation_id)
                .execute(&mut *tx)
                .await
                .map(drop))?;
            replayed_in(tx, new).await
        }
    }
}

/// What an earlier message under the same client id makes of a new one: a
/// duplicate of it (the same text), or a client id used for something else.
async fn replayed_in(tx: &mut Tx, new: &NewMessage<'_>) -> Result<Saved> {
    let earlier = on_tx!(tx, tx => sqlx::query_as::<_, Message>(&format!(
        "{SELECT} WHERE m.sender_id = $1 AND m.client_id = $2 AND m.conversation_id = $3"
    ))
    .bind(new.sender_id)
    .bind(new.client_id)
    .bind(new.conversation_id)
    .fetch_optional(&mut *tx)
    .await?);
    Ok(match earlier {
        // (A replay of a message deleted since stays deleted.)
        Some(message) if message.body == new.body || message.deleted => Saved::Duplicate(message),
        // The id was used in another conversation, or for another body.
        _ => Saved::ClientIdReused,
    })
}

/// Saves a batch of messages inside the caller's transaction in a few
/// statements, whatever its size: one to check membership and earlier
/// client ids, one to take every conversation's next sequence numbers, one
/// multi-row insert; only attachments, mentions and replies cost one more
/// each. Each message gets what `save_in` would have given it, in the
/// batch's order (messages to one conversation take its numbers in the
/// order given). Only database failures are errors; "not a member" or a
/// replayed client id is that message's answer.
pub(crate) async fn save_many_in(
    tx: &mut Tx,
    batch: &[NewMessage<'_>],
) -> Result<Vec<Result<Saved>>, sqlx::Error> {
    let mut answers: Vec<Option<Result<Saved>>> = batch.iter().map(|_| None).collect();
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    lock_conversations_in(tx, batch.iter().map(|m| m.conversation_id)).await?;
    let checks = members_and_replays_in(tx, batch).await?;
    let mut client_ids = std::collections::HashSet::new();
    let mut fresh = Vec::new();
    for (i, (new, check)) in batch.iter().zip(checks).enumerate() {
        if !check.member {
            answers[i] = Some(Err(Error::NotFound));
        } else if check.secret {
            // Text in the clear has no place there: only ciphertext made in
            // the members' browsers does (`store::secret::post`).
            answers[i] = Some(Err(Error::Invalid(
                "This is a secret conversation: its messages are encrypted in the browser, which needs JavaScript.".into(),
            )));
        } else if !check.replay && client_ids.insert((new.sender_id, new.client_id)) {
            fresh.push(i);
        }
    }
    let news: Vec<&NewMessage> = fresh.iter().map(|&i| &batch[i]).collect();
    let seqs = next_seqs_in(tx, &news).await?;
    let mut inserted = insert_many_in(tx, &news, &seqs).await?;
    for (i, seq) in fresh.into_iter().zip(seqs) {
        let new = &batch[i];
        // A row missing here lost a race for its client id to another
        // instance since the check: it is answered below, as a replay.
        if let Some(row) = inserted.remove(&(new.sender_id, new.client_id.to_owned())) {
            answers[i] = Some(Ok(Saved::Created(complete_in(tx, new, seq, row).await?)));
        }
    }
    let mut saved = Vec::with_capacity(batch.len());
    for (new, answer) in batch.iter().zip(answers) {
        saved.push(match answer {
            Some(answer) => answer,
            None => match replayed_in(tx, new).await {
                Err(Error::Database(e)) => return Err(e),
                answer => answer,
            },
        });
    }
    Ok(saved)
}

/// On PostgreSQL, locks the conversations' rows, lowest id first, so that
/// two instances' batches take them in one order and never deadlock.
/// (SQLite has one writer: nothing to order.)
async fn lock_conversations_in(
    tx: &mut Tx,
    conversations: impl Iterator<Item = ConversationId>,
) -> Result<(), sqlx::Error> {
    let Tx::Postgres(t) = tx else {
        return Ok(());
    };
    let ids: Vec<i64> = conversations
        .map(ConversationId::get)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    sqlx::query("SELECT id FROM conversations WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
        .bind(ids)
        .execute(&mut **t)
        .await
        .map(drop)
}

/// A batch as one parameter: a JSON array of rows, each an array of
/// values, which the statement unpacks (`json_each` on SQLite,
/// `jsonb_array_elements` on PostgreSQL). One parameter whatever the batch's
/// size: the same statement, prepared once, serves every batch, and
/// SQLite's drivers bind thousands of numbered parameters slowly (looking
/// each name up costs a scan of the others).
fn json_rows<const N: usize>(rows: impl Iterator<Item = [serde_json::Value; N]>) -> String {
    serde_json::Value::Array(
        rows.map(|row| serde_json::Value::from(row.to_vec()))
            .collect(),
    )
    .to_string()
}

/// The SQL for whichever database `tx` is on.
fn dialect(tx: &Tx, sqlite: &'static str, postgres: &'static str) -> &'static str {
    match tx {
        Tx::Sqlite(_) => sqlite,
        Tx::Postgres(_) => postgres,
    }
}

/// What the writer checks of each message of a batch before saving it.
struct Check {
    /// Its sender is a member of its conversation.
    member: bool,
    /// Its sender used its client id before.
    replay: bool,
    /// Its conversation is secret (end-to-end encrypted).
    secret: bool,
}

/// For each message: whether its sender is a member of its conversation,
/// whether they used its client id before, and whether the conversation is
/// secret.
async fn members_and_replays_in(
    tx: &mut Tx,
    batch: &[NewMessage<'_>],
) -> Result<Vec<Check>, sqlx::Error> {
    let rows = json_rows(batch.iter().map(|new| {
        [
            new.conversation_id.get().into(),
            new.sender_id.get().into(),
            new.client_id.into(),
        ]
    }));
    let sql = dialect(
        tx,
        "SELECT CAST(j.key AS INTEGER),
             EXISTS (SELECT 1 FROM members
                 WHERE conversation_id = j.value->>0 AND user_id = j.value->>1),
             EXISTS (SELECT 1 FROM messages
                 WHERE sender_id = j.value->>1 AND client_id = j.value->>2),
             EXISTS (SELECT 1 FROM mls_groups WHERE conversation_id = j.value->>0)
         FROM json_each($1) AS j ORDER BY j.key",
        // Scalar subqueries, not EXISTS: PostgreSQL may run an EXISTS as a
        // hashed subplan, reading all of `members` and `messages` once per
        // batch (it guesses 100 rows for the array); each of these is one
        // index lookup per message (both keys are unique).
        "SELECT ord,
             (SELECT true FROM members
                 WHERE conversation_id = (e->>0)::bigint AND user_id = (e->>1)::bigint) IS NOT NULL,
             (SELECT true FROM messages
                 WHERE sender_id = (e->>1)::bigint AND client_id = e->>2) IS NOT NULL,
             (SELECT true FROM mls_groups WHERE conversation_id = (e->>0)::bigint) IS NOT NULL
         FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(e, ord) ORDER BY ord",
    );
    let found: Vec<(i64, bool, bool, bool)> = on_tx!(tx, tx => sqlx::query_as(sql)
        .bind(&rows)
        .fetch_all(&mut *tx)
        .await?);
    Ok(found
        .into_iter()
        .map(|(_, member, replay, secret)| Check {
            member,
            replay,
            secret,
        })
        .collect())
}

/// Takes the next sequence numbers of each conversation, one per message
/// to it, in one statement; returns each message's number.
async fn next_seqs_in(tx: &mut Tx, fresh: &[&NewMessage<'_>]) -> Result<Vec<i64>, sqlx::Error> {
    let mut counts: std::collections::BTreeMap<ConversationId, i64> = Default::default();
    for new in fresh {
        *counts.entry(new.conversation_id).or_default() += 1;
    }
    if counts.is_empty() {
        return Ok(Vec::new());
    }
    let rows = json_rows(
        counts
            .iter()
            .map(|(id, count)| [id.get().into(), (*count).into()]),
    );
    let sql = dialect(
        tx,
        "UPDATE conversations SET last_seq = last_seq + (j.value->>1)
         FROM json_each($1) AS j WHERE conversations.id = j.value->>0
         RETURNING id, last_seq",
        "UPDATE conversations SET last_seq = last_seq + (e->>1)::bigint
         FROM jsonb_array_elements($1::jsonb) AS e WHERE conversations.id = (e->>0)::bigint
         RETURNING id, last_seq",
    );
    let rows: Vec<(ConversationId, i64)> = on_tx!(tx, tx => sqlx::query_as(sql)
        .bind(&rows)
        .fetch_all(&mut *tx)
        .await?);
    // The first number each conversation hands out next.
    let mut next: std::collections::HashMap<ConversationId, i64> = rows
        .into_iter()
        .map(|(id, last)| (id, last - counts.get(&id).copied().unwrap_or_default() + 1))
        .collect();
    fresh
        .iter()
        .map(|new| {
            let seq = next.get_mut(&new.conversation_id).ok_or_else(|| {
                sqlx::Error::Protocol("a conversation of the batch has gone".into())
            })?;
            *seq += 1;
            Ok(*seq - 1)
        })
        .collect()
}

/// Inserts the messages in one statement; returns each new row by its
/// sender and client id.
async fn insert_many_in(
    tx: &mut Tx,
    fresh: &[&NewMessage<'_>],
    seqs: &[i64],
) -> Result<std::collections::HashMap<(UserId, String), Inserted>, sqlx::Error> {
    if fresh.is_empty() {
        return Ok(Default::default());
    }
    let rows = json_rows(fresh.iter().zip(seqs).map(|(new, seq)| {
        [
            new.conversation_id.get().into(),
            (*seq).into(),
            new.sender_id.get().into(),
            new.body.into(),
            new.client_id.into(),
            new.kind.as_str().into(),
            new.reply_to.map(MessageId::get).into(),
        ]
    }));
    // (SQLite needs the WHERE to tell the upsert clause from a join's ON.)
    let sql = dialect(
        tx,
        "INSERT INTO messages
             (conversation_id, seq, changed_seq, sender_id, body, client_id, created_at, kind,
              reply_to)
         SELECT j.value->>0, j.value->>1, j.value->>1, j.value->>2, j.value->>3, j.value->>4,
             $2, j.value->>5,
             (SELECT id FROM messages WHERE id = j.value->>6 AND conversation_id = j.value->>0)
         FROM json_each($1) AS j WHERE true
         ON CONFLICT (sender_id, client_id) DO NOTHING
         RETURNING id, created_at, (SELECT username FROM users WHERE id = sender_id),
             (SELECT display_name FROM users WHERE id = sender_id), sender_id, client_id",
        "INSERT INTO messages
             (conversation_id, seq, changed_seq, sender_id, body, client_id, created_at, kind,
              reply_to)
         SELECT (e->>0)::bigint, (e->>1)::bigint, (e->>1)::bigint, (e->>2)::bigint, e->>3,
             e->>4, $2, e->>5,
             (SELECT id FROM messages
              WHERE id = (e->>6)::bigint AND conversation_id = (e->>0)::bigint)
         FROM jsonb_array_elements($1::jsonb) AS e
         ON CONFLICT (sender_id, client_id) DO NOTHING
         RETURNING id, created_at, (SELECT username FROM users WHERE id = sender_id),
             (SELECT display_name FROM users WHERE id = sender_id), sender_id, client_id",
    );
    type Row = (MessageId, OffsetDateTime, String, String, UserId, String);
    let rows: Vec<Row> = on_tx!(tx, tx => sqlx::query_as(sql)
        .bind(&rows)
        .bind(now())
        .fetch_all(&mut *tx)
        .await?);
    Ok(rows
        .into_iter()
        .map(|(id, at, name, display, sender, client_id)| {
            ((sender, client_id), (id, at, name, display))
        })
        .collect())
}

/// The rest of a new message: its attachment, whom it calls by name and the
/// message it answers; the message as the page shows it.
async fn complete_in(
    tx: &mut Tx,
    new: &NewMessage<'_>,
    seq: i64,
    (id, created_at, sender_name, sender_display): Inserted,
) -> Result<Message, sqlx::Error> {
    let NewMessage {
        conversation_id,
        sender_id,
        kind,
        body,
        attachment,
        reply_to,
        ..
    } = *new;
    on_tx!(tx, tx => {
    // Everything the page shows is known here: no need to read it back.
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
    // Who it calls by name: members only, never the sender (a group's
    // note calls nobody, whatever the group is named).
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
    Ok(Message {
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
        ciphertext: None,
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

/// Up to `limit` messages from `from` on (itself included), oldest first,
/// created at or before change `upto` (what arrived later reaches the page
/// live).
pub(crate) async fn page_from(
    pool: &Pool,
    conversation_id: ConversationId,
    viewer: UserId,
    from: MessageId,
    upto: i64,
    limit: i64,
) -> Result<Vec<Message>> {
    let mut page = on_pool!(pool, db => sqlx::query_as::<_, Message>(&format!(
            "{SELECT} WHERE {MEMBER_ONLY} AND m.id >= $3 AND m.seq <= $4 ORDER BY m.id LIMIT $5"
        ))
        .bind(conversation_id)
        .bind(viewer)
        .bind(from)
        .bind(upto)
        .bind(limit)
        .fetch_all(db)
        .await?);
    decorate(pool, &mut page).await?;
    Ok(page)
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
