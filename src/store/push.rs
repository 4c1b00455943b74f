//! Web Push: the server's VAPID key, and the browsers subscribed to be
//! pushed, each tied to the session that subscribed it (ending the session
//! removes it, by the foreign key).

use time::OffsetDateTime;

use super::{now, Pool};
use crate::domain::{ConversationId, SubscriptionInfo, UserId};
use crate::error::Result;

/// The server's VAPID private key, as it was first stored: `made` is kept
/// unless another instance (or an earlier start) stored one already.
pub(crate) async fn vapid_key(pool: &Pool, made: &str) -> Result<String> {
    on_pool!(pool, db => {
        sqlx::query("INSERT INTO push_keys (id, private_key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
            .bind(made)
            .execute(db)
            .await?;
        Ok(sqlx::query_scalar("SELECT private_key FROM push_keys WHERE id = 1")
            .fetch_one(db)
            .await?)
    })
}

/// Where and how to push one browser.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Subscription {
    pub id: i64,
    pub user_id: UserId,
    pub endpoint: String,
    /// The browser's P-256 public key, base64url.
    pub p256dh: String,
    /// The browser's authentication secret, base64url.
    pub auth: String,
}

/// How many browsers a user is pushed on, but the one of `session_hash`.
pub(crate) async fn count_for_user(
    pool: &Pool,
    user_id: UserId,
    session_hash: &str,
) -> Result<i64> {
    on_pool!(pool, db => {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM push_subscriptions WHERE user_id = $1 AND session_hash <> $2",
        )
        .bind(user_id)
        .bind(session_hash)
        .fetch_one(db)
        .await?)
    })
}

/// Stores a browser's subscription for the session `session_hash` of
/// `user_id`, in place of any the session had (a session is one browser).
/// A browser subscribing again (same endpoint) moves it to this session
/// and its new keys.
pub(crate) async fn subscribe(
    pool: &Pool,
    user_id: UserId,
    session_hash: &str,
    endpoint: &str,
    p256dh: &str,
    auth: &str,
) -> Result<()> {
    on_pool!(pool, db => {
        sqlx::query("DELETE FROM push_subscriptions WHERE session_hash = $1 AND endpoint <> $2")
            .bind(session_hash)
            .bind(endpoint)
            .execute(db)
            .await?;
        sqlx::query(
            "INSERT INTO push_subscriptions (user_id, session_hash, endpoint, p256dh, auth, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id,
                 session_hash = excluded.session_hash, p256dh = excluded.p256dh,
                 auth = excluded.auth, created_at = excluded.created_at",
        )
        .bind(user_id)
        .bind(session_hash)
        .bind(endpoint)
        .bind(p256dh)
        .bind(auth)
        .bind(now())
        .execute(db)
        .await?;
        Ok(())
    })
}

/// Removes a subscription of `user_id`, named by its id or its endpoint.
/// Returns whether there was one.
pub(crate) async fn unsubscribe(
    pool: &Pool,
    user_id: UserId,
    id: Option<i64>,
    endpoint: Option<&str>,
) -> Result<bool> {
    on_pool!(pool, db => {
        let done = sqlx::query(
            "DELETE FROM push_subscriptions WHERE user_id = $1 AND (id = $2 OR endpoint = $3)",
        )
        .bind(user_id)
        .bind(id)
        .bind(endpoint)
        .execute(db)
        .await?;
        Ok(done.rows_affected() > 0)
    })
}

/// Forgets an endpoint the push service says is gone.
pub(crate) async fn forget(pool: &Pool, subscription_id: i64) -> Result<()> {
    on_pool!(pool, db => {
        sqlx::query("DELETE FROM push_subscriptions WHERE id = $1")
            .bind(subscription_id)
            .execute(db)
            .await?;
        Ok(())
    })
}

/// The subscriptions of a user, newest first, with the browser of each.
pub(crate) async fn list_for_user(pool: &Pool, user_id: UserId) -> Result<Vec<SubscriptionInfo>> {
    on_pool!(pool, db => {
        Ok(sqlx::query_as::<_, SubscriptionInfo>(
            "SELECT p.id, p.session_hash, p.created_at, s.user_agent
             FROM push_subscriptions p JOIN sessions s ON s.token_hash = p.session_hash
             WHERE p.user_id = $1 ORDER BY p.created_at DESC, p.id DESC",
        )
        .bind(user_id)
        .fetch_all(db)
        .await?)
    })
}

/// A subscription to push about a conversation, with what its member wants
/// to be told about it (`members.notify`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Target {
    #[sqlx(flatten)]
    pub subscription: Subscription,
    pub notify: String,
    pub conversation_id: ConversationId,
    /// The group's title; `None` for a direct conversation.
    pub group_title: Option<String>,
}

/// The subscriptions of `users` in each of `conversations` whose session
/// is live (not expired, used since `used_since`), with their notify level
/// there: one query for a batch of messages.
pub(crate) async fn targets(
    pool: &Pool,
    conversations: &[ConversationId],
    users: &[UserId],
    used_since: OffsetDateTime,
) -> Result<Vec<Target>> {
    if conversations.is_empty() || users.is_empty() {
        return Ok(Vec::new());
    }
    let places = |from: usize, n: usize| -> String {
        (from..from + n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sql = format!(
        "SELECT p.id, p.user_id, p.endpoint, p.p256dh, p.auth, m.notify, m.conversation_id,
                CASE WHEN c.kind = 'group' THEN COALESCE(c.title, '') END AS group_title
         FROM push_subscriptions p
         JOIN sessions s ON s.token_hash = p.session_hash
         JOIN members m ON m.user_id = p.user_id
         JOIN conversations c ON c.id = m.conversation_id
         WHERE m.conversation_id IN ({}) AND p.user_id IN ({})
           AND m.notify <> 'none' AND s.expires_at > ${}
           AND COALESCE(s.last_used_at, s.created_at) > ${}",
        places(1, conversations.len()),
        places(1 + conversations.len(), users.len()),
        1 + conversations.len() + users.len(),
        2 + conversations.len() + users.len(),
    );
    on_pool!(pool, db => {
        let mut query = sqlx::query_as::<_, Target>(&sql);
        for id in conversations {
            query = query.bind(*id);
        }
        for id in users {
            query = query.bind(*id);
        }
        Ok(query.bind(now()).bind(used_since).fetch_all(db).await?)
    })
}
