//! Serves the embedded static files with long-lived cache headers (their
//! URLs change with their content).

use rocket::http::{ContentType, Header, Status};
use rocket::request::{FromRequest, Outcome, Request};

use crate::assets::{asset_url, asset_version, ASSETS};

#[derive(rocket::Responder)]
struct AssetResponse {
    body: (ContentType, &'static [u8]),
    cache: Header<'static>,
    etag: Header<'static>,
}

/// The `If-None-Match` header of a request, if any.
struct IfNoneMatch<'r>(Option<&'r str>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for IfNoneMatch<'r> {
    type Error = std::convert::Infallible;

    async fn from_request(request: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        Outcome::Success(IfNoneMatch(request.headers().get_one("If-None-Match")))
    }
}

/// Only the embedded names match: nothing is read from disk, so no path can
/// escape. A URL with the asset's current version is cached for good; one
/// without (a module's relative import) is checked again on every use,
/// which costs a 304 while it has not changed.
#[rocket::get("/static/<name>?<v>")]
fn asset(
    name: &str,
    v: Option<&str>,
    if_none_match: IfNoneMatch<'_>,
) -> Option<(Status, AssetResponse)> {
    let asset = ASSETS.iter().find(|a| a.name == name)?;
    let version = asset_version(name)?;
    let etag = format!("\"{version}\"");
    let cache = if v == Some(version) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let (status, bytes) = if if_none_match.0 == Some(etag.as_str()) {
        (Status::NotModified, &b""[..])
    } else {
        (Status::Ok, asset.bytes)
    };
    Some((
        status,
        AssetResponse {
            body: ((asset.content_type)(), bytes),
            cache: Header::new("Cache-Control", cache),
            etag: Header::new("ETag", etag),
        },
    ))
}

/// The web app manifest: what an installed Natter is called, how it opens
/// and its icons (installing is what lets iOS Safari receive pushes).
#[rocket::get("/manifest.webmanifest")]
fn manifest() -> (ContentType, String) {
    let icon = |name: &str, size: u32| {
        serde_json::json!({
            "src": asset_url(name),
            "sizes": format!("{size}x{size}"),
            "type": "image/png",
            "purpose": "any",
        })
    };
    let manifest = serde_json::json!({
        "name": "Natter",
        "short_name": "Natter",
        "description": "A self-hosted messenger",
        "start_url": "/",
        "scope": "/",
        "display": "standalone",
        "background_color": "#f3f4f6",
        "theme_color": "#2f6fed",
        "icons": [icon("icon-192.png", 192), icon("icon-512.png", 512)],
    });
    (
        ContentType::new("application", "manifest+json"),
        manifest.to_string(),
    )
}

/// The service worker, at the root so that its scope is the whole site;
/// browsers check it for updates on their own, so it is never cached long.
#[rocket::get("/sw.js")]
fn service_worker() -> Option<AssetResponse> {
    let asset = ASSETS.iter().find(|a| a.name == "sw.js")?;
    Some(AssetResponse {
        body: ((asset.content_type)(), asset.bytes),
        cache: Header::new("Cache-Control", "no-cache"),
        etag: Header::new("ETag", format!("\"{}\"", asset_version("sw.js")?)),
    })
}

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![asset, manifest, service_worker]
}
