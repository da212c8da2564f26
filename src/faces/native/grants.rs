//! Changing a grant (`PATCH`), and many grant commands at once (`POST
//! /grants/bulk`). The rules are the core's; this reads the requests and
//! writes the answers.

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::input::{Authed, Body, Check, Rid, number_ref, whole};
use super::numbers::{account_of, dry_run, number_of};
use super::problem::Problem;
use super::render;
use crate::core::bulk::MAX_ITEMS;
use crate::core::{
    AccountRef, Assign, BulkItem, ChangeGrant, CoreError, NumberRef, Outcome, Perms, Unassign,
};
use crate::http::AppState;

/// `expires_at` of a change: absent (`None`, unchanged), `null`
/// (`Some(None)`: the grant's own end removed), or an RFC 3339 date-time.
fn new_end(check: &mut Check, body: &Map<String, Value>) -> Option<Option<i64>> {
    match body.get("expires_at") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(_) => check.time(body, "expires_at").map(Some),
    }
}

/// The terms a change names: `send?`, `gets?`, `expires_at?` (at least one).
fn change_terms(
    check: &mut Check,
    body: &Map<String, Value>,
) -> (Option<bool>, Option<bool>, Option<Option<i64>>) {
    let send = check.boolean(body, "send", false);
    let gets = check.boolean(body, "gets", false);
    let end = new_end(check, body);
    if !["send", "gets", "expires_at"]
        .iter()
        .any(|f| body.contains_key(*f))
    {
        check.fail("send", "give at least one of send, gets, expires_at");
    }
    (send, gets, end)
}

/// `PATCH /lk/v1/numbers/{number}/grants/{account}` {send?, gets?,
/// expires_at? (RFC 3339, or null to remove the grant's own end)}: 200 with
/// the changes (the grant's, then each grant lowered with it); with
/// `?dry_run=true` the same, marked, and nothing written.
pub async fn change(
    State(s): State<AppState>,
    Rid(rid): Rid,
    Authed(caller): Authed,
    Path((number, account)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    Body(body): Body,
) -> Result<Response, Problem> {
    let dry = dry_run(raw.as_deref())?;
    let (n, t) = (number_of(&number), account_of(&account));
    let mut check = Check::default();
    let (send, gets, expires_at) = change_terms(&mut check, &body);
    if !caller.account.can_manage() {
        return Err(Problem::forbidden(
            "Only resellers and administrators change grants.",
        ));
    }
    check.finish()?;
    let cmd = ChangeGrant {
        number: n?,
        target: t?,
        send,
        gets,
        expires_at,
    };
    let outcome = s.core.change_grant(&caller, cmd, dry, &rid).await?;
    Ok(axum::Json(render::outcome(&outcome)).into_response())
}

/// A bulk item's `number`: an id (integer or digits), E.164 or uid. One
/// that can name nothing is kept as a reference to nothing, so that the
/// item gets the "no such number" it would get alone.
fn item_number(v: Option<&Value>, check: &mut Check) -> NumberRef {
    match v {
        Some(Value::Number(n)) if whole(n).is_some() => NumberRef {
            id: whole(n),
            ..NumberRef::default()
        },
        Some(Value::String(s)) => number_ref(s).unwrap_or_default(),
        None | Some(Value::Null) => {
            check.fail("number", "is required");
            NumberRef::default()
        }
        Some(_) => {
            check.fail("number", "must be a string or an integer");
            NumberRef::default()
        }
    }
}

/// A bulk item's `account`: an id (integer or digits) or a username.
fn item_account(v: Option<&Value>, check: &mut Check) -> AccountRef {
    match v {
        Some(Value::Number(n)) if whole(n).is_some() => AccountRef {
            id: whole(n),
            username: None,
        },
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            AccountRef {
                id: s.parse().ok(),
                username: None,
            }
        }
        Some(Value::String(s)) => AccountRef {
            id: None,
            username: Some(s.clone()),
        },
        None | Some(Value::Null) => {
            check.fail("account", "is required");
            AccountRef::default()
        }
        Some(_) => {
            check.fail("account", "must be an integer or a string");
            AccountRef::default()
        }
    }
}

/// One item of a bulk request, checked as its own route would check it.
fn item(v: &Value, check: &mut Check) -> Option<BulkItem> {
    let Value::Object(body) = v else {
        check.fail("op", "the item must be an object");
        return None;
    };
    let op = check.string(body, "op", true);
    let number = item_number(body.get("number"), check);
    let target = item_account(body.get("account"), check);
    match op.as_deref() {
        Some("assign") => {
            let send = check.boolean(body, "send", true);
            let gets = check.boolean(body, "gets", true);
            let expires_at = check.time(body, "expires_at");
            Some(BulkItem::Assign(Assign {
                number,
                target,
                perms: Perms {
                    send: send?,
                    gets: gets?,
                },
                expires_at,
            }))
        }
        Some("change") => {
            let (send, gets, expires_at) = change_terms(check, body);
            Some(BulkItem::Change(ChangeGrant {
                number,
                target,
                send,
                gets,
                expires_at,
            }))
        }
        Some("unassign") => Some(BulkItem::Unassign(Unassign { number, target })),
        Some(_) => {
            check.fail("op", "must be assign, change or unassign");
            None
        }
        None => None,
    }
}

/// What one item answers: its status and changes, or its problem.
fn result(status: u16, r: Result<Outcome, CoreError>) -> Value {
    match r {
        Ok(outcome) => {
            let changes: Vec<Value> = outcome.changes.iter().map(render::change).collect();
            json!({ "status": status, "changes": changes })
        }
        Err(CoreError::NotAttempted) => {
            let p = Problem::new(
                "conflict",
                "Not attempted: an earlier item failed, and the request is atomic.",
            );
            json!({ "status": p.body().status, "problem": p.body() })
        }
        Err(e) => {
            // The item's own problem, as the route alone would answer it.
            let p = Problem::from(e);
            json!({ "status": p.body().status, "problem": p.body() })
        }
    }
}

/// `POST /lk/v1/grants/bulk` {atomic, items: [{op, number, account, send?,
/// gets?, expires_at?}, ...]}: up to 1000 items in order in one transaction;
/// 200 `{"committed", "results": [...]}` with each item's status and changes
/// or its problem. `atomic`: all or nothing. `?dry_run=true`: the same
/// answer, `committed` false, nothing written.
pub async fn bulk(
    State(s): State<AppState>,
    Rid(rid): Rid,
    Authed(caller): Authed,
    RawQuery(raw): RawQuery,
    Body(body): Body,
) -> Result<Response, Problem> {
    let dry = dry_run(raw.as_deref())?;
    let mut check = Check::default();
    let atomic = check.boolean(&body, "atomic", true);
    let raw_items = match body.get("items") {
        Some(Value::Array(items)) => items.as_slice(),
        None | Some(Value::Null) => {
            check.fail("items", "is required");
            &[]
        }
        Some(_) => {
            check.fail("items", "must be an array");
            &[]
        }
    };
    if raw_items.len() > MAX_ITEMS {
        let mut over = Check::default();
        over.fail(
            "items",
            CoreError::TooManyItems { max: MAX_ITEMS }.to_string(),
        );
        over.finish()?;
    }
    let mut items = Vec::with_capacity(raw_items.len());
    for (i, v) in raw_items.iter().enumerate() {
        let mut inner = Check::default();
        let parsed = item(v, &mut inner);
        check.nest(&format!("items[{i}]"), inner);
        items.extend(parsed);
    }
    if !caller.account.can_manage() {
        return Err(Problem::forbidden(
            "Only resellers and administrators assign, change and unassign grants.",
        ));
    }
    check.finish()?;
    let atomic = atomic.unwrap_or(false);
    // A success's status: what the item's own route answers.
    let statuses: Vec<u16> = items
        .iter()
        .map(|i| match i {
            BulkItem::Assign(_) => 201,
            BulkItem::Change(_) | BulkItem::Unassign(_) => 200,
        })
        .collect();
    let ran = if dry {
        s.core.bulk_dry_run(&caller, items, atomic).await?
    } else {
        s.core.bulk(&caller, items, atomic, &rid).await?
    };
    let committed = ran.committed;
    let results: Vec<Value> = statuses
        .into_iter()
        .zip(ran.results)
        .map(|(status, r)| result(status, r))
        .collect();
    let body = if dry {
        json!({ "dry_run": true, "committed": false, "results": results })
    } else {
        json!({ "committed": committed, "results": results })
    };
    Ok(axum::Json(body).into_response())
}
