//! The format events travel in between instances: small JSON envelopes of
//! ids (never a message body or rendered HTML), packed into NOTIFY payloads.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::domain::{ConversationId, MessageId, UserId};
use crate::live::hub::Event;

use super::PAYLOAD_BYTES;

/// One event as it travels between instances: who sent it, to whom, what.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct Envelope {
    pub(super) from: Arc<str>,
    /// Recipients; absent for an event addressed to everyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) to: Option<Vec<UserId>>,
    pub(super) event: Wire,
    /// When it was published, in milliseconds since the epoch: the
    /// receiver measures how late it arrives (0 when not said).
    #[serde(default)]
    pub(super) sent_ms: i64,
}

/// Now, in milliseconds since the epoch.
pub(super) fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// An event in its smallest form: ids, loaded again by the receiver.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(super) enum Wire {
    Message {
        id: MessageId,
    },
    /// Change `seq` of a conversation changed these messages.
    Changed {
        ids: Vec<MessageId>,
        seq: i64,
    },
    SessionEnded {
        token_hash: String,
    },
    Presence {
        user: UserId,
        online: bool,
        last_seen: Option<i64>,
    },
    Typing {
        conversation: ConversationId,
        user: UserId,
        username: String,
    },
    Read {
        conversation: ConversationId,
        reader: UserId,
        up_to: MessageId,
    },
    UserJoined {
        user: UserId,
    },
    UserLeft {
        user: UserId,
    },
    ProfileChanged {
        user: UserId,
    },
    GroupChanged {
        conversation: ConversationId,
    },
    /// A listener (re)connected and asks who is online where.
    Hello,
    /// Users online on the sending instance (a reply to `Hello`, and the
    /// heartbeat), and those of them with a page in view.
    Online {
        users: Vec<UserId>,
        #[serde(default)]
        visible: Vec<UserId>,
    },
    /// A user's pages on the sending instance came into view, or all left it.
    Visible {
        user: UserId,
        visible: bool,
    },
}

impl Wire {
    pub(super) fn from_event(event: &Event) -> Option<Wire> {
        Some(match event {
            Event::MessagePosted { message, .. } => Wire::Message { id: message.id },
            Event::MessageChanged { seq, messages, .. } => Wire::Changed {
                ids: messages.iter().map(|m| m.id).collect(),
                seq: *seq,
            },
            Event::SessionEnded { token_hash } => Wire::SessionEnded {
                token_hash: token_hash.to_string(),
            },
            Event::PresenceChanged {
                user_id,
                online,
                last_seen,
            } => Wire::Presence {
                user: *user_id,
                online: *online,
                last_seen: last_seen.map(OffsetDateTime::unix_timestamp),
            },
            Event::Typing {
                conversation_id,
                user_id,
                username,
            } => Wire::Typing {
                conversation: *conversation_id,
                user: *user_id,
                username: username.to_string(),
            },
            Event::Read {
                conversation_id,
                reader_id,
                up_to,
                ..
            } => Wire::Read {
                conversation: *conversation_id,
                reader: *reader_id,
                up_to: *up_to,
            },
            Event::UserJoined(user) => Wire::UserJoined { user: user.id },
            Event::UserLeft { user_id } => Wire::UserLeft { user: *user_id },
            Event::ProfileChanged(user) => Wire::ProfileChanged { user: user.id },
            Event::GroupChanged {
                conversation_id, ..
            } => Wire::GroupChanged {
                conversation: *conversation_id,
            },
            // Local housekeeping: each instance resyncs its own pages.
            Event::Resync => return None,
        })
    }
}

/// JSON arrays of envelopes, each within the NOTIFY payload limit. An
/// envelope too big on its own (a huge recipient list) is split by recipients.
pub(super) fn payloads(envelopes: impl Iterator<Item = Envelope>) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut size = 2;
    for envelope in envelopes.flat_map(split) {
        let Ok(json) = serde_json::to_string(&envelope) else {
            continue;
        };
        if size + json.len() + 1 > PAYLOAD_BYTES && !current.is_empty() {
            out.push(format!("[{}]", current.join(",")));
            current.clear();
            size = 2;
        }
        size += json.len() + 1;
        current.push(json);
    }
    if !current.is_empty() {
        out.push(format!("[{}]", current.join(",")));
    }
    out
}

/// Splits an envelope whose recipient list would not fit in one payload.
pub(super) fn split(envelope: Envelope) -> Vec<Envelope> {
    const RECIPIENTS_PER_ENVELOPE: usize = 400;
    match &envelope.to {
        Some(to) if to.len() > RECIPIENTS_PER_ENVELOPE => to
            .chunks(RECIPIENTS_PER_ENVELOPE)
            .map(|chunk| Envelope {
                to: Some(chunk.to_vec()),
                ..envelope.clone()
            })
            .collect(),
        _ => vec![envelope],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(to: Option<Vec<UserId>>, event: Wire) -> Envelope {
        Envelope {
            from: Arc::from("a"),
            to,
            event,
            sent_ms: 0,
        }
    }

    fn users(ids: impl IntoIterator<Item = i64>) -> Vec<UserId> {
        ids.into_iter().map(UserId::new).collect()
    }

    #[test]
    fn ids_travel_as_plain_numbers() {
        let read = envelope(
            Some(users([1, 2])),
            Wire::Read {
                conversation: ConversationId::new(3),
                reader: UserId::new(1),
                up_to: MessageId::new(9),
            },
        );
        let json = r#"{"from":"a","to":[1,2],"event":{"kind":"read","conversation":3,"reader":1,"up_to":9},"sent_ms":0}"#;
        assert_eq!(serde_json::to_string(&read).unwrap(), json);
        assert_eq!(serde_json::from_str::<Envelope>(json).unwrap(), read);
        // From an instance that does not say when it sent it (an older one,
        // during an upgrade).
        let unstamped = r#"{"from":"a","to":[1,2],"event":{"kind":"read","conversation":3,"reader":1,"up_to":9}}"#;
        assert_eq!(serde_json::from_str::<Envelope>(unstamped).unwrap(), read);
    }

    #[test]
    fn payloads_stay_under_the_notify_limit_and_keep_every_envelope_in_order() {
        let many: Vec<Envelope> = (0..2000)
            .map(|id| {
                let id = MessageId::new(id);
                envelope(Some(users([1, 2])), Wire::Message { id })
            })
            .collect();
        let payloads = payloads(many.clone().into_iter());
        assert!(payloads.len() > 1);
        let mut back = Vec::new();
        for payload in &payloads {
            assert!(payload.len() <= PAYLOAD_BYTES, "{}", payload.len());
            back.extend(serde_json::from_str::<Vec<Envelope>>(payload).unwrap());
        }
        assert_eq!(back, many);
    }

    #[test]
    fn a_huge_recipient_list_is_split_across_payloads() {
        let everyone = users(1_000_000..1_005_000);
        let group = ConversationId::new(9);
        let payloads = payloads(std::iter::once(envelope(
            Some(everyone.clone()),
            Wire::GroupChanged {
                conversation: group,
            },
        )));
        let mut recipients = Vec::new();
        for payload in &payloads {
            assert!(payload.len() <= PAYLOAD_BYTES);
            for e in serde_json::from_str::<Vec<Envelope>>(payload).unwrap() {
                assert_eq!(
                    e.event,
                    Wire::GroupChanged {
                        conversation: group
                    }
                );
                recipients.extend(e.to.unwrap());
            }
        }
        assert_eq!(recipients, everyone);
    }
}
