//! myquorum's data path: the MySQL front door, the backend connections and the relay between
//! them. Every statement a client sends passes through [`frontend::session`], which forwards it
//! to a backend connection taken from [`backend::pool`] and streams the answer back with
//! [`relay`]. See `shared/DESIGN.md` section 1 for the layout this crate follows.

/// The hasher of the maps the statement path reads several times per statement, keyed by
/// values the proxy chose (pool keys from its configuration, ids it handed out, pin
/// reasons): foldhash with a per-process random seed. Not for keys a client writes (statement
/// text, settings): those keep SipHash.
pub(crate) type FastHash = foldhash::fast::RandomState;

pub mod admin;
pub mod backend;
pub mod capabilities;
pub mod classify;
pub mod cluster;
pub mod compress;
pub mod config;
pub mod context;
pub mod engine;
pub mod error;
pub mod frontend;
pub mod gtid;
pub mod idle;
pub mod limits;
pub mod listener;
#[cfg(test)]
mod mem_stream;
pub mod metrics;
pub mod ok_packet;
pub mod packet;
pub mod pipeline;
pub mod quorum;
pub mod registry;
pub mod relay;
pub mod resultset;
pub mod route;
pub mod server;
pub mod timestamps;
pub mod tls;
pub mod workers;

pub use config::{
    BackendNode, BackendTlsConfig, LimitsConfig, PoolConfig, ProxyConfig, QuorumConfig, TlsConfig,
    UserConfig,
};
pub use error::ProxyError;
pub use server::{serve, Proxy};
