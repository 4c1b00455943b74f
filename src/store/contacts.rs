//! The directory as one viewer sees it (every other user, with presence
//! history), and read state: unread counts, each conversation's tally,
//! marking a conversation read and asking what a peer has seen.

use time::OffsetDateTime;

use super::{now, Pool, Tx};
pub use crate::domain::Contact;
use crate::domain::{ConversationId, MemberTally, MessageId, NotifyLevel, Preview, Tally, UserId};
use crate::error::Result;
use crate::limits::{PREVIEW_MAX_CHARS, UNREAD_SHOWN_MAX};

/// How many messages of conversation `conversation` the member row `member`
/// (an alias of `members`) did not send and has not read (notes are not
/// counted: nobody wrote them to be read), counted up to one
/// past `UNREAD_SHOWN_MAX`: the badge says "99+" beyond that, and a backlog of
/// thousands costs no more to count than a hundred.
pub(super) fn unread_count(conversation: &str, member: &str) -> String {
    format!(
        "(SELECT COUNT(*) FROM (SELECT 1 FROM messages unread_m
            WHERE unread_m.conversation_id = {conversation}
              AND unread_m.sender_id <> {member}.user_id
              AND unread_m.kind = 'text'
              AND unread_m.deleted_at IS NULL
              AND unread_m.id > {member}.last_read_message_id
            LIMIT {limit}) AS unread_capped)",
        limit = UNREAD_SHOWN_MAX + 1
    )
}

/// Whether an unread message of conversation `conversation` mentions the
/// member row `member` (an alias of `members`).
pub(super) fn mentioned(conversation: &str, member: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM mentions mn JOIN messages mm ON mm.id = mn.message_id
            WHERE mn.user_id = {member}.user_id AND mm.conversation_id = {conversation}
              AND mm.id > {member}.last_read_message_id AND mm.deleted_at IS NULL
              AND mm.kind = 'text')"
    )
}

/// Every user but the viewer, alphabetically, with when they were last seen.
pub async fn list(pool: &Pool, viewer: UserId) -> Result<Vec<Contact>> {
    Ok(on_pool!(pool, p => sqlx::query_as::<_, Contact>(
        "SELECT id, username, last_seen_at, display_name, status, avatar FROM users WHERE id <> $1 ORDER BY username_key",
    )
    .bind(viewer)
    .fetch_all(p)
    .await?))
}

/// The joins `preview_columns` needs, for conversation `c`.
/// Whether conversation `c` is secret (has an MLS group).
pub(super) const SECRET: &str =
    "((SELECT 1 FROM mls_groups g WHERE g.conversation_id = c.id) IS NOT NULL)";

pub(super) const PREVIEW_JOINS: &str =
    "LEFT JOIN messages n ON n.id = (SELECT MAX(id) FROM messages WHERE conversation_id = c.id)
     LEFT JOIN users ns ON ns.id = n.sender_id
     LEFT JOIN attachments na ON na.message_id = n.id";

/// The columns of a conversation's newest message `n` (its sender `ns`, its
/// file `na`; see `PREVIEW_JOINS`) that an inbox row previews, as
/// `PreviewColumns` reads them.
pub(super) fn preview_columns() -> String {
    format!(
        "n.id AS newest_id, n.sender_id AS newest_sender_id,
         ns.username AS newest_sender_name, SUBSTR(n.body, 1, {PREVIEW_MAX_CHARS}) AS newest_text,
         na.id IS NOT NULL AS newest_file, n.kind = 'note' AS newest_note,
         n.deleted_at IS NOT NULL AS newest_deleted,
         n.created_at AS newest_at"
    )
}

/// A conversation's newest message as a row reads it (all null without one).
#[derive(sqlx::FromRow)]
pub(super) struct PreviewColumns {
    newest_id: Option<MessageId>,
    newest_sender_id: Option<UserId>,
    newest_sender_name: Option<String>,
    newest_text: Option<String>,
    newest_file: bool,
    newest_note: Option<bool>,
    newest_deleted: Option<bool>,
    newest_at: Option<OffsetDateTime>,
}

impl PreviewColumns {
    pub(super) fn newest(&self) -> Option<(MessageId, UserId)> {
        self.newest_id.zip(self.newest_sender_id)
    }

    pub(super) fn preview(self) -> Option<Preview> {
        Some(Preview {
            sender_id: self.newest_sender_id?,
            sender_name: self.newest_sender_name?,
            text: self.newest_text?,
            file: self.newest_file,
            note: self.newest_note.unwrap_or(false),
            deleted: self.newest_deleted.unwrap_or(false),
            at: self.newest_at?,
        })
    }
}

/// One member's row of a conversation's tally.
#[derive(sqlx::FromRow)]
struct TallyRow {
    user_id: UserId,
    username: String,
    display_name: String,
    avatar: Option<String>,
    last_read_message_id: MessageId,
    unread: i64,
    mentioned: bool,
    notify: String,
    is_group: bool,
    title: Option<String>,
    last_seq: i64,
    secret: bool,
    #[sqlx(flatten)]
    newest: PreviewColumns,
}

/// Every member's unread count and read position in a conversation, with
/// its name, newest message and change; `None` when the conversation is gone.
pub async fn tally(pool: &Pool, conversation_id: ConversationId) -> Result<Option<Tally>> {
    let sql = format!(
        "SELECT v.user_id, u.username, u.display_name, u.avatar, v.last_read_message_id, {unread} AS unread,
                {mentioned} AS mentioned, v.notify,
                c.kind = 'group' AS is_group, c.title, c.last_seq, {SECRET} AS secret, {preview}
         FROM members v
         JOIN users u ON u.id = v.user_id
         JOIN conversations c ON c.id = v.conversation_id
         {PREVIEW_JOINS}
         WHERE v.conversation_id = $1
         ORDER BY v.user_id",
        unread = unread_count("v.conversation_id", "v"),
        mentioned = mentioned("v.conversation_id", "v"),
        preview = preview_columns(),
    );
    let mut rows: Vec<TallyRow> = on_pool!(pool, p => sqlx::query_as(&sql)
        .bind(conversation_id)
        .fetch_all(p)
        .await?);
    let members = rows
        .iter()
        .map(|row| MemberTally {
            user_id: row.user_id,
            username: row.username.clone(),
            display_name: row.display_name.clone(),
            avatar: row.avatar.clone(),
            last_read: row.last_read_message_id,
            unread: row.unread,
            mentioned: row.mentioned,
            notify: NotifyLevel::parse(&row.notify).unwrap_or_default(),
        })
        .collect();
    let Some(first) = rows.pop() else {
        return Ok(None);
    };
    Ok(Some(Tally {
        conversation_id,
        group: first.is_group,
        last_seq: first.last_seq,
        newest: first.newest.newest(),
        preview: first.newest.preview(),
        title: first.title,
        secret: first.secret,
        members,
    }))
}

/// Marks everything up to `message_id` (or the newest message) as read by
/// `user`, inside the caller's transaction (the app goes through
/// `store::writer`). Returns the new read position if it moved.
pub(crate) async fn mark_read_in(
    tx: &mut Tx,
    conversation_id: ConversationId,
    user: UserId,
    message_id: Option<MessageId>,
) -> Result<Option<MessageId>> {
    if let Tx::Postgres(t) = tx {
        // Saves lock the conversation's row before its members' rows; a read
        // mark does too, or two instances could each hold what the other
        // waits for.
        sqlx::query("SELECT 1 FROM conversations WHERE id = $1 FOR NO KEY UPDATE")
            .bind(conversation_id)
            .execute(&mut **t)
            .await?;
    }
    Ok(on_tx!(tx, conn => sqlx::query_scalar(
        "UPDATE members SET last_read_message_id = COALESCE($1,
             (SELECT MAX(id) FROM messages WHERE conversation_id = $2), 0)
         WHERE conversation_id = $3 AND user_id = $4
           AND last_read_message_id < COALESCE($5,
             (SELECT MAX(id) FROM messages WHERE conversation_id = $6), 0)
         RETURNING last_read_message_id",
    )
    .bind(message_id)
    .bind(conversation_id)
    .bind(conversation_id)
    .bind(user)
    .bind(message_id)
    .bind(conversation_id)
    .fetch_optional(conn)
    .await?))
}

/// Whether the newest message of a conversation is `viewer`'s own and every
/// other member has read it: the sender then sees "Seen".
pub(crate) async fn seen_by_others(
    pool: &Pool,
    conversation_id: ConversationId,
    viewer: UserId,
) -> Result<bool> {
    Ok(on_pool!(pool, p => sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM messages m
         WHERE m.id = (SELECT MAX(id) FROM messages WHERE conversation_id = $1)
           AND m.sender_id = $2
           AND NOT EXISTS (SELECT 1 FROM members o
               WHERE o.conversation_id = m.conversation_id AND o.user_id <> $3
                 AND o.last_read_message_id < m.id))",
    )
    .bind(conversation_id)
    .bind(viewer)
    .bind(viewer)
    .fetch_one(p)
    .await?))
}

/// Sets what `user` wants to be told about a conversation they are in;
/// `NotFound` when they are not a member.
pub(crate) async fn set_notify(
    pool: &Pool,
    conversation_id: ConversationId,
    user: UserId,
    level: NotifyLevel,
) -> Result<()> {
    let changed = on_pool!(pool, p => sqlx::query(
        "UPDATE members SET notify = $1 WHERE conversation_id = $2 AND user_id = $3",
    )
    .bind(level.as_str())
    .bind(conversation_id)
    .bind(user)
    .execute(p)
    .await?
    .rows_affected());
    if changed == 0 {
        return Err(crate::error::Error::NotFound);
    }
    Ok(())
}

/// Records that a user's last socket closed now.
pub(crate) async fn touch_last_seen(pool: &Pool, user: UserId) -> Result<OffsetDateTime> {
    let at = now();
    on_pool!(pool, p => {
        sqlx::query("UPDATE users SET last_seen_at = $1 WHERE id = $2")
            .bind(at)
            .bind(user)
            .execute(p)
            .await?;
    });
    Ok(at)
}
