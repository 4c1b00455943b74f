//! What a member can do to a message, and how its changes show: the
//! "⋯" menu (reactions, reply, edit, delete), the edit and delete forms,
//! reaction chips under a bubble, the quote of the message a reply answers,
//! and the pages that do each without JavaScript.

use maud::{html, Markup};

use super::layout::{page, Viewer};
use super::{conversation_url, dom_id, full_time, iso};
use crate::domain::{ConversationId, Message, MessageId, UserId, Zone};
use crate::limits::{MESSAGE_MAX_CHARS, REACTIONS};

/// Where a message's actions live.
pub(crate) fn message_url(conversation: ConversationId, message: MessageId) -> String {
    format!("{}/messages/{message}", conversation_url(conversation))
}

/// The "⋯" link: with htmx it opens the menu in the bubble, without it the
/// message's own page with the same actions.
pub(crate) fn more_link(message: &Message) -> Markup {
    let url = message_url(message.conversation_id, message.id);
    html! {
        a.more href=(url) hx-get={ (url) "/menu" } hx-target={ "#" (dom_id("menu", message.id)) }
            aria-label="Actions for this message" title="React, reply, edit or delete" { "⋯" }
    }
}

/// The reactions under a bubble: each emoji with how many chose it, who on
/// hover, and a press that adds or takes back the viewer's own.
pub(crate) fn reaction_chips(message: &Message, viewer: UserId, csrf: &str) -> Markup {
    let action = format!(
        "{}/reactions",
        message_url(message.conversation_id, message.id)
    );
    html! {
        @if !message.reactions.is_empty() {
            div.reactions {
                @for reaction in &message.reactions {
                    @let names: Vec<&str> = reaction.users.iter().map(|(_, n)| n.as_str()).collect();
                    @let mine = reaction.users.iter().any(|(id, _)| *id == viewer);
                    form method="post" action=(action) hx-post=(action) hx-swap="none" {
                        input type="hidden" name="csrf" value=(csrf);
                        button.reaction type="submit" name="emoji" value=(reaction.emoji)
                            aria-pressed=(if mine { "true" } else { "false" }) title=(names.join(", ")) {
                            span aria-hidden="true" { (reaction.emoji) " " }
                            (reaction.users.len())
                            span.visually-hidden { " " (reaction.emoji) ": " (names.join(", ")) }
                        }
                        span.who-reacted aria-hidden="true" { (names.join(", ")) }
                    }
                }
            }
        }
    }
}

/// The quote of the message a reply answers: its sender and first line, a
/// link to it in the conversation (app.js scrolls there when it is on the
/// page; otherwise the page around it opens).
pub(crate) fn quote(message: &Message) -> Markup {
    let q = &message.quote;
    html! {
        @if let Some(original) = q.reply_to {
            a.quote href={ (conversation_url(message.conversation_id)) "?around=" (original) "#" (dom_id("message", original)) }
                data-quotes=(dom_id("message", original)) {
                span.quote-sender { (q.reply_sender.as_deref().unwrap_or_default()) }
                span.quote-text {
                    @if q.reply_deleted {
                        em { "This message was deleted" }
                    } @else {
                        (q.reply_text.as_deref().unwrap_or_default().lines().next().unwrap_or_default())
                    }
                }
            }
        }
    }
}

/// "edited", with when on hover.
pub(crate) fn edited_mark(message: &Message, zone: &Zone) -> Markup {
    html! {
        @if let Some(at) = message.edited_at {
            time.edited datetime=(iso(at)) title={ "Edited " (full_time(zone.local(at), zone)) } { "edited" }
        }
    }
}

/// The menu of one message: reactions for anyone, reply, and edit and
/// delete for its sender.
pub(crate) fn menu(message: &Message, viewer: UserId, csrf: &str, editable: bool) -> Markup {
    let url = message_url(message.conversation_id, message.id);
    let mine = message.sender_id == viewer;
    let target = format!("#{}", dom_id("message", message.id));
    html! {
        div.menu role="group" aria-label="Message actions" {
            form.react method="post" action={ (url) "/reactions" } hx-post={ (url) "/reactions" } hx-swap="none" {
                input type="hidden" name="csrf" value=(csrf);
                @for emoji in REACTIONS {
                    button type="submit" name="emoji" value=(emoji) aria-label={ "React " (emoji) } { (emoji) }
                }
            }
            a.reply-link href={ (conversation_url(message.conversation_id)) "?reply_to=" (message.id) "#body" }
                data-reply-to=(message.id) { "Reply" }
            @if mine && editable {
                a href={ (url) "/edit" } hx-get={ (url) "/edit" } hx-target=(target) hx-swap="outerHTML" { "Edit" }
            }
            @if mine {
                a href={ (url) "/delete" } hx-get={ (url) "/delete" } hx-target={ "#" (dom_id("menu", message.id)) } { "Delete" }
            }
        }
    }
}

/// The bubble turned into its edit form (with htmx, in place).
pub(crate) fn edit_form(message: &Message, csrf: &str, error: Option<&str>) -> Markup {
    let url = message_url(message.conversation_id, message.id);
    html! {
        article id=(dom_id("message", message.id)) class="message mine editing" data-seq=(message.seq) {
            form.edit method="post" action={ (url) "/edit" } hx-post={ (url) "/edit" }
                hx-target={ "#" (dom_id("message", message.id)) } hx-swap="outerHTML" {
                input type="hidden" name="csrf" value=(csrf);
                label for={ "edit-" (message.id) } { "Edit your message" }
                @if let Some(error) = error { p.form-error role="alert" { (error) } }
                textarea id={ "edit-" (message.id) } name="body" rows="3" maxlength=(MESSAGE_MAX_CHARS)
                    required autofocus { (message.body) }
                div.edit-buttons {
                    button.primary type="submit" { "Save" }
                    a href=(conversation_url(message.conversation_id)) hx-get=(url)
                        hx-target={ "#" (dom_id("message", message.id)) } hx-swap="outerHTML" { "Cancel" }
                }
            }
        }
    }
}

/// "Delete for everyone?" in the bubble's menu (with htmx), or on a page.
pub(crate) fn delete_confirm(message: &Message, csrf: &str) -> Markup {
    let url = message_url(message.conversation_id, message.id);
    html! {
        form.delete method="post" action={ (url) "/delete" } hx-post={ (url) "/delete" } hx-swap="none" {
            input type="hidden" name="csrf" value=(csrf);
            p { "Delete this message for everyone?" }
            button.danger type="submit" autofocus { "Delete" }
            " "
            a href=(conversation_url(message.conversation_id)) { "Keep it" }
        }
    }
}

/// A message's own page, for browsers without JavaScript: the message and
/// what can be done to it (or its edit form, or the question before
/// deleting it).
pub(crate) fn message_page(viewer: &Viewer, bubble: Markup, actions: Markup) -> Markup {
    page(
        "Message",
        Some(viewer),
        html! {
            main.card.message-page {
                h1 { "Message" }
                div.single { (bubble) }
                (actions)
            }
        },
    )
}
