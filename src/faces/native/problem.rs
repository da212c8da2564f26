//! RFC 9457 problem details: every refusal of the native face, each kind
//! with a stable `type` URI under `/lk/v1/problems/` that the face itself
//! answers with a short page describing it.

use std::collections::BTreeMap;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::core::CoreError;
use crate::store::StoreError;

/// Every kind of problem the face answers: `(slug, status, title, what it means)`.
pub const KINDS: &[(&str, u16, &str, &str)] = &[
    (
        "not-found",
        404,
        "Not found",
        "The resource does not exist, or is outside the caller's reach: the two are never told apart.",
    ),
    (
        "unauthenticated",
        401,
        "Unauthenticated",
        "No credential, or one that is unknown, revoked, expired or of a suspended account; or a wrong username or password at login. Send `Authorization: Bearer <token>`.",
    ),
    (
        "forbidden",
        403,
        "Forbidden",
        "The caller is authenticated but may not do this (a plain user managing accounts, an API key creating keys, a non-administrator asking for routing).",
    ),
    (
        "validation",
        422,
        "Validation failed",
        "A field of the body or the query is missing or invalid; `errors` names each field with its messages.",
    ),
    (
        "bad-body",
        400,
        "Bad body",
        "The body is not a JSON object, or could not be read.",
    ),
    (
        "idempotency-key-reused",
        422,
        "Idempotency key reused",
        "The `Idempotency-Key` was used before, by the same account, with a different method, path or body.",
    ),
    (
        "idempotency-key-in-flight",
        409,
        "Idempotency key in flight",
        "The first request with this `Idempotency-Key` has not been answered yet; retry later.",
    ),
    (
        "not-assigned",
        409,
        "Not assigned",
        "The account holds no grant on the number.",
    ),
    (
        "already-assigned",
        409,
        "Already assigned",
        "The account already holds the number (a grant, or as its owner).",
    ),
    (
        "permission-exceeded",
        403,
        "Permission exceeded",
        "A grant may not give a permission (`send`, `gets`) that the granter does not hold itself.",
    ),
    (
        "conflict",
        409,
        "Conflict",
        "The request conflicts with the current state (a username already taken, a number no longer available).",
    ),
    (
        "rate-limited",
        429,
        "Too many requests",
        "Over the credential's rate, or login throttled; retry after `Retry-After` seconds.",
    ),
    (
        "too-large",
        413,
        "Body too large",
        "The body is over 64 KiB (256 KiB for a bulk request).",
    ),
    (
        "method-not-allowed",
        405,
        "Method not allowed",
        "The path exists; the method does not.",
    ),
    (
        "timeout",
        503,
        "Timeout",
        "The request did not complete in time (408 when the client had not sent its whole body; 503 when the server ran out of time: a change may or may not have been made).",
    ),
    (
        "unavailable",
        503,
        "Unavailable",
        "The database could not be reached (during a failover, say); retry shortly. A change the request was making may or may not have been made.",
    ),
    (
        "internal",
        500,
        "Internal error",
        "A server failure; it is logged, and the answer says nothing more.",
    ),
];

/// A problem details body.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ProblemBody {
    /// `/lk/v1/problems/<kind>`; GET it for a description.
    #[serde(rename = "type")]
    #[schema(example = "/lk/v1/problems/not-found")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Per field, its messages (`validation` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<BTreeMap<String, Vec<String>>>,
}

/// A refusal, ready to answer.
#[derive(Clone, Debug)]
pub struct Problem {
    body: Box<ProblemBody>,
    retry_after: Option<u64>,
}

impl Problem {
    /// A problem of kind `slug` (one of [`KINDS`]) with `detail`.
    pub fn new(slug: &str, detail: impl Into<String>) -> Problem {
        let (slug, status, title, _) = KINDS
            .iter()
            .find(|k| k.0 == slug)
            .copied()
            .unwrap_or(KINDS[KINDS.len() - 1]);
        Problem {
            body: Box::new(ProblemBody {
                kind: format!("/lk/v1/problems/{slug}"),
                title: title.to_owned(),
                status,
                detail: detail.into(),
                errors: None,
            }),
            retry_after: None,
        }
    }

    pub fn with_status(mut self, status: u16) -> Problem {
        self.body.status = status;
        self
    }

    pub fn not_found(detail: &str) -> Problem {
        Problem::new("not-found", detail)
    }

    pub fn forbidden(detail: &str) -> Problem {
        Problem::new("forbidden", detail)
    }

    /// 422 with every field's messages.
    pub fn validation(errors: BTreeMap<String, Vec<String>>) -> Problem {
        let mut p = Problem::new("validation", "One or more fields are invalid.");
        p.body.errors = Some(errors);
        p
    }

    pub fn rate_limited(retry_after: u64) -> Problem {
        let mut p = Problem::new(
            "rate-limited",
            format!("Too many requests; retry after {retry_after} s."),
        );
        p.retry_after = Some(retry_after);
        p
    }

    /// The database is unreachable (503): said as such, not as a 500.
    pub fn unavailable() -> Problem {
        Problem::new(
            "unavailable",
            "The database could not be reached; retry shortly.",
        )
    }

    /// A store failure: a 503 when the database is unreachable, else a 500.
    pub fn store(e: &StoreError) -> Problem {
        match e {
            StoreError::Unavailable => Problem::unavailable(),
            other => Problem::internal(other),
        }
    }

    /// A server failure: logged once with its cause, told generically.
    pub fn internal(cause: &dyn std::fmt::Display) -> Problem {
        tracing::error!(error = %cause, "native face: server failure");
        Problem::new(
            "internal",
            "The server failed to answer; the failure is logged.",
        )
    }

    pub fn body(&self) -> &ProblemBody {
        &self.body
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.body.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let json = serde_json::to_string(&*self.body).unwrap_or_default();
        let mut res = (status, json).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if status == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

impl From<CoreError> for Problem {
    fn from(e: CoreError) -> Problem {
        match e {
            CoreError::Forbidden => Problem::forbidden("The caller may not do this."),
            CoreError::NotVisible { number, account } => {
                Problem::not_found(match (number, account) {
                    (Some(_), Some(_)) => "No such number and no such account.",
                    (Some(_), None) => "No such number.",
                    _ => "No such account.",
                })
            }
            CoreError::NumberNotFound => Problem::not_found("No such number."),
            CoreError::NotAssigned => {
                Problem::new("not-assigned", "The account holds no grant on the number.")
            }
            CoreError::AlreadyAssigned => {
                Problem::new("already-assigned", "The account already holds the number.")
            }
            CoreError::PermissionExceeded => Problem::new(
                "permission-exceeded",
                "A grant cannot give a permission the granter does not hold.",
            ),
            CoreError::NotAvailable => Problem::new("conflict", "The number is not available."),
            CoreError::PostpaidDisabled => {
                Problem::forbidden("Postpaid billing is not enabled for this account.")
            }
            CoreError::BadCredentials => {
                Problem::new("unauthenticated", "Wrong username or password.")
            }
            CoreError::Taken(what) => {
                let mut errors = BTreeMap::new();
                errors.insert(what.to_owned(), vec![format!("{what} is already taken")]);
                Problem::validation(errors)
            }
            CoreError::InvalidProduct | CoreError::Invalid(_) => {
                Problem::new("validation", e.to_string())
            }
            CoreError::ExpiryExceeded => Problem::new(
                "permission-exceeded",
                "A grant may not last longer than the granter's own holding.",
            ),
            CoreError::InvalidExpiry
            | CoreError::InvalidDuration { .. }
            | CoreError::TooManyItems { .. } => Problem::new("validation", e.to_string()),
            CoreError::NotGranter => Problem::forbidden(
                "Only the granter, or an account above it that holds the number, may change a grant.",
            ),
            CoreError::AlreadyReserved => Problem::new(
                "conflict",
                "The caller already holds this reservation; extend it instead.",
            ),
            CoreError::ReservationLimit { cap } => Problem::new(
                "conflict",
                format!(
                    "The caller already holds {cap} reservations, the most an account may hold at once; cancel one or subscribe first."
                ),
            ),
            CoreError::NotAttempted => Problem::new("conflict", e.to_string()),
            CoreError::NotReserved => Problem::not_found("No reservation of this number is held."),
            CoreError::Store(e) => Problem::store(&e),
        }
    }
}

/// `GET /lk/v1/problems/{kind}`: a short page describing the kind.
pub async fn page(Path(slug): Path<String>) -> Response {
    let Some((slug, status, title, what)) = KINDS.iter().find(|k| k.0 == slug) else {
        return Problem::not_found("No such problem type.").into_response();
    };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body><h1>{title}</h1><p><code>/lk/v1/problems/{slug}</code>, HTTP {status}.</p>\
         <p>{what}</p></body></html>"
    ))
    .into_response()
}
