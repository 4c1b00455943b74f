//! A consistent copy of a running server's SQLite database: `VACUUM INTO`
//! reads one snapshot while writers go on, and writes a compact file.

use std::path::Path;

use super::Pool;
use crate::error::{Error, Result};

/// Writes a copy of the database to `file`, which must not exist.
/// PostgreSQL is backed up with its own tools (`pg_dump`).
pub(crate) async fn copy_database(pool: &Pool, file: &Path) -> Result<()> {
    let Pool::Sqlite(db) = pool else {
        return Err(Error::Invalid(
            "this server's database is PostgreSQL: back it up with pg_dump".into(),
        ));
    };
    let path = file
        .to_str()
        .ok_or_else(|| Error::Invalid("the backup file's name is not UTF-8".into()))?;
    sqlx::query("VACUUM INTO $1").bind(path).execute(db).await?;
    Ok(())
}
