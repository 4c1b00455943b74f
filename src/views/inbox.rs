//! The inbox: the viewer's conversations, newest activity first, each with
//! its newest message, its time and an unread badge, and the box that
//! filters it (a GET form without script, narrowing as you type with it).

use maud::{html, Markup};
use time::OffsetDateTime;

use super::people::avatar;
use super::{clock, conversation_url, date_text, dom_id, full_time, iso};
use crate::domain::{ConversationId, InboxRow, NotifyLevel, Preview, UserId, Zone};
use crate::limits::UNREAD_SHOWN_MAX;

/// How a page shows an inbox: whose it is, which conversation is open, on
/// which clock.
#[derive(Debug, Clone, Copy)]
pub struct InboxView<'a> {
    pub viewer: UserId,
    pub current: Option<ConversationId>,
    pub zone: &'a Zone,
}

/// The whole list.
pub(crate) fn inbox_list(rows: &[InboxRow], view: &InboxView, oob: bool) -> Markup {
    html! {
        ul #inbox .contacts .inbox aria-label="Conversations" hx-swap-oob=[oob.then_some("true")] {
            @for row in rows { (inbox_row(row, view, false)) }
        }
    }
}

/// One conversation: a link with its avatar, name, newest message, the
/// time of it and the unread badge. `data-name` is what the filter matches.
pub(crate) fn inbox_row(row: &InboxRow, view: &InboxView, oob: bool) -> Markup {
    let current = view.current == Some(row.id);
    html! {
        li id=(dom_id("conversation", row.id)) data-name=(row.title.to_lowercase())
            data-notify=(row.notify.as_str())
            class=[(row.notify != NotifyLevel::All).then_some("muted")]
            hx-swap-oob=[oob.then_some("true")] {
            a.contact href=(conversation_url(row.id)) aria-current=[current.then_some("page")] {
                @if row.group {
                    span.avatar.group-avatar aria-hidden="true" { "#" }
                } @else {
                    span.avatar aria-hidden="true" { (avatar(&row.title, row.avatar.as_deref())) }
                }
                span.who {
                    span.top {
                        span.name { (row.title) }
                        @if row.secret { (super::secret::lock_mark()) }
                        @if let Some(newest) = &row.newest {
                            (when(newest.at, view.zone))
                        }
                    }
                    span.preview {
                        @match &row.newest {
                            Some(newest) => (preview(newest, row.group, row.secret, view.viewer)),
                            None => "No messages yet",
                        }
                    }
                }
                (unread(row.id, row.unread, row.mentioned, row.last_seq, false))
            }
        }
    }
}

/// The newest message in a line: who (in groups, and "You"), then the start
/// of its text; a file as "📎" and its caption or name; a note as a sentence.
fn preview(newest: &Preview, group: bool, secret: bool, viewer: UserId) -> Markup {
    let who = if newest.sender_id == viewer {
        "You"
    } else {
        newest.sender_name.as_str()
    };
    html! {
        @if newest.deleted {
            @if group || newest.sender_id == viewer { span.preview-sender { (who) ": " } }
            em { "This message was deleted" }
        } @else if newest.note {
            (who) " " (newest.text)
        } @else {
            @if group || newest.sender_id == viewer {
                span.preview-sender { (who) ": " }
            }
            @if newest.file { span aria-hidden="true" { "📎 " } }
            @if secret { em { "Encrypted message" } } @else { (newest.text) }
        }
    }
}

/// When the newest message was sent, as short as a list allows: "14:05"
/// today, "Yesterday", a weekday within the week, else "20 Nov" (with the
/// year when it is not this one); the full time on hover.
pub(crate) fn when(at: OffsetDateTime, zone: &Zone) -> Markup {
    let local = zone.local(at);
    let today = zone.local(OffsetDateTime::now_utc()).date();
    let days_ago = (today - local.date()).whole_days();
    let text = match days_ago {
        0 => clock(local),
        1 => "Yesterday".to_owned(),
        2..=6 => local.weekday().to_string()[..3].to_owned(),
        _ => date_text(local.date(), local.year() != today.year()),
    };
    html! {
        time.when datetime=(iso(at)) title=(full_time(local, zone)) { (text) }
    }
}

/// A conversation's unread badge; empty when everything is read. It carries
/// the count and the conversation's change it is as of, which the page
/// reports when its socket (re)connects, so the server sends only what moved.
pub fn unread(
    conversation: ConversationId,
    count: i64,
    mentioned: bool,
    as_of_seq: i64,
    oob: bool,
) -> Markup {
    html! {
        span id=(dom_id("unread", conversation)) class="unread" data-seq=(as_of_seq)
            data-count=(count) hx-swap-oob=[oob.then_some("true")] {
            // "@": an unread message calls the viewer by name.
            @if mentioned && count > 0 {
                span.mention-mark aria-hidden="true" { "@" }
                span.visually-hidden { "mentioned you, " }
            }
            @if count > UNREAD_SHOWN_MAX {
                (UNREAD_SHOWN_MAX) "+" span.visually-hidden { " unread" }
            } @else if count > 0 {
                (count) span.visually-hidden { " unread" }
            }
        }
    }
}

/// Socket push: a conversation with news goes to the top of the list (out
/// of its old place, if the page shows it).
pub(crate) fn moved_to_top(row: &InboxRow, view: &InboxView, was_shown: bool) -> Markup {
    html! {
        @if was_shown { (removed_row(row.id)) }
        div hx-swap-oob="afterbegin:#inbox" { (inbox_row(row, view, false)) }
    }
}

/// Socket push: a row drawn again where it is.
pub(crate) fn replaced_row(row: &InboxRow, view: &InboxView) -> Markup {
    inbox_row(row, view, true)
}

/// Socket push: a conversation the viewer is no longer in leaves the list.
pub(crate) fn removed_row(conversation: ConversationId) -> Markup {
    html! {
        li id=(dom_id("conversation", conversation)) hx-swap-oob="delete" {}
    }
}

/// The box that narrows a list: a GET form to `action` without script; with
/// it, rows are hidden as you type (see app.js).
pub(crate) fn filter_box(action: &str, query: &str, label: &str, list: &str) -> Markup {
    html! {
        form.filter method="get" action=(action) role="search" {
            label.visually-hidden for="filter" { (label) }
            input #filter type="search" name="q" value=(query) placeholder=(label)
                autocomplete="off" data-filters=(list);
            button.filter-go type="submit" { "Filter" }
        }
    }
}

/// The inbox's filter box, which also searches messages: the rows narrow
/// as one types (app.js) and the messages found follow below the list in
/// `#message-results` (htmx, a moment after typing stops); without the
/// script, the GET form does both on the server.
pub(crate) fn inbox_search_box(query: &str) -> Markup {
    let label = "Search chats and messages";
    html! {
        form.filter method="get" action="/" role="search" {
            label.visually-hidden for="filter" { (label) }
            input #filter type="search" name="q" value=(query) placeholder=(label)
                autocomplete="off" data-filters="#inbox"
                hx-get="/search" hx-trigger="input changed delay:200ms, search"
                hx-target="#message-results" hx-swap="innerHTML" hx-sync="this:replace";
            button.filter-go type="submit" { "Search" }
        }
    }
}

/// Keeps the rows one of whose names contains `query`, in any case (a page
/// without script filters on the server, as app.js does with `data-name`).
pub(crate) fn keep_matching<T>(rows: &mut Vec<T>, names: impl Fn(&T) -> [&str; 2], query: &str) {
    let query = query.trim().to_lowercase();
    if !query.is_empty() {
        rows.retain(|row| names(row).iter().any(|n| n.to_lowercase().contains(&query)));
    }
}
