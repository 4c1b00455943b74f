//! Sending and reading: the one path every message takes, from a socket
//! frame or a plain form post (validate, save in one transaction, then
//! publish to the members' sockets), and read marks.

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::limits::{CLIENT_ID_MAX_CHARS, MESSAGE_MAX_CHARS};
use crate::live::hub::{Event, Fanout};
use crate::store::conversations;
use crate::store::messages::{Message, NewAttachment, Saved};
use crate::store::writer::Writer;

/// A message as typed, checked and ready to save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    body: String,
    client_id: String,
}

impl Draft {
    /// Checks a raw body and client id. The body is trimmed and its line
    /// endings normalised; it must be non-empty and within the length limit.
    pub fn parse(body: Option<&str>, client_id: Option<&str>) -> Result<Draft> {
        let body = body.unwrap_or_default().replace("\r\n", "\n");
        let body = body.trim();
        if body.is_empty() {
            return Err(Error::Invalid("Type a message first.".into()));
        }
        if body.chars().count() > MESSAGE_MAX_CHARS {
            return Err(Error::Invalid(format!(
                "Messages can be at most {MESSAGE_MAX_CHARS} characters long."
            )));
        }
        if body.chars().any(is_forbidden_control) {
            return Err(Error::Invalid(
                "Messages cannot contain control characters (only line breaks and tabs).".into(),
            ));
        }
        let client_id = client_id.unwrap_or_default();
        if !is_valid_client_id(client_id) {
            return Err(Error::Invalid(
                "This page is out of date. Reload it and send again.".into(),
            ));
        }
        Ok(Draft {
            body: body.to_owned(),
            client_id: client_id.to_owned(),
        })
    }

    pub fn body(&self) -> &str {
        &self.body
    }

    /// A file's caption: like `parse`, but an empty caption becomes `fallback`
    /// (the file's name).
    pub fn caption(body: Option<&str>, client_id: Option<&str>, fallback: &str) -> Result<Draft> {
        let body = body
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .unwrap_or(fallback);
        Draft::parse(Some(body), client_id)
    }
}

/// Control characters a message may not carry: everything but line breaks
/// and tabs (a BEL or ESC in a message is a terminal attack, never text).
fn is_forbidden_control(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

fn is_valid_client_id(id: &str) -> bool {
    (1..=CLIENT_ID_MAX_CHARS).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

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
    sender_id: i64,
    conversation_id: i64,
    draft: &Draft,
) -> Result<Sent> {
    send_with(writer, hub, sender_id, conversation_id, draft, None, None).await
}

/// Like `send`, with a file attached (already stored), and the members if
/// the caller knows them.
pub async fn send_with(
    writer: &Writer,
    hub: &dyn Fanout,
    sender_id: i64,
    conversation_id: i64,
    draft: &Draft,
    attachment: Option<NewAttachment>,
    members: Option<&[i64]>,
) -> Result<Sent> {
    let mut client_id = draft.client_id.clone();
    for _ in 0..2 {
        match writer
            .save_with(
                conversation_id,
                sender_id,
                &draft.body,
                &client_id,
                attachment.clone(),
            )
            .await?
        {
            Saved::Created(message) => {
                let members = members_of(writer, conversation_id, members).await?;
                hub.publish(
                    &members,
                    Event::MessagePosted(std::sync::Arc::new(message.clone())),
                );
                return Ok(Sent::New(message));
            }
            Saved::Duplicate(message) => return Ok(Sent::Replayed(message)),
            Saved::ClientIdReused => client_id = derived_client_id(&client_id, &draft.body),
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
    conversation_id: i64,
    reader_id: i64,
    up_to: Option<i64>,
    members: Option<&[i64]>,
) -> Result<()> {
    if let Some(up_to) = writer.mark_read(conversation_id, reader_id, up_to).await? {
        let members = members_of(writer, conversation_id, members).await?;
        hub.publish(
            &members,
            Event::Read {
                conversation_id,
                reader_id,
                up_to,
            },
        );
    }
    Ok(())
}

/// The members of a conversation: as the caller knows them (a direct
/// conversation's two never change), or from the database.
async fn members_of<'a>(
    writer: &Writer,
    conversation_id: i64,
    known: Option<&'a [i64]>,
) -> Result<std::borrow::Cow<'a, [i64]>> {
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
