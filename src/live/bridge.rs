//! The PostgreSQL bridge: fan-out across several instances sharing one
//! database, through PostgreSQL's own LISTEN/NOTIFY (no other service).
//!
//! Publishing delivers to this instance's sockets at once and sends a small
//! notification (ids, never a message body or rendered HTML) to the others.
//! Every instance listens; on a notification from another instance it loads
//! what it needs (the committed message by id), and its local hub renders
//! and pushes it to the sockets here. Presence is shared the same way: each
//! instance announces its users coming and going and confirms who is online
//! on a heartbeat, so an instance that dies is forgotten. When the listening
//! connection drops (a database restart), the listener reconnects and tells
//! every local page to resynchronise, so nothing committed meanwhile is missed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgListener, PgNotification};
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::live::hub::{Event, Fanout, Hub, Subscription};
use crate::live::presence::Presence;
use crate::store::messages::{self, Message};
use crate::store::{users, Db, Pool};
use crate::SharedHub;
use rocket::fairing::AdHoc;
use rocket_db_pools::Database;

/// The notification channel every instance listens on.
const CHANNEL: &str = "natter_events";
/// Largest payload sent in one NOTIFY (PostgreSQL's limit is 8000 bytes).
const PAYLOAD_BYTES: usize = 7000;
/// How often an instance confirms the users online on it.
const HEARTBEAT: Duration = Duration::from_secs(10);
/// After how long without confirmation another instance's users count as gone.
const EXPIRY: Duration = Duration::from_secs(35);
/// How long to wait before retrying a lost database connection.
const RETRY: Duration = Duration::from_secs(1);
/// Events waiting to be sent to the other instances, at most.
const OUTBOX: usize = 65_536;
/// Users listed in one presence confirmation.
const USERS_PER_NOTICE: usize = 500;
/// Most message ids loaded by one query (a notification names far fewer).
const MESSAGES_PER_QUERY: usize = 500;

/// One event as it travels between instances: who sent it, to whom, what.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Envelope {
    from: Arc<str>,
    /// Recipients; absent for an event addressed to everyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<Vec<i64>>,
    event: Wire,
}

/// An event in its smallest form: ids, loaded again by the receiver.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Wire {
    Message {
        id: i64,
    },
    SessionEnded {
        token_hash: String,
    },
    Presence {
        user: i64,
        online: bool,
        last_seen: Option<i64>,
    },
    Typing {
        conversation: i64,
        user: i64,
        username: String,
    },
    Read {
        conversation: i64,
        reader: i64,
        up_to: i64,
    },
    UserJoined {
        user: i64,
    },
    UserLeft {
        user: i64,
    },
    GroupChanged {
        conversation: i64,
    },
    /// A listener (re)connected and asks who is online where.
    Hello,
    /// Users online on the sending instance (a reply to `Hello`, and the heartbeat).
    Online {
        users: Vec<i64>,
    },
}

impl Wire {
    fn from_event(event: &Event) -> Option<Wire> {
        Some(match event {
            Event::MessagePosted(message) => Wire::Message { id: message.id },
            Event::SessionEnded { token_hash } => Wire::SessionEnded {
                token_hash: token_hash.to_string(),
            },
            Event::PresenceChanged {
                user_id,
                online,
                last_seen,
            } => Wire::Presence {
                user: *user_id,
                online: *online,
                last_seen: last_seen.map(OffsetDateTime::unix_timestamp),
            },
            Event::Typing {
                conversation_id,
                user_id,
                username,
            } => Wire::Typing {
                conversation: *conversation_id,
                user: *user_id,
                username: username.to_string(),
            },
            Event::Read {
                conversation_id,
                reader_id,
                up_to,
            } => Wire::Read {
                conversation: *conversation_id,
                reader: *reader_id,
                up_to: *up_to,
            },
            Event::UserJoined(user) => Wire::UserJoined { user: user.id },
            Event::UserLeft { user_id } => Wire::UserLeft { user: *user_id },
            Event::GroupChanged { conversation_id } => Wire::GroupChanged {
                conversation: *conversation_id,
            },
            // Local housekeeping: each instance resyncs its own pages.
            Event::Resync => return None,
        })
    }
}

/// Manages the hub the app publishes to: the in-process hub on SQLite, the
/// bridge on PostgreSQL. Runs once the database is attached.
pub fn stage(presence: Presence) -> AdHoc {
    AdHoc::on_ignite("Hub", |rocket| async {
        rocket.attach(AdHoc::on_ignite("Hub for the database", |rocket| async {
            let pool = Db::fetch(&rocket).and_then(|db| db.pool().postgres().cloned());
            let hub: SharedHub = match pool {
                Some(pg) => Arc::new(PgBridge::start(pg, presence.clone())),
                None => Arc::new(Hub::new()),
            };
            rocket.manage(hub).manage(presence)
        }))
    })
}

/// Events waiting to be sent to the other instances, bounded: if the
/// database cannot keep up, events are dropped (and logged) rather than
/// piling up in memory; the other instances' pages catch up on their next
/// resync.
#[derive(Clone)]
struct Outbox {
    queue: mpsc::Sender<Envelope>,
    /// This instance, named on everything it sends.
    instance: Arc<str>,
}

impl Outbox {
    /// Queues `event` for the other instances, addressed to `to` (everyone if `None`).
    fn send(&self, to: Option<Vec<i64>>, event: Wire) {
        let envelope = Envelope {
            from: Arc::clone(&self.instance),
            to,
            event,
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = self.queue.try_send(envelope) {
            rocket::warn!("too many events waiting for the database; one was not shared");
        }
    }
}

/// The hub of an instance sharing a PostgreSQL database with others.
pub struct PgBridge {
    local: Hub,
    presence: Presence,
    outbox: Outbox,
}

impl PgBridge {
    /// Starts the sender and listener tasks on `pool` and returns the hub.
    pub fn start(pool: PgPool, presence: Presence) -> PgBridge {
        let instance: Arc<str> = Arc::from(&crate::auth::random_token()[..16]);
        let local = Hub::new();
        let (sender, queue) = mpsc::channel(OUTBOX);
        let outbox = Outbox {
            queue: sender,
            instance,
        };
        tokio::spawn(send_notifications(pool.clone(), queue));
        let listener = Listener {
            pool: Pool::Postgres(pool),
            local: local.clone(),
            presence: presence.clone(),
            outbox: outbox.clone(),
        };
        tokio::spawn(listener.run());
        PgBridge {
            local,
            presence,
            outbox,
        }
    }

    fn notify(&self, to: Option<&[i64]>, event: &Event) {
        if let Some(event) = Wire::from_event(event) {
            self.outbox.send(to.map(<[i64]>::to_vec), event);
        }
    }

    /// Whether this instance's pages should hear about an event now: a user
    /// leaving this instance is still online if another instance has them.
    fn deliver_here(&self, event: &Event) -> bool {
        match event {
            Event::PresenceChanged { user_id, .. } => !self.presence.online_elsewhere(*user_id),
            _ => true,
        }
    }
}

impl Fanout for PgBridge {
    fn publish(&self, recipients: &[i64], event: Event) {
        self.notify(Some(recipients), &event);
        if self.deliver_here(&event) {
            self.local.publish(recipients, event);
        }
    }

    fn broadcast(&self, event: Event) {
        self.notify(None, &event);
        if self.deliver_here(&event) {
            self.local.broadcast(event);
        }
    }

    fn subscribe(&self, user_id: i64) -> Subscription {
        self.local.subscribe(user_id)
    }
}

/// Sends queued envelopes in order, packing as many as fit in one NOTIFY.
async fn send_notifications(pool: PgPool, mut queue: mpsc::Receiver<Envelope>) {
    let mut batch = Vec::new();
    while queue.recv_many(&mut batch, 256).await > 0 {
        for payload in payloads(batch.drain(..)) {
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(&payload)
                .execute(&pool)
                .await;
            if let Err(e) = sent {
                // The other instances' pages resync when their listeners reconnect.
                rocket::warn!("could not notify other instances: {e}");
            }
        }
    }
}

/// JSON arrays of envelopes, each within the NOTIFY payload limit. An
/// envelope too big on its own (a huge recipient list) is split by recipients.
fn payloads(envelopes: impl Iterator<Item = Envelope>) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut size = 2;
    for envelope in envelopes.flat_map(split) {
        let Ok(json) = serde_json::to_string(&envelope) else {
            continue;
        };
        if size + json.len() + 1 > PAYLOAD_BYTES && !current.is_empty() {
            out.push(format!("[{}]", current.join(",")));
            current.clear();
            size = 2;
        }
        size += json.len() + 1;
        current.push(json);
    }
    if !current.is_empty() {
        out.push(format!("[{}]", current.join(",")));
    }
    out
}

/// Splits an envelope whose recipient list would not fit in one payload.
fn split(envelope: Envelope) -> Vec<Envelope> {
    const RECIPIENTS_PER_ENVELOPE: usize = 400;
    match &envelope.to {
        Some(to) if to.len() > RECIPIENTS_PER_ENVELOPE => to
            .chunks(RECIPIENTS_PER_ENVELOPE)
            .map(|chunk| Envelope {
                to: Some(chunk.to_vec()),
                ..envelope.clone()
            })
            .collect(),
        _ => vec![envelope],
    }
}

/// Receives the other instances' events and delivers them here.
struct Listener {
    pool: Pool,
    local: Hub,
    presence: Presence,
    outbox: Outbox,
}

impl Listener {
    async fn run(self) {
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
    fn confirm_online(&self) {
        let users = self.presence.local_users();
        for chunk in users.chunks(USERS_PER_NOTICE) {
            self.outbox.send(
                None,
                Wire::Online {
                    users: chunk.to_vec(),
                },
            );
        }
    }

    async fn handle(&self, notification: &PgNotification) {
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
    async fn load_messages(&self, envelopes: &[Envelope]) -> HashMap<i64, Arc<Message>> {
        let ids: Vec<i64> = envelopes
            .iter()
            .filter_map(|envelope| match envelope.event {
                Wire::Message { id } => Some(id),
                _ => None,
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

    async fn deliver(
        &self,
        envelope: Envelope,
        messages: &HashMap<i64, Arc<Message>>,
    ) -> crate::error::Result<()> {
        let from = envelope.from;
        let event = match envelope.event {
            Wire::Message { id } => match messages.get(&id) {
                Some(message) => Event::MessagePosted(Arc::clone(message)),
                // Deleted since (an account went), or not loaded and resynced.
                None => return Ok(()),
            },
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
            },
            Wire::UserJoined { user } => match users::by_id(&self.pool, user).await? {
                Some(user) => Event::UserJoined(Arc::new(user)),
                None => return Ok(()),
            },
            Wire::UserLeft { user } => Event::UserLeft { user_id: user },
            Wire::GroupChanged { conversation } => Event::GroupChanged {
                conversation_id: conversation,
            },
            Wire::Hello => {
                self.confirm_online();
                return Ok(());
            }
            Wire::Online { users } => {
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

async fn connect(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // A lost connection ends the inner loop, which reconnects and resyncs.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(to: Option<Vec<i64>>, event: Wire) -> Envelope {
        Envelope {
            from: Arc::from("a"),
            to,
            event,
        }
    }

    #[test]
    fn payloads_stay_under_the_notify_limit_and_keep_every_envelope_in_order() {
        let many: Vec<Envelope> = (0..2000)
            .map(|id| envelope(Some(vec![1, 2]), Wire::Message { id }))
            .collect();
        let payloads = payloads(many.clone().into_iter());
        assert!(payloads.len() > 1);
        let mut back = Vec::new();
        for payload in &payloads {
            assert!(payload.len() <= PAYLOAD_BYTES, "{}", payload.len());
            back.extend(serde_json::from_str::<Vec<Envelope>>(payload).unwrap());
        }
        assert_eq!(back, many);
    }

    #[test]
    fn a_huge_recipient_list_is_split_across_payloads() {
        let everyone: Vec<i64> = (1_000_000..1_005_000).collect();
        let payloads = payloads(std::iter::once(envelope(
            Some(everyone.clone()),
            Wire::GroupChanged { conversation: 9 },
        )));
        let mut recipients = Vec::new();
        for payload in &payloads {
            assert!(payload.len() <= PAYLOAD_BYTES);
            for e in serde_json::from_str::<Vec<Envelope>>(payload).unwrap() {
                assert_eq!(e.event, Wire::GroupChanged { conversation: 9 });
                recipients.extend(e.to.unwrap());
            }
        }
        assert_eq!(recipients, everyone);
    }
}
