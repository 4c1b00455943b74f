//! Serves the embedded static files with long-lived cache headers (their
//! URLs change with their content).

use rocket::http::{ContentType, Header};

use crate::assets::{asset_url, ASSETS};

#[derive(rocket::Responder)]
struct AssetResponse {
    body: (ContentType, &'static [u8]),
    cache: Header<'static>,
}

/// Only the embedded names match: nothing is read from disk, so no path can
/// escape.
#[rocket::get("/static/<name>")]
fn asset(name: &str) -> Option<AssetResponse> {
    let asset = ASSETS.iter().find(|a| a.name == name)?;
    Some(AssetResponse {
        body: ((asset.content_type)(), asset.bytes),
        cache: Header::new("Cache-Control", "public, max-age=31536000, immutable"),
    })
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
    })
}

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![asset, manifest, service_worker]
}
