//! What a client puts on the wire to a Natter server, shared by the
//! integration tests and the load benchmark: a free port to start a server
//! on, the handshake of a page's socket and the frame the page sends with a
//! message.

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client's end of a WebSocket to the server.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A port on 127.0.0.1 that nobody listens on right now.
pub fn unused_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The handshake of a page's socket at `url` (`ws://…`), as the browser
/// makes it: with the page's cookies and its `Origin`.
#[allow(
    clippy::result_large_err,
    reason = "tungstenite's own error, the one connecting returns too"
)]
pub fn socket_request(url: &str, cookie: &str, origin: &str) -> Result<Request, Error> {
    let mut request = url.into_client_request()?;
    let headers = request.headers_mut();
    headers.insert("Cookie", HeaderValue::from_str(cookie)?);
    headers.insert("Origin", HeaderValue::from_str(origin)?);
    Ok(request)
}

/// The frame the htmx ws extension sends when the message form is submitted:
/// the form's fields and the headers it adds, with the page's address as
/// `HX-Current-URL` when `current_url` is given.
pub fn message_frame(
    csrf: &str,
    client_id: &str,
    body: &str,
    current_url: Option<&str>,
) -> Message {
    let mut headers = serde_json::json!({
        "HX-Request": "true",
        "HX-Trigger": "composer",
        "HX-Target": null,
    });
    if let Some(url) = current_url {
        headers["HX-Current-URL"] = url.into();
    }
    let frame = serde_json::json!({
        "csrf": csrf,
        "client_id": client_id,
        "body": body,
        "HEADERS": headers,
    });
    Message::Text(frame.to_string())
}

/// A query string's value, percent-encoded (everything but unreserved
/// characters), as a browser sends a form's field.
pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
