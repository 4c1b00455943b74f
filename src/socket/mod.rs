//! The page sockets: one per signed-in page (`/socket` on the inbox,
//! `/people/socket` on the directory, `/conversations/<id>/socket` in a
//! conversation, whose page has the inbox beside it). Authenticated by the
//! session cookie, same-origin only, members only. They receive htmx ws-send
//! frames (messages, typing notices) and push rendered fragments: messages,
//! presence, unread counts, typing, read receipts, and on every (re)connect
//! whatever the page missed.
//!
//! `frame` parses what pages send, `connection` runs one socket's loop,
//! `catchup` brings a (re)connecting page up to date, `render` turns events
//! into fragments.

mod catchup;
mod connection;
mod frame;
mod render;

use rocket_ws::{Channel, Config, WebSocket};
use std::time::Duration;

use crate::app::App;
use crate::auth::{CurrentUser, SameOrigin};
use crate::chat::scope_of;
use crate::domain::ConversationId;
use crate::error::{Error, Result};
use crate::limits::{SOCKETS_PER_USER, SOCKET_MAX_MESSAGE_BYTES, SOCKET_MAX_WRITE_BUFFER_BYTES};
use connection::{ChatScope, Connection, Lists};
pub use frame::{parse_frame, ClientFrame};
use time::OffsetDateTime;

/// Small limits: tungstenite's defaults (64 MiB messages) invite abuse.
fn socket_config() -> Config {
    Config {
        max_message_size: Some(SOCKET_MAX_MESSAGE_BYTES),
        max_frame_size: Some(SOCKET_MAX_MESSAGE_BYTES),
        max_write_buffer_size: SOCKET_MAX_WRITE_BUFFER_BYTES,
        ..Config::default()
    }
}

/// A new connection, unless the user already has too many sockets open.
/// `since` is when the page was rendered (milliseconds since the epoch).
fn connection(
    app: &App<'_>,
    me: CurrentUser,
    lists: Lists,
    chat: Option<ChatScope>,
    since: Option<i64>,
) -> Result<Connection> {
    if app.presence.sockets(me.id()) >= SOCKETS_PER_USER {
        return Err(Error::TooMany(
            "Too many open pages. Close some tabs and reload.".into(),
        ));
    }
    Ok(Connection {
        pool: app.db.pool().clone(),
        writer: app.writer.clone(),
        hub: app.hub.clone(),
        presence: app.presence.clone(),
        grace: Duration::from_millis(app.settings.presence_grace_ms),
        idle_timeout: Duration::from_millis(app.settings.socket_idle_ms.max(30)),
        session_idle: time::Duration::hours(app.settings.session_idle_hours),
        me,
        lists,
        chat,
        rendered_at: since.and_then(|ms| {
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
        }),
        shutdown: app.shutdown.clone(),
        _hold: app.db.in_flight().hold(),
        budgets: app.budgets.clone(),
    })
}

fn open(ws: WebSocket, connection: Connection) -> Channel<'static> {
    ws.config(socket_config())
        .channel(move |stream| Box::pin(connection.serve(stream)))
}

/// The inbox's socket: rows moving up with news, unread counts.
/// Guards run left to right: origin and session are checked before the upgrade.
#[rocket::get("/socket?<since>")]
fn inbox_socket(
    _origin: SameOrigin,
    me: CurrentUser,
    since: Option<i64>,
    ws: WebSocket,
    app: App<'_>,
) -> Result<Channel<'static>> {
    Ok(open(ws, connection(&app, me, Lists::Inbox, None, since)?))
}

/// The directory's socket: presence, newcomers, accounts deleted.
#[rocket::get("/people/socket?<since>")]
fn people_socket(
    _origin: SameOrigin,
    me: CurrentUser,
    since: Option<i64>,
    ws: WebSocket,
    app: App<'_>,
) -> Result<Channel<'static>> {
    Ok(open(ws, connection(&app, me, Lists::People, None, since)?))
}

/// A conversation's socket. Membership is looked up before the upgrade.
#[rocket::get("/conversations/<id>/socket?<seq>&<since>")]
#[allow(clippy::too_many_arguments)]
async fn conversation_socket(
    _origin: SameOrigin,
    me: CurrentUser,
    id: ConversationId,
    seq: Option<i64>,
    since: Option<i64>,
    ws: WebSocket,
    app: App<'_>,
) -> Result<Channel<'static>> {
    let scope = scope_of(app.db.pool(), id, &me).await?;
    let chat = ChatScope {
        conversation_id: id,
        scope,
        page_seq: seq.map(|seq| seq.max(0)),
    };
    Ok(open(
        ws,
        connection(&app, me, Lists::Inbox, Some(chat), since)?,
    ))
}

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![inbox_socket, people_socket, conversation_socket]
}
