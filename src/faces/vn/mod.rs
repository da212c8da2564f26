//! The virtual-number face, compatible with Cellcast's API.

use axum::Router;

use crate::app::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
}
