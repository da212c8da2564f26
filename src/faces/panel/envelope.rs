//! The panel face's envelope: `{"data": ..., "meta": {...}}`.

use std::num::NonZeroU32;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::messages::{self, Lang, Rule};
use crate::core::{CoreError, RefPart};

/// A success: `data` plus extra `meta` fields (the paginator) after the four
/// standard ones.
pub fn success(lang: Lang, data: Value, extra_meta: Option<Map<String, Value>>) -> Response {
    let mut meta = Map::new();
    meta.insert("status".into(), Value::Bool(true));
    meta.insert("message".into(), Value::String(lang.done().into()));
    meta.insert("message_parameters".into(), json!([]));
    meta.insert("message_code".into(), Value::String("200-1".into()));
    if let Some(extra) = extra_meta {
        meta.extend(extra);
    }
    (
        StatusCode::OK,
        axum::Json(json!({"data": data, "meta": meta})),
    )
        .into_response()
}

/// Every failure the panel face answers.
#[derive(Debug)]
pub struct PanelError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Field name to its messages, in the route's field order.
    pub errors: Map<String, Value>,
    /// Seconds for `Retry-After` (a 429); non-zero, which keeps the type
    /// as small as it was.
    pub retry_after: Option<NonZeroU32>,
}

impl PanelError {
    fn plain(status: StatusCode, code: &'static str, message: impl Into<String>) -> PanelError {
        PanelError {
            status,
            code,
            message: message.into(),
            errors: Map::new(),
            retry_after: None,
        }
    }

    pub fn unauthenticated(lang: Lang) -> PanelError {
        PanelError::plain(StatusCode::UNAUTHORIZED, "400-1", lang.unauthenticated())
    }

    pub fn forbidden(lang: Lang) -> PanelError {
        PanelError::plain(StatusCode::FORBIDDEN, "403-1", lang.forbidden())
    }

    pub fn bad_body(lang: Lang) -> PanelError {
        PanelError::plain(StatusCode::BAD_REQUEST, "400-1", lang.bad_body())
    }

    pub fn too_large(lang: Lang) -> PanelError {
        PanelError::plain(StatusCode::PAYLOAD_TOO_LARGE, "400-1", lang.too_large())
    }

    /// A 429 (`429-1`): try again after `retry_after` seconds.
    pub fn too_many(lang: Lang, retry_after: u64) -> PanelError {
        PanelError {
            retry_after: NonZeroU32::new(u32::try_from(retry_after).unwrap_or(u32::MAX).max(1)),
            ..PanelError::plain(StatusCode::TOO_MANY_REQUESTS, "429-1", lang.too_many())
        }
    }

    /// The client did not send its whole request in time (408, `408-1`).
    pub fn request_timeout(lang: Lang) -> PanelError {
        PanelError::plain(StatusCode::REQUEST_TIMEOUT, "408-1", lang.request_timeout())
    }

    /// The server did not answer in time (503, `503-1`).
    pub fn unavailable(lang: Lang) -> PanelError {
        PanelError::plain(StatusCode::SERVICE_UNAVAILABLE, "503-1", lang.unavailable())
    }

    /// The operation's own refusal (400), in the seeds' English.
    pub fn refusal(message: &'static str) -> PanelError {
        PanelError::plain(StatusCode::BAD_REQUEST, "400-1", message)
    }

    pub fn internal(lang: Lang) -> PanelError {
        PanelError::plain(StatusCode::INTERNAL_SERVER_ERROR, "500-1", lang.internal())
    }

    /// A 422 from field errors (`400-2`), summarised as Laravel does.
    pub fn invalid(lang: Lang, errors: Map<String, Value>) -> PanelError {
        let messages: Vec<&str> = errors
            .values()
            .filter_map(Value::as_array)
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let first = messages.first().copied().unwrap_or_default();
        let message = lang.summary(first, messages.len().saturating_sub(1));
        PanelError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "400-2",
            message,
            errors,
            retry_after: None,
        }
    }

    /// Wrong username or password (`422-1`).
    pub fn bad_credentials(lang: Lang) -> PanelError {
        let mut errors = Map::new();
        errors.insert("username".into(), json!([lang.wrong_credentials()]));
        PanelError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "422-1",
            message: lang.request_invalid().into(),
            errors,
            retry_after: None,
        }
    }

    /// Maps the core's refusal. `fields` names the wire fields of the number
    /// and account references: `[number_id, number, target_user_id, target_user]`.
    pub fn from_core(lang: Lang, e: CoreError, fields: [&str; 4]) -> PanelError {
        match e {
            CoreError::Forbidden => PanelError::forbidden(lang),
            CoreError::NotVisible { number, account } => {
                let field = |part: RefPart, id: &str, natural: &str| match part {
                    RefPart::Id => id.to_owned(),
                    RefPart::Natural => natural.to_owned(),
                };
                let mut failing: Vec<String> = Vec::new();
                failing.extend(number.map(|p| field(p, fields[0], fields[1])));
                failing.extend(account.map(|p| field(p, fields[2], fields[3])));
                // The route lists ids first, then the natural keys.
                let order = [fields[0], fields[2], fields[1], fields[3]];
                failing.sort_by_key(|f| order.iter().position(|o| o == f));
                let errors = failing
                    .into_iter()
                    .map(|f| {
                        let m = lang.rule(Rule::Exists, &f);
                        (f, json!([m]))
                    })
                    .collect();
                PanelError::invalid(lang, errors)
            }
            CoreError::NotAssigned => PanelError::refusal(messages::NOT_ASSIGNED),
            CoreError::AlreadyAssigned => PanelError::refusal(messages::ALREADY_ASSIGNED),
            CoreError::PermissionExceeded => PanelError::refusal(messages::PERMISSION_EXCEEDED),
            CoreError::BadCredentials => PanelError::bad_credentials(lang),
            other => {
                tracing::error!(error = %other, "panel request failed");
                PanelError::internal(lang)
            }
        }
    }
}

impl IntoResponse for PanelError {
    fn into_response(self) -> Response {
        let body = json!({
            "data": null,
            "meta": {
                "status": false,
                "message": self.message,
                "message_parameters": [],
                "message_code": self.code,
                "errors": self.errors,
            }
        });
        let mut res = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.get().into());
        }
        res
    }
}
