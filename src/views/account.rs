//! The account page: sessions, password change, account deletion.

use maud::{html, Markup};

use super::layout::{page, Viewer};
use super::{full_time, iso};
use crate::domain::SessionInfo;
use crate::limits::PASSWORD_MIN_CHARS;

/// A notice shown at the top of the account page.
pub enum Notice<'a> {
    Done(&'a str),
    Failed(&'a str),
}

fn token_field(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.csrf); }
}

/// The account page.
pub fn account(
    viewer: &Viewer,
    current_session: &str,
    sessions: &[SessionInfo],
    zone_names: &[String],
    notice: Option<Notice>,
) -> Markup {
    page(
        "Account",
        Some(viewer),
        html! {
            main.card.account-page {
                h1 { "Your account" }
                @match notice {
                    Some(Notice::Done(text)) => p.notice role="status" { (text) },
                    Some(Notice::Failed(text)) => p.form-error role="alert" { (text) },
                    None => {},
                }
                section aria-labelledby="sessions-title" {
                    h2 #sessions-title { "Where you are logged in" }
                    ul.sessions {
                        @for session in sessions {
                            li {
                                strong { (session.user_agent.as_deref().unwrap_or("Unknown browser")) }
                                @if session.token_hash == current_session { " (this browser)" }
                                br;
                                small {
                                    "Since " time datetime=(iso(session.created_at)) {
                                        (full_time(viewer.zone.local(session.created_at), viewer.zone))
                                    }
                                    @if let Some(used) = session.last_used_at {
                                        ", last active " time datetime=(iso(used)) {
                                            (full_time(viewer.zone.local(used), viewer.zone))
                                        }
                                    }
                                }
                            }
                        }
                    }
                    form method="post" action="/account/logout-others" {
                        (token_field(viewer))
                        button type="submit" { "Log out all other sessions" }
                    }
                    form method="post" action="/account/logout-everywhere" {
                        (token_field(viewer))
                        button type="submit" { "Log out everywhere" }
                    }
                }
                section aria-labelledby="zone-title" {
                    h2 #zone-title { "Time zone" }
                    p {
                        @if viewer.zone.is_known() {
                            "Times are shown in " strong { (viewer.zone.label()) } "."
                        } @else {
                            "Times are shown in UTC until your browser says its time zone, or you choose one."
                        }
                    }
                    form method="post" action="/account/time-zone" {
                        (token_field(viewer))
                        label for="zone" { "Show times in" }
                        select #zone name="zone" {
                            @for name in zone_names {
                                option value=(name) selected[name == viewer.zone.label()] { (name) }
                            }
                        }
                        button type="submit" { "Use this time zone" }
                    }
                }
                section aria-labelledby="password-title" {
                    h2 #password-title { "Change password" }
                    form method="post" action="/account/password" {
                        (token_field(viewer))
                        label for="current" { "Current password" }
                        input #current name="current" type="password" autocomplete="current-password" required;
                        label for="password" { "New password" }
                        input #password name="password" type="password" autocomplete="new-password"
                            required minlength=(PASSWORD_MIN_CHARS);
                        label for="confirmation" { "Repeat new password" }
                        input #confirmation name="confirmation" type="password" autocomplete="new-password" required;
                        button.primary type="submit" { "Change password" }
                        small { "Changing your password logs out every other session." }
                    }
                }
                section aria-labelledby="delete-title" {
                    h2 #delete-title { "Delete account" }
                    p { "Deleting your account removes your messages, your conversations with others and all your sessions. This cannot be undone." }
                    form method="post" action="/account/delete" {
                        (token_field(viewer))
                        label for="delete-password" { "Password" }
                        input #delete-password name="password" type="password" autocomplete="current-password" required;
                        button.danger type="submit" { "Delete my account" }
                    }
                }
            }
        },
    )
}
