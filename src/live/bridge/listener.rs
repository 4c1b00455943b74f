//! The listening side: receives the other instances' envelopes, loads what
//! they name, and delivers it to this instance's sockets; reconnects and
//! resyncs pages when the connection drops.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::postgres::{PgListener, PgNotification};
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::domain::{MessageId, SharedGroup, SharedTally, UserId};
use crate::live::hub::{Event, Fanout, Hub};
use crate::live::presence::Presence;
use crate::store::messages::{self, Message};
use crate::store::{users, Pool};

use super::wire::{Envelope, Wire};
use super::{Outbox, CHANNEL, EXPIRY, HEARTBEAT, MESSAGES_PER_QUERY, RETRY, USERS_PER_NOTICE};

/// Receives the other instances' events and delivers them here.
pub(super) struct Listener {
    pub(super) pool: Pool,
    pub(super) local: Hub,
    pub(super) presence: Presence,
    pub(super) outbox: Outbox,
}

impl Listener {
    pub(super) async fn run(self) {
        let Some(pg) = self.pool.postgres().cloned() else {
            return;
        };
        let mut first = true;
        loop {
            let mut listener = match connect(&pg).await {
                Ok(listener) => listener,
                Err(e) => {
                    rocket::warn!("listening for other instances failed: {e}; retrying");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            if !first {
                // Whatever was published while nobody listened is in the
                // database: every page here catches up from it.
                self.local.broadcast(Event::Resync);
            }
            first = false;
            self.outbox.send(None, Wire::Hello);
            self.confirm_online();
            let mut heartbeat = tokio::time::interval(HEARTBEAT);
            heartbeat.tick().await;
            loop {
                tokio::select! {
                    received = listener.try_recv() => match received {
                        Ok(Some(notification)) => self.handle(&notification).await,
                        Ok(None) => break,
                        Err(e) => {
                            rocket::warn!("lost the connection to other instances: {e}");
                            break;
                        }
                    },
                    _ = heartbeat.tick() => {
                        self.confirm_online();
                        for user_id in self.presence.expire_remote(EXPIRY) {
                            self.local.broadcast(Event::PresenceChanged {
                                user_id,
                                online: false,
                                last_seen: Some(OffsetDateTime::now_utc()),
                            });
                        }
                    }
                }
            }
            tokio::time::sleep(RETRY).await;
        }
    }

    /// Tells the other instances who is online here.
    pub(super) fn confirm_online(&self) {
        let users = self.presence.local_users();
        let visible: std::collections::HashSet<UserId> =
            self.presence.local_visible_users().into_iter().collect();
        for chunk in users.chunks(USERS_PER_NOTICE) {
            self.outbox.send(
                None,
                Wire::Online {
                    users: chunk.to_vec(),
                    visible: chunk
                        .iter()
                        .filter(|user| visible.contains(user))
                        .copied()
                        .collect(),
                },
            );
        }
    }

    pub(super) async fn handle(&self, notification: &PgNotification) {
        let envelopes: Vec<Envelope> = match serde_json::from_str(notification.payload()) {
            Ok(envelopes) => envelopes,
            Err(e) => {
                rocket::warn!("ignoring an unreadable notification: {e}");
                return;
            }
        };
        // This instance delivered its own events when it published them.
        let envelopes: Vec<Envelope> = envelopes
            .into_iter()
            .filter(|envelope| envelope.from != self.outbox.instance)
            .collect();
        let now = super::wire::now_ms();
        for envelope in envelopes.iter().filter(|e| e.sent_ms > 0) {
            let lag = u64::try_from(now - envelope.sent_ms).unwrap_or(0);
            crate::metrics::notify_lag(std::time::Duration::from_millis(lag));
        }
        let messages = self.load_messages(&envelopes).await;
        for envelope in envelopes {
            if let Err(e) = self.deliver(envelope, &messages).await {
                rocket::warn!("could not deliver another instance's event: {e}");
            }
        }
    }

    /// Loads every message a notification names in one query, rather than a
    /// round trip each while the next notifications wait. If that fails, the
    /// pages here catch up from the database instead.
    pub(super) async fn load_messages(
        &self,
        envelopes: &[Envelope],
    ) -> HashMap<MessageId, Arc<Message>> {
        let ids: Vec<MessageId> = envelopes
            .iter()
            .flat_map(|envelope| match &envelope.event {
                Wire::Message { id } => vec![*id],
                Wire::Changed { ids, .. } => ids.clone(),
                _ => Vec::new(),
            })
            .collect();
        let mut loaded = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(MESSAGES_PER_QUERY) {
            match messages::by_ids(&self.pool, chunk).await {
                Ok(found) => loaded.extend(found.into_iter().map(|m| (m.id, Arc::new(m)))),
                Err(e) => {
                    rocket::warn!("could not load other instances' messages: {e}; resyncing");
                    self.local.broadcast(Event::Resync);
                }
            }
        }
        loaded
    }

    pub(super) async fn deliver(
        &self,
        envelope: Envelope,
        messages: &HashMap<MessageId, Arc<Message>>,
    ) -> crate::error::Result<()> {
        let from = envelope.from;
        let event = match envelope.event {
            Wire::Message { id } => match messages.get(&id) {
                Some(message) => Event::MessagePosted {
                    message: Arc::clone(message),
                    tally: SharedTally::default(),
                    bubbles: Default::default(),
                },
                // Deleted since (an account went), or not loaded and resynced.
                None => return Ok(()),
            },
            Wire::Changed { ids, seq } => {
                let found: Vec<Message> = ids
                    .iter()
                    .filter_map(|id| messages.get(id).map(|m| Message::clone(m)))
                    .collect();
                if found.is_empty() {
                    return Ok(());
                }
                Event::MessageChanged {
                    seq,
                    messages: Arc::from(found),
                    tally: SharedTally::default(),
                }
            }
            Wire::SessionEnded { token_hash } => Event::SessionEnded {
                token_hash: token_hash.into(),
            },
            Wire::Presence {
                user,
                online,
                last_seen,
            } => {
                if !self.presence.set_remote(&from, user, online) {
                    return Ok(());
                }
                Event::PresenceChanged {
                    user_id: user,
                    online,
                    last_seen: last_seen.and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok()),
                }
            }
            Wire::Typing {
                conversation,
                user,
                username,
            } => Event::Typing {
                conversation_id: conversation,
                user_id: user,
                username: username.into(),
            },
            Wire::Read {
                conversation,
                reader,
                up_to,
            } => Event::Read {
                conversation_id: conversation,
                reader_id: reader,
                up_to,
                tally: SharedTally::default(),
            },
            Wire::UserJoined { user } => match users::by_id(&self.pool, user).await? {
                Some(user) => Event::UserJoined(Arc::new(user)),
                None => return Ok(()),
            },
            Wire::UserLeft { user } => Event::UserLeft { user_id: user },
            Wire::ProfileChanged { user } => match users::by_id(&self.pool, user).await? {
                Some(user) => Event::ProfileChanged(Arc::new(user)),
                None => return Ok(()),
            },
            Wire::GroupChanged { conversation } => Event::GroupChanged {
                conversation_id: conversation,
                group: SharedGroup::default(),
            },
            Wire::Hello => {
                self.confirm_online();
                return Ok(());
            }
            Wire::Visible { user, visible } => {
                self.presence.set_remote_visible(&from, user, visible);
                return Ok(());
            }
            Wire::Online { users, visible } => {
                // The whole truth about these users on that instance: one
                // whose hiding was missed is set right here.
                let visible: std::collections::HashSet<UserId> = visible.into_iter().collect();
                for user_id in &users {
                    self.presence
                        .set_remote_visible(&from, *user_id, visible.contains(user_id));
                }
                for user_id in users {
                    if self.presence.set_remote(&from, user_id, true) {
                        self.local.broadcast(Event::PresenceChanged {
                            user_id,
                            online: true,
                            last_seen: None,
                        });
                    }
                }
                return Ok(());
            }
        };
        match envelope.to {
            Some(recipients) => self.local.publish(&recipients, event),
            None => self.local.broadcast(event),
        }
        Ok(())
    }
}

pub(super) async fn connect(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // A lost connection ends the inner loop, which reconnects and resyncs.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
