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
use crate::limits::HUB_CHANNEL_CAPACITY;

/// Delivery of events to users' sockets, wherever those sockets are.
pub trait Fanout: Send + Sync {
    /// Delivers `event` to every socket of every user in `recipients`.
    fn publish(&self, recipients: &[i64], event: Event);
    /// Delivers `event` to every connected user.
    fn broadcast(&self, event: Event);
    /// Starts receiving the events addressed to `user_id`.
    fn subscribe(&self, user_id: i64) -> Subscription;
}

type Channels = Mutex<HashMap<i64, broadcast::Sender<Event>>>;

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
    fn publish(&self, recipients: &[i64], event: Event) {
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

    fn subscribe(&self, user_id: i64) -> Subscription {
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
    user_id: i64,
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
    use tokio::sync::broadcast::error::RecvError;

    fn read(conversation_id: i64) -> Event {
        Event::Read {
            conversation_id,
            reader_id: 1,
            up_to: 1,
        }
    }

    #[tokio::test]
    async fn a_reader_that_falls_behind_is_told_to_resync_and_never_blocks_others() {
        let hub = Hub::new();
        let mut slow = hub.subscribe(1);
        let mut fast = hub.subscribe(1);
        let total = HUB_CHANNEL_CAPACITY as i64 + 50;
        for n in 0..total {
            hub.publish(&[1], read(n));
            // The fast reader keeps up; publishing never waits for the slow one.
            assert!(
                matches!(fast.recv().await, Ok(Event::Read { conversation_id, .. }) if conversation_id == n)
            );
        }
        assert!(matches!(slow.recv().await, Err(RecvError::Lagged(50))));
        // After the lag it continues with what is still buffered.
        assert!(matches!(
            slow.recv().await,
            Ok(Event::Read {
                conversation_id: 50,
                ..
            })
        ));
    }

    #[tokio::test]
    async fn events_reach_only_their_recipients_and_channels_are_freed() {
        let hub = Hub::new();
        let mut alice = hub.subscribe(1);
        let mut bob = hub.subscribe(2);
        hub.publish(&[2], read(7));
        assert!(matches!(
            bob.recv().await,
            Ok(Event::Read {
                conversation_id: 7,
                ..
            })
        ));
        assert!(alice.receiver.try_recv().is_err(), "alice got nothing");
        hub.broadcast(read(8));
        assert!(matches!(
            alice.recv().await,
            Ok(Event::Read {
                conversation_id: 8,
                ..
            })
        ));
        assert_eq!(hub.connected_users(), 2);
        drop(alice);
        assert_eq!(hub.connected_users(), 1);
        drop(bob);
        assert_eq!(hub.connected_users(), 0);
    }
}
