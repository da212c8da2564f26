//! The HTTP application: both faces on one router, and `launch`, which tests
//! and `main` share so a test can bind `127.0.0.1:0` and stop the server.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

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
}

/// The id of one request: stamped on its history entries and returned to the
/// client in `x-request-id`.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Opens the store and builds the core (one password hash: run it off the
/// async threads, or before serving).
pub fn open(settings: &Settings) -> Result<Core, StoreError> {
    let store = Store::open(&settings.database_url, &settings.store)?;
    Core::new(store, settings.clock.clone())
        .map(|core| core.with_auth_cache_ttl(settings.auth_cache_ttl))
        .map_err(|e| StoreError::Backend(e.to_string()))
}

/// The whole router.
pub fn router(core: Core) -> Router {
    let state = AppState { core };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .merge(crate::faces::panel::routes())
        .merge(crate::faces::vn::routes())
        .merge(crate::openapi::routes())
        .with_state(state)
        .layer(middleware::from_fn(request_id))
}

/// Serves on `listener` until `shutdown` completes, then finishes the
/// requests in flight.
pub async fn launch(
    core: Core,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(core))
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

/// Prometheus text format. Kept to what the store itself counts for now.
async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let body = format!(
        "# HELP linekeeper_store_retries_total Transactions run again after a serialization failure or deadlock.\n\
         # TYPE linekeeper_store_retries_total counter\n\
         linekeeper_store_retries_total {}\n",
        state.core.store().retries()
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

async fn request_id(mut req: Request, next: Next) -> Response {
    let id = next_request_id();
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut res = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}
