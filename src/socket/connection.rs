//! One socket's life: counted into presence, its loop over the page's
//! frames, the hub's events, timers and shutdown, and the frames it answers.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{FutureExt, SinkExt, StreamExt};
use maud::Markup;
use rocket::Shutdown;
use rocket_ws::frame::{CloseCode, CloseFrame};
use rocket_ws::result::Error as WsError;
use rocket_ws::stream::DuplexStream;
use rocket_ws::Message as WsMessage;
use time::OffsetDateTime;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use super::frame::{parse_frame, ClientFrame};
use super::render::typing_fragment;
use crate::auth::{self, CurrentUser};
use crate::chat::{self, Draft, Scope, Sent};
use crate::domain::{ConversationId, InboxRow, MessageId, SharedTally, UserId};
use crate::error::Result;
use crate::limits::{READ_MARK_DELAY, SOCKET_MESSAGES, SOCKET_TYPING, SOCKET_VISIBILITY};
use crate::live::hub::{Event, Watching};
use crate::live::presence::Presence;
use crate::store::writer::Writer;
use crate::store::Pool;
use crate::throttle::{PostingBudgets, TokenBucket};
use crate::views::chat::{self as chat_views, Previous};
use crate::views::people::shown_name;
use crate::SharedHub;

/// The conversation a socket's page shows.
pub(super) struct ChatScope {
    pub(super) conversation_id: ConversationId,
    pub(super) scope: Scope,
    /// The last change (sequence number) the page was rendered with.
    /// `None` for a page that did not say (one rendered by an older
    /// version, which counted differently): it gets the whole list again.
    pub(super) page_seq: Option<i64>,
}

/// Which list a socket's page shows (a conversation page has the inbox
/// beside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lists {
    Inbox,
    People,
}

/// One open socket of one user.
pub(super) struct Connection {
    pub(super) pool: Pool,
    pub(super) writer: Writer,
    pub(super) hub: SharedHub,
    pub(super) presence: Presence,
    pub(super) grace: Duration,
    pub(super) idle_timeout: Duration,
    /// How long a session may go unused (see `Settings::session_idle_hours`).
    pub(super) session_idle: time::Duration,
    pub(super) me: CurrentUser,
    pub(super) lists: Lists,
    pub(super) chat: Option<ChatScope>,
    /// When the page was rendered: presence changes since then are sent on
    /// connect, since the page may have missed them.
    pub(super) rendered_at: Option<OffsetDateTime>,
    pub(super) shutdown: Shutdown,
    /// Keeps the pool open until this socket has closed.
    pub(super) _hold: crate::store::drain::Hold,
    pub(super) budgets: Arc<PostingBudgets>,
}

/// What the loop does next.
pub(super) enum Step {
    Reply(Markup),
    Nothing,
    /// Too much is missing for a reply: the page is brought up to date.
    Resync,
    Close(CloseCode, &'static str),
    /// The server is stopping.
    Stop,
}

/// The state of one socket's loop.
pub(super) struct LoopState {
    /// The last change of the conversation on the page: changes are shown
    /// in sequence order, each once.
    pub(super) delivered_seq: i64,
    /// Who is typing, and until when their notice stays up.
    pub(super) typists: HashMap<UserId, (Arc<str>, Instant)>,
    /// The page throttles typing notices and sends; a client may not.
    pub(super) typing_budget: TokenBucket,
    pub(super) message_budget: TokenBucket,
    /// When the client last sent anything, pongs included.
    pub(super) last_heard: Instant,
    /// The newest message on the page, for day separators and runs.
    pub(super) last_shown: Option<Previous>,
    /// The newest message shown here since the page last said it was in
    /// view (marking read up to it moves only the reader's own position).
    pub(super) unseen: Option<MessageId>,
    /// The newest message seen here but not yet marked read, and when to.
    pub(super) read_up_to: Option<MessageId>,
    pub(super) read_due: Option<Instant>,
    /// The newest message on the page and its sender, for "Seen".
    pub(super) newest: Option<(MessageId, UserId)>,
    /// Whether the page's lists are current: it said what it shows and got
    /// what changed, or got its lists whole. A page says it once per socket.
    pub(super) lists_current: bool,
    /// The rows of the page's inbox as last drawn, once known (from what the
    /// page says it shows, or a list sent whole), so news moves one row, a
    /// push never names a row the page does not have, and the open
    /// conversation's row follows its messages without a query.
    pub(super) inbox_shown: Option<HashMap<ConversationId, InboxRow>>,
    /// Inbox rows whose conversation changed, loading (the tally, shared by
    /// the event's pages): drawn when loaded, while the loop goes on
    /// delivering messages rather than waiting for the database.
    pub(super) rows_loading: FuturesUnordered<RowLoading>,
    /// Per conversation with a row loading, the change that came in since
    /// (its tally and move), loaded once the first is drawn: one load per
    /// row at a time, drawn in order, however fast its conversation moves.
    pub(super) rows_waiting: HashMap<ConversationId, Option<(SharedTally, RowMove)>>,
    /// For a page that has not said which rows it shows, while its whole
    /// inbox loads: the conversations that changed since the load started
    /// (their rows are loaded once the list is drawn).
    pub(super) list_loading: Option<HashMap<ConversationId, (SharedTally, RowMove)>>,
    /// Whether the page is in view (counted so in presence).
    pub(super) visible: bool,
    /// The page tells when it is hidden or shown; not much more often.
    pub(super) visibility_budget: TokenBucket,
    /// Presence changes to show, gathered for `PRESENCE_COALESCE` and sent
    /// as one frame (the newest of each person's), and when that is due.
    pub(super) presence_pending: HashMap<UserId, (bool, Option<time::OffsetDateTime>)>,
    pub(super) presence_due: Option<Instant>,
}

/// An inbox row being loaded for a change of its conversation.
pub(super) type RowLoading = Pin<Box<dyn Future<Output = RowLoaded> + Send>>;

/// Inbox rows, loaded: what to draw, where.
pub(super) enum RowLoaded {
    /// One conversation's row.
    Row {
        conversation_id: ConversationId,
        moved: RowMove,
        /// The viewer's row (`None`: they are no longer in the conversation).
        row: Result<Option<InboxRow>>,
    },
    /// The whole inbox, for a page that had not said which rows it shows.
    List(Result<Vec<InboxRow>>),
}

/// Where an inbox row goes when its conversation changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RowMove {
    /// A new message: to the top.
    ToTop,
    /// A message edited, deleted or reacted to: where it is.
    InPlace,
}

pub(super) fn text(markup: Markup) -> WsMessage {
    WsMessage::Text(markup.into_string())
}

impl Connection {
    pub(super) fn conversation_id(&self) -> Option<ConversationId> {
        self.chat.as_ref().map(|c| c.conversation_id)
    }

    /// Runs the socket, then counts it out of presence whatever happened.
    pub(super) async fn serve(self, stream: DuplexStream) -> rocket_ws::result::Result<()> {
        let user_id = self.me.id();
        self.presence.arrive(self.hub.as_ref(), user_id);
        crate::metrics::socket(true);
        let result = self.run(stream).await;
        crate::metrics::socket(false);
        self.presence
            .leave(self.hub.clone(), self.pool.clone(), self.grace, user_id);
        result
    }

    pub(super) async fn run(&self, stream: DuplexStream) -> rocket_ws::result::Result<()> {
        let mut state = LoopState {
            delivered_seq: 0,
            typists: HashMap::new(),
            typing_budget: TokenBucket::new(SOCKET_TYPING),
            message_budget: TokenBucket::new(SOCKET_MESSAGES),
            last_heard: Instant::now(),
            last_shown: None,
            unseen: None,
            read_up_to: None,
            read_due: None,
            newest: None,
            lists_current: false,
            inbox_shown: None,
            rows_loading: FuturesUnordered::new(),
            rows_waiting: HashMap::new(),
            list_loading: None,
            visible: true,
            visibility_budget: TokenBucket::new(SOCKET_VISIBILITY),
            presence_pending: HashMap::new(),
            presence_due: None,
        };
        self.presence
            .set_visible(self.hub.as_ref(), self.me.id(), true);
        let result = self.pump(stream, &mut state).await;
        if state.visible {
            self.presence
                .set_visible(self.hub.as_ref(), self.me.id(), false);
        }
        // What the page showed before it closed has been read.
        Box::pin(self.flush_read(&mut state)).await;
        result
    }

    pub(super) async fn pump(
        &self,
        mut stream: DuplexStream,
        state: &mut LoopState,
    ) -> rocket_ws::result::Result<()> {
        // Subscribe before reading what was missed, so nothing falls between.
        let mut events = self.hub.subscribe(self.me.id(), self.watching());
        Box::pin(self.resync(&mut stream, state, false)).await?;
        let mut ping = tokio::time::interval(self.idle_timeout / 3);
        ping.tick().await;
        let mut shutdown = self.shutdown.clone();
        loop {
            let typing_ends = state.typists.values().map(|(_, until)| *until).min();
            let read_due = state.read_due;
            let presence_due = state.presence_due;
            let rows_loading = !state.rows_loading.is_empty();
            let step = tokio::select! {
                Some(loaded) = state.rows_loading.next(), if rows_loading => {
                    match Box::pin(self.row_loaded(loaded, state)).await {
                        Ok(row) if !row.0.is_empty() => Step::Reply(row),
                        Ok(_) => Step::Nothing,
                        Err(e) => {
                            rocket::error!("drawing an inbox row failed: {e}");
                            Step::Nothing
                        }
                    }
                }
                frame = stream.next() => match frame.inspect(|_| state.last_heard = Instant::now()) {
                    None | Some(Ok(WsMessage::Close(_))) => return Ok(()),
                    Some(Ok(WsMessage::Text(text))) => Box::pin(self.handle_frame(&text, state)).await,
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
                    Ok(event) if !matches!(event, Event::Resync) => match Box::pin(self.handle_event(event, state)).await {
                        Step::Resync => {
                            Box::pin(self.resync(&mut stream, state, false)).await?;
                            Step::Nothing
                        }
                        step => step,
                    },
                    Ok(_) | Err(RecvError::Lagged(_)) => {
                        // Events were dropped: presence and badges may be stale too.
                        Box::pin(self.resync(&mut stream, state, true)).await?;
                        Step::Nothing
                    }
                    Err(RecvError::Closed) => return Ok(()),
                },
                _ = sleep_until(typing_ends) => {
                    let now = Instant::now();
                    state.typists.retain(|_, (_, until)| *until > now);
                    Step::Reply(typing_fragment(state))
                }
                _ = sleep_until(read_due) => {
                    Box::pin(self.flush_read(state)).await;
                    Step::Nothing
                }
                _ = sleep_until(presence_due) => self.flush_presence(state),
                _ = ping.tick() => {
                    if state.last_heard.elapsed() > self.idle_timeout {
                        Step::Close(CloseCode::Away, "idle")
                    } else if !Box::pin(auth::session_is_live(&self.pool, &self.me.session.token_hash, self.session_idle)).await {
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
                        if let Step::Reply(markup) =
                            Box::pin(self.handle_frame(&frame, state)).await
                        {
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

    /// Sends a frame, giving up when the page has not taken it within the
    /// idle timeout: a page whose reader stopped must not hold this task, its
    /// descriptor and its buffers for ever, nor keep the idle timeout, the
    /// resync and the shutdown close from running.
    pub(super) async fn send(
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
    pub(super) async fn close(
        &self,
        stream: &mut DuplexStream,
        code: CloseCode,
        reason: &'static str,
    ) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = tokio::time::timeout(self.idle_timeout, stream.close(Some(frame))).await;
    }

    /// The members, when this page knows them for good: a direct
    /// conversation's two never change. `None` means ask the database.
    pub(super) fn known_members(&self) -> Option<[UserId; 2]> {
        self.peer_id().map(|peer| [self.me.id(), peer])
    }

    /// The other person of a direct conversation page.
    /// Whose presence this page shows (see `shows_presence_of`).
    fn watching(&self) -> Watching {
        match (self.lists, self.peer_id()) {
            (Lists::People, _) => Watching::Everyone,
            (_, Some(peer)) => Watching::One(peer),
            _ => Watching::Nobody,
        }
    }

    pub(super) fn peer_id(&self) -> Option<UserId> {
        match self.chat.as_ref().map(|c| &c.scope) {
            Some(Scope::Direct(peer)) => Some(peer.id),
            _ => None,
        }
    }

    /// Writes the read position the page has reached, if it moved. Under
    /// load this happens at most once per `READ_MARK_DELAY`, not per message.
    pub(super) async fn flush_read(&self, state: &mut LoopState) {
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
            members.as_ref().map(<[UserId; 2]>::as_slice),
        )
        .await;
        if let Err(e) = result {
            rocket::error!("marking read failed: {e}");
        }
    }

    /// Handles one frame from the page; any reply goes to this socket only.
    pub(super) async fn handle_frame(&self, text: &str, state: &mut LoopState) -> Step {
        let frame = parse_frame(text);
        if let Some(ClientFrame::Visible(visible)) = frame {
            // Each change may be news to every instance: a page flooding
            // them is ignored (and only misleads its own user's pushes).
            if state.visible != visible && state.visibility_budget.take().is_err() {
                return Step::Nothing;
            }
            if std::mem::replace(&mut state.visible, visible) != visible {
                self.presence
                    .set_visible(self.hub.as_ref(), self.me.id(), visible);
            }
            return Step::Nothing;
        }
        if let Some(ClientFrame::Resume(shown)) = &frame {
            if std::mem::replace(&mut state.lists_current, true) {
                return Step::Nothing;
            }
            return match self.lists_changed(shown, state).await {
                Ok(fragment) if fragment.0.is_empty() => Step::Nothing,
                Ok(fragment) => Step::Reply(fragment),
                Err(e) => {
                    // The page reconnects and says again what it shows.
                    rocket::error!("catching up the lists failed: {e}");
                    Step::Close(CloseCode::Error, "catching up failed")
                }
            };
        }
        let Some(chat) = &self.chat else {
            return Step::Nothing;
        };
        match frame {
            Some(ClientFrame::Resume(_) | ClientFrame::Visible(_)) => Step::Nothing,
            None => Step::Reply(chat_views::composer_error(
                Some("That message could not be read. Reload the page and try again."),
                None,
                true,
            )),
            Some(ClientFrame::Typing) => {
                if state.typing_budget.take().is_ok() {
                    chat::typing(
                        &self.pool,
                        self.hub.as_ref(),
                        chat.conversation_id,
                        self.me.id(),
                        shown_name(&self.me.user.username, &self.me.user.profile).into(),
                    )
                    .await;
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
            Some(ClientFrame::Send {
                body,
                client_id,
                reply_to,
            }) => {
                let unsent = body.as_deref().filter(|b| !b.trim().is_empty());
                if state.message_budget.take().is_err() {
                    return Step::Reply(too_fast(unsent));
                }
                match self
                    .send_draft(
                        chat.conversation_id,
                        body.as_deref(),
                        client_id.as_deref(),
                        reply_to.as_deref(),
                    )
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
    pub(super) async fn send_draft(
        &self,
        conversation_id: ConversationId,
        body: Option<&str>,
        client_id: Option<&str>,
        reply_to: Option<&str>,
    ) -> Result<Sent> {
        let draft = Draft::parse(body, client_id)?.replying_to(reply_to);
        self.budgets.message(self.me.id())?;
        let members = self.known_members();
        chat::send_with(
            &self.writer,
            self.hub.as_ref(),
            self.me.id(),
            conversation_id,
            &draft,
            None,
            members.as_ref().map(<[UserId; 2]>::as_slice),
        )
        .await
    }
}

/// The refusal for a socket sending faster than its budget.
pub(super) fn too_fast(unsent: Option<&str>) -> Markup {
    chat_views::composer_error(
        Some("You are sending messages too fast. Wait a moment, then send again."),
        unsent,
        true,
    )
}

/// Sleeps until `deadline`, or forever when there is none.
pub(super) async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
