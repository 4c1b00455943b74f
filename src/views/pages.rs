//! Whole pages: sign up, log in, the inbox, the directory of people, and errors.

use maud::{html, Markup};
use rocket::http::Status;

use super::contacts::contact_list;
use super::groups::new_group_form;
use super::inbox::{filter_box, inbox_list, inbox_search_box, InboxView};
use super::layout::{page, reloading_page, Viewer};
use super::search::{results_section, SearchView};
use crate::domain::{Contact, UserId};
use crate::domain::{Conversation, InboxRow};
use crate::limits::{PASSWORD_MIN_CHARS, RETRY_AFTER_SECS, USERNAME_MAX_CHARS, USERNAME_MIN_CHARS};

/// What an account form shows again after an error: never the password.
#[derive(Default)]
pub struct AccountForm<'a> {
    pub username: &'a str,
    pub next: Option<&'a str>,
    pub error: Option<&'a str>,
    /// The invitation link's token a sign-up came with.
    pub invite: Option<&'a str>,
}

fn error_box(error: Option<&str>) -> Markup {
    html! {
        @if let Some(error) = error {
            p.form-error role="alert" id="form-error" { (error) }
        }
    }
}

/// The login page.
pub fn login(csrf: &str, form: &AccountForm) -> Markup {
    page(
        "Log in",
        None,
        html! {
            main.card {
                h1 { "Log in" }
                (error_box(form.error))
                form method="post" action="/login" {
                    input type="hidden" name="csrf" value=(csrf);
                    @if let Some(next) = form.next {
                        input type="hidden" name="next" value=(next);
                    }
                    label for="username" { "Username" }
                    input #username name="username" type="text" value=(form.username)
                        autocomplete="username" required autofocus;
                    label for="password" { "Password" }
                    input #password name="password" type="password"
                        autocomplete="current-password" required;
                    button.primary type="submit" { "Log in" }
                }
                p { "New here? " a href="/signup" { "Create an account" } }
            }
        },
    )
}

/// The sign-up page.
pub fn signup(csrf: &str, form: &AccountForm) -> Markup {
    page(
        "Sign up",
        None,
        html! {
            main.card {
                h1 { "Create your account" }
                (error_box(form.error))
                form method="post" action="/signup" {
                    input type="hidden" name="csrf" value=(csrf);
                    @if let Some(invite) = form.invite {
                        input type="hidden" name="invite" value=(invite);
                    }
                    label for="username" { "Username" }
                    input #username name="username" type="text" value=(form.username)
                        autocomplete="username" required autofocus
                        minlength=(USERNAME_MIN_CHARS) maxlength=(USERNAME_MAX_CHARS)
                        aria-describedby="username-help";
                    small #username-help {
                        (USERNAME_MIN_CHARS) "–" (USERNAME_MAX_CHARS)
                        " characters: letters, digits, _ - and ."
                    }
                    label for="password" { "Password" }
                    input #password name="password" type="password" autocomplete="new-password"
                        required minlength=(PASSWORD_MIN_CHARS) aria-describedby="password-help";
                    small #password-help { "At least " (PASSWORD_MIN_CHARS) " characters. A long phrase is best." }
                    label for="confirmation" { "Repeat password" }
                    input #confirmation name="confirmation" type="password"
                        autocomplete="new-password" required;
                    button.primary type="submit" { "Sign up" }
                }
                p { "Already have an account? " a href="/login" { "Log in" } }
            }
        },
    )
}

/// The inbox: the viewer's conversations, newest first, kept live by its
/// socket, and the way to start a new one.
pub(crate) fn inbox(
    viewer: &Viewer,
    rows: &[InboxRow],
    query: &str,
    found: Option<&SearchView>,
) -> Markup {
    let view = InboxView {
        viewer: viewer.user.id,
        current: None,
        zone: viewer.zone,
    };
    page(
        "Chats",
        Some(viewer),
        html! {
            main.dashboard hx-ext="ws" ws-connect=(super::socket_url("/socket")) {
                div.list-header {
                    h1 { "Chats" }
                    a.button.primary href="/people" { "New chat" }
                }
                (inbox_search_box(query))
                (inbox_list(rows, &view, false))
                p.empty {
                    @if query.is_empty() {
                        "No conversations yet. " a href="/people" { "Start one" } " with someone who is here."
                    } @else {
                        "No chats match “" (query) "”. " a href="/" { "Show all" }
                    }
                }
                div #message-results {
                    @if let Some(found) = found {
                        (results_section(found))
                    }
                }
            }
        },
    )
}

/// Everyone registered, to start a conversation or a group with: the
/// directory, kept live by its socket (presence, newcomers).
pub fn people(
    viewer: &Viewer,
    contacts: &[Contact],
    is_online: &dyn Fn(UserId) -> bool,
    query: &str,
) -> Markup {
    page(
        "New chat",
        Some(viewer),
        html! {
            main.dashboard hx-ext="ws" ws-connect=(super::socket_url("/people/socket")) {
                div.list-header {
                    a.back href="/" aria-label="Back to chats" { "←" }
                    h1 { "New chat" }
                }
                (filter_box("/people", query, "Search people", "#contacts"))
                @if !contacts.is_empty() {
                    (new_group_form(viewer.csrf, contacts))
                }
                (contact_list(contacts, is_online, viewer.zone, false))
                p.empty {
                    @if query.is_empty() {
                        "Nobody else is here yet. Share this site's address with a friend."
                    } @else {
                        "Nobody matches “" (query) "”. " a href="/people" { "Show everyone" }
                    }
                }
            }
        },
    )
}

/// The first step of a new direct conversation: opening it is a POST, so a
/// link (or a cross-site image) never creates one.
pub(crate) fn start_conversation(viewer: &Viewer, peer: &str) -> Markup {
    let action = super::contact_url(peer);
    page(
        peer,
        Some(viewer),
        html! {
            main.card {
                h1 { (peer) }
                p { "You have not talked with " (peer) " yet." }
                form method="post" action=(action) {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    button.primary type="submit" autofocus { "Start a conversation" }
                }
                p { a href="/" { "Back" } }
            }
        },
    )
}

/// "Leave this group?", with the button that does it and the way back.
pub(crate) fn confirm_leave(viewer: &Viewer, group: &Conversation) -> Markup {
    let url = super::conversation_url(group.id);
    let title = group.title.as_deref().unwrap_or("Group");
    page(
        "Leave group",
        Some(viewer),
        html! {
            main.card {
                h1 { "Leave " (title) "?" }
                p { "You will no longer see its messages or get new ones. Someone in it can add you again." }
                form method="post" action={ (url) "/leave" } {
                    input type="hidden" name="csrf" value=(viewer.csrf);
                    button.danger type="submit" { "Leave the group" }
                }
                p { a href=(url) autofocus { "Stay in the group" } }
            }
        },
    )
}

/// An error page.
pub fn error(status: Status, message: &str) -> Markup {
    let title = status.reason().unwrap_or("Error");
    let content = html! {
        main.card {
            h1 { (status.code) " · " (title) }
            p { (message) }
            p { a href="/" { "Back to Natter" } }
        }
    };
    // Unavailable is passing (the database is coming back): the page retries
    // by itself, as it says.
    if status == Status::ServiceUnavailable {
        reloading_page(title, RETRY_AFTER_SECS, content)
    } else {
        page(title, None, content)
    }
}
