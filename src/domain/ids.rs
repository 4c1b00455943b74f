//! Typed ids. Users, conversations and messages are all numbered by the
//! database, but a user's number is not a conversation's: each kind of id
//! has its own type, so a user id cannot be passed where a conversation id
//! is expected (the compiler refuses it).
//!
//! Each stores, binds, serializes, prints and parses exactly as the number
//! it wraps, so queries, the wire formats and rendered pages stay the same
//! byte for byte, and a path or form value that is not a number fails just
//! as an `i64` would.

use std::fmt;
use std::num::ParseIntError;
use std::str::FromStr;

use rocket::form::{self, FromFormField, ValueField};
use rocket::request::FromParam;

/// Defines id newtypes over `i64`, all alike.
macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident;)+) => {$(
        $(#[$doc])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            PartialOrd,
            Ord,
            Hash,
            sqlx::Type,
            serde::Serialize,
            serde::Deserialize,
        )]
        #[sqlx(transparent)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            /// The id numbered `id` (as the database numbers it).
            pub const fn new(id: i64) -> Self {
                Self(id)
            }

            /// The number, as the database stores it.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = ParseIntError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map(Self)
            }
        }

        /// A path segment (`/conversations/<id>`), parsed as an `i64` is.
        impl<'a> FromParam<'a> for $name {
            type Error = <i64 as FromParam<'a>>::Error;

            fn from_param(param: &'a str) -> Result<Self, Self::Error> {
                i64::from_param(param).map(Self)
            }
        }

        /// A query or form value (`?current=`, `members=`), parsed as an `i64` is.
        impl<'v> FromFormField<'v> for $name {
            fn from_value(field: ValueField<'v>) -> form::Result<'v, Self> {
                i64::from_value(field).map(Self)
            }
        }
    )+};
}

ids! {
    /// A user's id.
    UserId;
    /// A conversation's id (direct or group).
    ConversationId;
    /// A message's id; ids grow with time, so they also order messages.
    MessageId;
    /// A secret-conversation device: one browser session's MLS client.
    DeviceId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_prints_parses_and_serializes_as_its_number() {
        let id = ConversationId::new(42);
        assert_eq!(id.to_string(), "42");
        assert_eq!("42".parse::<ConversationId>(), Ok(id));
        assert_eq!(ConversationId::from_param("42"), Ok(id));
        assert_eq!(ConversationId::from_param("4x"), Err("4x"));
        assert_eq!(serde_json::to_string(&id).ok().as_deref(), Some("42"));
        assert_eq!(serde_json::from_str::<ConversationId>("42").ok(), Some(id));
        assert_eq!(id.get(), 42);
    }
}
