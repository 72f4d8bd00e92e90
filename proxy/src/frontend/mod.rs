//! The client side: handshake and authentication, then the per-client command loop.

pub mod change_user;
pub mod commands;
pub mod handshake;
pub mod history;
pub mod kill;
pub mod prepared;
pub mod query;
pub mod session;
pub mod statements;
