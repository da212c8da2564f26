//! The native face, linekeeper's own API under `/lk/v1`: Bearer
//! credentials, RFC 9457 problem details, cursor-paginated lists, RFC 3339
//! times. It shares the core and the edge with the other faces and no wire
//! code with them.
//!
//! `problem` has every refusal and the problem-type pages, `input` the
//! readers (caller, body, query, cursors, `{number}`), `render` the shapes,
//! and `sessions`, `accounts`, `numbers`, `grants` (change, bulk) and
//! `lifecycle` (reservations, subscriptions, release) the routes.

mod accounts;
pub mod contract;
pub mod dispatch;
mod events;
mod grants;
pub mod idempotency;
pub mod input;
mod json;
mod lifecycle;
mod numbers;
pub mod openapi;
pub mod problem;
mod render;
mod sessions;
mod webhooks;

use axum::Router;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, delete, get, patch, post, put};

use crate::http::limits::QUOTA;
use crate::http::{AppState, Face, Refusal};
use problem::Problem;

/// The native face, as the edge sees it.
pub struct Native;

/// Largest body of `POST /lk/v1/grants/bulk`: its 1000 items, each naming
/// a number by uid and an account by username with an end, run to about
/// 150 KiB, which the 64 KiB of every other route would refuse.
pub const BULK_BODY_LIMIT: usize = 256 * 1024;

impl Face for Native {
    const LABEL: &'static str = "native";

    fn body_limit(route: &str) -> usize {
        match route {
            "/lk/v1/grants/bulk" => BULK_BODY_LIMIT,
            _ => crate::http::BODY_LIMIT,
        }
    }

    fn refuse(refusal: Refusal, _: &HeaderMap) -> Response {
        match refusal {
            Refusal::TooLarge => Problem::new("too-large", input::TOO_LARGE),
            Refusal::BadBody => Problem::new("bad-body", "The body could not be read."),
            Refusal::BodyTimedOut => {
                Problem::new("timeout", "The request's body did not arrive in time.")
                    .with_status(408)
            }
            Refusal::TimedOut => Problem::new(
                "timeout",
                "The server did not answer in time; a change may or may not have been made.",
            ),
            Refusal::NotFound => Problem::not_found("No such route."),
            Refusal::MethodNotAllowed => Problem::new(
                "method-not-allowed",
                "The route does not serve this method.",
            ),
        }
        .into_response()
    }
}

/// Where the face lives.
pub const PREFIX: &str = "/lk/v1";

async fn not_found() -> Problem {
    Problem::not_found("No such route.")
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        "method-not-allowed",
        "The route does not serve this method.",
    )
}

/// The face's routes with their idempotency keys (see `idempotency`), and
/// on every answer to a request that presented a known credential, its
/// rate limit's `RateLimit-*` headers (NATIVE_API.md, "Rate limits").
pub fn guarded(state: &AppState) -> Router<AppState> {
    routes().layer(axum::middleware::from_fn_with_state(state.clone(), guard))
}

/// [`idempotency::guard`], with the request's quota ([`QUOTA`], set where
/// the credential is checked against its rate: `http::auth`) written onto
/// the answer: the bucket of this instance (each takes its share of the
/// configured rate, `Limits::divided_among`).
async fn guard(
    state: axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    QUOTA
        .scope(std::cell::Cell::new(None), async move {
            let mut answer = idempotency::guard(state, req, next).await;
            if let Some(quota) = QUOTA.with(std::cell::Cell::get) {
                quota.write(answer.headers_mut());
            }
            answer
        })
        .await
}

pub fn routes() -> Router<AppState> {
    let served: Vec<(&str, MethodRouter<AppState>)> = vec![
        ("/sessions", post(sessions::create)),
        ("/sessions/current", delete(sessions::delete_current)),
        ("/keys", post(sessions::create_key).get(sessions::list_keys)),
        ("/keys/{id}", delete(sessions::delete_key)),
        ("/me", get(accounts::me)),
        ("/accounts", get(accounts::list).post(accounts::create)),
        (
            "/accounts/{id}",
            get(accounts::show).patch(accounts::change),
        ),
        ("/numbers", get(numbers::list)),
        ("/numbers/{number}", get(numbers::show)),
        (
            "/numbers/{number}/grants/{account}",
            put(numbers::assign)
                .patch(grants::change)
                .delete(numbers::unassign),
        ),
        ("/grants/bulk", post(grants::bulk)),
        (
            "/reservations",
            post(lifecycle::reserve).get(lifecycle::reservations),
        ),
        (
            "/reservations/{number}",
            patch(lifecycle::extend).delete(lifecycle::cancel),
        ),
        ("/subscriptions", post(lifecycle::subscribe)),
        ("/subscriptions/{number}", delete(lifecycle::unsubscribe)),
        ("/admin/numbers/{number}/release", post(lifecycle::release)),
        ("/numbers/{number}/history", get(numbers::number_history)),
        ("/history", get(numbers::history)),
        ("/events", get(events::feed)),
        ("/webhooks", post(webhooks::create).get(webhooks::list)),
        (
            "/webhooks/{id}",
            get(webhooks::show)
                .patch(webhooks::change)
                .delete(webhooks::delete),
        ),
        ("/webhooks/{id}/deliveries", get(webhooks::deliveries)),
        (
            "/webhooks/{id}/deliveries/{delivery}/retry",
            post(webhooks::retry),
        ),
        ("/pool", get(numbers::pool)),
        ("/routing/{e164}", get(numbers::routing)),
        ("/problems/{kind}", get(problem::page)),
    ];
    let mut router = Router::new();
    for (path, method) in served {
        router = router.route(
            &format!("{PREFIX}{path}"),
            method.fallback(method_not_allowed),
        );
    }
    router
        .route(PREFIX, any(not_found))
        .route(&format!("{PREFIX}/{{*rest}}"), any(not_found))
}
