//! The control plane's HTTP API as the operator commands call it: the address and bearer
//! token from the settings (or flags), JSON in and out, and one error type that says whether
//! the API refused the request (with its JSON message) or could not be reached at all.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Why a call to the control plane failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The API answered with an error status; `message` is its JSON `message` (or the body).
    #[error("{method} {path}: HTTP {status}: {message}")]
    Refused {
        /// The request method.
        method: Method,
        /// The path asked for.
        path: String,
        /// The status code.
        status: StatusCode,
        /// The API's message.
        message: String,
        /// The whole JSON body (null when it was not JSON).
        body: Value,
    },
    /// No answer: connection refused, timed out, reset.
    #[error("cannot reach the control plane at {url}: {reason}")]
    Unreachable {
        /// The URL asked for.
        url: String,
        /// What the client said, with its causes (reqwest's own message says little).
        reason: String,
    },
    /// An answer that is not the JSON the path promises.
    #[error("{path}: the answer is not valid JSON: {reason}")]
    BadAnswer {
        /// The path asked for.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `--api` or `control_plane.listen` is not usable as a URL.
    #[error("invalid control plane address {0:?}: expected http://host:port or host:port")]
    BadAddress(String),
}

impl ApiError {
    /// The process exit code for this failure: 1 when the API refused the request, 3 when it
    /// could not be reached or answered nonsense (2 is clap's, for bad command lines).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Refused { .. } => 1,
            Self::Unreachable { .. } | Self::BadAnswer { .. } | Self::BadAddress(_) => 3,
        }
    }

    /// The JSON body of a refusal, for `--json` output.
    pub fn body(&self) -> Option<&Value> {
        match self {
            Self::Refused { body, .. } => Some(body),
            _ => None,
        }
    }
}

/// A client of one control plane.
#[derive(Debug, Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl ApiClient {
    /// A client of `base` (`http://host:port`, or `host:port`), sending `token` as a bearer
    /// token when set, giving up on a request after `timeout`.
    pub fn new(base: &str, token: Option<String>, timeout: Duration) -> Result<Self, ApiError> {
        let base = normalise_base(base)?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| unreachable(&base, &e))?;
        Ok(Self {
            http,
            base,
            token: token.filter(|t| !t.is_empty()),
        })
    }

    /// The base URL requests go to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path`, the JSON answer.
    pub async fn get(&self, path: &str) -> Result<Value, ApiError> {
        self.call(Method::GET, path, None, &[]).await
    }

    /// `POST path` with a JSON body, the JSON answer.
    pub async fn post(&self, path: &str, body: Value) -> Result<Value, ApiError> {
        self.call(Method::POST, path, Some(body), &[]).await
    }

    /// Like [`Self::get`], but statuses in `also_ok` answer with their body too (`/health`
    /// answers 503 with its usual body when the primary cannot take writes).
    pub async fn get_accepting(
        &self,
        path: &str,
        also_ok: &[StatusCode],
    ) -> Result<Value, ApiError> {
        self.call(Method::GET, path, None, also_ok).await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        also_ok: &[StatusCode],
    ) -> Result<Value, ApiError> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| unreachable(&url, &e))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| unreachable(&url, &e))?;
        let parsed = serde_json::from_str::<Value>(&text);
        if status.is_success() || also_ok.contains(&status) {
            return parsed.map_err(|e| ApiError::BadAnswer {
                path: path.to_owned(),
                reason: e.to_string(),
            });
        }
        let body = parsed.unwrap_or(Value::Null);
        let message = body
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| text.trim().chars().take(500).collect());
        Err(ApiError::Refused {
            method,
            path: path.to_owned(),
            status,
            message,
            body,
        })
    }
}

/// An unreachable-API error naming every cause ("connection refused", "timed out").
fn unreachable(url: &str, error: &reqwest::Error) -> ApiError {
    let mut reason = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    ApiError::Unreachable {
        url: url.to_owned(),
        reason,
    }
}

/// `http://host:port` from what the operator or the settings gave: a URL is kept (trailing
/// `/` removed); a bare `ip:port` becomes `http://ip:port`, with a wildcard listen address
/// (`0.0.0.0`, `[::]`) replaced by loopback, where the API also answers.
pub fn normalise_base(addr: &str) -> Result<String, ApiError> {
    let addr = addr.trim();
    if let Some(rest) = addr.strip_prefix("http://") {
        if rest.is_empty() {
            return Err(ApiError::BadAddress(addr.to_owned()));
        }
        return Ok(addr.trim_end_matches('/').to_owned());
    }
    if addr.contains("://") {
        // The control plane speaks plain HTTP only.
        return Err(ApiError::BadAddress(addr.to_owned()));
    }
    if let Ok(mut sock) = addr.parse::<SocketAddr>() {
        if sock.ip().is_unspecified() {
            let loopback = match sock.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            };
            sock.set_ip(loopback);
        }
        return Ok(format!("http://{sock}"));
    }
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(format!("http://{addr}"))
        }
        _ => Err(ApiError::BadAddress(addr.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_become_base_urls() {
        let ok = |a: &str| normalise_base(a).expect(a);
        assert_eq!(ok("127.0.0.1:9000"), "http://127.0.0.1:9000");
        assert_eq!(ok("0.0.0.0:9000"), "http://127.0.0.1:9000");
        assert_eq!(ok("[::]:9000"), "http://[::1]:9000");
        assert_eq!(ok("http://db-proxy:9000/"), "http://db-proxy:9000");
        assert_eq!(ok("localhost:9000"), "http://localhost:9000");
        for bad in ["https://x:9000", "nowhere", "http://", "host:port"] {
            assert!(normalise_base(bad).is_err(), "{bad}");
        }
    }
}
