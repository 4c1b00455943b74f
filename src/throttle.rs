//! Rate limits for abuse-prone actions (login, sign-up): token buckets kept
//! in memory, keyed by client address and by username.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How many attempts a key may burst, and how fast it earns them back.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub burst: u32,
    pub refill_every: Duration,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets for one kind of action.
pub struct Throttle {
    rate: Rate,
    buckets: Mutex<HashMap<String, Bucket>>,
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

    fn refilled(&self, bucket: &Bucket, now: Instant) -> f64 {
        let earned =
            now.duration_since(bucket.updated).as_secs_f64() / self.rate.refill_every.as_secs_f64();
        (bucket.tokens + earned).min(f64::from(self.rate.burst))
    }

    /// Takes one attempt for every key, or none if any key is exhausted; then
    /// says how long until the next attempt is allowed.
    pub fn attempt(&self, keys: &[String]) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() > MAX_TRACKED_KEYS {
            let burst = f64::from(self.rate.burst);
            buckets.retain(|_, b| self.refilled(b, now) < burst);
        }
        let mut wait = Duration::ZERO;
        for key in keys {
            if let Some(bucket) = buckets.get(key) {
                let tokens = self.refilled(bucket, now);
                if tokens < 1.0 {
                    wait = wait.max(self.rate.refill_every.mul_f64(1.0 - tokens));
                }
            }
        }
        if wait > Duration::ZERO {
            return Err(wait);
        }
        for key in keys {
            let burst = f64::from(self.rate.burst);
            let bucket = buckets.entry(key.clone()).or_insert(Bucket {
                tokens: burst,
                updated: now,
            });
            bucket.tokens = self.refilled(bucket, now) - 1.0;
            bucket.updated = now;
        }
        Ok(())
    }
}

/// The friendly refusal for a throttled attempt.
pub fn try_again_message(wait: Duration) -> String {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    format!("Too many attempts. Try again in {seconds} seconds.")
}

/// The throttles of the account forms.
pub struct AccountThrottles {
    pub login_by_address: Throttle,
    pub login_by_username: Throttle,
    pub signup_by_address: Throttle,
}

impl Default for AccountThrottles {
    fn default() -> Self {
        use crate::limits::{LOGIN_PER_ADDRESS, LOGIN_PER_USERNAME, SIGNUP_PER_ADDRESS};
        AccountThrottles {
            login_by_address: Throttle::new(LOGIN_PER_ADDRESS),
            login_by_username: Throttle::new(LOGIN_PER_USERNAME),
            signup_by_address: Throttle::new(SIGNUP_PER_ADDRESS),
        }
    }
}

/// The bucket key of a client address (one bucket for clients without one).
pub fn address_key(address: Option<std::net::IpAddr>) -> String {
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
