//! Group conversations: create, add someone, rename, leave. Every change is
//! announced to the pages of everyone it concerns (members before and after).

use crate::domain::{ConversationId, GroupState, GroupTitle, SharedGroup, UserId};
use crate::error::{Error, Result};
use crate::live::hub::{Event, Fanout};
use crate::store::groups::{self, GroupRow};
use crate::store::{contacts, conversations, users, Pool};

/// Tells the members, and `also` (who just left), that a group changed.
async fn announce(
    pool: &Pool,
    hub: &dyn Fanout,
    conversation_id: ConversationId,
    also: &[UserId],
) -> Result<()> {
    let mut concerned = conversations::member_ids(pool, conversation_id).await?;
    concerned.extend_from_slice(also);
    hub.publish(
        &concerned,
        Event::GroupChanged {
            conversation_id,
            group: SharedGroup::default(),
        },
    );
    Ok(())
}

/// Creates a group of `creator` and `members`; returns its id.
pub async fn create(
    pool: &Pool,
    hub: &dyn Fanout,
    creator: UserId,
    title: &str,
    members: &[UserId],
) -> Result<ConversationId> {
    let title = GroupTitle::parse(title)?;
    let id = groups::create(pool, creator, title.as_str(), members).await?;
    announce(pool, hub, id, &[]).await?;
    Ok(id)
}

/// Adds the user named `username` to a group `actor` is a member of.
pub(crate) async fn add_member(
    pool: &Pool,
    hub: &dyn Fanout,
    conversation_id: ConversationId,
    actor: UserId,
    username: &str,
) -> Result<()> {
    let user = users::by_username(pool, username)
        .await?
        .ok_or_else(|| Error::Invalid("There is nobody with that username.".into()))?;
    groups::add_member(pool, conversation_id, actor, user.id).await?;
    announce(pool, hub, conversation_id, &[]).await
}

/// Renames a group (its creator only).
pub async fn rename(
    pool: &Pool,
    hub: &dyn Fanout,
    conversation_id: ConversationId,
    actor: UserId,
    title: &str,
) -> Result<()> {
    let title = GroupTitle::parse(title)?;
    groups::rename(pool, conversation_id, actor, title.as_str()).await?;
    announce(pool, hub, conversation_id, &[]).await
}

/// Takes `user` out of a group at once: their open pages of it are closed
/// by the announcement, and every query checks membership.
pub async fn leave(
    pool: &Pool,
    hub: &dyn Fanout,
    conversation_id: ConversationId,
    user: UserId,
) -> Result<()> {
    groups::leave(pool, conversation_id, user).await?;
    announce(pool, hub, conversation_id, &[user]).await
}

/// A group after a change, as the pages of everyone concerned show it.
pub(crate) async fn state(
    pool: &Pool,
    conversation_id: ConversationId,
) -> Result<Option<GroupState>> {
    let Some((group, members)) = groups::state(pool, conversation_id).await? else {
        return Ok(None);
    };
    let Some(tally) = contacts::tally(pool, conversation_id).await? else {
        return Ok(None);
    };
    Ok(Some(GroupState {
        group,
        members,
        everyone: users::all(pool).await?,
        tally,
    }))
}

/// The groups `viewer` is in.
pub(crate) async fn of_member(pool: &Pool, viewer: UserId) -> Result<Vec<GroupRow>> {
    groups::of_member(pool, viewer).await
}
