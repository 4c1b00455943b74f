//! Configuration: the pool settings of `databases.natter` reach the pool,
//! whichever database the URL names.

mod common;

use std::time::Duration;

use common::*;
use natter::store::Db;
use rocket_db_pools::Database;

#[rocket::async_test]
async fn the_pool_honours_the_database_settings() {
    let app = TestApp::with(|f| {
        f.merge(("databases.natter.max_connections", 5))
            .merge(("databases.natter.min_connections", 3))
            .merge(("databases.natter.connect_timeout", 7))
            .merge(("databases.natter.idle_timeout", 120))
    })
    .await;
    let db = Db::fetch(app.client.rocket()).expect("the database is attached");
    let (max, min, acquire, idle) = natter::on_pool!(db.pool(), p => {
        let options = p.options();
        (
            options.get_max_connections(),
            options.get_min_connections(),
            options.get_acquire_timeout(),
            options.get_idle_timeout(),
        )
    });
    assert_eq!(max, 5);
    assert_eq!(min, 3);
    assert_eq!(acquire, Duration::from_secs(7));
    assert_eq!(idle, Some(Duration::from_secs(120)));
}

#[rocket::async_test]
async fn without_settings_the_pool_waits_five_seconds_and_keeps_no_idle_minimum() {
    let app = TestApp::new().await;
    let db = Db::fetch(app.client.rocket()).expect("the database is attached");
    let (min, acquire, idle) = natter::on_pool!(db.pool(), p => {
        let options = p.options();
        (options.get_min_connections(), options.get_acquire_timeout(), options.get_idle_timeout())
    });
    assert_eq!(min, 0);
    assert_eq!(acquire, Duration::from_secs(5));
    assert_eq!(idle, None);
}

#[rocket::async_test]
async fn the_url_picks_the_database_and_postgres_runs_without_jit() {
    let app = TestApp::new().await;
    let db = Db::fetch(app.client.rocket()).expect("the database is attached");
    let on_postgres = std::env::var(POSTGRES_ENV).is_ok_and(|url| !url.is_empty());
    match db.pool() {
        natter::store::Pool::Postgres(pg) => {
            assert!(on_postgres, "a SQLite URL opened PostgreSQL");
            let jit: String = sqlx::query_scalar("SHOW jit")
                .fetch_one(pg)
                .await
                .expect("SHOW jit");
            assert_eq!(jit, "off");
        }
        natter::store::Pool::Sqlite(_) => assert!(!on_postgres, "a PostgreSQL URL opened SQLite"),
    }
}
