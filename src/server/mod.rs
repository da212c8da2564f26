//! The server assembly: the router built from every face, the service
//! routes and the API documentation, and `launch`, which tests and `main`
//! share so a test can bind `127.0.0.1:0` and stop the server. This is the
//! only module that names every face.

pub mod openapi;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

use crate::core::webhooks::WebhookSettings;
use crate::core::{Core, Lifecycle};
use crate::domain::{Clock, SystemClock};
use crate::faces::{console, native, panel, vn};
use crate::http::limits::Limits;
use crate::http::service::{self, Service};
use crate::http::{self as edge, AppState};
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
    /// Quarantine, reservations and the sweeper.
    pub lifecycle: Lifecycle,
    /// Webhook delivery.
    pub webhooks: WebhookSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            store: StoreOptions::default(),
            clock: Arc::new(SystemClock),
            auth_cache_ttl: crate::core::AUTH_CACHE_TTL,
            lifecycle: Lifecycle::default(),
            webhooks: WebhookSettings::default(),
        }
    }
}

pub const DEFAULT_DATABASE_URL: &str = "sqlite://linekeeper.db";

/// Opens the store and builds the core (one password hash: run it off the
/// async threads, or before serving).
pub fn open(settings: &Settings) -> Result<Core, StoreError> {
    let store = Store::open(&settings.database_url, &settings.store)?;
    Core::new(store, settings.clock.clone())
        .map(|core| {
            core.with_auth_cache_ttl(settings.auth_cache_ttl)
                .with_lifecycle(settings.lifecycle)
                .with_webhooks(settings.webhooks)
        })
        .map_err(|e| StoreError::Backend(e.to_string()))
}

/// The whole router, with the default limits.
pub fn router(core: Core) -> Router {
    router_with(core, Limits::default())
}

/// The whole router: each face's routes inside the edge on that face's
/// behalf, and everything else (the service routes, the documentation, and
/// any path no face claims) on the service's.
pub fn router_with(core: Core, limits: Limits) -> Router {
    let state = AppState::new(core, limits);
    let outside = service::routes()
        .merge(openapi::routes())
        .fallback(service::not_found);
    Router::new()
        .merge(edge::layer::<panel::Panel>(panel::routes(), &state))
        .merge(edge::layer::<vn::Vn>(vn::routes(), &state))
        .merge(edge::layer::<native::Native>(
            native::guarded(&state),
            &state,
        ))
        .merge(edge::layer::<console::Console>(console::routes(), &state))
        .merge(edge::layer::<Service>(outside, &state))
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

/// [`launch`] with the given limits. The sweeper and the webhook
/// dispatcher (clients of the core, like the faces) run beside the server
/// while it serves, when the core's settings ask for them, and so does the
/// routing table's keeper (`Core::keep_routes`).
pub async fn launch_with(
    core: Core,
    limits: Limits,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    launch_full(core, limits, None, listener, shutdown).await
}

/// [`launch_with`], also publishing the outbox to NATS JetStream when
/// `nats` says where.
pub async fn launch_full(
    core: Core,
    limits: Limits,
    nats: Option<crate::faces::nats::NatsSettings>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sweeper = tokio::spawn(core.clone().run_sweeper());
    let routes = tokio::spawn(core.clone().keep_routes());
    let dispatcher = core
        .webhook_settings()
        .dispatch
        .then(|| tokio::spawn(native::dispatch::Dispatcher::new(core.clone()).run()));
    let publisher = nats.map(|n| tokio::spawn(crate::faces::nats::run(core.clone(), n)));
    // The client's address is what login throttling counts per address.
    let service = router_with(core, limits).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await;
    sweeper.abort();
    routes.abort();
    for task in [dispatcher, publisher].into_iter().flatten() {
        task.abort();
    }
    served
}
