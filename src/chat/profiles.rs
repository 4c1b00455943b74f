//! What people say about themselves: display name, status line and avatar.
//! A change reaches every open page that shows the person.

use std::path::Path;
use std::sync::Arc;

use crate::domain::{profile_line, User, UserId};
use crate::error::{Error, Result};
use crate::limits::{DISPLAY_NAME_MAX_CHARS, STATUS_MAX_CHARS};
use crate::live::hub::{Event, Fanout};
use crate::media;
use crate::store::{users, Pool};

/// Sets the user's display name and status line (empty clears them).
pub async fn set_profile(
    pool: &Pool,
    hub: &dyn Fanout,
    user_id: UserId,
    display_name: &str,
    status: &str,
) -> Result<User> {
    let display_name = profile_line(display_name, DISPLAY_NAME_MAX_CHARS, "A display name")?;
    let status = profile_line(status, STATUS_MAX_CHARS, "A status")?;
    let user = users::set_profile(pool, user_id, &display_name, &status)
        .await?
        .ok_or(Error::NotFound)?;
    hub.broadcast(Event::ProfileChanged(Arc::new(user.clone())));
    Ok(user)
}

/// Makes an uploaded picture the user's avatar (`None` removes it); the
/// picture it replaces is removed unless someone else has it too.
pub async fn set_avatar(
    pool: &Pool,
    hub: &dyn Fanout,
    media_dir: &Path,
    user_id: UserId,
    picture: Option<Vec<u8>>,
) -> Result<User> {
    let avatar = match picture {
        Some(bytes) => Some(media::store_avatar(media_dir, bytes).await?),
        None => None,
    };
    let (user, before) = match users::set_avatar(pool, user_id, avatar.as_deref()).await {
        Ok(Some(changed)) => changed,
        failed => {
            // Not stored (the account is gone, or the database failed): the
            // new file goes unless someone else has the same picture.
            if let Some(sha256) = &avatar {
                media::discard_avatar_unless_used(pool, media_dir, sha256).await;
            }
            return Err(failed.err().unwrap_or(Error::NotFound));
        }
    };
    if let Some(sha256) = before.filter(|b| Some(b) != avatar.as_ref()) {
        media::discard_avatar_unless_used(pool, media_dir, &sha256).await;
    }
    hub.broadcast(Event::ProfileChanged(Arc::new(user.clone())));
    Ok(user)
}

/// Whether someone has this picture as their avatar: only those are served.
pub async fn is_avatar(pool: &Pool, sha256: &str) -> Result<bool> {
    users::avatar_in_use(pool, sha256).await
}
