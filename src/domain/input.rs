//! Input that checks itself on construction: a value of these types is
//! valid, so nothing past the edge checks it again.

use crate::error::{Error, Result};
use crate::limits::{CLIENT_ID_MAX_CHARS, GROUP_TITLE_MAX_CHARS, MESSAGE_MAX_CHARS};

/// A message as typed, checked and ready to save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    body: String,
    client_id: String,
}

impl Draft {
    /// Checks a raw body and client id. The body is trimmed and its line
    /// endings normalised; it must be non-empty and within the length limit.
    pub fn parse(body: Option<&str>, client_id: Option<&str>) -> Result<Draft> {
        let body = body.unwrap_or_default().replace("\r\n", "\n");
        let body = body.trim();
        if body.is_empty() {
            return Err(Error::Invalid("Type a message first.".into()));
        }
        if body.chars().count() > MESSAGE_MAX_CHARS {
            return Err(Error::Invalid(format!(
                "Messages can be at most {MESSAGE_MAX_CHARS} characters long."
            )));
        }
        if body.chars().any(is_forbidden_control) {
            return Err(Error::Invalid(
                "Messages cannot contain control characters (only line breaks and tabs).".into(),
            ));
        }
        let client_id = client_id.unwrap_or_default();
        if !is_valid_client_id(client_id) {
            return Err(Error::Invalid(
                "This page is out of date. Reload it and send again.".into(),
            ));
        }
        Ok(Draft {
            body: body.to_owned(),
            client_id: client_id.to_owned(),
        })
    }

    pub fn body(&self) -> &str {
        &self.body
    }

    /// The id the page chose for this message (a resend carries the same).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// A file's caption: like `parse`, but an empty caption becomes `fallback`
    /// (the file's name).
    pub fn caption(body: Option<&str>, client_id: Option<&str>, fallback: &str) -> Result<Draft> {
        let body = body
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .unwrap_or(fallback);
        Draft::parse(Some(body), client_id)
    }
}

/// Control characters a message may not carry: everything but line breaks
/// and tabs (a BEL or ESC in a message is a terminal attack, never text).
fn is_forbidden_control(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

fn is_valid_client_id(id: &str) -> bool {
    (1..=CLIENT_ID_MAX_CHARS).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A group's name: trimmed, 1 to `GROUP_TITLE_MAX_CHARS` characters, no
/// control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupTitle(String);

impl GroupTitle {
    pub fn parse(raw: &str) -> Result<GroupTitle> {
        let title = raw.trim();
        if title.is_empty() || title.chars().count() > GROUP_TITLE_MAX_CHARS {
            return Err(Error::Invalid(format!(
                "Group names are 1 to {GROUP_TITLE_MAX_CHARS} characters long."
            )));
        }
        if title.chars().any(char::is_control) {
            return Err(Error::Invalid(
                "Group names cannot contain control characters.".into(),
            ));
        }
        Ok(GroupTitle(title.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
