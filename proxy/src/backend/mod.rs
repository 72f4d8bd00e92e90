//! Raw backend connections and their idle pool.

pub mod conn;
pub mod pool;

pub use conn::{BackendConn, BackendKey, ServerInfo};
pub use pool::Pool;
