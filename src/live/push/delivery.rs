//! Sending one push: the server's VAPID key pair (made on first start and
//! kept in the database), the encrypted request (RFC 8291 `aes128gcm`,
//! RFC 8292 VAPID, both by `web-push-native`), and what the push service's
//! answer means: gone (the subscription is deleted), try again later (with
//! backoff), or failed.

use std::net::IpAddr;
use std::sync::Arc;

use base64ct::{Base64UrlUnpadded, Encoding};
use tokio::sync::Semaphore;
use web_push_native::jwt_simple::algorithms::{ECDSAP256PublicKeyLike, ES256KeyPair};
use web_push_native::{p256, Auth, WebPushBuilder};

use crate::error::{Error, Result};
use crate::limits::{PUSH_ENDPOINT_MAX_BYTES, PUSH_RETRIES, PUSH_TIMEOUT, PUSH_TTL};
use crate::store::push::{self, Subscription};
use crate::store::Pool;

/// The server's VAPID key pair.
pub(crate) struct VapidKeys {
    pair: ES256KeyPair,
}

impl VapidKeys {
    /// The key pair in the database; made and stored on first use (when
    /// several instances start at once, the first one stored wins).
    pub async fn load(pool: &Pool) -> Result<VapidKeys> {
        let made = Base64UrlUnpadded::encode_string(&ES256KeyPair::generate().to_bytes());
        let stored = push::vapid_key(pool, &made).await?;
        let bytes = Base64UrlUnpadded::decode_vec(&stored)
            .map_err(|e| Error::Internal(format!("the stored VAPID key is unreadable: {e}")))?;
        let pair = ES256KeyPair::from_bytes(&bytes)
            .map_err(|e| Error::Internal(format!("the stored VAPID key is unreadable: {e}")))?;
        Ok(VapidKeys { pair })
    }

    /// The public key, as browsers take it (`applicationServerKey`):
    /// the uncompressed point, base64url.
    pub fn public(&self) -> String {
        Base64UrlUnpadded::encode_string(
            &self.pair.public_key().public_key().to_bytes_uncompressed(),
        )
    }
}

/// The server's VAPID public key, for the page to subscribe with.
pub(crate) async fn public_key(pool: &Pool) -> Result<String> {
    Ok(VapidKeys::load(pool).await?.public())
}

/// Checks what a browser sent as its subscription: an `https` endpoint on
/// a public host (unless `local` allows a test's push-service emulator), a
/// P-256 public key and a 16-byte secret.
pub(crate) fn check_endpoint(endpoint: &str, p256dh: &str, auth: &str, local: bool) -> Result<()> {
    let invalid = |why: &str| Err(Error::Invalid(format!("That push subscription {why}.")));
    if endpoint.len() > PUSH_ENDPOINT_MAX_BYTES {
        return invalid("has too long an address");
    }
    let Ok(uri) = endpoint.parse::<http::Uri>() else {
        return invalid("has no valid address");
    };
    let Some(host) = uri.host() else {
        return invalid("has no host");
    };
    if !local {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let private_ip = host.parse::<IpAddr>().is_ok_and(|ip| match ip {
            IpAddr::V4(ip) => {
                ip.is_private()
                    || ip.is_loopback()
                    || ip.is_link_local()
                    || ip.is_unspecified()
                    || ip.is_broadcast()
            }
            IpAddr::V6(ip) => {
                ip.is_loopback()
                    || ip.is_unspecified()
                    || ip.is_unique_local()
                    || ip.is_unicast_link_local()
            }
        });
        if uri.scheme_str() != Some("https") {
            return invalid("is not on https");
        }
        if private_ip || host.eq_ignore_ascii_case("localhost") || !host.contains('.') {
            return invalid("is not on a public host");
        }
    } else if !matches!(uri.scheme_str(), Some("https" | "http")) {
        return invalid("is not on http");
    }
    if browser_key(p256dh).is_none() {
        return invalid("has no valid key");
    }
    if browser_secret(auth).is_none() {
        return invalid("has no valid secret");
    }
    Ok(())
}

fn browser_key(p256dh: &str) -> Option<p256::PublicKey> {
    let bytes = Base64UrlUnpadded::decode_vec(p256dh.trim_end_matches('=')).ok()?;
    p256::PublicKey::from_sec1_bytes(&bytes).ok()
}

fn browser_secret(auth: &str) -> Option<Auth> {
    let bytes = Base64UrlUnpadded::decode_vec(auth.trim_end_matches('=')).ok()?;
    (bytes.len() == 16).then(|| Auth::clone_from_slice(&bytes))
}

/// The HTTP client for push services: no redirects followed (an endpoint
/// must not lead elsewhere), a timeout per request.
pub(super) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(PUSH_TIMEOUT)
        .build()
        .unwrap_or_else(|e| {
            rocket::warn!("push client settings refused ({e}); using the defaults");
            reqwest::Client::new()
        })
}

/// What a push service said.
enum Answer {
    Delivered,
    /// The subscription is no more (404, 410).
    Gone,
    /// Worth trying again (no answer, 429, 5xx).
    Later(String),
    /// Refused for good (another 4xx).
    Refused(String),
}

/// Pushes `payload` to one subscription, retrying with backoff while the
/// service asks for it; deletes the subscription if the service says it is
/// gone. Holds one of the `sending` permits only while a request is out.
pub(super) async fn send(
    client: reqwest::Client,
    pool: Pool,
    keys: Arc<VapidKeys>,
    contact: String,
    subscription: Subscription,
    payload: Vec<u8>,
    sending: Arc<Semaphore>,
) {
    let mut waits = PUSH_RETRIES.iter();
    loop {
        let answer = {
            let Ok(_permit) = sending.acquire().await else {
                return;
            };
            attempt(&client, &keys, &contact, &subscription, &payload).await
        };
        match answer {
            Answer::Delivered => return,
            Answer::Gone => {
                if let Err(e) = push::forget(&pool, subscription.id).await {
                    rocket::warn!("could not delete an expired push subscription: {e}");
                }
                return;
            }
            Answer::Refused(why) => {
                rocket::warn!("a push service refused a notification: {why}");
                return;
            }
            Answer::Later(why) => match waits.next() {
                Some(wait) => tokio::time::sleep(*wait).await,
                None => {
                    rocket::warn!("gave up pushing a notification: {why}");
                    return;
                }
            },
        }
    }
}

async fn attempt(
    client: &reqwest::Client,
    keys: &VapidKeys,
    contact: &str,
    subscription: &Subscription,
    payload: &[u8],
) -> Answer {
    let (Ok(endpoint), Some(key), Some(secret)) = (
        subscription.endpoint.parse::<http::Uri>(),
        browser_key(&subscription.p256dh),
        browser_secret(&subscription.auth),
    ) else {
        return Answer::Gone;
    };
    let built = WebPushBuilder::new(endpoint, key, secret)
        .with_valid_duration(PUSH_TTL)
        .with_vapid(&keys.pair, contact)
        .build(payload.to_vec());
    let mut request = match built {
        Ok(request) => request,
        Err(e) => return Answer::Refused(format!("could not encrypt it: {e}")),
    };
    // A chat message is worth waking a phone for.
    request
        .headers_mut()
        .insert("urgency", http::HeaderValue::from_static("high"));
    let request = match reqwest::Request::try_from(request) {
        Ok(request) => request,
        Err(e) => return Answer::Refused(format!("could not build the request: {e}")),
    };
    match client.execute(request).await {
        Ok(response) => {
            let status = response.status();
            match status.as_u16() {
                200..=299 => Answer::Delivered,
                404 | 410 => Answer::Gone,
                429 | 500..=599 => Answer::Later(format!("the service answered {status}")),
                _ => Answer::Refused(format!("the service answered {status}")),
            }
        }
        Err(e) => Answer::Later(format!("no answer: {e}")),
    }
}
