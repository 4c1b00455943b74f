//! Group conversations: create, add someone, rename, leave. Every change is
//! announced to the pages of everyone it concerns (members before and after).

use crate::error::{Error, Result};
use crate::limits::GROUP_TITLE_MAX_CHARS;
use crate::live::hub::{Event, Fanout};
use crate::store::groups::{self, GroupRow};
use crate::store::{conversations, users, Pool};

/// Checks a group name: trimmed, 1 to 64 characters, no control characters.
pub fn check_title(raw: &str) -> Result<String> {
    let title = raw.trim();
    if title.is_empty() || title.chars().count() > GROUP_TITLE_MAX_CHARS {
        return Err(Error::Invalid(format!(
            "Group names are 1 to {GROUP_TITLE_MAX_CHARS} characters long."
        )));
    }
    if title.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "Group names cannot contain control characters.".into(),
        ));
    }
    Ok(title.to_owned())
}

/// Tells the members, and `also` (who just left), that a group changed.
async fn announce(pool: &Pool, hub: &dyn Fanout, conversation_id: i64, also: &[i64]) -> Result<()> {
    let mut concerned = conversations::member_ids(pool, conversation_id).await?;
    concerned.extend_from_slice(also);
    hub.publish(&concerned, Event::GroupChanged { conversation_id });
    Ok(())
}

/// Creates a group of `creator` and `members`; returns its id.
pub async fn create(
    pool: &Pool,
    hub: &dyn Fanout,
    creator: i64,
    title: &str,
    members: &[i64],
) -> Result<i64> {
    let title = check_title(title)?;
    let id = groups::create(pool, creator, &title, members).await?;
    announce(pool, hub, id, &[]).await?;
    Ok(id)
}

/// Adds the user named `username` to a group `actor` is a member of.
pub async fn add_member(
    pool: &Pool,
    hub: &dyn Fanout,
    conversation_id: i64,
    actor: i64,
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
    conversation_id: i64,
    actor: i64,
    title: &str,
) -> Result<()> {
    let title = check_title(title)?;
    groups::rename(pool, conversation_id, actor, &title).await?;
    announce(pool, hub, conversation_id, &[]).await
}

/// Takes `user` out of a group at once: their open pages of it are closed
/// by the announcement, and every query checks membership.
pub async fn leave(pool: &Pool, hub: &dyn Fanout, conversation_id: i64, user: i64) -> Result<()> {
    groups::leave(pool, conversation_id, user).await?;
    announce(pool, hub, conversation_id, &[user]).await
}

/// The groups `viewer` is in.
pub async fn of_member(pool: &Pool, viewer: i64) -> Result<Vec<GroupRow>> {
    groups::of_member(pool, viewer).await
}
