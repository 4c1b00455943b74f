//! The Delivery Service's endpoints for the secret-conversation module of
//! the page: register this browser as a device, keep its KeyPackages
//! topped up, create a secret group, claim the KeyPackages of devices to
//! add, hand in and fetch the group's MLS messages, take Welcomes. MLS
//! objects travel base64-encoded (standard alphabet, as `btoa` writes it)
//! in CSRF-checked forms; answers are JSON. Every route acts for the
//! session's own device only.

use base64ct::{Base64, Encoding};
use rocket::fs::TempFile;
use rocket::http::Status;
use rocket::outcome::try_outcome;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::serde::json::Json;
use rocket::FromForm;
use serde::Serialize;
use time::OffsetDateTime;

use crate::app::App;
use crate::auth::{CsrfForm, CurrentUser};
use crate::chat::secret::{self, GroupPost};
use crate::domain::{ConversationId, DeviceId, Posted, RosterChange, UserId};
use crate::error::{Error, Result};
use crate::http::accounts::TokenForm;
use crate::http::media::read_upload;
use crate::limits::{MLS_KEY_PACKAGES_FULL, MLS_KEY_PACKAGES_LOW};
use crate::media;
use crate::store::Db;

fn decode(what: &str, text: &str) -> Result<Vec<u8>> {
    Base64::decode_vec(text.trim())
        .map_err(|_| Error::Invalid(format!("The {what} is not valid base64.")))
}

fn encode(bytes: &[u8]) -> String {
    Base64::encode_string(bytes)
}

/// The signed-in user and this session's device, if the page registered
/// one. Routes that act for the device answer 404 without one, but only
/// after their form's token was checked (request guards run before the
/// form is read), so a forged request is always told 403.
struct SessionDevice {
    me: CurrentUser,
    device: Option<DeviceId>,
}

impl SessionDevice {
    fn parts(self) -> Result<(CurrentUser, DeviceId)> {
        Ok((self.me, self.device.ok_or(Error::NotFound)?))
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SessionDevice {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, ()> {
        let me = try_outcome!(req.guard::<CurrentUser>().await);
        let db = try_outcome!(req
            .guard::<&Db>()
            .await
            .map_error(|(status, _)| (status, ())));
        match secret::this_device(db.pool(), &me.session.token_hash).await {
            Ok(device) => Outcome::Success(SessionDevice { me, device }),
            Err(e) => Outcome::Error((e.status(), ())),
        }
    }
}

#[derive(FromForm)]
struct DeviceForm {
    csrf: String,
    signature_key: String,
}

#[derive(FromForm)]
struct KeyPackagesForm {
    csrf: String,
    key_package: Vec<String>,
}

#[derive(FromForm)]
struct NewSecretGroup {
    csrf: String,
    title: String,
    members: Vec<UserId>,
}

/// A group message, and for a commit what it does to the device list: the
/// i-th `welcome` is for the i-th `added` device.
#[derive(FromForm)]
struct GroupMessageForm {
    csrf: String,
    message: String,
    added: Vec<DeviceId>,
    welcome: Vec<String>,
    removed: Vec<DeviceId>,
    /// For an application message: sent twice, stored once.
    client_id: Option<String>,
}

crate::csrf_forms!(
    DeviceForm,
    KeyPackagesForm,
    NewSecretGroup,
    GroupMessageForm
);

#[derive(Serialize)]
struct ThisDevice {
    device: DeviceId,
    /// Whose it is: the page names its user in its MLS credential.
    user: UserId,
    key_packages_left: i64,
    /// How many KeyPackages the device should make and upload now.
    wanted: i64,
}

impl ThisDevice {
    fn new(device: DeviceId, user: UserId, key_packages_left: i64) -> ThisDevice {
        let wanted = if key_packages_left < MLS_KEY_PACKAGES_LOW {
            MLS_KEY_PACKAGES_FULL - key_packages_left
        } else {
            0
        };
        ThisDevice {
            device,
            user,
            key_packages_left,
            wanted,
        }
    }
}

#[derive(Serialize)]
struct Waiting {
    waiting: i64,
}

#[derive(Serialize)]
struct Created {
    conversation: ConversationId,
}

#[derive(Serialize)]
struct Claimed {
    device: DeviceId,
    user: UserId,
    key_package: String,
}

#[derive(Serialize)]
struct Record {
    seq: i64,
    device: DeviceId,
    sender: UserId,
    epoch: i64,
    kind: String,
    message: String,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

#[derive(Serialize)]
struct Welcome {
    id: i64,
    conversation: ConversationId,
    welcome: String,
    seq: i64,
}

#[rocket::post("/secret/devices", data = "<form>")]
async fn register(
    form: CsrfForm<DeviceForm>,
    me: CurrentUser,
    app: App<'_>,
) -> Result<Json<ThisDevice>> {
    let key = decode("signature key", &form.0.signature_key)?;
    let pool = app.db.pool();
    let device = secret::register_device(pool, me.id(), &me.session.token_hash, &key).await?;
    let key_packages_left = secret::key_packages_left(pool, device).await?;
    Ok(Json(ThisDevice::new(device, me.id(), key_packages_left)))
}

/// This session's device, or `null` (with every KeyPackage wanted) before
/// the page registered one: asking is normal, not an error.
#[rocket::get("/secret/devices/this")]
async fn this_device(me: CurrentUser, db: &Db) -> Result<Json<Option<ThisDevice>>> {
    let pool = db.pool();
    let Some(device) = secret::this_device(pool, &me.session.token_hash).await? else {
        return Ok(Json(None));
    };
    let key_packages_left = secret::key_packages_left(pool, device).await?;
    Ok(Json(Some(ThisDevice::new(
        device,
        me.id(),
        key_packages_left,
    ))))
}

#[rocket::post("/secret/key-packages", data = "<form>")]
async fn add_key_packages(
    form: CsrfForm<KeyPackagesForm>,
    on: SessionDevice,
    app: App<'_>,
) -> Result<Json<Waiting>> {
    let packages = form
        .0
        .key_package
        .iter()
        .map(|p| decode("KeyPackage", p))
        .collect::<Result<Vec<_>>>()?;
    let (pool, hub) = (app.db.pool(), app.hub.as_ref());
    let (me, device) = on.parts()?;
    let waiting = secret::add_key_packages(pool, hub, device, me.id(), &packages).await?;
    Ok(Json(Waiting { waiting }))
}

#[rocket::post("/secret/groups", data = "<form>")]
async fn create(
    form: CsrfForm<NewSecretGroup>,
    on: SessionDevice,
    app: App<'_>,
) -> Result<Json<Created>> {
    let (me, device) = on.parts()?;
    let (pool, hub) = (app.db.pool(), app.hub.as_ref());
    let conversation =
        secret::create_group(pool, hub, me.id(), device, &form.0.title, &form.0.members).await?;
    Ok(Json(Created { conversation }))
}

#[rocket::post("/conversations/<id>/secret/claim", data = "<_form>")]
async fn claim(
    id: ConversationId,
    _form: CsrfForm<TokenForm>,
    on: SessionDevice,
    db: &Db,
) -> Result<Json<Vec<Claimed>>> {
    let (me, device) = on.parts()?;
    let claimed = secret::claim_key_packages(db.pool(), id, device, me.id()).await?;
    Ok(Json(
        claimed
            .into_iter()
            .map(|c| Claimed {
                device: c.device_id,
                user: c.user_id,
                key_package: encode(&c.key_package),
            })
            .collect(),
    ))
}

#[rocket::post("/conversations/<id>/secret/messages", data = "<form>")]
async fn post(
    id: ConversationId,
    form: CsrfForm<GroupMessageForm>,
    on: SessionDevice,
    app: App<'_>,
) -> Result<Json<Posted>> {
    let db = app.db;
    let (me, device) = on.parts()?;
    let form = form.0;
    if form.added.len() != form.welcome.len() {
        return Err(Error::Invalid(
            "Every device added needs its Welcome.".into(),
        ));
    }
    let message = decode("group message", &form.message)?;
    let added = form
        .added
        .into_iter()
        .zip(&form.welcome)
        .map(|(device, welcome)| Ok((device, decode("Welcome", welcome)?)))
        .collect::<Result<Vec<_>>>()?;
    let roster = RosterChange {
        added,
        removed: form.removed,
    };
    let post = GroupPost {
        body: &message,
        roster: &roster,
        client_id: form.client_id.as_deref().unwrap_or_default(),
        attachment: None,
    };
    let posted = secret::post(db.pool(), app.hub.as_ref(), id, device, me.id(), &post).await?;
    Ok(Json(posted))
}

/// An application message with a file the browser encrypted (a fresh
/// AES-GCM key per file, the key inside the message): the file is stored
/// as it comes, for members' browsers to fetch and decrypt. The size limit
/// is the attachments' (Rocket's `file` and `data-form` limits).
#[derive(FromForm)]
struct SecretFileForm<'r> {
    csrf: String,
    message: String,
    client_id: Option<String>,
    file: TempFile<'r>,
}

crate::csrf_forms!(SecretFileForm<'_>);

#[rocket::post("/conversations/<id>/secret/files", data = "<form>")]
async fn post_file(
    id: ConversationId,
    form: CsrfForm<SecretFileForm<'_>>,
    on: SessionDevice,
    app: App<'_>,
) -> Result<Json<Posted>> {
    let (me, device) = on.parts()?;
    let form = form.0;
    let message = decode("group message", &form.message)?;
    app.budgets.upload(me.id())?;
    app.budgets.message(me.id())?;
    let bytes = read_upload(&form.file).await?;
    let dir = &app.settings.media_dir;
    let file = media::store_opaque(dir, bytes).await?;
    let post = GroupPost {
        body: &message,
        roster: &RosterChange::default(),
        client_id: form.client_id.as_deref().unwrap_or_default(),
        attachment: Some(&file),
    };
    let pool = app.db.pool();
    let posted = secret::post(pool, app.hub.as_ref(), id, device, me.id(), &post).await;
    if posted.is_err() {
        media::discard_unused(pool, dir, &file.sha256).await;
    }
    Ok(Json(posted?))
}

#[rocket::get("/conversations/<id>/secret/messages?<after>")]
async fn fetch(
    id: ConversationId,
    after: i64,
    on: SessionDevice,
    db: &Db,
) -> Result<Json<Vec<Record>>> {
    let (me, device) = on.parts()?;
    let records = secret::messages_after(db.pool(), id, device, me.id(), after).await?;
    Ok(Json(
        records
            .into_iter()
            .map(|r| Record {
                seq: r.seq,
                device: r.device_id,
                sender: r.sender_id,
                epoch: r.epoch,
                kind: r.kind,
                message: encode(&r.body),
                at: r.created_at,
            })
            .collect(),
    ))
}

#[rocket::get("/conversations/<id>/secret/to-remove")]
async fn to_remove(id: ConversationId, me: CurrentUser, db: &Db) -> Result<Json<Vec<DeviceId>>> {
    Ok(Json(
        secret::devices_to_remove(db.pool(), id, me.id()).await?,
    ))
}

#[rocket::get("/secret/welcomes")]
async fn welcomes(on: SessionDevice, db: &Db) -> Result<Json<Vec<Welcome>>> {
    let (_, device) = on.parts()?;
    let pending = secret::welcomes(db.pool(), device).await?;
    Ok(Json(
        pending
            .into_iter()
            .map(|w| Welcome {
                id: w.id,
                conversation: w.conversation_id,
                welcome: encode(&w.welcome),
                seq: w.seq,
            })
            .collect(),
    ))
}

#[rocket::post("/secret/welcomes/<id>/taken", data = "<_form>")]
async fn taken(id: i64, _form: CsrfForm<TokenForm>, on: SessionDevice, db: &Db) -> Result<Status> {
    let (_, device) = on.parts()?;
    secret::drop_welcome(db.pool(), device, id).await?;
    Ok(Status::NoContent)
}

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![
        register,
        this_device,
        add_key_packages,
        create,
        claim,
        post,
        post_file,
        fetch,
        to_remove,
        welcomes,
        taken
    ]
}
