//! The contact list and its live parts: presence dot, "last seen", unread badge.

use maud::{html, Markup};
use time::OffsetDateTime;

use super::{clock, contact_url, dom_id};
use crate::domain::{Contact, ConversationId, UserId, Zone};
use crate::limits::UNREAD_SHOWN_MAX;

/// "last seen 14:05" today, "last seen 20 Nov" before, on the viewer's clock.
pub(crate) fn last_seen_text(last_seen: Option<OffsetDateTime>, zone: &Zone) -> String {
    let today = zone.local(OffsetDateTime::now_utc()).date();
    match last_seen.map(|at| zone.local(at)) {
        None => "offline".into(),
        Some(at) if at.date() == today => format!("last seen {}", clock(at)),
        Some(at) => format!("last seen {} {}", at.day(), &format!("{}", at.month())[..3]),
    }
}

/// The presence marker of one user.
pub fn presence(
    user_id: UserId,
    online: bool,
    last_seen: Option<OffsetDateTime>,
    zone: &Zone,
    oob: bool,
) -> Markup {
    let (class, text) = if online {
        ("presence online", "online".to_owned())
    } else {
        ("presence offline", last_seen_text(last_seen, zone))
    };
    html! {
        span id=(dom_id("presence", user_id)) class=(class)
            hx-swap-oob=[oob.then_some("true")] { (text) }
    }
}

/// Whose unread badge: a contact's (their direct conversation) or a group's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Badge {
    Contact(UserId),
    Group(ConversationId),
}

impl Badge {
    fn dom_id(self) -> String {
        match self {
            Badge::Contact(user_id) => dom_id("unread", user_id),
            Badge::Group(conversation_id) => dom_id("unread-group", conversation_id),
        }
    }
}

/// An unread badge; empty when everything is read. It carries the count
/// and the conversation's change it is as of, which the page reports when
/// its socket (re)connects, so the server sends only the badges that moved.
pub fn unread(badge: Badge, count: i64, as_of_seq: i64, oob: bool) -> Markup {
    html! {
        span id=(badge.dom_id()) class="unread" data-seq=(as_of_seq) data-count=(count)
            hx-swap-oob=[oob.then_some("true")] {
            @if count > UNREAD_SHOWN_MAX {
                (UNREAD_SHOWN_MAX) "+" span.visually-hidden { " unread" }
            } @else if count > 0 {
                (count) span.visually-hidden { " unread" }
            }
        }
    }
}

/// One contact: a link to the conversation, with presence and unread count.
pub(crate) fn contact_row(contact: &Contact, online: bool, current: bool, zone: &Zone) -> Markup {
    html! {
        li id=(dom_id("contact", contact.id)) {
            a.contact href=(contact_url(&contact.username)) aria-current=[current.then_some("page")] {
                span.avatar aria-hidden="true" { (initial(&contact.username)) }
                span.who {
                    span.name { (contact.username) }
                    (presence(contact.id, online, contact.last_seen_at, zone, false))
                }
                (unread(Badge::Contact(contact.id), contact.unread, contact.last_seq, false))
            }
        }
    }
}

/// Everyone else, each a link to the conversation with them. `is_online`
/// answers presence; `current` marks the contact whose conversation is open.
pub(crate) fn contact_list(
    contacts: &[Contact],
    is_online: &dyn Fn(UserId) -> bool,
    current: Option<UserId>,
    zone: &Zone,
    oob: bool,
) -> Markup {
    html! {
        ul #contacts .contacts aria-label="Contacts" hx-swap-oob=[oob.then_some("true")] {
            @for contact in contacts {
                (contact_row(contact, is_online(contact.id), current == Some(contact.id), zone))
            }
        }
    }
}

/// Socket push: a user who just signed up joins the list.
pub(crate) fn appended_contact(contact: &Contact, online: bool, zone: &Zone) -> Markup {
    html! {
        div hx-swap-oob="beforeend:#contacts" { (contact_row(contact, online, false, zone)) }
    }
}

/// Socket push: a user who deleted their account leaves the list.
pub(crate) fn removed_contact(user_id: UserId) -> Markup {
    html! {
        li id=(dom_id("contact", user_id)) hx-swap-oob="delete" {}
    }
}

/// The first letter of a name, for an avatar.
pub(crate) fn initial(name: &str) -> String {
    name.chars()
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default()
}
