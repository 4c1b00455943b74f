//! What members do to messages already sent: edit or delete their own,
//! react to any. Each change is saved as the next change of its
//! conversation, then published, so every open page replaces the bubble.

use std::path::Path;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::domain::{message_text, ConversationId, Message, MessageId, ReactionEmoji};
use crate::domain::{SharedTally, UserId};
use crate::error::{Error, Result};
use crate::limits::EDIT_WINDOW;
use crate::live::hub::{Event, Fanout};
use crate::media;
use crate::store::{changes, conversations, messages, Pool};

/// Tells the members' pages that a message changed (and with it the
/// replies quoting it, which follow it in `changed`); returns the message.
async fn publish(pool: &Pool, hub: &dyn Fanout, changed: Vec<Message>) -> Result<Message> {
    let message = changed
        .first()
        .cloned()
        .ok_or_else(|| Error::Internal("a change without its message".into()))?;
    let members = conversations::member_ids(pool, message.conversation_id).await?;
    hub.publish(
        &members,
        Event::MessageChanged {
            seq: message.changed_seq,
            messages: Arc::from(changed),
            tally: SharedTally::default(),
        },
    );
    Ok(message)
}

/// The message `actor` may change as its author: `NotFound` for anyone
/// outside the conversation (as for a missing message), a refusal for
/// another member's message or a group's note.
pub async fn own_message(
    pool: &Pool,
    conversation_id: ConversationId,
    message_id: MessageId,
    actor: UserId,
) -> Result<Message> {
    let message = messages::one(pool, conversation_id, message_id, actor)
        .await?
        .filter(|m| !m.deleted)
        .ok_or(Error::NotFound)?;
    if message.sender_id != actor || message.note {
        return Err(Error::NotAllowed("Only its sender can change a message."));
    }
    Ok(message)
}

/// Whether a message sent at `sent_at` may still be edited.
/// Why an edit is refused once the window has passed, naming the window.
static EDIT_WINDOW_PASSED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "A message can be edited for {} hours after it was sent.",
        EDIT_WINDOW.whole_hours()
    )
});

pub fn editable(sent_at: OffsetDateTime) -> bool {
    OffsetDateTime::now_utc() - sent_at <= EDIT_WINDOW
}

/// Replaces the text of the author's own message, within the edit window.
pub async fn edit(
    pool: &Pool,
    hub: &dyn Fanout,
    conversation_id: ConversationId,
    message_id: MessageId,
    author: UserId,
    body: Option<&str>,
) -> Result<Message> {
    let body = message_text(body)?;
    let message = own_message(pool, conversation_id, message_id, author).await?;
    if !editable(message.created_at) {
        return Err(Error::NotAllowed(EDIT_WINDOW_PASSED.as_str()));
    }
    let edited = changes::edit(pool, conversation_id, message_id, author, &body).await?;
    publish(pool, hub, edited).await
}

/// Deletes the author's own message for everyone, and its file from the
/// disk when no other message has the same bytes.
pub async fn delete(
    pool: &Pool,
    hub: &dyn Fanout,
    media_dir: &Path,
    conversation_id: ConversationId,
    message_id: MessageId,
    author: UserId,
) -> Result<Message> {
    own_message(pool, conversation_id, message_id, author).await?;
    let (deleted, file) = changes::delete(pool, conversation_id, message_id, author).await?;
    let deleted = publish(pool, hub, deleted).await?;
    if let Some(sha256) = file {
        media::discard_unused(pool, media_dir, &sha256).await;
    }
    Ok(deleted)
}

/// Adds the member's reaction to a message, or takes it back.
pub async fn react(
    pool: &Pool,
    hub: &dyn Fanout,
    conversation_id: ConversationId,
    message_id: MessageId,
    user: UserId,
    emoji: &str,
) -> Result<Message> {
    let emoji = ReactionEmoji::parse(emoji)?;
    let reacted =
        changes::toggle_reaction(pool, conversation_id, message_id, user, emoji.as_str()).await?;
    publish(pool, hub, reacted).await
}

/// A message of a conversation `viewer` is in, in its current state.
pub async fn message(
    pool: &Pool,
    conversation_id: ConversationId,
    message_id: MessageId,
    viewer: UserId,
) -> Result<Message> {
    messages::one(pool, conversation_id, message_id, viewer)
        .await?
        .ok_or(Error::NotFound)
}
