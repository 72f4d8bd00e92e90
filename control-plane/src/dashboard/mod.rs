//! The web dashboard served at `/` (README "Dashboard"): static assets compiled into the
//! binary ([`assets`]), and the live data its event stream (`GET /events`) sends
//! ([`feed`], [`snapshot`], [`window`]). The page itself uses only the HTTP API besides.

pub mod assets;
pub mod feed;
pub mod snapshot;
pub mod window;
