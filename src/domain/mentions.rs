//! Finding who a message calls by name: `@` and a username, at the start or
//! after something that is not part of a word (so `bob@example.org` is an
//! address, not a mention).

/// Whether `c` can be part of a username (letters, digits, `_ - .`).
pub fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Each `@name` in `text`, with its byte range (the `@` included) and the
/// name; a trailing dot ends a sentence, not a name.
pub fn mention_spans(text: &str) -> Vec<(std::ops::Range<usize>, &str)> {
    let mut spans = Vec::new();
    let mut previous: Option<char> = None;
    for (at, c) in text.char_indices() {
        if c == '@' && !previous.is_some_and(is_name_char) {
            let rest = &text[at + 1..];
            let length = rest
                .char_indices()
                .find(|&(_, c)| !is_name_char(c))
                .map_or(rest.len(), |(i, _)| i);
            let name = rest[..length].trim_end_matches('.');
            if !name.is_empty() {
                spans.push((at..at + 1 + name.len(), name));
            }
        }
        previous = Some(c);
    }
    spans
}

/// The names `text` mentions, each once, in order.
pub fn mentioned_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (_, name) in mention_spans(text) {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            names.push(name.to_owned());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_after_an_at_sign_and_not_inside_addresses() {
        assert_eq!(
            mentioned_names("@alice, ask @Bob.Smith. Mail bob@example.org or @alice!"),
            ["alice", "Bob.Smith"]
        );
        assert!(mentioned_names("@ alone, @@, and a@b").is_empty());
        let spans = mention_spans("hi @carol.");
        assert_eq!(spans, [(3..9, "carol")]);
    }
}
