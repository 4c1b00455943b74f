//! The conversation socket: authenticated by the session cookie, same-origin
//! only, members only. It receives htmx ws-send frames and pushes rendered
//! fragments: new messages, the reset message form, errors, and on every
//! (re)connect whatever the page missed.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rocket::{Shutdown, State};
use rocket_ws::frame::{CloseCode, CloseFrame};
use rocket_ws::result::Error as WsError;
use rocket_ws::stream::DuplexStream;
use rocket_ws::{Channel, Config, Message as WsMessage, WebSocket};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::{CurrentUser, SameOrigin};
use crate::chat::{self, Draft, Sent};
use crate::error::{Error, Result};
use crate::hub::Event;
use crate::limits::{
    RESYNC_MAX_MESSAGES, SOCKET_MAX_MESSAGE_BYTES, SOCKET_MAX_WRITE_BUFFER_BYTES,
    SOCKET_PING_SECONDS,
};
use crate::routes::conversations::{history, peer_of};
use crate::store::{messages, Db, Pool};
use crate::views::chat::{self as chat_views, Composer};
use crate::views::conversation_url;
use crate::SharedHub;

/// Small limits: tungstenite's defaults (64 MiB messages) invite abuse.
fn socket_config() -> Config {
    Config {
        max_message_size: Some(SOCKET_MAX_MESSAGE_BYTES),
        max_frame_size: Some(SOCKET_MAX_MESSAGE_BYTES),
        max_write_buffer_size: SOCKET_MAX_WRITE_BUFFER_BYTES,
        ..Config::default()
    }
}

/// Guards run left to right: the origin and the session are checked, and
/// membership is looked up, before the connection is upgraded.
#[allow(clippy::too_many_arguments)] // one per guard; each is checked by Rocket
#[rocket::get("/conversations/<id>/socket?<after>")]
async fn socket(
    _origin: SameOrigin,
    me: CurrentUser,
    id: i64,
    after: Option<i64>,
    ws: WebSocket,
    db: &Db,
    hub: &State<SharedHub>,
    shutdown: Shutdown,
) -> Result<Channel<'static>> {
    peer_of(db.pool(), id, &me).await?;
    let connection = Connection {
        pool: db.pool().clone(),
        hub: hub.inner().clone(),
        me,
        conversation_id: id,
        page_newest: after.unwrap_or(0).max(0),
        shutdown,
    };
    Ok(ws
        .config(socket_config())
        .channel(move |stream| Box::pin(connection.run(stream))))
}

/// One open socket of one user on one conversation page.
struct Connection {
    pool: Pool,
    hub: SharedHub,
    me: CurrentUser,
    conversation_id: i64,
    /// The newest message id the page was rendered with.
    page_newest: i64,
    shutdown: Shutdown,
}

/// A frame as the htmx ws extension sends it: the form's fields as JSON
/// (plus `HEADERS` and the form token, which are ignored).
#[derive(Deserialize)]
struct Frame {
    body: Option<String>,
    client_id: Option<String>,
}

/// What the loop should do after handling something.
enum Step {
    Continue,
    Close(CloseCode, &'static str),
}

impl Connection {
    async fn run(self, mut stream: DuplexStream) -> rocket_ws::result::Result<()> {
        // Subscribe before reading what was missed, so nothing falls between.
        let mut events = self.hub.subscribe(self.me.id());
        let mut replayed_up_to = self.resync(&mut stream).await?;
        let mut ping = tokio::time::interval(Duration::from_secs(SOCKET_PING_SECONDS));
        ping.tick().await;
        let mut shutdown = self.shutdown.clone();
        loop {
            let step = tokio::select! {
                frame = stream.next() => match frame {
                    None | Some(Ok(WsMessage::Close(_))) => return Ok(()),
                    Some(Ok(WsMessage::Text(text))) => {
                        let reply = self.handle_frame(&text).await;
                        stream.send(WsMessage::Text(reply.into_string())).await?;
                        Step::Continue
                    }
                    Some(Ok(WsMessage::Binary(_))) => {
                        let reply = chat_views::composer_error(
                            Some("This connection only accepts text frames."),
                            true,
                        );
                        stream.send(WsMessage::Text(reply.into_string())).await?;
                        Step::Continue
                    }
                    Some(Ok(_)) => Step::Continue,
                    Some(Err(WsError::Capacity(_))) => {
                        Step::Close(CloseCode::Size, "message too large")
                    }
                    Some(Err(_)) => return Ok(()),
                },
                event = events.recv() => match event {
                    Ok(Event::MessagePosted(message)) => {
                        if message.conversation_id == self.conversation_id
                            && message.id > replayed_up_to
                        {
                            let fragment = chat_views::append_message(&message, self.me.id());
                            stream.send(WsMessage::Text(fragment.into_string())).await?;
                        }
                        Step::Continue
                    }
                    Ok(Event::SessionEnded { token_hash }) => {
                        if *token_hash == *self.me.session.token_hash {
                            Step::Close(CloseCode::Normal, "logged out")
                        } else {
                            Step::Continue
                        }
                    }
                    Err(RecvError::Lagged(_)) => {
                        replayed_up_to = self.resync(&mut stream).await?;
                        Step::Continue
                    }
                    Err(RecvError::Closed) => return Ok(()),
                },
                _ = ping.tick() => {
                    stream.send(WsMessage::Ping(Vec::new())).await?;
                    Step::Continue
                }
                _ = &mut shutdown => {
                    // 1012 tells the htmx extension to reconnect after a restart.
                    Step::Close(CloseCode::Restart, "server restarting")
                }
            };
            if let Step::Close(code, reason) = step {
                let frame = CloseFrame {
                    code,
                    reason: reason.into(),
                };
                // The peer may already be gone; there is nothing left to do then.
                let _ = stream.close(Some(frame)).await;
                return Ok(());
            }
        }
    }

    /// Sends the page everything after what it was rendered with: the live
    /// region is replaced whole, so replays never duplicate. When too much
    /// was missed, the whole list is replaced by the latest page instead.
    /// Returns the newest message id sent.
    async fn resync(&self, stream: &mut DuplexStream) -> rocket_ws::result::Result<i64> {
        let result = self.missed().await;
        let (fragment, newest) = match result {
            Ok(fragment) => fragment,
            Err(e) => {
                rocket::error!("socket resync failed: {e}");
                let error = chat_views::composer_error(Some(&e.public_message()), true);
                (error, self.page_newest)
            }
        };
        stream.send(WsMessage::Text(fragment.into_string())).await?;
        Ok(newest)
    }

    async fn missed(&self) -> Result<(maud::Markup, i64)> {
        let (id, me) = (self.conversation_id, self.me.id());
        let missed = messages::page_after(
            &self.pool,
            id,
            me,
            self.page_newest,
            RESYNC_MAX_MESSAGES + 1,
        )
        .await?;
        if (missed.len() as i64) <= RESYNC_MAX_MESSAGES {
            let newest = missed.last().map_or(self.page_newest, |m| m.id);
            return Ok((chat_views::live_region(&missed, me), newest));
        }
        let (latest, has_more) = history(&self.pool, id, me, None).await?;
        let newest = latest.last().map_or(self.page_newest, |m| m.id);
        Ok((
            chat_views::message_list(id, &latest, has_more, me, true),
            newest,
        ))
    }

    /// Handles one frame from the page; the reply goes to this socket only.
    async fn handle_frame(&self, text: &str) -> maud::Markup {
        let frame: Frame = match serde_json::from_str(text) {
            Ok(frame) => frame,
            Err(_) => {
                return chat_views::composer_error(
                    Some("That message could not be read. Reload the page and try again."),
                    true,
                )
            }
        };
        let result = match Draft::parse(frame.body.as_deref(), frame.client_id.as_deref()) {
            Ok(draft) => {
                chat::send(
                    &self.pool,
                    self.hub.as_ref(),
                    self.me.id(),
                    self.conversation_id,
                    &draft,
                )
                .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(Sent::New(_) | Sent::Replayed(_)) => self.fresh_composer(),
            Err(e @ (Error::Database(_) | Error::Internal(_))) => {
                rocket::error!("sending failed: {e}");
                chat_views::composer_error(Some(&e.public_message()), true)
            }
            Err(e) => chat_views::composer_error(Some(&e.public_message()), true),
        }
    }

    /// An empty message form with a new client id, replacing the sender's.
    fn fresh_composer(&self) -> maud::Markup {
        let action = format!("{}/messages", conversation_url(self.conversation_id));
        let client_id = chat::new_client_id();
        chat_views::composer(
            &Composer {
                action: &action,
                csrf: self.me.csrf(),
                client_id: &client_id,
                body: "",
                error: None,
            },
            true,
        )
    }
}

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![socket]
}
