//! Whether the database can be reached. Once a request finds it unreachable,
//! later requests answer "unavailable" at once instead of each waiting out
//! the pool's connect timeout, while one background probe retries every
//! second and clears the state as soon as the database answers again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rocket::fairing::AdHoc;
use rocket::http::{Header, Status};

use rocket_db_pools::Database;

use super::{Db, Pool};
use crate::error::AnsweredBusy;
use crate::limits::RETRY_AFTER_SECS;

/// How often the probe retries while the database is down.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How long one probe may take before it counts as a failure.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The database's reachability, shared by every request of this instance.
#[derive(Clone, Default, Debug)]
pub(crate) struct Health {
    down: Arc<AtomicBool>,
}

impl Health {
    /// Whether the database was found unreachable and has not answered since.
    pub(crate) fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Records that the database could not be reached, and starts probing it
    /// unless a probe is already running.
    pub(crate) fn mark_down(&self, pool: &Pool) {
        if self.down.swap(true, Ordering::AcqRel) {
            return;
        }
        rocket::warn!("the database is unreachable; probing it every second");
        let (down, pool) = (self.down.clone(), pool.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                if tokio::time::timeout(PROBE_TIMEOUT, ping(&pool))
                    .await
                    .is_ok_and(|answered| answered.is_ok())
                {
                    down.store(false, Ordering::Release);
                    rocket::info!("the database answers again");
                    return;
                }
            }
        });
    }
}

/// Whether the database answers (within the probe's timeout) and has
/// every migration of this build applied; the error says which is not so.
pub(crate) async fn readiness(pool: &Pool) -> Result<(), String> {
    let applied = tokio::time::timeout(PROBE_TIMEOUT, async {
        crate::on_pool!(pool, p => sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE",
        )
        .fetch_one(p)
        .await)
    })
    .await
    .map_err(|_| "the database does not answer".to_owned())?
    .map_err(|e| format!("the database is unreachable: {e}"))?;
    let expected = match pool {
        Pool::Sqlite(_) => super::SQLITE_MIGRATIONS.iter().count(),
        Pool::Postgres(_) => super::POSTGRES_MIGRATIONS.iter().count(),
    };
    if usize::try_from(applied).unwrap_or(0) < expected {
        return Err(format!("{applied} of {expected} migrations applied"));
    }
    Ok(())
}

async fn ping(pool: &Pool) -> Result<(), sqlx::Error> {
    crate::on_pool!(pool, p => sqlx::query("SELECT 1").execute(p).await.map(drop))
}

/// Every "unavailable" answer tells the client when to retry, and, unless it
/// came from an overloaded pool rather than a lost database, marks the
/// database down so the next requests fail fast until the probe sees it back.
pub fn fairing() -> AdHoc {
    AdHoc::on_response("Database health", |req, response| {
        Box::pin(async move {
            if response.status() != Status::ServiceUnavailable {
                return;
            }
            response.set_header(Header::new("Retry-After", RETRY_AFTER_SECS.to_string()));
            if req.local_cache(|| AnsweredBusy(false)).0 {
                return;
            }
            if let Some(db) = Db::fetch(req.rocket()) {
                db.health().mark_down(db.pool());
            }
        })
    })
}
