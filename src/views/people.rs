//! How a person appears wherever they are shown: their avatar (or
//! initial), their display name beside their username, their status line,
//! and the fragments that follow a change of profile on open pages.

use maud::{html, Markup};

use super::dom_id;
use crate::domain::{Profile, UserId};

/// Where an avatar's image is served (its hash in the path: cached for good).
pub(crate) fn avatar_url(sha256: &str) -> String {
    format!("/avatars/{sha256}")
}

/// The name a person goes by: their display name, else their username.
pub(crate) fn shown_name<'a>(username: &'a str, profile: &'a Profile) -> &'a str {
    if profile.display_name.is_empty() {
        username
    } else {
        &profile.display_name
    }
}

/// The person's display name with their username beside it, or the
/// username alone.
pub(crate) fn name(username: &str, display_name: &str) -> Markup {
    html! {
        @if display_name.is_empty() {
            (username)
        } @else {
            (display_name) " " span.handle { "@" (username) }
        }
    }
}

/// The round picture beside a person: their avatar, or the initial of the
/// name they go by. Decorative: their name is always written beside it.
pub(crate) fn avatar(shown_name: &str, avatar: Option<&str>) -> Markup {
    html! {
        @match avatar {
            Some(sha256) => img src=(avatar_url(sha256)) alt="" loading="lazy" width="40" height="40";
            None => (initial(shown_name)),
        }
    }
}

/// The DOM id of a part of a person's entry in one place (`contact`, the
/// directory's row; `peer`, a direct conversation's heading).
pub(crate) fn part_id(place: &str, part: &str, user_id: UserId) -> String {
    dom_id(&format!("{place}-{part}"), user_id)
}

/// A person's avatar, name and status as `place` shows them, each replacing
/// its earlier self: sent to open pages when the person changes profile.
pub(crate) fn profile_parts(
    place: &str,
    user_id: UserId,
    username: &str,
    profile: &Profile,
) -> Markup {
    html! {
        span hx-swap-oob=(into(&format!("#{}", part_id(place, "avatar", user_id)))) {
            (avatar(shown_name(username, profile), profile.avatar.as_deref()))
        }
        span hx-swap-oob=(into(&format!("#{}", part_id(place, "name", user_id)))) {
            (name(username, &profile.display_name))
        }
        span hx-swap-oob=(into(&format!("#{}", part_id(place, "status", user_id)))) {
            (profile.status)
        }
    }
}

/// The class every bubble of a sender carries on its name.
pub(crate) fn sender_class(user_id: UserId) -> String {
    dom_id("sender-of", user_id)
}

/// The sender's name on their bubbles in a group, all of them at once.
pub(crate) fn sender_names(user_id: UserId, username: &str, profile: &Profile) -> Markup {
    html! {
        span hx-swap-oob=(into(&format!(".{}", sender_class(user_id)))) {
            (name(username, &profile.display_name))
        }
    }
}

/// An out-of-band swap of the contents of what `selector` picks. The page
/// may have none of it (a filtered list, a group with none of the person's
/// bubbles shown), and a swap with no target at all is an error in the
/// page: the always-present, hidden `#profile-sink` is a target too.
fn into(selector: &str) -> String {
    format!("innerHTML:{selector},#profile-sink")
}

/// The first letter of a name, for an avatar.
pub(crate) fn initial(name: &str) -> String {
    name.chars()
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default()
}
