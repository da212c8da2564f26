//! The virtual-number face's two envelopes.
//!
//! Success carries the original's fourteen fields, every one always present
//! and in the original's order (a struct, so serde keeps that order). Failure
//! is `{"code", "message", "stack"}` with the HTTP status equal to `code`;
//! `stack` is only ever `"APIError: " + message`, never a real trace.

use std::borrow::Cow;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::messages;
use crate::core::CoreError;
use crate::store::StoreError;

/// Serializes as `{}`, the original's empty `data` and `error`.
#[derive(Clone, Copy, Debug, Default, Serialize, ToSchema)]
#[schema(max_properties = 0)]
pub struct Empty {}

/// Every success's body: the original's fourteen fields, always all present.
#[derive(Serialize, ToSchema)]
pub struct Success<T> {
    app_type: &'static str,
    app_version: &'static str,
    /// Spelled as the original spells it.
    maintainence: u8,
    new_version: u8,
    force_update: u8,
    invalid_token: u8,
    refresh_token: &'static str,
    show_message: u8,
    is_enc: bool,
    status: bool,
    message: &'static str,
    message_type: &'static str,
    data: T,
    error: Empty,
}

/// A 200 with `message` and `data`.
pub fn success<T: Serialize>(message: &'static str, data: T) -> Response {
    let body = Success {
        app_type: "web",
        app_version: "1.0",
        maintainence: 0,
        new_version: 0,
        force_update: 0,
        invalid_token: 0,
        refresh_token: "",
        show_message: 1,
        is_enc: false,
        status: true,
        message,
        message_type: "toast",
        data,
        error: Empty {},
    };
    (StatusCode::OK, Json(body)).into_response()
}

/// Every failure's body; the HTTP status equals `code`.
#[derive(Serialize, ToSchema)]
pub struct Failure {
    code: u16,
    message: String,
    /// Always `"APIError: " + message`, never a real trace.
    stack: String,
}

/// Every refusal the face answers.
#[derive(Debug)]
pub struct VnError {
    pub status: StatusCode,
    pub message: Cow<'static, str>,
    /// Seconds for `Retry-After` (a 429).
    pub retry_after: Option<u64>,
}

impl VnError {
    pub fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> VnError {
        VnError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> VnError {
        VnError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn invalid_token() -> VnError {
        VnError::new(StatusCode::UNAUTHORIZED, messages::INVALID_TOKEN)
    }

    pub fn token_expired() -> VnError {
        VnError::new(StatusCode::UNAUTHORIZED, messages::TOKEN_EXPIRED)
    }

    /// Unknown, malformed, or not the caller's: one answer for all three, so
    /// a caller learns nothing about other accounts' numbers.
    pub fn number_not_found() -> VnError {
        VnError::new(StatusCode::NOT_FOUND, messages::NOT_FOUND_NUMBER)
    }

    pub fn route_not_found() -> VnError {
        VnError::new(StatusCode::NOT_FOUND, messages::NOT_FOUND_ROUTE)
    }

    pub fn method_not_allowed() -> VnError {
        VnError::new(StatusCode::METHOD_NOT_ALLOWED, messages::METHOD_NOT_ALLOWED)
    }

    pub fn too_large() -> VnError {
        VnError::new(StatusCode::PAYLOAD_TOO_LARGE, messages::TOO_LARGE)
    }

    /// A 429: try again after `retry_after` seconds.
    pub fn too_many(retry_after: u64) -> VnError {
        VnError {
            retry_after: Some(retry_after),
            ..VnError::new(StatusCode::TOO_MANY_REQUESTS, messages::TOO_MANY)
        }
    }

    pub fn request_timeout() -> VnError {
        VnError::new(StatusCode::REQUEST_TIMEOUT, messages::REQUEST_TIMEOUT)
    }

    pub fn unavailable() -> VnError {
        VnError::new(StatusCode::SERVICE_UNAVAILABLE, messages::UNAVAILABLE)
    }

    /// A 500: `cause` is logged once, the client hears a generic message.
    pub fn internal(cause: &dyn std::fmt::Display) -> VnError {
        tracing::error!(error = %cause, "virtual-number request failed");
        VnError::new(StatusCode::INTERNAL_SERVER_ERROR, messages::INTERNAL)
    }
}

impl From<CoreError> for VnError {
    fn from(e: CoreError) -> VnError {
        match e {
            CoreError::NumberNotFound => VnError::number_not_found(),
            CoreError::NotAvailable => VnError::new(StatusCode::CONFLICT, messages::NOT_AVAILABLE),
            CoreError::PostpaidDisabled => {
                VnError::new(StatusCode::FORBIDDEN, messages::POSTPAID_DISABLED)
            }
            CoreError::InvalidProduct => VnError::bad_request(messages::INVALID_PRODUCT),
            // The database is unreachable (a failover): a 503, not a 500.
            CoreError::Store(StoreError::Unavailable) => VnError::unavailable(),
            // The face's routes cannot provoke any other refusal; one that
            // appears anyway is a bug or a database failure.
            other => VnError::internal(&crate::http::cause_chain(&other)),
        }
    }
}

impl IntoResponse for VnError {
    fn into_response(self) -> Response {
        let body = Failure {
            code: self.status.as_u16(),
            stack: format!("APIError: {}", self.message),
            message: self.message.into_owned(),
        };
        let mut res = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(res: Response) -> String {
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .expect("body");
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    #[tokio::test]
    async fn success_keeps_the_originals_field_order() {
        let body = body_of(success("Done.", Empty {})).await;
        assert_eq!(
            body,
            r#"{"app_type":"web","app_version":"1.0","maintainence":0,"new_version":0,"force_update":0,"invalid_token":0,"refresh_token":"","show_message":1,"is_enc":false,"status":true,"message":"Done.","message_type":"toast","data":{},"error":{}}"#
        );
    }

    #[tokio::test]
    async fn failure_is_code_message_stack() {
        let res = VnError::number_not_found().into_response();
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            body_of(res).await,
            r#"{"code":404,"message":"Virtual number not found","stack":"APIError: Virtual number not found"}"#
        );
    }
}
