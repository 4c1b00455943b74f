//! The data Natter is about, apart from how it is stored, sent or shown:
//! typed ids, the stored records, the events pages learn of, and input that
//! checks itself on construction. Imports nothing above the error type and limits.

mod admin;
mod event;
mod ids;
mod input;
mod mentions;
mod mls;
mod records;
mod search;
mod tally;
mod zone;

pub use admin::{Invite, LogEntry, ManagedUser, Registration};
pub use event::{Event, SharedGroup, SharedRenders, SharedTally};
pub use ids::{ConversationId, DeviceId, MessageId, UserId};
pub use input::{
    is_bidi_control, is_valid_client_id, message_text, profile_line, Draft, GroupTitle,
    NewPassword, ReactionEmoji, Username,
};
pub use mentions::{mention_spans, mentioned_names};
pub use mls::{
    check_key_package, check_welcome, read_group_message, ClaimedKeyPackage, ContentKind, Device,
    GroupMessage, GroupRecord, MlsFramingError, PendingWelcome, Posted, RosterChange, WireFormat,
    CIPHER_SUITE,
};
pub use records::{
    resume_point, Attachment, AttachmentColumns, Contact, Conversation, InboxRow, Mention, Message,
    MessageKind, NewAttachment, NotifyLevel, Preview, Profile, QuoteColumns, Reaction, SessionInfo,
    SubscriptionInfo, User,
};
pub use search::{
    fold, is_spaceless_script, is_word_char, parse_day, words_of, ConversationName, SearchHit,
    SearchQuery, SearchResults, SearchTerm,
};
pub use tally::{GroupState, MemberTally, Shared, Tally};
pub use zone::Zone;
