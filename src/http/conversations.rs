//! Conversation pages: open by username, history pages, and the plain-form
//! send path used without JavaScript.

use maud::Markup;
use rocket::response::Redirect;
use rocket::FromForm;

use super::{viewer, Scripted};
use crate::app::App;
use crate::auth::{CsrfForm, CurrentUser};
use crate::chat::conversations::{find_direct, open_direct, set_notify};
use crate::chat::{self, history, scope_of, Draft, Scope};
use crate::domain::User;
use crate::domain::{parse_day, ConversationId, MessageId};
use crate::error::{Error, Result};
use crate::http::accounts::{Reply, TokenForm};
use crate::limits::HISTORY_PAGE;
use crate::store::Db;
use crate::views::chat::{chat_page, history_chunk, later_chunk, ChatPage, Composer, Heading};
use crate::views::conversation_url;
use crate::views::groups::GroupHeading;
use crate::views::layout::Viewer;
use crate::views::pages::start_conversation;

/// The other person of a direct conversation, by name; never oneself.
async fn peer_named(db: &Db, me: &CurrentUser, username: &str) -> Result<User> {
    chat::user_named(db.pool(), username)
        .await?
        .filter(|other| other.id != me.id())
        .ok_or(Error::NotFound)
}

/// Goes to the direct conversation with `username`, or, when there is none
/// yet, offers to start it: a GET changes nothing.
#[rocket::get("/c/<username>")]
async fn open(username: &str, me: CurrentUser, db: &Db) -> Result<Reply> {
    let other = peer_named(db, &me, username).await?;
    Ok(match find_direct(db.pool(), me.id(), other.id).await? {
        Some(id) => Reply::Redirect(Redirect::to(conversation_url(id))),
        None => Reply::Page(start_conversation(&viewer(&me), &other.username)),
    })
}

/// Starts the direct conversation with `username` (or finds it, when both
/// start at once: the pair is unique) and opens it.
#[rocket::post("/c/<username>", data = "<_form>")]
async fn start(
    username: &str,
    _form: CsrfForm<TokenForm>,
    me: CurrentUser,
    db: &Db,
) -> Result<Redirect> {
    let other = peer_named(db, &me, username).await?;
    let id = open_direct(db.pool(), me.id(), other.id).await?;
    Ok(Redirect::to(conversation_url(id)))
}

/// What the page shows in its message form.
struct FormState<'a> {
    body: &'a str,
    error: Option<&'a str>,
}

/// How the page is opened: at its newest messages or at older history, and
/// whether the browser runs the page script.
struct Opening {
    before: Option<MessageId>,
    /// The message to open the history around (a search result, a quote).
    around: Option<MessageId>,
    scripted: bool,
    /// The message the composer answers (`?reply_to=`, without JavaScript).
    reply_to: Option<MessageId>,
}

async fn render_page(
    app: &App<'_>,
    me: &CurrentUser,
    conversation_id: ConversationId,
    opening: Opening,
    form: FormState<'_>,
) -> Result<Markup> {
    let db = app.db;
    let before = opening.before;
    let scope = scope_of(db.pool(), conversation_id, me).await?;
    // Without the page script, opening the conversation at its newest
    // messages reads it; with it, the page says "seen" once it is in view
    // (it may be opening in a background tab). A page of older history
    // never reads. Reading must not depend on writing: on a full disk the
    // page still opens.
    // Where the unread part starts, as it stood before this opening, and
    // whether the others have read the viewer's newest message (neither
    // depends on the viewer's own read position, which opening may move).
    let tally = chat::tally(db.pool(), conversation_id).await?;
    let read_up_to = tally.as_ref().and_then(|t| t.last_read_of(me.id()));
    let notify = tally
        .as_ref()
        .map(|t| t.notify_of(me.id()))
        .unwrap_or_default();
    let newest_change = tally.as_ref().map_or(0, |t| t.last_seq);
    let secret = tally.as_ref().is_some_and(|t| t.secret);
    let seen = tally.is_some_and(|t| t.seen_by_others(me.id()));
    if before.is_none() && opening.around.is_none() && !opening.scripted {
        let marked = chat::mark_read(
            app.writer,
            app.hub.as_ref(),
            conversation_id,
            me.id(),
            None,
            None,
        )
        .await;
        if let Err(e) = marked {
            rocket::warn!("marking read on opening failed: {e}");
        }
    }
    let (history, has_more, later) = match opening.around {
        Some(message) => {
            let (history, earlier, later) =
                chat::history_around(db.pool(), conversation_id, me.id(), message, newest_change)
                    .await?;
            (history, earlier, later.then_some(newest_change))
        }
        None => {
            let (history, has_more) = history(db.pool(), conversation_id, me.id(), before).await?;
            (history, has_more, None)
        }
    };
    let reply = match opening.reply_to {
        Some(original) => chat::actions::message(db.pool(), conversation_id, original, me.id())
            .await
            .ok()
            .filter(|m| !m.deleted && !m.note),
        None => None,
    };
    let list = chat::contacts_of(db.pool(), me.id()).await?;
    let inbox = chat::inbox(db.pool(), me.id()).await?;
    let (members, candidates) = match &scope {
        Scope::Group(group) => chat::people_of_group(db.pool(), group, me.id(), &list).await?,
        Scope::Direct(_) => (Vec::new(), Vec::new()),
    };
    let candidate_names: Vec<&str> = candidates.iter().map(|c| c.username.as_str()).collect();
    let heading = match &scope {
        Scope::Direct(peer) => Heading::Direct {
            peer,
            online: app.presence.is_online(peer.id),
            last_seen: list
                .iter()
                .find(|c| c.id == peer.id)
                .and_then(|c| c.last_seen_at),
        },
        Scope::Group(group) => Heading::Group(GroupHeading {
            group,
            members: &members,
            candidates: &candidate_names,
            viewer_id: me.id(),
            csrf: me.csrf(),
        }),
    };
    let action = format!("{}/messages", conversation_url(conversation_id));
    let client_id = chat::new_client_id();
    let upload_client_id = chat::new_client_id();
    let viewer = Viewer {
        unread: super::unread_total(&inbox),
        admin: me.session.is_admin,
        ..viewer(me)
    };
    Ok(chat_page(
        &viewer,
        &ChatPage {
            conversation_id,
            heading,
            inbox: &inbox,
            notify,
            seen,
            history: &history,
            has_more,
            before,
            later,
            read_up_to,
            composer: Composer {
                action: &action,
                csrf: me.csrf(),
                client_id: &client_id,
                body: form.body,
                error: form.error,
                reply: reply.as_ref(),
            },
            upload_client_id: &upload_client_id,
            secret,
        },
    ))
}

#[rocket::get("/conversations/<id>?<before>&<reply_to>&<around>")]
async fn page(
    id: ConversationId,
    before: Option<MessageId>,
    reply_to: Option<MessageId>,
    around: Option<MessageId>,
    scripted: Scripted,
    me: CurrentUser,
    app: App<'_>,
) -> Result<Markup> {
    render_page(
        &app,
        &me,
        id,
        Opening {
            before,
            around,
            scripted: scripted.0,
            reply_to,
        },
        FormState {
            body: "",
            error: None,
        },
    )
    .await
}

/// The htmx "load earlier" fragment.
#[rocket::get("/conversations/<id>/messages?<before>&<day>")]
async fn earlier(
    id: ConversationId,
    before: MessageId,
    day: Option<&str>,
    me: CurrentUser,
    db: &Db,
) -> Result<Markup> {
    let scope = scope_of(db.pool(), id, &me).await?;
    let (page, has_more) = history(db.pool(), id, me.id(), Some(before)).await?;
    let timeline = super::messages::timeline(&me, &scope);
    // The day the page's history starts on, as the page's link says it.
    let page_day = day.and_then(parse_day);
    Ok(history_chunk(id, &page, has_more, &timeline, page_day))
}

/// The htmx "load later" fragment of a page opened around a message: the
/// messages after `after` up to change `upto` (what came later arrived live).
#[rocket::get("/conversations/<id>/later?<after>&<upto>")]
async fn later(
    id: ConversationId,
    after: MessageId,
    upto: i64,
    me: CurrentUser,
    db: &Db,
) -> Result<Markup> {
    let scope = scope_of(db.pool(), id, &me).await?;
    // The message the chunk follows comes first: it places the chunk's
    // first day separator and run.
    let (mut page, has_more) =
        chat::later(db.pool(), id, me.id(), after, upto, HISTORY_PAGE + 1).await?;
    let previous = match page.first() {
        Some(first) if first.id == after => Some(page.remove(0)),
        _ => None,
    };
    let timeline = super::messages::timeline(&me, &scope);
    Ok(later_chunk(
        id,
        previous.as_ref(),
        &page,
        has_more.then_some(upto),
        &timeline,
    ))
}

#[derive(FromForm)]
struct MessageForm {
    csrf: String,
    client_id: Option<String>,
    body: Option<String>,
    reply_to: Option<String>,
}

/// Sending without JavaScript: save, publish, then Post/Redirect/Get.
#[rocket::post("/conversations/<id>/messages", data = "<form>")]
async fn post(
    id: ConversationId,
    form: CsrfForm<MessageForm>,
    me: CurrentUser,
    app: App<'_>,
) -> Result<Reply> {
    let form = form.0;
    let draft = Draft::parse(form.body.as_deref(), form.client_id.as_deref())
        .map(|draft| draft.replying_to(form.reply_to.as_deref()));
    let sent = match draft {
        Ok(draft) => match app.budgets.message(me.id()) {
            Ok(()) => chat::send(app.writer, app.hub.as_ref(), me.id(), id, &draft).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match sent {
        Ok(_) => Ok(Reply::Redirect(Redirect::to(conversation_url(id)))),
        // Refused, not failed: the page comes back with the text kept.
        Err(e) if e.is_refusal() => {
            let page = render_page(
                &app,
                &me,
                id,
                Opening {
                    before: None,
                    around: None,
                    scripted: false,
                    reply_to: None,
                },
                FormState {
                    body: form.body.as_deref().unwrap_or_default(),
                    error: Some(&e.public_message()),
                },
            )
            .await?;
            Ok(Reply::Refused((e.status(), page)))
        }
        Err(e) => Err(e),
    }
}

#[derive(FromForm)]
struct NotifyForm {
    csrf: String,
    level: String,
}

/// What the viewer wants to be told about this conversation; back to it.
#[rocket::post("/conversations/<id>/notify", data = "<form>")]
async fn notify(
    id: ConversationId,
    form: CsrfForm<NotifyForm>,
    me: CurrentUser,
    db: &Db,
) -> Result<Redirect> {
    set_notify(db.pool(), id, me.id(), &form.0.level).await?;
    Ok(Redirect::to(conversation_url(id)))
}

crate::csrf_forms!(MessageForm, NotifyForm);

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![open, start, page, earlier, later, post, notify]
}
