//! Group conversations: create, add someone, rename, leave. Every change is
//! announced to the pages of everyone it concerns (members before and after).

use std::sync::Arc;

use super::new_client_id;
use crate::domain::{ConversationId, GroupState, GroupTitle, Message, SharedGroup, SharedTally};
use crate::domain::{DeviceId, UserId};
use crate::error::{Error, Result};
use crate::live::hub::{Event, Fanout};
use crate::store::groups::{self, Note};
use crate::store::{conversations, secret, users, Pool};

/// Tells the members, and `also` (who just left), that a group changed,
/// then shows the members the note saying what happened.
async fn announce(pool: &Pool, hub: &dyn Fanout, note: Message, also: &[UserId]) -> Result<()> {
    let conversation_id = note.conversation_id;
    let members = conversations::member_ids(pool, conversation_id).await?;
    let mut concerned = members.clone();
    concerned.extend_from_slice(also);
    hub.publish(
        &concerned,
        Event::GroupChanged {
            conversation_id,
            group: SharedGroup::default(),
        },
    );
    hub.publish(
        &members,
        Event::MessagePosted {
            message: Arc::new(note),
            tally: SharedTally::default(),
            bubbles: Default::default(),
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
    create_as(pool, hub, creator, title, members, None).await
}

/// Like `create`; with `secret`, the group is a secret conversation whose
/// MLS group starts with that device of the creator.
pub(crate) async fn create_as(
    pool: &Pool,
    hub: &dyn Fanout,
    creator: UserId,
    title: &str,
    members: &[UserId],
    secret: Option<DeviceId>,
) -> Result<ConversationId> {
    let title = GroupTitle::parse(title)?;
    let client_id = new_client_id();
    let note = Note {
        text: "created the group",
        client_id: &client_id,
    };
    let created = match secret {
        None => groups::create(pool, creator, title.as_str(), members, &note).await?,
        Some(device) => {
            secret::create_group(pool, creator, device, title.as_str(), members, &note).await?
        }
    };
    let id = created.conversation_id;
    announce(pool, hub, created, &[]).await?;
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
    let text = format!("added {}", user.username);
    let client_id = new_client_id();
    let note = Note {
        text: &text,
        client_id: &client_id,
    };
    match groups::add_member(pool, conversation_id, actor, user.id, &note).await? {
        Some(added) => announce(pool, hub, added, &[]).await,
        None => Ok(()),
    }
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
    let text = format!("renamed the group to “{}”", title.as_str());
    let client_id = new_client_id();
    let note = Note {
        text: &text,
        client_id: &client_id,
    };
    let renamed = groups::rename(pool, conversation_id, actor, title.as_str(), &note).await?;
    announce(pool, hub, renamed, &[]).await
}

/// Takes `user` out of a group at once: their open pages of it are closed
/// by the announcement, and every query checks membership.
pub async fn leave(
    pool: &Pool,
    hub: &dyn Fanout,
    conversation_id: ConversationId,
    user: UserId,
) -> Result<()> {
    let client_id = new_client_id();
    let note = Note {
        text: "left",
        client_id: &client_id,
    };
    let left = groups::leave(pool, conversation_id, user, &note).await?;
    announce(pool, hub, left, &[user]).await
}

/// A group after a change, as the pages of everyone concerned show it.
pub(crate) async fn state(
    pool: &Pool,
    conversation_id: ConversationId,
) -> Result<Option<GroupState>> {
    let Some((group, members)) = groups::state(pool, conversation_id).await? else {
        return Ok(None);
    };
    Ok(Some(GroupState {
        group,
        members,
        everyone: users::all(pool).await?,
    }))
}
