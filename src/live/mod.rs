//! Live delivery: the in-process hub that fans events out to sockets, who is
//! online, and the PostgreSQL bridge that carries both between instances.

pub mod bridge;
pub mod hub;
pub mod presence;
