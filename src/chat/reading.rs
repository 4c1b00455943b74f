//! What a member sees of a conversation: who it is with, its history, and a
//! group's people. Membership is checked in every query.

use crate::auth::CurrentUser;
use crate::error::{Error, Result};
use crate::limits::HISTORY_PAGE;
use crate::store::contacts::{self, Contact, Order};
use crate::store::groups::{self, Conversation};
use crate::store::messages::{self, Message};
use crate::store::users::User;
use crate::store::{conversations, Pool};

/// What a member sees of a conversation: the other person, or the group.
pub enum Scope {
    Direct(User),
    Group(Conversation),
}

/// The conversation as `me` sees it, or `NotFound` when not a member.
pub async fn scope_of(pool: &Pool, conversation_id: i64, me: &CurrentUser) -> Result<Scope> {
    let conversation = groups::find(pool, conversation_id, me.id())
        .await?
        .ok_or(Error::NotFound)?;
    if conversation.is_group() {
        return Ok(Scope::Group(conversation));
    }
    conversations::peer(pool, conversation_id, me.id())
        .await?
        .map(Scope::Direct)
        .ok_or(Error::NotFound)
}

/// One page of history before `before` (or the newest), and whether older
/// messages exist.
pub async fn history(
    pool: &Pool,
    conversation_id: i64,
    viewer: i64,
    before: Option<i64>,
) -> Result<(Vec<Message>, bool)> {
    let mut page =
        messages::page_before(pool, conversation_id, viewer, before, HISTORY_PAGE + 1).await?;
    let has_more = page.len() as i64 > HISTORY_PAGE;
    if has_more {
        page.remove(0);
    }
    Ok((page, has_more))
}

/// A group's members, and the viewer's contacts who could be added.
pub async fn people_of_group(
    pool: &Pool,
    group: &Conversation,
    viewer: i64,
) -> Result<(Vec<User>, Vec<Contact>)> {
    let members = groups::members(pool, group.id, viewer).await?;
    let list = contacts::list(pool, viewer, Order::Alphabetical).await?;
    let candidates = non_members(&list, &members);
    Ok((members, candidates))
}

/// The contacts who are not members yet (to offer for adding).
pub fn non_members(contacts: &[Contact], members: &[User]) -> Vec<Contact> {
    contacts
        .iter()
        .filter(|c| !members.iter().any(|m| m.id == c.id))
        .cloned()
        .collect()
}
