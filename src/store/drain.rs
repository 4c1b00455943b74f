//! Work still using the database, so a graceful stop closes the pool only
//! after it: every HTTP request and every open socket holds the database
//! until it ends, and the shutdown waits (for a bounded time) for the last
//! one. Closing the pool first made in-flight sends fail.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rocket::fairing::AdHoc;
use tokio::sync::Notify;

use rocket_db_pools::Database;

use super::Db;

/// Longest a graceful stop waits for in-flight work before closing the pool.
pub(crate) const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// The count of requests and sockets using the database.
#[derive(Clone, Default, Debug)]
pub(crate) struct InFlight(Arc<Counter>);

#[derive(Default, Debug)]
struct Counter {
    count: AtomicUsize,
    idle: Notify,
}

/// One request or socket using the database, until dropped.
#[derive(Debug)]
pub(crate) struct Hold(InFlight);

impl InFlight {
    /// Counts one more user of the database until the hold is dropped.
    pub fn hold(&self) -> Hold {
        self.0.count.fetch_add(1, Ordering::AcqRel);
        Hold(self.clone())
    }

    /// Waits until nothing holds the database, or `limit` has passed.
    pub async fn drained(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, async {
            loop {
                let idle = self.0.idle.notified();
                if self.0.count.load(Ordering::Acquire) == 0 {
                    return;
                }
                idle.await;
            }
        })
        .await;
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if self.0 .0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0 .0.idle.notify_waiters();
        }
    }
}

/// A request's hold, kept in its local cache so it lasts as long as the request.
struct RequestHold(#[allow(dead_code)] Option<Hold>);

/// Every request holds the database while it is handled.
pub fn fairing() -> AdHoc {
    AdHoc::on_request("Database in use", |req, _| {
        Box::pin(async move {
            let hold = Db::fetch(req.rocket()).map(|db| db.in_flight().hold());
            req.local_cache(|| RequestHold(hold));
        })
    })
}
