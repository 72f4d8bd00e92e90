//! The bearer-token check of the admin paths and `/query`: required only when the API
//! listens beyond loopback, where [`crate::serve`] refuses to start without a token.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ControlPlaneError;
use crate::state::ControlPlane;

/// Middleware: lets the request through when no token is required or the right one is sent
/// (`Authorization: Bearer <token>`), answers 401 otherwise.
pub async fn require_token(State(cp): State<ControlPlane>, req: Request, next: Next) -> Response {
    if cp.auth_required() {
        let expected = cp.config().token.as_deref().unwrap_or_default();
        let sent = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if expected.is_empty() || !same(sent.as_bytes(), expected.as_bytes()) {
            return ControlPlaneError::Unauthorized.into_response();
        }
    }
    next.run(req).await
}

/// Compares without stopping at the first difference (no timing hint about the prefix).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn same_compares_whole_strings() {
        assert!(super::same(b"abc", b"abc"));
        assert!(!super::same(b"abc", b"abd"));
        assert!(!super::same(b"abc", b"ab"));
    }
}
