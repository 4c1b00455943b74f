//! A message search as people type it: words (all must match, the last one
//! as a prefix while it is being typed), "quoted phrases", and the filters
//! `from:name`, `in:name`, `has:file`, `before:YYYY-MM-DD`, `after:YYYY-MM-DD`.
//! Anything else is searched as words: no input is an error. What reaches a
//! database is only ever the words' letters and digits, quoted by the store,
//! so no search operator of either database can be typed in.

use time::Date;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use super::{ConversationId, Message, MessageId};
use crate::limits::{SEARCH_QUERY_MAX_CHARS, SEARCH_TERMS_MAX};

/// A conversation as search results name it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ConversationName {
    pub id: ConversationId,
    pub group: bool,
    /// The group's name, or the other person's.
    pub title: String,
}

/// One message found, with the conversation it is in.
pub struct SearchHit {
    pub message: Message,
    pub conversation: ConversationName,
}

/// A page of results.
#[derive(Default)]
pub struct SearchResults {
    pub hits: Vec<SearchHit>,
    /// How many match in all, counted up to one past the most counted
    /// (which reads "100+"); counted for the first page only.
    pub count: Option<i64>,
    /// Where the next page starts, when there is one.
    pub next: Option<MessageId>,
    /// The one conversation searched, when the search was in one.
    pub scope: Option<ConversationName>,
}

/// One thing every result must contain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchTerm {
    /// A word, folded (lower case, no diacritics); `prefix` while it is the
    /// last word being typed.
    Word { text: String, prefix: bool },
    /// Words next to each other, in this order, folded.
    Phrase(Vec<String>),
    /// Text of a script written without spaces between words (Chinese,
    /// Japanese, Korean, Thai): the word index sees a whole run of it as one
    /// word, so such text is found as a substring instead.
    Substring(String),
}

/// A parsed search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    /// The search as read: cut to its most characters, without control
    /// characters (what the search box shows back).
    pub text: String,
    pub terms: Vec<SearchTerm>,
    /// `from:` a username (without any "@").
    pub from: Option<String>,
    /// `in:` a conversation's name, folded: a group's title or the other
    /// person's name.
    pub within: Option<String>,
    /// `has:file`.
    pub has_file: bool,
    /// `before:` a day (results sent before it began, on the viewer's clock).
    pub before: Option<Date>,
    /// `after:` a day (results sent after it ended).
    pub after: Option<Date>,
}

impl SearchQuery {
    /// Reads a search as typed. Too long a text is cut (at a character
    /// boundary) rather than refused, and terms past the most kept are
    /// dropped, so a hostile query costs no more than a long honest one.
    pub fn parse(typed: &str) -> SearchQuery {
        let typed: String = typed
            .chars()
            .filter(|c| !c.is_control())
            .take(SEARCH_QUERY_MAX_CHARS)
            .collect();
        let still_typing = !typed.ends_with(char::is_whitespace);
        let mut query = SearchQuery {
            text: typed.clone(),
            ..SearchQuery::default()
        };
        let mut rest = typed.trim_start();
        // Whether the last term read was a bare word (only it can be a prefix).
        let mut last_bare = false;
        while !rest.is_empty() {
            last_bare = false;
            if let Some(quoted) = rest.strip_prefix('"') {
                let (inside, after) = quoted.split_once('"').unwrap_or((quoted, ""));
                query.add_words(inside, true);
                rest = after.trim_start();
                continue;
            }
            // A token ends at a space, unless it is a filter with a quoted
            // value (in:"book club"), which ends at its closing quote.
            let plain_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let end = match rest[..plain_end].find(":\"") {
                Some(at) => rest[at + 2..]
                    .find('"')
                    .map_or(rest.len(), |close| at + 2 + close + 1),
                None => plain_end,
            };
            let token = &rest[..end];
            rest = rest[end..].trim_start();
            if let Some((key, value)) = token.split_once(':') {
                let value = value.trim_matches('"');
                if query.add_filter(&key.to_lowercase(), value) {
                    continue;
                }
            }
            last_bare = true;
            query.add_words(token, false);
        }
        if let (true, true, Some(SearchTerm::Word { text, prefix })) =
            (still_typing, last_bare, query.terms.last_mut())
        {
            // One letter would match too much to be worth it.
            *prefix = text.chars().count() >= 2;
        }
        query.terms.truncate(SEARCH_TERMS_MAX);
        query
    }

    /// Whether anything narrows the search (an empty query finds nothing).
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
            && self.from.is_none()
            && self.within.is_none()
            && !self.has_file
            && self.before.is_none()
            && self.after.is_none()
    }

    /// Applies `key:value`; `false` when it is no filter (then it is words).
    fn add_filter(&mut self, key: &str, value: &str) -> bool {
        let value = value.trim();
        match key {
            "from" => {
                let name = value.trim_start_matches('@');
                if name.is_empty() {
                    return false;
                }
                self.from = Some(name.to_owned());
            }
            "in" if !value.is_empty() => self.within = Some(fold(value.trim_start_matches('@'))),
            "has"
                if matches!(
                    value.to_lowercase().as_str(),
                    "file" | "files" | "attachment"
                ) =>
            {
                self.has_file = true;
            }
            "before" | "after" => {
                let Some(day) = parse_day(value) else {
                    return false;
                };
                if key == "before" {
                    self.before = Some(day);
                } else {
                    self.after = Some(day);
                }
            }
            _ => return false,
        }
        true
    }

    /// Adds the words of `text`: each a term, or one phrase when quoted.
    fn add_words(&mut self, text: &str, quoted: bool) {
        let mut words = Vec::new();
        for word in words_of(text) {
            if word.chars().any(is_spaceless_script) {
                self.terms.push(SearchTerm::Substring(word.to_lowercase()));
            } else {
                words.push(fold(word));
            }
        }
        if quoted && words.len() > 1 {
            self.terms.push(SearchTerm::Phrase(words));
        } else {
            self.terms
                .extend(words.into_iter().map(|text| SearchTerm::Word {
                    text,
                    prefix: false,
                }));
        }
    }
}

/// The words of a text as both databases' indexes cut it: runs of letters
/// and digits, anything else between them.
pub fn words_of(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !is_word_char(c))
        .filter(|word| !word.is_empty())
}

/// Whether `c` belongs to a word (letters, digits, and the marks that
/// combine with them).
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_combining_mark(c)
}

/// A word as it is compared: lower case, diacritics removed ("Café" and
/// "cafe" are the same word), as the indexes fold it.
pub fn fold(word: &str) -> String {
    word.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether `c` is of a script written without spaces between words.
pub fn is_spaceless_script(c: char) -> bool {
    matches!(c as u32,
        0x0E00..=0x0E7F // Thai
        | 0x1100..=0x11FF // Hangul Jamo
        | 0x3040..=0x30FF // Hiragana, Katakana
        | 0x3400..=0x4DBF // CJK Extension A
        | 0x4E00..=0x9FFF // CJK Unified Ideographs
        | 0xAC00..=0xD7AF // Hangul syllables
        | 0xF900..=0xFAFF // CJK Compatibility Ideographs
        | 0x20000..=0x2FFFF) // CJK Extensions B and later
}

/// A day as `YYYY-MM-DD`; `None` for anything else.
pub fn parse_day(text: &str) -> Option<Date> {
    let mut parts = text.splitn(3, '-').map(str::parse::<i32>);
    let (year, month, day) = (
        parts.next()?.ok()?,
        parts.next()?.ok()?,
        parts.next()?.ok()?,
    );
    let month = time::Month::try_from(u8::try_from(month).ok()?).ok()?;
    Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn word(text: &str) -> SearchTerm {
        SearchTerm::Word {
            text: text.into(),
            prefix: false,
        }
    }

    #[test]
    fn words_must_all_match_and_the_last_one_being_typed_is_a_prefix() {
        let query = SearchQuery::parse("Dinner Plans");
        assert_eq!(
            query.terms,
            [
                word("dinner"),
                SearchTerm::Word {
                    text: "plans".into(),
                    prefix: true
                }
            ]
        );
        // Typed on (a space after it): a whole word.
        assert_eq!(SearchQuery::parse("dinner ").terms, [word("dinner")]);
        // One letter is no prefix.
        assert_eq!(
            SearchQuery::parse("plan a").terms,
            [word("plan"), word("a")]
        );
    }

    #[test]
    fn phrases_and_filters_are_read_and_anything_unknown_is_words() {
        let query = SearchQuery::parse(
            r#"from:@Alice in:"Book Club" has:file before:2026-12-01 after:2026-11-01 "new chapter" x:y"#,
        );
        assert_eq!(query.from.as_deref(), Some("Alice"));
        assert_eq!(query.within.as_deref(), Some("book club"));
        assert!(query.has_file);
        assert_eq!(query.before, Some(date!(2026 - 12 - 01)));
        assert_eq!(query.after, Some(date!(2026 - 11 - 01)));
        assert_eq!(
            query.terms,
            [
                SearchTerm::Phrase(vec!["new".into(), "chapter".into()]),
                word("x"),
                word("y"),
            ]
        );
        // A filter that makes no sense is searched as words.
        let query = SearchQuery::parse("before:someday has:cats from: ");
        assert_eq!(query.before, None);
        assert!(!query.has_file);
        assert_eq!(query.from, None);
        assert_eq!(
            query.terms,
            [
                word("before"),
                word("someday"),
                word("has"),
                word("cats"),
                word("from")
            ]
        );
    }

    #[test]
    fn diacritics_and_case_fold_and_spaceless_scripts_are_substrings() {
        assert_eq!(SearchQuery::parse("CAFÉ ").terms, [word("cafe")]);
        assert_eq!(fold("Ångström"), "angstrom");
        assert_eq!(
            SearchQuery::parse("東京 tower ").terms,
            [SearchTerm::Substring("東京".into()), word("tower")]
        );
    }

    #[test]
    fn hostile_input_leaves_only_letters_and_digits_and_a_bounded_size() {
        let query = SearchQuery::parse(r#"NEAR(a b) OR c* ^d "e AND" {f} -g 'h'; DROP TABLE"#);
        for term in &query.terms {
            let texts = match term {
                SearchTerm::Word { text, .. } | SearchTerm::Substring(text) => vec![text.clone()],
                SearchTerm::Phrase(words) => words.clone(),
            };
            for text in texts {
                assert!(text.chars().all(is_word_char), "{text:?}");
            }
        }
        let long = "word ".repeat(4_000);
        let query = SearchQuery::parse(&long);
        assert!(query.terms.len() <= SEARCH_TERMS_MAX);
        let nul = SearchQuery::parse("a\0b\u{202e}c ");
        assert_eq!(nul.terms, [word("ab"), word("c")]);
        assert!(SearchQuery::parse("  \"\" : ").is_empty());
    }
}
