//! `GET /lk/v1/events`: the caller's events from the outbox, in commit
//! order, after an event id, long-polling when none are waiting.

use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::input::{Authed, Check, Query, rfc3339};
use super::problem::Problem;
use crate::http::AppState;
use crate::store::EventRow;

/// `GET /lk/v1/events?after=<id>&limit=<1..500>&wait=<0..30>`: events after
/// `after` (0, the default: from the oldest kept). With none waiting, the
/// answer waits up to `wait` seconds (default 30) for one. `next_after` is
/// the id to ask after next time (the last event's, or `after` again).
pub async fn feed(
    State(s): State<AppState>,
    Authed(caller): Authed,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let q = Query::parse(raw.as_deref());
    let mut check = Check::default();
    let after = q.integer(&mut check, "after", 0, i64::MAX).unwrap_or(0);
    let limit = q.integer(&mut check, "limit", 1, 500).unwrap_or(50);
    let wait = q.integer(&mut check, "wait", 0, 30).unwrap_or(30);
    check.finish()?;
    let rows = s
        .core
        .events(&caller, after, limit, Duration::from_secs(wait as u64))
        .await?;
    let next_after = rows.last().map_or(after, |e| e.id);
    let items: Vec<Value> = rows.into_iter().map(event).collect();
    Ok(axum::Json(json!({ "items": items, "next_after": next_after })).into_response())
}

/// One event as the feed (and webhooks) show it.
pub fn event(e: EventRow) -> Value {
    let data: Value = serde_json::from_str(&e.data).unwrap_or_else(|_| json!({}));
    json!({
        "id": e.id,
        "type": e.kind,
        "at": rfc3339(e.at),
        "actor_id": e.actor_id,
        "request_id": e.request_id,
        "number_id": e.number_id,
        "number": e.number,
        "account_id": e.account_id,
        "data": data,
    })
}
