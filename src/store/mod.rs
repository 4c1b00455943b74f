//! All SQL lives here: the database pool (SQLite or PostgreSQL), migrations,
//! and one module per table group. Functions return domain types, never raw rows.

use std::str::FromStr;
use std::time::Duration;

use rocket::fairing::{self, AdHoc};
use rocket::figment::Figment;
use rocket::{Build, Rocket};
use rocket_db_pools::Database;
use sqlx::pool::PoolOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

/// Runs the same sqlx code on whichever database `pool` is: the body is
/// compiled once per backend, with `$p` bound to that backend's pool.
/// Queries are written once, in the SQL both dialects accept (`$1`
/// placeholders, `RETURNING`, `ON CONFLICT`, `NULLS LAST`, `IS DISTINCT FROM`).
#[macro_export]
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::store::Pool::Sqlite($p) => $body,
            $crate::store::Pool::Postgres($p) => $body,
        }
    };
}

/// Like `on_pool!`, for an open transaction: `$c` is its connection.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, $c:ident => $body:expr) => {
        match $tx {
            $crate::store::Tx::Sqlite(t) => {
                let $c: &mut sqlx::SqliteConnection = &mut *t;
                $body
            }
            $crate::store::Tx::Postgres(t) => {
                let $c: &mut sqlx::PgConnection = &mut *t;
                $body
            }
        }
    };
}

pub mod admin;
pub mod backup;
pub mod changes;
pub mod contacts;
pub mod conversations;
pub mod devices;
pub mod drain;
pub mod groups;
pub mod health;
pub mod inbox;
pub mod messages;
pub mod push;
pub mod search;
pub mod secret;
pub mod sessions;
pub mod users;
pub mod writer;

/// The connection pool of whichever database the URL named: SQLite (the
/// default, one file) or PostgreSQL (several instances sharing one database).
#[derive(Clone, Debug)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// An open transaction on either database.
pub(crate) enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Pool {
    /// Connects to the database a URL names, with default pool settings:
    /// `postgres://` or `postgresql://` for PostgreSQL, anything else for SQLite.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Pool, sqlx::Error> {
        Pool::connect_with(&rocket_db_pools::Config {
            url: url.to_owned(),
            min_connections: None,
            max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT_SECS,
            idle_timeout: None,
            extensions: None,
        })
        .await
    }

    /// Connects as `databases.natter` says: the URL picks the database, and
    /// both honour `max_connections`, `min_connections`, `connect_timeout`
    /// and `idle_timeout`; SQLite also loads `extensions`.
    pub async fn connect_with(config: &rocket_db_pools::Config) -> Result<Pool, sqlx::Error> {
        if is_postgres_url(&config.url) {
            // Natter's queries are short: compiling one with JIT (which the
            // planner picks on cost estimates, e.g. for a never-analysed small
            // table) takes longer than running it.
            let options = PgConnectOptions::from_str(&config.url)?.options([("jit", "off")]);
            // The writer and the bridge's announcer each hold one at times.
            let pool = pool_options(config, 2).connect_with(options).await?;
            Ok(Pool::Postgres(pool))
        } else {
            let mut options = connect_options(&config.url)?;
            for extension in config.extensions.iter().flatten() {
                options = options.extension(extension.clone());
            }
            let pool = pool_options(config, 1).connect_with(options).await?;
            Ok(Pool::Sqlite(pool))
        }
    }

    /// Starts a transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`, waiting for it as long as the busy timeout says):
    /// a transaction that reads first would take a snapshot, and its first
    /// write would fail at once with "database is locked" if any other
    /// connection wrote since, without waiting.
    pub(crate) async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// The PostgreSQL pool, when that is the database in use.
    pub fn postgres(&self) -> Option<&PgPool> {
        match self {
            Pool::Postgres(p) => Some(p),
            Pool::Sqlite(_) => None,
        }
    }

    /// Closes every connection.
    pub async fn close(&self) {
        on_pool!(self, p => p.close().await)
    }

    /// Runs the embedded migrations of this database's dialect, saying in
    /// the log which are applied, that they are still running every few
    /// seconds, and how long they took (building the search index over many
    /// messages takes a while).
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        self.migrate_reporting(MIGRATION_PROGRESS_EVERY, |line| rocket::info!("{line}"))
            .await
    }

    /// `migrate`, saying each line of its progress through `say`, every
    /// `every` while migrations run.
    async fn migrate_reporting<F>(
        &self,
        every: Duration,
        say: F,
    ) -> Result<(), sqlx::migrate::MigrateError>
    where
        F: Fn(String) + Clone + Send + 'static,
    {
        let migrator = match self {
            Pool::Sqlite(_) => &SQLITE_MIGRATIONS,
            Pool::Postgres(_) => &POSTGRES_MIGRATIONS,
        };
        let applied: Vec<i64> = on_pool!(self, p => sqlx::query_scalar(
            "SELECT version FROM _sqlx_migrations WHERE success = TRUE",
        )
        .fetch_all(p)
        .await)
        .unwrap_or_default();
        let pending: Vec<&str> = migrator
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .map(|m| m.description.as_ref())
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        let messages: i64 = on_pool!(self, p => sqlx::query_scalar("SELECT COUNT(*) FROM messages")
            .fetch_one(p)
            .await)
        .unwrap_or(0);
        say(format!(
            "applying {} database migration(s): {}",
            pending.len(),
            pending.join(", ")
        ));
        if pending.contains(&"search") && messages > 0 {
            say(format!(
                "building the search index over {messages} messages"
            ));
        }
        let started = std::time::Instant::now();
        let progress = tokio::spawn(report_migration_progress(
            self.clone(),
            started,
            every,
            say.clone(),
        ));
        let applied = on_pool!(self, p => migrator.run(p).await);
        progress.abort();
        applied?;
        say(format!(
            "database migrations applied in {:.1} s",
            started.elapsed().as_secs_f64()
        ));
        Ok(())
    }
}

/// How often a long migration says it is still running.
const MIGRATION_PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Says through `say`, every `every` until aborted, that migrations are
/// still running and for how long (building the search index over a
/// million messages takes a while); on PostgreSQL also how far an index
/// build has come, from the server's own progress view, read on a second
/// connection when one is free. SQLite has no such view, and its index is
/// built by one statement.
async fn report_migration_progress<F>(
    pool: Pool,
    started: std::time::Instant,
    every: Duration,
    say: F,
) where
    F: Fn(String),
{
    loop {
        tokio::time::sleep(every).await;
        let index = match &pool {
            Pool::Postgres(p) => match p.try_acquire() {
                // A GIN build counts table blocks while it scans, rows after.
                Some(mut connection) => sqlx::query_as::<_, (String, String, i64, i64)>(
                    "SELECT relid::regclass::text, phase,
                            CASE WHEN tuples_total > 0 THEN tuples_done ELSE blocks_done END,
                            CASE WHEN tuples_total > 0 THEN tuples_total ELSE blocks_total END
                     FROM pg_stat_progress_create_index WHERE datname = current_database()",
                )
                .fetch_optional(&mut *connection)
                .await
                .ok()
                .flatten(),
                None => None,
            },
            Pool::Sqlite(_) => None,
        };
        let detail = match index {
            Some((table, phase, done, total)) if total > 0 => {
                format!("; an index on {table}: {phase}, {} %", done * 100 / total)
            }
            Some((table, phase, _, _)) => format!("; an index on {table}: {phase}"),
            None => String::new(),
        };
        say(format!(
            "database migrations still running after {} s{detail}",
            started.elapsed().as_secs()
        ));
    }
}

impl Tx {
    /// Commits the transaction.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }
}

/// Seconds to wait for a connection when the configuration does not say.
const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 5;

/// The pool settings of `databases.natter`, with at least `fewest_max` connections.
fn pool_options<DB: sqlx::Database>(
    config: &rocket_db_pools::Config,
    fewest_max: u32,
) -> PoolOptions<DB> {
    let max = u32::try_from(config.max_connections)
        .unwrap_or(u32::MAX)
        .max(fewest_max);
    PoolOptions::new()
        .max_connections(max)
        .min_connections(config.min_connections.unwrap_or_default().min(max))
        .acquire_timeout(Duration::from_secs(config.connect_timeout))
        .idle_timeout(config.idle_timeout.map(Duration::from_secs))
        .after_release(|conn, _| Box::pin(async move { is_reusable(conn).await }))
}

/// Whether a connection handed back to the pool may serve again: only when
/// it is outside any transaction. A COMMIT that fails (a full disk) can roll
/// SQLite back on its own, and sqlx's own ROLLBACK then fails too, leaving
/// it counting an open transaction: reused, every later `begin` would open
/// a savepoint inside a transaction that never commits, so writes would be
/// confirmed yet never stored, and the write lock never released. Such a
/// connection is closed instead, and the pool opens a fresh one.
///
/// No extra round trip: sqlx pings the connection itself right after this.
/// A SQLite transaction dropped on an error path may still count as open
/// here (its rollback is queued to the worker thread); such a connection is
/// closed too, which costs only a reconnect.
async fn is_reusable<C: sqlx::Connection>(conn: &mut C) -> Result<bool, sqlx::Error> {
    let clean = !conn.is_in_transaction();
    if !clean {
        rocket::warn!("closing a database connection left inside a failed transaction");
    }
    Ok(clean)
}

/// Whether a database URL names PostgreSQL.
pub(crate) fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The database, as Rocket sees it: handlers take `&Db` and use its pool.
#[derive(Database)]
#[database("natter")]
pub struct Db(DbHandle);

impl Db {
    /// The shared connection pool.
    pub fn pool(&self) -> &Pool {
        &self.0.pool
    }

    /// Whether the database is known to be unreachable right now.
    pub(crate) fn health(&self) -> &health::Health {
        &self.0.health
    }

    /// The requests and sockets using the database now.
    pub(crate) fn in_flight(&self) -> &drain::InFlight {
        &self.0.in_flight
    }
}

/// A current sqlx pool built from typed options, so WAL, `synchronous`,
/// foreign keys and the busy timeout are set on purpose, not left to a URL;
/// and what is known of its reachability.
pub struct DbHandle {
    pool: Pool,
    health: health::Health,
    in_flight: drain::InFlight,
}

/// The file a SQLite URL names; `None` for PostgreSQL or an in-memory
/// database.
pub(crate) fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if is_postgres_url(url) {
        return None;
    }
    let options = SqliteConnectOptions::from_str(url).ok()?;
    let file = options.get_filename();
    (!file.as_os_str().is_empty() && file != std::path::Path::new(":memory:"))
        .then(|| file.to_path_buf())
}

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
        // Deleted messages are overwritten in the file, not left readable.
        .pragma("secure_delete", "ON")
        .busy_timeout(Duration::from_secs(5)))
}

#[rocket::async_trait]
impl rocket_db_pools::Pool for DbHandle {
    /// Handlers use the pool itself (a cheap handle), whichever database it is.
    type Connection = Pool;
    type Error = sqlx::Error;

    async fn init(figment: &Figment) -> Result<Self, Self::Error> {
        let config: rocket_db_pools::Config = figment
            .extract()
            .map_err(|e| sqlx::Error::Configuration(e.to_string().into()))?;
        Ok(DbHandle {
            pool: Pool::connect_with(&config).await?,
            health: health::Health::default(),
            in_flight: drain::InFlight::default(),
        })
    }

    async fn get(&self) -> Result<Self::Connection, Self::Error> {
        Ok(self.pool.clone())
    }

    /// Runs when the server stops: sockets have been told to close, and
    /// requests and sends in flight finish before the pool closes under them.
    async fn close(&self) {
        self.in_flight.drained(drain::DRAIN_LIMIT).await;
        self.pool.close().await
    }
}

/// Migrations embedded in the binary, so a lone executable creates its
/// schema: one folder per dialect, run by the same sqlx migrator.
pub(crate) static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
pub(crate) static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator =
    sqlx::migrate!("migrations/postgres");

/// The database fairing, then the migrations, then the writer task.
pub(crate) fn stage() -> AdHoc {
    AdHoc::on_ignite("Database", |rocket| async {
        rocket
            .attach(Db::init())
            .attach(AdHoc::try_on_ignite("Migrations", run_migrations))
            .attach(health::fairing())
            .attach(drain::fairing())
    })
}

async fn run_migrations(rocket: Rocket<Build>) -> fairing::Result {
    let Some(db) = Db::fetch(&rocket) else {
        return Err(rocket);
    };
    let migrated = match db.pool().migrate().await {
        Ok(()) => users::fill_in_skeletons(db.pool())
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match migrated {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn migrations_say_while_they_run_that_they_still_are(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("natter.db").display());
        let pool = Pool::connect(&url, 2).await?;
        let shared = Arc::new(Mutex::new(Vec::new()));
        let said = Arc::clone(&shared);
        // Every millisecond: a fresh database's migrations (each its own
        // committed transaction) take far longer than that.
        pool.migrate_reporting(Duration::from_millis(1), move |line| {
            if let Ok(mut lines) = said.lock() {
                lines.push(line);
            }
        })
        .await?;
        let lines = shared.lock().map_err(|e| e.to_string())?.clone();
        assert!(
            lines
                .first()
                .is_some_and(|l| l.starts_with("applying ") && l.contains("search")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("database migrations still running after ")),
            "{lines:?}"
        );
        assert!(
            lines
                .last()
                .is_some_and(|l| l.starts_with("database migrations applied in ")),
            "{lines:?}"
        );
        // Nothing is said once they are done, nor when there is nothing to do.
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(shared.lock().map_err(|e| e.to_string())?.len(), lines.len());
        pool.migrate_reporting(Duration::from_millis(1), |line| panic!("said {line}"))
            .await?;
        pool.close().await;
        Ok(())
    }
}
