//! The middleware every request passes: its id and tracing span, the whole
//! body read within the limit, the request timeout, the metrics, and the
//! security headers.
//!
//! The request id and the security headers are tower-http's layers; the
//! body, the timeout, the span and the metrics are one hand-written
//! middleware ([`edge`]), because the timeout's answer depends on how far the
//! request got (see there).

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower::ServiceBuilder;
use tower_http::request_id::{self, MakeRequestId, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tracing::Instrument;

use super::{AppState, Face, Refusal};

/// The id of one request: stamped on its history entries and returned to the
/// client in `x-request-id`. An extractor, for handlers.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<RequestId, Self::Rejection> {
        Ok(RequestId(request_id_of(parts).to_owned()))
    }
}

/// The id [`SetRequestIdLayer`] gave the request (empty outside the edge).
fn request_id_of(parts: &Parts) -> &str {
    parts
        .extensions
        .get::<request_id::RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("")
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// `router` with the edge around each of its routes (and its fallback), on
/// behalf of the face `F`. Outermost first: the client's own `x-request-id`
/// is dropped (ids are ours: they are stamped on history entries), a new one
/// is made and copied onto the answer, the security headers are added to the
/// answer, and [`edge`] runs the request. One `Router::layer` call, so a
/// request pays for one boxed service, not one per layer.
///
/// Measured under callgrind against the hand-written headers and ids they
/// replaced (release builds, one keep-alive connection, see
/// [`super::metrics`]): about 2,800 more instructions per request, 8.6% of a
/// bare `/healthz` (about 32,500) but under 1% of a request in a mix of
/// `/healthz`, a list, an assignment, an unassignment and an unknown route
/// (about 146,000; the whole change, metrics included, measured +0.95%
/// there), so under the 3% that would have kept them hand-written.
pub fn layer<F: Face>(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let [h0, h1, h2, h3, h4] = SECURITY_HEADERS.map(|(name, value)| {
        SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        )
    });
    router.layer(
        ServiceBuilder::new()
            .map_request(forget_client_id)
            .layer(SetRequestIdLayer::new(X_REQUEST_ID, NextRequestId))
            .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
            .layer(h0)
            .layer(h1)
            .layer(h2)
            .layer(h3)
            .layer(h4)
            .layer(middleware::from_fn_with_state(state.clone(), edge::<F>)),
    )
}

/// [`SetRequestIdLayer`] keeps an id the client sent; ours are always made
/// here.
fn forget_client_id(mut req: Request) -> Request {
    req.headers_mut().remove(X_REQUEST_ID);
    req
}

/// Request ids: a random prefix per process and a counter, unique across
/// instances and restarts without a system call per request.
#[derive(Clone, Copy)]
struct NextRequestId;

impl MakeRequestId for NextRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<request_id::RequestId> {
        HeaderValue::try_from(next_request_id())
            .ok()
            .map(request_id::RequestId::new)
    }
}

fn next_request_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 6];
        crate::domain::random_bytes(&mut bytes);
        crate::domain::hex(&bytes)
    });
    format!("{prefix}-{:x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// Whether the request declares a body (a non-zero length, or chunked), and
/// whether the declared length is already over `limit`.
fn declared_body(headers: &HeaderMap, limit: usize) -> (bool, bool) {
    if headers.contains_key(TRANSFER_ENCODING) {
        return (true, false);
    }
    match headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        Some(0) | None => (false, false),
        Some(n) => (true, n > limit as u64),
    }
}

/// What became of a request within its time.
enum Outcome {
    Answered(Response),
    /// Refused while its body was read; the connection is closed after it.
    Refused(Refusal),
}

/// The hand-written part of the edge: the span, the body read within the
/// limit, the timeout and the metrics.
///
/// The timeout stays here rather than being tower-http's `TimeoutLayer`:
/// that layer answers a bare 408 with no body whatever the request was
/// doing, while the faces answer in their own envelope, 408 with
/// `Connection: close` only when the client still owed part of its body (the
/// rest of it must not be read as a request), and 503 when the handler was
/// slow. Telling these apart needs the body read inside the timed future.
async fn edge<F: Face>(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let id = request_id_of(&parts).to_owned();
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let route = route.as_deref().unwrap_or("unmatched");
    // Only the method, the matched route and the id: never the raw path or
    // query, a header or the body (tokens and passwords travel there).
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %parts.method,
        route = %route,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let limit = F::body_limit(route);
    let (owes_body, declared_too_large) = declared_body(&parts.headers, limit);
    // A refusal is rendered after the request has moved into the handler;
    // of its headers the faces read only the language, so keep just that
    // (a reference-counted clone), not a copy of every header per request.
    let language = parts
        .headers
        .get(axum::http::header::ACCEPT_LANGUAGE)
        .cloned();
    let refuse = |refusal: Refusal| {
        let mut headers = HeaderMap::new();
        if let Some(v) = language.clone() {
            headers.insert(axum::http::header::ACCEPT_LANGUAGE, v);
        }
        F::refuse(refusal, &headers)
    };
    let mut body_read = !owes_body;
    let timeout = state.guard.limits.request_timeout;
    let run = async {
        let body = if !owes_body {
            body
        } else if declared_too_large {
            return Outcome::Refused(Refusal::TooLarge);
        } else {
            match axum::body::to_bytes(body, limit).await {
                Ok(bytes) => Body::from(bytes),
                Err(e) => {
                    let too_large = std::error::Error::source(&e)
                        .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
                    return Outcome::Refused(if too_large {
                        Refusal::TooLarge
                    } else {
                        Refusal::BadBody
                    });
                }
            }
        };
        body_read = true;
        Outcome::Answered(next.run(Request::from_parts(parts, body)).await)
    };
    let answered = tokio::time::timeout(timeout, run)
        .instrument(span.clone())
        .await;
    let res = match answered {
        Ok(Outcome::Answered(res)) => res,
        Ok(Outcome::Refused(refusal)) => closing(refuse(refusal)),
        Err(_) => {
            state.guard.http.refusals.count_timeout();
            if body_read {
                refuse(Refusal::TimedOut)
            } else {
                // The rest of the body may still arrive; it must not be read
                // as a request.
                closing(refuse(Refusal::BodyTimedOut))
            }
        }
    };
    let latency = started.elapsed();
    let status = res.status().as_u16();
    state.guard.http.observe(F::LABEL, route, status, latency);
    span.record("status", status);
    span.record("latency_ms", latency.as_secs_f64() * 1000.0);
    span.in_scope(|| tracing::info!("answered"));
    res
}

/// `res`, telling the client that the server closes the connection after it
/// (what is left of the body on it is not read).
fn closing(mut res: Response) -> Response {
    res.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    res
}

/// Set on every answer unless the handler set its own (a documentation
/// page's policy, or its caching). The policy allows a
/// same-origin HTML page with its own scripts and inline styles (an API
/// documentation page) and nothing else; a JSON answer is unaffected by it.
const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    (
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    ),
    ("cache-control", "no-store"),
];
