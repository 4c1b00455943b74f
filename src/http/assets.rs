//! Serves the embedded static files with long-lived cache headers (their
//! URLs change with their content).

use rocket::http::{ContentType, Header};

use crate::assets::ASSETS;

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

pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![asset]
}
