//! The services: the only code that changes a conversation's state and
//! publishes events (send, read marks, typing), and the reads every page and
//! socket shares (what a member sees of a conversation, its history).
//! Handlers (`http`, `socket`) parse input and call these.

pub mod accounts;
pub mod actions;
pub mod admin;
pub mod conversations;
pub mod groups;
pub mod health;
pub mod profiles;
pub mod push;
mod reading;
pub mod search;
pub mod secret;
mod send;
mod typing;

pub use crate::domain::{resume_point, Draft};
pub use reading::{
    attachment, changes_after, contacts_of, conversation, history, history_around, inbox, later,
    member_list, non_members, peer, people_of_group, scope_of, seen, shown_last, tally, user_named,
    Scope,
};
pub use send::{mark_read, new_client_id, send, send_with, Sent};
pub use typing::typing;
