//! Sending and reading: the one path every message takes, from a socket
//! frame or a plain form post (validate, save in one transaction, then
//! publish to the members' sockets), and read marks.

use sha2::{Digest, Sha256};

use crate::domain::{ConversationId, Draft, MessageId, SharedTally, UserId};
use crate::error::{Error, Result};
use crate::live::hub::{Event, Fanout};
use crate::store::conversations;
use crate::store::messages::{Message, NewAttachment, Saved};
use crate::store::writer::Writer;

/// A client id for a different body sent under an id already used (the page
/// sent twice before its form was reset). Derived, not random, so a replay of
/// that same send is still stored once.
fn derived_client_id(client_id: &str, body: &str) -> String {
    let digest = Sha256::digest(format!("{client_id}\n{body}").as_bytes());
    hex::encode(&digest[..16])
}

/// What sending did.
#[derive(Debug, Clone)]
pub enum Sent {
    /// Saved now, and published to every member.
    New(Message),
    /// Saved before (a replay); nothing was published again.
    Replayed(Message),
}

/// Saves a draft in a conversation the sender belongs to, then publishes it.
/// Returns `NotFound` when the sender is not a member.
pub async fn send(
    writer: &Writer,
    hub: &dyn Fanout,
    sender_id: UserId,
    conversation_id: ConversationId,
    draft: &Draft,
) -> Result<Sent> {
    send_with(writer, hub, sender_id, conversation_id, draft, None, None).await
}

/// Like `send`, with a file attached (already stored), and the members if
/// the caller knows them.
pub async fn send_with(
    writer: &Writer,
    hub: &dyn Fanout,
    sender_id: UserId,
    conversation_id: ConversationId,
    draft: &Draft,
    attachment: Option<NewAttachment>,
    members: Option<&[UserId]>,
) -> Result<Sent> {
    let mut client_id = draft.client_id().to_owned();
    for _ in 0..2 {
        match writer
            .save_with(
                conversation_id,
                sender_id,
                draft.body(),
                &client_id,
                attachment.clone(),
                draft.reply_to(),
            )
            .await?
        {
            Saved::Created(message) => {
                let members = members_of(writer, conversation_id, members).await?;
                hub.publish(
                    &members,
                    Event::MessagePosted {
                        message: std::sync::Arc::new(message.clone()),
                        tally: SharedTally::default(),
                        bubbles: Default::default(),
                    },
                );
                return Ok(Sent::New(message));
            }
            Saved::Duplicate(message) => return Ok(Sent::Replayed(message)),
            Saved::ClientIdReused => client_id = derived_client_id(&client_id, draft.body()),
        }
    }
    Err(Error::Invalid(
        "This message could not be sent. Reload the page and send again.".into(),
    ))
}

/// Marks a conversation read by `reader` up to `up_to` (or its newest
/// message) and, if that moved anything, tells the members' pages, so the
/// sender sees "Seen" and the reader's other tabs clear their badge.
pub async fn mark_read(
    writer: &Writer,
    hub: &dyn Fanout,
    conversation_id: ConversationId,
    reader_id: UserId,
    up_to: Option<MessageId>,
    members: Option<&[UserId]>,
) -> Result<()> {
    if let Some(up_to) = writer.mark_read(conversation_id, reader_id, up_to).await? {
        let members = members_of(writer, conversation_id, members).await?;
        hub.publish(
            &members,
            Event::Read {
                conversation_id,
                reader_id,
                up_to,
                tally: SharedTally::default(),
            },
        );
    }
    Ok(())
}

/// The members of a conversation: as the caller knows them (a direct
/// conversation's two never change), or from the database.
async fn members_of<'a>(
    writer: &Writer,
    conversation_id: ConversationId,
    known: Option<&'a [UserId]>,
) -> Result<std::borrow::Cow<'a, [UserId]>> {
    Ok(match known {
        Some(members) => members.into(),
        None => conversations::member_ids(writer.pool(), conversation_id)
            .await?
            .into(),
    })
}

/// A fresh client id for a newly rendered message form.
pub fn new_client_id() -> String {
    crate::auth::random_token()[..32].to_owned()
}
