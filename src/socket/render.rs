//! Turning an event into what this page shows: a bubble, an inbox row, a
//! badge, a receipt, a typing line, a presence dot, a group heading.

use std::time::Duration;

use maud::{html, Markup};
use rocket_ws::frame::CloseCode;
use tokio::time::Instant;

use super::connection::{Connection, Lists, LoopState, RowMove, Step};
use crate::chat;
use crate::domain::{
    Contact, ConversationId, InboxRow, Message, SharedGroup, SharedTally, Tally, UserId,
};
use crate::error::Result;
use crate::limits::{RESYNC_MAX_MESSAGES, TYPING_SHOWN_MS};
use crate::live::hub::Event;
use crate::views::chat::{self as chat_views, Previous, Timeline};
use crate::views::contacts as contact_views;
use crate::views::groups::{self as group_views, GroupHeading};
use crate::views::inbox::{self as inbox_views, InboxView};

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

    /// A conversation had news: its row in this page's inbox moves to the
    /// top (or joins it), from the tally loaded once for every page; a row
    /// of a conversation the viewer is no longer in leaves.
    pub(super) async fn inbox_news(
        &self,
        conversation_id: ConversationId,
        tally: &SharedTally,
        state: &mut LoopState,
    ) -> Result<Markup> {
        if self.lists != Lists::Inbox {
            return Ok(html! {});
        }
        let row = self.row_of(conversation_id, tally).await?;
        let Some(shown) = state.inbox_shown.as_mut() else {
            // The page has not said yet what its list shows: send it whole.
            let (list, shown) = self.inbox_list().await?;
            state.inbox_shown = Some(shown);
            return Ok(list);
        };
        Ok(match row {
            Some(row) => {
                let was_shown = shown.insert(row.id, row.peer).is_some();
                inbox_views::moved_to_top(&row, &self.inbox_view(), was_shown)
            }
            None if shown.remove(&conversation_id).is_some() => {
                inbox_views::removed_row(conversation_id)
            }
            None => html! {},
        })
    }

    /// A message of a conversation changed: its row in this page's inbox is
    /// drawn again where it is (the newest message may read differently, an
    /// unread one may be gone), if the page shows it.
    pub(super) async fn inbox_row_changed(
        &self,
        conversation_id: ConversationId,
        tally: &SharedTally,
        state: &LoopState,
    ) -> Result<Markup> {
        if !self.shows_row(state, conversation_id) {
            return Ok(html! {});
        }
        Ok(match self.row_of(conversation_id, tally).await? {
            Some(row) => inbox_views::replaced_row(&row, &self.inbox_view()),
            None => html! {},
        })
    }

    /// After a read mark of the viewer's (in any tab), the badge of that
    /// conversation's row, if the page shows it.
    async fn read_badge(
        &self,
        conversation_id: ConversationId,
        tally: &SharedTally,
        state: &LoopState,
    ) -> Result<Step> {
        if !self.shows_row(state, conversation_id) {
            return Ok(Step::Nothing);
        }
        let Some(tally) = self.tally_of(conversation_id, tally).await? else {
            return Ok(Step::Nothing);
        };
        Ok(match tally.unread_of(self.me.id()) {
            Some(count) => Step::Reply(inbox_views::unread(
                conversation_id,
                count,
                tally.mentions(self.me.id()),
                tally.last_seq,
                true,
            )),
            None => Step::Nothing,
        })
    }

    /// The viewer's inbox row of a conversation, from the event's tally;
    /// `None` when they are not in it.
    async fn row_of(
        &self,
        conversation_id: ConversationId,
        tally: &SharedTally,
    ) -> Result<Option<InboxRow>> {
        Ok(self
            .tally_of(conversation_id, tally)
            .await?
            .and_then(|t| t.row_for(self.me.id())))
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
                let (list, shown) = self.inbox_list().await?;
                state.inbox_shown = Some(shown);
                list
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
    pub(super) fn deliver(&self, messages: &[Message], state: &mut LoopState) -> Markup {
        let Some(newest) = messages.last() else {
            return html! {};
        };
        let previous = state.last_shown.replace(Previous::of(newest));
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
            (chat_views::append_messages(messages, previous, &self.timeline()))
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
            (self.deliver(&new, state))
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
            Event::MessagePosted { message, tally } if Some(message.conversation_id) == viewing => {
                if message.seq <= state.delivered_seq {
                    return Ok(Step::Nothing);
                }
                // The sidebar's row follows once the message is out.
                state.row_due = Some((message.conversation_id, tally.clone(), RowMove::ToTop));
                if message.seq == state.delivered_seq + 1 {
                    return Ok(Step::Reply(
                        self.deliver(std::slice::from_ref(&message), state),
                    ));
                }
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
                state.row_due = Some((conversation_id, tally.clone(), RowMove::InPlace));
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
                let row = self
                    .inbox_row_changed(conversation_id, &tally, state)
                    .await?;
                if row.0.is_empty() {
                    Step::Nothing
                } else {
                    Step::Reply(row)
                }
            }
            Event::MessagePosted { message, tally } => {
                let row = self
                    .inbox_news(message.conversation_id, &tally, state)
                    .await?;
                if row.0.is_empty() {
                    Step::Nothing
                } else {
                    Step::Reply(row)
                }
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
            } if self.shows_presence_of(user_id) => Step::Reply(contact_views::presence(
                user_id,
                online,
                last_seen,
                &self.me.zone,
                true,
            )),
            Event::PresenceChanged { .. } => Step::Nothing,
            Event::UserJoined(user) if user.id != me && self.lists == Lists::People => {
                let contact = Contact {
                    id: user.id,
                    username: user.username.clone(),
                    last_seen_at: None,
                };
                let online = self.presence.is_online(user.id);
                Step::Reply(contact_views::appended_contact(
                    &contact,
                    online,
                    &self.me.zone,
                ))
            }
            Event::UserJoined(_) => Step::Nothing,
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
                        .iter()
                        .find(|(_, peer)| **peer == Some(user_id))
                        .map(|(id, _)| *id)?;
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

pub(super) fn typing_fragment(state: &LoopState) -> Markup {
    let mut names: Vec<&str> = state.typists.values().map(|(name, _)| &**name).collect();
    names.sort_unstable();
    chat_views::typing(&names, true)
}
