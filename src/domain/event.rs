//! What happened that open pages must learn about.

use std::sync::Arc;

use time::OffsetDateTime;

use super::{ConversationId, GroupState, Message, MessageId, Shared, Tally, User, UserId};

/// The conversation's tally after the event, shared by the pages it reaches
/// (`None` when the conversation is gone).
pub type SharedTally = Shared<Option<Tally>>;

/// The group after a change, shared by the pages it reaches (`None` when
/// the group is gone).
pub type SharedGroup = Shared<Option<GroupState>>;

/// Something that happened which open pages must learn about.
#[derive(Debug, Clone)]
pub enum Event {
    /// A message was committed; members' sockets render and show it, and
    /// the others' badges follow.
    MessagePosted {
        message: Arc<Message>,
        tally: SharedTally,
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
