//! The HTTP application: both faces on one router, and `launch`, which tests
//! and `main` share so a test can bind `127.0.0.1:0` and stop the server.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::limits::{Limits, LoginThrottle, RateLimiter};

use crate::core::Core;
use crate::domain::{Clock, SystemClock};
use crate::store::{Store, StoreError, StoreOptions};

/// What `launch` needs to know.
#[derive(Clone)]
pub struct Settings {
    /// `sqlite://PATH` (the default, `sqlite://linekeeper.db`).
    pub database_url: String,
    pub store: StoreOptions,
    pub clock: Arc<dyn Clock>,
    /// How long a process trusts a credential it read (see `core::credentials`).
    pub auth_cache_ttl: std::time::Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            store: StoreOptions::default(),
            clock: Arc::new(SystemClock),
            auth_cache_ttl: crate::core::AUTH_CACHE_TTL,
        }
    }
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://linekeeper.db";

/// Largest request body either face reads.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub core: Core,
    pub guard: Arc<Guard>,
}

/// The limits of one server and what they and the HTTP layer count.
pub struct Guard {
    pub limits: Limits,
    pub rate: RateLimiter,
    pub logins: LoginThrottle,
    pub http: crate::metrics::Http,
}

impl Guard {
    pub fn new(limits: Limits) -> Guard {
        Guard {
            rate: RateLimiter::new(limits.rate_per_sec, limits.rate_burst),
            logins: LoginThrottle::new(&limits),
            limits,
            http: crate::metrics::Http::default(),
        }
    }
}

/// The id of one request: stamped on its history entries and returned to the
/// client in `x-request-id`.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Set by the faces' body readers once the whole body has arrived, so that a
/// request that runs out of time while the client still owes its body is told
/// 408 (its fault) rather than 503 (ours).
#[derive(Clone, Debug, Default)]
pub struct BodyRead(Arc<AtomicBool>);

impl BodyRead {
    pub fn done(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn is_done(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Opens the store and builds the core (one password hash: run it off the
/// async threads, or before serving).
pub fn open(settings: &Settings) -> Result<Core, StoreError> {
    let store = Store::open(&settings.database_url, &settings.store)?;
    Core::new(store, settings.clock.clone())
        .map(|core| core.with_auth_cache_ttl(settings.auth_cache_ttl))
        .map_err(|e| StoreError::Backend(e.to_string()))
}

/// The whole router, with the default limits.
pub fn router(core: Core) -> Router {
    router_with(core, Limits::default())
}

/// The whole router.
pub fn router_with(core: Core, limits: Limits) -> Router {
    let state = AppState {
        core,
        guard: Arc::new(Guard::new(limits)),
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(crate::faces::panel::routes())
        .merge(crate::faces::vn::routes())
        .merge(crate::openapi::routes())
        .layer(middleware::from_fn_with_state(state.clone(), edge))
        .with_state(state)
}

/// Serves on `listener` with the default limits until `shutdown` completes,
/// then finishes the requests in flight.
pub async fn launch(
    core: Core,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    launch_with(core, Limits::default(), listener, shutdown).await
}

/// [`launch`] with the given limits.
pub async fn launch_with(
    core: Core,
    limits: Limits,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The client's address is what login throttling counts per address.
    let service = router_with(core, limits).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Liveness: a fixed answer, no authentication, no database.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "service",
    responses((status = 200, description = "The process is up", body = crate::openapi::Health)),
)]
pub(crate) async fn healthz() -> Response {
    ([("content-type", "application/json")], r#"{"status":"ok"}"#).into_response()
}

/// Readiness: one trivial read through the store (a credential lookup that
/// finds nothing), so a database that cannot be reached makes this a 503.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.core.ready().await {
        Ok(()) => (
            StatusCode::OK,
            [("content-type", "application/json")],
            r#"{"status":"ready"}"#,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [("content-type", "application/json")],
                r#"{"status":"unavailable","reason":"database"}"#,
            )
                .into_response()
        }
    }
}

/// Prometheus text format (see `crate::metrics`).
async fn metrics(State(state): State<AppState>) -> Response {
    let body = crate::metrics::render(
        &state.guard.http,
        state.core.business(),
        state.core.store_retries(),
    );
    ([("content-type", "text/plain; version=0.0.4")], body).into_response()
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

/// Every request passes here: it gets an id and a tracing span, the
/// request timeout, the metrics, and the security headers.
async fn edge(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = next_request_id();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let route = route.as_deref().unwrap_or("unmatched");
    let path_face = crate::metrics::face_of(req.uri().path());
    // A body is owed when one is declared (a non-zero length, or chunked).
    let owes_body = req.headers().contains_key(TRANSFER_ENCODING)
        || req
            .headers()
            .get(CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    let lang = crate::faces::panel::messages::Lang::from_headers(req.headers());
    let body_read = BodyRead::default();
    req.extensions_mut().insert(body_read.clone());
    req.extensions_mut().insert(RequestId(id.clone()));
    // Only the method, the matched route and the id: never the raw path or
    // query, a header or the body (tokens and passwords travel there).
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %req.method(),
        route = %route,
        status = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
    );
    let timeout = state.guard.limits.request_timeout;
    let answered = tokio::time::timeout(timeout, next.run(req))
        .instrument(span.clone())
        .await;
    let mut res = match answered {
        Ok(res) => res,
        Err(_) => {
            state
                .guard
                .http
                .refusals
                .timed_out
                .fetch_add(1, Ordering::Relaxed);
            let late_body = owes_body && !body_read.is_done();
            timed_out(path_face, lang, late_body)
        }
    };
    let latency = started.elapsed();
    let status = res.status().as_u16();
    state.guard.http.observe(route, status, latency);
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

/// The answer to a request that ran out of time, in its face's format: 408
/// when the client had not finished sending its body, else 503 (the server
/// was too slow; a change it was making may or may not have been made).
fn timed_out(face: &str, lang: crate::faces::panel::messages::Lang, late_body: bool) -> Response {
    use crate::faces::{panel::envelope::PanelError, vn::envelope::VnError};
    let mut res = match (face, late_body) {
        ("vn", true) => VnError::request_timeout().into_response(),
        ("vn", false) => VnError::unavailable().into_response(),
        (_, true) => PanelError::request_timeout(lang).into_response(),
        (_, false) => PanelError::unavailable(lang).into_response(),
    };
    if late_body {
        // The rest of the body may still arrive; do not read it as a request.
        res.headers_mut()
            .insert("connection", HeaderValue::from_static("close"));
    }
    res
}
