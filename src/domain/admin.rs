//! What running a server is about: who may join, the accounts as an
//! administrator sees them, invitations, and the log of what
//! administrators did.

use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use time::OffsetDateTime;

use super::UserId;

/// Who may create an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Anyone who can reach the server.
    #[default]
    Open,
    /// Only through an invitation link (and the very first account).
    Invite,
    /// Nobody (but the very first account).
    Closed,
}

impl Registration {
    pub const ALL: [Registration; 3] = [
        Registration::Open,
        Registration::Invite,
        Registration::Closed,
    ];

    /// Its name in the configuration and in forms.
    pub fn as_str(self) -> &'static str {
        match self {
            Registration::Open => "open",
            Registration::Invite => "invite",
            Registration::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<Registration> {
        Registration::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// What the choice means, where an administrator makes it.
    pub fn label(self) -> &'static str {
        match self {
            Registration::Open => "Anyone who can reach this server may sign up",
            Registration::Invite => "Only people with an invitation link may sign up",
            Registration::Closed => "Nobody may sign up",
        }
    }
}

/// An account as the admin page lists it.
#[derive(Debug, Clone, FromRow)]
pub struct ManagedUser {
    pub id: UserId,
    pub username: String,
    pub created_at: OffsetDateTime,
    pub last_seen_at: Option<OffsetDateTime>,
    /// Live sessions.
    pub sessions: i64,
    pub is_admin: bool,
    pub deactivated_at: Option<OffsetDateTime>,
}

/// An invitation link (its token is shown once, when made; only its hash
/// is kept).
#[derive(Debug, Clone, FromRow)]
pub struct Invite {
    pub id: i64,
    pub created_by: Option<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub uses_left: i64,
}

/// One thing an administrator did.
#[derive(Debug, Clone, FromRow)]
pub struct LogEntry {
    pub actor_name: String,
    pub action: String,
    pub created_at: OffsetDateTime,
}
