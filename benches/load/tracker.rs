//! The loss and duplicate tracker: what became of every chat message, as
//! each member's socket shows it (pushed live, seen in a resync, refused).
//! Conversations all have the same number of member sockets: two for the
//! pairs of the chat scenarios, every member for the group.

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::sockets::Activity;
use crate::{progress, TAG};

/// Marks a pushed message (an htmx out-of-band append to the live region).
const APPEND_MARKER: &str = r#"hx-swap-oob="beforeend:#live""#;
/// Marks messages that changed (edited, deleted), each drawn again whole.
const CHANGES_MARKER: &str = r#"hx-swap-oob="beforeend:#changes""#;

/// How a changed message was drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Drawn {
    Edited,
    Deleted,
}

/// What is known about every message, indexed by sequence number, and about
/// its copy on each member socket of its conversation, indexed by
/// `seq * members + socket % members`. Atomics, because every socket's
/// reader task records into the same tables.
pub(crate) struct Tracker {
    pub(crate) activity: Activity,
    /// Sockets per conversation: socket `s` is conversation `s / members`'s.
    members: usize,
    /// When the message was due to be sent, in ns since `activity.base` (0: not sent).
    pub(crate) due_ns: Vec<AtomicU64>,
    /// The sending socket + 1 (0: not sent).
    sender: Vec<AtomicU32>,
    /// Per copy: how often it was pushed live to that socket.
    copies: Vec<AtomicU8>,
    /// Per copy: when it was first pushed, ns since base.
    arrived_ns: Vec<AtomicU64>,
    /// Per copy: whether that socket saw it in a resync.
    resynced: Vec<AtomicBool>,
    pub(crate) refused: Vec<AtomicBool>,
    /// Per socket, the messages sent and not yet answered: the server answers
    /// every send frame, in order, with a fresh form or an error.
    pending: Vec<Mutex<VecDeque<usize>>>,
    pub(crate) refusal_samples: Mutex<Vec<String>>,
    pub(crate) misrouted: AtomicU64,
    /// How often each socket was shown each message (by id) edited or deleted.
    pub(crate) changes: Mutex<HashMap<(usize, i64, Drawn), usize>>,
}

fn atomics<T>(n: usize, make: impl Fn() -> T) -> Vec<T> {
    (0..n).map(|_| make()).collect()
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What became of one sent message, as its conversation's sockets saw it.
pub(crate) struct Fate {
    /// When it was due to be sent, ns since the tracker's base.
    pub(crate) due_ns: u64,
    pub(crate) refused: bool,
    /// Copies pushed live to the sender's own socket.
    pub(crate) to_sender: usize,
    /// When the first of them arrived (0: none did).
    pub(crate) echoed_ns: u64,
    /// When it was first pushed to each other member's socket that got it
    /// live, ns since the tracker's base.
    pub(crate) received_ns: Vec<u64>,
    /// Sockets of other members that never saw it, live or in a resync.
    pub(crate) missed_by_recipients: usize,
    /// The sender's page never showed it, live or in a resync.
    pub(crate) missed_by_sender: bool,
    /// Copies beyond the first, on any socket.
    pub(crate) duplicates: usize,
    /// Sockets that saw it in a resync only (they had fallen behind).
    pub(crate) resynced_only: usize,
}

impl Fate {
    /// Member sockets, the sender's included, that never saw it.
    pub(crate) fn lost(&self) -> usize {
        self.missed_by_recipients + usize::from(self.missed_by_sender)
    }
}

impl Tracker {
    /// What became of message `seq`; `None` if it was never sent.
    pub(crate) fn fate(&self, seq: usize) -> Option<Fate> {
        let due_ns = self.due_ns[seq].load(Ordering::Acquire);
        if due_ns == 0 {
            return None;
        }
        let sender = self.sender[seq].load(Ordering::Acquire) as usize;
        let sender_slot = sender.checked_sub(1).map(|s| s % self.members);
        let mut fate = Fate {
            due_ns,
            refused: self.refused[seq].load(Ordering::Acquire),
            to_sender: 0,
            echoed_ns: 0,
            received_ns: Vec::with_capacity(self.members.saturating_sub(1)),
            missed_by_recipients: 0,
            missed_by_sender: false,
            duplicates: 0,
            resynced_only: 0,
        };
        for slot in 0..self.members {
            let copy = seq * self.members + slot;
            let live = self.copies[copy].load(Ordering::Relaxed) as usize;
            let arrived = self.arrived_ns[copy].load(Ordering::Acquire);
            let resynced = self.resynced[copy].load(Ordering::Relaxed);
            let missed = live == 0 && !resynced;
            fate.duplicates += live.saturating_sub(1);
            fate.resynced_only += usize::from(live == 0 && resynced);
            if Some(slot) == sender_slot {
                fate.to_sender = live;
                fate.echoed_ns = arrived;
                fate.missed_by_sender = missed;
            } else {
                if live > 0 {
                    fate.received_ns.push(arrived);
                }
                fate.missed_by_recipients += usize::from(missed);
            }
        }
        Some(fate)
    }

    /// A tracker for `capacity` messages in conversations of `members`
    /// sockets each, `sockets` in all.
    pub(crate) fn new(capacity: usize, sockets: usize, members: usize) -> Tracker {
        let copies = capacity * members;
        Tracker {
            activity: Activity::new(),
            members,
            due_ns: atomics(capacity, || AtomicU64::new(0)),
            sender: atomics(capacity, || AtomicU32::new(0)),
            copies: atomics(copies, || AtomicU8::new(0)),
            arrived_ns: atomics(copies, || AtomicU64::new(0)),
            resynced: atomics(copies, || AtomicBool::new(false)),
            refused: atomics(capacity, || AtomicBool::new(false)),
            pending: atomics(sockets, || Mutex::new(VecDeque::new())),
            refusal_samples: Mutex::new(Vec::new()),
            misrouted: AtomicU64::new(0),
            changes: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.due_ns.len()
    }

    pub(crate) fn ns_of(&self, instant: Instant) -> u64 {
        instant
            .saturating_duration_since(self.activity.base)
            .as_nanos()
            .max(1) as u64
    }

    /// Records a message about to be written by `socket`.
    pub(crate) fn sending(&self, seq: usize, socket: usize, due: Instant) {
        self.sender[seq].store(socket as u32 + 1, Ordering::Release);
        self.due_ns[seq].store(self.ns_of(due), Ordering::Release);
        lock(&self.pending[socket]).push_back(seq);
    }

    /// Forgets a message whose frame could not be written.
    pub(crate) fn not_sent(&self, seq: usize, socket: usize) {
        self.due_ns[seq].store(0, Ordering::Release);
        let mut pending = lock(&self.pending[socket]);
        if pending.back() == Some(&seq) {
            pending.pop_back();
        }
    }

    /// Reads one frame that arrived on `socket`.
    pub(crate) fn on_frame(&self, socket: usize, text: &str) {
        let now = self.activity.saw_frame();
        // Changed messages come after the new ones (if any) in a frame.
        let (text, changed) = match text.find(CHANGES_MARKER) {
            Some(at) => (&text[..at], Some(&text[at..])),
            None => (text, None),
        };
        if let Some(changed) = changed {
            self.on_changes(socket, changed);
        }
        // The reply to one of this socket's sends: a fresh client id, or an error.
        if text.contains(r#"id="client-id""#) {
            lock(&self.pending[socket]).pop_front();
        } else if let Some(error) = composer_error(text) {
            if let Some(seq) = lock(&self.pending[socket]).pop_front() {
                self.refused[seq].store(true, Ordering::Release);
            }
            let mut samples = lock(&self.refusal_samples);
            if samples.len() < 5 && !samples.iter().any(|s| s == error) {
                samples.push(error.to_owned());
            }
        }
        let append = text.contains(APPEND_MARKER);
        // A resync replaces the live region or the whole list (the socket fell behind).
        let resync =
            !append && (text.contains(r#"id="live""#) || text.contains(r#"id="messages""#));
        if !append && !resync {
            return;
        }
        // Only bubbles count: an inbox row beside them previews the newest.
        let bubbles = text
            .split("<article ")
            .skip(1)
            .map(|bubble| &bubble[..bubble.find("</article>").unwrap_or(bubble.len())]);
        for seq in bubbles.flat_map(tags) {
            let Some(sender) = self.sender.get(seq).map(|s| s.load(Ordering::Acquire)) else {
                self.misrouted.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let sender = sender as usize;
            if sender == 0 || (sender - 1) / self.members != socket / self.members {
                self.misrouted.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let copy = seq * self.members + socket % self.members;
            if resync {
                self.resynced[copy].store(true, Ordering::Relaxed);
            } else if self.copies[copy].fetch_add(1, Ordering::Relaxed) == 0 {
                self.arrived_ns[copy].store(now, Ordering::Release);
            }
        }
    }

    /// Which member socket of conversation `conversation` (its place among
    /// them: a pair's side) sent message `seq`, if one did.
    pub(crate) fn side_of(&self, seq: usize, conversation: usize) -> Option<usize> {
        let sender = self.sender.get(seq)?.load(Ordering::Acquire) as usize;
        (sender != 0 && (sender - 1) / self.members == conversation)
            .then(|| (sender - 1) % self.members)
    }

    /// Records each message drawn again in a frame's changed part.
    fn on_changes(&self, socket: usize, changed: &str) {
        let mut changes = lock(&self.changes);
        for bubble in changed.split(r#"<article id="message-"#).skip(1) {
            let Some(id) = bubble.split('"').next().and_then(|id| id.parse().ok()) else {
                continue;
            };
            let drawn = if bubble.contains("This message was deleted") {
                Drawn::Deleted
            } else if bubble.contains(">edited</time>") {
                Drawn::Edited
            } else {
                continue;
            };
            *changes.entry((socket, id, drawn)).or_insert(0) += 1;
        }
    }

    /// Whether every message in `range` that the server accepted has reached
    /// every member socket of its conversation (and every send has been
    /// answered); and how many copies have arrived.
    pub(crate) fn complete(&self, range: Range<usize>) -> (bool, usize) {
        let mut arrived = 0;
        let mut complete = true;
        for seq in range {
            if self.due_ns[seq].load(Ordering::Acquire) == 0 {
                continue;
            }
            let copies = seq * self.members..(seq + 1) * self.members;
            let reached = copies
                .filter(|&copy| {
                    self.copies[copy].load(Ordering::Relaxed) > 0
                        || self.resynced[copy].load(Ordering::Relaxed)
                })
                .count();
            arrived += reached;
            complete &= reached == self.members || self.refused[seq].load(Ordering::Acquire);
        }
        let unanswered = self.pending.iter().any(|p| !lock(p).is_empty());
        (complete && !unanswered, arrived)
    }

    /// Waits until every message of `range` arrived everywhere, or until
    /// deliveries stop making progress; then a little longer, so a late
    /// duplicate would still be seen.
    pub(crate) async fn drain(&self, range: Range<usize>) {
        const STALLED: Duration = Duration::from_secs(5);
        const LIMIT: Duration = Duration::from_secs(120);
        let begun = Instant::now();
        let mut last_progress = Instant::now();
        let mut last_arrived = 0;
        loop {
            let (complete, arrived) = self.complete(range.clone());
            if complete {
                break;
            }
            if arrived != last_arrived {
                last_arrived = arrived;
                last_progress = Instant::now();
            }
            if last_progress.elapsed() > STALLED || begun.elapsed() > LIMIT {
                progress("deliveries stopped arriving; counting what is missing");
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Every `bench-<seq>` in a frame.
pub(crate) fn tags(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.match_indices(TAG).filter_map(move |(at, _)| {
        let digits = &text[at + TAG.len()..];
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        digits[..end].parse().ok()
    })
}

/// The text of a non-empty `#composer-error` in a frame.
fn composer_error(text: &str) -> Option<&str> {
    let at = text.find(r#"id="composer-error""#)?;
    let rest = &text[at..];
    let open = rest.find('>')? + 1;
    let close = rest[open..].find('<')? + open;
    let message = rest[open..close].trim();
    (!message.is_empty()).then_some(message)
}
