//! myquorum's HTTP control plane (`shared/DESIGN.md` section 6, `shared/API.md`): the
//! coordinator API on one listener, the old system's services on their legacy ports, a metrics
//! collector probing every node, Cabinet's quorum prediction and SEER's leader scores.
//!
//! It runs in the proxy's process and reads the proxy's [`myquorum_proxy::server::Shared`]
//! state; it never routes a query itself. Start it with [`serve`] on a [`ControlPlane`].

#![warn(missing_docs)]

pub mod auth;
pub mod body;
pub mod cabinet;
pub mod collector;
pub mod config;
pub mod consistency_metrics;
pub mod dashboard;
pub mod error;
pub mod failover;
pub mod guard;
pub mod history;
pub mod http;
pub mod https;
pub mod legacy;
pub mod openapi;
pub mod preflight;
pub mod probe;
pub mod prometheus;
pub mod routes;
pub mod seer;
pub mod server;
pub mod state;

pub use config::{ControlPlaneConfig, LegacyListen};
pub use error::ControlPlaneError;
pub use server::serve;
pub use state::{ControlPlane, NodeControl};
