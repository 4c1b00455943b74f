//! The services: the only code that changes a conversation's state and
//! publishes events (send, read marks, typing), and the reads every page and
//! socket shares (what a member sees of a conversation, its history).
//! Handlers (`routes`, `socket`) parse input and call these.

mod reading;
mod send;
mod typing;

pub use reading::{history, non_members, people_of_group, scope_of, Scope};
pub use send::{mark_read, new_client_id, send, send_with, Draft, Sent};
pub use typing::typing;
