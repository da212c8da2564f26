//! The panel face, compatible with IPPanel Edge's API: the envelope
//! `{"data", "meta"}`, Persian messages by default and English with
//! `Accept-Language: en`, Laravel-style validation. Every route is served at
//! `/api/...` and at `/v1/api/...`.

mod auth;
pub mod envelope;
pub mod input;
pub mod messages;
pub mod numbers;
mod users;

use axum::Router;
use axum::routing::{get, post};

use crate::app::AppState;

/// The face's routes at `/api/...`; [`crate::openapi`] adds the
/// `/v1/api/...` copies and the failures every route shares.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    numbers::unassign,
    numbers::assign,
    numbers::list,
    auth::login,
    auth::check_token,
    auth::logout,
    users::create,
    users::list,
    users::show,
    users::parents_tree,
))]
pub struct ApiDoc;

pub fn routes() -> Router<AppState> {
    let api = Router::new()
        .route("/numbers/unassign", post(numbers::unassign))
        .route("/numbers/assign", post(numbers::assign))
        .route("/number/numbers", get(numbers::list))
        .route("/acl/auth/login", post(auth::login))
        .route("/acl/auth/check_token", post(auth::check_token))
        .route("/acl/auth/logout", post(auth::logout))
        .route("/user/create", post(users::create))
        .route("/user/list", get(users::list))
        .route("/user/show", get(users::show))
        .route("/user/parents_tree", get(users::parents_tree));
    Router::new().nest("/api", api.clone()).nest("/v1/api", api)
}
