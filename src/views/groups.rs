//! Group conversations: the form that creates one, and the heading of a
//! group's page with its members and settings.

use maud::{html, Markup};

use super::conversation_url;
use super::people::shown_name;
use crate::domain::Contact;
use crate::domain::User;
use crate::domain::{Conversation, UserId};
use crate::limits::GROUP_TITLE_MAX_CHARS;

/// The form that starts a group with some of the viewer's contacts.
pub(crate) fn new_group_form(csrf: &str, contacts: &[Contact]) -> Markup {
    html! {
        details.new-group {
            summary { "New group" }
            form method="post" action="/groups" data-secret-option {
                input type="hidden" name="csrf" value=(csrf);
                label for="group-title" { "Group name" }
                input #group-title name="title" type="text" required
                    maxlength=(GROUP_TITLE_MAX_CHARS);
                fieldset {
                    legend { "Members" }
                    @for contact in contacts {
                        label.check {
                            input type="checkbox" name="members" value=(contact.id);
                            " " (contact.username)
                        }
                    }
                }
                label.check {
                    input type="checkbox" name="secret";
                    " Secret: end-to-end encrypted (needs JavaScript; no search or notification texts)"
                }
                button.primary type="submit" { "Create group" }
                p.form-error role="alert" {}
            }
        }
    }
}

/// What a group page's heading needs.
pub struct GroupHeading<'a> {
    pub group: &'a Conversation,
    pub members: &'a [User],
    /// The names of contacts who are not members yet, to add.
    pub candidates: &'a [&'a str],
    pub viewer_id: UserId,
    pub csrf: &'a str,
}

/// The group's name, its members, and the forms to add someone, rename the
/// group (its creator only) or leave it. Pushed again when any of it changes.
pub fn heading(h: &GroupHeading, oob: bool) -> Markup {
    let url = conversation_url(h.group.id);
    let title = h.group.title.as_deref().unwrap_or("Group");
    let names: Vec<&str> = h
        .members
        .iter()
        .map(|m| shown_name(&m.username, &m.profile))
        .collect();
    html! {
        div #chat-heading .who hx-swap-oob=[oob.then_some("true")] {
            h1 { (title) }
            details.group-panel {
                summary {
                    (h.members.len()) @if h.members.len() == 1 { " member: " } @else { " members: " }
                    (names.join(", "))
                }
                @if !h.candidates.is_empty() {
                    form method="post" action={ (url) "/members" } {
                        input type="hidden" name="csrf" value=(h.csrf);
                        label for="add-member" { "Add someone" }
                        select #add-member name="username" {
                            @for name in h.candidates { option value=(name) { (name) } }
                        }
                        button type="submit" { "Add" }
                    }
                }
                @if h.group.created_by == Some(h.viewer_id) {
                    form method="post" action={ (url) "/title" } {
                        input type="hidden" name="csrf" value=(h.csrf);
                        label for="rename" { "Group name" }
                        input #rename name="title" type="text" value=(title) required
                            maxlength=(GROUP_TITLE_MAX_CHARS);
                        button type="submit" { "Rename" }
                    }
                }
                // Leaving asks first, on a page of its own (no script needed).
                a.leave href={ (url) "/leave" } { "Leave group…" }
            }
        }
    }
}
