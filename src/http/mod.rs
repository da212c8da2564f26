//! The HTTP edge: what every face shares and nothing any one face says.
//!
//! ```text
//! server ──► faces (panel | vn) ──► http (this module) ──► core ──► store
//! ```
//!
//! Here live the shared request state ([`AppState`]), request ids, reading a
//! body within [`BODY_LIMIT`], the credential extraction and the rate-limit
//! check ([`auth`]), the security headers, the service routes (`/healthz`,
//! `/readyz`, `/metrics`, in [`service`]), the limits and the metrics. The
//! edge imports no face: a face implements [`Face`], which renders the
//! edge's refusals (a body too large, a timeout, an unknown route) in its
//! own format and gives the metrics its label, and wraps its routes in
//! [`layer::<ItsFace>`](layer).
//!
//! **The body is read here, before the handler runs.** A handler that
//! answers before the client has sent its whole body (a 401 for a wrong
//! token, a 403, a 404, a 429) would leave the rest of the body on the
//! connection; hyper then closes the keep-alive connection without saying
//! so, and the client's next request on it fails ("Remote end closed
//! connection without response"; Python `requests` does not retry a POST).
//! Reading the whole body first, within the limit and the request timeout,
//! keeps the connection usable after every early answer. Only two answers
//! come before the body is read, a declared length over the limit and a body
//! that runs past it, and both say `Connection: close`.

pub mod auth;
mod edge;
pub mod limits;
pub mod metrics;
pub mod service;

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::Response;

use crate::core::Core;
use limits::{Limits, LoginThrottle, RateLimiter};

pub use auth::{AuthRefusal, ClientIp, LoginRefusal, authenticate, login, presented_token};
pub use edge::{RequestId, layer};

/// Largest request body a route reads, unless its face says otherwise
/// ([`Face::body_limit`]).
pub const BODY_LIMIT: usize = 64 * 1024;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub core: Core,
    pub guard: Arc<Guard>,
}

impl AppState {
    pub fn new(core: Core, limits: Limits) -> AppState {
        AppState {
            guard: Arc::new(Guard::new(limits, &core)),
            core,
        }
    }
}

/// The limits of one server and what they and the HTTP layer count.
pub struct Guard {
    pub limits: Limits,
    pub rate: RateLimiter,
    pub logins: LoginThrottle,
    pub http: metrics::Http,
}

impl Guard {
    /// The login budgets are `core`'s store's where it shares them.
    pub fn new(limits: Limits, core: &Core) -> Guard {
        Guard {
            rate: RateLimiter::new(limits.rate_per_sec, limits.rate_burst),
            logins: LoginThrottle::new(&limits, core),
            limits,
            http: metrics::Http::default(),
        }
    }
}

/// An error and every source below it, `outer: inner: innermost`: what the
/// one log line of a 5xx carries (the client hears only a generic message).
pub fn cause_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        // `#[error(transparent)]` wrappers repeat their source's text.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// What the edge refuses on a face's behalf, before or around its handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The body is over [`BODY_LIMIT`] (413).
    TooLarge,
    /// The body could not be read (a broken chunked encoding, say): 400.
    BadBody,
    /// The client had not sent its whole body when the request ran out of
    /// time (408: its fault).
    BodyTimedOut,
    /// The server did not answer in time (503: ours; a change it was making
    /// may or may not have been made).
    TimedOut,
    /// No route under the face has this path (404).
    NotFound,
    /// The route exists, the method does not (405).
    MethodNotAllowed,
}

/// A wire face, as the edge sees it: a label and its way of saying no.
pub trait Face: Send + Sync + 'static {
    /// The face's label on the metrics (`face="..."`).
    const LABEL: &'static str;

    /// `refusal`, in the face's own format. `headers` carries the request's
    /// `Accept-Language` (when it had one), which chooses the language where
    /// the face has more than one; the edge keeps no other header for this.
    fn refuse(refusal: Refusal, headers: &HeaderMap) -> Response;

    /// The largest body the route `route` (its matched path) reads; the
    /// edge refuses a longer one with 413 before the handler runs.
    fn body_limit(_route: &str) -> usize {
        BODY_LIMIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner(#[source] std::io::Error);

    #[test]
    fn the_chain_names_every_source_once() {
        let e = Outer(Inner(std::io::Error::other("disk on fire")));
        assert_eq!(cause_chain(&e), "outer: inner: disk on fire");
        let transparent = crate::core::CoreError::from(crate::store::StoreError::Unavailable);
        assert_eq!(cause_chain(&transparent), "the store is unavailable");
    }
}
