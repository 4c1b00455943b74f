//! The data Natter is about, apart from how it is stored, sent or shown:
//! typed ids, the stored records, the events pages learn of, and input that
//! checks itself on construction. Imports nothing above the error type and limits.

mod event;
mod ids;
mod input;
mod records;
mod tally;
mod zone;

pub use event::{Event, SharedGroup, SharedTally};
pub use ids::{ConversationId, MessageId, UserId};
pub use input::{Draft, GroupTitle, NewPassword, Username};
pub use records::{
    Attachment, AttachmentColumns, Contact, Conversation, InboxRow, Message, MessageKind,
    NewAttachment, Preview, SessionInfo, User,
};
pub use tally::{GroupState, MemberTally, Shared, Tally};
pub use zone::Zone;
