//! Fan-out of events to connected sockets.
//!
//! Every user has one bounded broadcast channel that all of their sockets
//! (every tab) subscribe to; publishing sends an event to each recipient's
//! channel. A socket that falls too far behind gets `Lagged` and resyncs its
//! page rather than buffering without bound. The `Fanout` trait is the seam
//! where a bridge between instances (PostgreSQL LISTEN/NOTIFY) plugs in.
//!
//! Presence goes only where it is shown: each socket says whose presence
//! its page shows (`Watching`), and a presence change reaches those sockets'
//! users, not everyone online. Ten thousand people coming online then cost
//! each one's watchers, not ten thousand times everyone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::broadcast;

pub use crate::domain::Event;
use crate::domain::UserId;
use crate::limits::HUB_CHANNEL_CAPACITY;

/// Delivery of events to users' sockets, wherever those sockets are.
pub trait Fanout: Send + Sync {
    /// Delivers `event` to every socket of every user in `recipients`.
    fn publish(&self, recipients: &[UserId], event: Event);
    /// Delivers `event` to every connected user (a presence change: to the
    /// users whose pages show that person).
    fn broadcast(&self, event: Event);
    /// Starts receiving the events addressed to `user_id`, for a page that
    /// shows the presence of `watching`.
    fn subscribe(&self, user_id: UserId, watching: Watching) -> Subscription;
    /// Tells the other instances (if any) whether `user_id` now has a page
    /// in view on this one.
    fn share_visibility(&self, _user_id: UserId, _visible: bool) {}
}

type Channels = Mutex<HashMap<UserId, broadcast::Sender<Event>>>;

/// Whose presence a socket's page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watching {
    /// The directory of people: everyone's.
    Everyone,
    /// A direct conversation: its other person's.
    One(UserId),
    /// Nobody's (the inbox, a group).
    Nobody,
}

/// Who watches whose presence, counted per socket.
#[derive(Default)]
struct Watchers {
    /// Users with a directory page open, and how many.
    everyone: HashMap<UserId, usize>,
    /// For each person, the users whose pages show them alone, and how many.
    of: HashMap<UserId, HashMap<UserId, usize>>,
}

impl Watchers {
    fn add(&mut self, watcher: UserId, watching: Watching) {
        match watching {
            Watching::Everyone => *self.everyone.entry(watcher).or_default() += 1,
            Watching::One(user) => {
                *self.of.entry(user).or_default().entry(watcher).or_default() += 1
            }
            Watching::Nobody => {}
        }
    }

    fn remove(&mut self, watcher: UserId, watching: Watching) {
        fn take(counts: &mut HashMap<UserId, usize>, watcher: UserId) {
            if let Some(count) = counts.get_mut(&watcher) {
                *count -= 1;
                if *count == 0 {
                    counts.remove(&watcher);
                }
            }
        }
        match watching {
            Watching::Everyone => take(&mut self.everyone, watcher),
            Watching::One(user) => {
                if let Some(watchers) = self.of.get_mut(&user) {
                    take(watchers, watcher);
                    if watchers.is_empty() {
                        self.of.remove(&user);
                    }
                }
            }
            Watching::Nobody => {}
        }
    }

    /// The users some page of whom shows `user`'s presence (never `user`).
    fn of(&self, user: UserId) -> Vec<UserId> {
        let mut watchers: Vec<UserId> = self.everyone.keys().copied().collect();
        if let Some(alone) = self.of.get(&user) {
            watchers.extend(alone.keys().filter(|w| !self.everyone.contains_key(w)));
        }
        watchers.retain(|w| *w != user);
        watchers
    }
}

/// The in-process hub: one broadcast channel per connected user.
#[derive(Clone, Default)]
pub(crate) struct Hub {
    channels: Arc<Channels>,
    watchers: Arc<Mutex<Watchers>>,
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many users have at least one socket on this instance.
    #[cfg(test)]
    fn connected_users(&self) -> usize {
        self.channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Fanout for Hub {
    fn publish(&self, recipients: &[UserId], event: Event) {
        let channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        for user in recipients {
            if let Some(sender) = channels.get(user) {
                // An error only means nobody is listening any more.
                let _ = sender.send(event.clone());
            }
        }
    }

    fn broadcast(&self, event: Event) {
        if let Event::PresenceChanged { user_id, .. } = &event {
            let watchers = self
                .watchers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .of(*user_id);
            return self.publish(&watchers, event);
        }
        let channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        for sender in channels.values() {
            let _ = sender.send(event.clone());
        }
    }

    fn subscribe(&self, user_id: UserId, watching: Watching) -> Subscription {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        let receiver = channels
            .entry(user_id)
            .or_insert_with(|| broadcast::channel(HUB_CHANNEL_CAPACITY).0)
            .subscribe();
        self.watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .add(user_id, watching);
        Subscription {
            receiver,
            user_id,
            watching,
            channels: Arc::clone(&self.channels),
            watchers: Arc::clone(&self.watchers),
        }
    }
}

/// One socket's stream of events; dropping it forgets the user's channel
/// once their last socket is gone.
pub struct Subscription {
    receiver: broadcast::Receiver<Event>,
    user_id: UserId,
    watching: Watching,
    channels: Arc<Channels>,
    watchers: Arc<Mutex<Watchers>>,
}

impl Subscription {
    /// The next event, or `Lagged` if this socket fell behind.
    pub(crate) async fn recv(&mut self) -> Result<Event, broadcast::error::RecvError> {
        self.receiver.recv().await
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(self.user_id, self.watching);
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = channels.get(&self.user_id) {
            // Our own receiver still counts until this function returns.
            if sender.receiver_count() <= 1 {
                channels.remove(&self.user_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ConversationId, MessageId};
    use tokio::sync::broadcast::error::RecvError;

    const ALICE: UserId = UserId::new(1);
    const BOB: UserId = UserId::new(2);

    /// A read mark in conversation `n` (events are told apart by it).
    fn read(n: i64) -> Event {
        Event::Read {
            conversation_id: ConversationId::new(n),
            reader_id: ALICE,
            up_to: MessageId::new(1),
            tally: Default::default(),
        }
    }

    /// Whether `received` is the read mark `read(n)`.
    fn is_read(received: Result<Event, RecvError>, n: i64) -> bool {
        matches!(received, Ok(Event::Read { conversation_id, .. }) if conversation_id.get() == n)
    }

    #[tokio::test]
    async fn a_reader_that_falls_behind_is_told_to_resync_and_never_blocks_others() {
        let hub = Hub::new();
        let mut slow = hub.subscribe(ALICE, Watching::Nobody);
        let mut fast = hub.subscribe(ALICE, Watching::Nobody);
        let total = HUB_CHANNEL_CAPACITY as i64 + 50;
        for n in 0..total {
            hub.publish(&[ALICE], read(n));
            // The fast reader keeps up; publishing never waits for the slow one.
            assert!(is_read(fast.recv().await, n));
        }
        assert!(matches!(slow.recv().await, Err(RecvError::Lagged(50))));
        // After the lag it continues with what is still buffered.
        assert!(is_read(slow.recv().await, 50));
    }

    #[tokio::test]
    async fn events_reach_only_their_recipients_and_channels_are_freed() {
        let hub = Hub::new();
        let mut alice = hub.subscribe(ALICE, Watching::Nobody);
        let mut bob = hub.subscribe(BOB, Watching::Nobody);
        hub.publish(&[BOB], read(7));
        assert!(is_read(bob.recv().await, 7));
        assert!(alice.receiver.try_recv().is_err(), "alice got nothing");
        hub.broadcast(read(8));
        assert!(is_read(alice.recv().await, 8));
        assert_eq!(hub.connected_users(), 2);
        drop(alice);
        assert_eq!(hub.connected_users(), 1);
        drop(bob);
        assert_eq!(hub.connected_users(), 0);
    }

    fn presence(user: UserId) -> Event {
        Event::PresenceChanged {
            user_id: user,
            online: true,
            last_seen: None,
        }
    }

    #[tokio::test]
    async fn presence_reaches_only_the_pages_that_show_that_person() {
        const CAROL: UserId = UserId::new(3);
        const DAVE: UserId = UserId::new(4);
        let hub = Hub::new();
        let mut directory = hub.subscribe(ALICE, Watching::Everyone);
        let mut with_carol = hub.subscribe(BOB, Watching::One(CAROL));
        let mut inbox = hub.subscribe(DAVE, Watching::Nobody);
        hub.broadcast(presence(CAROL));
        assert!(
            matches!(directory.recv().await, Ok(Event::PresenceChanged { user_id, .. }) if user_id == CAROL)
        );
        assert!(
            matches!(with_carol.recv().await, Ok(Event::PresenceChanged { user_id, .. }) if user_id == CAROL)
        );
        assert!(
            inbox.receiver.try_recv().is_err(),
            "the inbox shows nobody's presence"
        );
        // Bob's page shows carol alone: dave's coming online is not his.
        hub.broadcast(presence(DAVE));
        assert!(
            matches!(directory.recv().await, Ok(Event::PresenceChanged { user_id, .. }) if user_id == DAVE)
        );
        assert!(with_carol.receiver.try_recv().is_err());
        // Nobody is told about themselves, and a closed page stops watching.
        hub.broadcast(presence(ALICE));
        assert!(directory.receiver.try_recv().is_err());
        drop(with_carol);
        let _bob_elsewhere = hub.subscribe(BOB, Watching::Nobody);
        hub.broadcast(presence(CAROL));
        assert!(
            matches!(directory.recv().await, Ok(Event::PresenceChanged { user_id, .. }) if user_id == CAROL)
        );
        let watchers = hub.watchers.lock().unwrap_or_else(PoisonError::into_inner);
        assert_eq!(watchers.of(CAROL), vec![ALICE]);
        assert!(watchers.of.is_empty(), "bob's watch ended with his page");
    }
}
