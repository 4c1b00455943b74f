//! The account page: sessions, password change, account deletion.

use maud::{html, Markup};

use super::layout::{page, Viewer};
use super::people::{avatar, name, shown_name};
use super::{full_time, iso};
use time::OffsetDateTime;

use crate::domain::{Device, DeviceId, SessionInfo, SubscriptionInfo, Zone};
use crate::limits::{DISPLAY_NAME_MAX_CHARS, PASSWORD_MIN_CHARS, STATUS_MAX_CHARS};

/// A notice shown at the top of the account page.
pub enum Notice<'a> {
    Done(&'a str),
    Failed(&'a str),
}

fn token_field(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.csrf); }
}

/// What the viewer says about themselves, and their picture.
fn profile_section(viewer: &Viewer) -> Markup {
    let user = viewer.user;
    let profile = &user.profile;
    html! {
        section aria-labelledby="profile-title" {
            h2 #profile-title { "Your profile" }
            div.profile-preview {
                span.avatar.large aria-hidden="true" {
                    (avatar(shown_name(&user.username, profile), profile.avatar.as_deref()))
                }
                span { (name(&user.username, &profile.display_name)) }
            }
            form method="post" action="/account/profile" {
                (token_field(viewer))
                label for="display_name" { "Display name" }
                input #display_name name="display_name" type="text" value=(profile.display_name)
                    maxlength=(DISPLAY_NAME_MAX_CHARS) autocomplete="name"
                    aria-describedby="display-name-help";
                small #display-name-help { "Shown beside your username, @" (user.username) ". Leave empty to go by your username." }
                label for="status" { "Status" }
                input #status name="status" type="text" value=(profile.status)
                    maxlength=(STATUS_MAX_CHARS) placeholder="What are you up to?";
                button type="submit" { "Save profile" }
            }
            form method="post" action="/account/avatar" enctype="multipart/form-data" {
                (token_field(viewer))
                label for="avatar" { "Picture (PNG, JPEG, GIF or WebP)" }
                input #avatar name="avatar" type="file" accept="image/png,image/jpeg,image/gif,image/webp" required;
                button type="submit" { "Upload picture" }
            }
            @if profile.avatar.is_some() {
                form method="post" action="/account/avatar/delete" {
                    (token_field(viewer))
                    button type="submit" { "Remove picture" }
                }
            }
        }
    }
}

/// This user's browsers that take part in secret conversations, each with
/// its key's fingerprint, to compare with what the browser itself shows.
fn devices_section(viewer: &Viewer, devices: &[Device], this_device: Option<DeviceId>) -> Markup {
    let zone = viewer.zone;
    html! {
        section aria-labelledby="devices-title" {
            h2 #devices-title { "Secret-conversation devices" }
            @if devices.is_empty() {
                p { "No browser of yours takes part in secret conversations yet." }
            } @else {
                ul.devices {
                    @for device in devices {
                        li id=(super::dom_id("device", device.id)) {
                            strong { "Device " (device.id) }
                            @if Some(device.id) == this_device { " (this browser)" }
                            " · added "
                            time datetime=(iso(device.created_at)) title=(full_time(zone.local(device.created_at), zone)) {
                                (ago(device.created_at, zone))
                            }
                            br;
                            small { "Key fingerprint " code.fingerprint { (device.fingerprint()) } }
                        }
                    }
                }
                p { small { "Each browser session is its own device, with its own keys; logging out removes it." } }
            }
        }
    }
}

/// Where a user is signed in, as the account page shows it: their sessions
/// (this one among them), and their secret-conversation devices.
pub struct SignedIn<'a> {
    pub current_session: &'a str,
    pub sessions: &'a [SessionInfo],
    pub devices: &'a [Device],
    pub this_device: Option<DeviceId>,
}

/// The account page.
pub fn account(
    viewer: &Viewer,
    signed_in: &SignedIn,
    pushed: &[SubscriptionInfo],
    may_invite: bool,
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
                (profile_section(viewer))
                section aria-labelledby="sessions-title" {
                    h2 #sessions-title { "Where you are logged in" }
                    ul.sessions {
                        @for session in signed_in.sessions {
                            li {
                                @let zone = viewer.zone;
                                @let used = session.last_used_at.unwrap_or(session.created_at);
                                strong { (device_name(session.user_agent.as_deref())) }
                                @if session.token_hash == signed_in.current_session { " (this browser)" }
                                " · last active "
                                time datetime=(iso(used)) title=(full_time(zone.local(used), zone)) {
                                    (ago(used, zone))
                                }
                                br;
                                small {
                                    "Signed in " time datetime=(iso(session.created_at))
                                        title=(full_time(zone.local(session.created_at), zone)) {
                                        (ago(session.created_at, zone))
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
                (devices_section(viewer, signed_in.devices, signed_in.this_device))
                @if may_invite {
                    p { a href="/invites" { "Invite people" } " to this server with a link." }
                }
                section aria-labelledby="push-title" {
                    h2 #push-title { "Push notifications" }
                    @if pushed.is_empty() {
                        p { "No browser gets push notifications. Turn on notifications in the top bar of a browser to get them there, even while Natter is closed." }
                    } @else {
                        p { "These browsers are told about new messages while no Natter page is in view:" }
                        ul.sessions.pushed {
                            @for device in pushed {
                                li {
                                    @let zone = viewer.zone;
                                    strong { (device_name(device.user_agent.as_deref())) }
                                    @if device.session_hash == signed_in.current_session { " (this browser)" }
                                    " · since "
                                    time datetime=(iso(device.created_at)) title=(full_time(zone.local(device.created_at), zone)) {
                                        (ago(device.created_at, zone))
                                    }
                                    form.inline method="post" action={ "/account/push/" (device.id) "/delete" } {
                                        (token_field(viewer))
                                        button type="submit" aria-label={ "Stop pushing to " (device_name(device.user_agent.as_deref())) } { "Remove" }
                                    }
                                }
                            }
                        }
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

/// "Firefox on Linux": the browser and system a User-Agent names, in words
/// people know; "Unknown browser" when it names neither.
pub(crate) fn device_name(user_agent: Option<&str>) -> String {
    let ua = user_agent.unwrap_or_default();
    // Order matters: Edge and Opera say "Chrome" too, Chrome says "Safari".
    const BROWSERS: &[(&str, &str)] = &[
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chromium/", "Chromium"),
        ("HeadlessChrome/", "Chrome (headless)"),
        ("Chrome/", "Chrome"),
        ("CriOS/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ];
    const SYSTEMS: &[(&str, &str)] = &[
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("CrOS", "ChromeOS"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ];
    let find = |table: &[(&str, &'static str)]| {
        table
            .iter()
            .find(|(needle, _)| ua.contains(needle))
            .map(|(_, name)| *name)
    };
    match (find(BROWSERS), find(SYSTEMS)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(system)) => format!("A browser on {system}"),
        (None, None) => "Unknown browser".to_owned(),
    }
}

/// "just now", "5 minutes ago", "3 hours ago", then the viewer's date.
pub(crate) fn ago(moment: OffsetDateTime, zone: &Zone) -> String {
    let elapsed = OffsetDateTime::now_utc() - moment;
    let plural = |n: i64, unit: &str| format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" });
    if elapsed < time::Duration::minutes(1) {
        "just now".to_owned()
    } else if elapsed < time::Duration::hours(1) {
        plural(elapsed.whole_minutes(), "minute")
    } else if elapsed < time::Duration::days(1) {
        plural(elapsed.whole_hours(), "hour")
    } else {
        format!("on {}", super::date_text(zone.local(moment).date(), true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_agent_reads_as_browser_on_system() {
        let cases = [
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36", "Chrome on Linux"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0", "Edge on Windows"),
            ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", "Firefox on Linux"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", "Safari on iOS"),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15", "Safari on macOS"),
            ("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36", "Chrome on Android"),
            ("curl/8.5.0", "curl"),
            ("", "Unknown browser"),
        ];
        for (ua, expected) in cases {
            assert_eq!(device_name(Some(ua)), expected, "{ua}");
        }
        assert_eq!(device_name(None), "Unknown browser");
    }

    #[test]
    fn recent_moments_read_as_how_long_ago() {
        let now = OffsetDateTime::now_utc();
        let zone = Zone::utc();
        assert_eq!(ago(now, &zone), "just now");
        assert_eq!(
            ago(now - time::Duration::minutes(5), &zone),
            "5 minutes ago"
        );
        assert_eq!(ago(now - time::Duration::minutes(61), &zone), "1 hour ago");
        assert!(ago(now - time::Duration::days(3), &zone).starts_with("on "));
    }
}
