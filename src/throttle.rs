//! Rate limits for abuse-prone actions: token buckets kept in memory, keyed
//! by client address and by username (login, sign-up), or one per socket.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::domain::UserId;
pub use crate::limits::Rate;

/// One token bucket: `burst` tokens, one earned back per `refill_every`.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    rate: Rate,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: Rate) -> Self {
        TokenBucket {
            rate,
            tokens: f64::from(rate.burst),
            updated: Instant::now(),
        }
    }

    fn available(&self, now: Instant) -> f64 {
        let earned =
            now.duration_since(self.updated).as_secs_f64() / self.rate.refill_every.as_secs_f64();
        (self.tokens + earned).min(f64::from(self.rate.burst))
    }

    fn is_full(&self, now: Instant) -> bool {
        self.available(now) >= f64::from(self.rate.burst)
    }

    /// How long until a token is available (zero if one is now).
    fn wait(&self, now: Instant) -> Duration {
        let tokens = self.available(now);
        if tokens >= 1.0 {
            Duration::ZERO
        } else {
            self.rate.refill_every.mul_f64(1.0 - tokens)
        }
    }

    fn spend(&mut self, now: Instant) {
        self.tokens = self.available(now) - 1.0;
        self.updated = now;
    }

    /// Takes a token, or says how long until one is available.
    pub fn take(&mut self) -> Result<(), Duration> {
        let now = Instant::now();
        match self.wait(now) {
            Duration::ZERO => {
                self.spend(now);
                Ok(())
            }
            wait => Err(wait),
        }
    }
}

/// Token buckets for one kind of action, one per key.
pub(crate) struct Throttle {
    rate: Rate,
    buckets: Mutex<HashMap<String, TokenBucket>>,
}

/// Buckets kept before idle (full) ones are forgotten.
const MAX_TRACKED_KEYS: usize = 10_000;

impl Throttle {
    pub fn new(rate: Rate) -> Self {
        Throttle {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one attempt for every key, or none if any key is exhausted; then
    /// says how long until the next attempt is allowed.
    pub fn attempt(&self, keys: &[String]) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() > MAX_TRACKED_KEYS {
            buckets.retain(|_, bucket| !bucket.is_full(now));
        }
        let wait = keys
            .iter()
            .filter_map(|key| buckets.get(key))
            .map(|bucket| bucket.wait(now))
            .max()
            .unwrap_or_default();
        if wait > Duration::ZERO {
            return Err(wait);
        }
        for key in keys {
            buckets
                .entry(key.clone())
                .or_insert_with(|| TokenBucket::new(self.rate))
                .spend(now);
        }
        Ok(())
    }
}

/// The friendly refusal for a throttled attempt.
pub(crate) fn try_again_message(wait: Duration) -> String {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    format!("Too many attempts. Try again in {seconds} seconds.")
}

/// The throttles of the account forms.
pub(crate) struct AccountThrottles {
    pub login_by_address: Throttle,
    pub login_by_username: Throttle,
    pub login_by_username_and_address: Throttle,
    pub signup_by_address: Throttle,
}

impl Default for AccountThrottles {
    fn default() -> Self {
        use crate::limits::{
            LOGIN_PER_ADDRESS, LOGIN_PER_USERNAME, LOGIN_PER_USERNAME_AND_ADDRESS,
            SIGNUP_PER_ADDRESS,
        };
        AccountThrottles {
            login_by_address: Throttle::new(LOGIN_PER_ADDRESS),
            login_by_username: Throttle::new(LOGIN_PER_USERNAME),
            login_by_username_and_address: Throttle::new(LOGIN_PER_USERNAME_AND_ADDRESS),
            signup_by_address: Throttle::new(SIGNUP_PER_ADDRESS),
        }
    }
}

/// The bucket key of a client address (one bucket for clients without one).
/// Per-user budgets for posting, shared by every socket and plain form of
/// a user, so a script posting over HTTP gets no more than a page does.
pub struct PostingBudgets {
    messages: Throttle,
    uploads: Throttle,
}

impl Default for PostingBudgets {
    fn default() -> Self {
        use crate::limits::{MESSAGES_PER_USER, UPLOADS_PER_USER};
        PostingBudgets {
            messages: Throttle::new(MESSAGES_PER_USER),
            uploads: Throttle::new(UPLOADS_PER_USER),
        }
    }
}

impl PostingBudgets {
    /// Spends one message of the user's budget, or says to slow down.
    pub fn message(&self, user_id: UserId) -> crate::error::Result<()> {
        self.messages.attempt(&[user_id.to_string()]).map_err(|_| {
            crate::error::Error::TooMany(
                "You are sending messages too fast. Wait a moment, then send again.".into(),
            )
        })
    }

    /// Spends one upload of the user's budget (on top of the message it makes).
    pub fn upload(&self, user_id: UserId) -> crate::error::Result<()> {
        self.uploads
            .attempt(&[user_id.to_string()])
            .map_err(|wait| {
                crate::error::Error::TooMany(format!(
                    "You are uploading too fast. Try again in {} seconds.",
                    wait.as_secs().max(1)
                ))
            })
    }
}

pub(crate) fn address_key(address: Option<std::net::IpAddr>) -> String {
    address.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> Throttle {
        Throttle::new(Rate {
            burst: 3,
            refill_every: Duration::from_secs(60),
        })
    }

    #[test]
    fn a_key_gets_its_burst_then_waits() {
        let t = throttle();
        let key = vec!["ip:1".to_owned()];
        for _ in 0..3 {
            assert!(t.attempt(&key).is_ok());
        }
        let wait = t.attempt(&key).unwrap_err();
        assert!(wait > Duration::from_secs(50) && wait <= Duration::from_secs(60));
        assert!(
            t.attempt(&["ip:2".to_owned()]).is_ok(),
            "other keys unaffected"
        );
    }

    #[test]
    fn an_exhausted_key_blocks_the_attempt_without_spending_the_others() {
        let t = throttle();
        for _ in 0..3 {
            t.attempt(&["user:a".to_owned()]).unwrap();
        }
        assert!(t
            .attempt(&["ip:9".to_owned(), "user:a".to_owned()])
            .is_err());
        for _ in 0..3 {
            assert!(t.attempt(&["ip:9".to_owned()]).is_ok());
        }
    }

    #[test]
    fn the_message_rounds_up() {
        assert_eq!(
            try_again_message(Duration::from_millis(4200)),
            "Too many attempts. Try again in 5 seconds."
        );
    }
}
