//! Attachments: upload to a conversation (multipart, also without
//! JavaScript), and download, to members only; people's pictures.

use rocket::fs::TempFile;
use rocket::http::{ContentType, Header};
use rocket::response::Redirect;
use rocket::FromForm;
use tokio::io::AsyncReadExt;

use crate::app::App;
use crate::auth::{CsrfForm, CurrentUser};
use crate::chat::scope_of;
use crate::chat::{self, Draft};
use crate::domain::ConversationId;
use crate::error::{Error, Result};
use crate::http::accounts::Reply;
use crate::http::Htmx;
use crate::media;
use crate::views::chat::upload_status;
use crate::views::conversation_url;

#[derive(FromForm)]
struct Upload<'r> {
    csrf: String,
    client_id: Option<String>,
    caption: Option<String>,
    reply_to: Option<String>,
    file: TempFile<'r>,
}

crate::csrf_forms!(Upload<'_>);

/// An uploaded file's bytes.
pub(super) async fn read_upload(file: &TempFile<'_>) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(usize::try_from(file.len()).unwrap_or(0));
    let mut reader = file
        .open()
        .await
        .map_err(|e| Error::Internal(format!("reading an upload failed: {e}")))?;
    reader
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| Error::Internal(format!("reading an upload failed: {e}")))?;
    Ok(bytes)
}

/// The size limit comes from Rocket's `file` and `data-form` limits: a larger
/// upload is refused (413) while it streams in, before anything is stored.
#[rocket::post("/conversations/<id>/attachments", data = "<form>")]
async fn upload(
    id: ConversationId,
    form: CsrfForm<Upload<'_>>,
    me: CurrentUser,
    app: App<'_>,
    htmx: Htmx,
) -> Result<Reply> {
    let form = form.0;
    scope_of(app.db.pool(), id, &me).await?;
    let result = async {
        let name = media::display_name(
            form.file
                .raw_name()
                .map(|n| n.dangerous_unsafe_unsanitized_raw().as_str()),
        );
        let draft = Draft::caption(form.caption.as_deref(), form.client_id.as_deref(), &name)?
            .replying_to(form.reply_to.as_deref());
        app.budgets.upload(me.id())?;
        app.budgets.message(me.id())?;
        let bytes = read_upload(&form.file).await?;
        let dir = &app.settings.media_dir;
        let attachment = media::store(dir, bytes, Some(&name)).await?;
        let sha256 = attachment.sha256.clone();
        let sent = chat::send_with(
            app.writer,
            app.hub.as_ref(),
            me.id(),
            id,
            &draft,
            Some(attachment),
            None,
        )
        .await;
        if sent.is_err() {
            media::discard_unused(app.db.pool(), dir, &sha256).await;
        }
        sent
    }
    .await;
    match (result, htmx.0) {
        (Ok(_), true) => Ok(Reply::Page(upload_status(None))),
        (Ok(_), false) => Ok(Reply::Redirect(Redirect::to(conversation_url(id)))),
        // Refusals the person can act on are shown in place of the progress bar.
        (Err(e), true) if e.is_refusal() => {
            Ok(Reply::Page(upload_status(Some(&e.public_message()))))
        }
        (Err(e), _) => Err(e),
    }
}

/// A stored file as a response with the headers that keep it inert.
#[derive(rocket::Responder)]
struct Download {
    body: (ContentType, Vec<u8>),
    disposition: Header<'static>,
    nosniff: Header<'static>,
    cache: Header<'static>,
    etag: Header<'static>,
}

/// What a download request answers: the file, or "you have it already".
/// One lives for one response, moved once: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(rocket::Responder)]
enum Served {
    File(Download),
    #[response(status = 304)]
    Unchanged(CacheHeaders),
}

#[derive(rocket::Responder)]
struct CacheHeaders {
    body: (),
    cache: Header<'static>,
    etag: Header<'static>,
}

/// Downloads may be cached by the browser alone, and only checked again
/// with the server (so a file deleted or a membership ended is not served
/// from the cache); the content hash is the validator.
const MEDIA_CACHE: &str = "private, no-cache";

fn etag_of(tag: &str) -> String {
    format!("\"{tag}\"")
}

/// The request's `If-None-Match` validators.
struct IfNoneMatch(Option<String>);

#[rocket::async_trait]
impl<'r> rocket::request::FromRequest<'r> for IfNoneMatch {
    type Error = std::convert::Infallible;

    async fn from_request(
        req: &'r rocket::Request<'_>,
    ) -> rocket::request::Outcome<Self, Self::Error> {
        let value = req.headers().get_one("If-None-Match").map(str::to_owned);
        rocket::request::Outcome::Success(IfNoneMatch(value))
    }
}

impl IfNoneMatch {
    fn matches(&self, etag: &str) -> bool {
        self.0
            .as_deref()
            .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    }
}

impl Download {
    /// `bytes` served as `content_type`, `inline` or as an `attachment` named
    /// `filename`, never sniffed, cached by the browser alone under `etag`.
    fn new(
        content_type: ContentType,
        bytes: Vec<u8>,
        kind: &str,
        filename: &str,
        etag: String,
    ) -> Download {
        Download {
            body: (content_type, bytes),
            disposition: disposition(kind, filename),
            nosniff: Header::new("X-Content-Type-Options", "nosniff"),
            cache: Header::new("Cache-Control", MEDIA_CACHE),
            etag: Header::new("ETag", etag),
        }
    }
}

/// "Not modified" when the browser's copy has this `etag`.
fn unchanged(if_none_match: &IfNoneMatch, etag: &str) -> Option<Served> {
    if_none_match.matches(etag).then(|| {
        Served::Unchanged(CacheHeaders {
            body: (),
            cache: Header::new("Cache-Control", MEDIA_CACHE),
            etag: Header::new("ETag", etag.to_owned()),
        })
    })
}

/// `attachment; filename*=UTF-8''…`: the name percent-encoded, so no header
/// injection and no path.
fn disposition(kind: &str, filename: &str) -> Header<'static> {
    let encoded: String = filename
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    Header::new(
        "Content-Disposition",
        format!("{kind}; filename*=UTF-8''{encoded}"),
    )
}

async fn read_stored(path: std::path::PathBuf) -> Result<Vec<u8>> {
    tokio::fs::read(path).await.map_err(|_| Error::NotFound)
}

/// Images (re-encoded on upload) open inline; every other file downloads as
/// opaque bytes, whatever it contains.
#[rocket::get("/media/<id>")]
async fn download(id: i64, me: CurrentUser, app: App<'_>, cached: IfNoneMatch) -> Result<Served> {
    let (sha256, file) = chat::attachment(app.db.pool(), id, me.id())
        .await?
        .ok_or(Error::NotFound)?;
    let etag = etag_of(&sha256);
    if let Some(unchanged) = unchanged(&cached, &etag) {
        return Ok(unchanged);
    }
    let bytes = read_stored(media::path_of(&app.settings.media_dir, &sha256)).await?;
    let (content_type, kind) = if file.has_thumbnail {
        let content_type =
            ContentType::parse_flexible(&file.content_type).unwrap_or(ContentType::Binary);
        (content_type, "inline")
    } else {
        (ContentType::Binary, "attachment")
    };
    Ok(Served::File(Download::new(
        content_type,
        bytes,
        kind,
        &file.filename,
        etag,
    )))
}

#[rocket::get("/media/<id>/thumbnail")]
async fn thumbnail(id: i64, me: CurrentUser, app: App<'_>, cached: IfNoneMatch) -> Result<Served> {
    let (sha256, file) = chat::attachment(app.db.pool(), id, me.id())
        .await?
        .filter(|(_, file)| file.has_thumbnail)
        .ok_or(Error::NotFound)?;
    let etag = etag_of(&format!("{sha256}-thumbnail"));
    if let Some(unchanged) = unchanged(&cached, &etag) {
        return Ok(unchanged);
    }
    let bytes = read_stored(media::thumbnail_path_of(&app.settings.media_dir, &sha256)).await?;
    Ok(Served::File(Download::new(
        ContentType::PNG,
        bytes,
        "inline",
        &file.filename,
        etag,
    )))
}

/// How long a browser keeps an avatar: its address names its content, so a
/// new picture is a new address and this copy never goes stale.
const AVATAR_CACHE: &str = "private, max-age=31536000, immutable";

/// A person's picture, to anyone logged in (it is shown beside their name).
#[rocket::get("/avatars/<sha256>")]
async fn avatar(sha256: &str, _me: CurrentUser, app: App<'_>) -> Result<Download> {
    let is_hash = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
    if !is_hash || !chat::profiles::is_avatar(app.db.pool(), sha256).await? {
        return Err(Error::NotFound);
    }
    let bytes = read_stored(media::avatar_path_of(&app.settings.media_dir, sha256)).await?;
    let mut picture = Download::new(
        ContentType::PNG,
        bytes,
        "inline",
        "avatar.png",
        etag_of(sha256),
    );
    picture.cache = Header::new("Cache-Control", AVATAR_CACHE);
    Ok(picture)
}

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![upload, download, thumbnail, avatar]
}
