//! Fan-out of events to connected sockets.
//!
//! Every user has one bounded broadcast channel that all of their sockets
//! (every tab) subscribe to; publishing sends an event to each recipient's
//! channel. A socket that falls too far behind gets `Lagged` and resyncs its
//! page rather than buffering without bound. The `Fanout` trait is the seam
//! where a bridge between instances (PostgreSQL LISTEN/NOTIFY) plugs in.

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
    /// Delivers `event` to every connected user.
    fn broadcast(&self, event: Event);
    /// Starts receiving the events addressed to `user_id`.
    fn subscribe(&self, user_id: UserId) -> Subscription;
    /// Tells the other instances (if any) whether `user_id` now has a page
    /// in view on this one.
    fn share_visibility(&self, _user_id: UserId, _visible: bool) {}
}

type Channels = Mutex<HashMap<UserId, broadcast::Sender<Event>>>;

/// The in-process hub: one broadcast channel per connected user.
#[derive(Clone, Default)]
pub(crate) struct Hub {
    channels: Arc<Channels>,
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
        let channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        for sender in channels.values() {
            let _ = sender.send(event.clone());
        }
    }

    fn subscribe(&self, user_id: UserId) -> Subscription {
        let mut channels = self.channels.lock().unwrap_or_else(PoisonError::into_inner);
        let receiver = channels
            .entry(user_id)
            .or_insert_with(|| broadcast::channel(HUB_CHANNEL_CAPACITY).0)
            .subscribe();
        Subscription {
            receiver,
            user_id,
            channels: Arc::clone(&self.channels),
        }
    }
}

/// One socket's stream of events; dropping it forgets the user's channel
/// once their last socket is gone.
pub struct Subscription {
    receiver: broadcast::Receiver<Event>,
    user_id: UserId,
    channels: Arc<Channels>,
}

impl Subscription {
    /// The next event, or `Lagged` if this socket fell behind.
    pub(crate) async fn recv(&mut self) -> Result<Event, broadcast::error::RecvError> {
        self.receiver.recv().await
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
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
        let mut slow = hub.subscribe(ALICE);
        let mut fast = hub.subscribe(ALICE);
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
        let mut alice = hub.subscribe(ALICE);
        let mut bob = hub.subscribe(BOB);
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
}
