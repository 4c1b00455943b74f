//! Typing notices: passed to the other members' pages, never stored.

use std::sync::Arc;

use crate::domain::{ConversationId, UserId};
use crate::live::hub::{Event, Fanout};
use crate::store::{conversations, Pool};

/// Tells the other members of a conversation that `user_id` is typing.
pub async fn typing(
    pool: &Pool,
    hub: &dyn Fanout,
    conversation_id: ConversationId,
    user_id: UserId,
    username: Arc<str>,
) {
    let members = match conversations::member_ids(pool, conversation_id).await {
        Ok(members) => members,
        Err(e) => {
            rocket::error!("typing notice failed: {e}");
            return;
        }
    };
    let others: Vec<UserId> = members.into_iter().filter(|&m| m != user_id).collect();
    hub.publish(
        &others,
        Event::Typing {
            conversation_id,
            user_id,
            username,
        },
    );
}
