//! Raw backend connections and their idle pool.

pub mod conn;
pub mod pool;
pub mod prepared;
pub mod tls;

pub use conn::{BackendConn, BackendKey, ServerInfo};
pub use pool::Pool;
pub use tls::{BackendStream, BackendTls};
