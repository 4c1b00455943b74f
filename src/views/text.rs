//! A message's text as HTML: escaped by maud like all text, with web
//! addresses turned into links that open in a new tab and pass nothing on,
//! and the members it mentions highlighted.

use linkify::{LinkFinder, LinkKind};
use maud::{html, Markup};

use crate::domain::{mention_spans, Mention, UserId};

/// The text with every `http://` or `https://` address a link. Finding
/// where an address ends (trailing punctuation, parentheses) is left to
/// `linkify`; anything but those two schemes stays text, so no message can
/// carry a `javascript:` link. An `@name` of a member the message mentions
/// (stored when it was sent) is highlighted, more so for the viewer;
/// anyone else's `@name` stays text.
pub(crate) fn with_links(text: &str, mentions: &[Mention], viewer: UserId) -> Markup {
    let mut finder = LinkFinder::new();
    finder.kinds(&[LinkKind::Url]);
    html! {
        @for span in finder.spans(text) {
            @let part = span.as_str();
            @if span.kind().is_some() && is_web_address(part) {
                a href=(part) target="_blank" rel="noopener noreferrer nofollow" { (part) }
            } @else {
                (with_mentions(part, mentions, viewer))
            }
        }
    }
}

fn with_mentions(text: &str, mentions: &[Mention], viewer: UserId) -> Markup {
    let mut at = 0;
    html! {
        @for (range, name) in mention_spans(text) {
            @if let Some(mention) = mentions.iter().find(|m| m.username.eq_ignore_ascii_case(name)) {
                (&text[at..range.start])
                @if mention.user_id == viewer {
                    strong.mention.mention-me { "@" (mention.username) }
                } @else {
                    a.mention href=(super::contact_url(&mention.username)) { "@" (mention.username) }
                }
                ({ at = range.end; "" })
            }
        }
        (&text[at..])
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
        with_links(text, &[], UserId::new(1)).into_string()
    }

    #[test]
    fn members_it_mentions_are_highlighted_and_other_names_stay_text() {
        let mentions = [Mention {
            user_id: UserId::new(2),
            username: "Bob".into(),
        }];
        let html = with_links("hi @bob and @carol, <b>", &mentions, UserId::new(2)).into_string();
        assert_eq!(
            html,
            "hi <strong class=\"mention mention-me\">@Bob</strong> and @carol, &lt;b&gt;"
        );
        let html = with_links("hi @bob", &mentions, UserId::new(1)).into_string();
        assert_eq!(html, "hi <a class=\"mention\" href=\"/c/Bob\">@Bob</a>");
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
