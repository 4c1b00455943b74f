//! The one error type of Natter, rendered as a status page for HTTP requests.

use rocket::http::Status;
use rocket::request::Request;
use rocket::response::{self, Responder};

use crate::views;

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
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Something that should not happen did (a task panicked, hashing failed).
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The HTTP status this error maps to.
    pub fn status(&self) -> Status {
        match self {
            Error::NotFound => Status::NotFound,
            Error::Forbidden(_) | Error::NotAllowed(_) => Status::Forbidden,
            Error::Invalid(_) => Status::UnprocessableEntity,
            Error::TooMany(_) => Status::TooManyRequests,
            Error::Database(_) | Error::Internal(_) => Status::InternalServerError,
        }
    }

    /// The message a user may see: internal details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            Error::Invalid(text) | Error::TooMany(text) => text.clone(),
            Error::NotAllowed(text) => (*text).to_owned(),
            Error::NotFound => "That page does not exist.".into(),
            Error::Forbidden(_) => {
                "This request could not be verified. Reload the page and try again.".into()
            }
            Error::Database(_) | Error::Internal(_) => {
                "Something went wrong on our side. Please try again.".into()
            }
        }
    }
}

impl<'r> Responder<'r, 'static> for Error {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let status = self.status();
        if status.code >= 500 {
            rocket::error!("{self}");
        }
        (status, views::pages::error(status, &self.public_message())).respond_to(req)
    }
}
