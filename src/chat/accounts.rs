//! Accounts and sessions as other pages see them: a sign-up joins everyone's
//! contact list, ended sessions close their sockets, a deleted account leaves
//! every list and takes its files with it.

use std::path::Path;
use std::sync::Arc;

use crate::domain::{UserId, Username};
use crate::error::Result;
use crate::live::hub::{Event, Fanout};
use crate::media;
use crate::store::sessions::{self, SessionInfo};
use crate::store::users::{self, CreateError, Credentials, User};
use crate::store::Pool;

/// Creates an account and shows it on every open contact list.
pub async fn sign_up(
    pool: &Pool,
    hub: &dyn Fanout,
    username: &Username,
    password_hash: &str,
) -> Result<User, CreateError> {
    let user = users::create(pool, username.as_str(), password_hash).await?;
    hub.broadcast(Event::UserJoined(Arc::new(user.clone())));
    Ok(user)
}

/// The user with that name (any case), their password hash and whether
/// the account is deactivated.
pub(crate) async fn credentials(pool: &Pool, username: &str) -> Result<Option<Credentials>> {
    users::credentials(pool, username).await
}

/// Whether `password` is the user's current one.
pub(crate) async fn password_matches(pool: &Pool, user_id: UserId, password: &str) -> Result<bool> {
    let hash = users::password_hash(pool, user_id).await?;
    crate::auth::verify_password(password.to_owned(), hash).await
}

/// The user's sessions, for the account page.
pub(crate) async fn sessions_of(pool: &Pool, user_id: UserId) -> Result<Vec<SessionInfo>> {
    sessions::list_for_user(pool, user_id).await
}

/// Closes the sockets of a session that has ended (logged out).
pub(crate) fn session_ended(hub: &dyn Fanout, user_id: UserId, token_hash: &str) {
    hub.publish(
        &[user_id],
        Event::SessionEnded {
            token_hash: token_hash.into(),
        },
    );
}

/// Ends every session of the user but `keep`, and closes their sockets.
pub(crate) async fn end_sessions(
    pool: &Pool,
    hub: &dyn Fanout,
    user_id: UserId,
    keep: Option<&str>,
) -> Result<()> {
    for token_hash in sessions::delete_all_for_user(pool, user_id, keep).await? {
        session_ended(hub, user_id, &token_hash);
    }
    Ok(())
}

/// Sets a new password (already hashed) and ends every other session.
pub(crate) async fn change_password(
    pool: &Pool,
    hub: &dyn Fanout,
    user_id: UserId,
    password_hash: &str,
    keep: &str,
) -> Result<()> {
    users::set_password_hash(pool, user_id, password_hash).await?;
    end_sessions(pool, hub, user_id, Some(keep)).await
}

/// Deletes the account, its messages and the files no one else uses; its
/// sessions end and it leaves every open contact list.
pub async fn delete_account(
    pool: &Pool,
    hub: &dyn Fanout,
    media_dir: &Path,
    user_id: UserId,
) -> Result<()> {
    let ended = sessions::delete_all_for_user(pool, user_id, None).await?;
    let avatar = users::by_id(pool, user_id)
        .await?
        .and_then(|user| user.profile.avatar);
    for sha256 in users::delete(pool, user_id).await? {
        media::discard(media_dir, &sha256).await;
    }
    if let Some(sha256) = avatar {
        media::discard_avatar_unless_used(pool, media_dir, &sha256).await;
    }
    for token_hash in ended {
        session_ended(hub, user_id, &token_hash);
    }
    hub.broadcast(Event::UserLeft { user_id });
    Ok(())
}
