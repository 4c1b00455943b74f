//! A push service of the test's own, standing in for the browsers' (FCM,
//! Mozilla's, Apple's): it takes RFC 8030 pushes over HTTP, keeps them, and
//! answers as the test says (201, 410, or holding the request open). A
//! `Device` is one browser's subscription to it: a P-256 key pair and an
//! auth secret, made here, so that each push can be decrypted (RFC 8291)
//! and its VAPID signature (RFC 8292) checked against the server's key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use web_push_native::jwt_simple::algorithms::{ECDSAP256PublicKeyLike, ES256PublicKey};
use web_push_native::jwt_simple::claims::NoCustomClaims;
use web_push_native::{p256, Auth};

/// One push as the service received it.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// Lower-case header names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// How the service answers pushes to one device.
#[derive(Clone)]
pub enum Answer {
    /// This status at once.
    Status(u16),
    /// Nothing until the test releases it, then 201.
    Hold(Arc<Notify>),
}

#[derive(Default)]
struct State {
    /// Pushes received, per device name, in order of arrival.
    pushed: HashMap<String, Vec<Pushed>>,
    answers: HashMap<String, Answer>,
}

pub struct PushService {
    pub base: String,
    state: Arc<Mutex<State>>,
    arrived: Arc<Notify>,
}

/// A browser's subscription to the test's push service.
pub struct Device {
    pub name: String,
    pub endpoint: String,
    /// The public key, base64url, as `PushSubscription.toJSON()` gives it.
    pub p256dh: String,
    /// The auth secret, base64url.
    pub auth: String,
    secret: p256::SecretKey,
    auth_bytes: Auth,
}

impl PushService {
    pub async fn start() -> PushService {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let state = Arc::new(Mutex::new(State::default()));
        let arrived = Arc::new(Notify::new());
        let (accepting, arrivals) = (Arc::clone(&state), Arc::clone(&arrived));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&accepting), Arc::clone(&arrivals)));
            }
        });
        PushService {
            base,
            state,
            arrived,
        }
    }

    /// A new subscription, with keys of its own.
    pub fn device(&self, name: &str) -> Device {
        let secret = loop {
            if let Ok(key) = p256::SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
                break key;
            }
        };
        let auth: [u8; 16] = rand::random();
        let public = secret.public_key();
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        Device {
            name: name.to_owned(),
            endpoint: format!("{}/push/{name}", self.base),
            p256dh: Base64UrlUnpadded::encode_string(public.to_encoded_point(false).as_bytes()),
            auth: Base64UrlUnpadded::encode_string(&auth),
            secret,
            auth_bytes: Auth::clone_from_slice(&auth),
        }
    }

    /// Answers pushes to `device` so from now on.
    pub fn answer(&self, device: &Device, answer: Answer) {
        let mut state = self.state.lock().unwrap();
        state.answers.insert(device.name.clone(), answer);
    }

    /// The pushes `device` has received so far.
    pub fn pushed(&self, device: &Device) -> Vec<Pushed> {
        let state = self.state.lock().unwrap();
        state.pushed.get(&device.name).cloned().unwrap_or_default()
    }

    /// The bodies of the notifications `device` was pushed, decrypted, in
    /// order of arrival.
    pub fn bodies(&self, device: &Device) -> Vec<String> {
        self.pushed(device)
            .iter()
            .map(|p| {
                device.open(p)["body"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    /// Waits (ten seconds at most) until `device` has received `count`
    /// pushes, and returns them.
    pub async fn wait_for(&self, device: &Device, count: usize) -> Vec<Pushed> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let pushed = self.pushed(device);
            if pushed.len() >= count {
                return pushed;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!(
                    "{} got {} pushes, not {count}, within ten seconds",
                    device.name,
                    pushed.len()
                );
            }
        }
    }
}

impl Device {
    /// The push's payload, decrypted with this device's keys, as JSON.
    pub fn open(&self, pushed: &Pushed) -> serde_json::Value {
        let clear = web_push_native::decrypt(pushed.body.clone(), &self.secret, &self.auth_bytes)
            .expect("the push decrypts with the subscription's keys");
        serde_json::from_slice(&clear).expect("the payload is JSON")
    }
}

/// Checks a push's VAPID header (`vapid t=<JWT>, k=<key>`): signed by
/// `server_key` (base64url, from `/push/key`), for this push service's
/// origin, and not expired.
pub fn assert_signed_by(pushed: &Pushed, server_key: &str, service: &PushService) {
    let header = pushed
        .headers
        .get("authorization")
        .expect("an Authorization header");
    let rest = header
        .strip_prefix("vapid ")
        .expect("a vapid authorization");
    let mut token = None;
    let mut key = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(t) = part.strip_prefix("t=") {
            token = Some(t);
        } else if let Some(k) = part.strip_prefix("k=") {
            key = Some(k);
        }
    }
    let (token, key) = (token.expect("t="), key.expect("k="));
    assert_eq!(key, server_key.trim(), "the server's VAPID key");
    let public =
        ES256PublicKey::from_bytes(&Base64UrlUnpadded::decode_vec(key).expect("base64url"))
            .expect("a P-256 public key");
    let claims = public
        .verify_token::<NoCustomClaims>(token, None)
        .expect("the JWT is signed by the server's key and not expired");
    // The audience is the push service's origin (`web-push-native` leaves
    // the port out, which push services on their default port never have).
    let origin = service
        .base
        .rsplit_once(':')
        .map_or(service.base.as_str(), |(o, _)| o);
    let audiences = claims.audiences.expect("an audience").into_set();
    assert!(audiences.contains(origin), "{audiences:?} names {origin}");
    assert!(claims.subject.is_some_and(|s| !s.is_empty()), "a contact");
}

/// Reads one HTTP/1.1 request, records it, and answers as the test said.
async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>, arrived: Arc<Notify>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.lines();
    let path = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or_default()
        .to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    let body = buffer[head_end..head_end + length].to_vec();
    let name = path.trim_start_matches("/push/").to_owned();
    let answer = {
        let mut state = state.lock().unwrap();
        state
            .pushed
            .entry(name.clone())
            .or_default()
            .push(Pushed { headers, body });
        state
            .answers
            .get(&name)
            .cloned()
            .unwrap_or(Answer::Status(201))
    };
    arrived.notify_waiters();
    let status = match answer {
        Answer::Status(status) => status,
        Answer::Hold(release) => {
            release.notified().await;
            201
        }
    };
    let response =
        format!("HTTP/1.1 {status} Answer\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Subscribes `device` for the browser `browser` is logged in as, as the
/// page script does.
pub async fn subscribe(browser: &super::Browser, device: &Device) -> reqwest::Response {
    let csrf = super::hidden_field(&browser.get_text("/").await, "csrf").expect("csrf");
    browser
        .post(
            "/push/subscriptions",
            &[
                ("csrf", &csrf),
                ("endpoint", &device.endpoint),
                ("p256dh", &device.p256dh),
                ("auth", &device.auth),
            ],
        )
        .await
}
