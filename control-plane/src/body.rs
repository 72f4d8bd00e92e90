//! [`Body`]: the JSON body extractor of every POST path. Malformed JSON or wrong types become
//! [`ControlPlaneError::BadBody`] (422 with a JSON error) instead of axum's plain-text
//! rejection; an empty body means "all defaults", as the old services' optional fields did.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::error::ControlPlaneError;

/// Largest body accepted (none of the control plane's bodies is more than a few ids).
const MAX_BODY: usize = 64 * 1024;

/// A JSON request body; empty means `T::default()`. The content type is not checked (the old
/// dashboard and scripts did not always send one).
#[derive(Debug, Clone, Default)]
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = ControlPlaneError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes =
            Bytes::from_request(req, state)
                .await
                .map_err(|e| ControlPlaneError::BadBody {
                    reason: e.body_text(),
                })?;
        if bytes.len() > MAX_BODY {
            return Err(ControlPlaneError::BadBody {
                reason: format!("body of {} bytes exceeds {MAX_BODY}", bytes.len()),
            });
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|e| ControlPlaneError::BadBody {
                reason: e.to_string(),
            })
    }
}
