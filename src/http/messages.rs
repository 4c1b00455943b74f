//! Actions on one message: its menu, edit, delete, reactions, and its own
//! page (the same actions without JavaScript); and the "@" suggestions.
//! With htmx each answers with a fragment; without, a page or a redirect
//! back to the conversation.

use maud::{html, Markup};
use rocket::response::Redirect;
use rocket::FromForm;

use super::{viewer, Htmx};
use crate::app::App;
use crate::auth::{CsrfForm, CurrentUser};
use crate::chat::{self, actions, scope_of, Scope};
use crate::domain::{ConversationId, Message, MessageId};
use crate::error::{Error, Result};
use crate::http::accounts::Reply;
use crate::limits::MENTION_SUGGESTIONS;
use crate::views::actions::{delete_confirm, edit_form, menu, message_page};
use crate::views::chat::{message, Timeline};
use crate::views::conversation_url;

/// How the viewer's pages lay out a message of this conversation.
pub(super) fn timeline<'a>(me: &'a CurrentUser, scope: &Scope) -> Timeline<'a> {
    Timeline {
        viewer: me.id(),
        zone: &me.zone,
        group: matches!(scope, Scope::Group(_)),
        unread_after: None,
        csrf: me.csrf(),
    }
}

/// Where a form without JavaScript goes back to: the message in its
/// conversation.
fn back_to(message: &Message) -> Redirect {
    Redirect::to(format!(
        "{}#message-{}",
        conversation_url(message.conversation_id),
        message.id
    ))
}

/// The answer to an action whose result every page gets over its socket:
/// nothing more for htmx, the conversation at the message without it.
fn done(htmx: Htmx, message: &Message) -> Reply {
    if htmx.0 {
        Reply::Page(html! {})
    } else {
        Reply::Redirect(back_to(message))
    }
}

/// The message and the scope it is seen in; `NotFound` for non-members.
async fn load(
    app: &App<'_>,
    me: &CurrentUser,
    id: ConversationId,
    message_id: MessageId,
) -> Result<(Scope, Message)> {
    let scope = scope_of(app.db.pool(), id, me).await?;
    let found = actions::message(app.db.pool(), id, message_id, me.id()).await?;
    Ok((scope, found))
}

/// The menu of a message's actions, for the viewer.
fn menu_for(me: &CurrentUser, found: &Message) -> Markup {
    let editable = found.sender_id == me.id() && !found.note && actions::editable(found.created_at);
    menu(found, me.id(), me.csrf(), editable)
}

/// The message: its bubble alone (htmx, e.g. after "Cancel"), or its page
/// with what can be done to it.
#[rocket::get("/conversations/<id>/messages/<message_id>")]
async fn show(
    id: ConversationId,
    message_id: MessageId,
    htmx: Htmx,
    me: CurrentUser,
    app: App<'_>,
) -> Result<Markup> {
    let (scope, found) = load(&app, &me, id, message_id).await?;
    let bubble = message(&found, &timeline(&me, &scope), false);
    if htmx.0 {
        return Ok(bubble);
    }
    let actions = if found.deleted || found.note {
        html! { p { a href=(conversation_url(id)) { "Back to the conversation" } } }
    } else {
        html! {
            (menu_for(&me, &found))
            p { a href=(conversation_url(id)) { "Back to the conversation" } }
        }
    };
    Ok(message_page(&viewer(&me), bubble, actions))
}

/// The menu, opened in the bubble (htmx only; a plain link goes to the
/// message's page).
#[rocket::get("/conversations/<id>/messages/<message_id>/menu")]
async fn open_menu(
    id: ConversationId,
    message_id: MessageId,
    me: CurrentUser,
    app: App<'_>,
) -> Result<Markup> {
    let (_, found) = load(&app, &me, id, message_id).await?;
    if found.deleted || found.note {
        return Ok(html! {});
    }
    Ok(menu_for(&me, &found))
}

/// The edit form: in place of the bubble (htmx), or on the message's page.
#[rocket::get("/conversations/<id>/messages/<message_id>/edit")]
async fn edit_page(
    id: ConversationId,
    message_id: MessageId,
    htmx: Htmx,
    me: CurrentUser,
    app: App<'_>,
) -> Result<Markup> {
    let found = actions::own_message(app.db.pool(), id, message_id, me.id()).await?;
    if !actions::editable(found.created_at) {
        return Err(Error::NotAllowed(
            "A message can be edited for 24 hours after it was sent.",
        ));
    }
    let form = edit_form(&found, me.csrf(), None);
    if htmx.0 {
        return Ok(form);
    }
    Ok(message_page(&viewer(&me), html! {}, form))
}

#[derive(FromForm)]
struct EditForm {
    csrf: String,
    body: Option<String>,
}

/// Saves an edit: the bubble comes back changed (htmx; the other pages get
/// it over their sockets), or the conversation opens at it.
#[rocket::post("/conversations/<id>/messages/<message_id>/edit", data = "<form>")]
async fn edit(
    id: ConversationId,
    message_id: MessageId,
    form: CsrfForm<EditForm>,
    htmx: Htmx,
    me: CurrentUser,
    app: App<'_>,
) -> Result<Reply> {
    let pool = app.db.pool();
    match actions::edit(
        pool,
        app.hub.as_ref(),
        id,
        message_id,
        me.id(),
        form.0.body.as_deref(),
    )
    .await
    {
        Ok(edited) if htmx.0 => {
            let scope = scope_of(pool, id, &me).await?;
            Ok(Reply::Page(message(&edited, &timeline(&me, &scope), false)))
        }
        Ok(edited) => Ok(Reply::Redirect(back_to(&edited))),
        Err(e) if e.is_refusal() => {
            let found = actions::own_message(pool, id, message_id, me.id()).await?;
            let form = edit_form(&found, me.csrf(), Some(&e.public_message()));
            // htmx swaps only a success: the form comes back with why.
            Ok(if htmx.0 {
                Reply::Page(form)
            } else {
                Reply::Refused((e.status(), message_page(&viewer(&me), html! {}, form)))
            })
        }
        Err(e) => Err(e),
    }
}

/// "Delete for everyone?": in the bubble's menu (htmx), or on a page.
#[rocket::get("/conversations/<id>/messages/<message_id>/delete")]
async fn delete_page(
    id: ConversationId,
    message_id: MessageId,
    htmx: Htmx,
    me: CurrentUser,
    app: App<'_>,
) -> Result<Markup> {
    let found = actions::own_message(app.db.pool(), id, message_id, me.id()).await?;
    let question = delete_confirm(&found, me.csrf());
    if htmx.0 {
        return Ok(question);
    }
    let scope = scope_of(app.db.pool(), id, &me).await?;
    let bubble = message(&found, &timeline(&me, &scope), false);
    Ok(message_page(&viewer(&me), bubble, question))
}

#[derive(FromForm)]
struct TokenOnly {
    csrf: String,
}

/// Deletes for everyone: every page replaces the bubble over its socket.
#[rocket::post("/conversations/<id>/messages/<message_id>/delete", data = "<_form>")]
async fn delete(
    id: ConversationId,
    message_id: MessageId,
    _form: CsrfForm<TokenOnly>,
    htmx: Htmx,
    me: CurrentUser,
    app: App<'_>,
) -> Result<Reply> {
    let deleted = actions::delete(
        app.db.pool(),
        app.hub.as_ref(),
        &app.settings.media_dir,
        id,
        message_id,
        me.id(),
    )
    .await?;
    Ok(done(htmx, &deleted))
}

#[derive(FromForm)]
struct ReactionForm {
    csrf: String,
    emoji: String,
}

/// Adds or takes back a reaction: every page shows it over its socket.
#[rocket::post("/conversations/<id>/messages/<message_id>/reactions", data = "<form>")]
async fn react(
    id: ConversationId,
    message_id: MessageId,
    form: CsrfForm<ReactionForm>,
    htmx: Htmx,
    me: CurrentUser,
    app: App<'_>,
) -> Result<Reply> {
    let reacted = actions::react(
        app.db.pool(),
        app.hub.as_ref(),
        id,
        message_id,
        me.id(),
        &form.0.emoji,
    )
    .await?;
    Ok(done(htmx, &reacted))
}

/// The members whose name starts with `q`, offered after "@" (the viewer
/// aside); each inserts their name (app.js).
#[rocket::get("/conversations/<id>/mentions?<q>")]
async fn mentions(
    id: ConversationId,
    q: Option<&str>,
    me: CurrentUser,
    app: App<'_>,
) -> Result<Markup> {
    scope_of(app.db.pool(), id, &me).await?;
    let members = chat::member_list(app.db.pool(), id, me.id()).await?;
    let q = q.unwrap_or_default().to_lowercase();
    let matching: Vec<&str> = members
        .iter()
        .filter(|m| m.id != me.id() && m.username.to_lowercase().starts_with(&q))
        .map(|m| m.username.as_str())
        .take(MENTION_SUGGESTIONS)
        .collect();
    Ok(html! {
        ul #mention-list .mention-list data-source={ (conversation_url(id)) "/mentions" }
            aria-label="People to mention" {
            @for name in matching {
                li { button type="button" data-mention=(name) { "@" (name) } }
            }
        }
    })
}

crate::csrf_forms!(EditForm, TokenOnly, ReactionForm);

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![
        show,
        open_menu,
        edit_page,
        edit,
        delete_page,
        delete,
        react,
        mentions
    ]
}
