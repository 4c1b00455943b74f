//! End to end in real headless Chromium: two people sign up, chat live,
//! reload, log out and in; a third cannot read along; the no-JavaScript path
//! works; screenshots are saved; a basic accessibility check runs.

mod common;

use base64ct::Encoding;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const ENTER: &str = "\u{e007}";
/// WebDriver's Shift key (held until `NO_MODIFIER`).
const SHIFT: &str = "\u{e008}";
/// WebDriver's "release all modifiers".
const NO_MODIFIER: &str = "\u{e000}";

struct Driver {
    process: Child,
    port: u16,
    profiles: tempfile::TempDir,
}

impl Drop for Driver {
    /// Ends chromedriver and every browser it started, even after a failed
    /// assertion left sessions open: they share its process group.
    fn drop(&mut self) {
        let group = format!("-{}", self.process.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn find_program(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// Starts chromedriver, or `None` when Chromium is not installed.
async fn start_driver() -> Option<Driver> {
    let driver = std::env::var_os("CHROMEDRIVER")
        .map(PathBuf::from)
        .or_else(|| find_program(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]))?;
    find_program(&["/usr/bin/chromium"])?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let process = Command::new(driver)
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Some(Driver {
        process,
        port,
        profiles: tempfile::tempdir().ok()?,
    })
}

impl Driver {
    /// A fresh headless browser with its own profile.
    async fn browser(&self, name: &str, javascript: bool) -> Client {
        let profile = self.profiles.path().join(name);
        let mut options = json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic",
                "--window-size=1280,800",
                format!("--user-data-dir={}", profile.display()),
            ],
        });
        if !javascript {
            options["prefs"] = json!({"profile.managed_default_content_settings.javascript": 2});
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), options);
        // The page's console (errors and uncaught exceptions) is read back
        // by `assert_no_console_errors`.
        capabilities.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("browser session")
    }
}

/// A ChromeDriver command beyond WebDriver's own: `se/log` reads the
/// page's console since the last read, `chromium/network_conditions` slows
/// the browser's network down.
#[derive(Debug)]
struct ChromeCommand {
    path: &'static str,
    body: Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for ChromeCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

/// Gives every request of this browser `latency` more before it is
/// answered, cached or not.
async fn slow_network(client: &Client, latency: Duration) {
    let conditions = json!({"network_conditions": {
        "offline": false,
        "latency": latency.as_millis() as u64,
        "download_throughput": -1,
        "upload_throughput": -1,
    }});
    client
        .issue_cmd(ChromeCommand {
            path: "chromium/network_conditions",
            body: conditions,
        })
        .await
        .expect("network conditions");
    // Cached scripts would skip the delay.
    for (cmd, params) in [
        ("Network.enable", json!({})),
        ("Network.setCacheDisabled", json!({"cacheDisabled": true})),
    ] {
        client
            .issue_cmd(ChromeCommand {
                path: "goog/cdp/execute",
                body: json!({"cmd": cmd, "params": params}),
            })
            .await
            .expect("cache disabled");
    }
}

/// Fails on any console error or uncaught exception a page of this browser
/// logged since the last check: a feature that works when frames are sent by
/// hand can still be broken in the page by a script error.
async fn assert_no_console_errors(client: &Client, when: &str) {
    let errors = console_errors(client).await;
    assert!(errors.is_empty(), "console errors {when}: {errors:#?}");
}

/// The errors and uncaught exceptions a page of this browser logged since
/// the last read.
async fn console_errors(client: &Client) -> Vec<Value> {
    let entries = client
        .issue_cmd(ChromeCommand {
            path: "se/log",
            body: json!({"type": "browser"}),
        })
        .await
        .expect("console log");
    entries
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .filter(|entry| entry["level"] == "SEVERE")
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text_of(client: &Client, css: &str) -> String {
    match client.find(Locator::Css(css)).await {
        Ok(element) => element.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn wait_for_text(client: &Client, css: &str, needle: &str) {
    wait_until(&format!("{needle:?} in {css}"), || async {
        text_of(client, css).await.contains(needle)
    })
    .await;
}

/// The element `css` picks, once it is on the page.
async fn find_when_there(client: &Client, css: &str) -> fantoccini::elements::Element {
    // What a click brings (an htmx fragment) may still be on its way.
    wait_until(&format!("{css} on the page"), || async {
        client.find(Locator::Css(css)).await.is_ok()
    })
    .await;
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|_| panic!("{css} on the page"))
}

async fn fill(client: &Client, css: &str, value: &str) {
    find_when_there(client, css)
        .await
        .send_keys(value)
        .await
        .expect("typing");
}

/// Clicks what `css` finds, finding it again if the page replaced it in
/// between (a live change redraws a bubble, as a person would just click
/// again).
async fn click(client: &Client, css: &str) {
    // Content htmx swapped in gets its behaviour when it settles (20 ms
    // later): a click before that follows the plain link instead, which no
    // person is quick enough to do.
    wait_until(&format!("{css} settled"), || async {
        client
            .execute(
                "const e = document.querySelector(arguments[0]);
                 return !!e && !e.closest('.htmx-added, .htmx-settling, .htmx-swapping');",
                vec![json!(css)],
            )
            .await
            .is_ok_and(|v| v == json!(true))
    })
    .await;
    for _ in 0..5 {
        match find_when_there(client, css).await.click().await {
            Ok(()) => return,
            Err(e) if e.is_stale_element_reference() => {}
            Err(e) => panic!("click {css}: {e}"),
        }
    }
    panic!("{css} kept being replaced");
}

/// What the message box holds right now.
async fn draft_of(client: &Client) -> Value {
    client
        .execute("return document.getElementById('body').value;", vec![])
        .await
        .expect("script runs")
}

async fn path_of(client: &Client) -> String {
    client.current_url().await.expect("url").path().to_owned()
}

async fn sign_up(client: &Client, base: &str, name: &str) {
    client.goto(&format!("{base}/signup")).await.unwrap();
    fill(client, "#username", name).await;
    fill(client, "#password", common::PASSWORD).await;
    fill(client, "#confirmation", common::PASSWORD).await;
    click(client, "form button[type=submit]").await;
    wait_until("the dashboard after sign-up", || async {
        path_of(client).await == "/"
    })
    .await;
}

async fn log_in(client: &Client, base: &str, name: &str) {
    client.goto(&format!("{base}/login")).await.unwrap();
    fill(client, "#username", name).await;
    fill(client, "#password", common::PASSWORD).await;
    click(client, "form button[type=submit]").await;
    wait_until("the dashboard after login", || async {
        path_of(client).await == "/"
    })
    .await;
}

/// Opens the conversation with `peer` from the directory ("New chat"),
/// starting it (the page's one button) when it does not exist yet.
async fn open_chat_with(client: &Client, peer: &str) {
    go_to_people(client).await;
    click(client, &format!(r#"#contacts a[href="/c/{peer}"]"#)).await;
    wait_until("a conversation or the offer to start one", || async {
        let path = path_of(client).await;
        path.starts_with("/conversations/") || path == format!("/c/{peer}")
    })
    .await;
    if path_of(client).await == format!("/c/{peer}") {
        click(client, "main form button[type=submit]").await;
    }
    wait_until("the conversation page with its message box", || async {
        path_of(client).await.starts_with("/conversations/")
            && client.find(Locator::Css("#body")).await.is_ok()
    })
    .await;
}

/// Types a message and presses Enter, as a person would.
/// Goes to the directory of people, as "New chat" does (its link is in the
/// inbox, and beside a conversation on a wide screen).
async fn go_to_people(client: &Client) {
    client
        .execute("location.assign('/people'); return true;", vec![])
        .await
        .unwrap();
    wait_until("the directory", || async {
        path_of(client).await == "/people"
            && client
                .execute("return document.readyState;", vec![])
                .await
                .is_ok_and(|state| state == json!("complete"))
    })
    .await;
}

/// Starts a group named `title` with everyone the directory lists (as a
/// person does: "New chat", "New group", a name, the members, "Create");
/// returns its path once its page shows the note that it was made.
async fn create_group(client: &Client, title: &str) -> String {
    go_to_people(client).await;
    click(client, "details.new-group summary").await;
    fill(client, "#group-title", title).await;
    for member in client
        .find_all(Locator::Css("details.new-group input[name=members]"))
        .await
        .unwrap()
    {
        member.click().await.unwrap();
    }
    click(client, "details.new-group button[type=submit]").await;
    wait_for_text(client, "#messages .note", "You created the group").await;
    path_of(client).await
}

async fn type_and_send(client: &Client, text: &str) {
    fill(client, "#body", text).await;
    fill(client, "#body", ENTER).await;
}

/// axe-core, from its npm package (MPL-2.0, see vendor/axe-LICENSE): it
/// is injected only here, never served by Natter.
const AXE: &str = include_str!("vendor/axe.min.js");

/// Runs axe-core's rules (WCAG 2.0 to 2.2, A and AA, and its best
/// practices) on the page and fails on any violation, listing each element.
async fn assert_accessible(client: &Client, page: &str) {
    let violations = axe_violations(client).await;
    assert_eq!(violations, json!([]), "accessibility violations on {page}");
}

/// What axe-core finds wrong on the page: each rule broken, with where.
async fn axe_violations(client: &Client) -> Value {
    let loaded = client
        .execute(&format!("{AXE}\nreturn typeof window.axe;"), vec![])
        .await
        .expect("axe loads");
    assert_eq!(loaded, json!("object"), "axe-core on the page");
    client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document)
               .then((r) => done(r.violations.map((v) => ({
                 rule: v.id, impact: v.impact,
                 nodes: v.nodes.map((n) => n.target.join(' ') + ' :: ' + n.failureSummary),
               }))))
               .catch((e) => done([{ rule: 'axe failed', nodes: [String(e)] }]));",
            vec![],
        )
        .await
        .expect("axe runs")
}

/// A server, and alice and bob signed up in browsers of their own.
async fn two_people(driver: &Driver) -> (Server, String, Client, Client) {
    two_people_in_zones(driver, None).await
}

/// The same, with each browser's clock in a time zone of its own.
async fn two_people_in_zones(
    driver: &Driver,
    zones: Option<[&str; 2]>,
) -> (Server, String, Client, Client) {
    let server = Server::start().await;
    let base = server.origin();
    let alice = driver.browser("alice", true).await;
    let bob = driver.browser("bob", true).await;
    if let Some([at_alice, at_bob]) = zones {
        time_zone(&alice, at_alice).await;
        time_zone(&bob, at_bob).await;
    }
    sign_up(&alice, &base, "alice").await;
    sign_up(&bob, &base, "bob").await;
    (server, base, alice, bob)
}

/// Presses and releases one key (WebDriver's codes for special keys).
async fn press(client: &Client, key: char) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let actions = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    client.perform_actions(actions).await.expect("key pressed");
}

/// Shows the page as in the light or dark colour scheme.
async fn color_scheme(client: &Client, scheme: &str) {
    client
        .issue_cmd(ChromeCommand {
            path: "goog/cdp/execute",
            body: json!({"cmd": "Emulation.setEmulatedMedia", "params": {
                "features": [{"name": "prefers-color-scheme", "value": scheme}],
            }}),
        })
        .await
        .expect("colour scheme");
}

async fn screenshot(client: &Client, name: &str) {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("screenshots");
    std::fs::create_dir_all(&folder).expect("screenshot folder");
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(folder.join(format!("{name}.png")), png).expect("screenshot saved");
}

#[tokio::test]
async fn two_people_chat_live_in_real_browsers() {
    let Some(driver) = start_driver().await else {
        eprintln!("SKIPPED: Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        return;
    };
    let server = Server::start().await;
    let base = server.origin();
    let alice = driver.browser("alice", true).await;
    let bob = driver.browser("bob", true).await;

    sign_up(&alice, &base, "alice").await;
    assert_accessible(&alice, "the empty inbox").await;
    click(&alice, r#"main a[href="/people"]"#).await;
    wait_until("the directory", || async {
        path_of(&alice).await == "/people"
    })
    .await;
    sign_up(&bob, &base, "bob").await;
    // Alice's open directory learns of bob live; bob sees alice on load.
    wait_for_text(&alice, "#contacts", "bob").await;
    go_to_people(&bob).await;
    wait_for_text(&bob, "#contacts", "alice").await;
    screenshot(&alice, "people").await;

    // Bob opens the conversation first and waits on it.
    open_chat_with(&bob, "alice").await;
    wait_until("bob's conversation page", || async {
        path_of(&bob).await.starts_with("/conversations/")
    })
    .await;
    let conversation = path_of(&bob).await;
    bob.execute("window.stillTheSamePage = true; return true;", vec![])
        .await
        .unwrap();

    open_chat_with(&alice, "bob").await;
    wait_until("alice's conversation page", || async {
        path_of(&alice).await == conversation
    })
    .await;
    assert_accessible(&alice, "the conversation").await;
    // Typing (not sent yet) shows on bob's page, from real keystrokes.
    fill(&alice, "#body", "Hello Bob, ").await;
    wait_for_text(&bob, "#typing", "alice is typing").await;
    type_and_send(&alice, "this is Alice!").await;
    wait_for_text(&bob, "#messages", "Hello Bob, this is Alice!").await;
    let same_page = bob
        .execute("return window.stillTheSamePage === true;", vec![])
        .await
        .unwrap();
    assert_eq!(same_page, Value::Bool(true), "bob's page did not reload");
    wait_until("alice's form is cleared", || async {
        draft_of(&alice).await == json!("")
    })
    .await;
    // What is typed while a send is in flight stays: the server's answer
    // renews the form's client id and leaves the text alone.
    fill(
        &alice,
        "#body",
        &format!("Are we meeting?{ENTER}Bring snacks"),
    )
    .await;
    wait_for_text(&bob, "#messages", "Are we meeting?").await;
    // The answer comes before the bubble on the sender's own socket.
    wait_for_text(&alice, "#messages", "Are we meeting?").await;
    assert_eq!(draft_of(&alice).await, json!("Bring snacks"));
    // A refused message comes back into the box, in front of the draft.
    alice
        .execute(
            "document.getElementById('body').value = 'beep \\u0007'; return true;",
            vec![],
        )
        .await
        .unwrap();
    fill(&alice, "#body", ENTER).await;
    wait_for_text(&alice, "#composer-error", "control characters").await;
    wait_until("the refused text back in the box", || async {
        draft_of(&alice).await == json!("beep \u{7}")
    })
    .await;
    alice
        .execute(
            "document.getElementById('body').value = ''; return true;",
            vec![],
        )
        .await
        .unwrap();
    // A send lost with its socket (the frame never reached the server) is
    // put back in the box when the socket closes.
    alice
        .execute(
            "const ws = document.querySelector('[ws-connect]')['htmx-internal-data'].webSocket.socket; \
             const send = ws.send.bind(ws); \
             ws.send = (m) => { if (!m.includes('\"body\"')) send(m); }; \
             window.dropSocket = () => ws.close(4000, 'test'); return true;",
            vec![],
        )
        .await
        .unwrap();
    type_and_send(&alice, "lost in flight").await;
    assert_eq!(
        draft_of(&alice).await,
        json!(""),
        "the box empties as it leaves"
    );
    alice
        .execute("window.dropSocket(); return true;", vec![])
        .await
        .unwrap();
    wait_until("the lost text back in the box", || async {
        draft_of(&alice).await == json!("lost in flight")
    })
    .await;
    alice.refresh().await.unwrap();
    wait_for_text(&alice, "#messages", "Are we meeting?").await;

    // The Enter that sends is not typing: once the message is in, the
    // notice is gone and stays gone (typing notices are throttled to one a
    // second, so the Enter comes after a pause, as its own keystroke).
    fill(&bob, "#body", "Hi Alice! Bob here.").await;
    wait_for_text(&alice, "#typing", "bob is typing").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    fill(&bob, "#body", ENTER).await;
    wait_for_text(&alice, "#messages", "Hi Alice! Bob here.").await;
    wait_until("the typing notice gone with the message", || async {
        text_of(&alice, "#typing").await.is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        text_of(&alice, "#typing").await,
        "",
        "no typing notice from the Enter that sent"
    );
    wait_for_text(&bob, "#receipt", "Seen").await;

    // "Seen" waits until the reader looks: bob's conversation goes into a
    // background tab while alice writes.
    bob.execute(
        "window.visibility = []; document.addEventListener('visibilitychange', \
         () => window.visibility.push(document.visibilityState)); return true;",
        vec![],
    )
    .await
    .unwrap();
    let bob_chat = bob.window().await.unwrap();
    let bob_other = bob.new_window(true).await.unwrap().handle;
    bob.switch_to_window(bob_other.clone()).await.unwrap();
    type_and_send(&alice, "Did you read this?").await;
    wait_until("alice's receipt cleared by her new message", || async {
        text_of(&alice, "#receipt").await.is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        text_of(&alice, "#receipt").await,
        "",
        "not seen while bob's tab is hidden"
    );
    bob.close_window().await.unwrap();
    bob.switch_to_window(bob_chat).await.unwrap();
    wait_for_text(&alice, "#receipt", "Seen").await;
    let visibility = bob
        .execute("return window.visibility;", vec![])
        .await
        .unwrap();
    assert_eq!(
        visibility,
        json!(["hidden", "visible"]),
        "bob's tab was hidden, then shown"
    );
    wait_for_text(&bob, "#messages", "Did you read this?").await;

    // Nor does opening a conversation in a background tab read it: bob goes
    // to his dashboard, alice writes, and bob's tab opens the conversation
    // while another tab is in front.
    bob.goto(&format!("{base}/")).await.unwrap();
    wait_for_text(&bob, "#inbox", "alice").await;
    type_and_send(&alice, "Still there?").await;
    wait_for_text(&bob, "#inbox .unread", "1").await;
    wait_for_text(&bob, "#inbox .preview", "Still there?").await;
    screenshot(&bob, "dashboard").await;
    wait_until("alice's receipt cleared by her new message", || async {
        text_of(&alice, "#receipt").await.is_empty()
    })
    .await;
    bob.execute(
        &format!("setTimeout(() => location.assign('{conversation}'), 300); return true;"),
        vec![],
    )
    .await
    .unwrap();
    let bob_tab = bob.window().await.unwrap();
    let front_tab = bob.new_window(true).await.unwrap().handle;
    bob.switch_to_window(front_tab).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        text_of(&alice, "#receipt").await,
        "",
        "not seen while bob's conversation opened behind another tab"
    );
    bob.close_window().await.unwrap();
    let shown_at = common::unix_millis();
    bob.switch_to_window(bob_tab).await.unwrap();
    assert_eq!(
        path_of(&bob).await,
        conversation,
        "the background tab opened it"
    );
    let loaded_at = bob
        .execute("return Math.floor(performance.timeOrigin);", vec![])
        .await
        .unwrap();
    assert!(
        loaded_at.as_i64().is_some_and(|at| at < shown_at),
        "it loaded while hidden: {loaded_at} vs {shown_at}"
    );
    wait_for_text(&alice, "#receipt", "Seen").await;
    wait_for_text(&bob, "#messages", "Still there?").await;
    // It opened with a line where the unread messages start.
    let line_first = bob
        .execute(
            "const line = document.getElementById('unread-line'); \
             return !!line && line.nextElementSibling.textContent.includes('Still there?');",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        line_first,
        json!(true),
        "the unread line is just above the new message"
    );
    assert_no_console_errors(&alice, "while chatting").await;
    assert_no_console_errors(&bob, "while chatting").await;
    screenshot(&alice, "conversation").await;
    alice.set_window_size(390, 844).await.unwrap();
    let sidebar_hidden = alice
        .execute(
            "return getComputedStyle(document.querySelector('aside.sidebar')).display === 'none';",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        sidebar_hidden,
        Value::Bool(true),
        "the sidebar collapses on phones"
    );
    let topbar_hidden = alice
        .execute(
            "return getComputedStyle(document.querySelector('header.topbar')).display === 'none';",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        topbar_hidden,
        json!(true),
        "a conversation on a phone keeps the height for messages"
    );
    screenshot(&alice, "conversation-phone").await;
    color_scheme(&alice, "dark").await;
    screenshot(&alice, "conversation-phone-dark").await;
    alice.set_window_size(1280, 800).await.unwrap();
    screenshot(&alice, "conversation-dark").await;
    color_scheme(&alice, "light").await;

    // History survives a reload, and a logout and login.
    alice.refresh().await.unwrap();
    wait_for_text(&alice, "#messages", "Hello Bob, this is Alice!").await;
    wait_for_text(&alice, "#messages", "Hi Alice! Bob here.").await;
    // A second tab of alice's on the dashboard follows the logout by itself.
    let first_tab = alice.window().await.unwrap();
    let second_tab = alice.new_window(true).await.unwrap().handle;
    alice.switch_to_window(second_tab.clone()).await.unwrap();
    alice.goto(&format!("{base}/")).await.unwrap();
    wait_for_text(&alice, "#inbox", "bob").await;
    alice.switch_to_window(first_tab.clone()).await.unwrap();
    click(&alice, "nav.account button[type=submit]").await;
    wait_until("the login page", || async {
        path_of(&alice).await == "/login"
    })
    .await;
    alice.switch_to_window(second_tab).await.unwrap();
    wait_until("the other tab on the login page", || async {
        path_of(&alice).await.starts_with("/login")
    })
    .await;
    alice.close_window().await.unwrap();
    alice.switch_to_window(first_tab).await.unwrap();
    log_in(&alice, &base, "alice").await;
    alice.goto(&format!("{base}{conversation}")).await.unwrap();
    wait_for_text(&alice, "#messages", "Hello Bob, this is Alice!").await;
    wait_for_text(&alice, "#messages", "Hi Alice! Bob here.").await;

    assert_no_console_errors(&alice, "after a reload, a logout and a login").await;

    // A file over the size limit is refused in place, saying why.
    let big = tempfile::Builder::new().suffix(".bin").tempfile().unwrap();
    big.as_file().set_len(12 * 1024 * 1024).unwrap();
    fill(&alice, "#file", &big.path().display().to_string()).await;
    wait_for_text(&alice, "#attachment-chip", ".bin").await;
    click(&alice, "#composer button[type=submit]").await;
    wait_for_text(&alice, "#upload-status", "too large").await;
    wait_for_text(&alice, "#attachment-chip", "12.0 MiB").await;
    click(&alice, "#attachment-chip .chip-remove").await;
    // The refused request is the only error the page logged (the browser and
    // htmx report a 413 response as one).
    let errors = console_errors(&alice).await;
    assert!(
        errors
            .iter()
            .all(|e| e["message"].as_str().is_some_and(|m| m.contains("413"))),
        "only the refused upload: {errors:#?}"
    );

    // A name that looks like someone else's (a capital i for the l) is
    // refused on the sign-up form.
    let carol = driver.browser("carol", true).await;
    carol.goto(&format!("{base}/signup")).await.unwrap();
    fill(&carol, "#username", "aIice").await;
    fill(&carol, "#password", common::PASSWORD).await;
    fill(&carol, "#confirmation", common::PASSWORD).await;
    click(&carol, "form button[type=submit]").await;
    wait_for_text(&carol, "#form-error", "looks too much like").await;
    assert_eq!(path_of(&carol).await, "/signup");
    let _ = console_errors(&carol).await; // the form's 422 answer

    // A third person cannot open the conversation.
    sign_up(&carol, &base, "carol").await;
    assert_no_console_errors(&carol, "signing up").await;
    carol.goto(&format!("{base}{conversation}")).await.unwrap();
    let page = carol.source().await.unwrap();
    assert!(page.contains("404"), "carol gets not found");
    assert!(!page.contains("Hello Bob") && !page.contains("Bob here"));

    // Without JavaScript the form still sends, and live pages still get it.
    let plain = driver.browser("bob-without-js", false).await;
    log_in(&plain, &base, "bob").await;
    plain.goto(&format!("{base}{conversation}")).await.unwrap();
    // WebDriver may still run its own scripts; the page's did not run.
    if let Ok(htmx) = plain.execute("return typeof window.htmx;", vec![]).await {
        assert_eq!(htmx, json!("undefined"), "JavaScript is off");
    }
    fill(&plain, "#body", "Sent with JavaScript off").await;
    click(&plain, "#composer button[type=submit]").await;
    wait_for_text(&plain, "#messages", "Sent with JavaScript off").await;
    assert_eq!(
        path_of(&plain).await,
        conversation,
        "redirected back to the conversation"
    );
    wait_for_text(&alice, "#messages", "Sent with JavaScript off").await;

    for client in [alice, bob, carol, plain] {
        let _ = client.close().await;
    }
}

#[tokio::test]
async fn a_contact_who_leaves_just_before_a_page_connects_is_shown_offline() {
    let Some(driver) = start_driver().await else {
        eprintln!("SKIPPED: Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        return;
    };
    const GRACE_MS: u64 = 200;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir, |f| f.merge(("presence_grace_ms", GRACE_MS))).await;
    let base = server.origin();
    let alice = driver.browser("alice", true).await;
    let dave = driver.browser("dave", true).await;
    sign_up(&alice, &base, "alice").await;
    sign_up(&dave, &base, "dave").await;
    go_to_people(&alice).await;
    wait_for_text(&alice, "#contacts", "dave").await;

    // Alice's next page is rendered while dave is online, but its scripts,
    // and so its socket, arrive seconds later: dave leaves in between.
    let latency = Duration::from_millis(3000);
    slow_network(&alice, latency).await;
    let started = Instant::now();
    let loading = tokio::spawn({
        let alice = alice.clone();
        let url = format!("{base}/people");
        async move { alice.goto(&url).await }
    });
    tokio::time::sleep((latency + Duration::from_millis(700)).saturating_sub(started.elapsed()))
        .await;
    let before_leaving = common::unix_millis();
    dave.goto("about:blank").await.unwrap();
    let left = common::unix_millis();
    loading.await.unwrap().unwrap();

    let timing = alice
        .execute(
            "return [document.querySelector('[ws-connect]').getAttribute('ws-connect'), \
             performance.timeOrigin + performance.timing.domContentLoadedEventStart - performance.timing.navigationStart];",
            vec![],
        )
        .await
        .unwrap();
    let socket_url = timing[0].as_str().unwrap_or_default().to_owned();
    let rendered: i64 = socket_url
        .rsplit("since=")
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("render time in {socket_url}"));
    let connected = timing[1].as_f64().unwrap_or_default() as i64;
    assert!(
        rendered < before_leaving,
        "the page was rendered while dave was online ({rendered} vs {before_leaving})"
    );
    assert!(
        connected > left + GRACE_MS as i64 + 300,
        "the socket opened after dave was announced offline ({connected} vs {left})"
    );
    let dave_presence =
        r#"return document.querySelector('#contacts a[href="/c/dave"] .presence').className;"#;
    wait_until("dave shown offline", || async {
        alice.execute(dave_presence, vec![]).await.ok() == Some(json!("presence offline"))
    })
    .await;
    assert_no_console_errors(&alice, "after the leave-before-connect race").await;
    for client in [alice, dave] {
        let _ = client.close().await;
    }
}

/// The console errors of a page that loaded with `status` (the browser
/// logs such a response as an error); anything else fails the test.
async fn only_errors_for_status(client: &Client, status: u16) {
    let errors = console_errors(client).await;
    let status = status.to_string();
    assert!(
        errors
            .iter()
            .all(|e| e["message"].as_str().is_some_and(|m| m.contains(&status))),
        "only the {status} answers: {errors:#?}"
    );
}

#[tokio::test]
async fn a_message_refused_on_a_full_disk_stays_in_the_box_and_goes_once_space_returns() {
    let Some(driver) = start_driver().await else {
        eprintln!("SKIPPED: Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        return;
    };
    let Some(disk) = common::outages::SmallDisk::mount("8m") else {
        return;
    };
    let natter = common::Natter::start(disk.path(), common::free_port()).await;
    let base = natter.base();
    let alice = driver.browser("alice", true).await;
    let bob = driver.browser("bob", true).await;
    sign_up(&alice, &base, "alice").await;
    sign_up(&bob, &base, "bob").await;
    open_chat_with(&alice, "bob").await;
    open_chat_with(&bob, "alice").await;
    type_and_send(&alice, "Before the disk filled").await;
    wait_for_text(&bob, "#messages", "Before the disk filled").await;

    disk.fill();
    type_and_send(&alice, "Written on a full disk").await;
    wait_for_text(&alice, "#composer-error", "storage is full").await;
    wait_until("the refused text back in the box", || async {
        draft_of(&alice).await == json!("Written on a full disk")
    })
    .await;
    assert!(
        !text_of(&alice, "#messages")
            .await
            .contains("Written on a full disk"),
        "no bubble for what was not stored"
    );
    // Reading still works: bob's page opens again on the full disk.
    bob.refresh().await.unwrap();
    wait_for_text(&bob, "#messages", "Before the disk filled").await;
    assert!(!text_of(&bob, "#messages")
        .await
        .contains("Written on a full disk"));

    disk.free();
    fill(&alice, "#body", ENTER).await;
    wait_for_text(&bob, "#messages", "Written on a full disk").await;
    wait_for_text(&alice, "#messages", "Written on a full disk").await;
    wait_until("the error line cleared", || async {
        text_of(&alice, "#composer-error").await.is_empty()
    })
    .await;
    assert_eq!(draft_of(&alice).await, json!(""));
    assert_no_console_errors(&alice, "on and after a full disk").await;
    assert_no_console_errors(&bob, "on and after a full disk").await;
    for client in [alice, bob] {
        let _ = client.close().await;
    }
}

#[tokio::test]
async fn a_database_outage_page_says_so_and_reloads_itself_once_the_database_is_back() {
    let Some(driver) = start_driver().await else {
        eprintln!("SKIPPED: Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        return;
    };
    let Some(postgres) = common::outages::PrivatePostgres::start() else {
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    let url = postgres.url();
    let natter = common::Natter::start_with(
        folder.path(),
        common::free_port(),
        &[("NATTER_DATABASE_URL", url.as_str())],
    )
    .await;
    let base = natter.base();
    let alice = driver.browser("alice", true).await;
    sign_up(&alice, &base, "alice").await;

    postgres.stop("fast");
    alice.goto(&format!("{base}/")).await.unwrap();
    wait_for_text(&alice, "main", "can't reach its database").await;
    assert!(!alice.source().await.unwrap().contains("Log in"));
    postgres.pg_ctl_start();
    // Nobody touches the page: it reloads itself and alice is still in.
    wait_until("the page back by itself", || async {
        text_of(&alice, "header")
            .await
            .contains("Signed in as alice")
    })
    .await;
    only_errors_for_status(&alice, 503).await;
    let _ = alice.close().await;
}

#[tokio::test]
async fn every_page_passes_axe_in_light_and_dark_on_desktop_and_phone() {
    let Some(driver) = start_driver().await else {
        eprintln!("SKIPPED: Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        return;
    };
    let (_server, base, alice, bob) = two_people(&driver).await;
    open_chat_with(&alice, "bob").await;
    let direct = path_of(&alice).await;
    type_and_send(&alice, "Hello Bob, see https://example.org").await;
    wait_for_text(&alice, "#messages", "Hello Bob").await;
    open_chat_with(&bob, "alice").await;
    type_and_send(&bob, "Hi Alice!").await;
    wait_for_text(&alice, "#messages", "Hi Alice!").await;
    let group = create_group(&alice, "Team").await;
    type_and_send(&alice, "Welcome to the team").await;
    wait_for_text(&alice, "#messages", "Welcome to the team").await;
    let visitor = driver.browser("visitor", true).await;

    let mut violations = Vec::new();
    let signed_in = [
        ("the inbox", "/".to_owned()),
        ("the directory of people", "/people".to_owned()),
        ("a direct conversation", direct),
        ("a group conversation", group.clone()),
        (
            "the question before leaving a group",
            format!("{group}/leave"),
        ),
        ("the account page", "/account".to_owned()),
        ("the admin page", "/admin".to_owned()),
    ];
    for (width, height) in [(1280, 800), (390, 844)] {
        for scheme in ["light", "dark"] {
            for client in [&alice, &visitor] {
                client.set_window_size(width, height).await.unwrap();
                color_scheme(client, scheme).await;
            }
            for (name, path) in [
                ("the login page", "/login"),
                ("the sign-up page", "/signup"),
            ] {
                visitor.goto(&format!("{base}{path}")).await.unwrap();
                let found = axe_violations(&visitor).await;
                if found != json!([]) {
                    violations.push((format!("{name}, {scheme}, {width}px"), found));
                }
            }
            for (name, path) in &signed_in {
                alice.goto(&format!("{base}{path}")).await.unwrap();
                wait_until("the page's socket", || async {
                    alice
                        .execute(
                            "return !document.querySelector('[ws-connect]') || \
                             !document.body.classList.contains('disconnected');",
                            vec![],
                        )
                        .await
                        .is_ok_and(|v| v == json!(true))
                })
                .await;
                let found = axe_violations(&alice).await;
                if found != json!([]) {
                    violations.push((format!("{name}, {scheme}, {width}px"), found));
                }
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");

    // From the top of a conversation, the first Tab reaches "Skip to the
    // message box", and Enter on it puts the cursor there.
    alice.set_window_size(1280, 800).await.unwrap();
    alice
        .goto(&format!("{base}{}", signed_in[2].1))
        .await
        .unwrap();
    alice
        .execute(
            "document.body.tabIndex = -1; document.body.focus(); \
             document.body.removeAttribute('tabindex'); return true;",
            vec![],
        )
        .await
        .unwrap();
    press(&alice, '\u{E004}').await; // Tab
    let focused = alice
        .execute("return document.activeElement.textContent;", vec![])
        .await
        .unwrap();
    assert_eq!(focused, json!("Skip to the message box"));
    press(&alice, '\u{E007}').await; // Enter
    wait_until("the message box focused", || async {
        alice
            .execute("return document.activeElement.id;", vec![])
            .await
            .is_ok_and(|id| id == json!("body"))
    })
    .await;
    assert_no_console_errors(&alice, "on every page").await;
    assert_no_console_errors(&visitor, "on every page").await;
    for client in [alice, bob, visitor] {
        let _ = client.close().await;
    }
}

/// The page's socket goes away and stays away (its reconnecting held
/// back), until `socket_back`; returns once the page shows it is offline.
async fn socket_away(client: &Client) {
    client
        .execute(
            "window.away = document.querySelector('[ws-connect]')['htmx-internal-data'].webSocket; \
             window.back = window.away.init; window.away.init = () => {}; \
             window.away.socket.close(4000, 'away'); return true;",
            vec![],
        )
        .await
        .unwrap();
    wait_until("the page knows it is away", || async {
        client
            .execute(
                "return document.body.classList.contains('disconnected');",
                vec![],
            )
            .await
            .is_ok_and(|v| v == json!(true))
    })
    .await;
}

/// The socket `socket_away` took away connects again.
async fn socket_back(client: &Client) {
    client
        .execute(
            "window.away.init = window.back; window.away.init(); return true;",
            vec![],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn an_inbox_that_was_away_catches_up_when_its_socket_returns_and_filters_as_you_type() {
    let Some(driver) = start_driver().await else {
        eprintln!("SKIPPED: Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        return;
    };
    let (server, _base, alice, bob) = two_people(&driver).await;
    wait_until("bob's socket open", || async {
        text_of(&bob, "#connection").await.is_empty()
            && bob
                .execute(
                    "return !!document.getElementById('inbox') && \
                     !document.body.classList.contains('disconnected');",
                    vec![],
                )
                .await
                .is_ok_and(|v| v == json!(true))
    })
    .await;
    // Bob's socket goes away (as on a train through a tunnel).
    socket_away(&bob).await;
    open_chat_with(&alice, "bob").await;
    type_and_send(&alice, "Are you there?").await;
    type_and_send(&alice, "Hello?").await;
    wait_for_text(&alice, "#messages", "Hello?").await;
    server.browser().signup("carol").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        text_of(&bob, "#inbox").await,
        "",
        "nothing arrived while away"
    );
    // It comes back: the page says what it shows and gets what changed.
    socket_back(&bob).await;
    wait_for_text(&bob, "#inbox .unread", "2").await;
    wait_for_text(&bob, "#inbox .preview", "Hello?").await;
    // The tab says so too: "(2)" in its title and a dot on its icon.
    wait_until("the unread count in the title", || async {
        bob.title().await.is_ok_and(|t| t.starts_with("(2) "))
    })
    .await;
    let icon = bob
        .execute("return document.getElementById('favicon').href;", vec![])
        .await
        .unwrap();
    assert!(
        icon.as_str().unwrap().contains("favicon-unread.svg"),
        "{icon}"
    );
    let rows = "return [...document.querySelectorAll('#inbox > li')]\
                .filter((row) => !row.hidden).map((row) => row.dataset.name);";
    assert_eq!(
        bob.execute(rows, vec![]).await.unwrap(),
        json!(["alice"]),
        "one conversation, once; carol is in the directory, not the inbox"
    );
    // A group alice starts with bob joins his inbox live, at the top, with
    // its note (which is not unread).
    create_group(&alice, "Climbing").await;
    wait_for_text(&bob, "#inbox > li:first-child", "Climbing").await;
    wait_for_text(
        &bob,
        "#inbox > li:first-child .preview",
        "alice created the group",
    )
    .await;
    assert!(bob.title().await.unwrap().starts_with("(2) "));
    // Typing in the filter narrows the list at once; clearing it shows all.
    fill(&bob, "#filter", "CLIM").await;
    wait_until("only the group shown", || async {
        bob.execute(rows, vec![]).await.ok() == Some(json!(["climbing"]))
    })
    .await;
    // A row that moves while filtered stays filtered.
    type_and_send(&alice, "Who is in?").await;
    wait_for_text(&bob, "#inbox > li:first-child .preview", "Who is in?").await;
    open_chat_with(&alice, "bob").await;
    type_and_send(&alice, "Still here").await;
    wait_until("alice's row on top, hidden by the filter", || async {
        bob.execute(
            "const top = document.querySelector('#inbox > li'); \
             return [top.dataset.name, top.hidden, top.textContent.includes('Still here')];",
            vec![],
        )
        .await
        .ok()
            == Some(json!(["alice", true, true]))
    })
    .await;
    assert_eq!(
        bob.execute(rows, vec![]).await.unwrap(),
        json!(["climbing"])
    );
    fill(&bob, "#filter", &"\u{E003}".repeat(4)).await; // Backspace
    wait_until("every row shown again", || async {
        bob.execute(rows, vec![]).await.ok() == Some(json!(["alice", "climbing"]))
    })
    .await;
    // The server renders the count and the dot with the page, as the live
    // updates left them.
    let live_title = bob.title().await.unwrap();
    assert!(live_title.starts_with('('), "{live_title}");
    bob.refresh().await.unwrap();
    wait_for_text(&bob, "#inbox", "Climbing").await;
    assert_eq!(bob.title().await.unwrap(), live_title);
    let icon = bob
        .execute(
            "return document.getElementById('favicon').getAttribute('href');",
            vec![],
        )
        .await
        .unwrap();
    assert!(icon.as_str().unwrap().contains("favicon-unread"), "{icon}");
    assert_no_console_errors(&bob, "catching up").await;
    assert_no_console_errors(&alice, "writing").await;
    for client in [alice, bob] {
        let _ = client.close().await;
    }
}

/// Puts this browser's clock in `zone` (before its first page, so the page
/// script reports it).
async fn time_zone(client: &Client, zone: &str) {
    client
        .issue_cmd(ChromeCommand {
            path: "goog/cdp/execute",
            body: json!({"cmd": "Emulation.setTimezoneOverride", "params": {"timezoneId": zone}}),
        })
        .await
        .expect("time zone");
}

#[tokio::test]
async fn bubbles_show_each_viewers_local_time_runs_and_links() {
    let Some(driver) = start_driver().await else {
        eprintln!("SKIPPED: Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        return;
    };
    // Two zones without daylight saving time, so always 16 hours apart:
    // Tokyo is UTC+9, Phoenix UTC-7.
    let zones = ["Asia/Tokyo", "America/Phoenix"];
    let (_server, _base, alice, bob) = two_people_in_zones(&driver, Some(zones)).await;
    open_chat_with(&bob, "alice").await;
    open_chat_with(&alice, "bob").await;
    type_and_send(&alice, "First of a run").await;
    type_and_send(&alice, "Second, see https://example.org/page").await;
    wait_for_text(&bob, "#messages", "see https://example.org/page").await;

    // The same instant, on each viewer's clock, the full date on hover.
    let time_of = |client: &Client| {
        let client = client.clone();
        async move {
            client
                .execute(
                    "const t = [...document.querySelectorAll('#messages .message time')].pop(); \
                     return [t.textContent, t.getAttribute('datetime'), t.title];",
                    vec![],
                )
                .await
                .unwrap()
        }
    };
    let (at_alice, at_bob) = (time_of(&alice).await, time_of(&bob).await);
    assert_eq!(at_alice[1], at_bob[1], "the same instant");
    assert!(
        at_alice[2].as_str().unwrap().contains("(Asia/Tokyo)"),
        "{at_alice}"
    );
    assert!(
        at_bob[2].as_str().unwrap().contains("(America/Phoenix)"),
        "{at_bob}"
    );
    let minutes = |v: &Value| {
        let text = v[0].as_str().unwrap();
        let (h, m) = text.split_once(':').unwrap();
        h.parse::<i64>().unwrap() * 60 + m.parse::<i64>().unwrap()
    };
    let apart = (minutes(&at_alice) - minutes(&at_bob)).rem_euclid(24 * 60);
    assert_eq!(
        apart,
        16 * 60,
        "Tokyo is 16 hours ahead of Phoenix: {at_alice} {at_bob}"
    );

    // Two messages in a row from alice: one run, the time at the bottom
    // right of each bubble, the address a link that opens apart.
    let layout = bob
        .execute(
            "const b = [...document.querySelectorAll('#messages .message')]; \
             const last = b[b.length - 1], t = last.querySelector('time').getBoundingClientRect(); \
             const r = last.getBoundingClientRect(), p = last.querySelector('.body').getBoundingClientRect(); \
             const a = last.querySelector('.body a'); \
             return { continued: last.classList.contains('continued'), \
                      first: b[b.length - 2].classList.contains('continued'), \
                      right: r.right - t.right, below: t.top >= p.bottom - 1, \
                      named: document.querySelectorAll('#messages .sender').length, \
                      href: a && a.href, target: a && a.target, rel: a && a.rel };",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(layout["continued"], json!(true), "{layout}");
    assert_eq!(layout["first"], json!(false), "{layout}");
    assert!(
        layout["right"].as_f64().unwrap() < 20.0,
        "time at the right: {layout}"
    );
    assert_eq!(
        layout["below"],
        json!(true),
        "time under the text: {layout}"
    );
    assert_eq!(
        layout["named"],
        json!(0),
        "no names in a direct chat: {layout}"
    );
    assert_eq!(layout["href"], json!("https://example.org/page"));
    assert_eq!(layout["target"], json!("_blank"));
    assert_eq!(layout["rel"], json!("noopener noreferrer nofollow"));
    assert_no_console_errors(&alice, "with local times").await;
    assert_no_console_errors(&bob, "with local times").await;
    for client in [alice, bob] {
        let _ = client.close().await;
    }
}

#[tokio::test]
async fn a_reader_scrolled_up_is_never_pulled_down_and_loading_earlier_keeps_the_place() {
    let Some(driver) = start_driver().await else {
        eprintln!("SKIPPED: Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        return;
    };
    let (server, _base, alice, bob) = two_people(&driver).await;
    open_chat_with(&alice, "bob").await;
    let conversation = path_of(&alice).await;
    let id: i64 = conversation
        .trim_start_matches("/conversations/")
        .parse()
        .unwrap();
    // A long history, all of today.
    let pool = common::open_database(&server.dir).await;
    let alice_id = natter::store::users::by_username(&pool, "alice")
        .await
        .unwrap()
        .unwrap()
        .id;
    for n in 1..=120 {
        natter::store::messages::save(
            &pool,
            natter::domain::ConversationId::new(id),
            alice_id,
            &format!("Old message {n}"),
            &format!("old-{n}"),
        )
        .await
        .unwrap();
    }
    pool.close().await;
    open_chat_with(&bob, "alice").await;
    wait_for_text(&bob, "#messages", "Old message 120").await;
    let count = |what: &'static str| {
        let bob = bob.clone();
        async move {
            bob.execute(
                &format!("return document.querySelectorAll('{what}').length;"),
                vec![],
            )
            .await
            .unwrap()
            .as_i64()
            .unwrap()
        }
    };
    assert_eq!(count("#messages .day").await, 1);

    // Bob scrolls up to read; alice writes: he stays where he is, offered a jump.
    bob.execute(
        "document.getElementById('messages').scrollTop = 0; return true;",
        vec![],
    )
    .await
    .unwrap();
    type_and_send(&alice, "Something new").await;
    wait_for_text(&bob, "#live", "Something new").await;
    let state = bob
        .execute(
            "return { top: document.getElementById('messages').scrollTop, \
                      hidden: document.getElementById('jump-new').hidden };",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        state["hidden"],
        json!(false),
        "the jump is offered: {state}"
    );
    assert!(
        state["top"].as_f64().unwrap() < 5.0,
        "not pulled down: {state}"
    );

    // Loading earlier keeps the first message he saw where it was, and the
    // day is still named once.
    let before = count("#messages .message").await;
    bob.execute(
        "const first = document.querySelector('#messages .message'); window.anchorId = first.id; \
         window.anchorTop = first.getBoundingClientRect().top; return true;",
        vec![],
    )
    .await
    .unwrap();
    click(&bob, "#messages .load-earlier").await;
    wait_until("earlier messages", || async {
        count("#messages .message").await > before
    })
    .await;
    let moved = bob
        .execute(
            "return document.getElementById(window.anchorId).getBoundingClientRect().top - window.anchorTop;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        moved.as_f64().unwrap().abs() < 2.0,
        "the place is kept: moved {moved}px"
    );
    assert_eq!(
        count("#messages .day").await,
        1,
        "one separator for the day"
    );

    // The jump goes to the newest and the button goes away.
    click(&bob, "#jump-new").await;
    let after = bob
        .execute(
            "const m = document.getElementById('messages'); \
             return { gap: m.scrollHeight - m.scrollTop - m.clientHeight, \
                      hidden: document.getElementById('jump-new').hidden };",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        after["gap"].as_f64().unwrap() < 5.0,
        "at the newest: {after}"
    );
    assert_eq!(after["hidden"], json!(true));
    assert_no_console_errors(&bob, "scrolling and loading earlier").await;
    for client in [alice, bob] {
        let _ = client.close().await;
    }
}

/// Drops a text file named `name` onto the open conversation, as a person
/// dragging it there does.
async fn drop_text_file(client: &Client, name: &str, text: &str) {
    client
        .execute(
            "const [name, text] = arguments; const files = new DataTransfer(); \
             files.items.add(new File([text], name, { type: 'text/plain' })); \
             document.getElementById('messages').dispatchEvent( \
               new DragEvent('drop', { dataTransfer: files, bubbles: true, cancelable: true })); \
             return true;",
            vec![json!(name), json!(text)],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_file_dropped_or_pasted_into_a_conversation_goes_with_its_caption() {
    let Some(driver) = start_driver().await else {
        eprintln!("SKIPPED: Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        return;
    };
    let (_server, _base, alice, bob) = two_people(&driver).await;
    open_chat_with(&alice, "bob").await;
    open_chat_with(&bob, "alice").await;
    // Dropped on the conversation: a chip shows the file above the box.
    drop_text_file(&alice, "notes.txt", "Notes for the meeting").await;
    wait_for_text(&alice, "#attachment-chip", "notes.txt").await;
    assert_eq!(
        text_of(&alice, "#attachment-chip .chip-size").await,
        "1 KiB"
    );
    type_and_send(&alice, "Here are the notes").await;
    wait_for_text(&bob, "#messages", "notes.txt").await;
    wait_for_text(&bob, "#messages", "Here are the notes").await;
    wait_until("the chip gone and the box empty", || async {
        text_of(&alice, "#attachment-chip").await.is_empty() && draft_of(&alice).await == json!("")
    })
    .await;
    // Pasted into the box: the same, with no caption at all.
    alice
        .execute(
            "const files = new DataTransfer(); \
             files.items.add(new File(['a,b'], 'table.csv', { type: 'text/csv' })); \
             document.getElementById('body').dispatchEvent( \
               new ClipboardEvent('paste', { clipboardData: files, bubbles: true, cancelable: true })); \
             return true;",
            vec![],
        )
        .await
        .unwrap();
    wait_for_text(&alice, "#attachment-chip", "table.csv").await;
    click(&alice, "#composer button[type=submit]").await;
    wait_for_text(&bob, "#messages", "table.csv").await;
    let bubble = text_of(&bob, "#messages .message:last-of-type").await;
    assert_eq!(
        bubble.matches("table.csv").count(),
        1,
        "the name once: {bubble}"
    );
    // An image keeps a reader who follows the conversation at the newest
    // message: its space is known before it loads.
    alice
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             const canvas = document.createElement('canvas'); canvas.width = 800; canvas.height = 600; \
             canvas.toBlob((blob) => { \
               const files = new DataTransfer(); \
               files.items.add(new File([blob], 'view.png', { type: 'image/png' })); \
               document.getElementById('messages').dispatchEvent( \
                 new DragEvent('drop', { dataTransfer: files, bubbles: true, cancelable: true })); \
               done(true); }, 'image/png');",
            vec![],
        )
        .await
        .unwrap();
    wait_for_text(&alice, "#attachment-chip", "view.png").await;
    click(&alice, "#composer button[type=submit]").await;
    wait_until("the image shown and loaded at bob's", || async {
        bob.execute(
            "const img = document.querySelector('#messages img[alt=\"view.png\"]'); \
             return !!img && img.complete && img.naturalWidth > 0;",
            vec![],
        )
        .await
        .is_ok_and(|v| v == json!(true))
    })
    .await;
    let gap = bob
        .execute(
            "const m = document.getElementById('messages'); \
             return m.scrollHeight - m.scrollTop - m.clientHeight;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        gap.as_f64().unwrap() < 5.0,
        "still at the newest after the image: {gap}"
    );
    assert_no_console_errors(&alice, "sending files").await;
    assert_no_console_errors(&bob, "receiving files").await;
    for client in [alice, bob] {
        let _ = client.close().await;
    }
}

/// What the time element of the last bubble of this kind says, and the UTC
/// moment it stands for.
async fn last_bubble_time(client: &Client, side: &str) -> (String, time::OffsetDateTime) {
    let found = client
        .execute(
            &format!(
                "const t = [...document.querySelectorAll('#messages article.{side} time')].pop(); \
                 return [t.textContent, t.getAttribute('datetime')];"
            ),
            vec![],
        )
        .await
        .unwrap();
    let at = time::OffsetDateTime::parse(
        found[1].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    (found[0].as_str().unwrap().to_owned(), at)
}

#[tokio::test]
async fn the_account_page_names_this_browser_a_chosen_zone_moves_every_time_and_leaving_asks_first()
{
    let Some(driver) = start_driver().await else {
        eprintln!("SKIPPED: Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        return;
    };
    let (_server, base, alice, bob) = two_people(&driver).await;
    open_chat_with(&alice, "bob").await;
    let conversation = path_of(&alice).await;
    type_and_send(&alice, "What time is it?").await;
    wait_for_text(&alice, "#messages", "What time is it?").await;

    // The account page, reached from the top bar, names this browser.
    click(&alice, r#"nav.account a[href="/account"]"#).await;
    wait_until("the account page", || async {
        path_of(&alice).await == "/account"
    })
    .await;
    let sessions = text_of(&alice, "ul.sessions").await;
    assert!(
        sessions.contains("Chrome (headless) on Linux (this browser) · last active"),
        "{sessions}"
    );
    assert!(
        !sessions.contains("Mozilla/"),
        "no raw user agent: {sessions}"
    );

    // Secret-conversation devices: the page's module registered this
    // browser (its signature key made and kept in the browser, the public
    // half sent); it is listed as this browser, with its key's fingerprint.
    wait_until("alice's device registered", || secret_device_ready(&alice)).await;
    let registered = alice
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const open = indexedDB.open('natter-secret', 1);
             open.onerror = () => done(String(open.error));
             open.onsuccess = () => {
               const key = `${document.body.dataset.me}:identity`;
               const get = open.result.transaction('kv').objectStore('kv').get(key);
               get.onsuccess = () => done({
                 device: get.result.device,
                 key: btoa(String.fromCharCode(...get.result.publicKey)),
               });
             };",
            vec![],
        )
        .await
        .unwrap();
    let key =
        base64ct::Base64::decode_vec(registered["key"].as_str().expect("a key")).expect("base64");
    let device = registered["device"].as_i64().expect("a device id");
    alice.refresh().await.unwrap();
    let listed = text_of(&alice, &format!("#device-{device}")).await;
    let fingerprint = natter::domain::Device {
        id: natter::domain::DeviceId::new(device),
        user_id: natter::domain::UserId::new(0),
        signature_key: key,
        created_at: time::OffsetDateTime::now_utc(),
    }
    .fingerprint();
    assert!(
        listed.contains(&format!("Device {device} (this browser)")),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("Key fingerprint {fingerprint}")),
        "{listed}"
    );
    assert_accessible(&alice, "the account page with a device").await;

    // Kathmandu is 5:45 ahead of UTC all year: every time moves by that.
    alice
        .find(Locator::Css("#zone"))
        .await
        .unwrap()
        .select_by_value("Asia/Kathmandu")
        .await
        .unwrap();
    click(&alice, r#"form[action="/account/time-zone"] button"#).await;
    wait_for_text(&alice, "main", "Times are shown in Asia/Kathmandu").await;
    alice.goto(&format!("{base}{conversation}")).await.unwrap();
    wait_for_text(&alice, "#messages", "What time is it?").await;
    let (shown, at) = last_bubble_time(&alice, "mine").await;
    let local = at.to_offset(time::UtcOffset::from_hms(5, 45, 0).unwrap());
    assert_eq!(
        shown,
        format!("{:02}:{:02}", local.hour(), local.minute()),
        "the bubble's time in the chosen zone ({at})"
    );
    let preview_time = text_of(&alice, "#inbox time.when").await;
    assert_eq!(preview_time, shown, "the inbox row's time too");

    // A group: its timeline notes who made it; leaving asks first.
    let group = create_group(&alice, "Hikers").await;
    bob.goto(&format!("{base}/")).await.unwrap();
    wait_for_text(&bob, "#inbox", "Hikers").await;
    assert_eq!(
        text_of(&bob, "#inbox > li:first-child .preview").await,
        "alice created the group"
    );
    click(&bob, &format!(r#"#inbox a[href="{group}"]"#)).await;
    wait_for_text(&bob, "#messages .note", "alice created the group").await;
    click(&bob, "details.group-panel summary").await;
    click(&bob, "a.leave").await;
    wait_for_text(&bob, "main", "Leave Hikers?").await;
    click(&bob, "main a[autofocus]").await; // "Stay in the group"
    wait_until("back in the group", || async {
        path_of(&bob).await == group
    })
    .await;
    click(&bob, "details.group-panel summary").await;
    click(&bob, "a.leave").await;
    wait_for_text(&bob, "main", "Leave Hikers?").await;
    click(&bob, "main button.danger").await;
    wait_until("the inbox, without the group", || async {
        path_of(&bob).await == "/" && !text_of(&bob, "#inbox").await.contains("Hikers")
    })
    .await;
    wait_for_text(&alice, "#live .note", "bob left").await;
    wait_for_text(&alice, "#chat-heading", "1 member: alice").await;
    assert_accessible(&alice, "a group with notes").await;
    assert_no_console_errors(&alice, "settings and groups").await;
    assert_no_console_errors(&bob, "leaving a group").await;
    for client in [alice, bob] {
        let _ = client.close().await;
    }
}

/// The id of the newest bubble on the page.
async fn newest_bubble(client: &Client) -> String {
    client
        .execute(
            "const b = [...document.querySelectorAll('#messages article.message')]; return b[b.length - 1].id;",
            vec![],
        )
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn messages_are_edited_reacted_to_answered_mentioned_and_deleted_in_the_browser() {
    let Some(driver) = start_driver().await else {
        eprintln!("SKIPPED: Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        return;
    };
    let (_server, _base, alice, bob) = two_people(&driver).await;
    open_chat_with(&alice, "bob").await;
    open_chat_with(&bob, "alice").await;
    type_and_send(&alice, "helo wrold").await;
    wait_for_text(&bob, "#messages", "helo wrold").await;
    let original = newest_bubble(&alice).await;

    // A bubble redrawn while its menu is on its way (as a live reaction or
    // edit redraws it) still opens the menu, in the bubble on the page.
    // (The menu opened and closed once first: the bubble is settled.)
    click(&alice, &format!("#{original} a.more")).await;
    find_when_there(&alice, &format!("#{original} .menu")).await;
    let replaced = alice
        .execute(
            "const b = document.getElementById(arguments[0]);
             b.querySelector('.menu-slot').replaceChildren();
             b.querySelector('a.more').click();
             const fresh = b.cloneNode(true);
             document.getElementById('changes').append(fresh);
             htmx.process(fresh);
             document.dispatchEvent(new CustomEvent('htmx:wsAfterMessage', { detail: { message: '' } }));
             return document.getElementById(arguments[0]) === fresh;",
            vec![json!(original)],
        )
        .await
        .unwrap();
    assert_eq!(
        replaced,
        json!(true),
        "the fresh copy took the bubble's place"
    );
    find_when_there(&alice, &format!("#{original} .menu a[href$='/edit']")).await;
    alice
        .execute(
            "document.querySelector(`#${arguments[0]} .menu-slot`).replaceChildren(); return true;",
            vec![json!(original)],
        )
        .await
        .unwrap();

    // Edit, with the mouse: "⋯", "Edit", the text, "Save".
    click(&alice, &format!("#{original} a.more")).await;
    click(&alice, &format!("#{original} .menu a[href$='/edit']")).await;
    let field = find_when_there(&alice, &format!("#{original} textarea")).await;
    field.clear().await.unwrap();
    field.send_keys("hello world").await.unwrap();
    click(&alice, &format!("#{original} button[type=submit]")).await;
    wait_for_text(&alice, &format!("#{original} .body"), "hello world").await;
    wait_for_text(&bob, &format!("#{original} .body"), "hello world").await;
    assert!(text_of(&bob, &format!("#{original} .meta"))
        .await
        .contains("edited"));
    assert!(!text_of(&bob, "#messages").await.contains("helo wrold"));

    // React, with the keyboard: focus "⋯", Enter, Tab to 👍, Enter.
    bob.execute(
        &format!("document.querySelector('#{original} a.more').focus(); return true;"),
        vec![],
    )
    .await
    .unwrap();
    press(&bob, '\u{E007}').await;
    wait_until("the menu open", || async {
        bob.execute(
            &format!("return !!document.querySelector('#{original} .menu button');"),
            vec![],
        )
        .await
        .is_ok_and(|v| v == json!(true))
    })
    .await;
    bob.execute(
        &format!("document.querySelector('#{original} .menu button[value=\"👍\"]').focus(); return true;"),
        vec![],
    )
    .await
    .unwrap();
    press(&bob, '\u{E007}').await;
    wait_for_text(&alice, &format!("#{original} .reactions"), "1").await;
    wait_for_text(&bob, &format!("#{original} .reactions"), "1").await;
    let who = alice
        .find(Locator::Css(&format!("#{original} .reaction")))
        .await
        .unwrap()
        .attr("title")
        .await
        .unwrap();
    assert_eq!(who.as_deref(), Some("bob"), "who reacted, on hover");
    // Alice adds hers by pressing the chip.
    click(&alice, &format!("#{original} .reaction")).await;
    wait_for_text(&bob, &format!("#{original} .reactions"), "2").await;
    // Tabbing onto the chip shows who reacted, as hovering does.
    bob.execute(
        &format!("document.querySelector('#{original} a.more').focus(); return true;"),
        vec![],
    )
    .await
    .unwrap();
    press(&bob, '\u{E004}').await; // Tab
    wait_until("the names beside the focused chip", || async {
        bob.execute(
            &format!(
                "const w = document.querySelector('#{original} .who-reacted'); \
                 return [getComputedStyle(w).display, w.textContent];"
            ),
            vec![],
        )
        .await
        .ok()
            == Some(json!(["block", "alice, bob"]))
    })
    .await;

    // Reply: "Reply" in the menu sets the composer; the answer quotes it.
    click(&bob, &format!("#{original} a.more")).await;
    click(&bob, &format!("#{original} .menu a.reply-link")).await;
    wait_for_text(&bob, "#reply-chip", "Replying to alice").await;
    // "×" takes it back; "Reply" again sets it.
    click(&bob, "#reply-chip .chip-remove").await;
    assert_eq!(
        bob.execute(
            "return [document.getElementById('reply-chip').hidden, document.getElementById('reply-to').value];",
            vec![],
        )
        .await
        .unwrap(),
        json!([true, ""])
    );
    click(&bob, &format!("#{original} a.more")).await;
    click(&bob, &format!("#{original} .menu a.reply-link")).await;
    wait_for_text(&bob, "#reply-chip", "Replying to alice").await;
    assert!(text_of(&bob, "#reply-chip").await.contains("hello world"));
    fill(&bob, "#body", "Sure, hello").await;
    press(&bob, '\u{E007}').await;
    wait_for_text(&alice, "#messages .quote", "hello world").await;
    assert!(
        bob.execute(
            "return document.getElementById('reply-chip').hidden;",
            vec![]
        )
        .await
        .unwrap()
            == json!(true),
        "the chip goes once the answer is sent"
    );
    let reply = newest_bubble(&alice).await;
    click(&alice, &format!("#{reply} a.quote")).await;
    wait_until("the original flashes", || async {
        alice
            .execute(
                &format!(
                    "return document.getElementById('{original}').classList.contains('flash');"
                ),
                vec![],
            )
            .await
            .is_ok_and(|v| v == json!(true))
    })
    .await;

    // A reply can carry a file: it quotes the original, and the chip goes.
    click(&bob, &format!("#{original} a.more")).await;
    click(&bob, &format!("#{original} .menu a.reply-link")).await;
    wait_for_text(&bob, "#reply-chip", "Replying to alice").await;
    drop_text_file(&bob, "agenda.txt", "agenda").await;
    wait_for_text(&bob, "#attachment-chip", "agenda.txt").await;
    type_and_send(&bob, "The agenda").await;
    wait_for_text(&alice, "#messages", "agenda.txt").await;
    let with_file = newest_bubble(&alice).await;
    wait_for_text(&alice, &format!("#{with_file} .quote"), "hello world").await;
    wait_until("the reply chip gone after the upload", || async {
        bob.execute(
            "return [document.getElementById('reply-chip').hidden, \
                     document.getElementById('reply-to').value, \
                     document.getElementById('upload-reply-to').value];",
            vec![],
        )
        .await
        .is_ok_and(|v| v == json!([true, "", ""]))
    })
    .await;

    // What alice is doing with a bubble survives a change arriving for it:
    // her edit form keeps what she typed while bob takes his 👍 back...
    click(&alice, &format!("#{original} a.more")).await;
    click(&alice, &format!("#{original} .menu a[href$='/edit']")).await;
    let field = find_when_there(&alice, &format!("#{original} textarea")).await;
    field.clear().await.unwrap();
    field.send_keys("hello world again").await.unwrap();
    click(&bob, &format!("#{original} .reaction[aria-pressed=true]")).await;
    wait_for_text(&bob, &format!("#{original} .reactions"), "1").await;
    // (a later change, sent after the reaction, shows the page has had it)
    fill(&bob, "#body", "after the reaction").await;
    press(&bob, '\u{E007}').await;
    wait_for_text(&alice, "#messages", "after the reaction").await;
    assert_eq!(
        alice
            .execute(
                &format!("const t = document.querySelector('#{original} textarea'); return t && t.value;"),
                vec![],
            )
            .await
            .unwrap(),
        json!("hello world again"),
        "the edit form and its text stay"
    );
    click(&alice, &format!("#{original} .edit-buttons a")).await;
    wait_for_text(&alice, &format!("#{original} .reactions"), "1").await;
    assert_eq!(
        text_of(&alice, &format!("#{original} .body")).await,
        "hello world"
    );
    // ...and so does an open menu.
    click(&alice, &format!("#{original} a.more")).await;
    find_when_there(&alice, &format!("#{original} .menu a.reply-link")).await;
    click(&bob, &format!("#{original} .reaction")).await;
    wait_for_text(&alice, &format!("#{original} .reactions"), "2").await;
    assert!(
        alice
            .execute(
                &format!("return !!document.querySelector('#{original} .menu a.reply-link');"),
                vec![],
            )
            .await
            .unwrap()
            == json!(true),
        "the menu stays open"
    );
    alice
        .execute(
            &format!(
                "document.querySelector('#{original} .menu-slot').replaceChildren(); return true;"
            ),
            vec![],
        )
        .await
        .unwrap();

    // Mention: "@al" offers alice; picking her writes the name.
    fill(&bob, "#body", "@al").await;
    wait_for_text(&bob, "#mention-list", "@alice").await;
    click(&bob, "#mention-list button[data-mention='alice']").await;
    let draft = draft_of(&bob).await;
    assert_eq!(draft, json!("@alice "), "the name, written");
    fill(&bob, "#body", "are you there?").await;
    press(&bob, '\u{E007}').await;
    wait_for_text(&alice, "#messages .mention-me", "@alice").await;
    assert_accessible(
        &alice,
        "a conversation with reactions, a reply and a mention",
    )
    .await;

    // Delete: "⋯", "Delete", the question, "Delete".
    click(&alice, &format!("#{original} a.more")).await;
    click(&alice, &format!("#{original} .menu a[href$='/delete']")).await;
    wait_for_text(
        &alice,
        &format!("#{original}"),
        "Delete this message for everyone?",
    )
    .await;
    click(&alice, &format!("#{original} form.delete button")).await;
    wait_for_text(&bob, &format!("#{original}"), "This message was deleted").await;
    wait_for_text(&alice, &format!("#{original}"), "This message was deleted").await;
    assert!(!text_of(&bob, "#messages").await.contains("👍"));
    bob.refresh().await.unwrap();
    wait_for_text(&bob, "#messages .quote", "This message was deleted").await;
    screenshot(&alice, "message-actions").await;
    assert_no_console_errors(&alice, "acting on messages").await;
    assert_no_console_errors(&bob, "acting on messages").await;
    for client in [alice, bob] {
        let _ = client.close().await;
    }
}

/// Lets this browser notify, and records every notification its pages
/// raise (into `window.shownNotifications`) while still raising it.
async fn record_notifications(client: &Client) {
    for (cmd, params) in [
        (
            "Browser.grantPermissions",
            json!({"permissions": ["notifications"]}),
        ),
        (
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": "window.shownNotifications = []; window.permissionAsked = 0; \
                const Real = window.Notification; \
                window.Notification = class extends Real { constructor(title, options) { \
                super(title, options); window.shownNotifications.push({ title, body: options.body }); \
                window.notificationTags = (window.notificationTags || []).concat([options.tag]); } \
                static requestPermission() { window.permissionAsked += 1; return Real.requestPermission(); } };"}),
        ),
    ] {
        client
            .issue_cmd(ChromeCommand {
                path: "goog/cdp/execute",
                body: json!({"cmd": cmd, "params": params}),
            })
            .await
            .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    }
}

#[tokio::test]
async fn news_in_a_conversation_out_of_view_raises_a_notification_unless_it_is_muted() {
    let Some(driver) = start_driver().await else {
        eprintln!("SKIPPED: Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        return;
    };
    let (_server, base, alice, bob) = two_people(&driver).await;
    record_notifications(&bob).await;
    // A group of the two, and bob reading his conversation with alice.
    let group = create_group(&alice, "Hikers").await;
    open_chat_with(&bob, "alice").await;
    wait_for_text(&bob, "#inbox", "Hikers").await;
    // Turned on by a press (the permission is never asked on its own).
    let shown = "return window.shownNotifications;";
    let asked = "return window.permissionAsked;";
    assert_eq!(bob.execute(shown, vec![]).await.unwrap(), json!([]));
    assert_eq!(
        bob.execute(asked, vec![]).await.unwrap(),
        json!(0),
        "no permission asked on loading a page"
    );
    click(&bob, "#notify-toggle").await;
    wait_for_text(&bob, "#notify-toggle", "Turn off notifications").await;
    assert_eq!(bob.execute(asked, vec![]).await.unwrap(), json!(1));
    click(&bob, "#sound-toggle").await;
    wait_for_text(&bob, "#sound-toggle", "Sound on").await;

    type_and_send(&alice, "Summit at 9").await;
    wait_until("a notification for the group", || async {
        bob.execute(shown, vec![]).await.ok()
            == Some(json!([{"title": "Hikers", "body": "alice: Summit at 9"}]))
    })
    .await;
    wait_until("the count in the title", || async {
        bob.title().await.is_ok_and(|t| t.starts_with("(1) "))
    })
    .await;

    // The open conversation, its tab hidden: that notifies too, with the
    // message's first line, tagged as the server's push of it would be
    // (so a hidden tab and a push show it once).
    let chat_tab = bob.window().await.unwrap();
    let other_tab = bob.new_window(true).await.unwrap().handle;
    bob.switch_to_window(other_tab).await.unwrap();
    open_chat_with(&alice, "bob").await;
    fill(&alice, "#body", "Lunch?").await;
    fill(
        &alice,
        "#body",
        &format!("{SHIFT}{ENTER}{NO_MODIFIER}At noon"),
    )
    .await;
    fill(&alice, "#body", ENTER).await;
    // (the hidden page cannot be asked; it has a moment to get the message
    // and its new inbox row)
    wait_for_text(&alice, "#messages", "At noon").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    bob.switch_to_window(chat_tab).await.unwrap();
    wait_until("a notification for the hidden conversation", || async {
        bob.execute(shown, vec![]).await.ok().is_some_and(|all| {
            all.as_array()
                .is_some_and(|all| all.contains(&json!({"title": "alice", "body": "Lunch?"})))
        })
    })
    .await;
    let tags = bob
        .execute("return window.notificationTags;", vec![])
        .await
        .unwrap();
    let tags: Vec<&str> = tags
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(tags.len(), 2, "{tags:?}");
    for tag in &tags {
        let mut parts = tag.splitn(3, '-');
        assert_eq!(parts.next(), Some("conversation"), "{tag}");
        assert!(
            parts.all(|n| n.parse::<u64>().is_ok()),
            "a tag per conversation and message: {tag}"
        );
    }
    bob.execute("window.shownNotifications = []; return true;", vec![])
        .await
        .unwrap();
    // In front again, nothing more from the conversation being read.
    type_and_send(&alice, "See you").await;
    wait_for_text(&bob, "#messages", "See you").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        bob.execute(shown, vec![]).await.unwrap(),
        json!([]),
        "nothing for the conversation in front"
    );

    // Muted from the group's header: news there no longer notifies.
    bob.goto(&format!("{base}{group}")).await.unwrap();
    click(&bob, "details.notify-settings summary").await;
    click(&bob, "details.notify-settings input[value=none]").await;
    click(&bob, "details.notify-settings button[type=submit]").await;
    // The radio is checked as soon as it is clicked; the bell's label is
    // rendered by the server, so it changes only once the mute is saved.
    wait_until("the mute saved", || async {
        bob.execute(
            "const label = document.querySelector('details.notify-settings summary .visually-hidden');
             return label ? label.textContent : '';",
            vec![],
        )
        .await
        .is_ok_and(|v| v.as_str().is_some_and(|t| t.contains("Nothing (muted)")))
    })
    .await;
    open_chat_with(&bob, "alice").await;
    wait_for_text(&bob, "#inbox li.muted", "Hikers").await;
    assert_accessible(&bob, "an inbox with a muted conversation").await;
    // Still turned on in this page: the silence is the mute's.
    wait_for_text(&bob, "#notify-toggle", "Turn off notifications").await;
    alice.goto(&format!("{base}{group}")).await.unwrap();
    type_and_send(&alice, "Bring water").await;
    wait_for_text(&bob, "#inbox li.muted .preview", "Bring water").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        bob.execute(shown, vec![]).await.unwrap(),
        json!([]),
        "nothing from a muted conversation (this page has raised none)"
    );
    assert_no_console_errors(&bob, "notifying").await;
    assert_no_console_errors(&alice, "writing to the group").await;
    for client in [alice, bob] {
        let _ = client.close().await;
    }
}

/// Runs a CDP command in this browser.
async fn cdp(client: &Client, cmd: &str, params: Value) -> Result<Value, String> {
    client
        .issue_cmd(ChromeCommand {
            path: "goog/cdp/execute",
            body: json!({"cmd": cmd, "params": params}),
        })
        .await
        .map_err(|e| format!("{cmd}: {e}"))
}

#[tokio::test]
async fn a_browser_subscribes_to_push_and_its_service_worker_shows_what_is_pushed() {
    let Some(driver) = start_driver().await else {
        eprintln!("SKIPPED: Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        return;
    };
    let service = common::push_service::PushService::start().await;
    let device = service.device("bobs-chromium");
    let server = Server::start_with(tempfile::tempdir().unwrap(), |f| {
        f.merge(("push_local_endpoints", true))
    })
    .await;
    let base = server.origin();
    let alice = driver.browser("alice", true).await;
    let bob = driver.browser("bob", true).await;
    sign_up(&alice, &base, "alice").await;
    sign_up(&bob, &base, "bob").await;
    record_notifications(&bob).await;
    // A headless browser reaches no real push service: its push manager
    // hands out a subscription to the test's own, keys and all.
    let subscription = json!({
        "endpoint": device.endpoint,
        "keys": {"p256dh": device.p256dh, "auth": device.auth},
    });
    let fake = format!(
        "const subscription = {subscription}; \
         const fake = {{ endpoint: subscription.endpoint, toJSON: () => subscription, \
           unsubscribe: async () => {{ localStorage.removeItem('fake-push'); return true; }} }}; \
         PushManager.prototype.subscribe = async function (options) {{ \
           if (!(options.applicationServerKey instanceof Uint8Array) || options.applicationServerKey.length !== 65) \
             throw new Error('not a P-256 key'); \
           localStorage.setItem('fake-push', 'on'); return fake; }}; \
         PushManager.prototype.getSubscription = async function () {{ \
           return localStorage.getItem('fake-push') ? fake : null; }};"
    );
    cdp(
        &bob,
        "Page.addScriptToEvaluateOnNewDocument",
        json!({ "source": fake }),
    )
    .await
    .unwrap();
    bob.refresh().await.unwrap();
    click(&bob, "#notify-toggle").await;
    wait_for_text(&bob, "#notify-toggle", "Turn off notifications").await;
    let worker_running = "const done = arguments[arguments.length - 1]; \
        navigator.serviceWorker.getRegistration().then((r) => \
          done(!!r && !!r.active && r.active.scriptURL.endsWith('/sw.js'))).catch(() => done(false));";
    wait_until("the service worker running", || async {
        bob.execute_async(worker_running, vec![])
            .await
            .is_ok_and(|v| v == json!(true))
    })
    .await;
    // Once the server has stored the subscription (the page notes that it
    // did; leaving before would cancel the request, and the next page
    // would send it again), the account page names this browser as pushed.
    wait_until("the subscription stored", || async {
        bob.execute(
            "return localStorage.getItem('natter-pushed') !== null;",
            vec![],
        )
        .await
        .is_ok_and(|v| v == json!(true))
    })
    .await;
    bob.goto(&format!("{base}/account")).await.unwrap();
    wait_for_text(&bob, "ul.pushed", "(this browser)").await;

    // Bob leaves Natter; alice writes: his browser is pushed.
    bob.goto("about:blank").await.unwrap();
    let id = {
        open_chat_with(&alice, "bob").await;
        path_of(&alice).await
    };
    type_and_send(&alice, "Are you coming tonight?").await;
    let pushed = service.wait_for(&device, 1).await;
    let payload = device.open(&pushed[0]);
    assert_eq!(payload["body"], "Are you coming tonight?");
    assert_eq!(payload["url"], id);

    // What the push service delivers, the service worker shows.
    bob.goto(&format!("{base}/")).await.unwrap();
    let enabled = cdp(&bob, "ServiceWorker.enable", json!({})).await;
    assert!(enabled.is_ok(), "{enabled:?}");
    let shown = "const done = arguments[arguments.length - 1]; \
        setTimeout(() => done('no answer'), 2000); \
        navigator.serviceWorker.ready.then((r) => r.getNotifications()).then((all) => \
          done(all.map((n) => [n.title, n.body, n.tag]))).catch((e) => done(String(e)));";
    let expected = json!([[
        "alice",
        "Are you coming tonight?",
        payload["tag"].as_str().unwrap()
    ]]);
    let mut last = Value::Null;
    for _ in 0..20 {
        // (delivered again until the worker has started: the same tag
        // replaces the notification, so it is shown once)
        let delivered = cdp(
            &bob,
            "ServiceWorker.deliverPushMessage",
            json!({"origin": base, "registrationId": "0", "data": payload.to_string()}),
        )
        .await;
        assert!(delivered.is_ok(), "{delivered:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        last = bob.execute_async(shown, vec![]).await.unwrap_or_default();
        if last == expected {
            break;
        }
    }
    assert_eq!(last, expected, "the service worker's notification");

    // Turned off: the server forgets this browser.
    click(&bob, "#notify-toggle").await;
    wait_for_text(&bob, "#notify-toggle", "Turn on notifications").await;
    // (the page notes when the server has forgotten it; leaving before
    // would cancel that request)
    wait_until("the subscription removed", || async {
        bob.execute(
            "return localStorage.getItem('natter-pushed') === null;",
            vec![],
        )
        .await
        .is_ok_and(|v| v == json!(true))
    })
    .await;
    bob.goto(&format!("{base}/account")).await.unwrap();
    wait_for_text(
        &bob,
        "#push-title + p",
        "No browser gets push notifications",
    )
    .await;
    assert_no_console_errors(&bob, "subscribing to push").await;
    assert_no_console_errors(&alice, "writing").await;
    for client in [alice, bob] {
        let _ = client.close().await;
    }
}

#[tokio::test]
async fn an_administrator_deactivates_an_account_and_makes_an_invitation_in_the_browser() {
    let Some(driver) = start_driver().await else {
        eprintln!("SKIPPED: Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        return;
    };
    let (_server, base, alice, bob) = two_people(&driver).await;
    // Alice, the first account, finds the admin page in the header.
    click(&alice, "nav.account a[href='/admin']").await;
    wait_for_text(&alice, "h1", "Administration").await;
    click(&alice, "button[aria-label='Deactivate bob']").await;
    wait_for_text(&alice, "p.notice", "bob is deactivated").await;
    wait_for_text(&alice, "table.accounts", "deactivated").await;
    // Bob's next page is the login form, which tells him why.
    bob.goto(&format!("{base}/")).await.unwrap();
    wait_until("bob at the login form", || async {
        path_of(&bob).await == "/login"
    })
    .await;
    fill(&bob, "#username", "bob").await;
    fill(&bob, "#password", common::PASSWORD).await;
    click(&bob, "form button[type=submit]").await;
    wait_for_text(&bob, "#form-error", "deactivated").await;
    // An invitation link, shown once, ready to copy.
    click(&alice, "input[value='invite']").await;
    click(&alice, "form[action='/admin/registration'] button").await;
    wait_for_text(&alice, "p.notice", "Only people with an invitation link").await;
    let uses = find_when_there(&alice, "#invite-uses").await;
    uses.clear().await.unwrap();
    uses.send_keys("3").await.unwrap();
    click(&alice, ".invite-form button").await;
    let link = find_when_there(&alice, "#new-invite")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(link.starts_with("/signup?invite="), "{link}");
    wait_for_text(&alice, ".invites", "3 left").await;
    assert_accessible(&alice, "the admin page with a new invitation").await;
    screenshot(&alice, "admin").await;
    // Someone new: without the link the sign-up page says what is needed;
    // through it, they sign up and chat.
    let carol = driver.browser("carol", true).await;
    carol.goto(&format!("{base}/signup")).await.unwrap();
    wait_for_text(&carol, "main", "Signing up here needs an invitation link").await;
    assert_accessible(&carol, "the sign-up page of an invitation-only server").await;
    carol.goto(&format!("{base}{link}")).await.unwrap();
    fill(&carol, "#username", "carol").await;
    fill(&carol, "#password", common::PASSWORD).await;
    fill(&carol, "#confirmation", common::PASSWORD).await;
    click(&carol, "form button[type=submit]").await;
    wait_until("carol signed up through the link", || async {
        path_of(&carol).await == "/"
    })
    .await;
    alice.refresh().await.unwrap();
    wait_for_text(&alice, ".invites", "2 left").await;
    assert_no_console_errors(&alice, "administering").await;
    assert_no_console_errors(&carol, "signing up through an invitation").await;
    // (the refused login answers 403, which the browser logs)
    only_errors_for_status(&bob, 403).await;
    for client in [alice, bob, carol] {
        let _ = client.close().await;
    }
}

#[tokio::test]
async fn a_profile_set_on_the_account_page_shows_live_in_the_directory_of_others() {
    let Some(driver) = start_driver().await else {
        eprintln!("SKIPPED: Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        return;
    };
    let (server, base, alice, bob) = two_people(&driver).await;
    go_to_people(&bob).await;
    // Bob's directory is open (its socket too) while alice edits her profile.
    tokio::time::sleep(Duration::from_millis(500)).await;
    alice.goto(&format!("{base}/account")).await.unwrap();
    fill(&alice, "#display_name", "Alice Liddell").await;
    fill(&alice, "#status", "Down the rabbit hole").await;
    click(&alice, "form[action='/account/profile'] button").await;
    wait_for_text(&alice, ".profile-preview", "Alice Liddell").await;
    let picture = server.dir.path().join("me.png");
    // A sunset of a picture: warm at the top, cool at the bottom.
    let sunset = image::RgbImage::from_fn(120, 80, |_, y| {
        let t = y as f32 / 79.0;
        image::Rgb([
            (240.0 - 180.0 * t) as u8,
            (150.0 - 60.0 * t) as u8,
            (60.0 + 150.0 * t) as u8,
        ])
    });
    sunset.save(&picture).expect("a picture to upload");
    find_when_there(&alice, "#avatar")
        .await
        .send_keys(&picture.to_string_lossy())
        .await
        .expect("file chosen");
    click(&alice, "form[action='/account/avatar'] button").await;
    wait_until("the picture on the account page", || async {
        alice
            .execute(
                "const img = document.querySelector('.profile-preview img'); \
                 return !!img && img.complete && img.naturalWidth === 256;",
                vec![],
            )
            .await
            .is_ok_and(|v| v == json!(true))
    })
    .await;
    assert_accessible(&alice, "the account page with a profile").await;
    screenshot(&alice, "account-profile").await;

    // Bob's directory followed without a reload: name beside username,
    // status, and the picture (loaded), through the page's socket.
    wait_for_text(&bob, "#contacts .name", "Alice Liddell @alice").await;
    wait_for_text(&bob, "#contacts .status", "Down the rabbit hole").await;
    wait_until("alice's picture in bob's directory", || async {
        bob.execute(
            "const img = document.querySelector('#contacts .avatar img'); \
             return !!img && img.complete && img.naturalWidth === 256;",
            vec![],
        )
        .await
        .is_ok_and(|v| v == json!(true))
    })
    .await;
    let live = bob
        .execute(
            "return document.getElementById('profile-sink').innerHTML !== '';",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(live, json!(true), "the change came over the socket");
    assert_accessible(&bob, "the directory with a profile").await;
    // The conversation's heading shows her the same way.
    open_chat_with(&bob, "alice").await;
    wait_for_text(&bob, ".chat-header h1", "Alice Liddell @alice").await;
    wait_for_text(&bob, ".chat-header .status", "Down the rabbit hole").await;
    assert_accessible(&bob, "a conversation with someone who has a profile").await;
    assert_no_console_errors(&alice, "editing a profile").await;
    assert_no_console_errors(&bob, "seeing a profile change").await;
    for client in [alice, bob] {
        let _ = client.close().await;
    }
}

#[tokio::test]
async fn a_search_typed_in_the_inbox_opens_the_message_in_its_conversation() {
    let Some(driver) = start_driver().await else {
        eprintln!("SKIPPED: Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        return;
    };
    let (_server, base, alice, bob) = two_people(&driver).await;
    open_chat_with(&alice, "bob").await;
    for text in [
        "Lunch at the café on Friday?",
        "The address is 12 Rue des Fleurs",
        "See you there",
    ] {
        type_and_send(&alice, text).await;
        wait_for_text(&alice, "#messages", text).await;
    }
    // Bob types in his inbox's box: the messages found appear as he types
    // (a prefix, diacritics folded), with the words marked.
    bob.goto(&format!("{base}/")).await.unwrap();
    wait_for_text(&bob, "#inbox", "alice").await;
    fill(&bob, "#filter", "cafe fri").await;
    wait_for_text(
        &bob,
        "#message-results .hit",
        "Lunch at the café on Friday?",
    )
    .await;
    let marked = bob
        .execute(
            "return [...document.querySelectorAll('#message-results mark')].map((m) => m.textContent);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(marked, json!(["café", "Friday"]));
    assert_accessible(&bob, "the inbox with messages found").await;
    // A result opens the conversation at that message, marked, with the
    // socket delivering what comes next below it.
    click(&bob, "#message-results .hit a").await;
    wait_until("the conversation around the message", || async {
        bob.current_url()
            .await
            .is_ok_and(|url| url.as_str().contains("?around=") && url.fragment().is_some())
    })
    .await;
    let target = bob
        .execute(
            "const t = document.querySelector('#messages article:target'); \
             if (!t) return null; const box = t.getBoundingClientRect(); \
             const view = document.getElementById('messages').getBoundingClientRect(); \
             return [t.textContent.includes('Lunch at the café'), box.top >= view.top && box.bottom <= view.bottom, \
                     getComputedStyle(t).outlineStyle];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(target, json!([true, true, "solid"]), "marked and in view");
    // (sent before the socket is up, it comes with the catch-up instead)
    type_and_send(&alice, "Running late").await;
    wait_for_text(&bob, "#live", "Running late").await;

    // From the conversation's header: a search of this conversation, whose
    // results follow as the words change.
    click(&bob, "details.chat-search summary").await;
    fill(&bob, "#chat-search-q", "address").await;
    fill(&bob, "#chat-search-q", ENTER).await;
    wait_for_text(&bob, "#search-results", "The address is 12 Rue des Fleurs").await;
    assert!(path_of(&bob).await.starts_with("/search"));
    let search = find_when_there(&bob, "#search-q").await;
    search.clear().await.unwrap();
    fill(&bob, "#search-q", "see").await;
    wait_for_text(&bob, "#search-results", "See you there").await;
    wait_until("the old result gone", || async {
        !text_of(&bob, "#search-results")
            .await
            .contains("Rue des Fleurs")
    })
    .await;
    assert_accessible(&bob, "the search page").await;
    assert_no_console_errors(&bob, "searching").await;
    assert_no_console_errors(&alice, "writing").await;
    for client in [alice, bob] {
        let _ = client.close().await;
    }
}

/// Whether this browser's secret-conversation device is registered with
/// all the KeyPackages the server wants (the page's module does it).
async fn secret_device_ready(client: &Client) -> bool {
    client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch('/secret/devices/this')
               .then((r) => (r.ok ? r.json() : null))
               .then((d) => done(!!d && d.wanted === 0))
               .catch(() => done(false));",
            vec![],
        )
        .await
        .is_ok_and(|v| v == json!(true))
}

/// How many bubbles of the page say exactly `text`.
async fn bubbles_saying(client: &Client, text: &str) -> usize {
    client
        .execute(
            "return [...document.querySelectorAll('#messages .message .body')]
               .filter((p) => p.textContent === arguments[0]).length;",
            vec![json!(text)],
        )
        .await
        .ok()
        .and_then(|v| v.as_u64())
        .unwrap_or(0) as usize
}

#[tokio::test]
async fn a_secret_conversation_is_encrypted_in_the_browser_and_read_on_every_device_of_its_members()
{
    let Some(driver) = start_driver().await else {
        eprintln!("SKIPPED: Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)");
        return;
    };
    let (server, base, alice, bob) = two_people(&driver).await;
    // Bob's second device: another browser, logged in as him.
    let laptop = driver.browser("bob-laptop", true).await;
    log_in(&laptop, &base, "bob").await;
    for (who, client) in [("alice", &alice), ("bob", &bob), ("bob's laptop", &laptop)] {
        wait_until(&format!("{who}'s device registered"), || {
            secret_device_ready(client)
        })
        .await;
    }

    // Alice starts a secret group with bob from "New group".
    go_to_people(&alice).await;
    click(&alice, "details.new-group summary").await;
    fill(&alice, "#group-title", "Surprise party").await;
    click(&alice, "details.new-group input[name=members]").await;
    click(&alice, "details.new-group input[name=secret]").await;
    click(&alice, "details.new-group button[type=submit]").await;
    wait_until("the secret conversation opens", || async {
        path_of(&alice).await.starts_with("/conversations/")
    })
    .await;
    let path = path_of(&alice).await;
    let composer_ready = "return !document.getElementById('secret-fields').disabled;";
    wait_until("alice's composer enabled", || async {
        alice
            .execute(composer_ready, vec![])
            .await
            .is_ok_and(|v| v == json!(true))
    })
    .await;
    assert!(alice.find(Locator::Css(".chat-header .lock")).await.is_ok());

    type_and_send(&alice, "Cake at eight, don't tell Carol").await;
    wait_for_text(&alice, "#messages .message.mine", "Cake at eight").await;
    for client in [&bob, &laptop] {
        client.goto(&format!("{base}{path}")).await.unwrap();
        wait_for_text(client, "#messages .message.theirs", "Cake at eight").await;
        wait_until("bob's composer enabled", || async {
            client
                .execute(composer_ready, vec![])
                .await
                .is_ok_and(|v| v == json!(true))
        })
        .await;
    }
    // Both ways, live, to and from both of bob's devices.
    type_and_send(&laptop, "I'll bring candles").await;
    for client in [&alice, &bob, &laptop] {
        wait_for_text(client, "#messages", "I'll bring candles").await;
    }
    type_and_send(&bob, "Count me in").await;
    for client in [&alice, &bob, &laptop] {
        wait_for_text(client, "#messages", "Count me in").await;
    }

    // Files, both ways: each encrypted in the sender's browser with a key
    // of its own, stored as opaque bytes, decrypted by each reader's page.
    let picture = server.dir.path().join("cake.png");
    std::fs::write(&picture, common::png(40, 30)).unwrap();
    find_when_there(&alice, "#secret-file")
        .await
        .send_keys(&picture.to_string_lossy())
        .await
        .expect("file chosen");
    wait_for_text(&alice, "#secret-file-chosen", "cake.png").await;
    type_and_send(&alice, "The cake").await;
    let picture_shown = "const img = [...document.querySelectorAll('#messages .secret-file img')] \
         .find((i) => i.alt === 'cake.png'); return !!img && img.complete && img.naturalWidth;";
    for client in [&alice, &bob, &laptop] {
        wait_for_text(client, "#messages", "The cake").await;
        wait_until("the decrypted picture", || async {
            client
                .execute(picture_shown, vec![])
                .await
                .is_ok_and(|v| v == json!(40))
        })
        .await;
    }
    let list = server.dir.path().join("list.txt");
    std::fs::write(&list, "candles, balloons, a secret cake").unwrap();
    find_when_there(&bob, "#secret-file")
        .await
        .send_keys(&list.to_string_lossy())
        .await
        .expect("file chosen");
    wait_for_text(&bob, "#secret-file-chosen", "list.txt").await;
    click(&bob, "#secret-fields button[type=submit]").await;
    for client in [&alice, &bob, &laptop] {
        wait_for_text(
            client,
            "#messages .secret-file a[download='list.txt']",
            "list.txt",
        )
        .await;
    }
    // Downloading it gives the file as bob chose it.
    let downloads = server.dir.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    alice
        .issue_cmd(ChromeCommand {
            path: "goog/cdp/execute",
            body: json!({"cmd": "Page.setDownloadBehavior", "params": {
                "behavior": "allow", "downloadPath": downloads.to_string_lossy(),
            }}),
        })
        .await
        .expect("downloads allowed");
    click(&alice, "#messages .secret-file a[download='list.txt']").await;
    wait_until("the file downloaded", || async {
        std::fs::read_to_string(downloads.join("list.txt"))
            .is_ok_and(|text| text == "candles, balloons, a secret cake")
    })
    .await;
    // What the server keeps of them is ciphertext.
    let png_signature = b"\x89PNG";
    for entry in std::fs::read_dir(server.dir.path().join("media")).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes.starts_with(png_signature),
            "a picture stored in the clear"
        );
        assert!(
            !bytes.windows(7).any(|w| w == b"candles"),
            "a file stored in the clear"
        );
    }

    // A ciphertext changed on its way (one bit of the last message, handed
    // in again) shows as a message that cannot be decrypted; what follows
    // reads as before.
    let tampered = alice
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const conversation = document.querySelector('.secret-composer').dataset.conversation;
             const csrf = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token'];
             fetch(`/conversations/${conversation}/secret/messages?after=0`)
               .then((r) => r.json())
               .then((log) => {
                 const last = log.filter((r) => r.kind === 'application').pop();
                 const bytes = Uint8Array.from(atob(last.message), (c) => c.charCodeAt(0));
                 bytes[bytes.length - 1] ^= 1;
                 const message = btoa(String.fromCharCode(...bytes));
                 const body = new URLSearchParams({ csrf, message, client_id: 'tampered' });
                 return fetch(`/conversations/${conversation}/secret/messages`, { method: 'POST', body });
               })
               .then((r) => done(r.status))
               .catch((e) => done(String(e)));",
            vec![],
        )
        .await
        .expect("tampering runs");
    assert_eq!(tampered, json!(200), "the server cannot tell");
    wait_for_text(
        &bob,
        "#messages .secret-failed",
        "Couldn't decrypt this message",
    )
    .await;
    type_and_send(&alice, "Still on?").await;
    wait_for_text(&bob, "#messages", "Still on?").await;

    // Bob's laptop loses its socket; what was sent meanwhile arrives once
    // it is back, each message once.
    socket_away(&laptop).await;
    type_and_send(&alice, "Balloons: red").await;
    type_and_send(&alice, "Balloons: blue").await;
    wait_for_text(&alice, "#messages", "Balloons: blue").await;
    socket_back(&laptop).await;
    wait_for_text(&laptop, "#messages", "Balloons: blue").await;
    let texts = [
        "Balloons: red",
        "Balloons: blue",
        "Still on?",
        "Count me in",
    ];
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut counts = Vec::new();
        for text in texts {
            counts.push(bubbles_saying(&laptop, text).await);
        }
        if counts == [1, 1, 1, 1] {
            break;
        }
        if Instant::now() > deadline {
            let shown = laptop
                .execute(
                    "return [...document.querySelectorAll('#messages .message .body')] \
                       .map((p) => p.textContent);",
                    vec![],
                )
                .await
                .unwrap();
            panic!("each of {texts:?} once, not {counts:?}: {shown}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Safety numbers: alice's for bob is bob's for alice, on each of his
    // devices.
    let number = |client: &Client| {
        let client = client.clone();
        async move {
            let open = client
                .execute(
                    "return document.getElementById('safety-numbers').open;",
                    vec![],
                )
                .await
                .unwrap();
            if open != json!(true) {
                click(&client, "#safety-numbers summary").await;
            }
            wait_until("a safety number", || async {
                text_of(&client, "#safety-numbers .number")
                    .await
                    .chars()
                    .any(|c| c.is_ascii_digit())
            })
            .await;
            text_of(&client, "#safety-numbers .number").await
        }
    };
    let alice_for_bob = number(&alice).await;
    assert_eq!(alice_for_bob.split(' ').count(), 12, "{alice_for_bob}");
    assert_eq!(number(&bob).await, alice_for_bob);
    assert_eq!(number(&laptop).await, alice_for_bob);
    // Bob signs in on a phone: alice's open page adds its device to the
    // group by itself, says bob's keys changed, and the number they
    // compare is new.
    let phone = driver.browser("bob-phone", true).await;
    log_in(&phone, &base, "bob").await;
    wait_until("the phone's device registered", || {
        secret_device_ready(&phone)
    })
    .await;
    wait_for_text(&alice, "#key-change", "Safety numbers changed (bob:").await;
    type_and_send(&alice, "Hello, bob's phone").await;
    phone.goto(&format!("{base}{path}")).await.unwrap();
    wait_for_text(&phone, "#messages", "Hello, bob's phone").await;
    let renewed = number(&alice).await;
    assert_ne!(renewed, alice_for_bob);
    assert_eq!(number(&phone).await, renewed);
    wait_until(
        "the notice goes once the numbers were looked at",
        || async {
            alice
                .execute(
                    "return document.getElementById('key-change').hidden;",
                    vec![],
                )
                .await
                .is_ok_and(|v| v == json!(true))
        },
    )
    .await;

    // The inbox says a message came without saying what it was.
    wait_for_text(&bob, "#inbox .preview", "Encrypted message").await;
    let overflow = bob
        .execute(
            "const d = document.documentElement; return [d.scrollHeight, d.clientHeight, \
             [...document.querySelectorAll('body *')] \
               .filter((e) => e.getBoundingClientRect().bottom > d.clientHeight) \
               .map((e) => `${e.parentElement.parentElement.className} > ${e.parentElement.className} > ${e.className}: ${e.textContent}`)];",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow[0].as_f64() <= overflow[1].as_f64(),
        "the page itself does not scroll (what sticks out: {overflow})"
    );
    assert_accessible(&bob, "a secret conversation").await;
    screenshot(&bob, "secret").await;
    for (who, client) in [
        ("alice", &alice),
        ("bob", &bob),
        ("bob's laptop", &laptop),
        ("bob's phone", &phone),
    ] {
        assert_no_console_errors(client, &format!("in {who}'s secret conversation")).await;
    }

    // Without JavaScript the conversation says it needs it, and offers no
    // way to send text the server would see.
    let plain = driver.browser("bob-no-script", false).await;
    log_in(&plain, &base, "bob").await;
    plain.goto(&format!("{base}{path}")).await.unwrap();
    wait_for_text(&plain, "main.chat", "needs JavaScript").await;
    let disabled = plain
        .find(Locator::Css("#secret-fields"))
        .await
        .expect("the composer's fields")
        .attr("disabled")
        .await
        .expect("its attribute");
    assert!(disabled.is_some(), "the composer is disabled");

    common::assert_no_plaintext_stored(
        &server.dir,
        &[
            "Cake at eight",
            "bring candles",
            "Count me in",
            "Still on?",
            "Balloons: red",
            "Balloons: blue",
            "Hello, bob's phone",
        ],
    )
    .await;
    for client in [alice, bob, laptop, phone, plain] {
        client.close().await.unwrap();
    }
}
