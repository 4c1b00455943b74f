//! Whether this instance can serve: for load balancers and service
//! managers (`/healthz`, `/readyz`).

use crate::store::writer::Writer;
use crate::store::{health, Pool};

/// Ready when the database answers with every migration applied and the
/// writer task is running; otherwise why not.
pub async fn readiness(pool: &Pool, writer: &Writer) -> Result<(), String> {
    health::readiness(pool).await?;
    if !writer.is_running() {
        return Err("the writer task has stopped".into());
    }
    Ok(())
}
