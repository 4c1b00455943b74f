//! Bringing a page up to date when its socket (re)connects: what it missed
//! in its conversation, presence changes since it was rendered, and what
//! changed in its list (the inbox or the directory).

use std::collections::HashMap;

use maud::{html, Markup};
use rocket_ws::frame::CloseCode;
use rocket_ws::result::Error as WsError;
use rocket_ws::stream::DuplexStream;
use time::OffsetDateTime;

use super::connection::{text, Connection, Lists, LoopState};
use super::frame::ShownLists;
use crate::chat::{self, history};
use crate::domain::{ConversationId, UserId, Zone};
use crate::domain::{InboxRow, Message};
use crate::error::Result;
use crate::limits::{PRESENCE_CLOCK_MARGIN, PRESENCE_REPLAY_MAX, RESYNC_MAX_MESSAGES};
use crate::live::presence::Presence;
use crate::views::chat as chat_views;
use crate::views::chat::Previous;
use crate::views::contacts as contact_views;
use crate::views::inbox as inbox_views;
use crate::views::layout;

impl Connection {
    /// Brings the page up to date: in a conversation, everything after what
    /// the page was rendered with (the live region is replaced whole, so
    /// replays never duplicate; when too much was missed the whole list is
    /// replaced), and with `contacts` (after missed events) the page's list
    /// whole. Otherwise the page says what its list shows (`resume`) and
    /// gets only what changed (`lists_changed`).
    pub(super) async fn resync(
        &self,
        stream: &mut DuplexStream,
        state: &mut LoopState,
        contacts: bool,
    ) -> rocket_ws::result::Result<()> {
        if contacts && self.lists == Lists::People {
            // What was gathered is older than the directory the page is
            // about to get (a conversation's heading gets no presence in a
            // resync: what was gathered for it still goes).
            state.presence_pending.clear();
            state.presence_due = None;
        }
        match self.missed(state, contacts).await {
            Ok(fragment) => self.send(stream, text(fragment)).await,
            Err(e) => {
                // Without knowing what the page has, nothing can be shown
                // in order: say why, and close with 1011 so the page
                // reconnects and catches up again.
                rocket::error!("socket resync failed: {e}");
                let error = chat_views::composer_error(Some(&e.public_message()), None, true);
                self.send(stream, text(error)).await?;
                self.close(stream, CloseCode::Error, "catching up failed")
                    .await;
                Err(WsError::ConnectionClosed)
            }
        }
    }

    /// What the page missed; records in `state` the newest message it gets.
    pub(super) async fn missed(
        &self,
        state: &mut LoopState,
        with_contacts: bool,
    ) -> Result<Markup> {
        let me = self.me.id();
        let presence = if with_contacts {
            None
        } else {
            self.presence_missed()
        };
        if presence.is_none() {
            state.lists_current = true;
        }
        let contacts = match (presence.is_none(), self.lists) {
            (false, _) => html! {},
            (true, Lists::Inbox) => {
                let (list, shown) = self.inbox_list().await?;
                state.inbox_shown = Some(shown);
                list
            }
            (true, Lists::People) => {
                let list = chat::contacts_of(&self.pool, me).await?;
                let is_online = |id| self.presence.is_online(id);
                contact_views::contact_list(&list, &is_online, &self.me.zone, true)
            }
        };
        let contacts = html! { (contacts) (presence.unwrap_or_default()) (layout::connected()) };
        let Some(chat) = &self.chat else {
            return Ok(contacts);
        };
        let id = chat.conversation_id;
        let seen = chat::seen(&self.pool, id, me).await?;
        let missed = match chat.page_seq {
            Some(after) => {
                chat::changes_after(&self.pool, id, me, after, RESYNC_MAX_MESSAGES + 1).await?
            }
            None => Vec::new(),
        };
        if let (Some(page_seq), true) = (chat.page_seq, missed.len() as i64 <= RESYNC_MAX_MESSAGES)
        {
            let page_newest = chat::shown_last(&self.pool, id, me, page_seq).await?;
            let page_last = page_newest.as_ref().map(Previous::of);
            // New since the page was rendered, or changed since (shown in
            // place of their bubbles).
            state.delivered_seq = chat::resume_point(&missed).max(page_seq);
            let (mut new, changed): (Vec<Message>, Vec<Message>) =
                missed.into_iter().partition(|m| m.seq > page_seq);
            new.sort_by_key(|m| m.seq);
            state.last_shown = new.last().map(Previous::of).or(page_last);
            state.newest = new
                .last()
                .or(page_newest.as_ref())
                .map(|m| (m.id, m.sender_id));
            state.unseen = state.newest.map(|(id, _)| id);
            return Ok(html! {
                (contacts)
                (chat_views::live_region(&new, page_last, &self.timeline()))
                (chat_views::replacements(&changed, &self.timeline()))
                (chat_views::receipt(seen, true))
            });
        }
        let (latest, has_more) = history(&self.pool, id, me, None).await?;
        state.delivered_seq = chat::resume_point(&latest);
        state.last_shown = latest.last().map(Previous::of);
        state.newest = latest.last().map(|m| (m.id, m.sender_id));
        state.unseen = state.newest.map(|(id, _)| id);
        Ok(html! {
            (contacts)
            (chat_views::message_list(id, &latest, has_more, None, &self.timeline(), seen, true))
        })
    }

    /// The presence of everyone the page shows who came or went since it
    /// was rendered, which the page may have missed before this socket
    /// subscribed; `None` when the page gets its whole list instead.
    pub(super) fn presence_missed(&self) -> Option<Markup> {
        let Some(rendered_at) = self.rendered_at else {
            return Some(html! {});
        };
        presence_replay(
            &self.presence,
            &|user| self.shows_presence_of(user),
            &self.me.zone,
            rendered_at,
        )
    }

    /// What changed in the page's list since it was shown as `shown`. The
    /// inbox: the badges whose count alone moved, or the whole list when any
    /// row has news, came or went (rows are few, and order matters). The
    /// directory: those who signed up since, or the whole list where rows
    /// have gone.
    pub(super) async fn lists_changed(
        &self,
        shown: &ShownLists,
        state: &mut LoopState,
    ) -> Result<Markup> {
        let me = self.me.id();
        if self.lists == Lists::People {
            let contacts = chat::contacts_of(&self.pool, me).await?;
            let is_online = |id| self.presence.is_online(id);
            let on_page = |id: UserId| shown.upto.is_some_and(|upto| id <= upto);
            let kept = contacts.iter().filter(|c| on_page(c.id)).count();
            return Ok(if kept != shown.rows {
                contact_views::contact_list(&contacts, &is_online, &self.me.zone, true)
            } else {
                html! {
                    @for contact in contacts.iter().filter(|c| !on_page(c.id)) {
                        (contact_views::appended_contact(contact, is_online(contact.id), &self.me.zone))
                    }
                }
            });
        }
        let rows = chat::inbox(&self.pool, me).await?;
        state.inbox_shown = Some(rows.iter().map(|row| (row.id, row.clone())).collect());
        let same_rows = rows.len() == shown.inbox.len()
            && rows
                .iter()
                .zip(&shown.inbox)
                .all(|(row, &(id, seq, _))| row.id == id && row.last_seq == seq);
        Ok(if same_rows {
            html! {
                @for (row, &(_, _, count)) in rows.iter().zip(&shown.inbox) {
                    @if row.unread != count {
                        (inbox_views::unread(row.id, row.unread, row.mentioned, row.last_seq, true))
                    }
                }
            }
        } else {
            inbox_views::inbox_list(&rows, &self.inbox_view(), true)
        })
    }

    /// The viewer's inbox, as an out-of-band replacement, and which rows it
    /// has.
    pub(super) async fn inbox_list(&self) -> Result<(Markup, HashMap<ConversationId, InboxRow>)> {
        let rows = chat::inbox(&self.pool, self.me.id()).await?;
        let shown = rows.iter().map(|row| (row.id, row.clone())).collect();
        Ok((
            inbox_views::inbox_list(&rows, &self.inbox_view(), true),
            shown,
        ))
    }
}

/// The presence dots that changed since `rendered_at` (with a margin for
/// clocks) of the people a page shows; `None` after a storm of changes (a
/// restart), when the whole list is cheaper than a dot per person.
fn presence_replay(
    presence: &Presence,
    shows: &dyn Fn(UserId) -> bool,
    zone: &Zone,
    rendered_at: OffsetDateTime,
) -> Option<Markup> {
    let changes = presence.changed_since(rendered_at - PRESENCE_CLOCK_MARGIN, shows);
    if changes.len() > PRESENCE_REPLAY_MAX {
        return None;
    }
    Some(html! {
        @for status in &changes {
            (contact_views::presence(status.user_id, status.online, status.last_seen, zone, true))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_gets_each_changed_dot_until_a_storm_makes_the_whole_list_cheaper() {
        let presence = Presence::default();
        let rendered_at = OffsetDateTime::now_utc();
        let me = UserId::new(1);
        for user in 1..=PRESENCE_REPLAY_MAX as i64 {
            presence.connected(UserId::new(user));
        }
        let shows = |user| user != me;
        let replay = presence_replay(&presence, &shows, &Zone::utc(), rendered_at)
            .expect("dots, not the list")
            .into_string();
        assert_eq!(
            replay.matches("presence online").count(),
            PRESENCE_REPLAY_MAX - 1
        );
        assert!(
            !replay.contains(r#"id="presence-1""#),
            "not the viewer's own"
        );
        presence.connected(UserId::new(PRESENCE_REPLAY_MAX as i64 + 1));
        presence.connected(UserId::new(PRESENCE_REPLAY_MAX as i64 + 2));
        assert!(presence_replay(&presence, &shows, &Zone::utc(), rendered_at).is_none());
        let none_shown = |_| false;
        assert_eq!(
            presence_replay(&presence, &none_shown, &Zone::utc(), rendered_at)
                .map(Markup::into_string)
                .as_deref(),
            Some(""),
            "a page showing nobody's presence gets no dots, storm or not"
        );
    }
}
