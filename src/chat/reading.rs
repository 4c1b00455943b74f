//! What a member sees of a conversation: who it is with, its history, and a
//! group's people. Membership is checked in every query.

use crate::auth::CurrentUser;
use crate::domain::{ConversationId, InboxRow, MessageId, Tally, UserId};
use crate::error::{Error, Result};
use crate::limits::HISTORY_PAGE;
use crate::store::contacts::{self, Contact};
use crate::store::groups::{self, Conversation};
use crate::store::inbox as store_inbox;
use crate::store::messages::{self, Attachment, Message};
use crate::store::users::{self, User};
use crate::store::{conversations, Pool};

/// What a member sees of a conversation: the other person, or the group.
pub enum Scope {
    Direct(User),
    Group(Conversation),
}

/// The conversation as `me` sees it, or `NotFound` when not a member.
pub async fn scope_of(
    pool: &Pool,
    conversation_id: ConversationId,
    me: &CurrentUser,
) -> Result<Scope> {
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
    conversation_id: ConversationId,
    viewer: UserId,
    before: Option<MessageId>,
) -> Result<(Vec<Message>, bool)> {
    let mut page =
        messages::page_before(pool, conversation_id, viewer, before, HISTORY_PAGE + 1).await?;
    let has_more = page.len() as i64 > HISTORY_PAGE;
    if has_more {
        page.remove(0);
    }
    Ok((page, has_more))
}

/// The history around `message`: up to half a page up to it (itself
/// included) and half a page after it, up to change `upto`; whether there
/// is more before, and whether more after.
pub async fn history_around(
    pool: &Pool,
    conversation_id: ConversationId,
    viewer: UserId,
    message: MessageId,
    upto: i64,
) -> Result<(Vec<Message>, bool, bool)> {
    let half = HISTORY_PAGE / 2;
    let after_it = MessageId::new(message.get().saturating_add(1));
    let mut page =
        messages::page_before(pool, conversation_id, viewer, Some(after_it), half + 1).await?;
    let has_earlier = page.len() as i64 > half;
    if has_earlier {
        page.remove(0);
    }
    let (later, has_later) = later(pool, conversation_id, viewer, after_it, upto, half).await?;
    page.extend(later);
    Ok((page, has_earlier, has_later))
}

/// Up to `limit` messages from `from` on, up to change `upto`, and whether
/// there are more.
pub async fn later(
    pool: &Pool,
    conversation_id: ConversationId,
    viewer: UserId,
    from: MessageId,
    upto: i64,
    limit: i64,
) -> Result<(Vec<Message>, bool)> {
    let mut page =
        messages::page_from(pool, conversation_id, viewer, from, upto, limit + 1).await?;
    let has_more = page.len() as i64 > limit;
    page.truncate(usize::try_from(limit).unwrap_or(0));
    Ok((page, has_more))
}

/// A group's members, and which of the viewer's `contacts` (the list the
/// caller already has) could be added.
pub async fn people_of_group(
    pool: &Pool,
    group: &Conversation,
    viewer: UserId,
    contacts: &[Contact],
) -> Result<(Vec<User>, Vec<Contact>)> {
    let members = groups::members(pool, group.id, viewer).await?;
    let candidates = non_members(contacts, &members);
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

/// Everyone else, alphabetically, with when they were last seen.
pub async fn contacts_of(pool: &Pool, viewer: UserId) -> Result<Vec<Contact>> {
    contacts::list(pool, viewer).await
}

/// The members of a conversation, alphabetically, if `viewer` is one
/// (nobody otherwise).
pub async fn member_list(
    pool: &Pool,
    conversation_id: ConversationId,
    viewer: UserId,
) -> Result<Vec<User>> {
    groups::members(pool, conversation_id, viewer).await
}

/// The viewer's conversations, most recently active first.
pub async fn inbox(pool: &Pool, viewer: UserId) -> Result<Vec<InboxRow>> {
    store_inbox::list(pool, viewer).await
}

/// The user with that name (any case).
pub async fn user_named(pool: &Pool, username: &str) -> Result<Option<User>> {
    users::by_username(pool, username).await
}

/// The conversation, if `viewer` is a member (direct or group).
pub async fn conversation(
    pool: &Pool,
    conversation_id: ConversationId,
    viewer: UserId,
) -> Result<Option<Conversation>> {
    groups::find(pool, conversation_id, viewer).await
}

/// The other person of a direct conversation `viewer` is in.
pub async fn peer(
    pool: &Pool,
    conversation_id: ConversationId,
    viewer: UserId,
) -> Result<Option<User>> {
    conversations::peer(pool, conversation_id, viewer).await
}

/// Every member's badge and receipt state in a conversation.
pub async fn tally(pool: &Pool, conversation_id: ConversationId) -> Result<Option<Tally>> {
    contacts::tally(pool, conversation_id).await
}

/// Whether the newest message is `viewer`'s and every other member has read
/// it ("Seen").
pub async fn seen(pool: &Pool, conversation_id: ConversationId, viewer: UserId) -> Result<bool> {
    contacts::seen_by_others(pool, conversation_id, viewer).await
}

/// Up to `limit` messages created or changed after sequence number
/// `after`, in the order of their latest change.
pub async fn changes_after(
    pool: &Pool,
    conversation_id: ConversationId,
    viewer: UserId,
    after: i64,
    limit: i64,
) -> Result<Vec<Message>> {
    messages::page_after(pool, conversation_id, viewer, after, limit).await
}

/// The message a page rendered up to sequence number `seq` ends with.
pub async fn shown_last(
    pool: &Pool,
    conversation_id: ConversationId,
    viewer: UserId,
    seq: i64,
) -> Result<Option<Message>> {
    messages::at_or_before(pool, conversation_id, viewer, seq).await
}

/// Where an attachment's bytes are, if `viewer` may see it.
pub async fn attachment(
    pool: &Pool,
    attachment_id: i64,
    viewer: UserId,
) -> Result<Option<(String, Attachment)>> {
    messages::attachment_for_member(pool, attachment_id, viewer).await
}
