//! `Idempotency-Key` on every native POST, PUT, PATCH and DELETE
//! (DOMAIN.md, "Idempotency"; NATIVE_API.md).
//!
//! A wrapper around the face's handlers, so no handler knows of keys:
//!
//! 1. A stored key answers at once: the same method, path (with its query)
//!    and body hash get the stored status and body again with
//!    `Idempotent-Replayed: true`; anything else gets 422
//!    `idempotency-key-reused`; a key with no answer yet, 409
//!    `idempotency-key-in-flight`.
//! 2. Otherwise the handler runs inside a [`KeyScope`]: the first write
//!    transaction the request commits inserts the key's row *in that
//!    transaction* (`store::idempotency`), so the key is taken exactly when
//!    the change commits and never for a change that rolled back. A racing
//!    request with the same key is refused by the row's primary key inside
//!    its own transaction, which therefore writes nothing, and is answered
//!    from step 1.
//! 3. The answer the handler rendered is then written into the row.
//!
//! The trade-off: the answer is written just after the change's commit, not
//! in it (the answer is rendered by the face from the core's outcome, after
//! the core's transaction; writing it inside would mean every rule taking a
//! renderer). What this keeps: a replay can never change anything a second
//! time, because the claim commits with the change. What it gives up: if
//! the process dies between the two commits, the key stays claimed with no
//! answer, and replays get 409 `idempotency-key-in-flight` until the key is
//! pruned (24 hours): the client learns the change may have been made, as
//! with a timeout, and nothing is done twice. A request that changed nothing
//! (a dry run, a read-only answer) and succeeded has its key claimed and
//! answered in one transaction afterwards; a refused request that changed
//! nothing leaves no key, so the client may fix and retry under it.
//!
//! `POST /sessions` and `POST /keys` ignore the header: their answer is a
//! secret, which is never stored (only its hash is).

use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::PREFIX;
use super::input::Authed;
use super::problem::Problem;
use crate::http::AppState;
use crate::store::idempotency::{KeyScope, within};
use crate::store::{KeyClaim, KeyRow, StoredAnswer};

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The header on a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";
/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// The wrapper (an axum middleware over the face's routes).
pub async fn guard(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let mutation = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    // Only a mutation's path is looked at (and no text is made to compare
    // it with): every read of the face, the routing lookup among them,
    // passes through here.
    let secret = |path: &str| {
        path.strip_prefix(PREFIX)
            .is_some_and(|rest| rest == "/sessions" || rest == "/keys")
    };
    let Some(raw) = req
        .headers()
        .get(HEADER)
        .filter(|_| mutation && !secret(req.uri().path()))
    else {
        return next.run(req).await;
    };
    let key = match raw.to_str() {
        Ok(k)
            if !k.is_empty()
                && k.len() <= MAX_KEY_LEN
                && k.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            k.to_owned()
        }
        _ => {
            let mut errors = std::collections::BTreeMap::new();
            errors.insert(
                "Idempotency-Key".to_owned(),
                vec![format!(
                    "must be 1 to {MAX_KEY_LEN} printable ASCII characters"
                )],
            );
            return Problem::validation(errors).into_response();
        }
    };
    let (mut parts, body) = req.into_parts();
    let caller = match Authed::from_request_parts(&mut parts, &s).await {
        Ok(Authed(caller)) => caller,
        Err(problem) => return problem.into_response(),
    };
    // The edge has read the body already; this only takes it back out.
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => return Problem::new("bad-body", "The body could not be read.").into_response(),
    };
    let claim = KeyClaim {
        account_id: caller.account.id,
        key,
        method: parts.method.as_str().to_owned(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        body_hash: crate::domain::hex(&Sha256::digest(&bytes)),
        at: s.core.now(),
    };
    if let Some(answer) = settled(&s, &claim).await {
        return answer;
    }
    // The handler's `Authed` finds the caller here rather than
    // authenticating (and counting against the rate limit) again.
    parts.extensions.insert(caller);
    let scope = KeyScope::new(claim.clone());
    let res = within(
        scope.clone(),
        next.run(Request::from_parts(parts, Body::from(bytes))),
    )
    .await;
    if scope.refused() || (!scope.claimed() && !res.status().is_success()) {
        // Another request took the key meanwhile (or this one changed
        // nothing and failed: the key stays free).
        return match settled(&s, &claim).await {
            Some(answer) if scope.refused() || res.status().is_server_error() => answer,
            _ => res,
        };
    }
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let answer = StoredAnswer {
        status: parts.status.as_u16(),
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_owned(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    };
    if let Err(e) = s
        .core
        .answer_idempotency_key(claim, scope.claimed(), answer)
        .await
    {
        tracing::warn!(error = %e, "idempotency key: the answer could not be stored");
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The answer a stored key gives, if the key is stored.
async fn settled(s: &AppState, claim: &KeyClaim) -> Option<Response> {
    match s.core.idempotency_key(claim.account_id, &claim.key).await {
        Err(e) => Some(Problem::from(e).into_response()),
        Ok(None) => None,
        Ok(Some(row)) => Some(answer_of(claim, row)),
    }
}

fn answer_of(claim: &KeyClaim, row: KeyRow) -> Response {
    if row.method != claim.method || row.path != claim.path || row.body_hash != claim.body_hash {
        return Problem::new(
            "idempotency-key-reused",
            "The key was used with a different method, path or body.",
        )
        .into_response();
    }
    let Some(a) = row.answer else {
        return Problem::new(
            "idempotency-key-in-flight",
            "The first request with this key has not been answered yet.",
        )
        .into_response();
    };
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::OK);
    let mut res = (status, a.body).into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&a.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(REPLAYED, HeaderValue::from_static("true"));
    res
}
