//! Whole pages: sign up, log in, the dashboard of contacts, and errors.

use maud::{html, Markup};
use rocket::http::Status;

use super::contact_url;
use super::layout::{page, Viewer};
use crate::limits::{PASSWORD_MIN_CHARS, USERNAME_MAX_CHARS, USERNAME_MIN_CHARS};
use crate::store::users::User;

/// What an account form shows again after an error: never the password.
#[derive(Default)]
pub struct AccountForm<'a> {
    pub username: &'a str,
    pub next: Option<&'a str>,
    pub error: Option<&'a str>,
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

/// The list of everyone else, each a link to the conversation with them.
pub fn contact_list(contacts: &[User]) -> Markup {
    html! {
        @if contacts.is_empty() {
            p.empty { "Nobody else is here yet. Share this site's address with a friend." }
        } @else {
            ul.contacts {
                @for contact in contacts {
                    li {
                        a.contact href=(contact_url(&contact.username)) {
                            span.avatar aria-hidden="true" { (initial(&contact.username)) }
                            span.name { (contact.username) }
                        }
                    }
                }
            }
        }
    }
}

/// The first letter of a name, for an avatar.
pub fn initial(name: &str) -> String {
    name.chars()
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default()
}

/// The dashboard: everyone the viewer can talk to.
pub fn dashboard(viewer: &Viewer, contacts: &[User]) -> Markup {
    page(
        "Contacts",
        Some(viewer),
        html! {
            main.dashboard {
                h1 { "Contacts" }
                (contact_list(contacts))
            }
        },
    )
}

/// An error page.
pub fn error(status: Status, message: &str) -> Markup {
    page(
        status.reason().unwrap_or("Error"),
        None,
        html! {
            main.card {
                h1 { (status.code) " · " (status.reason().unwrap_or("Error")) }
                p { (message) }
                p { a href="/" { "Back to Natter" } }
            }
        },
    )
}
