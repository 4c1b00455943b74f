//! PostgreSQL over TLS: `sslmode` and `sslrootcert` in the database URL are
//! honoured. Against a private PostgreSQL that speaks only TLS, with a
//! certificate from a CA the test makes: `require` connects encrypted,
//! `verify-full` checks the certificate against the CA, and a plain server
//! is refused when the URL requires TLS. Needs PostgreSQL's binaries, root
//! and `openssl`; without them it says so and passes.

mod common;

use common::outages::PrivatePostgres;
use common::*;

/// Whether the pool's connection is encrypted, as the server sees it.
async fn encrypted(pool: &natter::store::Pool) -> bool {
    natter::on_pool!(pool, db => sqlx::query_scalar::<_, bool>(
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
    .fetch_one(db)
    .await
    .expect("asked"))
}

#[tokio::test]
async fn natter_reaches_postgresql_over_tls_and_checks_its_certificate_when_told() {
    let Some((server, ca)) = PrivatePostgres::start_with_tls() else {
        return;
    };
    let port = server
        .url()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let port = port.trim_end_matches("/postgres");
    // Encrypted, certificate not checked.
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=require");
    let pool = natter::store::Pool::connect(&url, 1)
        .await
        .expect("connects with TLS");
    assert!(encrypted(&pool).await);
    pool.migrate().await.expect("migrates over TLS");
    pool.close().await;
    // The certificate checked against the CA, for the name in the URL.
    let verified = format!(
        "postgres://postgres@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={}",
        ca.display()
    );
    let pool = natter::store::Pool::connect(&verified, 1)
        .await
        .expect("verifies");
    assert!(encrypted(&pool).await);
    pool.close().await;
    // Another CA's word is not enough.
    let elsewhere = tempfile::tempdir().unwrap();
    let other_ca = elsewhere.path().join("other.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=Other",
        ])
        .arg("-keyout")
        .arg(elsewhere.path().join("other.key"))
        .arg("-out")
        .arg(&other_ca)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(made);
    let wrong = format!(
        "postgres://postgres@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={}",
        other_ca.display()
    );
    assert!(natter::store::Pool::connect(&wrong, 1).await.is_err());
    // Without TLS this server lets nobody in over TCP.
    let plain = format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable");
    assert!(natter::store::Pool::connect(&plain, 1).await.is_err());
    // The whole app over TLS: pages work.
    let server_url = url.clone();
    let app = Server::start_with(tempfile::tempdir().unwrap(), move |f| {
        f.merge(("databases.natter.url", server_url))
    })
    .await;
    let alice = app.browser();
    alice.signup("alice").await;
    assert_eq!(alice.get("/readyz").await.status(), 200);
}

#[tokio::test]
async fn a_url_that_requires_tls_is_refused_by_a_server_without_it() {
    let Some(server) = PrivatePostgres::start() else {
        return;
    };
    let url = format!("{}?sslmode=require", server.url());
    let refused = natter::store::Pool::connect(&url, 1).await;
    assert!(refused.is_err(), "connected without TLS");
    // The same server, plainly: fine.
    let pool = natter::store::Pool::connect(&server.url(), 1)
        .await
        .expect("plain");
    assert!(!encrypted(&pool).await);
    pool.close().await;
}
