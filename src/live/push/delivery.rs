//! Sending one push: the server's VAPID key pair (made on first start and
//! kept in the database), the encrypted request (RFC 8291 `aes128gcm`,
//! RFC 8292 VAPID, both by `web-push-native`), and what the push service's
//! answer means: gone (the subscription is deleted), try again later (with
//! backoff), or failed.

use std::net::IpAddr;
use std::sync::Arc;

use base64ct::{Base64UrlUnpadded, Encoding};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
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
    // Parsed as the HTTP client will (`127.1` is 127.0.0.1), so what is
    // checked is what would be reached.
    let Ok(url) = reqwest::Url::parse(endpoint) else {
        return invalid("has no valid address");
    };
    if url.host().is_none() || endpoint.parse::<http::Uri>().is_err() {
        return invalid("has no valid address");
    }
    if !local {
        if url.scheme() != "https" {
            return invalid("is not on https");
        }
        if !public_host(&url) {
            return invalid("is not on a public host");
        }
    } else if !matches!(url.scheme(), "https" | "http") {
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

/// Whether a URL's host can be a push service on the internet: a dotted
/// name other than `localhost`, or a public address. (What a name resolves
/// to is checked when connecting, by `PublicOnly`.)
fn public_host(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.');
            name.contains('.') && !name.eq_ignore_ascii_case("localhost")
        }
        Some(url::Host::Ipv4(ip)) => public_ip(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => public_ip(IpAddr::V6(ip)),
        None => false,
    }
}

/// Whether an address is on the public internet: not loopback, private,
/// shared (carrier NAT), link-local, reserved, multicast or documentation.
fn public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            let [a, b, ..] = ip.octets();
            !(ip.is_private()
                || ip.is_loopback()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                || ip.is_multicast()
                || ip.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => public_ip(IpAddr::V4(v4)),
            None => {
                !(ip.is_loopback()
                    || ip.is_unspecified()
                    || ip.is_unique_local()
                    || ip.is_unicast_link_local()
                    || ip.is_multicast())
            }
        },
    }
}

/// Resolves push services' names to public addresses only, so that a name
/// pointing inside the network cannot make the server post there.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|address| public_ip(address.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            let addresses: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addresses)
        })
    }
}

fn browser_key(p256dh: &str) -> Option<p256::PublicKey> {
    let bytes = Base64UrlUnpadded::decode_vec(p256dh.trim_end_matches('=')).ok()?;
    p256::PublicKey::from_sec1_bytes(&bytes).ok()
}

fn browser_secret(auth: &str) -> Option<Auth> {
    let bytes = Base64UrlUnpadded::decode_vec(auth.trim_end_matches('=')).ok()?;
    (bytes.len() == 16).then(|| Auth::clone_from_slice(&bytes))
}

/// The HTTP client for push services: public addresses only (unless
/// `local`, for a test's push service), no redirects followed (an endpoint
/// must not lead elsewhere), a timeout per request.
pub(super) fn client(local: bool) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(PUSH_TIMEOUT);
    let builder = if local {
        builder
    } else {
        builder.dns_resolver(Arc::new(PublicOnly))
    };
    builder.build().unwrap_or_else(|e| {
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

/// What sending pushes needs, shared by every push task.
pub(super) struct Courier {
    pub client: reqwest::Client,
    pub pool: Pool,
    pub keys: VapidKeys,
    /// The VAPID `sub`.
    pub contact: String,
    /// Whether local endpoints are allowed (a test's push service).
    pub local: bool,
    /// Pushes in flight to push services.
    pub sending: Semaphore,
}

/// Pushes `payload` to one subscription, retrying with backoff while the
/// service asks for it; deletes the subscription if the service says it is
/// gone. Holds one of the `sending` permits only while a request is out;
/// `_pending` is the task's place among those the worker lets wait.
pub(super) async fn send(
    courier: Arc<Courier>,
    subscription: Subscription,
    payload: Vec<u8>,
    _pending: OwnedSemaphorePermit,
) {
    let mut waits = PUSH_RETRIES.iter();
    loop {
        let answer = {
            let Ok(_permit) = courier.sending.acquire().await else {
                return;
            };
            attempt(&courier, &subscription, &payload).await
        };
        match answer {
            Answer::Delivered => return,
            Answer::Gone => {
                if let Err(e) = push::forget(&courier.pool, subscription.id).await {
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

async fn attempt(courier: &Courier, subscription: &Subscription, payload: &[u8]) -> Answer {
    // Checked again: one stored while local endpoints were allowed is
    // not posted to once they are not.
    if check_endpoint(
        &subscription.endpoint,
        &subscription.p256dh,
        &subscription.auth,
        courier.local,
    )
    .is_err()
    {
        return Answer::Gone;
    }
    let (Ok(endpoint), Some(key), Some(secret)) = (
        subscription.endpoint.parse::<http::Uri>(),
        browser_key(&subscription.p256dh),
        browser_secret(&subscription.auth),
    ) else {
        return Answer::Gone;
    };
    let built = WebPushBuilder::new(endpoint, key, secret)
        .with_valid_duration(PUSH_TTL)
        .with_vapid(&courier.keys.pair, &courier.contact)
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
    match courier.client.execute(request).await {
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

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::dns::Resolve;

    #[tokio::test]
    async fn a_name_for_a_local_address_is_not_resolved_for_a_push() {
        let name: reqwest::dns::Name = "localhost".parse().expect("a name");
        let resolved = PublicOnly.resolve(name).await;
        assert!(resolved.is_err(), "localhost resolved to a public address");
    }

    #[test]
    fn only_public_addresses_count_as_public() {
        for private in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!public_ip(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "142.250.74.78", "2a00:1450:4001:82b::200a"] {
            assert!(public_ip(public.parse().unwrap()), "{public}");
        }
    }
}
