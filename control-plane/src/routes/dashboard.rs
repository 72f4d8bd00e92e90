//! `GET /` and `GET /assets/{file}` (the dashboard's embedded files) and `GET /events`, its
//! Server-Sent Events stream: the kept snapshots at once, then one every second, until the
//! client goes away or the server shuts down.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use crate::dashboard::assets;
use crate::dashboard::feed::Frame;
use crate::error::ControlPlaneError;
use crate::state::ControlPlane;

/// Scripts, styles, images and connections from this origin only; no framing (the page has
/// buttons that fail over a cluster: no other site may overlay it).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// One embedded file; 404 (JSON, as every unknown path) otherwise.
pub async fn asset(uri: Uri) -> Response {
    let Some(asset) = assets::find(uri.path()) else {
        return ControlPlaneError::NotFound {
            kind: "Path",
            id: uri.path().to_owned(),
        }
        .into_response();
    };
    let headers = [
        (CONTENT_TYPE, HeaderValue::from_static(asset.content_type)),
        (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_static(CSP),
        ),
        (
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ),
        (
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ),
        (
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    (headers, asset.body).into_response()
}

/// The event stream: a `snapshot` event per kept snapshot, oldest first, then one per new
/// snapshot. A client too slow to keep up skips snapshots rather than holding them.
#[utoipa::path(get, path = "/events", tag = "dashboard",
    responses((status = 200, content_type = "text/event-stream",
        description = "Server-Sent Events: `snapshot` events, each a JSON cluster snapshot (the \
                       last 5 minutes at once, then one per second); ends at server shutdown")))]
pub async fn events(State(cp): State<ControlPlane>) -> impl IntoResponse {
    let (history, live) = cp.feed().subscribe();
    let closed = Box::pin(cp.feed().closed());
    let kept = stream::iter(history).map(frame);
    let next = stream::unfold(live, |mut live| async move {
        loop {
            match live.recv().await {
                Ok(f) => return Some((f, live)),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    })
    .map(frame);
    let body = kept.chain(next).take_until(closed);
    (
        [(CACHE_CONTROL, HeaderValue::from_static("no-cache"))],
        Sse::new(body).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))),
    )
}

fn frame(f: Frame) -> Result<Event, Infallible> {
    Ok(Event::default().event("snapshot").data(&*f))
}
