//! Web Push subscriptions: a browser asks to be pushed (tied to the session
//! it is logged in with), the account page lists and removes them, and the
//! page learns the server's key to subscribe with.

use crate::domain::{SubscriptionInfo, UserId};
use crate::error::{Error, Result};
use crate::limits::PUSH_SUBSCRIPTIONS_PER_USER;
use crate::live::push;
use crate::store::push as subscriptions;
use crate::store::Pool;

/// What a browser's `PushSubscription` says, unchecked.
pub struct NewSubscription<'a> {
    pub endpoint: &'a str,
    pub p256dh: &'a str,
    pub auth: &'a str,
}

/// Stores the subscription of the browser logged in with the session
/// `session_hash`, after checking it (`local` accepts a push-service
/// emulator's address; see `Settings::push_local_endpoints`).
pub async fn subscribe(
    pool: &Pool,
    user_id: UserId,
    session_hash: &str,
    new: &NewSubscription<'_>,
    local: bool,
) -> Result<()> {
    push::check_endpoint(new.endpoint, new.p256dh, new.auth, local)?;
    if subscriptions::count_for_user(pool, user_id, session_hash).await?
        >= PUSH_SUBSCRIPTIONS_PER_USER
    {
        return Err(Error::Invalid(format!(
            "Push notifications go to at most {PUSH_SUBSCRIPTIONS_PER_USER} browsers; remove one on the account page first."
        )));
    }
    subscriptions::subscribe(
        pool,
        user_id,
        session_hash,
        new.endpoint,
        new.p256dh,
        new.auth,
    )
    .await
}

/// Removes one of the user's subscriptions, by id (the account page) or
/// endpoint (the browser turning notifications off). Returns whether there
/// was one.
pub async fn unsubscribe(
    pool: &Pool,
    user_id: UserId,
    id: Option<i64>,
    endpoint: Option<&str>,
) -> Result<bool> {
    subscriptions::unsubscribe(pool, user_id, id, endpoint).await
}

/// The user's subscriptions, newest first.
pub async fn subscriptions_of(pool: &Pool, user_id: UserId) -> Result<Vec<SubscriptionInfo>> {
    subscriptions::list_for_user(pool, user_id).await
}

/// The server's VAPID public key, base64url (made on first use).
pub async fn public_key(pool: &Pool) -> Result<String> {
    push::public_key(pool).await
}
