//! Direct conversations (one per pair of people, found or started), and
//! what each member wants to be told about a conversation.

use crate::domain::{ConversationId, NotifyLevel, UserId};
use crate::error::{Error, Result};
use crate::store::{contacts, conversations, Pool};

/// The direct conversation of `a` and `b`, if they have one.
pub(crate) async fn find_direct(
    pool: &Pool,
    a: UserId,
    b: UserId,
) -> Result<Option<ConversationId>> {
    conversations::find_direct(pool, a, b).await
}

/// The direct conversation of `a` and `b`, started if there is none yet.
pub async fn open_direct(pool: &Pool, a: UserId, b: UserId) -> Result<ConversationId> {
    conversations::open_direct(pool, a, b).await
}

/// Sets how much of a conversation `user` wants to be told about (`level`
/// as a form names it); `NotFound` unless they are a member.
pub async fn set_notify(
    pool: &Pool,
    conversation_id: ConversationId,
    user: UserId,
    level: &str,
) -> Result<NotifyLevel> {
    let level = NotifyLevel::parse(level)
        .ok_or_else(|| Error::Invalid("Choose every message, only mentions, or nothing.".into()))?;
    contacts::set_notify(pool, conversation_id, user, level).await?;
    Ok(level)
}
