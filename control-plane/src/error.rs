//! The crate's one error type, and the one place it becomes an HTTP response
//! ([`IntoResponse`]). Every error body is JSON with at least `error` and `message`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::net::SocketAddr;
use thiserror::Error;

use crate::seer::Candidate;

/// Everything that can go wrong in the control plane: at start-up (configuration, binding)
/// and per request (bad input, unknown ids, missing features, an unavailable cluster).
#[derive(Debug, Error)]
pub enum ControlPlaneError {
    /// A configuration value failed validation.
    #[error("invalid configuration key `{key}`: {reason}")]
    Config {
        /// Dotted key, e.g. `control_plane.token`.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The coordinator listener failed while serving.
    #[error("HTTP server on {addr} failed: {source}")]
    Serve {
        /// Its address.
        addr: SocketAddr,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The request body is not the JSON the path takes (422).
    #[error("invalid request body: {reason}")]
    BadBody {
        /// What the parser said.
        reason: String,
    },
    /// A path or query parameter is out of range (422).
    #[error("invalid parameter `{name}`: {reason}")]
    BadParameter {
        /// Parameter name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An id that names no node (404).
    #[error("{kind} not found: {id}")]
    NotFound {
        /// What was looked up ("Replica", "Instance").
        kind: &'static str,
        /// The id given.
        id: String,
    },
    /// An admin path or `/query` without the configured bearer token (401).
    #[error(
        "this path requires the configured bearer token (Authorization: Bearer <token>): {missing}"
    )]
    Unauthorized {
        /// What is missing or wrong.
        missing: &'static str,
    },
    /// A `Host` header that is neither loopback, the address the connection arrived on, nor
    /// in `control_plane.allowed_hosts` (421): the DNS-rebinding guard.
    #[error("Host {} is not served here: use a loopback address or add it to control_plane.allowed_hosts", host.as_deref().unwrap_or("(missing)"))]
    HostNotAllowed {
        /// The header sent, if any.
        host: Option<String>,
    },
    /// A POST/PUT/PATCH/DELETE whose body is not declared JSON (415): a web page can send
    /// `text/plain` cross-origin without a CORS preflight, but not `application/json`.
    #[error("this path takes Content-Type: application/json (got {})", found.as_deref().unwrap_or("none"))]
    UnsupportedMediaType {
        /// The content type sent, if any.
        found: Option<String>,
    },
    /// Every `/query` slot is taken (503 with `Retry-After`).
    #[error(
        "{limit} /query requests are running (control_plane.query_concurrency); retry shortly"
    )]
    Busy {
        /// The configured concurrency.
        limit: usize,
    },
    /// The request ran past `control_plane.request_timeout_ms` (504).
    #[error("the request ran past control_plane.request_timeout_ms = {limit_ms}")]
    RequestTimeout {
        /// The configured timeout.
        limit_ms: u64,
    },
    /// A statement ran past `control_plane.query_timeout_ms` (504, `/query` error shape).
    #[error("{reason} (control_plane.query_timeout_ms)")]
    StatementTimeout {
        /// What the engine said (the timeout, the node, whether KILL QUERY reached it).
        reason: String,
    },
    /// A path whose feature has not landed yet (501): an honest absence.
    #[error("{path} is not implemented yet: {missing}")]
    NotImplemented {
        /// The path asked for.
        path: &'static str,
        /// The work that is missing.
        missing: &'static str,
    },
    /// `POST /reset` on a timestamp service (409).
    #[error(
        "timestamps are GTID sequence numbers of committed writes and cannot be rewound; \
         POST /admin/clear-data deletes the demo rows instead (timestamps keep growing)"
    )]
    ResetRefused,
    /// No Cabinet quorum can form with the nodes that are healthy now (503).
    #[error("no quorum possible: {reason}")]
    NoQuorum {
        /// Why.
        reason: String,
    },
    /// SEER found no eligible candidate (503); the body lists every candidate and why.
    #[error("no replica is eligible for leadership")]
    NoEligibleLeader {
        /// Every candidate with its reason.
        candidates: Vec<Candidate>,
        /// Why the last automatic failover was refused, if it was.
        failover_refused: Option<crate::failover::Refusal>,
    },
    /// The server refused a statement the client sent (400): 1064, 1062, 1146, ...
    #[error("{message}")]
    Sql {
        /// MySQL error code.
        code: u16,
        /// SQLSTATE.
        sqlstate: String,
        /// The server's message.
        message: String,
    },
    /// A `POST /query` body that cannot run (422): malformed JSON, unknown consistency,
    /// empty or oversized query. Answers in the `/query` error shape.
    #[error("invalid query request: {reason}")]
    BadQuery {
        /// What is wrong with it.
        reason: String,
    },
    /// No server could take a statement (503).
    #[error("no server can take the statement: {reason}")]
    Unavailable {
        /// What the engine said.
        reason: String,
    },
    /// A backend did not answer in time (504).
    #[error("backend timed out: {reason}")]
    BackendTimeout {
        /// What the engine said.
        reason: String,
    },
    /// The proxy has no application user to run `/query` statements as (500): the server is
    /// misconfigured, not the request; the message names the key to fix.
    #[error(
        "the proxy has no application user to run statements as: add one under [[proxy.users]]"
    )]
    NoAppUser,
    /// A failover path could not do what was asked: refused by the safety gate (503, with
    /// every candidate), already running or cooling down (409), a node statement failed
    /// (502), a bad target (422), or no server launcher (409).
    #[error("{0}")]
    Failover(#[from] crate::failover::FailoverError),
    /// The primary has not answered the collector's probes (503).
    #[error("primary {node} is unavailable: {reason}")]
    PrimaryUnavailable {
        /// Its id.
        node: String,
        /// The last probe's error, or that it was never probed.
        reason: String,
    },
}

impl ControlPlaneError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Config { .. } | Self::Serve { .. } | Self::NoAppUser => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Self::BadBody { .. } | Self::BadParameter { .. } | Self::BadQuery { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::Sql { .. } => StatusCode::BAD_REQUEST,
            Self::Unavailable { .. } | Self::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::BackendTimeout { .. }
            | Self::RequestTimeout { .. }
            | Self::StatementTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::HostNotAllowed { .. } => StatusCode::MISDIRECTED_REQUEST,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::NotImplemented { .. } => StatusCode::NOT_IMPLEMENTED,
            Self::ResetRefused => StatusCode::CONFLICT,
            Self::NoQuorum { .. }
            | Self::NoEligibleLeader { .. }
            | Self::PrimaryUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Failover(e) => {
                use crate::failover::FailoverError as F;
                match e {
                    F::NoEligible { .. } => StatusCode::SERVICE_UNAVAILABLE,
                    F::InProgress | F::CoolDown { .. } | F::Topology(_) | F::NoNodeControl(_) => {
                        StatusCode::CONFLICT
                    }
                    F::Sql { .. } | F::Diverged { .. } => StatusCode::BAD_GATEWAY,
                    F::BadTarget(_) => StatusCode::UNPROCESSABLE_ENTITY,
                }
            }
        }
    }

    /// The short `error` field of the body (the old services' wording where they had one).
    fn short(&self) -> String {
        match self {
            Self::Config { .. } | Self::Serve { .. } => "Internal error".to_owned(),
            Self::BadBody { .. } => "Invalid request body".to_owned(),
            Self::BadParameter { .. } => "Invalid parameter".to_owned(),
            Self::NotFound { kind, .. } => format!("{kind} not found"),
            Self::Unauthorized { .. } => "Unauthorized".to_owned(),
            Self::HostNotAllowed { .. } => "Host not allowed".to_owned(),
            Self::UnsupportedMediaType { .. } => "Unsupported media type".to_owned(),
            Self::Busy { .. } => "Too many queries".to_owned(),
            Self::RequestTimeout { .. } => "Request timeout".to_owned(),
            Self::StatementTimeout { .. } => "Statement timeout".to_owned(),
            Self::NotImplemented { .. } => "Not implemented".to_owned(),
            Self::ResetRefused => "Timestamps cannot be reset".to_owned(),
            Self::NoQuorum { .. } => "No quorum possible".to_owned(),
            Self::NoEligibleLeader { .. } => "No eligible leader".to_owned(),
            Self::PrimaryUnavailable { .. } => "Primary unavailable".to_owned(),
            Self::Sql { .. } => "SQL error".to_owned(),
            Self::Failover(_) => "Failover not done".to_owned(),
            Self::BadQuery { .. } => "Invalid query request".to_owned(),
            Self::Unavailable { .. } => "Unavailable".to_owned(),
            Self::BackendTimeout { .. } => "Backend timeout".to_owned(),
            Self::NoAppUser => "Proxy misconfigured".to_owned(),
        }
    }
}

impl From<myquorum_proxy::engine::EngineError> for ControlPlaneError {
    fn from(e: myquorum_proxy::engine::EngineError) -> Self {
        use myquorum_proxy::engine::EngineError;
        match e {
            EngineError::Sql {
                code,
                state,
                message,
            } => Self::Sql {
                code,
                sqlstate: state,
                message,
            },
            EngineError::Timeout(reason) => Self::BackendTimeout { reason },
            EngineError::Unavailable(reason) => Self::Unavailable { reason },
            EngineError::NoUser => Self::NoAppUser,
            e @ EngineError::StatementTimeout { .. } => Self::StatementTimeout {
                reason: e.to_string(),
            },
        }
    }
}

impl IntoResponse for ControlPlaneError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED {
            tracing::warn!(error = %self, "control-plane request failed");
        }
        let mut body = json!({ "error": self.short(), "message": self.to_string() });
        match &self {
            // The `/query` error shape: `{success: false, message, error: {code, sqlstate}}`.
            Self::Sql { code, sqlstate, .. } => {
                body = json!({
                    "success": false,
                    "message": self.to_string(),
                    "error": { "code": code, "sqlstate": sqlstate, "kind": self.short() },
                });
            }
            Self::BadQuery { .. }
            | Self::Unavailable { .. }
            | Self::BackendTimeout { .. }
            | Self::StatementTimeout { .. }
            | Self::Busy { .. }
            | Self::NoAppUser => {
                body = json!({
                    "success": false,
                    "message": self.to_string(),
                    "error": { "code": null, "sqlstate": null, "kind": self.short() },
                });
            }
            Self::NotImplemented { path, missing } => {
                body["path"] = json!(path);
                body["missing"] = json!(missing);
            }
            Self::NoEligibleLeader {
                candidates,
                failover_refused,
            } => {
                body["candidates"] = json!(candidates);
                body["failover_refused"] = json!(failover_refused);
            }
            Self::Failover(crate::failover::FailoverError::NoEligible {
                candidates,
                required,
                ..
            }) => {
                body["success"] = json!(false);
                body["candidates"] = json!(candidates);
                body["required_position"] = json!(required);
            }
            Self::Failover(_) => body["success"] = json!(false),
            _ => {}
        }
        let mut response = (status, Json(body)).into_response();
        if matches!(self, Self::Unauthorized { .. }) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        if matches!(self, Self::Busy { .. }) {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use myquorum_proxy::engine::EngineError;

    /// A proxy without an application user answers `/query` with a 500 whose JSON names the
    /// key to fix, not with a 503 that suggests a cluster outage.
    #[tokio::test]
    async fn missing_app_user_is_a_500_naming_the_key() {
        let e = ControlPlaneError::from(EngineError::NoUser);
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let response = e.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["kind"], "Proxy misconfigured");
        let message = body["message"].as_str().expect("message");
        assert!(message.contains("proxy.users"), "{message}");
    }
}
