//! Turning an event into what this page shows: a bubble, an inbox row, a
//! badge, a receipt, a typing line, a presence dot, a group heading.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use maud::{html, Markup, PreEscaped};
use rocket_ws::frame::CloseCode;
use tokio::time::Instant;

use super::connection::{Connection, Lists, LoopState, RowLoaded, RowLoading, RowMove, Step};
use crate::chat;
use crate::domain::{Contact, ConversationId, InboxRow, Message, Preview};
use crate::domain::{SharedGroup, SharedRenders, SharedTally, Tally, User, UserId};
use crate::error::Result;
use crate::limits::{PRESENCE_COALESCE, RESYNC_MAX_MESSAGES, TYPING_SHOWN_MS, UNREAD_SHOWN_MAX};
use crate::live::hub::Event;
use crate::views::chat::{self as chat_views, Previous, Timeline};
use crate::views::contacts as contact_views;
use crate::views::groups::{self as group_views, GroupHeading};
use crate::views::inbox::{self as inbox_views, InboxView};
use crate::views::people;

impl Connection {
    /// The conversation's tally for this event: loaded by the first page
    /// that needs it, shared by the rest.
    async fn tally_of<'t>(
        &self,
        conversation_id: ConversationId,
        tally: &'t SharedTally,
    ) -> Result<Option<&'t Tally>> {
        let loaded = tally
            .get_or_load(|| chat::tally(&self.pool, conversation_id))
            .await?;
        Ok(loaded.as_ref())
    }

    /// Starts loading the viewer's inbox row of a conversation that changed
    /// (from the event's tally, which the first page to need it loads for
    /// the others), unless this page has no inbox or the change cannot
    /// touch its rows. `row_loaded` draws it.
    pub(super) fn load_row(
        &self,
        conversation_id: ConversationId,
        tally: &SharedTally,
        moved: RowMove,
        state: &mut LoopState,
    ) {
        if self.lists != Lists::Inbox {
            return;
        }
        if let Some(changed) = state.list_loading.as_mut() {
            // The list loading may predate this change: its row follows.
            let moved = match changed.get(&conversation_id) {
                Some((_, RowMove::ToTop)) => RowMove::ToTop,
                _ => moved,
            };
            changed.insert(conversation_id, (tally.clone(), moved));
            return;
        }
        if state.inbox_shown.is_none() {
            if moved == RowMove::ToTop {
                self.load_list(state);
            }
            return;
        }
        if moved == RowMove::InPlace && !self.shows_row(state, conversation_id) {
            return;
        }
        if let Some(next) = state.rows_waiting.get_mut(&conversation_id) {
            // One is loading: this change is loaded after it (a move to the
            // top stays one).
            let moved = match next.take() {
                Some((_, RowMove::ToTop)) => RowMove::ToTop,
                _ => moved,
            };
            *next = Some((tally.clone(), moved));
            return;
        }
        state.rows_waiting.insert(conversation_id, None);
        let (pool, tally, me) = (self.pool.clone(), tally.clone(), self.me.id());
        state.rows_loading.push(off_loop(async move {
            let row = tally
                .get_or_load(|| chat::tally(&pool, conversation_id))
                .await
                .map(|t| t.as_ref().and_then(|t| t.row_for(me)));
            RowLoaded::Row {
                conversation_id,
                moved,
                row,
            }
        }));
    }

    /// Starts loading the whole inbox of a page that has not said which rows
    /// it shows (its list is then sent whole), once. Off the socket's loop,
    /// like single rows: thousands of such pages must not each hold their
    /// loop, waiting for a database connection, on the same message.
    fn load_list(&self, state: &mut LoopState) {
        if state.list_loading.is_some() {
            return;
        }
        state.list_loading = Some(HashMap::new());
        let (pool, me) = (self.pool.clone(), self.me.id());
        state.rows_loading.push(off_loop(async move {
            RowLoaded::List(chat::inbox(&pool, me).await)
        }));
    }

    /// The open conversation's inbox row after a new message in it, from the
    /// row as the page shows it and the message, with no query: one more
    /// unread unless it is the viewer's own (the page's "seen" then clears
    /// it, through the tally, at most once per read-mark delay). `None`
    /// when the page's row is not known, or for a group's note (a rename
    /// changes the title): the row is loaded then.
    fn row_after_message(&self, message: &Message, state: &mut LoopState) -> Option<Markup> {
        if self.lists != Lists::Inbox {
            return Some(html! {});
        }
        if message.note {
            return None;
        }
        let me = self.me.id();
        let shown = state.inbox_shown.as_mut()?;
        let before = shown.get(&message.conversation_id)?;
        let theirs = message.sender_id != me;
        let row = InboxRow {
            unread: (before.unread + i64::from(theirs)).min(UNREAD_SHOWN_MAX + 1),
            mentioned: before.mentioned
                || (theirs && message.mentions.iter().any(|m| m.user_id == me)),
            last_seq: message.seq,
            newest: Some(Preview::of(message)),
            ..before.clone()
        };
        let markup = inbox_views::moved_to_top(&row, &self.inbox_view(), true);
        shown.insert(row.id, row);
        Some(markup)
    }

    /// A loaded inbox row, drawn: a conversation with news moves to the top
    /// (or joins the list), one changed is drawn again where it is, and one
    /// the viewer is no longer in leaves.
    pub(super) async fn row_loaded(
        &self,
        loaded: RowLoaded,
        state: &mut LoopState,
    ) -> Result<Markup> {
        let (conversation_id, moved, row) = match loaded {
            RowLoaded::Row {
                conversation_id,
                moved,
                row,
            } => (conversation_id, moved, row),
            RowLoaded::List(rows) => return self.list_loaded(rows, state),
        };
        if let Some(Some((tally, next))) = state.rows_waiting.remove(&conversation_id) {
            self.load_row(conversation_id, &tally, next, state);
        }
        let row = row?;
        let Some(shown) = state.inbox_shown.as_mut() else {
            // The page has not said yet what its list shows: send it whole.
            self.load_list(state);
            return Ok(html! {});
        };
        // A load that started before a newer message this page drew
        // without a query (its own conversation's) is stale: the row stays.
        let stale = |row: &InboxRow| {
            shown
                .get(&row.id)
                .is_some_and(|drawn| drawn.last_seq > row.last_seq)
        };
        Ok(match (row, moved) {
            (Some(row), _) if stale(&row) => html! {},
            (Some(row), RowMove::ToTop) => {
                let markup = inbox_views::moved_to_top(
                    &row,
                    &self.inbox_view(),
                    shown.contains_key(&row.id),
                );
                shown.insert(row.id, row);
                markup
            }
            (Some(row), RowMove::InPlace) if shown.contains_key(&row.id) => {
                let markup = inbox_views::replaced_row(&row, &self.inbox_view());
                shown.insert(row.id, row);
                markup
            }
            (Some(_), RowMove::InPlace) => html! {},
            (None, _) if shown.remove(&conversation_id).is_some() => {
                inbox_views::removed_row(conversation_id)
            }
            (None, _) => html! {},
        })
    }

    /// A page's whole inbox, loaded: sent whole, unless the page said in the
    /// meantime what it shows (it got what changed then, and is current);
    /// then the rows of conversations that changed during the load follow.
    fn list_loaded(&self, rows: Result<Vec<InboxRow>>, state: &mut LoopState) -> Result<Markup> {
        let changed = state.list_loading.take().unwrap_or_default();
        let list = match rows {
            Ok(rows) if state.inbox_shown.is_none() => {
                let list = inbox_views::inbox_list(&rows, &self.inbox_view(), true);
                state.inbox_shown = Some(rows.into_iter().map(|row| (row.id, row)).collect());
                Ok(list)
            }
            Ok(_) => Ok(html! {}),
            Err(e) => Err(e),
        };
        for (conversation_id, (tally, moved)) in changed {
            self.load_row(conversation_id, &tally, moved, state);
        }
        list
    }

    /// After a read mark of the viewer's (in any tab), the badge of that
    /// conversation's row, if the page shows it.
    async fn read_badge(
        &self,
        conversation_id: ConversationId,
        tally: &SharedTally,
        state: &mut LoopState,
    ) -> Result<Step> {
        if !self.shows_row(state, conversation_id) {
            return Ok(Step::Nothing);
        }
        let Some(tally) = self.tally_of(conversation_id, tally).await? else {
            return Ok(Step::Nothing);
        };
        let me = self.me.id();
        let Some(count) = tally.unread_of(me) else {
            return Ok(Step::Nothing);
        };
        let mentioned = tally.mentions(me);
        if let Some(row) = state
            .inbox_shown
            .as_mut()
            .and_then(|shown| shown.get_mut(&conversation_id))
        {
            row.unread = count;
            row.mentioned = mentioned;
        }
        Ok(Step::Reply(inbox_views::unread(
            conversation_id,
            count,
            mentioned,
            tally.last_seq,
            true,
        )))
    }

    /// Whether this page's inbox has the row of `conversation_id`.
    fn shows_row(&self, state: &LoopState, conversation_id: ConversationId) -> bool {
        self.lists == Lists::Inbox
            && state
                .inbox_shown
                .as_ref()
                .is_some_and(|shown| shown.contains_key(&conversation_id))
    }

    /// How this page shows its inbox.
    pub(super) fn inbox_view(&self) -> InboxView<'_> {
        InboxView {
            viewer: self.me.id(),
            current: self.conversation_id(),
            zone: &self.me.zone,
        }
    }

    /// Whether this page shows the presence of `user`: the directory shows
    /// everyone's, a direct conversation its other person's.
    pub(super) fn shows_presence_of(&self, user: UserId) -> bool {
        user != self.me.id() && (self.lists == Lists::People || self.peer_id() == Some(user))
    }

    /// A group changed (members, name): on the group's own page its heading
    /// follows, from the group's state loaded once for every page; a page of
    /// a group the viewer is no longer in is closed, and its row leaves the
    /// inbox. (What happened reaches the timeline and the inbox as a note.)
    pub(super) async fn group_changed(
        &self,
        conversation_id: ConversationId,
        group: &SharedGroup,
        state: &mut LoopState,
    ) -> Result<Step> {
        let me = self.me.id();
        let loaded = group
            .get_or_load(|| chat::groups::state(&self.pool, conversation_id))
            .await?
            .as_ref()
            .filter(|g| g.has_member(me));
        let viewing = self.conversation_id() == Some(conversation_id);
        let list = match (loaded, state.inbox_shown.as_mut()) {
            _ if self.lists != Lists::Inbox => html! {},
            (Some(_), _) => html! {},
            (None, Some(shown)) => match shown.remove(&conversation_id) {
                Some(_) => inbox_views::removed_row(conversation_id),
                None => html! {},
            },
            (None, None) => {
                self.load_list(state);
                html! {}
            }
        };
        if !viewing {
            return Ok(if list.0.is_empty() {
                Step::Nothing
            } else {
                Step::Reply(list)
            });
        }
        let Some(g) = loaded else {
            return Ok(Step::Close(CloseCode::Normal, "no longer a member"));
        };
        let candidates = g.candidates_for(me);
        let heading = group_views::heading(
            &GroupHeading {
                group: &g.group,
                members: &g.members,
                candidates: &candidates,
                viewer_id: me,
                csrf: self.me.csrf(),
            },
            true,
        );
        Ok(Step::Reply(html! { (list) (heading) }))
    }

    /// Someone changed their profile: wherever this page shows them (the
    /// directory's row, a direct conversation's heading and inbox row, a
    /// group's heading and their bubbles' names), it follows.
    async fn profile_changed(&self, user: &User, state: &mut LoopState) -> Result<Step> {
        let (id, username, profile) = (user.id, user.username.as_str(), &user.profile);
        if self.lists == Lists::People {
            if id == self.me.id() {
                return Ok(Step::Nothing);
            }
            return Ok(Step::Reply(people::profile_parts(
                "contact", id, username, profile,
            )));
        }
        let rows: Vec<ConversationId> = state
            .inbox_shown
            .as_ref()
            .map(|shown| {
                shown
                    .values()
                    .filter(|row| row.peer == Some(id))
                    .map(|row| row.id)
                    .collect()
            })
            .unwrap_or_default();
        for conversation_id in rows {
            self.load_row(
                conversation_id,
                &SharedTally::default(),
                RowMove::InPlace,
                state,
            );
        }
        let shown_here = match self.chat.as_ref().map(|chat| &chat.scope) {
            Some(chat::Scope::Direct(peer)) if peer.id == id => {
                people::profile_parts("peer", id, username, profile)
            }
            Some(chat::Scope::Group(_)) => {
                let Some(conversation_id) = self.conversation_id() else {
                    return Ok(Step::Nothing);
                };
                let group = SharedGroup::default();
                let is_member = group
                    .get_or_load(|| chat::groups::state(&self.pool, conversation_id))
                    .await?
                    .as_ref()
                    .is_some_and(|g| g.has_member(id));
                if !is_member {
                    return Ok(Step::Nothing);
                }
                let heading = match self.group_changed(conversation_id, &group, state).await? {
                    Step::Reply(heading) => heading,
                    _ => html! {},
                };
                html! {
                    (heading)
                    @if id != self.me.id() { (people::sender_names(id, username, profile)) }
                }
            }
            _ => return Ok(Step::Nothing),
        };
        Ok(Step::Reply(shown_here))
    }

    /// How this page lays out messages.
    pub(super) fn timeline(&self) -> Timeline<'_> {
        Timeline {
            viewer: self.me.id(),
            zone: &self.me.zone,
            group: self
                .chat
                .as_ref()
                .is_some_and(|chat| matches!(chat.scope, chat::Scope::Group(_))),
            unread_after: None,
            csrf: self.me.csrf(),
        }
    }

    /// Appends messages that follow what the page shows, in sequence order.
    /// With `shared`, the bubbles come from the event's fragments when
    /// another page drew the same ones (see `bubble_key`).
    pub(super) fn deliver(
        &self,
        messages: &[Message],
        state: &mut LoopState,
        shared: Option<&SharedRenders>,
    ) -> Markup {
        let Some(newest) = messages.last() else {
            return html! {};
        };
        let timeline = self.timeline();
        let previous = state.last_shown.replace(Previous::of(newest));
        let bubbles = match shared {
            Some(shared) => {
                let key = bubble_key(messages, previous, &timeline);
                // Drawn for other viewers too: without this one's form token
                // (a new bubble has no form; were one added, it would fail
                // closed rather than hand the token to others).
                let anyone = Timeline {
                    csrf: "",
                    ..timeline
                };
                let fragment = shared.get_or_render(&key, || {
                    chat_views::append_messages(messages, previous, &anyone).into_string()
                });
                PreEscaped(fragment.to_string())
            }
            None => chat_views::append_messages(messages, previous, &timeline),
        };
        state.delivered_seq = state.delivered_seq.max(newest.seq);
        state.newest = Some((newest.id, newest.sender_id));
        let me = self.me.id();
        if let Some(theirs) = messages.iter().rev().find(|m| m.sender_id != me) {
            state.unseen = Some(theirs.id);
        }
        let mut typing_changed = false;
        for message in messages {
            typing_changed |= state.typists.remove(&message.sender_id).is_some();
        }
        html! {
            (bubbles)
            (chat_views::receipt(false, true))
            @if typing_changed { (typing_fragment(state)) }
        }
    }

    /// An earlier change was committed first but has not been published
    /// here yet (another sender's task, another instance): it is in the
    /// database, so everything after what the page has is shown first.
    async fn fill_gap(
        &self,
        conversation_id: ConversationId,
        state: &mut LoopState,
    ) -> Result<Step> {
        let missing = chat::changes_after(
            &self.pool,
            conversation_id,
            self.me.id(),
            state.delivered_seq,
            RESYNC_MAX_MESSAGES + 1,
        )
        .await?;
        Ok(if missing.len() as i64 > RESYNC_MAX_MESSAGES {
            Step::Resync
        } else {
            Step::Reply(self.apply_changes(missing, state))
        })
    }

    /// Shows the messages created or changed after what the page has (as
    /// `changes_after` gives them): new ones appended in order, changed
    /// ones in place of their bubbles.
    pub(super) fn apply_changes(&self, rows: Vec<Message>, state: &mut LoopState) -> Markup {
        let after = state.delivered_seq;
        let newest_change = rows.iter().map(|m| m.changed_seq).max();
        let (mut new, changed): (Vec<Message>, Vec<Message>) =
            rows.into_iter().partition(|m| m.seq > after);
        new.sort_by_key(|m| m.seq);
        let markup = html! {
            (self.deliver(&new, state, None))
            (chat_views::replacements(&changed, &self.timeline()))
        };
        state.delivered_seq = state.delivered_seq.max(newest_change.unwrap_or(after));
        markup
    }

    /// Turns an event into what this page should show, if anything.
    pub(super) async fn handle_event(&self, event: Event, state: &mut LoopState) -> Step {
        match self.render_event(event, state).await {
            Ok(step) => step,
            Err(e) => {
                rocket::error!("socket update failed: {e}");
                Step::Nothing
            }
        }
    }

    pub(super) async fn render_event(&self, event: Event, state: &mut LoopState) -> Result<Step> {
        let me = self.me.id();
        let viewing = self.conversation_id();
        Ok(match event {
            Event::MessagePosted {
                message,
                tally,
                bubbles,
            } if Some(message.conversation_id) == viewing => {
                if message.seq <= state.delivered_seq {
                    return Ok(Step::Nothing);
                }
                if message.seq == state.delivered_seq + 1 {
                    let delivered =
                        self.deliver(std::slice::from_ref(&message), state, Some(&bubbles));
                    // The sidebar's row follows: drawn from the row the page
                    // shows and the message, or else loaded (and drawn when
                    // loaded; the message goes now).
                    let row = self.row_after_message(&message, state).unwrap_or_else(|| {
                        self.load_row(message.conversation_id, &tally, RowMove::ToTop, state);
                        html! {}
                    });
                    return Ok(Step::Reply(html! { (delivered) (row) }));
                }
                self.load_row(message.conversation_id, &tally, RowMove::ToTop, state);
                self.fill_gap(message.conversation_id, state).await?
            }
            Event::MessageChanged {
                seq,
                messages,
                tally,
            } if messages.first().map(|m| m.conversation_id) == viewing && viewing.is_some() => {
                let Some(conversation_id) = viewing else {
                    return Ok(Step::Nothing);
                };
                if seq <= state.delivered_seq {
                    return Ok(Step::Nothing);
                }
                self.load_row(conversation_id, &tally, RowMove::InPlace, state);
                if seq == state.delivered_seq + 1 {
                    state.delivered_seq = seq;
                    return Ok(Step::Reply(chat_views::replacements(
                        &messages,
                        &self.timeline(),
                    )));
                }
                self.fill_gap(conversation_id, state).await?
            }
            Event::MessageChanged {
                messages, tally, ..
            } => {
                let Some(conversation_id) = messages.first().map(|m| m.conversation_id) else {
                    return Ok(Step::Nothing);
                };
                self.load_row(conversation_id, &tally, RowMove::InPlace, state);
                Step::Nothing
            }
            Event::MessagePosted { message, tally, .. } => {
                self.load_row(message.conversation_id, &tally, RowMove::ToTop, state);
                Step::Nothing
            }
            Event::Read {
                conversation_id,
                reader_id,
                up_to,
                tally,
            } if Some(conversation_id) == viewing && reader_id != me => {
                let seen = match self.peer_id() {
                    // The only other member: "Seen" needs no query.
                    Some(_) => state
                        .newest
                        .is_some_and(|(id, sender)| sender == me && up_to >= id),
                    None => self
                        .tally_of(conversation_id, &tally)
                        .await?
                        .is_some_and(|t| t.seen_by_others(me)),
                };
                Step::Reply(chat_views::receipt(seen, true))
            }
            Event::Read {
                conversation_id,
                reader_id,
                tally,
                ..
            } if reader_id == me => {
                // Read here or in another tab: the badge follows.
                self.read_badge(conversation_id, &tally, state).await?
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
            } if self.shows_presence_of(user_id) => {
                // Gathered: many people coming online at once (a restart)
                // reach each page as one frame, not one each.
                state.presence_pending.insert(user_id, (online, last_seen));
                state
                    .presence_due
                    .get_or_insert_with(|| Instant::now() + PRESENCE_COALESCE);
                Step::Nothing
            }
            Event::PresenceChanged { .. } => Step::Nothing,
            Event::UserJoined(user) if user.id != me && self.lists == Lists::People => {
                let contact = Contact {
                    id: user.id,
                    username: user.username.clone(),
                    last_seen_at: None,
                    profile: user.profile.clone(),
                };
                let online = self.presence.is_online(user.id);
                Step::Reply(contact_views::appended_contact(
                    &contact,
                    online,
                    &self.me.zone,
                ))
            }
            Event::UserJoined(_) => Step::Nothing,
            Event::ProfileChanged(user) => self.profile_changed(&user, state).await?,
            Event::GroupChanged {
                conversation_id,
                group,
            } => self.group_changed(conversation_id, &group, state).await?,
            Event::UserLeft { user_id } if self.lists == Lists::People => {
                Step::Reply(contact_views::removed_contact(user_id))
            }
            Event::UserLeft { user_id } => {
                // Their direct conversation is gone with them.
                let gone = state.inbox_shown.as_mut().and_then(|shown| {
                    let id = shown
                        .values()
                        .find(|row| row.peer == Some(user_id))
                        .map(|row| row.id)?;
                    shown.remove(&id);
                    Some(id)
                });
                match gone {
                    Some(id) => Step::Reply(inbox_views::removed_row(id)),
                    None => Step::Nothing,
                }
            }
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
}

impl Connection {
    /// The presence changes gathered since the first one, in one frame.
    pub(super) fn flush_presence(&self, state: &mut LoopState) -> Step {
        state.presence_due = None;
        if state.presence_pending.is_empty() {
            return Step::Nothing;
        }
        let zone = &self.me.zone;
        Step::Reply(html! {
            @for (user_id, (online, last_seen)) in state.presence_pending.drain() {
                (contact_views::presence(user_id, online, last_seen, zone, true))
            }
        })
    }
}

/// Everything the bubbles of `messages` depend on besides the messages:
/// whose they are, whether they call the viewer by name, the viewer's zone,
/// the kind of conversation and the message shown before them. Pages with
/// the same key draw the same bytes.
fn bubble_key(messages: &[Message], previous: Option<Previous>, timeline: &Timeline) -> String {
    let viewer = timeline.viewer;
    let mine = messages.iter().any(|m| m.sender_id == viewer);
    let called = messages
        .iter()
        .any(|m| m.mentions.iter().any(|mention| mention.user_id == viewer));
    let previous = previous.map(|p| (p.sender, p.at.unix_timestamp_nanos(), p.note));
    format!(
        "{mine} {called} {} {} {previous:?}",
        timeline.group,
        timeline.zone.label()
    )
}

pub(super) fn typing_fragment(state: &LoopState) -> Markup {
    let mut names: Vec<&str> = state.typists.values().map(|(name, _)| &**name).collect();
    names.sort_unstable();
    chat_views::typing(&names, true)
}

/// Runs an inbox load as a task of its own, its result collected by the
/// socket's loop. Polled only from the loop, a load would stop wherever the
/// loop went on to wait (a slow page's send, a query of its own) while
/// holding its pooled connection, and every page waiting on the same shared
/// tally with it: with thousands of pages on one small pool, connections sat
/// unused and every other query timed out.
fn off_loop(load: impl Future<Output = RowLoaded> + Send + 'static) -> RowLoading {
    let task = tokio::spawn(load);
    Box::pin(async move {
        match task.await {
            Ok(loaded) => loaded,
            // A panic belongs to the socket that asked, as if run inline.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled: the runtime is shutting down, and the loop with it.
            Err(_) => std::future::pending().await,
        }
    })
}
