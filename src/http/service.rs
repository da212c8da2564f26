//! The service's own routes, outside every face: liveness, readiness and the
//! metrics; and the answer for a path that no face claims.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{AppState, Face, Refusal};

/// The routes of the service, on behalf of [`Service`].
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// What is not a face: the service routes, the API documentation and any
/// path under no face's prefix. Its refusals are small JSON objects.
pub struct Service;

impl Face for Service {
    const LABEL: &'static str = "none";

    fn refuse(refusal: Refusal, _: &HeaderMap) -> Response {
        let (status, error) = match refusal {
            Refusal::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "body too large"),
            Refusal::BadBody => (StatusCode::BAD_REQUEST, "bad body"),
            Refusal::BodyTimedOut => (StatusCode::REQUEST_TIMEOUT, "request timeout"),
            Refusal::TimedOut => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Refusal::NotFound => (StatusCode::NOT_FOUND, "not found"),
            Refusal::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        };
        json(status, &format!(r#"{{"error":"{error}"}}"#))
    }
}

/// A path that no face or service route serves: `404 {"error":"not found"}`.
pub async fn not_found(headers: HeaderMap) -> Response {
    Service::refuse(Refusal::NotFound, &headers)
}

fn json(status: StatusCode, body: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_owned(),
    )
        .into_response()
}

/// Liveness: a fixed answer, no authentication, no database.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "service",
    responses((status = 200, description = "The process is up", body = Health)),
)]
pub async fn healthz() -> Response {
    json(StatusCode::OK, r#"{"status":"ok"}"#)
}

/// Readiness: one trivial read through the store (a credential lookup that
/// finds nothing), so a database that cannot be reached makes this a 503.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.core.ready().await {
        Ok(()) => json(StatusCode::OK, r#"{"status":"ready"}"#),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            json(
                StatusCode::SERVICE_UNAVAILABLE,
                r#"{"status":"unavailable","reason":"database"}"#,
            )
        }
    }
}

/// Prometheus text format (see [`super::metrics`]).
async fn metrics(State(state): State<AppState>) -> Response {
    let body = super::metrics::render(
        &state.guard.http,
        state.core.business(),
        state.core.store_retries(),
    );
    ([("content-type", "text/plain; version=0.0.4")], body).into_response()
}

/// The body of `/healthz`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: String,
}
