//! Browser-facing guards every route sits behind, on the coordinator and the legacy ports:
//! the `Host` check against DNS rebinding, the JSON-only rule for mutating methods against
//! cross-site requests, and the request timeout.
//!
//! Why both: a page on any site can POST `text/plain` to `http://127.0.0.1:9000` without a
//! CORS preflight (the browser sends it, the answer is merely unreadable), so mutating routes
//! take only `application/json`, which a cross-origin page cannot send without a preflight we
//! never grant. A page whose name re-resolves to 127.0.0.1 (DNS rebinding) is same-origin to
//! the browser and could read answers, but its requests carry its own name in `Host`: only
//! loopback names, the IP the connection arrived on and configured names are served.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ControlPlaneError;
use crate::state::ControlPlane;

/// The address a connection arrived on, put in every request's extensions by
/// [`crate::http::serve_http`] so the `Host` check can accept that IP.
#[derive(Debug, Clone, Copy)]
pub struct LocalAddr(pub SocketAddr);

/// Middleware: `Host` check, then the JSON rule, then the handler under the request timeout.
pub async fn browser_guards(State(cp): State<ControlPlane>, req: Request, next: Next) -> Response {
    let local = req.extensions().get::<LocalAddr>().map(|l| l.0.ip());
    let host = req.headers().get(HOST).and_then(|h| h.to_str().ok());
    if !host.is_some_and(|h| host_allowed(h, local, &cp.config().allowed_hosts)) {
        let host = req
            .headers()
            .get(HOST)
            .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned());
        return ControlPlaneError::HostNotAllowed { host }.into_response();
    }
    if mutating(req.method()) {
        let found = req.headers().get(CONTENT_TYPE).map(|v| v.as_bytes());
        if !found.is_some_and(is_json) {
            let found = found.map(|v| String::from_utf8_lossy(v).into_owned());
            return ControlPlaneError::UnsupportedMediaType { found }.into_response();
        }
    }
    let limit = cp.config().request_timeout();
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ControlPlaneError::RequestTimeout {
            limit_ms: cp.config().request_timeout_ms,
        }
        .into_response(),
    }
}

/// Methods that change something (and that a page may send cross-site without preflight
/// when the content type is "simple").
fn mutating(method: &Method) -> bool {
    [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method)
}

/// `application/json`, with or without parameters (`; charset=utf-8`), any case.
fn is_json(value: &[u8]) -> bool {
    let essence = value.split(|b| *b == b';').next().unwrap_or_default();
    essence
        .trim_ascii()
        .eq_ignore_ascii_case(b"application/json")
}

/// Whether a `Host` header names this server: a loopback name or IP, the IP the connection
/// arrived on, or an entry of `allowed` (compared with and without the port).
pub fn host_allowed(host: &str, local: Option<IpAddr>, allowed: &[String]) -> bool {
    let host = host.trim();
    let name = strip_port(host);
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let literal = name.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        if ip.is_loopback() || Some(ip) == local {
            return true;
        }
    }
    allowed
        .iter()
        .map(|a| a.trim())
        .any(|a| a.eq_ignore_ascii_case(host) || a.eq_ignore_ascii_case(name))
}

/// `name:port` -> `name`; `[v6]:port` -> `[v6]`; a bare name or IPv6 literal unchanged.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loopback names and IPs, the arrival IP and configured names pass; other names
    /// (a rebinding page's) do not.
    #[test]
    fn hosts_are_checked() {
        let allowed = vec!["dash.example:9000".to_owned(), "myquorum".to_owned()];
        let local: Option<IpAddr> = "10.0.0.5".parse().ok();
        for ok in [
            "localhost",
            "LOCALHOST:9000",
            "127.0.0.1:9000",
            "127.0.0.1",
            "[::1]:9000",
            "[::1]",
            "10.0.0.5:9000",
            "dash.example:9000",
            "myquorum:9000",
            "myquorum",
        ] {
            assert!(host_allowed(ok, local, &allowed), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:9000",
            "localhost.evil.example",
            "10.0.0.6:9000",
            "dash.example:9001",
            "",
        ] {
            assert!(!host_allowed(bad, local, &allowed), "{bad}");
        }
    }

    #[test]
    fn json_content_types() {
        assert!(is_json(b"application/json"));
        assert!(is_json(b"Application/JSON; charset=utf-8"));
        assert!(!is_json(b"text/plain"));
        assert!(!is_json(b"application/x-www-form-urlencoded"));
        assert!(!is_json(b"application/jsonp"));
    }
}
