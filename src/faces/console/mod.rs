//! The console face: the reseller console, static pages served from the
//! binary at `/console/` (and `/`, which redirects there). Every asset is
//! compiled in (`include_bytes!`), so the console works with no internet and
//! a fresh checkout builds with Rust alone: there is no build step. The
//! pages are the native face's first client; their script calls `/lk/v1`
//! with the session cookie `session` sets (and its CSRF token), and keeps
//! no credential.
//!
//! Every asset is answered with its content type, a strong `ETag` (its
//! SHA-256) and `cache-control: no-cache`, so a browser keeps it and asks
//! again cheaply (304) and a new binary's assets are seen at once. The
//! edge's security headers apply (its CSP `default-src 'self'` is why the
//! pages have no inline script).

pub mod session;

use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use sha2::{Digest, Sha256};

use crate::http::{AppState, Face, Refusal};

/// The console face, as the edge sees it.
pub struct Console;

impl Face for Console {
    const LABEL: &'static str = "console";

    fn refuse(refusal: Refusal, _: &HeaderMap) -> Response {
        let (status, what) = match refusal {
            Refusal::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "The request is too large."),
            Refusal::BadBody => (StatusCode::BAD_REQUEST, "The request could not be read."),
            Refusal::BodyTimedOut => (
                StatusCode::REQUEST_TIMEOUT,
                "The request did not arrive in time.",
            ),
            Refusal::TimedOut => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The server did not answer in time.",
            ),
            Refusal::NotFound => (StatusCode::NOT_FOUND, "There is no such page."),
            Refusal::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "The page does not serve this method.",
            ),
        };
        page(status, what)
    }
}

/// Where the console lives.
pub const PREFIX: &str = "/console/";

/// A small HTML page saying no, in both of the console's languages.
fn page(status: StatusCode, what: &str) -> Response {
    let code = status.as_u16();
    let mut res = (
        status,
        Html(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>{code}</title></head><body><h1>{code}</h1><p>{what}</p>\
             <p><a href=\"/console/\">linekeeper console</a></p></body></html>"
        )),
    )
        .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:literal) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_bytes!(concat!("assets/", $path)),
        }
    };
}

/// Every file of the console.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("i18n.js", "text/javascript; charset=utf-8"),
    asset!("dom.js", "text/javascript; charset=utf-8"),
    asset!("views.js", "text/javascript; charset=utf-8"),
    asset!("i18n/fa.json", "application/json"),
    asset!("i18n/en.json", "application/json"),
    asset!("favicon.svg", "image/svg+xml"),
];

/// Each asset's `ETag`, computed once.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("\"{}\"", crate::domain::hex(&Sha256::digest(a.body)[..16])))
            .collect()
    })
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.path == path) else {
        return Console::refuse(Refusal::NotFound, headers);
    };
    let asset = &ASSETS[i];
    let tag = &etags()[i];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut res = asset.body.into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        res
    };
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(tag) {
        h.insert(header::ETAG, v);
    }
    res
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

async fn to_console() -> Redirect {
    Redirect::to(PREFIX)
}

async fn method_not_allowed(headers: HeaderMap) -> Response {
    Console::refuse(Refusal::MethodNotAllowed, &headers)
}

fn only_get(route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    route.fallback(method_not_allowed)
}

/// `/` and `/console` redirect to `/console/`, which is the console's page;
/// `/console/session` the console's session (see `session`),
/// `/console/{file}` its assets.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", only_get(get(to_console)))
        .route("/console", only_get(get(to_console)))
        .route(PREFIX, only_get(get(index)))
        .route(
            "/console/session",
            post(session::create)
                .get(session::show)
                .delete(session::delete)
                .fallback(method_not_allowed),
        )
        .route("/console/{*path}", only_get(get(file)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_distinct_path_and_a_body() {
        let mut paths: Vec<_> = ASSETS.iter().map(|a| a.path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), ASSETS.len());
        assert!(ASSETS.iter().all(|a| !a.body.is_empty()));
        assert_eq!(etags().len(), ASSETS.len());
    }
}
