//! One binary: the executable alone, in an empty folder, creates its database
//! and serves the whole app (migrations and static files are embedded).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn the_binary_alone_in_an_empty_folder_serves_the_whole_app() {
    // CI points this at the release build; `cargo test` alone uses its own build.
    let binary =
        std::env::var("NATTER_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_natter").to_owned());
    let folder = tempfile::tempdir().unwrap();
    let copy = folder.path().join("natter");
    std::fs::copy(&binary, &copy).unwrap();
    let port = free_port();
    let child = Command::new(&copy)
        .current_dir(folder.path())
        .env_clear()
        .env("ROCKET_PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _guard = KillOnDrop(child);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let login = loop {
        match http.get(format!("{base}/login")).send().await {
            Ok(response) => break response,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("the binary did not start serving: {e}"),
        }
    };
    assert_eq!(login.status(), 200);
    assert!(login.text().await.unwrap().contains("Log in"));
    for asset in [
        "/static/htmx.min.js",
        "/static/ws.js",
        "/static/app.css",
        "/static/app.js",
    ] {
        let response = http.get(format!("{base}{asset}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert!(!response.bytes().await.unwrap().is_empty(), "{asset}");
    }
    assert!(
        folder.path().join("natter.db").exists(),
        "database created beside the binary"
    );
    let url = format!("sqlite://{}", folder.path().join("natter.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(journal, "wal");
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&pool)
            .await
            .unwrap();
    for table in ["conversations", "members", "messages", "sessions", "users"] {
        assert!(tables.contains(&table.to_owned()), "{table} migrated");
    }
}
