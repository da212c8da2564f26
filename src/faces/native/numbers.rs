//! Numbers the caller holds, their grants, their custody history, the pool,
//! and routing.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use super::input::{Authed, Body, Check, Query, Rid, number_ref, paged, rfc3339};
use super::problem::Problem;
use super::render;
use crate::core::custody::HistoryView;
use crate::core::grants::NumberView;
use crate::core::grants::{Assign, Unassign};
use crate::core::{AccountRef, Change, NumberRef, Perms, PoolFilter};
use crate::domain::E164;
use crate::http::AppState;
use crate::store::{Holding, HoldingFilter};

pub(super) fn number_of(raw: &str) -> Result<NumberRef, Problem> {
    number_ref(raw).ok_or_else(|| Problem::not_found("No such number."))
}

pub(super) fn account_of(raw: &str) -> Result<AccountRef, Problem> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0 && raw.bytes().all(|b| b.is_ascii_digit()))
        .map(|id| AccountRef {
            id: Some(id),
            username: None,
        })
        .ok_or_else(|| Problem::not_found("No such account."))
}

/// `GET /lk/v1/numbers?state=&country=&prefix=&contains=&owned=&granted_to=`.
pub async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let q = Query::parse(raw.as_deref());
    let mut check = Check::default();
    let state = q.get(&mut check, "state");
    if state
        .as_deref()
        .is_some_and(|s| !matches!(s, "subscribed" | "available"))
    {
        check.fail("state", "must be subscribed or available");
    }
    let filter = HoldingFilter {
        country: q.country(&mut check),
        prefix: q.digits(&mut check, "prefix"),
        contains: q.digits(&mut check, "contains"),
        owned: q.boolean(&mut check, "owned"),
        granted_to: q.integer(&mut check, "granted_to", 1, i64::MAX),
        // Set by the core.
        ..HoldingFilter::default()
    };
    let (limit, after) = q.page(&mut check, "numbers");
    check.finish()?;
    let me = caller.account.id;
    let write = move |rows: Vec<Holding>| {
        paged(
            "numbers",
            rows,
            limit,
            |h| h.id,
            |h: Holding| render::HeldItem {
                id: h.id,
                state: h.state().as_str(),
                owned: h.owner_id == me,
                facts: h.facts,
                permissions: render::PermsItem {
                    send: h.send,
                    gets: h.gets,
                },
            },
        )
    };
    // What anyone holds is subscribed; a pool number is held by no one.
    if state.as_deref() == Some("available") {
        return Ok(write(Vec::new()).into_response());
    }
    let filter = HoldingFilter {
        after_id: after.unwrap_or(0),
        ..filter
    };
    // A first page may come as it was written before (the core keeps it
    // while nothing has changed).
    let body = s
        .core
        .holdings_page(&caller, filter, limit + 1, |rows| write(rows).into_body())
        .await?;
    Ok(super::json::answer(body))
}

/// The grant tree, nested: each grant with the grants made from it.
fn tree(view: &NumberView) -> Vec<Value> {
    fn below(view: &NumberView, granter: Option<i64>) -> Vec<Value> {
        view.tree
            .iter()
            .filter(|(g, _)| match granter {
                Some(by) => g.granted_by == by,
                // Roots: made by an account that is not itself in the tree.
                None => !view.tree.iter().any(|(p, _)| p.account_id == g.granted_by),
            })
            .map(|(g, a)| {
                json!({
                    "account": render::brief(a),
                    "granted_by": g.granted_by,
                    "permissions": { "send": g.send, "gets": g.gets },
                    "created_at": rfc3339(g.created_at),
                    "grants": below(view, Some(g.account_id)),
                })
            })
            .collect()
    }
    below(view, None)
}

/// `GET /lk/v1/numbers/{number}`.
pub async fn show(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(number): Path<String>,
) -> Result<Response, Problem> {
    let view = s.core.number_view(&caller, number_of(&number)?).await?;
    let mut body = render::number(&view.number, s.core.now());
    body["owner"] = view
        .owner
        .as_ref()
        .map(render::brief)
        .unwrap_or(Value::Null);
    body["permissions"] = render::perms(view.held);
    body["grants"] = json!(tree(&view));
    Ok(axum::Json(body).into_response())
}

/// `PUT /lk/v1/numbers/{number}/grants/{account}` {send, gets}: 201 with
/// the grant; an existing grant is 409 `already-assigned`.
pub async fn assign(
    State(s): State<AppState>,
    Rid(rid): Rid,
    Authed(caller): Authed,
    Path((number, account)): Path<(String, String)>,
    Body(body): Body,
) -> Result<Response, Problem> {
    let (n, t) = (number_of(&number), account_of(&account));
    let mut check = Check::default();
    let send = check.boolean(&body, "send", true);
    let gets = check.boolean(&body, "gets", true);
    let expires_at = check.time(&body, "expires_at");
    if !caller.account.can_manage() {
        return Err(Problem::forbidden(
            "Only resellers and administrators assign numbers.",
        ));
    }
    check.finish()?;
    let (n, t) = (n?, t?);
    let perms = Perms {
        send: send.unwrap_or(false),
        gets: gets.unwrap_or(false),
    };
    let cmd = Assign {
        number: n,
        target: t,
        perms,
        expires_at,
    };
    let now = s.core.now();
    let outcome = s.core.assign(&caller, cmd, &rid).await?;
    // The grant made is the outcome's last change (expired grants swept
    // first come before it).
    let made = outcome
        .changes
        .iter()
        .rev()
        .find_map(|c| c.created_grant(now));
    match made {
        Some(g) => Ok((StatusCode::CREATED, axum::Json(render::grant(&g))).into_response()),
        None => Err(Problem::internal(&"assign answered no grant")),
    }
}

/// `?dry_run=true|false` (default false).
pub(super) fn dry_run(raw: Option<&str>) -> Result<bool, Problem> {
    let q = Query::parse(raw);
    let mut check = Check::default();
    let dry = q.boolean(&mut check, "dry_run").unwrap_or(false);
    check.finish()?;
    Ok(dry)
}

/// `DELETE /lk/v1/numbers/{number}/grants/{account}`: 200 with every grant
/// removed, the account's own first, then the cascade. With `?dry_run=true`,
/// `{"dry_run": true, "changes": [...]}` and nothing written.
pub async fn unassign(
    State(s): State<AppState>,
    Rid(rid): Rid,
    Authed(caller): Authed,
    Path((number, account)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let dry = dry_run(raw.as_deref())?;
    let (n, t) = (number_of(&number)?, account_of(&account)?);
    let cmd = Unassign {
        number: n,
        target: t,
    };
    let outcome = s.core.unassign(&caller, cmd, dry, &rid).await?;
    if dry {
        return Ok(axum::Json(render::outcome(&outcome)).into_response());
    }
    let removed: Vec<Value> = outcome
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::GrantRemoved {
                number_id,
                account_id,
                granted_by,
                reason,
                chain,
            } => Some(json!({
                "number_id": number_id,
                "account_id": account_id,
                "granted_by": granted_by,
                "reason": reason.as_str(),
                "chain": chain,
            })),
            _ => None,
        })
        .collect();
    Ok(axum::Json(json!({ "removed": removed })).into_response())
}

fn entry(h: HistoryView) -> render::HistoryItem {
    render::HistoryItem {
        id: h.id,
        at: h.at,
        action: h.action,
        number: h
            .number
            .map(|(id, number)| render::NumberBrief { id, number }),
        actor: h.actor.map(render::Named),
        target: h.target.map(render::Named),
        granted_by: h.granted_by.map(render::Named),
        permissions: h.perms.map(|p| render::PermsItem {
            send: p.send,
            gets: p.gets,
        }),
        request_id: h.request_id,
    }
}

async fn history_of(
    s: &AppState,
    caller: &crate::core::Caller,
    number: Option<NumberRef>,
    raw: Option<&str>,
) -> Result<Response, Problem> {
    let q = Query::parse(raw);
    let mut check = Check::default();
    let (limit, before) = q.page(&mut check, "history");
    check.finish()?;
    let rows = s.core.history(caller, number, before, limit + 1).await?;
    let body = paged("history", rows, limit, |h| h.id, entry);
    Ok(body.into_response())
}

/// `GET /lk/v1/numbers/{number}/history`.
pub async fn number_history(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(number): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let n = number_of(&number)?;
    history_of(&s, &caller, Some(n), raw.as_deref()).await
}

/// `GET /lk/v1/history`.
pub async fn history(
    State(s): State<AppState>,
    Authed(caller): Authed,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    history_of(&s, &caller, None, raw.as_deref()).await
}

/// `GET /lk/v1/pool?country=&prefix=&contains=&min_monthly_price=&max_monthly_price=`.
pub async fn pool(
    State(s): State<AppState>,
    Authed(_caller): Authed,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let q = Query::parse(raw.as_deref());
    let mut check = Check::default();
    let mut filter = PoolFilter {
        country: q.country(&mut check),
        pattern: q.digits(&mut check, "contains"),
        prefix: q.digits(&mut check, "prefix"),
        min_monthly_price: q.integer(&mut check, "min_monthly_price", 0, i64::MAX),
        max_monthly_price: q.integer(&mut check, "max_monthly_price", 0, i64::MAX),
        after_id: None,
    };
    let (limit, after) = q.page(&mut check, "pool");
    check.finish()?;
    filter.after_id = after;
    let rows = s.core.pool_after(filter, limit + 1).await?;
    let body = paged(
        "pool",
        rows,
        limit,
        |n| n.id,
        |n| {
            json!({
                "id": n.id,
                "uid": n.uid,
                "number": n.number,
                "country": n.country,
                "monthly_price": n.monthly_price,
                "yearly_price": n.yearly_price,
            })
        },
    );
    Ok(axum::Json(body).into_response())
}

/// `GET /lk/v1/routing/{e164}`: administrators only.
pub async fn routing(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(e164): Path<String>,
) -> Result<Response, Problem> {
    if !caller.account.is_admin() {
        return Err(Problem::forbidden(
            "Routing is for platform (administrator) credentials only.",
        ));
    }
    let e164 = E164::parse(&e164).ok_or_else(|| Problem::not_found("No such number."))?;
    let r = s.core.routing(&caller, e164.as_str()).await?;
    let now = s.core.now();
    let state = r.number.state(now);
    // The answer the routing's first lookup wrote, while the number's
    // state is the one it was written for: the same bytes (a routing never
    // changes once kept), without serialising them again.
    let body = match r.answer.get() {
        Some((written_for, body)) if *written_for == state => body.clone(),
        _ => {
            // As `axum::Json` answers (the same header), but into a buffer
            // that holds a usual answer from the start: `Json` starts at 128
            // bytes and grows it, a copy each time, for an answer of 300 to
            // 600.
            let mut body = Vec::with_capacity(ROUTING_BODY_CAPACITY);
            serde_json::to_writer(&mut body, &render::routing(&r, now))
                .map_err(|e| Problem::internal(&e))?;
            // Kept at its length, not at the buffer's room.
            let body = Bytes::from(body.into_boxed_slice());
            // Kept only by the first: a later state (a lapsed reservation)
            // is written each time, as every answer was before.
            let _ = r.answer.set((state, body.clone()));
            body
        }
    };
    Ok(super::json::answer(body))
}

/// Room for a routing answer with a few holders, before it grows.
const ROUTING_BODY_CAPACITY: usize = 1024;
