//! Web Push: a new message reaches the members who have no page in view,
//! through their browsers' push services, even with the browser closed.
//!
//! `Pushing` wraps the hub: every message published from this instance
//! (each message is published once, by the instance that saved it, so a
//! user is pushed once whichever instances hold their sockets) is queued,
//! bounded, off the message path. A worker takes the queue in batches, asks
//! presence (shared between instances) who has no page in view, loads those
//! members' subscriptions and notify levels in one query, and sends each
//! push on its own task (`delivery`), so a slow push service holds nothing
//! else up.

mod delivery;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore};

pub(crate) use delivery::{check_endpoint, public_key};
use delivery::{Courier, VapidKeys};

use crate::config::Settings;
use crate::domain::{ConversationId, Message, NotifyLevel, Preview, UserId};
use crate::limits::{PUSH_BATCH, PUSH_CONCURRENCY, PUSH_PENDING, PUSH_QUEUE};
use crate::live::hub::{Event, Fanout, Subscription, Watching};
use crate::live::presence::Presence;
use crate::store::push::{self, Target};
use crate::store::Pool;
use crate::SharedHub;

/// A message to push, and the members it may be pushed to.
struct Job {
    message: Arc<Message>,
    members: Vec<UserId>,
}

/// The hub, with every new message also queued for Web Push.
pub(crate) struct Pushing {
    inner: SharedHub,
    queue: mpsc::Sender<Job>,
}

/// How push notifications are written, signed and sent.
#[derive(Clone)]
pub(crate) struct PushSettings {
    /// Whether a notification shows the start of the message.
    pub previews: bool,
    /// The VAPID `sub`: whom push services may contact.
    pub contact: String,
    /// Whether endpoints on local addresses are allowed (tests).
    pub local_endpoints: bool,
    /// How long an unused session lives: one unused longer is not pushed.
    pub session_idle: time::Duration,
}

impl PushSettings {
    /// From the configuration. The VAPID contact is `push_contact`, else
    /// `site` when it is on https; Apple's push service refuses a push
    /// without a real one, so its absence is logged.
    pub fn from_settings(settings: &Settings) -> PushSettings {
        let https_site = settings
            .site
            .clone()
            .filter(|site| site.starts_with("https://"));
        let contact = settings.push_contact.clone().or(https_site);
        if contact.is_none() {
            rocket::info!(
                "push_contact is not set (nor site on https): Safari's push service refuses pushes without one"
            );
        }
        PushSettings {
            previews: settings.push_previews,
            contact: contact.unwrap_or_else(|| "mailto:natter@localhost".to_owned()),
            local_endpoints: settings.push_local_endpoints,
            session_idle: time::Duration::hours(settings.session_idle_hours),
        }
    }
}

impl Pushing {
    /// Wraps `inner` and starts the worker that pushes.
    pub fn start(inner: SharedHub, pool: Pool, presence: Presence, settings: PushSettings) -> Self {
        let (queue, jobs) = mpsc::channel(PUSH_QUEUE);
        let worker = Worker {
            pool,
            presence,
            settings,
            courier: None,
            pending: Arc::new(Semaphore::new(PUSH_PENDING)),
        };
        tokio::spawn(worker.run(jobs));
        Pushing { inner, queue }
    }
}

impl Fanout for Pushing {
    fn publish(&self, recipients: &[UserId], event: Event) {
        if let Event::MessagePosted { message, .. } = &event {
            if !message.note {
                let job = Job {
                    message: Arc::clone(message),
                    members: recipients.to_vec(),
                };
                if let Err(mpsc::error::TrySendError::Full(_)) = self.queue.try_send(job) {
                    rocket::warn!("too many messages waiting to be pushed; one was not pushed");
                }
            }
        }
        self.inner.publish(recipients, event);
    }

    fn broadcast(&self, event: Event) {
        self.inner.broadcast(event);
    }

    fn subscribe(&self, user_id: UserId, watching: Watching) -> Subscription {
        self.inner.subscribe(user_id, watching)
    }

    fn share_visibility(&self, user_id: UserId, visible: bool) {
        self.inner.share_visibility(user_id, visible);
    }
}

struct Worker {
    pool: Pool,
    presence: Presence,
    settings: PushSettings,
    /// Made when first needed (the keys come from the database).
    courier: Option<Arc<Courier>>,
    /// Push tasks waiting or sending, bounded: when they are all taken the
    /// worker waits, and so the queue fills and sheds instead of memory.
    pending: Arc<Semaphore>,
}

impl Worker {
    async fn run(mut self, mut jobs: mpsc::Receiver<Job>) {
        // The key pair is made on first start, so that pages subscribe with
        // the key the server keeps (if the database cannot be reached yet,
        // the first page or push that needs it makes it).
        if let Err(e) = VapidKeys::load(&self.pool).await {
            rocket::warn!("the push key could not be made yet: {e}");
        }
        let mut batch = Vec::with_capacity(PUSH_BATCH);
        while jobs.recv_many(&mut batch, PUSH_BATCH).await > 0 {
            crate::metrics::push_queue(jobs.len());
            if let Err(e) = self.push_batch(batch.drain(..)).await {
                rocket::warn!("could not push new messages: {e}");
            }
        }
    }

    async fn push_batch(&mut self, batch: impl Iterator<Item = Job>) -> crate::error::Result<()> {
        // Who may be pushed about each message: members other than its
        // sender with no page in view anywhere, as of now.
        let away: Vec<(Arc<Message>, HashSet<UserId>)> = batch
            .map(|job| {
                let sender = job.message.sender_id;
                let away = job
                    .members
                    .into_iter()
                    .filter(|user| *user != sender && !self.presence.visible_anywhere(*user))
                    .collect::<HashSet<_>>();
                (job.message, away)
            })
            .filter(|(_, away)| !away.is_empty())
            .collect();
        if away.is_empty() {
            return Ok(());
        }
        let conversations: Vec<ConversationId> = away
            .iter()
            .map(|(m, _)| m.conversation_id)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let users: Vec<UserId> = away
            .iter()
            .flat_map(|(_, users)| users.iter().copied())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let used_since = crate::store::now() - self.settings.session_idle;
        let targets = push::targets(&self.pool, &conversations, &users, used_since).await?;
        if targets.is_empty() {
            return Ok(());
        }
        let courier = match &self.courier {
            Some(courier) => Arc::clone(courier),
            None => {
                let courier = Arc::new(Courier {
                    client: delivery::client(self.settings.local_endpoints),
                    pool: self.pool.clone(),
                    keys: VapidKeys::load(&self.pool).await?,
                    contact: self.settings.contact.clone(),
                    local: self.settings.local_endpoints,
                    sending: Semaphore::new(PUSH_CONCURRENCY),
                });
                self.courier = Some(Arc::clone(&courier));
                courier
            }
        };
        let mut by_conversation: HashMap<ConversationId, Vec<&Target>> = HashMap::new();
        for target in &targets {
            by_conversation
                .entry(target.conversation_id)
                .or_default()
                .push(target);
        }
        for (message, away) in &away {
            for target in by_conversation
                .get(&message.conversation_id)
                .into_iter()
                .flatten()
            {
                let user = target.subscription.user_id;
                if !away.contains(&user) || !wants(target, message) {
                    continue;
                }
                let payload = notification(message, target, self.settings.previews);
                let Ok(pending) = Arc::clone(&self.pending).acquire_owned().await else {
                    return Ok(());
                };
                tokio::spawn(delivery::send(
                    Arc::clone(&courier),
                    target.subscription.clone(),
                    payload,
                    pending,
                ));
            }
        }
        Ok(())
    }
}

/// Whether the member of `target` wants to be told about `message`.
fn wants(target: &Target, message: &Message) -> bool {
    match NotifyLevel::parse(&target.notify) {
        Some(NotifyLevel::All) => true,
        Some(NotifyLevel::Mentions) => message
            .mentions
            .iter()
            .any(|m| m.user_id == target.subscription.user_id),
        Some(NotifyLevel::None) | None => false,
    }
}

/// What the service worker shows: a title, a line, where a click goes and
/// a tag (one per message, shared with the page's own notification of it). Nothing else of the message leaves the server; without
/// previews not even its text.
fn notification(message: &Message, target: &Target, previews: bool) -> Vec<u8> {
    let preview = Preview::of(message);
    let sender = if message.sender_display.is_empty() {
        &message.sender_name
    } else {
        &message.sender_display
    };
    // A secret conversation's text is not the server's to know.
    let text = if !previews || message.ciphertext.is_some() {
        format!("New message from {sender}")
    } else {
        let text = preview.text.lines().next().unwrap_or_default();
        match (&target.group_title, preview.file) {
            (Some(_), true) => format!("{sender}: 📎 {text}"),
            (Some(_), false) => format!("{sender}: {text}"),
            (None, true) => format!("📎 {text}"),
            (None, false) => text.to_owned(),
        }
    };
    let title = target.group_title.as_deref().unwrap_or(sender);
    serde_json::json!({
        "title": title,
        "body": text,
        "url": format!("/conversations/{}", message.conversation_id),
        // The page's own notification of this message has the same tag:
        // one replaces the other (a hidden tab shows one, and is pushed).
        "tag": format!("conversation-{}-{}", message.conversation_id, message.seq),
    })
    .to_string()
    .into_bytes()
}
