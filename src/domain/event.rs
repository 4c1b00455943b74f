//! What happened that open pages must learn about.

use std::sync::{Arc, Mutex, PoisonError};

use time::OffsetDateTime;

use super::{ConversationId, GroupState, Message, MessageId, Shared, Tally, User, UserId};

/// The conversation's tally after the event, shared by the pages it reaches
/// (`None` when the conversation is gone).
pub type SharedTally = Shared<Option<Tally>>;

/// The group after a change, shared by the pages it reaches (`None` when
/// the group is gone).
pub type SharedGroup = Shared<Option<GroupState>>;

/// Fragments drawn for an event, shared by the pages it reaches: pages that
/// would draw the same thing (a group's members in one time zone, say) draw
/// it once. Each is kept under a key saying everything it depends on.
#[derive(Debug, Clone, Default)]
pub struct SharedRenders(Arc<Mutex<Vec<Drawn>>>);

/// A fragment and the key it was drawn under.
type Drawn = (String, Arc<str>);

impl SharedRenders {
    /// The fragment drawn under `key`, drawing it with `render` if no page
    /// has yet. Drawing happens outside the lock: two pages may both draw
    /// it at once, and either result is the same.
    pub fn get_or_render(&self, key: &str, render: impl FnOnce() -> String) -> Arc<str> {
        let found = |drawn: &[Drawn]| {
            drawn
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, fragment)| Arc::clone(fragment))
        };
        if let Some(fragment) = found(&self.0.lock().unwrap_or_else(PoisonError::into_inner)) {
            return fragment;
        }
        let fragment: Arc<str> = render().into();
        let mut drawn = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(earlier) = found(&drawn) {
            return earlier;
        }
        drawn.push((key.to_owned(), Arc::clone(&fragment)));
        fragment
    }
}

/// Something that happened which open pages must learn about.
#[derive(Debug, Clone)]
pub enum Event {
    /// A message was committed; members' sockets render and show it, and
    /// the others' badges follow.
    MessagePosted {
        message: Arc<Message>,
        tally: SharedTally,
        bubbles: SharedRenders,
    },
    /// A message was edited, deleted or reacted to, as change `seq` of its
    /// conversation: members' pages replace its bubble, and those of the
    /// replies quoting it (each in its state now, which may be newer still).
    /// `messages` is never empty and all are of one conversation.
    MessageChanged {
        seq: i64,
        messages: Arc<[Message]>,
        tally: SharedTally,
    },
    /// A session ended (logout): its sockets close.
    SessionEnded { token_hash: Arc<str> },
    /// A user came online or went offline.
    PresenceChanged {
        user_id: UserId,
        online: bool,
        last_seen: Option<OffsetDateTime>,
    },
    /// A member is typing in a conversation (never stored).
    Typing {
        conversation_id: ConversationId,
        user_id: UserId,
        username: Arc<str>,
    },
    /// A member's read position in a conversation moved forward, to `up_to`:
    /// the sender's receipt and the reader's other tabs follow.
    Read {
        conversation_id: ConversationId,
        reader_id: UserId,
        up_to: MessageId,
        tally: SharedTally,
    },
    /// Somebody signed up.
    UserJoined(Arc<User>),
    /// Somebody deleted their account.
    UserLeft { user_id: UserId },
    /// Somebody changed their display name, status or avatar.
    ProfileChanged(Arc<User>),
    /// A group's members or name changed.
    GroupChanged {
        conversation_id: ConversationId,
        group: SharedGroup,
    },
    /// Events may have been missed (the link between instances was down):
    /// every page catches up from the database.
    Resync,
}

#[cfg(test)]
mod tests {
    use super::SharedRenders;
    use std::cell::Cell;

    #[test]
    fn a_fragment_is_drawn_once_per_key_and_shared() {
        let renders = SharedRenders::default();
        let drawn = Cell::new(0);
        let draw = |text: &'static str| {
            drawn.set(drawn.get() + 1);
            text.to_owned()
        };
        let first = renders.get_or_render("theirs utc", || draw("a"));
        let again = renders.get_or_render("theirs utc", || draw("b"));
        let mine = renders.clone().get_or_render("mine utc", || draw("c"));
        assert_eq!((&*first, &*again, &*mine), ("a", "a", "c"));
        assert_eq!(
            drawn.get(),
            2,
            "drawn once per key, by whichever page came first"
        );
    }
}
