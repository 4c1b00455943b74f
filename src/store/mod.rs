//! All SQL lives here: the database pool, migrations, and one module per table group.
//! Functions return domain types, never raw rows.

pub mod contacts;
pub mod conversations;
pub mod groups;
pub mod messages;
pub mod sessions;
pub mod users;
pub mod writer;

use std::str::FromStr;
use std::time::Duration;

use rocket::fairing::{self, AdHoc};
use rocket::figment::Figment;
use rocket::{Build, Rocket};
use rocket_db_pools::Database;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use sqlx::SqlitePool as Pool;

/// The database, as Rocket sees it: handlers take `&Db` and use its pool.
#[derive(Database)]
#[database("natter")]
pub struct Db(SqliteHandle);

impl Db {
    /// The shared connection pool.
    pub fn pool(&self) -> &Pool {
        &self.0 .0
    }
}

/// A current sqlx pool built from typed options, so WAL, `synchronous`,
/// foreign keys and the busy timeout are set on purpose, not left to a URL.
pub struct SqliteHandle(Pool);

/// Connection options for a SQLite URL.
///
/// `synchronous = FULL` with WAL: every commit is fsynced before the message
/// is shown to anyone, so an acknowledged message survives a crash or power loss.
pub fn connect_options(url: &str) -> Result<SqliteConnectOptions, sqlx::Error> {
    Ok(SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5)))
}

#[rocket::async_trait]
impl rocket_db_pools::Pool for SqliteHandle {
    type Connection = sqlx::pool::PoolConnection<sqlx::Sqlite>;
    type Error = sqlx::Error;

    async fn init(figment: &Figment) -> Result<Self, Self::Error> {
        let config: rocket_db_pools::Config = figment
            .extract()
            .map_err(|e| sqlx::Error::Configuration(e.to_string().into()))?;
        let options = connect_options(&config.url)?;
        let max = u32::try_from(config.max_connections).unwrap_or(8).max(1);
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .min_connections(config.min_connections.unwrap_or(1).min(max))
            .acquire_timeout(Duration::from_secs(config.connect_timeout))
            .idle_timeout(config.idle_timeout.map(Duration::from_secs))
            .connect_with(options)
            .await?;
        Ok(SqliteHandle(pool))
    }

    async fn get(&self) -> Result<Self::Connection, Self::Error> {
        self.0.acquire().await
    }

    async fn close(&self) {
        self.0.close().await
    }
}

/// Migrations embedded in the binary, so a lone executable creates its schema.
pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// The database fairing, then the migrations, then the writer task.
pub fn stage() -> AdHoc {
    AdHoc::on_ignite("Database", |rocket| async {
        rocket
            .attach(Db::init())
            .attach(AdHoc::try_on_ignite("Migrations", run_migrations))
    })
}

async fn run_migrations(rocket: Rocket<Build>) -> fairing::Result {
    let Some(db) = Db::fetch(&rocket) else {
        return Err(rocket);
    };
    match MIGRATIONS.run(db.pool()).await {
        Ok(()) => {
            let writer = writer::Writer::start(db.pool().clone());
            Ok(rocket.manage(writer))
        }
        Err(e) => {
            rocket::error!("database migration failed: {e}");
            Err(rocket)
        }
    }
}

/// Current time in UTC, as stored in the database.
pub fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}
