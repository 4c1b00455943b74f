//! Input that checks itself on construction: a value of these types is
//! valid, so nothing past the edge checks it again.

use crate::error::{Error, Result};
use std::sync::LazyLock;

use super::MessageId;
use crate::limits::{
    CLIENT_ID_MAX_CHARS, GROUP_TITLE_MAX_CHARS, MESSAGE_MAX_CHARS, PASSWORD_MAX_CHARS,
    PASSWORD_MIN_CHARS, REACTIONS, USERNAME_MAX_CHARS, USERNAME_MIN_CHARS,
};

/// A message as typed, checked and ready to save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    body: String,
    client_id: String,
    reply_to: Option<MessageId>,
}

/// A message's text, checked: trimmed, line endings normalised, non-empty,
/// within the length limit, without control characters. (A new message and
/// an edit are held to the same rules.)
pub fn message_text(body: Option<&str>) -> Result<String> {
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
    Ok(body.to_owned())
}

impl Draft {
    /// Checks a raw body and client id (see `message_text`).
    pub fn parse(body: Option<&str>, client_id: Option<&str>) -> Result<Draft> {
        let body = message_text(body)?;
        let client_id = client_id.unwrap_or_default();
        if !is_valid_client_id(client_id) {
            return Err(Error::Invalid(
                "This page is out of date. Reload it and send again.".into(),
            ));
        }
        Ok(Draft {
            body,
            client_id: client_id.to_owned(),
            reply_to: None,
        })
    }

    /// The same draft, answering the message `reply_to` (a page's field:
    /// empty or not a number means no answer; whether that message may be
    /// answered is checked where it is saved).
    pub fn replying_to(mut self, reply_to: Option<&str>) -> Draft {
        self.reply_to = reply_to
            .and_then(|id| id.trim().parse::<i64>().ok())
            .filter(|id| *id > 0)
            .map(MessageId::new);
        self
    }

    pub fn body(&self) -> &str {
        &self.body
    }

    /// The message this one answers, if any.
    pub fn reply_to(&self) -> Option<MessageId> {
        self.reply_to
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

/// One of the reactions a message can get (`REACTIONS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReactionEmoji(&'static str);

impl ReactionEmoji {
    pub fn parse(emoji: &str) -> Result<ReactionEmoji> {
        REACTIONS
            .iter()
            .find(|known| **known == emoji)
            .map(|known| ReactionEmoji(known))
            .ok_or_else(|| Error::Invalid("That reaction is not one Natter offers.".into()))
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

/// Control characters a message may not carry: everything but line breaks
/// and tabs (a BEL or ESC in a message is a terminal attack, never text).
fn is_forbidden_control(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// A client id a page made: 1 to `CLIENT_ID_MAX_CHARS` letters, digits,
/// `-` or `_`.
pub fn is_valid_client_id(id: &str) -> bool {
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

/// A line a person writes about themselves (display name, status): trimmed,
/// at most `max` characters, empty to clear it; no control characters, and
/// none that reorder the text around them (a name must not display as
/// another's).
pub fn profile_line(raw: &str, max: usize, what: &str) -> Result<String> {
    let line = raw.trim();
    if line.chars().count() > max {
        return Err(Error::Invalid(format!(
            "{what} can be at most {max} characters long."
        )));
    }
    if line.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return Err(Error::Invalid(format!(
            "{what} cannot contain control characters."
        )));
    }
    Ok(line.to_owned())
}

/// Characters that reorder the text around them: in a file name they make
/// `invoice\u{202e}fdp.exe` display as "invoiceexe.pdf".
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A username that follows the documented rules: 3–32 characters, ASCII
/// letters, digits, `_`, `-` and `.`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(username: &str) -> Result<Username, String> {
        let chars = username.chars().count();
        if !(USERNAME_MIN_CHARS..=USERNAME_MAX_CHARS).contains(&chars) {
            return Err(format!(
                "Usernames are {USERNAME_MIN_CHARS} to {USERNAME_MAX_CHARS} characters long."
            ));
        }
        if !username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err("Usernames may contain only letters, digits, '_', '-' and '.'.".into());
        }
        if !username.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err("Usernames start with a letter or a digit.".into());
        }
        Ok(Username(username.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

static COMMON_PASSWORDS: LazyLock<std::collections::HashSet<&'static str>> =
    LazyLock::new(|| include_str!("../common_passwords.txt").lines().collect());

/// A new password: long enough, not too long, not a well-known one,
/// and typed the same twice. No composition rules.
#[derive(Clone)]
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(password: &str, confirmation: &str) -> Result<NewPassword, String> {
        let chars = password.chars().count();
        if chars < PASSWORD_MIN_CHARS {
            return Err(format!(
                "Passwords need at least {PASSWORD_MIN_CHARS} characters."
            ));
        }
        if chars > PASSWORD_MAX_CHARS {
            return Err(format!(
                "Passwords can be at most {PASSWORD_MAX_CHARS} characters."
            ));
        }
        if COMMON_PASSWORDS.contains(password.to_lowercase().as_str()) {
            return Err(
                "That password is one of the most common ones; please choose another.".into(),
            );
        }
        if password != confirmation {
            return Err("The two passwords do not match.".into());
        }
        Ok(NewPassword(password.to_owned()))
    }

    /// The password, to be hashed (it is never stored as it is).
    pub fn into_string(self) -> String {
        self.0
    }
}
