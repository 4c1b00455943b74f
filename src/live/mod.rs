//! Live delivery: the in-process hub that fans events out to sockets, who is
//! online, the PostgreSQL bridge that carries both between instances, and
//! Web Push for members with no page in view.

pub mod bridge;
pub mod hub;
pub mod presence;
pub mod push;
