//! Every byte of HTML Natter sends, as maud templates: the layout, whole
//! pages, and the fragments pushed over sockets. maud escapes all text.

pub mod account;
pub mod actions;
pub mod admin;
pub mod chat;
pub mod contacts;
pub mod groups;
pub mod inbox;
pub mod layout;
pub mod pages;
pub mod people;
pub mod search;
pub(crate) mod secret;
mod text;

use std::fmt::Display;

use time::OffsetDateTime;

use crate::domain::ConversationId;

/// The DOM id of a thing, shared by pages and socket fragments.
pub(crate) fn dom_id(kind: &str, id: impl Display) -> String {
    format!("{kind}-{id}")
}

/// Clock time of a moment, on the clock of its offset (see `Zone::local`).
pub fn clock(moment: OffsetDateTime) -> String {
    format!("{:02}:{:02}", moment.hour(), moment.minute())
}

/// "4 Dec 2026", or "4 Dec" without the year.
pub(crate) fn date_text(day: time::Date, with_year: bool) -> String {
    let month = day.month().to_string();
    if with_year {
        format!("{} {} {}", day.day(), &month[..3], day.year())
    } else {
        format!("{} {}", day.day(), &month[..3])
    }
}

/// "4 Dec 2026, 14:05 (Europe/Berlin)": a moment in full, saying the zone.
pub(crate) fn full_time(local: OffsetDateTime, zone: &crate::domain::Zone) -> String {
    format!(
        "{}, {} ({})",
        date_text(local.date(), true),
        clock(local),
        zone.label()
    )
}

/// Machine-readable timestamp for `<time datetime>`.
pub(crate) fn iso(moment: OffsetDateTime) -> String {
    moment
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The URL that opens the conversation with a user; when there is none yet
/// it offers to start one (a POST to the same URL creates it).
pub(crate) fn contact_url(username: &str) -> String {
    format!("/c/{username}")
}

/// The URL of a conversation.
pub(crate) fn conversation_url(conversation_id: ConversationId) -> String {
    format!("/conversations/{conversation_id}")
}

/// A page's socket URL: `path` plus when the page was rendered, so the
/// socket can send the presence changes that happened in between.
pub fn socket_url(path: &str) -> String {
    let since = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("{path}{separator}since={since}")
}
