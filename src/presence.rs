//! Who is online on this instance: open sockets counted per user. A user
//! whose last socket closes stays online for a grace period, so moving from
//! one page to the next does not flicker them offline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Default)]
struct Entry {
    sockets: usize,
    /// Bumped on every change, so a stale offline check can tell it lost.
    generation: u64,
}

/// Socket counts per user.
#[derive(Clone, Default)]
pub struct Presence {
    users: Arc<Mutex<HashMap<i64, Entry>>>,
}

/// What a socket leaving means for its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Departure {
    pub user_id: i64,
    generation: u64,
}

impl Presence {
    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Entry>> {
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the user has a socket open (or closed one within the grace period).
    pub fn is_online(&self, user_id: i64) -> bool {
        self.users().contains_key(&user_id)
    }

    /// How many sockets the user has open on this instance.
    pub fn sockets(&self, user_id: i64) -> usize {
        self.users().get(&user_id).map_or(0, |e| e.sockets)
    }

    /// Counts a new socket. Returns true when the user just came online.
    pub fn connected(&self, user_id: i64) -> bool {
        let mut users = self.users();
        let newly_online = !users.contains_key(&user_id);
        let entry = users.entry(user_id).or_default();
        entry.sockets += 1;
        entry.generation += 1;
        newly_online
    }

    /// Counts a closed socket. When it was the user's last, returns the
    /// departure to confirm once the grace period is over.
    pub fn disconnected(&self, user_id: i64) -> Option<Departure> {
        let mut users = self.users();
        let entry = users.get_mut(&user_id)?;
        entry.sockets = entry.sockets.saturating_sub(1);
        entry.generation += 1;
        (entry.sockets == 0).then_some(Departure {
            user_id,
            generation: entry.generation,
        })
    }

    /// After the grace period: true (and the user is offline) if no socket
    /// came back in the meantime.
    pub fn confirm_offline(&self, departure: Departure) -> bool {
        let mut users = self.users();
        let gone = users
            .get(&departure.user_id)
            .is_some_and(|e| e.sockets == 0 && e.generation == departure.generation);
        if gone {
            users.remove(&departure.user_id);
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quick_reconnect_within_the_grace_period_keeps_the_user_online() {
        let presence = Presence::default();
        assert!(presence.connected(1));
        let departure = presence.disconnected(1).unwrap();
        assert!(!presence.connected(1), "still online: no new announcement");
        assert!(!presence.confirm_offline(departure));
        assert!(presence.is_online(1));
    }

    #[test]
    fn the_last_socket_closing_takes_the_user_offline_after_confirmation() {
        let presence = Presence::default();
        presence.connected(1);
        presence.connected(1);
        assert!(presence.disconnected(1).is_none(), "one tab still open");
        let departure = presence.disconnected(1).unwrap();
        assert!(presence.is_online(1), "grace period");
        assert!(presence.confirm_offline(departure));
        assert!(!presence.is_online(1));
    }
}
