//! The panel face's envelope: `{"data": ..., "meta": {...}}`.
//!
//! The envelope is typed so that `/openapi.json` describes exactly what is
//! sent: every struct here both serializes the wire body and derives its
//! schema.

use std::num::NonZeroU32;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::messages::{self, Lang, Rule};
use crate::core::{CoreError, RefPart};

/// `meta` of every answer: the four standard fields.
#[derive(Serialize, ToSchema)]
pub struct Meta {
    /// `true` on success, `false` on failure.
    pub status: bool,
    /// `انجام شد` / `Done` on success; otherwise the failure's message.
    pub message: String,
    /// Always empty.
    #[schema(value_type = Vec<Value>, max_items = 0)]
    pub message_parameters: [Value; 0],
    /// `200-1`, `400-1`, `400-2`, `403-1`, `404-1`, `405-1`, `408-1`, `422-1`,
    /// `429-1`, `500-1` or `503-1`.
    pub message_code: String,
}

impl Meta {
    fn done(lang: Lang) -> Meta {
        Meta {
            status: true,
            message: lang.done().into(),
            message_parameters: [],
            message_code: "200-1".into(),
        }
    }
}

/// A list's paginator, as Laravel's length-aware paginator gives it.
#[derive(Serialize, ToSchema)]
pub struct Paginator {
    pub current_page: i64,
    pub per_page: i64,
    pub total: i64,
    pub last_page: i64,
    /// The first item's position (from 1); null on an empty page.
    pub from: Option<i64>,
    /// The last item's position; null on an empty page.
    pub to: Option<i64>,
}

/// `meta` of a list: the standard fields, then the paginator's.
#[derive(Serialize, ToSchema)]
pub struct PageMeta {
    #[serde(flatten)]
    pub meta: Meta,
    #[serde(flatten)]
    pub paginator: Paginator,
}

/// `meta` of a failure: the standard fields and `errors`.
#[derive(Serialize, ToSchema)]
pub struct FailureMeta {
    #[serde(flatten)]
    pub meta: Meta,
    /// Field name to its messages, in the route's field order; `{}` when the
    /// failure is not about fields.
    #[schema(value_type = std::collections::HashMap<String, Vec<String>>)]
    pub errors: Map<String, Value>,
}

/// The body of every answer: `{"data", "meta"}`.
#[derive(Serialize, ToSchema)]
pub struct Envelope<D, M> {
    pub data: D,
    pub meta: M,
}

/// `data` of an answer that carries none: JSON `null`.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Null;

impl utoipa::PartialSchema for Null {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Null)
            .into()
    }
}

impl ToSchema for Null {}

/// A 200 with `data` and the standard `meta`.
pub fn success<D: Serialize>(lang: Lang, data: D) -> Response {
    let body = Envelope {
        data,
        meta: Meta::done(lang),
    };
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// A 200 with one page of a list and the paginator in `meta`.
pub fn success_page<T: Serialize>(lang: Lang, items: Vec<T>, paginator: Paginator) -> Response {
    let body = Envelope {
        data: items,
        meta: PageMeta {
            meta: Meta::done(lang),
            paginator,
        },
    };
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// [`success_page`] for a page whose items are already rendered as a JSON
/// array (`items`): the same bytes, `{"data":ITEMS,"meta":{...}}`.
pub fn success_page_rendered(lang: Lang, items: Vec<u8>, paginator: Paginator) -> Response {
    let meta = PageMeta {
        meta: Meta::done(lang),
        paginator,
    };
    let mut body = Vec::with_capacity(items.len() + 256);
    body.extend_from_slice(b"{\"data\":");
    body.extend_from_slice(&items);
    body.extend_from_slice(b",\"meta\":");
    if serde_json::to_writer(&mut body, &meta).is_err() {
        // Writing plain fields into memory does not fail; were it to, the
        // answer is the face's own 500, never a truncated body.
        return PanelError::internal(lang).into_response();
    }
    body.push(b'}');
    (
        StatusCode::OK,
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
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

    /// No route under the face has this path (404, `404-1`).
    pub fn route_not_found(lang: Lang) -> PanelError {
        PanelError::plain(StatusCode::NOT_FOUND, "404-1", lang.route_not_found())
    }

    /// The route exists, the method does not (405, `405-1`).
    pub fn method_not_allowed(lang: Lang) -> PanelError {
        PanelError::plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "405-1",
            lang.method_not_allowed(),
        )
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
            CoreError::ExpiryExceeded => PanelError::refusal(messages::EXPIRY_EXCEEDED),
            CoreError::BadCredentials => PanelError::bad_credentials(lang),
            // The database is unreachable (a failover): a 503, not a 500.
            CoreError::Store(crate::store::StoreError::Unavailable) => {
                PanelError::unavailable(lang)
            }
            other => {
                let cause = crate::http::cause_chain(&other);
                tracing::error!(error = %cause, "panel request failed");
                PanelError::internal(lang)
            }
        }
    }
}

impl IntoResponse for PanelError {
    fn into_response(self) -> Response {
        let body = Envelope {
            data: Null,
            meta: FailureMeta {
                meta: Meta {
                    status: false,
                    message: self.message,
                    message_parameters: [],
                    message_code: self.code.into(),
                },
                errors: self.errors,
            },
        };
        let mut res = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.get().into());
        }
        res
    }
}
