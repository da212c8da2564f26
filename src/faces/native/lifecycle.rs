//! The number's life through the native face: reservations, subscriptions
//! (postpaid) and unsubscribing into quarantine, and an administrator's
//! early release from quarantine. The rules are the core's.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::input::{Authed, Body, Check, Rid, number_ref, paged_in_memory, rfc3339, whole};
use super::numbers::{dry_run, number_of};
use super::problem::Problem;
use super::render;
use crate::core::{CoreError, NumberRef, Reserved};
use crate::domain::{E164, NumberUid};
use crate::http::AppState;
use crate::store::Number;

/// The `number` of a body: an id (integer or digits), E.164 or uid.
/// `Some(None)` when it is there but can name no number.
fn body_number(check: &mut Check, body: &Map<String, Value>) -> Option<Option<NumberRef>> {
    match body.get("number") {
        Some(Value::Number(n)) => Some(whole(n).filter(|id| *id > 0).map(|id| NumberRef {
            id: Some(id),
            ..NumberRef::default()
        })),
        Some(Value::String(s)) => Some(number_ref(s)),
        None | Some(Value::Null) => {
            check.fail("number", "is required");
            None
        }
        Some(_) => {
            check.fail("number", "must be a string or an integer");
            None
        }
    }
}

/// An optional whole-number field.
fn integer(check: &mut Check, body: &Map<String, Value>, field: &str) -> Option<i64> {
    match body.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if whole(n).is_some() => whole(n),
        Some(_) => {
            check.fail(field, "must be a whole number");
            None
        }
    }
}

/// The uid of the number `r` names, if any.
async fn uid_of(s: &AppState, r: Option<NumberRef>) -> Result<Option<NumberUid>, Problem> {
    let Some(r) = r else { return Ok(None) };
    Ok(s.core
        .find_number(&r)
        .await?
        .and_then(|n| NumberUid::parse(&n.uid)))
}

fn reservation(r: &Reserved) -> Value {
    json!({
        "id": r.number.id,
        "uid": r.number.uid,
        "number": r.number.number,
        "country": r.number.country,
        "until": rfc3339(r.until),
    })
}

/// `POST /lk/v1/reservations` {number, duration_secs?}: 201 `{id, uid,
/// number, country, until}`.
pub async fn reserve(
    State(s): State<AppState>,
    Rid(rid): Rid,
    Authed(caller): Authed,
    Body(body): Body,
) -> Result<Response, Problem> {
    let mut check = Check::default();
    let number = body_number(&mut check, &body);
    let secs = integer(&mut check, &body, "duration_secs");
    check.finish()?;
    let uid = uid_of(&s, number.flatten())
        .await?
        .ok_or_else(|| Problem::not_found("No such number."))?;
    let r = s.core.reserve(&caller, &uid, secs, &rid).await?;
    Ok((StatusCode::CREATED, axum::Json(reservation(&r))).into_response())
}

/// `GET /lk/v1/reservations`: the caller's running reservations, by number id.
pub async fn reservations(
    State(s): State<AppState>,
    Authed(caller): Authed,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let rows: Vec<Reserved> = s.core.reservations(&caller).await?;
    let body = paged_in_memory(
        "reservations",
        raw.as_deref(),
        rows,
        |r| r.number.id,
        |r| reservation(&r),
    )?;
    Ok(axum::Json(body).into_response())
}

/// The uid of the caller's reservation named in a path: a number that does
/// not exist is a reservation the caller does not hold.
async fn held_uid(s: &AppState, raw: &str) -> Result<NumberUid, Problem> {
    uid_of(s, number_ref(raw))
        .await?
        .ok_or_else(|| Problem::from(CoreError::NotReserved))
}

/// `PATCH /lk/v1/reservations/{number}` {duration_secs?}: the reservation
/// now ends `duration_secs` (default 30 minutes) from now.
pub async fn extend(
    State(s): State<AppState>,
    Rid(rid): Rid,
    Authed(caller): Authed,
    Path(number): Path<String>,
    Body(body): Body,
) -> Result<Response, Problem> {
    let mut check = Check::default();
    let secs = integer(&mut check, &body, "duration_secs");
    check.finish()?;
    let uid = held_uid(&s, &number).await?;
    let r = s.core.extend_reservation(&caller, &uid, secs, &rid).await?;
    Ok(axum::Json(reservation(&r)).into_response())
}

/// `DELETE /lk/v1/reservations/{number}`: 204.
pub async fn cancel(
    State(s): State<AppState>,
    Rid(rid): Rid,
    Authed(caller): Authed,
    Path(number): Path<String>,
) -> Result<Response, Problem> {
    let uid = held_uid(&s, &number).await?;
    s.core.cancel_reservation(&caller, &uid, &rid).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A number the caller now owns.
fn owned(n: &Number, now: i64) -> Value {
    let mut body = render::number(n, now);
    body["subscription"] = n
        .subscription
        .as_ref()
        .map(|sub| {
            json!({
                "cycle": sub.cycle.as_str(),
                "resubscribe": sub.resubscribe,
                "subscribed_at": rfc3339(sub.subscribed_at),
            })
        })
        .unwrap_or(Value::Null);
    body
}

/// `POST /lk/v1/subscriptions` {number, resubscribe?}: subscribes the
/// caller (postpaid, monthly); 201 with the number it now owns.
pub async fn subscribe(
    State(s): State<AppState>,
    Rid(rid): Rid,
    Authed(caller): Authed,
    Body(body): Body,
) -> Result<Response, Problem> {
    let mut check = Check::default();
    let number = body_number(&mut check, &body);
    let resubscribe = check.boolean(&body, "resubscribe", false);
    check.finish()?;
    // An unknown number is refused after the postpaid check, by the core.
    let uid = uid_of(&s, number.flatten()).await?;
    let owned_number = s
        .core
        .subscribe_postpaid(&caller, uid.as_ref(), resubscribe.unwrap_or(false), &rid)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(owned(&owned_number.number, s.core.now())),
    )
        .into_response())
}

/// `DELETE /lk/v1/subscriptions/{number}`: the owner unsubscribes; every
/// grant goes and the number goes into quarantine. 200 with the changes;
/// `?dry_run=true` the same, marked, and nothing written.
pub async fn unsubscribe(
    State(s): State<AppState>,
    Rid(rid): Rid,
    Authed(caller): Authed,
    Path(number): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let dry = dry_run(raw.as_deref())?;
    let uid = uid_of(&s, Some(number_of(&number)?))
        .await?
        .ok_or_else(|| Problem::not_found("No such number."))?;
    let outcome = s.core.unsubscribe(&caller, &uid, dry, &rid).await?;
    Ok(axum::Json(render::outcome(&outcome)).into_response())
}

/// `POST /lk/v1/admin/numbers/{number}/release`: administrators only; ends
/// the number's quarantine early, back in the pool. 200 with the number.
pub async fn release(
    State(s): State<AppState>,
    Rid(rid): Rid,
    Authed(caller): Authed,
    Path(number): Path<String>,
) -> Result<Response, Problem> {
    if !caller.account.is_admin() {
        return Err(Problem::forbidden(
            "Only administrators release numbers from quarantine.",
        ));
    }
    let n = s
        .core
        .find_number(&number_of(&number)?)
        .await?
        .ok_or_else(|| Problem::not_found("No such number."))?;
    let e164 = E164::parse(&n.number).ok_or_else(|| Problem::not_found("No such number."))?;
    match s
        .core
        .release_number(&e164, Some(caller.account.id), &rid)
        .await
    {
        Ok(n) => Ok(axum::Json(render::number(&n, s.core.now())).into_response()),
        // The number exists: what the core refuses is that it is not
        // quarantined.
        Err(CoreError::Invalid(why)) => Err(Problem::new("conflict", capitalised(&why))),
        Err(e) => Err(e.into()),
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), c.as_str()),
        None => String::new(),
    }
}
