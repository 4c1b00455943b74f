//! Search results: the search page, the results section (also pushed into
//! the inbox as its filter is typed), and each result's snippet with the
//! matched words marked. The marks are elements maud writes around text it
//! escapes: nothing typed or stored is ever written unescaped.

use maud::{html, Markup};

use super::conversation_url;
use super::inbox::when;
use super::layout::{page, Viewer};
use crate::domain::{fold, words_of, ConversationId, Message, SearchHit, SearchResults};
use crate::domain::{is_spaceless_script, SearchTerm, Zone};
use crate::limits::{SEARCH_COUNT_MAX, SEARCH_SNIPPET_WORDS};

/// Where a search is made and what it found.
pub(crate) struct SearchView<'a> {
    /// The search as typed.
    pub query: &'a str,
    /// The words it matches (for marking them).
    pub terms: &'a [SearchTerm],
    /// The one conversation searched, and its name.
    pub scope: Option<(ConversationId, &'a str)>,
    pub results: &'a SearchResults,
    /// The viewer's clock.
    pub zone: &'a Zone,
}

/// The search page: its form (results follow as one types, with htmx; a
/// plain GET without it) and the results.
pub(crate) fn search_page(viewer: &Viewer, view: &SearchView) -> Markup {
    let (back, heading) = match view.scope {
        Some((id, name)) => (conversation_url(id), format!("Search in {name}")),
        None => ("/".to_owned(), "Search messages".to_owned()),
    };
    page(
        &heading,
        Some(viewer),
        html! {
            main.dashboard.search-page {
                div.list-header {
                    a.back href=(back) aria-label="Back" { "←" }
                    h1 { (heading) }
                }
                form.search-form method="get" action="/search" role="search"
                    hx-get="/search" hx-target="#search-results" hx-swap="outerHTML"
                    hx-trigger="input changed delay:200ms from:#search-q, search from:#search-q, submit"
                    hx-push-url="true" {
                    @if let Some((id, _)) = view.scope {
                        input type="hidden" name="c" value=(id);
                    }
                    label.visually-hidden for="search-q" { "Search for" }
                    input #search-q type="search" name="q" value=(view.query)
                        autocomplete="off" autofocus placeholder="Search messages"
                        aria-describedby="search-help";
                    button type="submit" { "Search" }
                }
                p #search-help .hint {
                    "Words, \"a phrase\", from:name, in:chat, has:file, before:2026-12-31, after:2026-01-01"
                }
                (results_section(view))
            }
        },
    )
}

/// The results, as a section the form's requests replace whole.
pub(crate) fn results_section(view: &SearchView) -> Markup {
    let results = view.results;
    html! {
        section #search-results .search-results aria-live="polite" aria-label="Search results" {
            @if !view.query.trim().is_empty() {
                p.count {
                    @match results.count {
                        Some(0) => "No messages match.",
                        Some(1) => "1 message",
                        Some(n) if n > SEARCH_COUNT_MAX => { (SEARCH_COUNT_MAX) "+ messages" },
                        Some(n) => { (n) " messages" },
                        None => "",
                    }
                }
                (hit_list(view))
            }
        }
    }
}

/// The hits of one page, and a link to the next when there is one (with
/// htmx it brings that page's hits in its place).
pub(crate) fn hit_list(view: &SearchView) -> Markup {
    html! {
        ol.hits {
            @for hit in &view.results.hits {
                (hit_row(hit, view.terms, view.zone))
            }
            @if let Some(next) = view.results.next {
                @let url = more_url(view, next.get());
                li.more {
                    a href=(url) hx-get=(url) hx-target="closest li" hx-swap="outerHTML"
                        hx-select=".hits > li" { "More results" }
                }
            }
        }
    }
}

/// The next page of the same search.
fn more_url(view: &SearchView, older_than: i64) -> String {
    let mut url = format!("/search?q={}", encode(view.query));
    if let Some((id, _)) = view.scope {
        url.push_str(&format!("&c={id}"));
    }
    url.push_str(&format!("&before={older_than}"));
    url
}

/// A query string's value, form-encoded.
fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// One result: where and who, when, and the text around what matched; it
/// opens the conversation at that message.
fn hit_row(hit: &SearchHit, terms: &[SearchTerm], zone: &Zone) -> Markup {
    let message = &hit.message;
    let target = super::dom_id("message", message.id);
    let url = format!(
        "{}?around={}#{target}",
        conversation_url(message.conversation_id),
        message.id
    );
    html! {
        li.hit {
            a href=(url) {
                span.hit-head {
                    span.hit-where { (hit.conversation.title) }
                    @if hit.conversation.group {
                        " · " span.hit-who { (sender_name(message)) }
                    }
                    (when(message.created_at, zone))
                }
                span.snippet {
                    @if let Some(name) = &message.attachment.attachment_name {
                        "📎 " (name) " "
                    }
                    (snippet(&message.body, terms))
                }
            }
        }
    }
}

/// The name a message's sender is shown by.
fn sender_name(message: &Message) -> &str {
    if message.sender_display.is_empty() {
        &message.sender_name
    } else {
        &message.sender_display
    }
}

/// A piece of a text, marked when it matched.
#[derive(Debug, PartialEq, Eq)]
struct Piece<'t> {
    text: &'t str,
    matched: bool,
}

/// The words of `text` around the first that matched, each piece escaped
/// by maud, the matched ones in `mark`; "…" where the text was cut.
fn snippet(text: &str, terms: &[SearchTerm]) -> Markup {
    let pieces = pieces(text, terms);
    let words: Vec<usize> = pieces
        .iter()
        .enumerate()
        .filter(|(_, p)| p.text.chars().any(crate::domain::is_word_char))
        .map(|(i, _)| i)
        .collect();
    let first = pieces.iter().position(|p| p.matched).unwrap_or(0);
    // A few words before the first match, the rest after it.
    let lead = SEARCH_SNIPPET_WORDS / 4;
    let first_word = words.iter().position(|&i| i >= first).unwrap_or(0);
    let from_word = first_word.saturating_sub(lead);
    let to_word = (from_word + SEARCH_SNIPPET_WORDS).min(words.len());
    let from = if from_word == 0 { 0 } else { words[from_word] };
    let to = match words.get(to_word) {
        Some(&i) if to_word < words.len() => i,
        _ => pieces.len(),
    };
    html! {
        @if from > 0 { "…" }
        @for piece in &pieces[from..to] {
            @if piece.matched { mark { (piece.text) } } @else { (piece.text) }
        }
        @if to < pieces.len() { "…" }
    }
}

/// `text` cut into words and what lies between, each word marked when a
/// term matches it (a word, a word being typed, a phrase's words in a row)
/// and each occurrence of a substring term marked inside its word.
fn pieces<'t>(text: &'t str, terms: &[SearchTerm]) -> Vec<Piece<'t>> {
    // Words and the gaps between them, in order.
    let mut spans: Vec<(usize, usize, bool)> = Vec::new();
    let mut at = 0;
    for word in words_of(text) {
        let start = word.as_ptr() as usize - text.as_ptr() as usize;
        if start > at {
            spans.push((at, start, false));
        }
        spans.push((start, start + word.len(), true));
        at = start + word.len();
    }
    if at < text.len() {
        spans.push((at, text.len(), false));
    }
    let folded: Vec<Option<String>> = spans
        .iter()
        .map(|&(s, e, word)| word.then(|| fold(&text[s..e])))
        .collect();
    let mut matched = vec![false; spans.len()];
    let word_spans: Vec<usize> = (0..spans.len()).filter(|&i| spans[i].2).collect();
    for term in terms {
        match term {
            SearchTerm::Word { text: word, prefix } => {
                for &i in &word_spans {
                    let f = folded[i].as_deref().unwrap_or_default();
                    if f == word || (*prefix && f.starts_with(word.as_str())) {
                        matched[i] = true;
                    }
                }
            }
            SearchTerm::Phrase(words) => {
                for start in 0..word_spans.len() {
                    let run = &word_spans[start..];
                    if run.len() >= words.len()
                        && run
                            .iter()
                            .zip(words)
                            .all(|(&i, w)| folded[i].as_deref() == Some(w.as_str()))
                    {
                        for &i in &run[..words.len()] {
                            matched[i] = true;
                        }
                    }
                }
            }
            SearchTerm::Substring(_) => {}
        }
    }
    let substrings: Vec<&str> = terms
        .iter()
        .filter_map(|t| match t {
            SearchTerm::Substring(s) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    for (i, &(start, end, _)) in spans.iter().enumerate() {
        let piece = &text[start..end];
        if matched[i] || substrings.is_empty() || !piece.chars().any(is_spaceless_script) {
            out.push(Piece {
                text: piece,
                matched: matched[i],
            });
            continue;
        }
        // Mark each occurrence of a substring inside the word.
        let mut rest = 0;
        while rest < piece.len() {
            let found = substrings
                .iter()
                .filter_map(|s| piece[rest..].find(s).map(|at| (rest + at, s.len())))
                .min();
            let Some((at, len)) = found.filter(|&(_, len)| len > 0) else {
                out.push(Piece {
                    text: &piece[rest..],
                    matched: false,
                });
                break;
            };
            if at > rest {
                out.push(Piece {
                    text: &piece[rest..at],
                    matched: false,
                });
            }
            out.push(Piece {
                text: &piece[at..at + len],
                matched: true,
            });
            rest = at + len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SearchQuery;

    fn marked(text: &str, query: &str) -> String {
        snippet(text, &SearchQuery::parse(query).terms).into_string()
    }

    #[test]
    fn matched_words_are_marked_and_everything_is_escaped() {
        assert_eq!(
            marked("Meet at the Café <b>now</b>", "cafe "),
            "Meet at the <mark>Café</mark> &lt;b&gt;now&lt;/b&gt;"
        );
        assert_eq!(
            marked("<mark>x</mark> plans", "plan"),
            "&lt;mark&gt;x&lt;/mark&gt; <mark>plans</mark>"
        );
        // A phrase marks its words only where they stand together.
        assert_eq!(
            marked("new house, new chapter", "\"new chapter\""),
            "new house, <mark>new</mark> <mark>chapter</mark>"
        );
        // A substring of a spaceless script is marked inside its run.
        assert_eq!(
            marked("明日東京タワーに行く", "東京 "),
            "明日<mark>東京</mark>タワーに行く"
        );
    }

    #[test]
    fn a_long_text_is_cut_around_the_first_match() {
        let text = (1..=100)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let shown = marked(&text, "w50 ");
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        assert!(shown.contains("<mark>w50</mark>"), "{shown}");
        assert!(shown.contains("w46") && !shown.contains("w45 "), "{shown}");
        assert_eq!(marked("short one", "short "), "<mark>short</mark> one");
    }
}
