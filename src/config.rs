//! Typed settings, read from `Rocket.toml` and overridable by `ROCKET_*` / `NATTER_*` variables.

use rocket::figment::providers::{Env, Format, Serialized, Toml};
use rocket::figment::{Figment, Profile};
use serde::{Deserialize, Serialize};

/// Natter's own settings (Rocket's own, such as `port`, live beside them).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Settings {
    /// Public origin of the site (`https://chat.example.org`). When unset, the
    /// request's `Host` header defines the expected origin.
    #[serde(default)]
    pub site: Option<String>,
    /// Mark cookies `Secure` with the `__Host-` prefix; set when served over HTTPS,
    /// including behind a TLS-terminating proxy.
    #[serde(default)]
    pub secure_cookies: bool,
    /// How long a session lives at most, in hours (absolute expiry).
    #[serde(default = "default_session_hours")]
    pub session_hours: i64,
    /// How long an unused session lives, in hours (idle expiry).
    #[serde(default = "default_session_idle_hours")]
    pub session_idle_hours: i64,
    /// How long a user with no open socket still shows as online, in
    /// milliseconds, so moving between pages does not flicker.
    #[serde(default = "default_presence_grace_ms")]
    pub presence_grace_ms: u64,
    /// How long a silent socket (no frame, not even a pong) stays open, in
    /// milliseconds.
    #[serde(default = "default_socket_idle_ms")]
    pub socket_idle_ms: u64,
    /// Where uploaded files are stored (created if missing).
    #[serde(default = "default_media_dir")]
    pub media_dir: std::path::PathBuf,
    /// Whether a Web Push notification carries the start of the message
    /// ("alice: see you at 5") or only who wrote ("New message from alice").
    #[serde(default = "default_push_previews")]
    pub push_previews: bool,
    /// Whom push services may contact about this server (`mailto:` or
    /// `https:`); defaults to `site`.
    #[serde(default)]
    pub push_contact: Option<String>,
    /// Accept push endpoints on plain `http` and on local or private
    /// addresses. Only for a push-service emulator in tests: a browser's
    /// endpoint is always `https` on a public host, and accepting others
    /// would let an account make the server post to internal addresses.
    #[serde(default)]
    pub push_local_endpoints: bool,
    /// Who may sign up: `open` (anyone), `invite` (through an invitation
    /// link) or `closed`; an administrator can change it at run time. The
    /// server's first account may always be made (it administers it).
    #[serde(default)]
    pub registration: crate::domain::Registration,
    /// Addresses of the reverse proxies in front of Natter. A request from
    /// one of them is counted against the client it names in
    /// `proxy_header` for per-address limits; from anyone else, that
    /// header is ignored.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The header those proxies write the client's address in: `X-Real-IP`
    /// (nginx's `proxy_set_header X-Real-IP $remote_addr`) or
    /// `X-Forwarded-For` (Caddy, Traefik). Only that one is read.
    #[serde(default = "default_proxy_header")]
    pub proxy_header: String,
    /// The bearer token Prometheus presents at `/metrics`; unset, there
    /// are no metrics to fetch (404).
    #[serde(default)]
    pub metrics_token: Option<String>,
    /// `text` (one line per event) or `json` (one object per line).
    #[serde(default)]
    pub log_format: LogFormat,
    /// Which logs are written, as `RUST_LOG` says it (`info`,
    /// `natter=debug,info`, …); `RUST_LOG` itself wins when set.
    #[serde(default = "default_log_filter")]
    pub log_filter: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Natter's own logs and Rocket's start-up, warnings and errors. Rocket's
/// lines about each request are left out, since they hold the query string
/// (where invitation tokens travel): `http::requests` writes one line per
/// request without it. So are its settings and routes at start-up ("Rocket
/// has launched" stays).
pub(crate) fn default_log_filter() -> String {
    "info,rocket::server=warn,rocket::server::_=off,rocket::launch=warn,rocket::shield=warn"
        .to_owned()
}

fn default_proxy_header() -> String {
    "X-Real-IP".to_owned()
}

fn default_push_previews() -> bool {
    true
}

fn default_media_dir() -> std::path::PathBuf {
    "media".into()
}

fn default_socket_idle_ms() -> u64 {
    crate::limits::SOCKET_IDLE_TIMEOUT.as_millis() as u64
}

fn default_presence_grace_ms() -> u64 {
    3000
}

fn default_session_hours() -> i64 {
    24 * 14
}

fn default_session_idle_hours() -> i64 {
    24 * 7
}

/// Defaults that make `cargo run` work with no setup and keep client addresses honest.
#[derive(Serialize)]
struct Defaults {
    /// Off: `X-Real-IP` can be forged by any client unless a trusted proxy sets it.
    ip_header: bool,
    /// Off: no `Server: Rocket` header telling probes what answers.
    ident: bool,
    databases: DatabasesDefault,
    limits: LimitsDefault,
}

/// Request size limits: small for forms, the upload size for files.
#[derive(Serialize)]
struct LimitsDefault {
    form: u64,
    #[serde(rename = "data-form")]
    data_form: &'static str,
    file: &'static str,
}

#[derive(Serialize)]
struct DatabasesDefault {
    natter: DatabaseDefault,
}

#[derive(Serialize)]
struct DatabaseDefault {
    url: &'static str,
    max_connections: usize,
}

/// The full configuration: code defaults, then `Rocket.toml`, then `ROCKET_*`,
/// then `NATTER_*` variables (`NATTER_DATABASE_URL` sets the database URL).
pub fn figment() -> Figment {
    let defaults = Defaults {
        ip_header: false,
        ident: false,
        databases: DatabasesDefault {
            natter: DatabaseDefault {
                url: "sqlite://natter.db",
                max_connections: 8,
            },
        },
        limits: LimitsDefault {
            form: crate::limits::FORM_MAX_BYTES,
            data_form: "10 MiB",
            file: "10 MiB",
        },
    };
    let mut figment = Figment::from(rocket::Config::default())
        .merge(Serialized::defaults(defaults))
        .merge(Toml::file(Env::var_or("ROCKET_CONFIG", "Rocket.toml")).nested())
        .merge(Env::prefixed("ROCKET_").ignore(&["PROFILE"]).global())
        .merge(Env::prefixed("NATTER_").ignore(&["DATABASE_URL"]).global());
    if let Some(url) = Env::var("NATTER_DATABASE_URL") {
        figment = figment.merge(Serialized::global("databases.natter.url", url));
    }
    figment.select(Profile::from_env_or(
        "ROCKET_PROFILE",
        rocket::Config::DEFAULT_PROFILE,
    ))
}
