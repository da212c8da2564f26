//! The panel face, compatible with IPPanel Edge's API: the envelope
//! `{"data", "meta"}`, Persian messages by default and English with
//! `Accept-Language: en`, Laravel-style validation. Every route is served at
//! `/api/...` and at `/v1/api/...`.

mod auth;
pub mod envelope;
pub mod input;
pub mod messages;
mod multipart;
pub mod numbers;
mod users;

use axum::Router;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get, post};

use crate::http::{AppState, Face, Refusal};
use envelope::PanelError;
use messages::Lang;

/// The panel face, as the edge sees it.
pub struct Panel;

impl Face for Panel {
    const LABEL: &'static str = "panel";

    fn refuse(refusal: Refusal, headers: &HeaderMap) -> Response {
        let lang = Lang::from_headers(headers);
        match refusal {
            Refusal::TooLarge => PanelError::too_large(lang),
            Refusal::BadBody => PanelError::bad_body(lang),
            Refusal::BodyTimedOut => PanelError::request_timeout(lang),
            Refusal::TimedOut => PanelError::unavailable(lang),
            Refusal::NotFound => PanelError::route_not_found(lang),
            Refusal::MethodNotAllowed => PanelError::method_not_allowed(lang),
        }
        .into_response()
    }
}

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

/// Every route at both prefixes and with a trailing `/` (a Laravel router
/// ignores it); a method a route does not serve is 405 and any other path
/// under a prefix 404, both in the panel envelope.
pub fn routes() -> Router<AppState> {
    let served: [(&str, MethodRouter<AppState>); 10] = [
        ("/numbers/unassign", post(numbers::unassign)),
        ("/numbers/assign", post(numbers::assign)),
        ("/number/numbers", get(numbers::list)),
        ("/acl/auth/login", post(auth::login)),
        ("/acl/auth/check_token", post(auth::check_token)),
        ("/acl/auth/logout", post(auth::logout)),
        ("/user/create", post(users::create)),
        ("/user/list", get(users::list)),
        ("/user/show", get(users::show)),
        ("/user/parents_tree", get(users::parents_tree)),
    ];
    let mut router = Router::new();
    for prefix in PREFIXES {
        for (path, method) in &served {
            let method = method.clone().fallback(method_not_allowed);
            router = router
                .route(&format!("{prefix}{path}"), method.clone())
                .route(&format!("{prefix}{path}/"), method);
        }
        router = router
            .route(prefix, any(route_not_found))
            .route(&format!("{prefix}/"), any(route_not_found))
            .route(&format!("{prefix}/{{*rest}}"), any(route_not_found));
    }
    router
}

/// Where the face lives: IPPanel's own base URLs.
pub const PREFIXES: [&str; 2] = ["/api", "/v1/api"];

async fn route_not_found(lang: Lang) -> PanelError {
    PanelError::route_not_found(lang)
}

async fn method_not_allowed(lang: Lang) -> PanelError {
    PanelError::method_not_allowed(lang)
}
