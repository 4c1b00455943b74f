//! Security headers on every response: a strict Content-Security-Policy that
//! the app passes with no inline script or style, no framing, no sniffing,
//! a tight referrer policy, no caching of private pages, and HSTS when served
//! over HTTPS.

use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::Header;
use rocket::{Request, Response};

use crate::config::Settings;

/// htmx is configured (see the layout's `htmx-config` meta tag) so that it
/// needs neither eval nor inline styles; everything is served from 'self'.
/// Images may also be `blob:`: a secret conversation's pictures are
/// decrypted in the page, which shows them from memory.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; worker-src 'self'; \
    object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Adds the security headers to every response.
pub(crate) struct SecurityHeaders;

#[rocket::async_trait]
impl Fairing for SecurityHeaders {
    fn info(&self) -> Info {
        Info {
            name: "Security headers",
            kind: Kind::Response,
        }
    }

    async fn on_response<'r>(&self, req: &'r Request<'_>, res: &mut Response<'r>) {
        res.set_header(Header::new(
            "Content-Security-Policy",
            CONTENT_SECURITY_POLICY,
        ));
        res.set_header(Header::new("X-Content-Type-Options", "nosniff"));
        res.set_header(Header::new("X-Frame-Options", "DENY"));
        res.set_header(Header::new("Referrer-Policy", "same-origin"));
        res.set_header(Header::new("Cross-Origin-Opener-Policy", "same-origin"));
        // Pages show private conversations: no cache may keep them, unless
        // the response says otherwise (static files, media with an ETag).
        if !res.headers().contains("Cache-Control") {
            res.set_header(Header::new("Cache-Control", "no-store"));
        }
        let secure = req
            .rocket()
            .state::<Settings>()
            .is_some_and(|s| s.secure_cookies);
        if secure {
            res.set_header(Header::new(
                "Strict-Transport-Security",
                "max-age=63072000; includeSubDomains",
            ));
        }
    }
}
