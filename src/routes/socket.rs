//! The page sockets: one per signed-in page (`/socket` on the dashboard,
//! `/conversations/<id>/socket` in a conversation). Authenticated by the
//! session cookie, same-origin only, members only. They receive htmx ws-send
//! frames (messages, typing notices) and push rendered fragments: messages,
//! presence, unread counts, typing, read receipts, and on every (re)connect
//! whatever the page missed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, SinkExt, StreamExt};
use maud::{html, Markup};
use rocket::Shutdown;
use rocket_ws::frame::{CloseCode, CloseFrame};
use rocket_ws::result::Error as WsError;
use rocket_ws::stream::DuplexStream;
use rocket_ws::{Channel, Config, Message as WsMessage, WebSocket};
use serde::Deserialize;
use time::{Date, OffsetDateTime};
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::auth::{CurrentUser, SameOrigin};
use crate::chat::{self, Draft, Sent};
use crate::error::{Error, Result};
use crate::hub::Event;
use crate::limits::{
    PRESENCE_CLOCK_MARGIN, READ_MARK_DELAY, RESYNC_MAX_MESSAGES, SOCKETS_PER_USER,
    SOCKET_MAX_MESSAGE_BYTES, SOCKET_MAX_WRITE_BUFFER_BYTES, SOCKET_MESSAGES, SOCKET_TYPING,
    TYPING_SHOWN_MS,
};
use crate::presence::Presence;
use crate::routes::conversations::{history, scope_of, Scope};
use crate::routes::groups::group_heading;
use crate::routes::App;
use crate::store::contacts::{self, Contact};
use crate::store::messages::Message;
use crate::store::writer::Writer;
use crate::store::{conversations, groups, messages, sessions, Pool};
use crate::throttle::{PostingBudgets, TokenBucket};
use crate::views::chat as chat_views;
use crate::views::contacts::{self as contact_views, Badge};
use crate::views::groups as group_views;
use crate::views::layout;
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

/// A new connection, unless the user already has too many sockets open.
/// `since` is when the page was rendered (milliseconds since the epoch).
fn connection(
    app: &App<'_>,
    me: CurrentUser,
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

/// The dashboard's socket: presence, unread counts, new contacts.
/// Guards run left to right: origin and session are checked before the upgrade.
#[rocket::get("/socket?<since>")]
fn dashboard_socket(
    _origin: SameOrigin,
    me: CurrentUser,
    since: Option<i64>,
    ws: WebSocket,
    app: App<'_>,
) -> Result<Channel<'static>> {
    Ok(open(ws, connection(&app, me, None, since)?))
}

/// A conversation's socket. Membership is looked up before the upgrade.
#[rocket::get("/conversations/<id>/socket?<after>&<since>")]
#[allow(clippy::too_many_arguments)]
async fn conversation_socket(
    _origin: SameOrigin,
    me: CurrentUser,
    id: i64,
    after: Option<i64>,
    since: Option<i64>,
    ws: WebSocket,
    app: App<'_>,
) -> Result<Channel<'static>> {
    let scope = scope_of(app.db.pool(), id, &me).await?;
    let chat = ChatScope {
        conversation_id: id,
        scope,
        page_seq: after.unwrap_or(0).max(0),
    };
    Ok(open(ws, connection(&app, me, Some(chat), since)?))
}

/// The conversation a socket's page shows.
struct ChatScope {
    conversation_id: i64,
    scope: Scope,
    /// The last change (sequence number) the page was rendered with.
    page_seq: i64,
}

/// One open socket of one user.
struct Connection {
    pool: Pool,
    writer: Writer,
    hub: SharedHub,
    presence: Presence,
    grace: Duration,
    idle_timeout: Duration,
    /// How long a session may go unused (see `Settings::session_idle_hours`).
    session_idle: time::Duration,
    me: CurrentUser,
    chat: Option<ChatScope>,
    /// When the page was rendered: presence changes since then are sent on
    /// connect, since the page may have missed them.
    rendered_at: Option<OffsetDateTime>,
    shutdown: Shutdown,
    /// Keeps the pool open until this socket has closed.
    _hold: crate::store::drain::Hold,
    budgets: Arc<PostingBudgets>,
}

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

/// What the loop does next.
enum Step {
    Reply(Markup),
    Nothing,
    /// Too much is missing for a reply: the page is brought up to date.
    Resync,
    Close(CloseCode, &'static str),
    /// The server is stopping.
    Stop,
}

/// The state of one socket's loop.
struct LoopState {
    /// The last change of the conversation on the page: changes are shown
    /// in sequence order, each once.
    delivered_seq: i64,
    /// Who is typing, and until when their notice stays up.
    typists: HashMap<i64, (Arc<str>, Instant)>,
    /// The page throttles typing notices and sends; a client may not.
    typing_budget: TokenBucket,
    message_budget: TokenBucket,
    /// When the client last sent anything, pongs included.
    last_heard: Instant,
    /// The day of the newest message on the page, for day separators.
    last_day: Option<Date>,
    /// The newest message from others delivered here since the page last
    /// said it was in view.
    unseen: Option<i64>,
    /// The newest message seen here but not yet marked read, and when to.
    read_up_to: Option<i64>,
    read_due: Option<Instant>,
    /// The newest message on the page and its sender, for "Seen".
    newest: Option<(i64, i64)>,
}

fn text(markup: Markup) -> WsMessage {
    WsMessage::Text(markup.into_string())
}

impl Connection {
    fn conversation_id(&self) -> Option<i64> {
        self.chat.as_ref().map(|c| c.conversation_id)
    }

    /// Runs the socket, then counts it out of presence whatever happened.
    async fn serve(self, stream: DuplexStream) -> rocket_ws::result::Result<()> {
        let user_id = self.me.id();
        if self.presence.connected(user_id) {
            self.hub.broadcast(Event::PresenceChanged {
                user_id,
                online: true,
                last_seen: None,
            });
        }
        let result = self.run(stream).await;
        if let Some(departure) = self.presence.disconnected(user_id) {
            let (presence, hub, pool, grace) = (
                self.presence.clone(),
                self.hub.clone(),
                self.pool.clone(),
                self.grace,
            );
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                if presence.confirm_offline(departure) {
                    let last_seen = contacts::touch_last_seen(&pool, user_id).await.ok();
                    hub.broadcast(Event::PresenceChanged {
                        user_id,
                        online: false,
                        last_seen,
                    });
                }
            });
        }
        result
    }

    async fn run(&self, stream: DuplexStream) -> rocket_ws::result::Result<()> {
        let mut state = LoopState {
            delivered_seq: 0,
            typists: HashMap::new(),
            typing_budget: TokenBucket::new(SOCKET_TYPING),
            message_budget: TokenBucket::new(SOCKET_MESSAGES),
            last_heard: Instant::now(),
            last_day: None,
            unseen: None,
            read_up_to: None,
            read_due: None,
            newest: None,
        };
        let result = self.pump(stream, &mut state).await;
        // What the page showed before it closed has been read.
        self.flush_read(&mut state).await;
        result
    }

    async fn pump(
        &self,
        mut stream: DuplexStream,
        state: &mut LoopState,
    ) -> rocket_ws::result::Result<()> {
        // Subscribe before reading what was missed, so nothing falls between.
        let mut events = self.hub.subscribe(self.me.id());
        self.resync(&mut stream, state, false).await?;
        let mut ping = tokio::time::interval(self.idle_timeout / 3);
        ping.tick().await;
        let mut shutdown = self.shutdown.clone();
        loop {
            let typing_ends = state.typists.values().map(|(_, until)| *until).min();
            let step = tokio::select! {
                frame = stream.next() => match frame.inspect(|_| state.last_heard = Instant::now()) {
                    None | Some(Ok(WsMessage::Close(_))) => return Ok(()),
                    Some(Ok(WsMessage::Text(text))) => self.handle_frame(&text, state).await,
                    Some(Ok(WsMessage::Binary(_))) => match state.message_budget.take() {
                        Ok(()) => Step::Reply(chat_views::composer_error(
                            Some("This connection only accepts text frames."),
                            None,
                            true,
                        )),
                        Err(_) => Step::Reply(too_fast(None)),
                    },
                    Some(Ok(_)) => Step::Nothing,
                    Some(Err(WsError::Capacity(_))) => Step::Close(CloseCode::Size, "message too large"),
                    Some(Err(_)) => return Ok(()),
                },
                event = events.recv() => match event {
                    Ok(event) if !matches!(event, Event::Resync) => match self.handle_event(event, state).await {
                        Step::Resync => {
                            self.resync(&mut stream, state, false).await?;
                            Step::Nothing
                        }
                        step => step,
                    },
                    Ok(_) | Err(RecvError::Lagged(_)) => {
                        // Events were dropped: presence and badges may be stale too.
                        self.resync(&mut stream, state, true).await?;
                        Step::Nothing
                    }
                    Err(RecvError::Closed) => return Ok(()),
                },
                _ = sleep_until(typing_ends) => {
                    let now = Instant::now();
                    state.typists.retain(|_, (_, until)| *until > now);
                    Step::Reply(typing_fragment(state))
                }
                _ = sleep_until(state.read_due) => {
                    self.flush_read(state).await;
                    Step::Nothing
                }
                _ = ping.tick() => {
                    if state.last_heard.elapsed() > self.idle_timeout {
                        Step::Close(CloseCode::Away, "idle")
                    } else if !self.session_is_live().await {
                        Step::Close(CloseCode::Normal, "session expired")
                    } else {
                        self.send(&mut stream, WsMessage::Ping(Vec::new())).await?;
                        Step::Nothing
                    }
                }
                _ = &mut shutdown => Step::Stop,
            };
            match step {
                Step::Stop => {
                    // Answer what the page sent before the stop, then 1012
                    // tells the htmx extension to reconnect after the restart.
                    while let Some(Some(Ok(WsMessage::Text(frame)))) = stream.next().now_or_never()
                    {
                        if let Step::Reply(markup) = self.handle_frame(&frame, state).await {
                            self.send(&mut stream, text(markup)).await?;
                        }
                    }
                    self.close(&mut stream, CloseCode::Restart, "server restarting")
                        .await;
                    return Ok(());
                }
                Step::Reply(markup) => self.send(&mut stream, text(markup)).await?,
                Step::Nothing | Step::Resync => {}
                Step::Close(code, reason) => {
                    self.close(&mut stream, code, reason).await;
                    return Ok(());
                }
            }
        }
    }

    /// Brings the page up to date: in a conversation, everything after what
    /// the page was rendered with (the live region is replaced whole, so
    /// replays never duplicate; when too much was missed the whole list is
    /// replaced), and with `contacts` the contact list too. A reconnecting
    /// page fetches its contact list over HTTP instead (see app.js), so a
    /// socket does not carry the whole list, once per tab, on every connect.
    async fn resync(
        &self,
        stream: &mut DuplexStream,
        state: &mut LoopState,
        contacts: bool,
    ) -> rocket_ws::result::Result<()> {
        let fragment = match self.missed(state, contacts).await {
            Ok(fragment) => fragment,
            Err(e) => {
                rocket::error!("socket resync failed: {e}");
                chat_views::composer_error(Some(&e.public_message()), None, true)
            }
        };
        self.send(stream, text(fragment)).await
    }

    /// Sends a frame, giving up when the page has not taken it within the
    /// idle timeout: a page whose reader stopped must not hold this task, its
    /// descriptor and its buffers for ever, nor keep the idle timeout, the
    /// resync and the shutdown close from running.
    async fn send(
        &self,
        stream: &mut DuplexStream,
        message: WsMessage,
    ) -> rocket_ws::result::Result<()> {
        match tokio::time::timeout(self.idle_timeout, stream.send(message)).await {
            Ok(sent) => sent,
            Err(_) => Err(WsError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the page stopped reading",
            ))),
        }
    }

    /// Closes the socket with a reason; the peer may already be gone, and
    /// there is nothing left to do then.
    async fn close(&self, stream: &mut DuplexStream, code: CloseCode, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(self.idle_timeout, stream.close(Some(frame))).await;
    }

    /// Whether this socket's session still stands: an expired session's
    /// socket is closed like a logged-out one. If the database cannot say,
    /// the socket stays.
    async fn session_is_live(&self) -> bool {
        sessions::is_live(&self.pool, &self.me.session.token_hash, self.session_idle)
            .await
            .unwrap_or(true)
    }

    /// What the page missed; records in `state` the newest message it gets.
    async fn missed(&self, state: &mut LoopState, with_contacts: bool) -> Result<Markup> {
        let me = self.me.id();
        let contacts = if with_contacts {
            let list = contacts::list(&self.pool, me, contacts::Order::Alphabetical).await?;
            let is_online = |id| self.presence.is_online(id);
            html! {
                (self.group_list().await?)
                (contact_views::contact_list(&list, &is_online, self.peer_id(), true))
            }
        } else {
            html! {}
        };
        let contacts = html! { (contacts) (self.presence_missed()) (layout::connected()) };
        let Some(chat) = &self.chat else {
            return Ok(contacts);
        };
        let id = chat.conversation_id;
        let seen = contacts::seen_by_others(&self.pool, id, me).await?;
        let missed =
            messages::page_after(&self.pool, id, me, chat.page_seq, RESYNC_MAX_MESSAGES + 1)
                .await?;
        if (missed.len() as i64) <= RESYNC_MAX_MESSAGES {
            let page_newest = messages::at_or_before(&self.pool, id, me, chat.page_seq).await?;
            let page_day = page_newest.as_ref().map(|m| m.created_at.date());
            state.delivered_seq = missed.last().map_or(chat.page_seq, |m| m.seq);
            state.last_day = missed.last().map(|m| m.created_at.date()).or(page_day);
            state.newest = missed
                .last()
                .or(page_newest.as_ref())
                .map(|m| (m.id, m.sender_id));
            state.unseen = state.newest.map(|(id, _)| id);
            return Ok(html! {
                (contacts)
                (chat_views::live_region(&missed, page_day, me))
                (chat_views::receipt(seen, true))
            });
        }
        let (latest, has_more) = history(&self.pool, id, me, None).await?;
        state.delivered_seq = latest.last().map_or(chat.page_seq, |m| m.seq);
        state.last_day = latest.last().map(|m| m.created_at.date());
        state.newest = latest.last().map(|m| (m.id, m.sender_id));
        state.unseen = state.newest.map(|(id, _)| id);
        Ok(html! {
            (contacts)
            (chat_views::message_list(id, &latest, has_more, me, seen, true))
        })
    }

    /// The presence of everyone who came or went since the page was
    /// rendered, which the page may have missed before this socket
    /// subscribed.
    fn presence_missed(&self) -> Markup {
        let Some(rendered_at) = self.rendered_at else {
            return html! {};
        };
        let changes = self
            .presence
            .changed_since(rendered_at - PRESENCE_CLOCK_MARGIN);
        html! {
            @for status in changes.iter().filter(|s| s.user_id != self.me.id()) {
                (contact_views::presence(status.user_id, status.online, status.last_seen, true))
            }
        }
    }

    /// The members, when this page knows them for good: a direct
    /// conversation's two never change. `None` means ask the database.
    fn known_members(&self) -> Option<[i64; 2]> {
        self.peer_id().map(|peer| [self.me.id(), peer])
    }

    /// The other person of a direct conversation page.
    fn peer_id(&self) -> Option<i64> {
        match self.chat.as_ref().map(|c| &c.scope) {
            Some(Scope::Direct(peer)) => Some(peer.id),
            _ => None,
        }
    }

    /// The viewer's groups, as an out-of-band replacement.
    async fn group_list(&self) -> Result<Markup> {
        let groups = groups::of_member(&self.pool, self.me.id()).await?;
        let current = match self.chat.as_ref() {
            Some(chat) if matches!(chat.scope, Scope::Group(_)) => Some(chat.conversation_id),
            _ => None,
        };
        Ok(group_views::group_list(&groups, current, true))
    }

    /// Which badge counts a conversation's unread messages for this viewer:
    /// the group's, or the other person's (`sender` when known).
    async fn badge_for(&self, conversation_id: i64, sender: Option<i64>) -> Result<Option<Badge>> {
        let me = self.me.id();
        let Some(conversation) = groups::find(&self.pool, conversation_id, me).await? else {
            return Ok(None);
        };
        if conversation.is_group() {
            return Ok(Some(Badge::Group(conversation_id)));
        }
        if let Some(sender) = sender {
            return Ok(Some(Badge::Contact(sender)));
        }
        let peer = conversations::peer(&self.pool, conversation_id, me).await?;
        Ok(peer.map(|p| Badge::Contact(p.id)))
    }

    /// The badge of a conversation, with its current count.
    async fn unread_badge(&self, conversation_id: i64, sender: Option<i64>) -> Result<Step> {
        let Some(badge) = self.badge_for(conversation_id, sender).await? else {
            return Ok(Step::Nothing);
        };
        let count = contacts::unread(&self.pool, conversation_id, self.me.id()).await?;
        Ok(Step::Reply(contact_views::unread(badge, count, true)))
    }

    /// A group changed (members, name): the page follows, and a page of a
    /// group the viewer is no longer in is closed.
    async fn group_changed(&self, conversation_id: i64) -> Result<Step> {
        let list = self.group_list().await?;
        if self.conversation_id() != Some(conversation_id) {
            return Ok(Step::Reply(list));
        }
        let Some(group) = groups::find(&self.pool, conversation_id, self.me.id()).await? else {
            return Ok(Step::Close(CloseCode::Normal, "no longer a member"));
        };
        let heading = group_heading(&self.pool, &group, &self.me).await?;
        Ok(Step::Reply(html! { (list) (heading) }))
    }

    /// Writes the read position the page has reached, if it moved. Under
    /// load this happens at most once per `READ_MARK_DELAY`, not per message.
    async fn flush_read(&self, state: &mut LoopState) {
        state.read_due = None;
        let (Some(chat), Some(up_to)) = (&self.chat, state.read_up_to.take()) else {
            return;
        };
        let members = self.known_members();
        let result = chat::mark_read(
            &self.writer,
            self.hub.as_ref(),
            chat.conversation_id,
            self.me.id(),
            Some(up_to),
            members.as_ref().map(<[i64; 2]>::as_slice),
        )
        .await;
        if let Err(e) = result {
            rocket::error!("marking read failed: {e}");
        }
    }

    /// Turns an event into what this page should show, if anything.
    async fn handle_event(&self, event: Event, state: &mut LoopState) -> Step {
        match self.render_event(event, state).await {
            Ok(step) => step,
            Err(e) => {
                rocket::error!("socket update failed: {e}");
                Step::Nothing
            }
        }
    }

    async fn render_event(&self, event: Event, state: &mut LoopState) -> Result<Step> {
        let me = self.me.id();
        let viewing = self.conversation_id();
        Ok(match event {
            Event::MessagePosted(message) if Some(message.conversation_id) == viewing => {
                if message.seq <= state.delivered_seq {
                    return Ok(Step::Nothing);
                }
                if message.seq == state.delivered_seq + 1 {
                    return Ok(Step::Reply(deliver(
                        std::slice::from_ref(&message),
                        state,
                        me,
                    )));
                }
                // An earlier change was committed first but has not been
                // published here yet (another sender's task, another
                // instance): it is in the database, so show it first.
                let missing = messages::page_after(
                    &self.pool,
                    message.conversation_id,
                    me,
                    state.delivered_seq,
                    RESYNC_MAX_MESSAGES + 1,
                )
                .await?;
                if missing.len() as i64 > RESYNC_MAX_MESSAGES {
                    Step::Resync
                } else {
                    Step::Reply(deliver(&missing, state, me))
                }
            }
            Event::MessagePosted(message) if message.sender_id != me => {
                self.unread_badge(message.conversation_id, Some(message.sender_id))
                    .await?
            }
            Event::MessagePosted(_) => Step::Nothing,
            Event::Read {
                conversation_id,
                reader_id,
                up_to,
            } if Some(conversation_id) == viewing => {
                if reader_id == me {
                    Step::Nothing
                } else {
                    let seen = match self.peer_id() {
                        // The only other member: "Seen" needs no query.
                        Some(_) => state
                            .newest
                            .is_some_and(|(id, sender)| sender == me && up_to >= id),
                        None => contacts::seen_by_others(&self.pool, conversation_id, me).await?,
                    };
                    Step::Reply(chat_views::receipt(seen, true))
                }
            }
            Event::Read {
                conversation_id,
                reader_id,
                ..
            } if reader_id == me => {
                // Read in another tab: the badge here follows.
                self.unread_badge(conversation_id, None).await?
            }
            Event::Read { .. } => Step::Nothing,
            Event::Typing {
                conversation_id,
                user_id,
                username,
            } if Some(conversation_id) == viewing && user_id != me => {
                let until = Instant::now() + Duration::from_millis(TYPING_SHOWN_MS);
                state.typists.insert(user_id, (username, until));
                Step::Reply(typing_fragment(state))
            }
            Event::Typing { .. } => Step::Nothing,
            Event::PresenceChanged {
                user_id,
                online,
                last_seen,
            } if user_id != me => {
                Step::Reply(contact_views::presence(user_id, online, last_seen, true))
            }
            Event::PresenceChanged { .. } => Step::Nothing,
            Event::UserJoined(user) if user.id != me => {
                let contact = Contact {
                    id: user.id,
                    username: user.username.clone(),
                    last_seen_at: None,
                    conversation_id: None,
                    unread: 0,
                    last_activity: None,
                };
                let online = self.presence.is_online(user.id);
                Step::Reply(contact_views::appended_contact(&contact, online))
            }
            Event::UserJoined(_) => Step::Nothing,
            Event::GroupChanged { conversation_id } => self.group_changed(conversation_id).await?,
            Event::UserLeft { user_id } => Step::Reply(contact_views::removed_contact(user_id)),
            // Handled by the loop, which resyncs the page.
            Event::Resync => Step::Nothing,
            Event::SessionEnded { token_hash } => {
                if *token_hash == *self.me.session.token_hash {
                    Step::Close(CloseCode::Normal, "logged out")
                } else {
                    Step::Nothing
                }
            }
        })
    }

    /// Handles one frame from the page; any reply goes to this socket only.
    async fn handle_frame(&self, text: &str, state: &mut LoopState) -> Step {
        let Some(chat) = &self.chat else {
            return Step::Nothing;
        };
        match parse_frame(text) {
            None => Step::Reply(chat_views::composer_error(
                Some("That message could not be read. Reload the page and try again."),
                None,
                true,
            )),
            Some(ClientFrame::Typing) => {
                if state.typing_budget.take().is_ok() {
                    self.typing(chat.conversation_id).await;
                }
                Step::Nothing
            }
            Some(ClientFrame::Seen) => {
                // Marked after a short delay, so a busy conversation costs
                // one write per `READ_MARK_DELAY`, not one per message.
                if let Some(up_to) = state.unseen.take() {
                    state.read_up_to = Some(up_to);
                    state
                        .read_due
                        .get_or_insert_with(|| Instant::now() + READ_MARK_DELAY);
                }
                Step::Nothing
            }
            Some(ClientFrame::Send { body, client_id }) => {
                let unsent = body.as_deref().filter(|b| !b.trim().is_empty());
                if state.message_budget.take().is_err() {
                    return Step::Reply(too_fast(unsent));
                }
                match self
                    .send_draft(chat.conversation_id, body.as_deref(), client_id.as_deref())
                    .await
                {
                    Ok(_) => Step::Reply(chat_views::sent(&chat::new_client_id())),
                    Err(e) => {
                        if e.status().code >= 500 {
                            rocket::error!("sending failed: {e}");
                        }
                        Step::Reply(chat_views::composer_error(
                            Some(&e.public_message()),
                            unsent,
                            true,
                        ))
                    }
                }
            }
        }
    }

    /// Checks and sends what the composer sent.
    async fn send_draft(
        &self,
        conversation_id: i64,
        body: Option<&str>,
        client_id: Option<&str>,
    ) -> Result<Sent> {
        let draft = Draft::parse(body, client_id)?;
        self.budgets.message(self.me.id())?;
        let members = self.known_members();
        chat::send_with(
            &self.writer,
            self.hub.as_ref(),
            self.me.id(),
            conversation_id,
            &draft,
            None,
            members.as_ref().map(<[i64; 2]>::as_slice),
        )
        .await
    }

    /// Passes a typing notice to the other members.
    async fn typing(&self, conversation_id: i64) {
        let members = match conversations::member_ids(&self.pool, conversation_id).await {
            Ok(members) => members,
            Err(e) => {
                rocket::error!("typing notice failed: {e}");
                return;
            }
        };
        let others: Vec<i64> = members.into_iter().filter(|&m| m != self.me.id()).collect();
        self.hub.publish(
            &others,
            Event::Typing {
                conversation_id,
                user_id: self.me.id(),
                username: self.me.user.username.as_str().into(),
            },
        );
    }
}

/// The refusal for a socket sending faster than its budget.
fn too_fast(unsent: Option<&str>) -> Markup {
    chat_views::composer_error(
        Some("You are sending messages too fast. Wait a moment, then send again."),
        unsent,
        true,
    )
}

/// Appends messages that follow what the page shows, in sequence order.
fn deliver(messages: &[Message], state: &mut LoopState, me: i64) -> Markup {
    let Some(newest) = messages.last() else {
        return html! {};
    };
    let previous_day = state.last_day.replace(newest.created_at.date());
    state.delivered_seq = newest.seq;
    state.newest = Some((newest.id, newest.sender_id));
    if let Some(theirs) = messages.iter().rev().find(|m| m.sender_id != me) {
        state.unseen = Some(theirs.id);
    }
    let mut typing_changed = false;
    for message in messages {
        typing_changed |= state.typists.remove(&message.sender_id).is_some();
    }
    html! {
        (chat_views::append_messages(messages, previous_day, me))
        (chat_views::receipt(false, true))
        @if typing_changed { (typing_fragment(state)) }
    }
}

fn typing_fragment(state: &LoopState) -> Markup {
    let mut names: Vec<&str> = state.typists.values().map(|(name, _)| &**name).collect();
    names.sort_unstable();
    chat_views::typing(&names, true)
}

/// Sleeps until `deadline`, or forever when there is none.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![dashboard_socket, conversation_socket]
}
