//! The static files (stylesheet, htmx, its ws extension, the app's few lines
//! of script, the service worker, icons), embedded in the binary, and their versioned URLs: pages link
//! them, `http::assets` serves them.

use std::sync::LazyLock;

use rocket::http::ContentType;
use sha2::{Digest, Sha256};

pub(crate) struct Asset {
    pub(crate) name: &'static str,
    pub(crate) bytes: &'static [u8],
    pub(crate) content_type: fn() -> ContentType,
}

pub(crate) const ASSETS: &[Asset] = &[
    Asset {
        name: "app.css",
        bytes: include_bytes!("../static/app.css"),
        content_type: || ContentType::CSS,
    },
    Asset {
        name: "app.js",
        bytes: include_bytes!("../static/app.js"),
        content_type: || ContentType::JavaScript,
    },
    Asset {
        name: "favicon.svg",
        bytes: include_bytes!("../static/favicon.svg"),
        content_type: || ContentType::SVG,
    },
    Asset {
        name: "favicon-unread.svg",
        bytes: include_bytes!("../static/favicon-unread.svg"),
        content_type: || ContentType::SVG,
    },
    Asset {
        name: "icon-192.png",
        bytes: include_bytes!("../static/icon-192.png"),
        content_type: || ContentType::PNG,
    },
    Asset {
        name: "icon-512.png",
        bytes: include_bytes!("../static/icon-512.png"),
        content_type: || ContentType::PNG,
    },
    Asset {
        name: "htmx.min.js",
        bytes: include_bytes!("../static/htmx.min.js"),
        content_type: || ContentType::JavaScript,
    },
    Asset {
        name: "mls.js",
        bytes: include_bytes!("../static/mls.js"),
        content_type: || ContentType::JavaScript,
    },
    Asset {
        name: "secret.js",
        bytes: include_bytes!("../static/secret.js"),
        content_type: || ContentType::JavaScript,
    },
    Asset {
        name: "secret-core.js",
        bytes: include_bytes!("../static/secret-core.js"),
        content_type: || ContentType::JavaScript,
    },
    Asset {
        name: "sw.js",
        bytes: include_bytes!("../static/sw.js"),
        content_type: || ContentType::JavaScript,
    },
    Asset {
        name: "ws.js",
        bytes: include_bytes!("../static/ws.js"),
        content_type: || ContentType::JavaScript,
    },
];

/// A short content hash per asset, so a new build busts browser caches.
static VERSIONS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| hex::encode(&Sha256::digest(a.bytes)[..6]))
        .collect()
});

/// The content hash of an embedded asset, as its URL carries it.
pub(crate) fn asset_version(name: &str) -> Option<&'static str> {
    let i = ASSETS.iter().position(|a| a.name == name)?;
    Some(VERSIONS[i].as_str())
}

/// The versioned URL of an embedded asset.
pub(crate) fn asset_url(name: &str) -> String {
    match ASSETS.iter().position(|a| a.name == name) {
        Some(i) => format!("/static/{name}?v={}", VERSIONS[i]),
        None => format!("/static/{name}"),
    }
}
