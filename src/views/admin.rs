//! The admin page: who may sign up, invitation links, the accounts (with
//! what an administrator can do to each), and the log of what
//! administrators did.

use maud::{html, Markup};

use super::account::ago;
use super::layout::{page, Viewer};
use super::{full_time, iso};
use crate::domain::{Invite, LogEntry, ManagedUser, Registration};
use crate::limits::{INVITE_MAX_DAYS, INVITE_MAX_USES};

/// What the admin page shows.
pub struct AdminView<'a> {
    pub registration: Registration,
    pub users: &'a [ManagedUser],
    pub search: &'a str,
    pub invites: &'a [Invite],
    pub log: &'a [LogEntry],
    /// A link just made: shown this once (only its hash is kept).
    pub new_invite: Option<&'a str>,
    /// Whether members may make invitation links.
    pub members_invite: bool,
    /// What the last action did, or why it was refused.
    pub notice: Option<Result<&'a str, &'a str>>,
}

fn token_field(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.csrf); }
}

pub fn admin(viewer: &Viewer, view: &AdminView) -> Markup {
    let zone = viewer.zone;
    page(
        "Administration",
        Some(viewer),
        html! {
            main.card.admin-page {
                h1 { "Administration" }
                @match view.notice {
                    Some(Ok(text)) => p.notice role="status" { (text) },
                    Some(Err(text)) => p.form-error role="alert" { (text) },
                    None => {},
                }
                section aria-labelledby="registration-title" {
                    h2 #registration-title { "Who may sign up" }
                    @if view.registration == Registration::Open {
                        p.warning {
                            "Anyone who can reach this server can make an account and write to everyone on it. "
                            "If it can be reached from the internet, choose invitations."
                        }
                    }
                    form method="post" action="/admin/registration" {
                        (token_field(viewer))
                        fieldset {
                            legend.visually-hidden { "Who may sign up" }
                            @for mode in Registration::ALL {
                                label.choice {
                                    input type="radio" name="mode" value=(mode.as_str())
                                        checked[mode == view.registration];
                                    " " (mode.label())
                                }
                            }
                        }
                        button type="submit" { "Save" }
                    }
                }
                (invitations(viewer, view.invites, view.new_invite, "/admin/invites"))
                form.members-invite method="post" action="/admin/members-invite" {
                    (token_field(viewer))
                    label.choice {
                        input type="checkbox" name="allowed" value="on" checked[view.members_invite];
                        " Members may make invitation links too (on their account page)"
                    }
                    button type="submit" { "Save" }
                }
                section aria-labelledby="users-title" {
                    h2 #users-title { "Accounts" }
                    form.filter-form method="get" action="/admin" role="search" {
                        label for="user-search" { "Find an account" }
                        input #user-search name="q" type="search" value=(view.search);
                        button type="submit" { "Find" }
                    }
                    table.accounts {
                        thead { tr {
                            th scope="col" { "Name" } th scope="col" { "Joined" }
                            th scope="col" { "Last seen" } th scope="col" { "Sessions" }
                            th scope="col" { "Actions" }
                        } }
                        tbody {
                            @for user in view.users {
                                tr id={ "account-" (user.id) } {
                                    th scope="row" {
                                        (user.username)
                                        @if user.is_admin { " " span.badge { "admin" } }
                                        @if user.deactivated_at.is_some() { " " span.badge.off { "deactivated" } }
                                    }
                                    td { time datetime=(iso(user.created_at)) { (ago(user.created_at, zone)) } }
                                    td {
                                        @match user.last_seen_at {
                                            Some(at) => time datetime=(iso(at)) { (ago(at, zone)) },
                                            None => "never",
                                        }
                                    }
                                    td { (user.sessions) }
                                    td.actions {
                                        @if user.id != viewer.user.id {
                                            (account_actions(viewer, user))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                section aria-labelledby="log-title" {
                    h2 #log-title { "What administrators did" }
                    @if view.log.is_empty() {
                        p { "Nothing yet." }
                    } @else {
                        ul.admin-log {
                            @for entry in view.log {
                                li {
                                    time datetime=(iso(entry.created_at)) title=(full_time(zone.local(entry.created_at), zone)) {
                                        (ago(entry.created_at, zone))
                                    }
                                    " · " strong { (entry.actor_name) } " " (entry.action)
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// The buttons for one account; deleting asks first (no script needed).
fn account_actions(viewer: &Viewer, user: &ManagedUser) -> Markup {
    let action = format!("/admin/users/{}", user.id);
    let button = |value: &str, label: &str| {
        html! {
            form.inline method="post" action=(action) {
                (token_field(viewer))
                button type="submit" name="action" value=(value)
                    aria-label={ (label) " " (user.username) } { (label) }
            }
        }
    };
    html! {
        @if user.deactivated_at.is_some() {
            (button("reactivate", "Reactivate"))
        } @else {
            (button("deactivate", "Deactivate"))
        }
        @if user.is_admin {
            (button("unmake-admin", "Remove admin"))
        } @else {
            (button("make-admin", "Make admin"))
        }
        details.delete-account {
            summary { "Delete…" }
            form method="post" action=(action) {
                (token_field(viewer))
                p { "Delete " (user.username) "'s account, messages and files for good?" }
                button.danger type="submit" name="action" value="delete" { "Delete " (user.username) }
            }
        }
    }
}

/// Invitation links: the one just made (shown once), a form to make one,
/// and those that still work, each revocable; `base` is where the forms
/// post (the admin page's, or a member's own).
fn invitations(
    viewer: &Viewer,
    invites: &[Invite],
    new_invite: Option<&str>,
    base: &str,
) -> Markup {
    let zone = viewer.zone;
    html! {
        section aria-labelledby="invites-title" {
            h2 #invites-title { "Invitation links" }
            @if let Some(link) = new_invite {
                p.notice role="status" {
                    "New invitation link (copy it now: it is not shown again): "
                }
                input #new-invite .invite-link type="text" readonly value=(link)
                    aria-label="The new invitation link";
            }
            form.invite-form method="post" action=(base) {
                (token_field(viewer))
                label for="invite-uses" { "For how many people" }
                input #invite-uses name="uses" type="number" min="1" max=(INVITE_MAX_USES) value="1" required;
                label for="invite-days" { "Valid for days" }
                input #invite-days name="days" type="number" min="1" max=(INVITE_MAX_DAYS) value="7" required;
                button.primary type="submit" { "Make an invitation link" }
            }
            @if invites.is_empty() {
                p { "No invitation link works now." }
            } @else {
                ul.invites {
                    @for invite in invites {
                        li {
                            "#" (invite.id)
                            @if let Some(by) = &invite.created_by { " by " (by) }
                            " · " (invite.uses_left) " left · expires "
                            time datetime=(iso(invite.expires_at)) title=(full_time(zone.local(invite.expires_at), zone)) {
                                (super::date_text(zone.local(invite.expires_at).date(), true))
                            }
                            form.inline method="post" action={ (base) "/" (invite.id) "/revoke" } {
                                (token_field(viewer))
                                button type="submit" aria-label={ "Revoke invitation " (invite.id) } { "Revoke" }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A member's own invitation links, when administrators let members make
/// them.
pub fn member_invites(
    viewer: &Viewer,
    invites: &[Invite],
    new_invite: Option<&str>,
    notice: Option<Result<&str, &str>>,
) -> Markup {
    page(
        "Invite people",
        Some(viewer),
        html! {
            main.card.admin-page {
                h1 { "Invite people" }
                @match notice {
                    Some(Ok(text)) => p.notice role="status" { (text) },
                    Some(Err(text)) => p.form-error role="alert" { (text) },
                    None => {},
                }
                p { "Someone who opens an invitation link can make an account here while it lasts." }
                (invitations(viewer, invites, new_invite, "/invites"))
            }
        },
    )
}
