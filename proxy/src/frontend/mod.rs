//! The client side: handshake and authentication, then the per-client command loop.

pub mod commands;
pub mod handshake;
pub mod session;
