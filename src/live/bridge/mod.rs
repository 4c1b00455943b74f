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
//!
//! `wire` is the format between instances, `listener` receives and delivers.

mod listener;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::mpsc;

use crate::config::Settings;
use crate::domain::UserId;
use crate::live::hub::{Event, Fanout, Hub, Subscription, Watching};
use crate::live::presence::Presence;
use crate::live::push::{PushSettings, Pushing};
use crate::store::{Db, Pool};
use crate::SharedHub;
use rocket::fairing::AdHoc;
use rocket_db_pools::Database;

use listener::Listener;
use wire::{payloads, Envelope, Wire};

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

/// Manages the hub the app publishes to: the in-process hub on SQLite, the
/// bridge on PostgreSQL, either with Web Push for new messages. Runs once
/// the database is attached.
pub(crate) fn stage(presence: Presence) -> AdHoc {
    AdHoc::on_ignite("Hub", |rocket| async {
        rocket.attach(AdHoc::on_ignite("Hub for the database", |rocket| async {
            let pool = Db::fetch(&rocket).map(|db| db.pool().clone());
            let hub: SharedHub = match pool.as_ref().and_then(Pool::postgres) {
                Some(pg) => Arc::new(PgBridge::start(pg.clone(), presence.clone())),
                None => Arc::new(Hub::new()),
            };
            let push = rocket.state::<Settings>().map(PushSettings::from_settings);
            let hub: SharedHub = match (pool, push) {
                (Some(pool), Some(push)) => {
                    Arc::new(Pushing::start(hub, pool, presence.clone(), push))
                }
                _ => hub,
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
    fn send(&self, to: Option<Vec<UserId>>, event: Wire) {
        let envelope = Envelope {
            from: Arc::clone(&self.instance),
            to,
            event,
            sent_ms: wire::now_ms(),
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = self.queue.try_send(envelope) {
            rocket::warn!("too many events waiting for the database; one was not shared");
        }
    }
}

/// The hub of an instance sharing a PostgreSQL database with others.
pub(crate) struct PgBridge {
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

    fn notify(&self, to: Option<&[UserId]>, event: &Event) {
        if let Some(event) = Wire::from_event(event) {
            self.outbox.send(to.map(<[UserId]>::to_vec), event);
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
    fn publish(&self, recipients: &[UserId], event: Event) {
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

    fn subscribe(&self, user_id: UserId, watching: Watching) -> Subscription {
        self.local.subscribe(user_id, watching)
    }

    fn share_visibility(&self, user_id: UserId, visible: bool) {
        self.outbox.send(
            None,
            Wire::Visible {
                user: user_id,
                visible,
            },
        );
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
