//! The conversation page and its fragments. The same `message` function
//! renders a bubble in the page, in "load earlier" chunks and in socket pushes.

use maud::{html, Markup};
use time::{Date, OffsetDateTime};

use super::actions;
use super::contacts::presence;
use super::groups::{heading as group_heading, GroupHeading};
use super::inbox::{inbox_list, inbox_search_box, InboxView};
use super::layout::{page_with_skip_links, Viewer};
use super::people::{avatar, name, part_id, sender_class, shown_name};
use super::{clock, conversation_url, dom_id, full_time, iso, socket_url};
use crate::domain::User;
use crate::domain::{Attachment, Message};
use crate::domain::{ConversationId, MessageId, UserId, Zone};
use crate::domain::{InboxRow, NotifyLevel};
use crate::limits::MESSAGE_MAX_CHARS;

/// How a page lays out its messages: for whom (their own on the right), on
/// which clock, and whether senders are named (groups only: a direct
/// conversation has two people and the sides tell them apart).
#[derive(Debug, Clone, Copy)]
pub struct Timeline<'a> {
    pub viewer: UserId,
    pub zone: &'a Zone,
    pub group: bool,
    /// On opening: the newest message the viewer had read, so a line marks
    /// where the unread ones start.
    pub unread_after: Option<MessageId>,
    /// The viewer's form token, for the reaction buttons under bubbles.
    pub csrf: &'a str,
}

/// The message shown just before new ones: where a day separator goes, and
/// whether a message continues its sender's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Previous {
    pub sender: UserId,
    pub at: OffsetDateTime,
    /// A group's note, which no message continues.
    pub note: bool,
}

impl Previous {
    pub fn of(message: &Message) -> Previous {
        Previous {
            sender: message.sender_id,
            at: message.created_at,
            note: message.note,
        }
    }
}

/// How long after a message the same sender's next one joins its run.
const RUN_GAP: time::Duration = time::Duration::minutes(5);

/// One message bubble. `continues` marks the next of a sender's run: it
/// sits close under the one before and does not repeat the name.
pub fn message(message: &Message, timeline: &Timeline, continues: bool) -> Markup {
    if message.note {
        return note(message, timeline);
    }
    let mine = message.sender_id == timeline.viewer;
    let side = if mine { "mine" } else { "theirs" };
    let local = timeline.zone.local(message.created_at);
    // The name shows at the start of a run; a bubble that continues one
    // hides it (CSS), so a bubble replaced on its own keeps its place.
    let named = timeline.group && !mine;
    html! {
        article id=(dom_id("message", message.id))
            class={ "message " (side) @if continues { " continued" } @if message.deleted { " deleted" } }
            data-seq=(message.seq) {
            @if named {
                header aria-hidden="true" {
                    span class={ "sender hue-" (hue(&message.sender_name)) " " (sender_class(message.sender_id)) } {
                        (name(&message.sender_name, &message.sender_display))
                    }
                }
            }
            span.visually-hidden { (if mine { "You" } else { &message.sender_name }) ": " }
            @if message.deleted {
                p.body.deleted-body { "This message was deleted" }
            } @else if let Some(ciphertext) = &message.ciphertext {
                (super::secret::encrypted_body(ciphertext, message))
            } @else {
                (actions::quote(message))
                @let file = message.attachment();
                @if let Some(file) = &file {
                    (attachment(file))
                }
                // A file sent without a caption has its name as the text: shown once.
                @if file.as_ref().is_none_or(|f| f.filename != message.body) {
                    // dir="auto" isolates right-to-left text, overrides included, to the bubble.
                    p.body dir="auto" {
                        (super::text::with_links(&message.body, &message.mentions, timeline.viewer))
                    }
                }
            }
            footer.meta {
                // A secret message's actions would be MLS messages too: not yet.
                @if !message.deleted && message.ciphertext.is_none() { (actions::more_link(message)) }
                (actions::edited_mark(message, timeline.zone))
                time datetime=(iso(message.created_at)) title=(full_time(local, timeline.zone)) {
                    (clock(local))
                }
            }
            @if !message.deleted && message.ciphertext.is_none() {
                (actions::reaction_chips(message, timeline.viewer, timeline.csrf))
                div.menu-slot id=(dom_id("menu", message.id)) {}
            }
        }
    }
}

/// Socket push: messages that changed (edited, deleted, reacted to), each
/// rendered whole; app.js puts each in place of its bubble if the page
/// shows it, and drops it otherwise (history not loaded).
pub(crate) fn replacements(messages: &[Message], timeline: &Timeline) -> Markup {
    html! {
        @if !messages.is_empty() {
            div hx-swap-oob="beforeend:#changes" {
                @for m in messages { (message(m, timeline, false)) }
            }
        }
    }
}

/// A group's note, centred between the messages: "alice added bob · 14:05"
/// ("You" for the viewer's own).
fn note(message: &Message, timeline: &Timeline) -> Markup {
    let local = timeline.zone.local(message.created_at);
    let who = if message.sender_id == timeline.viewer {
        "You"
    } else {
        message.sender_name.as_str()
    };
    html! {
        p.note id=(dom_id("message", message.id)) data-seq=(message.seq) {
            (who) " " (message.body) " · "
            time datetime=(iso(message.created_at)) title=(full_time(local, timeline.zone)) {
                (clock(local))
            }
        }
    }
}

/// One of eight colours for a sender's name, the same on every page.
fn hue(name: &str) -> u32 {
    name.bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 8
}

/// An attached file: a thumbnail linking to the image, or a download link.
pub fn attachment(file: &Attachment) -> Markup {
    let url = format!("/media/{}", file.id);
    html! {
        @if file.has_thumbnail {
            a.attachment.image href=(url) target="_blank" rel="noopener" {
                // Its size reserves the space before it loads: nothing jumps.
                img src={ (url) "/thumbnail" } alt=(file.filename) loading="lazy"
                    width=[file.thumbnail_size.map(|(w, _)| w)]
                    height=[file.thumbnail_size.map(|(_, h)| h)];
            }
        } @else {
            a.attachment.file href=(url) download=(file.filename) {
                span aria-hidden="true" { "📎 " }
                (file.filename) " (" (human_size(file.size)) ")"
            }
        }
    }
}

/// "532 B", "14 KiB", "3.2 MiB".
pub(crate) fn human_size(bytes: i64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{} KiB", b / 1024),
        b => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// The file form: multipart, with a progress bar while htmx uploads. It
/// answers the same message as the composer (app.js copies the composer's
/// choice into it as it sends).
pub(crate) fn upload_form(
    conversation_id: ConversationId,
    csrf: &str,
    client_id: &str,
    reply: Option<&Message>,
) -> Markup {
    let action = format!("{}/attachments", conversation_url(conversation_id));
    html! {
        form #upload .upload method="post" action=(action) enctype="multipart/form-data"
            hx-post=(action) hx-encoding="multipart/form-data" hx-target="#upload-status"
            hx-swap="outerHTML" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="client_id" value=(client_id);
            input #upload-reply-to type="hidden" name="reply_to" value=[reply.map(|m| m.id)];
            label.file-label for="file" { "Attach a file" }
            input #file type="file" name="file" required;
            label.visually-hidden for="caption" { "Caption" }
            input #caption type="text" name="caption" placeholder="Caption (optional)";
            button type="submit" { "Upload" }
            (upload_status(None))
        }
    }
}

/// The line under the file form: empty, or why an upload was refused.
pub(crate) fn upload_status(error: Option<&str>) -> Markup {
    html! {
        p #upload-status .form-error role="status" {
            @if let Some(error) = error { (error) }
        }
    }
}

/// The link that loads the page of history before `oldest`: a plain link
/// without JavaScript, an in-place swap with htmx. It names the day of
/// `oldest` on the viewer's clock, so a chunk ending on that day takes the
/// page's separator for it away instead of doubling it.
pub(crate) fn load_earlier(
    conversation_id: ConversationId,
    oldest: &Message,
    timeline: &Timeline,
) -> Markup {
    let base = conversation_url(conversation_id);
    let day = timeline.zone.local(oldest.created_at).date();
    html! {
        a.load-earlier href={ (base) "?before=" (oldest.id) }
            hx-get={ (base) "/messages?before=" (oldest.id) "&day=" (day) }
            hx-target="this" hx-swap="outerHTML" {
            "Load earlier messages"
        }
    }
}

/// The link that loads the messages after `last` that a page opened around
/// a message left out (up to change `upto`: later ones arrived live): a
/// plain link to the page around `last` without JavaScript, an in-place
/// swap with htmx.
pub(crate) fn load_later(conversation_id: ConversationId, last: &Message, upto: i64) -> Markup {
    let base = conversation_url(conversation_id);
    html! {
        a.load-later href={ (base) "?around=" (last.id) "#" (dom_id("message", last.id)) }
            hx-get={ (base) "/later?after=" (last.id) "&upto=" (upto) }
            hx-target="this" hx-swap="outerHTML" {
            "Load later messages"
        }
    }
}

/// The messages after `previous` (the last one the page shows), followed by
/// a "load later" link while more are left before change `more_upto`.
pub(crate) fn later_chunk(
    conversation_id: ConversationId,
    previous: Option<&Message>,
    messages: &[Message],
    more_upto: Option<i64>,
    timeline: &Timeline,
) -> Markup {
    html! {
        (messages_by_day(messages, previous.map(Previous::of), timeline))
        @if let (Some(upto), Some(last)) = (more_upto, messages.last()) {
            (load_later(conversation_id, last, upto))
        }
    }
}

/// A page of history, preceded by a "load earlier" link when there is more.
/// `page_day` is the day the page's own history starts on (for an htmx
/// chunk): if this chunk ends on it, the page's separator for it goes.
pub(crate) fn history_chunk(
    conversation_id: ConversationId,
    messages: &[Message],
    has_more: bool,
    timeline: &Timeline,
    page_day: Option<Date>,
) -> Markup {
    let last_day = messages
        .last()
        .map(|m| timeline.zone.local(m.created_at).date());
    html! {
        @if has_more {
            @if let Some(oldest) = messages.first() {
                (load_earlier(conversation_id, oldest, timeline))
            }
        }
        (messages_by_day(messages, None, timeline))
        @if let (Some(day), true) = (page_day, page_day == last_day) {
            div id=(day_separator_id(day)) hx-swap-oob="delete" {}
        }
    }
}

/// "Today", "Yesterday", or the date, as of the viewer's `today`.
pub(crate) fn day_label(day: Date, today: Date) -> String {
    if day == today {
        "Today".into()
    } else if today.previous_day() == Some(day) {
        "Yesterday".into()
    } else {
        super::date_text(day, true)
    }
}

/// The line between two days of messages.
pub(crate) fn day_separator(day: Date, today: Date) -> Markup {
    html! {
        div.day id=(day_separator_id(day)) role="separator" {
            time datetime=(day.to_string()) { (day_label(day, today)) }
        }
    }
}

fn day_separator_id(day: Date) -> String {
    format!("day-{day}")
}

/// Messages with a day separator wherever the viewer's day changes, each
/// marked when it continues its sender's run; `previous` is the message
/// shown just before them, if any.
pub(crate) fn messages_by_day(
    messages: &[Message],
    previous: Option<Previous>,
    timeline: &Timeline,
) -> Markup {
    let zone = timeline.zone;
    let today = zone.local(OffsetDateTime::now_utc()).date();
    let mut previous = previous;
    let first_unread = timeline.unread_after.and_then(|read| {
        messages
            .iter()
            .find(|m| m.id > read && m.sender_id != timeline.viewer && !m.note)
            .map(|m| m.id)
    });
    html! {
        @for m in messages {
            @if first_unread == Some(m.id) {
                div #unread-line .unread-line role="separator" { span { "Unread messages" } }
            }
            @let day = zone.local(m.created_at).date();
            @let new_day = previous.is_none_or(|p| zone.local(p.at).date() != day);
            @let continues = !new_day && !m.note && previous.is_some_and(|p| {
                !p.note && p.sender == m.sender_id && m.created_at - p.at <= RUN_GAP
            });
            @if new_day {
                (day_separator(day, today))
            }
            ({ previous = Some(Previous::of(m)); message(m, timeline, continues) })
        }
    }
}

/// The message list: loaded history, then the live region sockets append to.
pub(crate) fn message_list(
    conversation_id: ConversationId,
    history: &[Message],
    has_more: bool,
    later: Option<i64>,
    timeline: &Timeline,
    seen: bool,
    out_of_band: bool,
) -> Markup {
    html! {
        // Only what arrives live is announced, not history loaded above it.
        // In the tab order: a keyboard scrolls it even when no bubble has a
        // link (a secret conversation's have none yet).
        div #messages aria-label="Messages" tabindex="0"
            hx-swap-oob=[out_of_band.then_some("true")] {
            @if history.is_empty() {
                p.empty.no-messages { "No messages yet. Say hello!" }
            }
            (history_chunk(conversation_id, history, has_more, timeline, None))
            @if let (Some(upto), Some(last)) = (later, history.last()) {
                (load_later(conversation_id, last, upto))
            }
            div #live role="log" aria-live="polite" aria-label="New messages" {}
            (receipt(seen, false))
        }
    }
}

/// "Seen" under the viewer's latest message once the others have read it.
pub fn receipt(seen: bool, oob: bool) -> Markup {
    html! {
        p #receipt .receipt hx-swap-oob=[oob.then_some("true")] {
            @if seen { "Seen" }
        }
    }
}

/// Who is typing right now; empty when nobody is.
pub fn typing(names: &[&str], oob: bool) -> Markup {
    let text = match names {
        [] => String::new(),
        [one] => format!("{one} is typing…"),
        [first, second] => format!("{first} and {second} are typing…"),
        _ => "Several people are typing…".to_owned(),
    };
    html! {
        p #typing .typing aria-live="polite" hx-swap-oob=[oob.then_some("true")] { (text) }
    }
}

/// What the message form shows: a fresh client id, and after an error the
/// text the user typed.
pub struct Composer<'a> {
    pub action: &'a str,
    pub csrf: &'a str,
    pub client_id: &'a str,
    pub body: &'a str,
    pub error: Option<&'a str>,
    /// The message being answered (a page opened with `?reply_to=`).
    pub reply: Option<&'a Message>,
}

/// What the textarea sends while the user types (a constant: never user data).
const TYPING_VALS: &str = r#"{"typing": true}"#;

/// The message form: sent over the socket with htmx, posted without it.
/// The page empties the textarea as it sends (app.js); the server then
/// replaces only the client id and the error line, never the text typed
/// since.
pub fn composer(c: &Composer, out_of_band: bool) -> Markup {
    html! {
        // The file about to go with the next send; app.js fills it in.
        div #attachment-chip .chip hidden {
            span.chip-name {} " " span.chip-size {}
            progress.chip-progress value="0" max="100" aria-label="Upload progress" {}
            button.chip-remove type="button" aria-label="Remove the file" { "×" }
        }
        // What the next send answers; app.js fills it in from "Reply".
        div #reply-chip .chip .reply-chip hidden[c.reply.is_none()] {
            span.chip-name {
                "Replying to "
                strong.reply-sender { @if let Some(m) = c.reply { (m.sender_name) } }
            }
            " "
            span.reply-text {
                @if let Some(m) = c.reply { (m.body.lines().next().unwrap_or_default()) }
            }
            a.chip-remove href=(c.action.trim_end_matches("/messages")) aria-label="Cancel the reply" { "×" }
        }
        // "@" suggestions (app.js asks for them as a name is typed).
        ul #mention-list .mention-list data-source={ (c.action.trim_end_matches("/messages")) "/mentions" } {}
        form #composer .composer method="post" action=(c.action) ws-send
            hx-swap-oob=[out_of_band.then_some("true")] {
            input type="hidden" name="csrf" value=(c.csrf);
            (client_id_field(c.client_id, false))
            input #reply-to type="hidden" name="reply_to" value=[c.reply.map(|m| m.id)];
            // With the page script the file form hides and this is how a
            // file is chosen (or pasted, or dropped); the text becomes its caption.
            (attach_label("file"))
            label.visually-hidden for="body" { "Message" }
            textarea #body name="body" rows="1" maxlength=(MESSAGE_MAX_CHARS)
                placeholder="Write a message…" required autofocus
                aria-describedby="composer-error"
                ws-send hx-trigger="keyup changed throttle:1s" hx-vals=(TYPING_VALS) { (c.body) }
            button.primary type="submit" { "Send" }
        }
        (composer_error(c.error, None, out_of_band))
    }
}

/// The paperclip that chooses a file for the message form, a label for the
/// file input `input`.
pub(crate) fn attach_label(input: &str) -> Markup {
    html! {
        label.attach for=(input) title="Attach a file" {
            svg aria-hidden="true" viewBox="0 0 24 24" fill="none" stroke="currentColor"
                stroke-width="2" stroke-linecap="round" stroke-linejoin="round" {
                path d="M9 13.5l6-6a2.5 2.5 0 0 1 3.5 3.5l-7.5 7.5a4.5 4.5 0 0 1-6.4-6.4L12 4.7" {}
            }
            span.visually-hidden { "Attach a file" }
        }
    }
}

/// The form's client id: the next message is stored once under it, however
/// often the page resends it.
fn client_id_field(client_id: &str, out_of_band: bool) -> Markup {
    html! {
        input #client-id type="hidden" name="client_id" value=(client_id)
            hx-swap-oob=[out_of_band.then_some("true")];
    }
}

/// The socket's answer to a message it saved: the form gets a fresh client
/// id and an empty error line. The textarea is left alone, so whatever the
/// user typed while the send was in flight stays.
pub fn sent(next_client_id: &str) -> Markup {
    html! {
        (client_id_field(next_client_id, true))
        (composer_error(None, None, true))
    }
}

/// The line under the form that says why a message was not sent. `unsent`
/// is the refused text, which the page puts back into the textarea (app.js)
/// since it emptied it on sending.
pub fn composer_error(error: Option<&str>, unsent: Option<&str>, out_of_band: bool) -> Markup {
    html! {
        p #composer-error .form-error role="alert" data-unsent=[unsent]
            hx-swap-oob=[out_of_band.then_some("true")] {
            @if let Some(error) = error { (error) }
        }
    }
}

/// What the viewer wants to be told about a conversation, in its header:
/// the level now, and a form to change it (no script needed).
/// Searching this conversation, from its header: a form leading to the
/// search page (where results follow as one types).
fn search_form(conversation_id: ConversationId) -> Markup {
    html! {
        details.header-menu.chat-search {
            summary title="Search this conversation" {
                // A magnifying glass.
                svg aria-hidden="true" viewBox="0 0 24 24" width="20" height="20" fill="none"
                    stroke="currentColor" stroke-width="2" stroke-linecap="round" {
                    circle cx="11" cy="11" r="6.5" {}
                    path d="M16 16l4.5 4.5" {}
                }
                span.visually-hidden { "Search this conversation" }
            }
            form method="get" action="/search" role="search" {
                input type="hidden" name="c" value=(conversation_id);
                label for="chat-search-q" { "Search this conversation" }
                input #chat-search-q type="search" name="q" autocomplete="off" required;
                button type="submit" { "Search" }
            }
        }
    }
}

fn notify_form(conversation_id: ConversationId, level: NotifyLevel, csrf: &str) -> Markup {
    let url = conversation_url(conversation_id);
    html! {
        details.header-menu.notify-settings {
            summary title="Notifications for this conversation" {
                // A bell (struck through when muted; with "@" for mentions only).
                svg aria-hidden="true" viewBox="0 0 24 24" width="20" height="20" fill="none"
                    stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" {
                    path d="M6 9a6 6 0 0 1 12 0c0 6 2.5 8 2.5 8h-17S6 15 6 9" {}
                    path d="M10 20.5a2.2 2.2 0 0 0 4 0" {}
                    @if level == NotifyLevel::None { path d="M3 3l18 18" {} }
                }
                @if level == NotifyLevel::Mentions { span.bell-at aria-hidden="true" { "@" } }
                span.visually-hidden { "Notifications: " (level.label()) }
            }
            form method="post" action={ (url) "/notify" } {
                input type="hidden" name="csrf" value=(csrf);
                fieldset {
                    legend { "Tell me about" }
                    @for choice in [NotifyLevel::All, NotifyLevel::Mentions, NotifyLevel::None] {
                        label.check {
                            input type="radio" name="level" value=(choice.as_str())
                                checked[choice == level];
                            " " (choice.label())
                        }
                    }
                }
                button type="submit" { "Save" }
            }
        }
    }
}

/// The top of a conversation page: the other person, or the group.
pub(crate) enum Heading<'a> {
    Direct {
        peer: &'a User,
        online: bool,
        last_seen: Option<time::OffsetDateTime>,
    },
    Group(GroupHeading<'a>),
}

/// Everything the conversation page needs.
pub(crate) struct ChatPage<'a> {
    pub conversation_id: ConversationId,
    pub heading: Heading<'a>,
    /// The viewer's conversations, beside this one on a wide screen.
    pub inbox: &'a [InboxRow],
    /// What the viewer wants to be told about this conversation.
    pub notify: NotifyLevel,
    pub seen: bool,
    pub history: &'a [Message],
    pub has_more: bool,
    /// Set when showing older history: no live updates on that view.
    pub before: Option<MessageId>,
    /// When the page opened around a message (a search result, a quote)
    /// left messages after it to load ("load later"): the conversation's
    /// change the page was rendered at. New messages still arrive below.
    pub later: Option<i64>,
    /// The newest message the viewer had read before opening the page.
    pub read_up_to: Option<MessageId>,
    pub composer: Composer<'a>,
    /// The file form's client id (the message form has its own).
    pub upload_client_id: &'a str,
    /// A secret conversation: end-to-end encrypted by the members' browsers.
    pub secret: bool,
}

/// Where a keyboard user jumps first: to write, or to read.
const SKIP_LINKS: &[(&str, &str)] = &[
    ("body", "Skip to the message box"),
    ("messages", "Skip to the messages"),
];

/// The conversation page with its socket.
pub(crate) fn chat_page(viewer: &Viewer, chat: &ChatPage) -> Markup {
    // The page resumes after the last change it was rendered with (with
    // later messages left to load, the conversation's newest then).
    let newest = chat
        .later
        .unwrap_or_else(|| crate::domain::resume_point(chat.history));
    let url = conversation_url(chat.conversation_id);
    let socket = socket_url(&format!("{url}/socket?seq={newest}"));
    let timeline = Timeline {
        viewer: viewer.user.id,
        zone: viewer.zone,
        group: matches!(chat.heading, Heading::Group(_)),
        unread_after: chat.read_up_to,
        csrf: viewer.csrf,
    };
    let title = match &chat.heading {
        Heading::Direct { peer, .. } => shown_name(&peer.username, &peer.profile),
        Heading::Group(g) => g.group.title.as_deref().unwrap_or("Group"),
    };
    let inbox = InboxView {
        viewer: viewer.user.id,
        current: Some(chat.conversation_id),
        zone: viewer.zone,
    };
    // The other members, with whom a secret conversation has safety numbers.
    let others: Vec<(UserId, &str)> = match &chat.heading {
        Heading::Direct { peer, .. } => vec![(peer.id, peer.username.as_str())],
        Heading::Group(g) => g
            .members
            .iter()
            .filter(|m| m.id != viewer.user.id)
            .map(|m| (m.id, m.username.as_str()))
            .collect(),
    };
    html! {
        (page_with_skip_links(title, Some(viewer), SKIP_LINKS, html! {
            div.app hx-ext="ws" ws-connect=[chat.before.is_none().then_some(&socket)] {
                aside.sidebar aria-label="Chats" {
                    div.list-header {
                        h2 { "Chats" }
                        a href="/people" { "New chat" }
                    }
                    (inbox_search_box(""))
                    (inbox_list(chat.inbox, &inbox, false))
                    div #message-results {}
                }
                main.chat {
                    header.chat-header {
                        a.back href="/" aria-label="Back to chats" { "←" }
                        @match &chat.heading {
                            Heading::Direct { peer, online, last_seen } => {
                                span.avatar id=(part_id("peer", "avatar", peer.id)) aria-hidden="true" {
                                    (avatar(shown_name(&peer.username, &peer.profile), peer.profile.avatar.as_deref()))
                                }
                                div.who {
                                    h1 id=(part_id("peer", "name", peer.id)) {
                                        (name(&peer.username, &peer.profile.display_name))
                                    }
                                    span.status id=(part_id("peer", "status", peer.id)) { (peer.profile.status) }
                                    (presence(peer.id, *online, *last_seen, viewer.zone, false))
                                }
                            },
                            Heading::Group(g) => (group_heading(g, false)),
                        }
                        @if chat.secret {
                            (super::secret::header_menu(&others))
                        } @else {
                            (search_form(chat.conversation_id))
                        }
                        (notify_form(chat.conversation_id, chat.notify, viewer.csrf))
                    }
                    @if chat.before.is_some() {
                        p.notice { "Showing earlier messages. " a href=(url) { "Jump to the latest" } }
                    } @else if chat.later.is_some() {
                        p.notice { "Showing messages around the one you opened. " a href=(url) { "Jump to the latest" } }
                    }
                    (message_list(chat.conversation_id, chat.history, chat.has_more, chat.later, &timeline, chat.seen, false))
                    // Changed bubbles arrive here; app.js moves each into place.
                    div #changes hidden {}
                    // Shown by app.js when something arrives while the reader is scrolled up.
                    button #jump-new .jump-new type="button" hidden { "New messages ↓" }
                    (typing(&[], false))
                    @if chat.secret {
                        (super::secret::composer(chat.conversation_id))
                    } @else {
                        (composer(&chat.composer, false))
                    }
                    @if chat.before.is_none() && !chat.secret {
                        (upload_form(chat.conversation_id, chat.composer.csrf, chat.upload_client_id, chat.composer.reply))
                    }
                }
            }
        }))
    }
}

/// Socket push: new messages appended to the live region, in order, after
/// `previous`, the newest message already on the page.
pub(crate) fn append_messages(
    messages: &[Message],
    previous: Option<Previous>,
    timeline: &Timeline,
) -> Markup {
    html! {
        div hx-swap-oob="beforeend:#live" {
            (messages_by_day(messages, previous, timeline))
        }
    }
}

/// Socket push on (re)connect: everything after what the page was rendered
/// with, whose newest message is `previous`.
pub(crate) fn live_region(
    messages: &[Message],
    previous: Option<Previous>,
    timeline: &Timeline,
) -> Markup {
    html! {
        div #live hx-swap-oob="innerHTML" {
            (messages_by_day(messages, previous, timeline))
        }
    }
}
