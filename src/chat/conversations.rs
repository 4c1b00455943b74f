//! Direct conversations: one per pair of people, found or started.

use crate::domain::{ConversationId, UserId};
use crate::error::Result;
use crate::store::{conversations, Pool};

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
