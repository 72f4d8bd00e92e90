//! The `myquorum` binary's library: command-line interface, layered settings, and the
//! commands that wire the proxy (and the sandbox) together.

pub mod admin_cli;
pub mod cli;
pub mod malloc;
pub mod serve;
pub mod settings;
pub mod shutdown;
pub mod stress;
pub mod table;
pub mod up;
pub mod wire;
