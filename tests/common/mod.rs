//! Shared test helpers: an app on a fresh database, HTML scraping, and a real
//! server on an ephemeral port with HTTP and WebSocket clients.
#![allow(dead_code)]

pub mod outages;
pub mod push_service;
pub mod wire;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rocket::figment::Figment;
use rocket::http::{ContentType, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use tempfile::TempDir;
use tokio_tungstenite::tungstenite::Message as WsMessage;
pub use wire::Socket;

pub const PASSWORD: &str = "correct horse battery staple";

/// The PostgreSQL server to run against instead of SQLite, when set
/// (e.g. `postgres://postgres@127.0.0.1:5432`): every test then gets a fresh
/// database of its own, dropped after.
pub const POSTGRES_ENV: &str = "NATTER_TEST_POSTGRES";

fn postgres_base() -> Option<String> {
    std::env::var(POSTGRES_ENV)
        .ok()
        .filter(|url| !url.is_empty())
        .map(|url| url.trim_end_matches('/').to_owned())
}

/// The name of the PostgreSQL database that belongs to `dir`.
fn database_name(dir: &TempDir) -> String {
    let leaf = dir.path().file_name().unwrap_or_default().to_string_lossy();
    let clean: String = leaf
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_lowercase();
    format!("natter_test_{}_{clean}", std::process::id())
}

/// Runs one statement on the PostgreSQL server's maintenance database, from a
/// thread of its own (callers may be inside or outside a runtime).
fn postgres_admin(base: &str, sql: String) -> Result<(), String> {
    let url = format!("{base}/postgres");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .map_err(|e| e.to_string())?;
            let result = sqlx::query(&sql).execute(&mut conn).await;
            let _ = conn.close().await;
            match result {
                // 42P04: the database exists already (another app on the same dir).
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => Ok(()),
                Err(e) => Err(e.to_string()),
                Ok(_) => Ok(()),
            }
        })
    })
    .join()
    .map_err(|_| "admin thread panicked".to_owned())?
}

/// The database URL for an app whose files live in `dir`: SQLite in `dir`,
/// or a PostgreSQL database made for it.
pub fn database_url(dir: &TempDir) -> String {
    match postgres_base() {
        Some(base) => {
            let name = database_name(dir);
            postgres_admin(&base, format!("CREATE DATABASE \"{name}\""))
                .expect("create the test database");
            format!("{base}/{name}")
        }
        None => format!("sqlite://{}", dir.path().join("natter.db").display()),
    }
}

/// Drops the PostgreSQL database of a test when the test is done with it.
pub struct TestDatabase(Option<(String, String)>);

impl TestDatabase {
    pub fn for_dir(dir: &TempDir) -> TestDatabase {
        TestDatabase(postgres_base().map(|base| (base, database_name(dir))))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((base, name)) = self.0.take() {
            let dropped = postgres_admin(
                &base,
                format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
            );
            if let Err(e) = dropped {
                eprintln!("could not drop test database {name}: {e}");
            }
        }
    }
}

/// Opens the database of an app whose files live in `dir`.
/// Fails if any of `texts` is stored in the clear: in the database files
/// (SQLite and its WAL) or in any row of the tables that hold messages
/// (PostgreSQL). For secret conversations, whose texts only the members'
/// browsers may have.
pub async fn assert_no_plaintext_stored(dir: &TempDir, texts: &[&str]) {
    let pool = open_database(dir).await;
    let stored: Vec<Vec<u8>> = match &pool {
        natter::store::Pool::Sqlite(_) => ["natter.db", "natter.db-wal"]
            .iter()
            .filter_map(|f| std::fs::read(dir.path().join(f)).ok())
            .collect(),
        natter::store::Pool::Postgres(pg) => {
            let mut rows: Vec<Vec<u8>> = Vec::new();
            for sql in [
                "SELECT body FROM mls_messages",
                "SELECT welcome FROM mls_welcomes",
                "SELECT key_package FROM mls_key_packages",
                "SELECT convert_to(body, 'UTF8') FROM messages",
            ] {
                rows.extend(
                    sqlx::query_scalar::<_, Vec<u8>>(sql)
                        .fetch_all(pg)
                        .await
                        .expect("rows"),
                );
            }
            rows
        }
    };
    assert!(!stored.is_empty(), "nothing stored to search");
    for text in texts {
        for bytes in &stored {
            assert!(
                !bytes.windows(text.len()).any(|w| w == text.as_bytes()),
                "{text:?} is stored in plaintext"
            );
        }
    }
    pool.close().await;
}

pub async fn open_database(dir: &TempDir) -> natter::store::Pool {
    natter::store::Pool::connect(&database_url(dir), 2)
        .await
        .expect("open the database")
}

/// Configuration for a test app whose database lives in `dir`.
pub fn figment(dir: &TempDir) -> Figment {
    let url = database_url(dir);
    natter::config::figment()
        .merge(("databases.natter.url", url))
        .merge(("media_dir", dir.path().join("media")))
        .merge(("port", 0))
        .merge(("log_level", "critical"))
}

/// A Rocket local client on a fresh database.
pub struct TestApp {
    pub client: Client,
    pub dir: TempDir,
    pub database: TestDatabase,
}

impl TestApp {
    pub async fn new() -> TestApp {
        Self::with(|f| f).await
    }

    pub async fn with(configure: impl FnOnce(Figment) -> Figment) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let rocket = natter::rocket_with(configure(figment(&dir)));
        let client = Client::tracked(rocket).await.expect("valid rocket");
        let database = TestDatabase::for_dir(&dir);
        TestApp {
            client,
            dir,
            database,
        }
    }

    /// A second client (another browser) on the same app state and database.
    pub async fn another_browser(&self) -> Client {
        let rocket = natter::rocket_with(figment(&self.dir));
        Client::tracked(rocket).await.expect("valid rocket")
    }

    pub fn pool(&self) -> &natter::store::Pool {
        use rocket_db_pools::Database;
        natter::store::Db::fetch(self.client.rocket())
            .expect("database attached")
            .pool()
    }
}

/// URL-encodes form fields.
pub fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                rocket::http::RawStr::new(k).percent_encode(),
                rocket::http::RawStr::new(v).percent_encode()
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of the first hidden `name` input in a page.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// The CSRF token of the form on the page at `path`.
pub async fn csrf_of(client: &Client, path: &str) -> String {
    let html = client
        .get(path)
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap_or_default();
    hidden_field(&html, "csrf").unwrap_or_else(|| panic!("no csrf field on {path}: {html}"))
}

/// Posts a form to `path`.
pub async fn post_form<'c>(
    client: &'c Client,
    path: &str,
    fields: &[(&str, &str)],
) -> LocalResponse<'c> {
    client
        .post(path.to_owned())
        .header(ContentType::Form)
        .body(form(fields))
        .dispatch()
        .await
}

/// Posts the sign-up form with a valid CSRF token and these fields.
pub async fn signup_with<'c>(
    client: &'c Client,
    username: &str,
    password: &str,
    confirmation: &str,
) -> LocalResponse<'c> {
    let csrf = csrf_of(client, "/signup").await;
    post_form(
        client,
        "/signup",
        &[
            ("csrf", &csrf),
            ("username", username),
            ("password", password),
            ("confirmation", confirmation),
        ],
    )
    .await
}

/// Signs up through the form; the client is then logged in.
pub async fn signup(client: &Client, username: &str) {
    let response = signup_with(client, username, PASSWORD, PASSWORD).await;
    assert_eq!(response.status(), Status::SeeOther, "signup of {username}");
}

/// Logs out through the form.
pub async fn logout(client: &Client) {
    let csrf = csrf_of(client, "/").await;
    let response = post_form(client, "/logout", &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::SeeOther);
}

/// Logs in through the form.
pub async fn login(client: &Client, username: &str) -> Status {
    let csrf = csrf_of(client, "/login").await;
    post_form(
        client,
        "/login",
        &[
            ("csrf", &csrf),
            ("username", username),
            ("password", PASSWORD),
        ],
    )
    .await
    .status()
}

/// Deletes the signed-in account, confirming with `password`, as the
/// account page's form does; returns the answer's status.
pub async fn delete_account(client: &Client, password: &str) -> Status {
    let csrf = csrf_of(client, "/account").await;
    post_form(
        client,
        "/account/delete",
        &[("csrf", &csrf), ("password", password)],
    )
    .await
    .status()
}

/// Opens the conversation with `username` (starting it when there is none
/// yet, as the page's button does); returns its path.
/// Alice (the app's own client), bob and carol signed up, and alice and
/// bob's conversation opened; returns the app, bob's and carol's clients and
/// the conversation's path.
pub async fn alice_bob_and_carol() -> (TestApp, Client, Client, String) {
    let app = TestApp::new().await;
    signup(&app.client, "alice").await;
    let bob = app.another_browser().await;
    signup(&bob, "bob").await;
    let carol = app.another_browser().await;
    signup(&carol, "carol").await;
    let path = open_conversation(&app.client, "bob").await;
    (app, bob, carol, path)
}

/// Creates a group through the dashboard form; returns its path.
pub async fn create_group(client: &Client, title: &str, members: &[i64]) -> String {
    let csrf = csrf_of(client, "/").await;
    let ids: Vec<String> = members.iter().map(i64::to_string).collect();
    let mut fields = vec![("csrf", csrf.as_str()), ("title", title)];
    fields.extend(ids.iter().map(|id| ("members", id.as_str())));
    let response = post_form(client, "/groups", &fields).await;
    assert_eq!(response.status(), Status::SeeOther);
    response.headers().get_one("Location").unwrap().to_owned()
}

/// The change a conversation page resumes its socket after (its
/// `/socket?seq=`).
pub fn resume_seq(page: &str) -> i64 {
    let start = page.find("/socket?seq=").expect("the page's socket") + "/socket?seq=".len();
    page[start..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number")
}

/// The user id of `username`, as the directory shows it to `client`.
pub async fn user_id_in_directory(client: &Client, username: &str) -> i64 {
    let people = page_text(client, "/people").await;
    let link = people
        .find(&format!(r#"href="/c/{username}""#))
        .unwrap_or_else(|| panic!("{username} in the directory"));
    let start = people[..link]
        .rfind(r#"id="contact-"#)
        .expect("a contact row")
        + r#"id="contact-"#.len();
    people[start..start + people[start..].find('"').expect("end of the id")]
        .parse()
        .expect("a numeric id")
}

pub async fn open_conversation(client: &Client, username: &str) -> String {
    let csrf = csrf_of(client, "/").await;
    let response = post_form(client, &format!("/c/{username}"), &[("csrf", &csrf)]).await;
    assert_eq!(response.status(), Status::SeeOther);
    response
        .headers()
        .get_one("Location")
        .expect("redirect to the conversation")
        .to_owned()
}

// ------------------------------------------------------------ real server

/// A real Natter listening on an ephemeral port.
pub struct Server {
    pub port: u16,
    pub dir: TempDir,
    pub shutdown: rocket::Shutdown,
    pub database: TestDatabase,
}

impl Server {
    pub async fn start() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir).await
    }

    pub async fn start_in(dir: TempDir) -> Server {
        Self::start_with(dir, |f| f).await
    }

    pub async fn start_with(dir: TempDir, configure: impl FnOnce(Figment) -> Figment) -> Server {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tx = std::sync::Mutex::new(Some(tx));
        let rocket = natter::rocket_with(configure(figment(&dir))).attach(
            rocket::fairing::AdHoc::on_liftoff("report port", move |rocket| {
                Box::pin(async move {
                    if let Some(tx) = tx.lock().ok().and_then(|mut t| t.take()) {
                        let _ = tx.send(rocket.config().port);
                    }
                })
            }),
        );
        let ignited = rocket.ignite().await.expect("ignite");
        let shutdown = ignited.shutdown();
        tokio::spawn(ignited.launch());
        let port = tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .expect("server started in time")
            .expect("port reported");
        let database = TestDatabase::for_dir(&dir);
        Server {
            port,
            dir,
            shutdown,
            database,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A new browser: an HTTP client with its own cookie jar.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.url(""))
    }

    /// Alice and Bob signed up here, with their conversation's id.
    pub async fn alice_and_bob(self) -> (Server, Browser, Browser, i64) {
        let alice = self.browser();
        alice.signup("alice").await;
        let bob = self.browser();
        bob.signup("bob").await;
        let id = alice.open_conversation("bob").await;
        assert_eq!(
            bob.open_conversation("alice").await,
            id,
            "one conversation per pair"
        );
        (self, alice, bob, id)
    }
}

/// An HTTP client with cookies, standing in for one browser (a clone is the
/// same browser: it shares the cookie jar).
#[derive(Clone)]
pub struct Browser {
    pub http: reqwest::Client,
    pub jar: std::sync::Arc<reqwest::cookie::Jar>,
    pub base: String,
}

impl Browser {
    /// A browser for the site at `base` (`http://127.0.0.1:port`).
    pub fn new(base: &str) -> Browser {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .build()
            .expect("http client");
        Browser {
            http,
            jar,
            base: base.to_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET")
    }

    pub async fn get_text(&self, path: &str) -> String {
        self.get(path).await.text().await.expect("body")
    }

    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(fields))
            .send()
            .await
            .expect("POST")
    }

    pub async fn signup(&self, username: &str) {
        let page = self.get_text("/signup").await;
        let status = self.signup_from(&page, username, "").await;
        assert!((200..300).contains(&status), "signup of {username}");
    }

    /// Signs up as `username` from the sign-up page `page` (its token),
    /// with the invitation token `invite` (empty: none); returns the status.
    pub async fn signup_from(&self, page: &str, username: &str, invite: &str) -> u16 {
        let csrf = hidden_field(page, "csrf").expect("csrf");
        self.post(
            "/signup",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", PASSWORD),
                ("confirmation", PASSWORD),
                ("invite", invite),
            ],
        )
        .await
        .status()
        .as_u16()
    }

    pub async fn login(&self, username: &str) {
        let csrf = hidden_field(&self.get_text("/login").await, "csrf").expect("csrf");
        let response = self
            .post(
                "/login",
                &[
                    ("csrf", &csrf),
                    ("username", username),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert!(response.status().is_success(), "login of {username}");
    }

    pub async fn logout(&self) {
        let csrf = hidden_field(&self.get_text("/").await, "csrf").expect("csrf");
        self.post("/logout", &[("csrf", &csrf)]).await;
    }

    /// Opens the conversation with `username` (starting it when there is
    /// none yet, as the page's button does); returns its id.
    pub async fn open_conversation(&self, username: &str) -> i64 {
        let csrf = hidden_field(&self.get_text("/").await, "csrf").expect("csrf");
        let response = self
            .post(&format!("/c/{username}"), &[("csrf", &csrf)])
            .await;
        let path = response.url().path().to_owned();
        path.trim_start_matches("/conversations/")
            .parse()
            .unwrap_or_else(|_| panic!("not a conversation URL: {path}"))
    }

    /// Starts a group with the people named; returns its id.
    pub async fn create_group(&self, title: &str, members: &[&str]) -> i64 {
        let mut ids = Vec::new();
        for member in members {
            ids.push(self.user_id_of(member).await);
        }
        let csrf = hidden_field(&self.get_text("/").await, "csrf").expect("csrf");
        let mut fields = vec![("csrf", csrf.as_str()), ("title", title)];
        fields.extend(ids.iter().map(|id| ("members", id.as_str())));
        let created = self.post("/groups", &fields).await;
        let path = created.url().path().to_owned();
        path.trim_start_matches("/conversations/")
            .parse()
            .unwrap_or_else(|_| panic!("not a group's page: {path}"))
    }

    /// The user id of `username`, as the people page links them.
    pub async fn user_id_of(&self, username: &str) -> String {
        let page = self.get_text("/people").await;
        let link = page
            .find(&format!(r#"href="/c/{username}""#))
            .unwrap_or_else(|| panic!("{username} on the people page"));
        let start = page[..link]
            .rfind(r#"id="contact-"#)
            .expect("a contact row")
            + r#"id="contact-"#.len();
        page[start..start + page[start..].find('"').expect("id end")].to_owned()
    }

    pub fn cookie_header(&self) -> String {
        use reqwest::cookie::CookieStore;
        let url = self.base.parse().expect("url");
        self.jar
            .cookies(&url)
            .and_then(|v| v.to_str().ok().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Opens a conversation socket as the page does, with this browser's
    /// cookies and the given `Origin`.
    pub async fn try_connect(
        &self,
        conversation_id: i64,
        after: i64,
        origin: &str,
    ) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
        self.try_connect_path(
            &format!("/conversations/{conversation_id}/socket?seq={after}"),
            origin,
        )
        .await
    }

    /// Opens the inbox's socket and reads its first frame.
    pub async fn connect_dashboard(&self) -> (Socket, String) {
        self.connect_list("/socket").await
    }

    /// Opens the directory's socket (presence, newcomers) and reads its
    /// first frame.
    pub async fn connect_people(&self) -> (Socket, String) {
        self.connect_list("/people/socket").await
    }

    async fn connect_list(&self, path: &str) -> (Socket, String) {
        let mut socket = self
            .try_connect_path(path, &self.base)
            .await
            .unwrap_or_else(|e| panic!("{path} connects: {e}"));
        let first = next_text(&mut socket).await.expect("first frame");
        (socket, first)
    }

    pub async fn try_connect_path(
        &self,
        path: &str,
        origin: &str,
    ) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
        let url = format!("{}{path}", self.base.replace("http://", "ws://"));
        let request = wire::socket_request(&url, &self.cookie_header(), origin)?;
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(socket)
    }

    /// Opens a conversation socket and reads the resync fragment it starts with.
    pub async fn connect(&self, conversation_id: i64, after: i64) -> (Socket, String) {
        let mut socket = self
            .try_connect(conversation_id, after, &self.base)
            .await
            .expect("socket connects");
        let first = next_text(&mut socket).await.expect("resync fragment");
        (socket, first)
    }
}

/// The page's frame for sending a message, as the htmx ws extension builds it.
pub fn send_frame(body: &str, client_id: &str) -> WsMessage {
    wire::message_frame("ignored", client_id, body, None)
}

pub async fn send(socket: &mut Socket, body: &str, client_id: &str) {
    socket
        .send(send_frame(body, client_id))
        .await
        .expect("frame sent");
}

/// The next text frame within five seconds; `None` on close, error or timeout.
pub async fn next_text(socket: &mut Socket) -> Option<String> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
            Ok(Some(Ok(WsMessage::Text(text)))) => return Some(text),
            Ok(Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_)))) => continue,
            _ => return None,
        }
    }
}

/// Now, in milliseconds since the epoch (the clock pages are stamped with).
pub fn unix_millis() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// What a page in view sends: it has read what it shows.
pub fn seen_frame() -> WsMessage {
    WsMessage::Text(r#"{"seen":true}"#.into())
}

/// The typing notice frame of the page.
pub fn typing_frame() -> WsMessage {
    let frame = serde_json::json!({"typing": true, "HEADERS": {"HX-Trigger": "body"}});
    WsMessage::Text(frame.to_string())
}

/// Says the page of `socket` is out of view (or back), as app.js does, and
/// waits until the server has taken that in: it answers a socket's frames
/// in order, so once the message `marker` sent after it comes back, it has.
pub async fn page_in_view(socket: &mut Socket, visible: bool, marker: &str) {
    let frame = serde_json::json!({ "visible": visible }).to_string();
    socket.send(WsMessage::Text(frame)).await.expect("sent");
    send(socket, marker, &format!("marker-{marker}")).await;
    expect_text(socket, marker).await;
}

/// Reads text frames until one contains `needle`; panics after five seconds.
pub async fn expect_text(socket: &mut Socket, needle: &str) -> String {
    let mut seen = Vec::new();
    while let Some(text) = next_text(socket).await {
        if text.contains(needle) {
            return text;
        }
        seen.push(text);
    }
    panic!("no frame containing {needle:?}; got {seen:#?}");
}

/// Asserts that nothing arrives within `millis`.
pub async fn expect_silence(socket: &mut Socket, millis: u64) {
    if let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_millis(millis), socket.next()).await
    {
        panic!("expected silence, got {message:?}");
    }
}

/// The close frame the server sends next (skipping other frames).
pub async fn expect_close(socket: &mut Socket) -> Option<u16> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
            Ok(Some(Ok(WsMessage::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_))) | Ok(None) => return None,
            Err(_) => panic!("socket not closed within five seconds"),
        }
    }
}

/// Count of stored messages with this body.
pub async fn stored_count(dir: &TempDir, body: &str) -> i64 {
    let pool = open_database(dir).await;
    let count = natter::on_pool!(&pool, p => sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE body = $1")
        .bind(body)
        .fetch_one(p)
        .await
        .expect("count"));
    pool.close().await;
    count
}

/// The text of the page at `path`.
pub async fn page_text(client: &Client, path: &str) -> String {
    client
        .get(path.to_owned())
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap_or_default()
}

/// How many rows a table holds.
pub async fn count(pool: &natter::store::Pool, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    natter::on_pool!(pool, p => sqlx::query_scalar(&sql).fetch_one(p).await.expect("count"))
}

/// Sends a message through the conversation page's plain form, as a browser
/// without JavaScript does.
pub async fn post_message(client: &Client, path: &str, body: &str) -> Status {
    let html = page_text(client, path).await;
    let csrf = hidden_field(&html, "csrf").unwrap_or_default();
    let client_id = hidden_field(&html, "client_id").unwrap_or_else(|| "x1".into());
    post_form(
        client,
        &format!("{path}/messages"),
        &[("csrf", &csrf), ("client_id", &client_id), ("body", body)],
    )
    .await
    .status()
}

// ------------------------------------------------------------ real binary

/// The real `natter` executable, running in a folder of its own and killed
/// when dropped.
pub struct Natter {
    pub child: std::process::Child,
    pub port: u16,
}

impl Drop for Natter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Natter {
    /// Starts the binary in `folder` on `port` with extra environment
    /// variables, and waits until it serves.
    pub async fn start_with(folder: &std::path::Path, port: u16, env: &[(&str, &str)]) -> Natter {
        let quiet = [("NATTER_LOG_FILTER", "off")];
        Natter::start_logging(folder, port, &[&quiet[..], env].concat(), None).await
    }

    /// Starts the binary as `start_with` does, writing what it logs (its
    /// standard output and error) to `log` if given.
    pub async fn start_logging(
        folder: &std::path::Path,
        port: u16,
        env: &[(&str, &str)],
        log: Option<&std::path::Path>,
    ) -> Natter {
        // CI points this at the release build; `cargo test` alone uses its own build.
        let binary = std::env::var("NATTER_BINARY")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_natter").to_owned());
        let output = || match log {
            Some(path) => std::process::Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("log file"),
            ),
            None => std::process::Stdio::null(),
        };
        let child = std::process::Command::new(binary)
            .current_dir(folder)
            .env_clear()
            .env("ROCKET_PORT", port.to_string())
            .envs(env.iter().copied())
            .stdout(output())
            .stderr(output())
            .spawn()
            .expect("natter starts");
        let natter = Natter { child, port };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("http://127.0.0.1:{port}/login"))
            .await
            .is_err()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "natter did not come up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        natter
    }

    /// Starts the binary in `folder` on `port` with its defaults.
    pub async fn start(folder: &std::path::Path, port: u16) -> Natter {
        Natter::start_with(folder, port, &[]).await
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sends a signal (`TERM`, `KILL`) to the process.
    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name}");
    }

    /// Waits for the process to exit by itself; panics after `limit`.
    pub async fn exited(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(exit) = self.child.try_wait().expect("try_wait") {
                return exit;
            }
            assert!(std::time::Instant::now() < deadline, "natter did not stop");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    wire::unused_port().expect("a free port")
}

/// Every stored message of the SQLite database in `folder`, by id.
pub async fn stored_messages(folder: &std::path::Path) -> std::collections::BTreeMap<i64, String> {
    let url = format!("sqlite://{}", folder.join("natter.db").display());
    let pool = sqlx::SqlitePool::connect(&url)
        .await
        .expect("open database");
    let rows: Vec<(i64, String)> = sqlx::query_as("SELECT id, body FROM messages")
        .fetch_all(&pool)
        .await
        .expect("messages");
    pool.close().await;
    rows.into_iter().collect()
}

/// The change sequence numbers of the message bubbles in a fragment, in
/// the order they appear.
pub fn seqs(fragment: &str) -> Vec<i64> {
    // Messages only (an inbox row's badge carries its conversation's too).
    fragment
        .split(r#"id="message-"#)
        .skip(1)
        .filter_map(|rest| {
            let tag = &rest[..rest.find('>')?];
            let value = &tag[tag.find(r#" data-seq=""#)? + r#" data-seq=""#.len()..];
            value.split('"').next()?.parse().ok()
        })
        .collect()
}

/// Message ids and bodies of the bubbles in a fragment.
pub fn bubbles(fragment: &str) -> Vec<(i64, String)> {
    fragment
        .split(r#"<article id="message-"#)
        .skip(1)
        .filter_map(|rest| {
            let id = rest.split('"').next()?.parse().ok()?;
            let body = rest
                .split(r#"<p class="body" dir="auto">"#)
                .nth(1)?
                .split("</p>")
                .next()?
                .to_owned();
            Some((id, body))
        })
        .collect()
}

/// What the unread badge `badge_id` (`unread-<conversation>`) shows in `html`: "" when nothing is unread, "3", "99+"; `None` without it.
pub fn badge_text(html: &str, badge_id: &str) -> Option<String> {
    let start = html.find(&format!(r#"id="{badge_id}""#))?;
    let rest = &html[start..];
    let text = &rest[rest.find('>')? + 1..];
    Some(text[..text.find('<')?].to_owned())
}

/// Every unread count the badges in `html` carry, in page order.
pub fn unread_counts(html: &str) -> Vec<i64> {
    html.split(r#"data-count=""#)
        .skip(1)
        .filter_map(|rest| rest.split('"').next()?.parse().ok())
        .collect()
}

pub const BOUNDARY: &str = "natter-test-boundary";

/// A multipart body with the page's fields and one file, as `file`.
pub fn multipart(
    fields: &[(&str, &str)],
    filename: &str,
    file_type: &str,
    bytes: &[u8],
) -> Vec<u8> {
    multipart_with(fields, "file", filename, file_type, bytes)
}

/// A multipart body with the page's fields and one file, as `field`.
pub fn multipart_with(
    fields: &[(&str, &str)],
    field: &str,
    filename: &str,
    file_type: &str,
    bytes: &[u8],
) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    body.extend_from_slice(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: {file_type}\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// A black PNG of this size.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::new_rgb8(width, height)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}
