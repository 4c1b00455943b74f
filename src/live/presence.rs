//! Who is online: open sockets counted per user on this instance, plus the
//! users other instances report (when several share a PostgreSQL database).
//! A user whose last socket closes stays online for a grace period, so
//! moving from one page to the next does not flicker them offline.
//!
//! Recent changes are kept for a while: a page rendered just before a
//! contact went offline opens its socket after that news was broadcast, and
//! asks for what changed since it was rendered instead.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::domain::UserId;
use crate::limits::PRESENCE_REPLAY;
use crate::live::hub::{Event, Fanout};
use crate::store::{contacts, Pool};
use crate::SharedHub;

#[derive(Default)]
struct Entry {
    sockets: usize,
    /// Of those, the ones whose page is in view (the page says when it is
    /// hidden): a user with one is not pushed.
    visible: usize,
    /// Bumped on every change, so a stale offline check can tell it lost.
    generation: u64,
}

/// For each user online on other instances: those instances, and when each
/// last confirmed it.
type Remote = HashMap<UserId, HashMap<Arc<str>, Instant>>;

/// Socket counts per user.
#[derive(Clone, Default)]
pub struct Presence {
    users: Arc<Mutex<HashMap<UserId, Entry>>>,
    remote: Arc<Mutex<Remote>>,
    /// For each user with a page in view on other instances: those
    /// instances, and when each last confirmed it.
    remote_visible: Arc<Mutex<Remote>>,
    /// Who changed, and when, over the last `PRESENCE_REPLAY`.
    changes: Arc<Mutex<VecDeque<(OffsetDateTime, UserId)>>>,
}

/// A user's presence as a page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub user_id: UserId,
    pub online: bool,
    /// When they went offline, if that is what changed.
    pub last_seen: Option<OffsetDateTime>,
}

/// What a socket leaving means for its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Departure {
    pub user_id: UserId,
    generation: u64,
}

impl Presence {
    fn users(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Entry>> {
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remote(&self) -> std::sync::MutexGuard<'_, Remote> {
        self.remote.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remote_visible(&self) -> std::sync::MutexGuard<'_, Remote> {
        self.remote_visible
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one of the user's sockets on this instance into or out of
    /// view, and tells the other instances when that changes whether the
    /// user has a page in view here.
    pub fn set_visible(&self, hub: &dyn Fanout, user_id: UserId, visible: bool) {
        let mut users = self.users();
        let entry = users.entry(user_id).or_default();
        let before = entry.visible > 0;
        if visible {
            entry.visible += 1;
        } else {
            entry.visible = entry.visible.saturating_sub(1);
        }
        // Told while the count is held, so that two sockets' news leaves in
        // the order the count changed (queuing it never waits).
        if before != (entry.visible > 0) {
            hub.share_visibility(user_id, visible);
        }
    }

    /// Whether the user has a page in view on any instance.
    pub(crate) fn visible_anywhere(&self, user_id: UserId) -> bool {
        self.users().get(&user_id).is_some_and(|e| e.visible > 0)
            || self.remote_visible().contains_key(&user_id)
    }

    /// The users with a page in view on this instance.
    pub(crate) fn local_visible_users(&self) -> Vec<UserId> {
        self.users()
            .iter()
            .filter(|(_, e)| e.visible > 0)
            .map(|(user, _)| *user)
            .collect()
    }

    /// Records what another instance reports about a user's pages in view.
    pub(crate) fn set_remote_visible(&self, instance: &Arc<str>, user_id: UserId, visible: bool) {
        record(&mut self.remote_visible(), instance, user_id, visible);
    }

    /// Counts a new socket of `user_id`, and tells everyone when that
    /// brings them online.
    pub fn arrive(&self, hub: &dyn Fanout, user_id: UserId) {
        if self.connected(user_id) {
            hub.broadcast(Event::PresenceChanged {
                user_id,
                online: true,
                last_seen: None,
            });
        }
    }

    /// Counts a closed socket of `user_id`. When it was their last and none
    /// comes back within `grace`, records when they were last seen and
    /// tells everyone they went offline.
    pub fn leave(&self, hub: SharedHub, pool: Pool, grace: Duration, user_id: UserId) {
        let Some(departure) = self.disconnected(user_id) else {
            return;
        };
        let presence = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            if presence.confirm_offline(departure) {
                let last_seen = contacts::touch_last_seen(&pool, user_id).await.ok();
                hub.broadcast(Event::PresenceChanged {
                    user_id,
                    online: false,
                    last_seen,
                });
            }
        });
    }

    /// Notes that `user_id` came online or went offline just now.
    fn changed(&self, user_id: UserId) {
        let now = OffsetDateTime::now_utc();
        let mut changes = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        while changes
            .front()
            .is_some_and(|(at, _)| now - *at > PRESENCE_REPLAY)
        {
            changes.pop_front();
        }
        changes.push_back((now, user_id));
    }

    /// The current status of everyone `shown` whose presence changed after
    /// `since` (as far back as `PRESENCE_REPLAY` goes), oldest change first.
    /// (A crowd arriving leaves thousands of changes: a page that shows one
    /// person picks theirs without collecting the rest.)
    pub(crate) fn changed_since(
        &self,
        since: OffsetDateTime,
        shown: &dyn Fn(UserId) -> bool,
    ) -> Vec<Status> {
        let mut last_change: HashMap<UserId, OffsetDateTime> = HashMap::new();
        {
            let changes = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
            for &(at, user_id) in changes
                .iter()
                .filter(|(at, user)| *at > since && shown(*user))
            {
                last_change.insert(user_id, at);
            }
        }
        let mut latest: Vec<(UserId, OffsetDateTime)> = last_change.into_iter().collect();
        latest.sort_by_key(|&(_, at)| at);
        latest
            .into_iter()
            .map(|(user_id, at)| {
                let online = self.is_online(user_id);
                Status {
                    user_id,
                    online,
                    last_seen: (!online).then_some(at),
                }
            })
            .collect()
    }

    /// Whether the user has a socket open (or closed one within the grace
    /// period) on any instance.
    pub(crate) fn is_online(&self, user_id: UserId) -> bool {
        self.users().contains_key(&user_id) || self.online_elsewhere(user_id)
    }

    /// Whether another instance reports the user online.
    pub(crate) fn online_elsewhere(&self, user_id: UserId) -> bool {
        self.remote().contains_key(&user_id)
    }

    /// The users online on this instance.
    pub(crate) fn local_users(&self) -> Vec<UserId> {
        self.users().keys().copied().collect()
    }

    /// Records what another instance reports about a user. Returns true when
    /// that changes whether the user is online anywhere.
    pub(crate) fn set_remote(&self, instance: &Arc<str>, user_id: UserId, online: bool) -> bool {
        let before = self.is_online(user_id);
        record(&mut self.remote(), instance, user_id, online);
        if !online {
            record(&mut self.remote_visible(), instance, user_id, false);
        }
        let changed = before != self.is_online(user_id);
        if changed {
            self.changed(user_id);
        }
        changed
    }

    /// Forgets what instances that stopped confirming (crashed, cut off)
    /// reported longer than `expiry` ago. Returns the users this took offline.
    pub(crate) fn expire_remote(&self, expiry: Duration) -> Vec<UserId> {
        self.remote_visible().retain(|_, instances| {
            instances.retain(|_, confirmed| confirmed.elapsed() < expiry);
            !instances.is_empty()
        });
        let mut gone = Vec::new();
        {
            let mut remote = self.remote();
            remote.retain(|user, instances| {
                instances.retain(|_, confirmed| confirmed.elapsed() < expiry);
                let keep = !instances.is_empty();
                if !keep {
                    gone.push(*user);
                }
                keep
            });
        }
        {
            let users = self.users();
            gone.retain(|user| !users.contains_key(user));
        }
        for user in &gone {
            self.changed(*user);
        }
        gone
    }

    /// How many sockets the user has open on this instance.
    pub fn sockets(&self, user_id: UserId) -> usize {
        self.users().get(&user_id).map_or(0, |e| e.sockets)
    }

    /// Counts a new socket. Returns true when the user just came online.
    pub fn connected(&self, user_id: UserId) -> bool {
        let newly_online = {
            let mut users = self.users();
            let newly_online = !users.contains_key(&user_id);
            let entry = users.entry(user_id).or_default();
            entry.sockets += 1;
            entry.generation += 1;
            newly_online
        };
        if newly_online && !self.online_elsewhere(user_id) {
            self.changed(user_id);
        }
        newly_online
    }

    /// Counts a closed socket. When it was the user's last, returns the
    /// departure to confirm once the grace period is over.
    pub(crate) fn disconnected(&self, user_id: UserId) -> Option<Departure> {
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
    pub(crate) fn confirm_offline(&self, departure: Departure) -> bool {
        let gone = {
            let mut users = self.users();
            let gone = users
                .get(&departure.user_id)
                .is_some_and(|e| e.sockets == 0 && e.generation == departure.generation);
            if gone {
                users.remove(&departure.user_id);
            }
            gone
        };
        if gone && !self.online_elsewhere(departure.user_id) {
            self.changed(departure.user_id);
        }
        gone
    }
}

/// Notes that `instance` reports `user_id` (online, or with a page in
/// view) now, or no longer.
fn record(remote: &mut Remote, instance: &Arc<str>, user_id: UserId, on: bool) {
    if on {
        remote
            .entry(user_id)
            .or_default()
            .insert(Arc::clone(instance), Instant::now());
    } else if let Some(instances) = remote.get_mut(&user_id) {
        instances.remove(instance);
        if instances.is_empty() {
            remote.remove(&user_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: UserId = UserId::new(1);
    const BOB: UserId = UserId::new(2);
    const CAROL: UserId = UserId::new(3);
    const DAVE: UserId = UserId::new(7);
    const ERIN: UserId = UserId::new(8);

    #[test]
    fn a_user_online_on_another_instance_is_online_until_it_says_otherwise_or_goes_quiet() {
        let presence = Presence::default();
        let other: Arc<str> = Arc::from("b");
        assert!(presence.set_remote(&other, DAVE, true), "came online");
        assert!(presence.is_online(DAVE));
        assert!(!presence.set_remote(&other, DAVE, true), "no change");
        assert!(presence.set_remote(&other, DAVE, false), "went offline");
        assert!(!presence.is_online(DAVE));
        presence.set_remote(&other, ERIN, true);
        assert!(presence.expire_remote(Duration::from_secs(60)).is_empty());
        assert_eq!(presence.expire_remote(Duration::ZERO), vec![ERIN]);
        assert!(!presence.is_online(ERIN));
    }

    #[test]
    fn a_remote_report_does_not_change_a_user_already_online_here() {
        let presence = Presence::default();
        presence.connected(CAROL);
        let other: Arc<str> = Arc::from("b");
        assert!(!presence.set_remote(&other, CAROL, true));
        assert!(!presence.set_remote(&other, CAROL, false));
        assert!(presence.is_online(CAROL));
    }

    #[test]
    fn a_page_rendered_before_a_change_learns_of_it_and_only_of_later_ones() {
        let presence = Presence::default();
        presence.connected(ALICE);
        let departure = presence.disconnected(ALICE).unwrap();
        let rendered = OffsetDateTime::now_utc();
        std::thread::sleep(Duration::from_millis(2));
        presence.connected(BOB);
        assert!(presence.confirm_offline(departure));
        let missed = presence.changed_since(rendered, &|_| true);
        assert_eq!(missed.len(), 2, "{missed:?}");
        assert_eq!((missed[0].user_id, missed[0].online), (BOB, true));
        assert_eq!((missed[1].user_id, missed[1].online), (ALICE, false));
        assert!(missed[1].last_seen.is_some());
        let later = OffsetDateTime::now_utc() + time::Duration::milliseconds(1);
        assert!(presence.changed_since(later, &|_| true).is_empty());
    }

    #[test]
    fn a_quick_reconnect_within_the_grace_period_keeps_the_user_online() {
        let presence = Presence::default();
        assert!(presence.connected(ALICE));
        let departure = presence.disconnected(ALICE).unwrap();
        assert!(
            !presence.connected(ALICE),
            "still online: no new announcement"
        );
        assert!(!presence.confirm_offline(departure));
        assert!(presence.is_online(ALICE));
    }

    #[test]
    fn the_last_socket_closing_takes_the_user_offline_after_confirmation() {
        let presence = Presence::default();
        presence.connected(ALICE);
        presence.connected(ALICE);
        assert!(presence.disconnected(ALICE).is_none(), "one tab still open");
        let departure = presence.disconnected(ALICE).unwrap();
        assert!(presence.is_online(ALICE), "grace period");
        assert!(presence.confirm_offline(departure));
        assert!(!presence.is_online(ALICE));
    }
}
