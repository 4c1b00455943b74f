//! The directory of everyone registered, and its live part: presence
//! ("online", "last seen").

use maud::{html, Markup};
use time::OffsetDateTime;

use super::people::{avatar, name, part_id, shown_name};
use super::{clock, contact_url, dom_id};
use crate::domain::{Contact, UserId, Zone};

/// "last seen 14:05" today, "last seen 20 Nov" before, on the viewer's clock.
pub(crate) fn last_seen_text(last_seen: Option<OffsetDateTime>, zone: &Zone) -> String {
    let today = zone.local(OffsetDateTime::now_utc()).date();
    match last_seen.map(|at| zone.local(at)) {
        None => "offline".into(),
        Some(at) if at.date() == today => format!("last seen {}", clock(at)),
        Some(at) => format!("last seen {}", super::date_text(at.date(), false)),
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

/// One person: a link to the conversation with them, with their presence.
pub(crate) fn contact_row(contact: &Contact, online: bool, zone: &Zone) -> Markup {
    html! {
        li id=(dom_id("contact", contact.id))
            data-name={ (contact.username.to_lowercase()) " " (contact.profile.display_name.to_lowercase()) } {
            a.contact href=(contact_url(&contact.username)) {
                span.avatar id=(part_id("contact", "avatar", contact.id)) aria-hidden="true" {
                    (avatar(shown_name(&contact.username, &contact.profile), contact.profile.avatar.as_deref()))
                }
                span.who {
                    span.name id=(part_id("contact", "name", contact.id)) {
                        (name(&contact.username, &contact.profile.display_name))
                    }
                    span.status id=(part_id("contact", "status", contact.id)) { (contact.profile.status) }
                    (presence(contact.id, online, contact.last_seen_at, zone, false))
                }
            }
        }
    }
}

/// Everyone else, each a link to the conversation with them. `is_online`
/// answers presence.
pub(crate) fn contact_list(
    contacts: &[Contact],
    is_online: &dyn Fn(UserId) -> bool,
    zone: &Zone,
    oob: bool,
) -> Markup {
    html! {
        ul #contacts .contacts aria-label="People" hx-swap-oob=[oob.then_some("true")] {
            @for contact in contacts {
                (contact_row(contact, is_online(contact.id), zone))
            }
        }
    }
}

/// Socket push: a user who just signed up joins the list.
pub(crate) fn appended_contact(contact: &Contact, online: bool, zone: &Zone) -> Markup {
    html! {
        div hx-swap-oob="beforeend:#contacts" { (contact_row(contact, online, zone)) }
    }
}

/// Socket push: a user who deleted their account leaves the list.
pub(crate) fn removed_contact(user_id: UserId) -> Markup {
    html! {
        li id=(dom_id("contact", user_id)) hx-swap-oob="delete" {}
    }
}
