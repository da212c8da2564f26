//! `/lk/v1/webhooks`: the caller's endpoints, their delivery log, and
//! redelivery. Delivery itself is the dispatcher's (`dispatch`).

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::input::{Authed, Body, Check, Query, paged, paged_in_memory, rfc3339};
use super::problem::Problem;
use crate::core::webhooks::{SECRET_PREFIX, WebhookPatch, WebhookSpec, check_types, check_url};
use crate::http::AppState;
use crate::store::{AttemptRow, DeliveryRow, WebhookRow};

/// The longest description.
const MAX_DESCRIPTION: usize = 200;

/// `POST /lk/v1/webhooks` {url, types (default `["*"]`), description}: 201
/// with the endpoint and its `secret`, shown only here.
pub async fn create(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Body(body): Body,
) -> Result<Response, Problem> {
    let allow_private = s.core.webhook_settings().allow_private;
    let mut check = Check::default();
    let url = url_field(&mut check, &body, true, allow_private);
    let types = types_field(&mut check, &body).unwrap_or_else(|| Some("*".into()));
    let description = description_field(&mut check, &body);
    check.finish()?;
    let (Some(url), Some(types)) = (url, types) else {
        return Err(Problem::internal(
            &"webhook fields missing after validation",
        ));
    };
    let spec = WebhookSpec {
        url,
        types,
        description: description.unwrap_or_default(),
    };
    let w = s.core.create_webhook(&caller, spec).await?;
    let mut shown = render(&w);
    if let Value::Object(map) = &mut shown {
        map.insert(
            "secret".into(),
            Value::String(format!("{SECRET_PREFIX}{}", w.secret)),
        );
    }
    Ok((StatusCode::CREATED, axum::Json(shown)).into_response())
}

/// `GET /lk/v1/webhooks`: the caller's endpoints, never their secrets.
pub async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let all = s.core.webhooks(&caller).await?;
    let body = paged_in_memory("webhooks", raw.as_deref(), all, |w| w.id, |w| render(&w))?;
    Ok(axum::Json(body).into_response())
}

/// `GET /lk/v1/webhooks/{id}`.
pub async fn show(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = webhook_id(&id)?;
    let w = s.core.webhook(&caller, id).await.map_err(not_found)?;
    Ok(axum::Json(render(&w)).into_response())
}

/// `PATCH /lk/v1/webhooks/{id}` {url, types, description, enabled}: each
/// optional; `enabled: true` re-enables a disabled endpoint (its pending
/// deliveries resume), `false` disables it.
pub async fn change(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<Response, Problem> {
    let id = webhook_id(&id)?;
    let allow_private = s.core.webhook_settings().allow_private;
    let mut check = Check::default();
    let url = url_field(&mut check, &body, false, allow_private);
    let types = types_field(&mut check, &body).flatten();
    let description = description_field(&mut check, &body);
    let enabled = check.boolean(&body, "enabled", false);
    check.finish()?;
    let patch = WebhookPatch {
        url,
        types,
        description,
        enabled,
    };
    let w = s
        .core
        .change_webhook(&caller, id, patch)
        .await
        .map_err(not_found)?;
    Ok(axum::Json(render(&w)).into_response())
}

/// `DELETE /lk/v1/webhooks/{id}`: 204; its delivery log goes with it.
pub async fn delete(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = webhook_id(&id)?;
    s.core
        .delete_webhook(&caller, id)
        .await
        .map_err(not_found)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /lk/v1/webhooks/{id}/deliveries?limit=&cursor=`: the delivery log,
/// newest first, each delivery with its attempts.
pub async fn deliveries(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let id = webhook_id(&id)?;
    let q = Query::parse(raw.as_deref());
    let mut check = Check::default();
    let (limit, before) = q.page(&mut check, "deliveries");
    check.finish()?;
    let rows = s
        .core
        .webhook_deliveries(&caller, id, before.unwrap_or(i64::MAX), limit + 1)
        .await
        .map_err(not_found)?;
    let body = paged(
        "deliveries",
        rows,
        limit,
        |(d, _)| d.id,
        |(d, a)| delivery(&d, &a),
    );
    Ok(axum::Json(body).into_response())
}

/// `POST /lk/v1/webhooks/{id}/deliveries/{delivery}/retry`: 202; the
/// delivery is sent again soon, with a fresh round of attempts.
pub async fn retry(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path((id, delivery_id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let id = webhook_id(&id)?;
    let delivery_id = delivery_id
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Problem::not_found("No such delivery."))?;
    let (d, attempts) = s
        .core
        .retry_webhook_delivery(&caller, id, delivery_id)
        .await
        .map_err(|e| match e {
            crate::core::CoreError::NotVisible { .. } => {
                Problem::not_found("No such webhook or delivery.")
            }
            e => e.into(),
        })?;
    Ok((StatusCode::ACCEPTED, axum::Json(delivery(&d, &attempts))).into_response())
}

fn webhook_id(raw: &str) -> Result<i64, Problem> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Problem::not_found("No such webhook."))
}

fn not_found(e: crate::core::CoreError) -> Problem {
    match e {
        crate::core::CoreError::NotVisible { .. } => Problem::not_found("No such webhook."),
        e => e.into(),
    }
}

fn url_field(
    check: &mut Check,
    body: &Map<String, Value>,
    required: bool,
    allow_private: bool,
) -> Option<String> {
    let url = check.string(body, "url", required)?;
    match check_url(&url, allow_private) {
        Ok(_) => Some(url),
        Err(why) => {
            check.fail("url", why);
            None
        }
    }
}

/// `None`: not given; `Some(None)`: given but wrong.
fn types_field(check: &mut Check, body: &Map<String, Value>) -> Option<Option<String>> {
    let v = body.get("types")?;
    if v.is_null() {
        return None;
    }
    let Some(list) = v.as_array() else {
        check.fail("types", "must be a list of event types");
        return Some(None);
    };
    let mut names = Vec::new();
    for item in list {
        match item.as_str() {
            Some(s) => names.push(s.to_owned()),
            None => {
                check.fail("types", "must be a list of event types");
                return Some(None);
            }
        }
    }
    match check_types(&names) {
        Ok(t) => Some(Some(t)),
        Err(why) => {
            check.fail("types", why);
            Some(None)
        }
    }
}

fn description_field(check: &mut Check, body: &Map<String, Value>) -> Option<String> {
    let d = check.string(body, "description", false)?;
    if d.chars().count() > MAX_DESCRIPTION || d.chars().any(char::is_control) {
        check.fail(
            "description",
            format!(
                "must be at most {MAX_DESCRIPTION} characters, none of them control characters"
            ),
        );
        return None;
    }
    Some(d)
}

/// An endpoint as shown (without its secret).
pub fn render(w: &WebhookRow) -> Value {
    let types: Vec<&str> = w.types.split(' ').collect();
    json!({
        "id": w.id,
        "url": w.url,
        "types": types,
        "description": w.description,
        "enabled": w.disabled_at.is_none(),
        "disabled_at": w.disabled_at.map(rfc3339),
        "disabled_reason": w.disabled_reason,
        "failing_since": w.failing_since.map(rfc3339),
        "created_at": rfc3339(w.created_at),
    })
}

/// A delivery with its attempts.
fn delivery(d: &DeliveryRow, attempts: &[AttemptRow]) -> Value {
    let log: Vec<Value> = attempts
        .iter()
        .map(|a| {
            json!({
                "attempt": a.attempt,
                "at": rfc3339(a.at),
                "status": a.status,
                "latency_ms": a.latency_ms,
                "response": a.response,
                "error": a.error,
            })
        })
        .collect();
    json!({
        "id": d.id,
        "event_id": d.event_id,
        "event_type": d.kind,
        "state": d.state,
        "attempts": d.attempts,
        "next_attempt_at": (d.state == "pending").then(|| rfc3339(d.next_at)),
        "created_at": rfc3339(d.created_at),
        "done_at": d.done_at.map(rfc3339),
        "log": log,
    })
}
