//! The middleware every request passes: its id and tracing span, the whole
//! body read within the limit, the request timeout, the metrics, and the
//! security headers.

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use tracing::Instrument;

use super::{AppState, BODY_LIMIT, Face, Refusal};

/// The id of one request: stamped on its history entries and returned to the
/// client in `x-request-id`. An extractor, for handlers.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<RequestId, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or(RequestId(String::new())))
    }
}

/// `router` with the edge around each of its routes (and its fallback), on
/// behalf of the face `F`.
pub fn layer<F: Face>(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    router.layer(middleware::from_fn_with_state(state.clone(), edge::<F>))
}

/// Request ids: a random prefix per process and a counter, unique across
/// instances and restarts without a system call per request.
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
/// whether the declared length is already over the limit.
fn declared_body(headers: &HeaderMap) -> (bool, bool) {
    if headers.contains_key(TRANSFER_ENCODING) {
        return (true, false);
    }
    match headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        Some(0) | None => (false, false),
        Some(n) => (true, n > BODY_LIMIT as u64),
    }
}

/// What became of a request within its time.
enum Outcome {
    Answered(Response),
    /// Refused while its body was read; the connection is closed after it.
    Refused(Refusal),
}

async fn edge<F: Face>(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = next_request_id();
    let (mut parts, body) = req.into_parts();
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let route = route.as_deref().unwrap_or("unmatched");
    parts.extensions.insert(RequestId(id.clone()));
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
    let (owes_body, declared_too_large) = declared_body(&parts.headers);
    let headers = parts.headers.clone();
    let mut body_read = !owes_body;
    let timeout = state.guard.limits.request_timeout;
    let run = async {
        let body = if !owes_body {
            body
        } else if declared_too_large {
            return Outcome::Refused(Refusal::TooLarge);
        } else {
            match axum::body::to_bytes(body, BODY_LIMIT).await {
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
    let mut res = match answered {
        Ok(Outcome::Answered(res)) => res,
        Ok(Outcome::Refused(refusal)) => closing(F::refuse(refusal, &headers)),
        Err(_) => {
            state.guard.http.refusals.count_timeout();
            if body_read {
                F::refuse(Refusal::TimedOut, &headers)
            } else {
                // The rest of the body may still arrive; it must not be read
                // as a request.
                closing(F::refuse(Refusal::BodyTimedOut, &headers))
            }
        }
    };
    let latency = started.elapsed();
    let status = res.status().as_u16();
    state.guard.http.observe(F::LABEL, route, status, latency);
    span.record("status", status);
    span.record("latency_ms", latency.as_secs_f64() * 1000.0);
    span.in_scope(|| tracing::info!("answered"));
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        headers.insert("x-request-id", v);
    }
    for (name, value) in SECURITY_HEADERS {
        // A handler that set its own (a documentation page's policy, or its
        // caching) keeps it.
        if !headers.contains_key(name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    res
}

/// `res`, telling the client that the server closes the connection after it
/// (what is left of the body on it is not read).
fn closing(mut res: Response) -> Response {
    res.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    res
}

/// Set on every answer unless the handler set its own. The policy allows a
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
