//! The virtual-number face, compatible with Cellcast's API: every route under
//! `/api/v1/apiClient/virtual-number`, the original's success envelope and
//! `{"code", "message", "stack"}` failures, Joi-worded validation.
//!
//! `envelope` has both envelopes and the mapping of the core's refusals,
//! `input` authentication, the body and query readers, `messages` every text,
//! and `numbers` the routes. Like the Express service it mirrors, every route
//! also answers with a trailing slash, and any other path under the prefix is
//! 404 `Not found` in this face's format; a method a route does not serve is
//! 405 `Method not allowed`, in the same format.

pub mod envelope;
pub mod input;
pub mod messages;
mod numbers;

use axum::Router;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get, post, put};

use crate::http::{AppState, Face, Refusal};
use envelope::VnError;

/// The virtual-number face, as the edge sees it.
pub struct Vn;

impl Face for Vn {
    const LABEL: &'static str = "vn";

    fn refuse(refusal: Refusal, _: &HeaderMap) -> Response {
        match refusal {
            Refusal::TooLarge => VnError::too_large(),
            Refusal::BadBody => VnError::bad_request(messages::INVALID_JSON),
            Refusal::BodyTimedOut => VnError::request_timeout(),
            Refusal::TimedOut => VnError::unavailable(),
            Refusal::NotFound => VnError::route_not_found(),
            Refusal::MethodNotAllowed => VnError::method_not_allowed(),
        }
        .into_response()
    }
}

/// Where the face lives.
pub const PREFIX: &str = "/api/v1/apiClient/virtual-number";

/// The face's routes (without their trailing-slash aliases); [`crate::openapi`]
/// adds the failures every route shares.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    numbers::unsubscribe,
    numbers::available,
    numbers::owned,
    numbers::purchase_postpaid,
    numbers::purchase,
))]
pub struct ApiDoc;

pub fn routes() -> Router<AppState> {
    let served: [(&str, MethodRouter<AppState>); 5] = [
        ("", get(numbers::owned)),
        ("/available", get(numbers::available)),
        ("/unsubscribe/{id}", put(numbers::unsubscribe)),
        ("/purchase-postpaid", post(numbers::purchase_postpaid)),
        ("/purchase", post(numbers::purchase)),
    ];
    let mut router = Router::new();
    for (path, method) in served {
        let method = method.fallback(numbers::method_not_allowed);
        router = router
            .route(&format!("{PREFIX}{path}"), method.clone())
            .route(&format!("{PREFIX}{path}/"), method);
    }
    router.route(&format!("{PREFIX}/{{*rest}}"), any(numbers::not_found))
}
