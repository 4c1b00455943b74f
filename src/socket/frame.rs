//! What pages send over their sockets, parsed at the edge into a typed
//! command.

use serde::Deserialize;

/// What a page asks for over its socket, parsed at the edge.
#[derive(Debug, PartialEq, Eq)]
pub enum ClientFrame {
    /// The composer's fields, still unchecked (`Draft::parse` decides).
    Send {
        body: Option<String>,
        client_id: Option<String>,
    },
    /// The user is typing (the textarea sends this while keys are pressed).
    Typing,
    /// The page is in view: what it shows has been read (app.js sends this
    /// only while the page is visible).
    Seen,
}

/// A frame as the page sends it: the htmx ws extension's form fields as
/// JSON (plus `HEADERS` and the form token, which are ignored), or app.js's
/// `{"typing": true}` and `{"seen": true}`.
#[derive(Deserialize)]
struct WireFrame {
    #[serde(default)]
    typing: bool,
    #[serde(default)]
    seen: bool,
    body: Option<String>,
    client_id: Option<String>,
}

/// Reads a frame; `None` when it is not the JSON object the page sends.
pub fn parse_frame(text: &str) -> Option<ClientFrame> {
    let frame: WireFrame = serde_json::from_str(text).ok()?;
    Some(if frame.typing {
        ClientFrame::Typing
    } else if frame.seen {
        ClientFrame::Seen
    } else {
        ClientFrame::Send {
            body: frame.body,
            client_id: frame.client_id,
        }
    })
}
