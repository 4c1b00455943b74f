//! The loss and duplicate tracker: what became of every chat message, as
//! each socket's frames show it (pushed live, seen in a resync, refused).

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use crate::sockets::Activity;
use crate::TAG;

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

/// What is known about every message, indexed by sequence number. Atomics,
/// because every socket's reader task records into the same tables.
pub(crate) struct Tracker {
    pub(crate) activity: Activity,
    /// When the message was due to be sent, in ns since `activity.base` (0: not sent).
    pub(crate) due_ns: Vec<AtomicU64>,
    /// `pair * 2 + side + 1` of the sending socket (0: not sent).
    sender: Vec<AtomicU32>,
    to_recipient: Vec<AtomicU8>,
    to_sender: Vec<AtomicU8>,
    /// When it first reached the recipient's socket, ns since base.
    pub(crate) received_ns: Vec<AtomicU64>,
    /// When it first came back to the sender's own socket, ns since base.
    pub(crate) echoed_ns: Vec<AtomicU64>,
    /// Bit 0: seen by the recipient in a resync; bit 1: by the sender.
    resynced: Vec<AtomicU8>,
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

/// What became of one sent message, as its sockets saw it.
pub(crate) struct Fate {
    /// When it was due to be sent, ns since the tracker's base.
    pub(crate) due_ns: u64,
    /// Copies pushed live to the recipient's and to the sender's socket.
    pub(crate) to_recipient: usize,
    pub(crate) to_sender: usize,
    /// Bit 0: seen by the recipient in a resync; bit 1: by the sender.
    pub(crate) resynced: u8,
    pub(crate) refused: bool,
}

impl Fate {
    /// Copies beyond the first, on either socket.
    pub(crate) fn duplicates(&self) -> usize {
        self.to_recipient.saturating_sub(1) + self.to_sender.saturating_sub(1)
    }

    /// The recipient never saw it, live or in a resync.
    pub(crate) fn lost_to_recipient(&self) -> bool {
        self.to_recipient == 0 && self.resynced & 1 == 0
    }

    /// The sender's page never showed it, live or in a resync.
    pub(crate) fn lost_to_sender(&self) -> bool {
        self.to_sender == 0 && self.resynced & 2 == 0
    }
}

impl Tracker {
    /// What became of message `seq`; `None` if it was never sent.
    pub(crate) fn fate(&self, seq: usize) -> Option<Fate> {
        let due_ns = self.due_ns[seq].load(Ordering::Acquire);
        (due_ns != 0).then(|| Fate {
            due_ns,
            to_recipient: self.to_recipient[seq].load(Ordering::Relaxed) as usize,
            to_sender: self.to_sender[seq].load(Ordering::Relaxed) as usize,
            resynced: self.resynced[seq].load(Ordering::Relaxed),
            refused: self.refused[seq].load(Ordering::Acquire),
        })
    }

    pub(crate) fn new(capacity: usize, sockets: usize) -> Tracker {
        Tracker {
            activity: Activity::new(),
            due_ns: atomics(capacity, || AtomicU64::new(0)),
            sender: atomics(capacity, || AtomicU32::new(0)),
            to_recipient: atomics(capacity, || AtomicU8::new(0)),
            to_sender: atomics(capacity, || AtomicU8::new(0)),
            received_ns: atomics(capacity, || AtomicU64::new(0)),
            echoed_ns: atomics(capacity, || AtomicU64::new(0)),
            resynced: atomics(capacity, || AtomicU8::new(0)),
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

    /// Records a message about to be written by `socket` (pair * 2 + side).
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
            if sender == 0 || (sender - 1) / 2 != socket / 2 {
                self.misrouted.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let mine = sender - 1 == socket;
            if resync {
                self.resynced[seq].fetch_or(if mine { 2 } else { 1 }, Ordering::Relaxed);
            } else if mine {
                if self.to_sender[seq].fetch_add(1, Ordering::Relaxed) == 0 {
                    self.echoed_ns[seq].store(now, Ordering::Release);
                }
            } else if self.to_recipient[seq].fetch_add(1, Ordering::Relaxed) == 0 {
                self.received_ns[seq].store(now, Ordering::Release);
            }
        }
    }

    /// Which side of pair `pair` sent message `seq`, if it did.
    pub(crate) fn side_of(&self, seq: usize, pair: usize) -> Option<usize> {
        let sender = self.sender.get(seq)?.load(Ordering::Acquire) as usize;
        (sender != 0 && (sender - 1) / 2 == pair).then(|| (sender - 1) % 2)
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
    /// both members' sockets (and every send has been answered).
    pub(crate) fn complete(&self, range: Range<usize>) -> (bool, usize) {
        let mut arrived = 0;
        let mut complete = true;
        for seq in range {
            if self.due_ns[seq].load(Ordering::Acquire) == 0 {
                continue;
            }
            let resynced = self.resynced[seq].load(Ordering::Relaxed);
            let at_recipient =
                self.to_recipient[seq].load(Ordering::Relaxed) > 0 || resynced & 1 != 0;
            let at_sender = self.to_sender[seq].load(Ordering::Relaxed) > 0 || resynced & 2 != 0;
            arrived += usize::from(at_recipient) + usize::from(at_sender);
            let settled = (at_recipient && at_sender) || self.refused[seq].load(Ordering::Acquire);
            complete &= settled;
        }
        let unanswered = self.pending.iter().any(|p| !lock(p).is_empty());
        (complete && !unanswered, arrived)
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
