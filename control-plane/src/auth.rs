//! The bearer-token check of the admin paths and `/query`: required wherever a token is
//! configured, loopback included (a web page the operator opens can reach loopback too).
//! Without a token these paths are open, which [`crate::serve`] allows on loopback only.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ControlPlaneError;
use crate::state::ControlPlane;

/// Middleware: lets the request through when no token is configured or the right one is
/// sent (`Authorization: Bearer <token>`), answers 401 naming what is missing otherwise.
pub async fn require_token(State(cp): State<ControlPlane>, req: Request, next: Next) -> Response {
    if let Some(expected) = cp.config().token.as_deref() {
        if let Err(missing) = check(req.headers().get(AUTHORIZATION), expected) {
            return ControlPlaneError::Unauthorized { missing }.into_response();
        }
    }
    next.run(req).await
}

/// Checks an `Authorization` header against the token; on refusal, what is missing.
fn check(header: Option<&axum::http::HeaderValue>, expected: &str) -> Result<(), &'static str> {
    let header = header.ok_or("no Authorization header was sent")?;
    let sent = header
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or("the Authorization header is not `Bearer <token>`")?;
    if expected.is_empty() || !same(sent.trim().as_bytes(), expected.as_bytes()) {
        return Err("the bearer token does not match control_plane.token");
    }
    Ok(())
}

/// Compares without stopping at the first difference (no timing hint about the prefix).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    #[test]
    fn same_compares_whole_strings() {
        assert!(super::same(b"abc", b"abc"));
        assert!(!super::same(b"abc", b"abd"));
        assert!(!super::same(b"abc", b"ab"));
    }

    /// Each refusal names what is missing; the right token passes.
    #[test]
    fn refusals_name_what_is_missing() {
        let check = |v: Option<&str>| {
            let header = v.map(|v| HeaderValue::from_str(v).expect("header"));
            super::check(header.as_ref(), "s3cret")
        };
        assert!(check(None).expect_err("none").contains("no Authorization"));
        assert!(check(Some("s3cret"))
            .expect_err("no scheme")
            .contains("Bearer"));
        assert!(check(Some("Bearer nope"))
            .expect_err("wrong")
            .contains("does not match"));
        check(Some("Bearer s3cret")).expect("right token");
    }
}
