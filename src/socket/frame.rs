//! What pages send over their sockets, parsed at the edge into a typed
//! command.

use serde::Deserialize;

use crate::domain::{ConversationId, UserId};

/// What a page asks for over its socket, parsed at the edge.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientFrame {
    /// The composer's fields, still unchecked (`Draft::parse` decides).
    Send {
        body: Option<String>,
        client_id: Option<String>,
        /// The message it answers (the composer's field; may be empty).
        reply_to: Option<String>,
    },
    /// The user is typing (the textarea sends this while keys are pressed).
    Typing,
    /// The page is in view: what it shows has been read (app.js sends this
    /// only while the page is visible).
    Seen,
    /// The page's lists as it shows them, sent each time its socket opens:
    /// the server answers with what changed since.
    Resume(ShownLists),
    /// The page came into view or left it (a socket counts as in view until
    /// its page says otherwise): a user with a page in view is not pushed.
    Visible(bool),
}

/// A page's lists, as far as catching up needs them.
#[derive(Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ShownLists {
    /// `[conversation, as-of change, count]` of each inbox row, top first.
    #[serde(default)]
    pub inbox: Vec<(ConversationId, i64, i64)>,
    /// How many people the directory shows, and the newest user among them.
    #[serde(default)]
    pub rows: usize,
    pub upto: Option<UserId>,
}

/// A frame as the page sends it: the htmx ws extension's form fields as
/// JSON (plus `HEADERS` and the form token, which are ignored), or app.js's
/// `{"typing": true}`, `{"seen": true}`, `{"visible": false}` and
/// `{"resume": {...}}`.
#[derive(Deserialize)]
struct WireFrame {
    #[serde(default)]
    typing: bool,
    #[serde(default)]
    seen: bool,
    resume: Option<ShownLists>,
    visible: Option<bool>,
    body: Option<String>,
    client_id: Option<String>,
    reply_to: Option<String>,
}

/// Reads a frame; `None` when it is not the JSON object the page sends.
pub fn parse_frame(text: &str) -> Option<ClientFrame> {
    let frame: WireFrame = serde_json::from_str(text).ok()?;
    Some(if let Some(lists) = frame.resume {
        ClientFrame::Resume(lists)
    } else if let Some(visible) = frame.visible {
        ClientFrame::Visible(visible)
    } else if frame.typing {
        ClientFrame::Typing
    } else if frame.seen {
        ClientFrame::Seen
    } else {
        ClientFrame::Send {
            body: frame.body,
            client_id: frame.client_id,
            reply_to: frame.reply_to,
        }
    })
}
