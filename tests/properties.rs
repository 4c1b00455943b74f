//! Property tests: hostile and arbitrary input for the message and frame
//! parsers and the message renderer. Nothing panics, limits hold, and user
//! text never becomes markup.

use natter::chat::Draft;
use natter::domain::{ConversationId, MessageId, UserId, Zone};
use natter::socket::{parse_frame, ClientFrame};
use natter::store::messages::Message;
use natter::views::chat::{message, Timeline};
use proptest::prelude::*;

fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn stored(body: String) -> Message {
    Message {
        id: MessageId::new(7),
        conversation_id: ConversationId::new(1),
        seq: 3,
        sender_id: UserId::new(2),
        sender_name: "alice".into(),
        sender_display: String::new(),
        body,
        created_at: time::OffsetDateTime::UNIX_EPOCH,
        changed_seq: 3,
        note: false,
        edited_at: None,
        deleted: false,
        quote: Default::default(),
        reactions: Vec::new(),
        mentions: Vec::new(),
        attachment: Default::default(),
        ciphertext: None,
    }
}

/// Text that leans on what breaks things: markup, quotes, bidi overrides,
/// control characters, emoji, and plenty of arbitrary Unicode.
fn hostile_text() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        Just("<script>alert(1)</script>".to_owned()),
        Just("\"><img src=x onerror=alert(1)>".to_owned()),
        Just("' OR '1'='1".to_owned()),
        Just("\u{202E}evil\u{202C}".to_owned()),
        Just("\u{0}\u{7}\u{1b}[2J".to_owned()),
        Just("👩‍👩‍👧 ".to_owned()),
        Just("\r\n".to_owned()),
        Just(" https://example.com/a?b=<i>&c=\"onmouseover=alert(1) ".to_owned()),
        Just("javascript:alert(1) data:text/html,<b>x</b> ".to_owned()),
        any::<String>(),
    ];
    prop::collection::vec(pieces, 0..8).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn drafts_are_trimmed_bounded_and_free_of_control_characters(body in hostile_text(), id in "[A-Za-z0-9_-]{1,64}") {
        match Draft::parse(Some(&body), Some(&id)) {
            Ok(draft) => {
                let text = draft.body();
                prop_assert!(!text.is_empty());
                prop_assert_eq!(text, text.trim());
                prop_assert!(text.chars().count() <= natter::limits::MESSAGE_MAX_CHARS);
                prop_assert!(!text.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
                prop_assert!(!text.contains('\r'));
            }
            Err(e) => prop_assert_eq!(e.status().code, 422),
        }
    }

    #[test]
    fn client_ids_outside_the_alphabet_are_refused(id in ".{0,80}") {
        let valid = !id.is_empty() && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        prop_assert_eq!(Draft::parse(Some("hello"), Some(&id)).is_ok(), valid);
    }

    #[test]
    fn any_text_frame_parses_or_is_refused_without_panicking(text in hostile_text()) {
        let _ = parse_frame(&text);
    }

    #[test]
    fn a_json_frame_carries_any_body_exactly(body in hostile_text(), typing in any::<bool>()) {
        let text = serde_json::json!({"body": body, "client_id": "c1", "typing": typing, "HEADERS": {}}).to_string();
        match parse_frame(&text).expect("valid frame") {
            ClientFrame::Typing => prop_assert!(typing, "a typing notice only when it says so"),
            ClientFrame::Send { body: sent, .. } => {
                prop_assert!(!typing);
                prop_assert_eq!(sent.as_deref(), Some(body.as_str()));
            }
            ClientFrame::Seen => prop_assert!(false, "not a seen notice"),
            ClientFrame::Resume(_) => prop_assert!(false, "not a resume"),
            ClientFrame::Visible(_) => prop_assert!(false, "not a visibility notice"),
        }
    }

    #[test]
    fn a_rendered_message_shows_the_body_as_text_and_web_links_only(body in hostile_text()) {
        let zone = Zone::utc();
        let timeline = Timeline { viewer: UserId::new(1), zone: &zone, group: false, unread_after: None, csrf: "token" };
        let html = message(&stored(body.clone()), &timeline, false).into_string();
        let start = html.find(r#"<p class="body" dir="auto">"#).expect("body") + r#"<p class="body" dir="auto">"#.len();
        let end = start + html[start..].find("</p>").expect("end of body");
        let (text, links) = without_links(&html[start..end]);
        prop_assert_eq!(text, escaped(&body));
        for href in links {
            prop_assert!(href.starts_with("http://") || href.starts_with("https://"), "{}", href);
            prop_assert!(!href.contains('"') && !href.contains('<'), "{}", href);
        }
        let rest = format!("{}{}", &html[..start], &html[end..]);
        prop_assert_eq!(rest.matches('<').count(), message(&stored(String::new()), &timeline, false).into_string().matches('<').count());
    }
}

#[test]
fn a_megabyte_body_is_refused_with_a_clear_error() {
    let body = "x".repeat(1024 * 1024);
    let error = Draft::parse(Some(&body), Some("big")).unwrap_err();
    assert!(error.public_message().contains("at most"));
}

/// The body's HTML with the link tags the renderer adds taken out (their
/// text kept), and the addresses they pointed to.
fn without_links(html: &str) -> (String, Vec<String>) {
    const OPEN: &str = r#"<a href=""#;
    const REST: &str = r#"" target="_blank" rel="noopener noreferrer nofollow">"#;
    let (mut text, mut links, mut rest) = (String::new(), Vec::new(), html);
    while let Some(at) = rest.find(OPEN) {
        text.push_str(&rest[..at]);
        let after = &rest[at + OPEN.len()..];
        let href_end = after.find(REST).expect("a link the renderer made");
        links.push(after[..href_end].replace("&amp;", "&"));
        let inner = &after[href_end + REST.len()..];
        let close = inner.find("</a>").expect("closed link");
        text.push_str(&inner[..close]);
        rest = &inner[close + "</a>".len()..];
    }
    text.push_str(rest);
    (text, links)
}
