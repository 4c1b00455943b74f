//! A message's text as HTML: escaped by maud like all text, with web
//! addresses turned into links that open in a new tab and pass nothing on.

use linkify::{LinkFinder, LinkKind};
use maud::{html, Markup};

/// The text with every `http://` or `https://` address a link. Finding
/// where an address ends (trailing punctuation, parentheses) is left to
/// `linkify`; anything but those two schemes stays text, so no message can
/// carry a `javascript:` link.
pub(crate) fn with_links(text: &str) -> Markup {
    let mut finder = LinkFinder::new();
    finder.kinds(&[LinkKind::Url]);
    html! {
        @for span in finder.spans(text) {
            @let part = span.as_str();
            @if span.kind().is_some() && is_web_address(part) {
                a href=(part) target="_blank" rel="noopener noreferrer nofollow" { (part) }
            } @else {
                (part)
            }
        }
    }
}

fn is_web_address(link: &str) -> bool {
    let scheme = link.split("://").next().unwrap_or_default();
    scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn html_of(text: &str) -> String {
        with_links(text).into_string()
    }

    #[test]
    fn a_web_address_becomes_a_link_that_opens_apart_and_passes_nothing_on() {
        assert_eq!(
            html_of("see https://example.org/a?b=1&c=2, then reply"),
            "see <a href=\"https://example.org/a?b=1&amp;c=2\" target=\"_blank\" \
             rel=\"noopener noreferrer nofollow\">https://example.org/a?b=1&amp;c=2</a>, then reply"
        );
    }

    #[test]
    fn trailing_punctuation_and_brackets_stay_outside_the_link() {
        let html = html_of("(at http://example.com/x.)");
        assert!(
            html.starts_with("(at <a href=\"http://example.com/x\""),
            "{html}"
        );
        assert!(html.ends_with(">http://example.com/x</a>.)"), "{html}");
    }

    #[test]
    fn other_schemes_and_markup_stay_escaped_text() {
        for text in [
            "javascript:alert(1)",
            "javascript://example.com/%0Aalert(1)",
            "data://text/html,<script>alert(1)</script>",
            "ftp://example.com/file",
            "<a href=\"https://example.com\">x</a>",
        ] {
            let html = html_of(text);
            assert!(!html.contains("<script"), "{html}");
            assert!(!html.contains("href=\"javascript"), "{html}");
            assert!(!html.contains("href=\"data"), "{html}");
            assert!(!html.contains("href=\"ftp"), "{html}");
        }
        let quoted = html_of("\"https://example.com/\"onmouseover=\"x\"");
        assert!(!quoted.contains("\" onmouseover"), "{quoted}");
        assert!(!quoted.contains("\"onmouseover=\"x"), "{quoted}");
    }

    #[test]
    fn text_without_addresses_is_only_escaped() {
        assert_eq!(html_of("a < b & c"), "a &lt; b &amp; c");
    }
}
