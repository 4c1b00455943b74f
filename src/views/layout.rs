//! The page shell: head, header with the signed-in user, and main content.

use maud::{html, Markup, DOCTYPE};

use crate::assets::asset_url;
use crate::domain::{User, Zone};
use crate::limits::UNREAD_SHOWN_MAX;

/// Who is looking at a page, for the header and for form tokens.
pub struct Viewer<'a> {
    pub user: &'a User,
    pub csrf: &'a str,
    /// The clock every time on the page is shown on.
    pub zone: &'a Zone,
    /// How much is unread in all their conversations, for the tab's title
    /// and icon (pages without the lists leave it at 0).
    pub unread: i64,
    /// Whether they administer the server (the header links the admin page).
    pub admin: bool,
}

/// htmx settings that let a strict Content-Security-Policy hold.
const HTMX_CONFIG: &str =
    r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false}"#;

/// A whole page around `content`.
pub fn page(title: &str, viewer: Option<&Viewer>, content: Markup) -> Markup {
    shell(title, viewer, None, &[], content)
}

/// A page whose first focusable elements are links that skip to the parts
/// of it a keyboard user wants most: `(target id, label)` pairs.
pub fn page_with_skip_links(
    title: &str,
    viewer: Option<&Viewer>,
    skip_links: &[(&str, &str)],
    content: Markup,
) -> Markup {
    shell(title, viewer, None, skip_links, content)
}

/// A page that reloads itself after `seconds` (without JavaScript too):
/// for a condition that passes by itself, like the database coming back.
pub fn reloading_page(title: &str, seconds: u32, content: Markup) -> Markup {
    shell(title, None, Some(seconds), &[], content)
}

fn shell(
    title: &str,
    viewer: Option<&Viewer>,
    reload: Option<u32>,
    skip_links: &[(&str, &str)],
    content: Markup,
) -> Markup {
    let csrf_header = viewer.map(|v| format!(r#"{{"X-CSRF-Token":"{}"}}"#, v.csrf));
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="htmx-config" content=(HTMX_CONFIG);
                @if let Some(seconds) = reload {
                    meta http-equiv="refresh" content=(seconds);
                }
                @let unread = viewer.map_or(0, |v| v.unread);
                title {
                    @if unread > UNREAD_SHOWN_MAX { "(" (UNREAD_SHOWN_MAX) "+) " }
                    @else if unread > 0 { "(" (unread) ") " }
                    (title) " · Natter"
                }
                // app.js swaps the icon as the unread count changes.
                link #favicon rel="icon" type="image/svg+xml"
                    href=(asset_url(if unread > 0 { "favicon-unread.svg" } else { "favicon.svg" }))
                    data-read=(asset_url("favicon.svg")) data-unread=(asset_url("favicon-unread.svg"));
                link rel="stylesheet" href=(asset_url("app.css"));
                link rel="manifest" href="/manifest.webmanifest";
                link rel="apple-touch-icon" href=(asset_url("icon-192.png"));
                meta name="theme-color" content="#2f6fed";
                script src=(asset_url("htmx.min.js")) defer {}
                script src=(asset_url("ws.js")) defer {}
                script src=(asset_url("app.js")) defer {}
                @if viewer.is_some() {
                    // Secret conversations (module scripts run deferred, after the body).
                    script type="module" src=(asset_url("secret.js")) {}
                }
            }
            body hx-headers=[csrf_header] data-me=[viewer.map(|v| v.user.id)] {
                @if !skip_links.is_empty() {
                    nav.skip-links aria-label="Skip links" {
                        @for (target, label) in skip_links {
                            a href={ "#" (target) } { (label) }
                        }
                    }
                }
                header.topbar {
                    a.brand href="/" { "Natter" }
                    @if let Some(viewer) = viewer {
                        nav.account aria-label="Account" {
                            span #connection .connection aria-live="polite" {}
                            span.me { "Signed in as " strong { (viewer.user.username) } }
                            // Shown by app.js where the browser can notify: asking for
                            // permission waits for this press, never a page load.
                            button #notify-toggle .link type="button" hidden aria-pressed="false" {
                                "Turn on notifications"
                            }
                            button #sound-toggle .link type="button" hidden aria-pressed="false" {
                                "Sound"
                            }
                            @if viewer.admin { a href="/admin" { "Admin" } }
                            a href="/account" { "Account" }
                            form method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(viewer.csrf);
                                button.link type="submit" { "Log out" }
                            }
                        }
                    }
                }
                (content)
                // What a profile change swaps into when the page shows no
                // part of that person (see `people::profile_parts`).
                div #profile-sink hidden {}
            }
        }
    }
}

/// Socket push on every (re)connect: the page is live again.
pub fn connected() -> Markup {
    html! {
        span #connection .connection aria-live="polite" hx-swap-oob="true" {}
    }
}
