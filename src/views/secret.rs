//! What secret (end-to-end encrypted) conversations look like: the lock
//! mark, a bubble that carries its MLS ciphertext for the page's module to
//! decrypt (the server never has the text), the composer the module
//! encrypts from, and what a page without JavaScript says instead.

use base64ct::{Base64, Encoding};
use maud::{html, Markup};

use crate::domain::{ConversationId, Message, UserId};
use crate::limits::MESSAGE_MAX_CHARS;

/// A padlock beside a secret conversation's name.
pub(crate) fn lock_mark() -> Markup {
    html! {
        span.lock title="Secret conversation: end-to-end encrypted" {
            svg aria-hidden="true" viewBox="0 0 24 24" width="14" height="14" fill="none"
                stroke="currentColor" stroke-width="2.2" stroke-linecap="round" {
                rect x="5" y="11" width="14" height="10" rx="2" {}
                path d="M8 11V8a4 4 0 0 1 8 0v3" {}
            }
            span.visually-hidden { " (secret conversation, end-to-end encrypted)" }
        }
    }
}

/// A secret message's text as the server has it: the ciphertext, which
/// static/secret.js decrypts and puts in as text. Until then (and without
/// JavaScript) it says what it is.
pub(crate) fn encrypted_body(ciphertext: &[u8], message: &Message) -> Markup {
    html! {
        // A file it carries: its bytes are encrypted too; the module fetches
        // and decrypts them with the key in the message.
        @if let Some(file) = message.attachment() {
            div.secret-file data-src={ "/media/" (file.id) } {
                span.secret-pending { "Encrypted file (" (super::chat::human_size(file.size)) ")" }
            }
        }
        p.body.secret-body dir="auto" data-conversation=(message.conversation_id)
            data-seq=(message.seq) data-ciphertext=(Base64::encode_string(ciphertext)) {
            span.secret-pending { "Encrypted message" }
            noscript { " (reading it needs JavaScript)" }
        }
    }
}

/// The message form of a secret conversation. It has no action: its text
/// must never reach the server. static/secret.js enables it, encrypts what
/// is written and hands in the ciphertext; without JavaScript it stays
/// disabled and says why. Above it, the notice the module shows when
/// someone's keys changed.
pub(crate) fn composer(conversation: ConversationId) -> Markup {
    html! {
        p #key-change .notice role="status" hidden {}
        form #composer .composer .secret-composer data-conversation=(conversation) {
            fieldset #secret-fields disabled {
                // A file goes encrypted, with the text as its caption.
                (super::chat::attach_label("secret-file"))
                input #secret-file .secret-file-input type="file";
                label.visually-hidden for="body" { "Message" }
                textarea #body name="body" rows="1" maxlength=(MESSAGE_MAX_CHARS)
                    placeholder="Write an encrypted message…" required
                    aria-describedby="composer-error" {}
                button.primary type="submit" { "Send" }
            }
        }
        p #secret-file-chosen .chip hidden {}
        p #composer-error .form-error role="alert" {}
        noscript {
            p.notice { "This is a secret conversation: reading and writing in it needs JavaScript." }
        }
    }
}

/// The lock in a secret conversation's header, which opens what the
/// conversation is and the safety number shared with each other member, to
/// compare in person. static/secret.js computes each from the keys in this
/// browser's group state (the server cannot) and says when one changed.
pub(crate) fn header_menu(others: &[(UserId, &str)]) -> Markup {
    html! {
        details #safety-numbers .header-menu .secret-info {
            summary title="Secret conversation: end-to-end encrypted" {
                (lock_mark())
            }
            div.menu {
                p {
                    "Messages and files here are encrypted in your browser; only the members' "
                    "devices can read them. Search and notification texts are not available."
                }
                p { strong { "Safety numbers" } }
                p.hint {
                    "Compare each with that person, in person or on a call: when they match, "
                    "nobody in between holds keys to this conversation."
                }
                ul {
                    @for (user, name) in others {
                        li data-user=(user) {
                            strong { (name) } ": "
                            span.number { "not in the group yet" }
                        }
                    }
                }
            }
        }
    }
}
