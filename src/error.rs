//! The one error type of Natter: what went wrong, with its source kept, the
//! status it maps to and the words a person is shown. Rendering it as a page
//! is the HTTP layer's job (`http`).

use rocket::http::Status;

/// Everything that can go wrong while serving a request or a socket frame.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The thing does not exist, or the user may not know that it does.
    #[error("not found")]
    NotFound,
    /// A request failed a cross-site or token check.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// The input is malformed or breaks a rule; the text is shown to the user.
    #[error("{0}")]
    Invalid(String),
    /// A member asked for something only someone else may do; shown as is.
    #[error("{0}")]
    NotAllowed(&'static str),
    /// Too much, too fast; the text is shown to the user.
    #[error("{0}")]
    TooMany(String),
    /// Made for a state that has moved on (a secret conversation's commit
    /// for an epoch that is over): fetch what changed and try again.
    #[error("{0}")]
    Stale(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Nothing could be stored because the disk is full.
    #[error("the disk is full")]
    StorageFull,
    /// The database could not be reached; the text says how it failed.
    #[error("the database is unreachable: {0}")]
    Unreachable(String),
    /// Every database connection stayed busy for too long: the database
    /// answers, this instance is overloaded.
    #[error("the database is busy: {0}")]
    Busy(String),
    /// Something that should not happen did (a task panicked, hashing failed).
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Left on a request answered "unavailable" because every database
/// connection was busy, so the health check does not take overload for an
/// outage (which would make every later request fail fast).
pub(crate) struct AnsweredBusy(pub(crate) bool);

/// What a failed database call means for the person waiting on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseFailure {
    /// The disk under the database is full: nothing can be written until
    /// space is freed, but reading still works.
    StorageFull,
    /// The database cannot be reached (down, restarting, out of connection
    /// slots); it is worth retrying shortly.
    Unreachable,
    /// Every connection of this instance's pool stayed in use past the
    /// acquire timeout: overload, not an outage; worth retrying shortly.
    Busy,
    /// Anything else: a bug or a broken row, not a passing condition.
    Other,
}

/// `ENOSPC`: no space left on the device.
const NO_SPACE: i32 = 28;
/// SQLite's primary result code for "database or disk is full".
const SQLITE_FULL: i32 = 13;
/// PostgreSQL's SQLSTATE for `disk_full`.
const POSTGRES_DISK_FULL: &str = "53100";
/// PostgreSQL's SQLSTATE for `too_many_connections`.
const POSTGRES_TOO_MANY_CONNECTIONS: &str = "53300";

impl DatabaseFailure {
    /// Classifies a database error.
    pub fn of(error: &sqlx::Error) -> DatabaseFailure {
        match error {
            sqlx::Error::Database(db) => {
                let code = db.code();
                let code = code.as_deref().unwrap_or_default();
                // SQLite reports extended codes; the primary code is the low byte.
                let sqlite_full = code.parse::<i32>().is_ok_and(|c| c & 0xff == SQLITE_FULL);
                if sqlite_full || code == POSTGRES_DISK_FULL {
                    DatabaseFailure::StorageFull
                } else if code.starts_with("08")
                    || code.starts_with("57P")
                    || code == POSTGRES_TOO_MANY_CONNECTIONS
                {
                    // Connection exceptions, the server shutting down or
                    // starting, or out of connection slots.
                    DatabaseFailure::Unreachable
                } else {
                    DatabaseFailure::Other
                }
            }
            sqlx::Error::Io(io) if io.raw_os_error() == Some(NO_SPACE) => {
                DatabaseFailure::StorageFull
            }
            sqlx::Error::PoolTimedOut => DatabaseFailure::Busy,
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => DatabaseFailure::Unreachable,
            _ => DatabaseFailure::Other,
        }
    }
}

impl DatabaseFailure {
    /// The HTTP status it answers.
    fn status(self) -> Status {
        match self {
            DatabaseFailure::StorageFull => Status::InsufficientStorage,
            DatabaseFailure::Unreachable | DatabaseFailure::Busy => Status::ServiceUnavailable,
            DatabaseFailure::Other => Status::InternalServerError,
        }
    }

    /// What the person waiting is told.
    fn message(self) -> &'static str {
        match self {
            DatabaseFailure::StorageFull => STORAGE_FULL,
            DatabaseFailure::Unreachable => DATABASE_UNREACHABLE,
            DatabaseFailure::Busy => BUSY,
            DatabaseFailure::Other => SOMETHING_WENT_WRONG,
        }
    }
}

impl Error {
    /// The same failure for every caller of a batch that failed as one:
    /// a full disk or a lost database is not one job's fault.
    pub fn shared(failure: DatabaseFailure, error: &sqlx::Error) -> Error {
        match failure {
            DatabaseFailure::StorageFull => Error::StorageFull,
            DatabaseFailure::Unreachable => Error::Unreachable(error.to_string()),
            DatabaseFailure::Busy => Error::Busy(error.to_string()),
            DatabaseFailure::Other => Error::Internal(error.to_string()),
        }
    }
}

/// Whether a file-system error means the disk is full.
pub(crate) fn is_disk_full(error: &std::io::Error) -> bool {
    error.raw_os_error() == Some(NO_SPACE) || error.kind() == std::io::ErrorKind::StorageFull
}

impl Error {
    /// The HTTP status this error maps to.
    pub fn status(&self) -> Status {
        match self {
            Error::NotFound => Status::NotFound,
            Error::Forbidden(_) | Error::NotAllowed(_) => Status::Forbidden,
            Error::Invalid(_) => Status::UnprocessableEntity,
            Error::TooMany(_) => Status::TooManyRequests,
            Error::Stale(_) => Status::Conflict,
            Error::StorageFull => DatabaseFailure::StorageFull.status(),
            Error::Unreachable(_) => DatabaseFailure::Unreachable.status(),
            Error::Busy(_) => DatabaseFailure::Busy.status(),
            Error::Database(e) => DatabaseFailure::of(e).status(),
            Error::Internal(_) => Status::InternalServerError,
        }
    }

    /// Whether this is a refusal the person can act on (bad input, too
    /// fast, a full disk), shown in place with what they typed kept, rather
    /// than a failure page.
    pub(crate) fn is_refusal(&self) -> bool {
        matches!(
            self.status(),
            Status::UnprocessableEntity | Status::TooManyRequests | Status::InsufficientStorage
        )
    }

    /// Whether this failure is overload (the pool stayed busy) rather than
    /// the database being gone: it must not make later requests fail fast.
    pub(crate) fn is_busy(&self) -> bool {
        match self {
            Error::Busy(_) => true,
            Error::Database(e) => DatabaseFailure::of(e) == DatabaseFailure::Busy,
            _ => false,
        }
    }

    /// The message a user may see: internal details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            Error::Invalid(text) | Error::TooMany(text) | Error::Stale(text) => text.clone(),
            Error::NotAllowed(text) => (*text).to_owned(),
            Error::NotFound => "That page does not exist.".into(),
            Error::Forbidden(_) => {
                "This request could not be verified. Reload the page and try again.".into()
            }
            Error::StorageFull => DatabaseFailure::StorageFull.message().into(),
            Error::Unreachable(_) => DatabaseFailure::Unreachable.message().into(),
            Error::Busy(_) => DatabaseFailure::Busy.message().into(),
            Error::Database(e) => DatabaseFailure::of(e).message().into(),
            Error::Internal(_) => SOMETHING_WENT_WRONG.into(),
        }
    }
}

/// What a sender sees when the disk is full; their text stays in the form.
pub(crate) const STORAGE_FULL: &str = "The server's storage is full; your message was not sent.";
/// What anyone sees while the database cannot be reached.
pub(crate) const DATABASE_UNREACHABLE: &str = "Natter can't reach its database; retrying.";
/// What anyone sees while every database connection is busy.
pub(crate) const BUSY: &str = "Natter is very busy right now; please try again in a moment.";
const SOMETHING_WENT_WRONG: &str = "Something went wrong on our side. Please try again.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_told_apart_for_the_person_waiting() {
        let full = sqlx::Error::Io(std::io::Error::from_raw_os_error(NO_SPACE));
        assert_eq!(DatabaseFailure::of(&full), DatabaseFailure::StorageFull);
        let refused = sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into());
        assert_eq!(DatabaseFailure::of(&refused), DatabaseFailure::Unreachable);
        assert_eq!(
            DatabaseFailure::of(&sqlx::Error::PoolTimedOut),
            DatabaseFailure::Busy
        );
        assert_eq!(
            DatabaseFailure::of(&sqlx::Error::RowNotFound),
            DatabaseFailure::Other
        );
        let error = Error::Database(full);
        assert_eq!(error.status(), Status::InsufficientStorage);
        assert_eq!(error.public_message(), STORAGE_FULL);
        let error = Error::Database(sqlx::Error::PoolTimedOut);
        assert_eq!(error.status(), Status::ServiceUnavailable);
        assert_eq!(error.public_message(), BUSY);
        assert!(error.is_busy());
        let error = Error::Database(refused);
        assert_eq!(error.public_message(), DATABASE_UNREACHABLE);
        assert!(!error.is_busy());
    }
}
