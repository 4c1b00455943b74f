//! Web Push for the page script: the server's key to subscribe with, and
//! storing or removing this browser's subscription (the account page
//! removes any of them, see `account`).

use rocket::http::{ContentType, Status};
use rocket::{FromForm, State};

use crate::auth::{CsrfForm, CurrentUser};
use crate::chat::push::{self, NewSubscription};
use crate::config::Settings;
use crate::error::Result;
use crate::store::Db;

/// What `PushSubscription.toJSON()` holds, as form fields.
#[derive(FromForm)]
struct SubscriptionForm {
    csrf: String,
    endpoint: String,
    p256dh: String,
    auth: String,
}

crate::csrf_forms!(SubscriptionForm);

/// A subscription to remove, by its endpoint.
#[derive(FromForm)]
struct EndpointForm {
    csrf: String,
    endpoint: String,
}

crate::csrf_forms!(EndpointForm);

/// The VAPID public key (base64url), for `pushManager.subscribe`.
#[rocket::get("/push/key")]
async fn key(_me: CurrentUser, db: &Db) -> Result<(ContentType, String)> {
    Ok((ContentType::Plain, push::public_key(db.pool()).await?))
}

#[rocket::post("/push/subscriptions", data = "<form>")]
async fn subscribe(
    form: CsrfForm<SubscriptionForm>,
    me: CurrentUser,
    db: &Db,
    settings: &State<Settings>,
) -> Result<Status> {
    let form = form.0;
    let new = NewSubscription {
        endpoint: &form.endpoint,
        p256dh: &form.p256dh,
        auth: &form.auth,
    };
    push::subscribe(
        db.pool(),
        me.id(),
        &me.session.token_hash,
        &new,
        settings.push_local_endpoints,
    )
    .await?;
    Ok(Status::NoContent)
}

#[rocket::post("/push/unsubscribe", data = "<form>")]
async fn unsubscribe(form: CsrfForm<EndpointForm>, me: CurrentUser, db: &Db) -> Result<Status> {
    push::unsubscribe(db.pool(), me.id(), None, Some(&form.0.endpoint)).await?;
    Ok(Status::NoContent)
}

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![key, subscribe, unsubscribe]
}
