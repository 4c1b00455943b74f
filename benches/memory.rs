//! Natter's memory benchmark: `cargo bench --bench memory -- [flags]`.
//!
//! Two loads used to balloon the server's memory: password hashing (argon2
//! takes 19 MiB a hash) and decoding large images. Each run starts the real
//! release binary on a fresh SQLite database and measures, from
//! `/proc/<pid>/status`:
//!
//! - logins: one account logs in `--logins` times (default 1,000) over real
//!   HTTP, eight at a time, each from an address of its own in 127.0.0.0/8
//!   with the account's known-device cookie (as many people's browsers would),
//!   so the login limits do not stop them; reported are the peak RSS while
//!   hashing, the RSS right after and the RSS two seconds later.
//! - uploads: five 24-megapixel PNGs (6000×4000) uploaded at once; reported is
//!   the peak RSS while they are decoded and re-encoded, above the RSS before.
//!
//! `--runs N` (default 3) repeats everything on a fresh server and prints the
//! median with the range, and the machine's load average while measuring.

use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Stdio;
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery staple";
const BOUNDARY: &str = "natter-bench-boundary";
const LOGIN_CONCURRENCY: usize = 8;
const UPLOADS: usize = 5;

fn main() {
    let mut logins = 1000;
    let mut runs = 3;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse().ok());
        match flag.as_str() {
            "--logins" => logins = value().unwrap_or(logins),
            "--runs" => runs = value().unwrap_or(runs),
            "--bench" => {}
            other => {
                eprintln!("unknown flag {other}; flags: --logins N --runs N");
                std::process::exit(2);
            }
        }
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut results = Vec::new();
    for run in 1..=runs {
        match runtime.block_on(measure(logins)) {
            Ok(result) => {
                println!("run {run}: {result:?}");
                results.push(result);
            }
            Err(e) => {
                eprintln!("run {run} failed: {e}");
                std::process::exit(1);
            }
        }
    }
    report(logins, &results);
}

#[derive(Debug, Clone, Copy)]
struct Run {
    /// RSS after start, before anything happened.
    start_mib: f64,
    /// Peak RSS while the logins ran.
    logins_peak_mib: f64,
    /// RSS right after the last login, and two seconds later.
    after_logins_mib: f64,
    settled_mib: f64,
    /// Peak RSS while the uploads ran, above the RSS just before them.
    uploads_peak_above_mib: f64,
    /// Load average (1 min) when the run ended.
    load: f64,
}

async fn measure(logins: usize) -> Result<Run, String> {
    let server = Server::start().await?;
    let start_mib = server.status_mib("VmRSS");
    let owner = client(None, None)?;
    let device = signup(&owner, &server.base, "owner").await?;
    signup(&client(None, None)?, &server.base, "peer").await?;

    server.reset_peak()?;
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..LOGIN_CONCURRENCY {
        let (base, device) = (server.base.clone(), device.clone());
        workers.push(tokio::spawn(async move {
            let mut n = worker;
            while n < logins {
                // 127.1.x.y: one address per login, all on the loopback.
                let address = Ipv4Addr::new(127, 1, (n / 250) as u8, (n % 250 + 1) as u8);
                let browser = client(Some(IpAddr::V4(address)), Some((&device, &base)))?;
                login(&browser, &base, "owner").await?;
                n += LOGIN_CONCURRENCY;
            }
            Ok::<(), String>(())
        }));
    }
    for worker in workers {
        worker.await.map_err(|e| e.to_string())??;
    }
    let logins_peak_mib = server.status_mib("VmHWM");
    let after_logins_mib = server.status_mib("VmRSS");
    eprintln!(
        "{logins} logins in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let settled_mib = server.status_mib("VmRSS");

    let dashboard = get_text(&owner, &server.base).await?;
    let token = hidden_field(&dashboard, "csrf").ok_or("no csrf on the dashboard")?;
    let conversation = owner
        .post(format!("{}/c/peer", server.base))
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let path = conversation.url().path().to_owned();
    let page = conversation.text().await.map_err(|e| e.to_string())?;
    let csrf = hidden_field(&page, "csrf").ok_or("no csrf on the conversation page")?;
    let photo = large_png();
    let before_uploads = server.status_mib("VmRSS");
    server.reset_peak()?;
    let mut uploads = Vec::new();
    for n in 0..UPLOADS {
        let body = multipart(&csrf, &format!("photo{n}"), &photo);
        let request = owner
            .post(format!("{}{path}/attachments", server.base))
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body);
        uploads.push(tokio::spawn(async move {
            let response = request.send().await.map_err(|e| e.to_string())?;
            match response.status().as_u16() {
                200 | 303 => Ok(()),
                status => Err(format!("an upload answered {status}")),
            }
        }));
    }
    for upload in uploads {
        upload.await.map_err(|e| e.to_string())??;
    }
    let uploads_peak_above_mib = server.status_mib("VmHWM") - before_uploads;
    Ok(Run {
        start_mib,
        logins_peak_mib,
        after_logins_mib,
        settled_mib,
        uploads_peak_above_mib,
        load: load_average(),
    })
}

fn report(logins: usize, runs: &[Run]) {
    let row = |name: &str, pick: fn(&Run) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(pick).collect();
        values.sort_by(f64::total_cmp);
        let median = values[values.len() / 2];
        let (low, high) = (values[0], values[values.len() - 1]);
        println!("| {name} | {median:.0} MiB | {low:.0}–{high:.0} MiB |");
    };
    println!(
        "\n{} runs, {logins} logins ({LOGIN_CONCURRENCY} at a time), {UPLOADS} uploads of 6000×4000 at once\n",
        runs.len()
    );
    println!("| measure | median | range |\n| --- | --- | --- |");
    row("RSS after start", |r| r.start_mib);
    row("peak RSS during the logins", |r| r.logins_peak_mib);
    row("RSS right after the logins", |r| r.after_logins_mib);
    row("RSS two seconds later", |r| r.settled_mib);
    row("peak RSS above the start of the uploads", |r| {
        r.uploads_peak_above_mib
    });
    let loads: Vec<String> = runs.iter().map(|r| format!("{:.2}", r.load)).collect();
    println!(
        "\nload average (1 min) at the end of each run: {}",
        loads.join(", ")
    );
}

// ---------------------------------------------------------------- the server

/// The release binary on a fresh SQLite database, killed when dropped.
struct Server {
    child: std::process::Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn start() -> Result<Server, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_natter"))
            .current_dir(dir.path())
            .env("ROCKET_PORT", port.to_string())
            .env("ROCKET_LOG_LEVEL", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(format!("{}/login", server.base))
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                return Err("the server did not start".into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(server)
    }

    /// A `/proc/<pid>/status` field (`VmRSS`, `VmHWM`), in MiB.
    fn status_mib(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        kib / 1024.0
    }

    /// Resets the peak RSS (`VmHWM`) to the current RSS.
    fn reset_peak(&self) -> Result<(), String> {
        std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5")
            .map_err(|e| format!("cannot reset the peak RSS: {e}"))
    }
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

// ---------------------------------------------------------------- browsers

/// A browser: its own cookie jar (holding `device`, a `name=value` cookie,
/// when given) and, when given, its own source address.
fn client(address: Option<IpAddr>, device: Option<(&str, &str)>) -> Result<Browser, String> {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    if let Some((cookie, base)) = device {
        let url = base.parse().map_err(|e| format!("{base}: {e}"))?;
        jar.add_cookie_str(&format!("{cookie}; Path=/"), &url);
    }
    let http = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .local_address(address)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(Browser { http, jar })
}

/// An HTTP client and its cookie jar.
struct Browser {
    http: reqwest::Client,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
}

impl std::ops::Deref for Browser {
    type Target = reqwest::Client;

    fn deref(&self) -> &reqwest::Client {
        &self.http
    }
}

fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker)? + marker.len();
    Some(html[start..start + html[start..].find('"')?].to_owned())
}

/// Signs up `name`; returns the device cookie (`name=value`) it was given.
async fn signup(client: &Browser, base: &str, name: &str) -> Result<String, String> {
    let page = get_text(client, &format!("{base}/signup")).await?;
    let csrf = hidden_field(&page, "csrf").ok_or("no csrf on the sign-up page")?;
    let response = client
        .post(format!("{base}/signup"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", name),
            ("password", PASSWORD),
            ("confirmation", PASSWORD),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("sign-up answered {}", response.status()));
    }
    use reqwest::cookie::CookieStore;
    let url = base.parse().map_err(|e| format!("{base}: {e}"))?;
    let cookies = client.jar.cookies(&url);
    let device = cookies
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .and_then(|all| all.split("; ").find(|c| c.starts_with("natter_device=")));
    device
        .map(str::to_owned)
        .ok_or_else(|| "sign-up set no device cookie".to_owned())
}

async fn get_text(client: &reqwest::Client, url: &str) -> Result<String, String> {
    client
        .get(url)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())
}

async fn login(client: &reqwest::Client, base: &str, name: &str) -> Result<(), String> {
    let page = get_text(client, &format!("{base}/login")).await?;
    let csrf = hidden_field(&page, "csrf").ok_or("no csrf on the login page")?;
    let response = client
        .post(format!("{base}/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", name),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let landed = response.url().path().to_owned();
    if !response.status().is_success() || landed == "/login" {
        return Err(format!(
            "a login answered {} at {landed}",
            response.status()
        ));
    }
    Ok(())
}

/// A 6000×4000 PNG: smooth gradients, so it stays under the upload limit
/// while decoding to 72 MB of pixels like a photo of that size.
fn large_png() -> Vec<u8> {
    let image = image::RgbImage::from_fn(6000, 4000, |x, y| {
        image::Rgb([(x / 24) as u8, (y / 16) as u8, 128])
    });
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode");
    out.into_inner()
}

fn multipart(csrf: &str, client_id: &str, png: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in [("csrf", csrf), ("client_id", client_id), ("caption", "")] {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.png\"\r\nContent-Type: image/png\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(png);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}
