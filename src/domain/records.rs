//! What Natter stores, as plain data: the rows the store reads and the
//! services, sockets and views pass around.

use sqlx::FromRow;
use time::OffsetDateTime;

use super::{ConversationId, MessageId, UserId};

/// A registered user.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub created_at: OffsetDateTime,
    #[sqlx(flatten)]
    pub profile: Profile,
}

/// What a person says about themselves, shown wherever they appear.
#[derive(Debug, Clone, Default, FromRow, PartialEq, Eq)]
pub struct Profile {
    /// Shown beside the username; empty when not set.
    pub display_name: String,
    /// A short line under the name; empty when not set.
    pub status: String,
    /// The SHA-256 of the avatar image in the media folder.
    pub avatar: Option<String>,
}

/// Someone in the directory of people.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct Contact {
    pub id: UserId,
    pub username: String,
    pub last_seen_at: Option<OffsetDateTime>,
    #[sqlx(flatten)]
    pub profile: Profile,
}

/// A conversation as its members see it.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct Conversation {
    pub id: ConversationId,
    pub kind: String,
    pub title: Option<String>,
    pub created_by: Option<UserId>,
}

impl Conversation {
    pub(crate) fn is_group(&self) -> bool {
        self.kind == "group"
    }
}

/// The newest message of a conversation, as its inbox row previews it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub sender_id: UserId,
    pub sender_name: String,
    /// The start of its text (see `limits::PREVIEW_MAX_CHARS`).
    pub text: String,
    /// Whether a file is attached (the text is then its caption or name).
    pub file: bool,
    pub note: bool,
    pub deleted: bool,
    pub at: OffsetDateTime,
}

/// How much of a conversation a member wants to be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NotifyLevel {
    /// Every message.
    #[default]
    All,
    /// Only messages that mention them.
    Mentions,
    /// Nothing: muted.
    None,
}

impl NotifyLevel {
    /// Its name in the `members.notify` column and in forms.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyLevel::All => "all",
            NotifyLevel::Mentions => "mentions",
            NotifyLevel::None => "none",
        }
    }

    /// The level a column or form names; `None` for anything else.
    pub fn parse(text: &str) -> Option<NotifyLevel> {
        [NotifyLevel::All, NotifyLevel::Mentions, NotifyLevel::None]
            .into_iter()
            .find(|level| level.as_str() == text)
    }

    /// What the setting is called where people choose it.
    pub fn label(self) -> &'static str {
        match self {
            NotifyLevel::All => "Every message",
            NotifyLevel::Mentions => "Only mentions of me",
            NotifyLevel::None => "Nothing (muted)",
        }
    }
}

impl Preview {
    /// How an inbox row previews `message`.
    pub fn of(message: &Message) -> Preview {
        Preview {
            sender_id: message.sender_id,
            sender_name: message.sender_name.clone(),
            text: message
                .body
                .chars()
                .take(crate::limits::PREVIEW_MAX_CHARS as usize)
                .collect(),
            file: message.attachment.attachment_id.is_some(),
            note: message.note,
            deleted: message.deleted,
            at: message.created_at,
        }
    }
}

/// One conversation in a member's inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxRow {
    pub id: ConversationId,
    pub group: bool,
    /// The group's name, or the other person's.
    pub title: String,
    /// The other person, in a direct conversation.
    pub peer: Option<UserId>,
    /// The other person's avatar (see `Profile`).
    pub avatar: Option<String>,
    pub unread: i64,
    /// Whether an unread message calls the viewer by name.
    pub mentioned: bool,
    /// What the viewer wants to be told about it.
    pub notify: NotifyLevel,
    /// The conversation's newest change: what the row is as of.
    pub last_seq: i64,
    pub newest: Option<Preview>,
    /// A secret conversation: end-to-end encrypted, its texts unknown here.
    pub secret: bool,
}

/// A session as the account page lists it.
#[derive(Debug, Clone, FromRow)]
pub struct SessionInfo {
    pub token_hash: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub user_agent: Option<String>,
}

/// A browser subscribed to Web Push, as the account page lists it.
#[derive(Debug, Clone, FromRow)]
pub struct SubscriptionInfo {
    pub id: i64,
    /// The session that subscribed it (it goes with that session).
    pub session_hash: String,
    pub created_at: OffsetDateTime,
    pub user_agent: Option<String>,
}

/// A saved message, with its sender's name for display.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    /// Its place in its conversation's change log (see `save_in`).
    pub seq: i64,
    /// The change that made it what it is now: `seq`, or the latest edit,
    /// deletion or reaction.
    pub changed_seq: i64,
    pub sender_id: UserId,
    pub sender_name: String,
    /// The sender's display name, empty when they have none.
    pub sender_display: String,
    /// Empty once deleted.
    pub body: String,
    pub created_at: OffsetDateTime,
    /// A note the group keeps ("added bob", "left"), with its actor as the
    /// sender: never unread, shown apart from what members wrote.
    pub note: bool,
    pub edited_at: Option<OffsetDateTime>,
    /// Deleted for everyone by its sender.
    pub deleted: bool,
    /// The attached file, if any.
    #[sqlx(flatten)]
    pub attachment: AttachmentColumns,
    /// The message it answers, if any.
    #[sqlx(flatten)]
    pub quote: QuoteColumns,
    /// Its reactions, in the order of `REACTIONS` (loaded apart).
    #[sqlx(skip)]
    pub reactions: Vec<Reaction>,
    /// The members it calls by name (loaded apart).
    #[sqlx(skip)]
    pub mentions: Vec<Mention>,
    /// In a secret conversation, the MLS message that carries it (its
    /// `body` is empty: only the members' browsers can read it).
    pub ciphertext: Option<Vec<u8>>,
}

/// The change a page showing `messages` (a conversation's newest, as read
/// at once) is up to: everything up to it is shown, and any later change
/// reaches the page as an event or when it catches up.
pub fn resume_point(messages: &[Message]) -> i64 {
    messages.iter().map(|m| m.changed_seq).max().unwrap_or(0)
}

/// The message another answers, as its quote shows it (all null without one).
#[derive(Debug, Clone, FromRow, PartialEq, Eq, Default)]
pub struct QuoteColumns {
    pub reply_to: Option<MessageId>,
    pub reply_sender: Option<String>,
    /// The start of its text.
    pub reply_text: Option<String>,
    pub reply_deleted: bool,
}

/// One emoji on a message and who chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    pub emoji: String,
    /// Who reacted, by name, alphabetically.
    pub users: Vec<(UserId, String)>,
}

/// A member a message calls by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mention {
    pub user_id: UserId,
    pub username: String,
}

/// What a saved message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// Something a member wrote.
    Text,
    /// A note of what happened to a group, worded after its actor's name.
    Note,
}

impl MessageKind {
    /// Its name in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Note => "note",
        }
    }
}

/// The attachment columns of a message row (all null without one).
#[derive(Debug, Clone, FromRow, PartialEq, Eq, Default)]
pub struct AttachmentColumns {
    pub attachment_id: Option<i64>,
    pub attachment_type: Option<String>,
    pub attachment_size: Option<i64>,
    pub attachment_name: Option<String>,
    pub attachment_thumbnail: Option<bool>,
    pub attachment_thumbnail_width: Option<i64>,
    pub attachment_thumbnail_height: Option<i64>,
}

impl Message {
    /// The attached file, if any.
    pub fn attachment(&self) -> Option<Attachment> {
        let a = &self.attachment;
        Some(Attachment {
            id: a.attachment_id?,
            content_type: a.attachment_type.clone()?,
            size: a.attachment_size?,
            filename: a.attachment_name.clone()?,
            has_thumbnail: a.attachment_thumbnail.unwrap_or(false),
            thumbnail_size: a
                .attachment_thumbnail_width
                .zip(a.attachment_thumbnail_height),
        })
    }
}

/// A file attached to a message, as pages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: i64,
    pub content_type: String,
    pub size: i64,
    pub filename: String,
    pub has_thumbnail: bool,
    /// The thumbnail's width and height (files stored before sizes were
    /// kept have none).
    pub thumbnail_size: Option<(i64, i64)>,
}

/// A file to attach to a new message, already stored on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttachment {
    pub sha256: String,
    pub content_type: String,
    pub size: i64,
    pub filename: String,
    pub has_thumbnail: bool,
    pub thumbnail_size: Option<(i64, i64)>,
}
