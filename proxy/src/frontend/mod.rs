//! The client side: handshake and authentication, then the per-client command loop.

pub mod change_user;
pub mod commands;
pub mod handshake;
pub mod hidden_gtid;
pub mod history;
pub mod kill;
pub mod prepared;
pub mod processlist;
pub mod query;
pub mod session;
pub mod statements;

/// A client's connection as sessions and the admin port use it: the socket, TLS over it after
/// an SSLRequest, and the compressed protocol on top after login when the client asked for it.
pub type ClientIo = crate::packet::PacketIo<crate::compress::Compressed<crate::tls::ClientStream>>;
