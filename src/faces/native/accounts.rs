//! `GET /me` and the caller's downline: `GET/POST /accounts`,
//! `GET/PATCH /accounts/{id}`.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::input::{Authed, Body, Check, Query, Rid, paged};
use super::problem::Problem;
use super::render;
use crate::core::accounts::{AccountChange, SubAccountSpec};
use crate::domain::{NewPassword, PasswordShortfall, Username};
use crate::http::AppState;
use crate::store::{DownlineFilter, Relation};

/// The longest display name or search text.
const MAX_TEXT: usize = 255;

/// `GET /lk/v1/me`: the caller's account, its role, its credential's kind
/// and its limits.
pub async fn me(State(s): State<AppState>, Authed(caller): Authed) -> Response {
    let mut body = render::account(&caller.account);
    let limits = &s.guard.limits;
    body["credential"] = json!(caller.kind.as_str());
    body["limits"] = json!({
        "requests_per_second": limits.rate_per_sec,
        "burst": limits.rate_burst,
    });
    axum::Json(body).into_response()
}

/// An account id from the path; anything else names no account.
fn account_id(raw: &str) -> Result<i64, Problem> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0 && raw.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| Problem::not_found("No such account."))
}

/// `GET /lk/v1/accounts?parent=&direct=&reseller=&q=&limit=&cursor=`.
pub async fn list(
    State(s): State<AppState>,
    Authed(caller): Authed,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let q = Query::parse(raw.as_deref());
    let mut check = Check::default();
    let parent = q.integer(&mut check, "parent", 1, i64::MAX);
    let direct = q.boolean(&mut check, "direct");
    let reseller = q.boolean(&mut check, "reseller");
    let text = q.text(&mut check, "q");
    if text.as_ref().is_some_and(|t| t.chars().count() > MAX_TEXT) {
        check.fail("q", format!("must be at most {MAX_TEXT} characters"));
    }
    let (limit, after) = q.page(&mut check, "accounts");
    check.finish()?;
    let filter = DownlineFilter {
        is_reseller: reseller,
        relation: match direct {
            Some(true) => Some(Relation::Direct),
            Some(false) => Some(Relation::Indirect),
            None => None,
        },
        q: text.filter(|t| !t.is_empty()),
        after_id: after,
        ..DownlineFilter::default()
    };
    let rows = s
        .core
        .downline_after(&caller, parent, filter, limit + 1)
        .await?;
    let body = paged("accounts", rows, limit, |a| a.id, |a| render::account(&a));
    Ok(axum::Json(body).into_response())
}

/// `POST /lk/v1/accounts` {username, password, name?, is_reseller?, email?,
/// mobile?}: 201 with the account, directly beneath the caller; the same
/// password policy as the panel's user/create.
pub async fn create(
    State(s): State<AppState>,
    Rid(rid): Rid,
    Authed(caller): Authed,
    Body(body): Body,
) -> Result<Response, Problem> {
    if !caller.account.can_manage() {
        return Err(Problem::forbidden(
            "Only resellers and administrators create accounts.",
        ));
    }
    let mut check = Check::default();
    let username = check.string(&body, "username", true).and_then(|u| {
        let parsed = Username::parse(&u);
        if parsed.is_none() {
            check.fail(
                "username",
                "must be 3 to 32 characters of A-Z a-z 0-9 . _ -",
            );
        }
        parsed
    });
    let password =
        check
            .string(&body, "password", true)
            .and_then(|p| match NewPassword::parse(&p) {
                Ok(p) => Some(p),
                Err(shortfalls) => {
                    for s in shortfalls {
                        check.fail(
                            "password",
                            match s {
                                PasswordShortfall::TooShort => format!(
                                    "must be at least {} characters",
                                    NewPassword::MIN_CHARS
                                ),
                                PasswordShortfall::MixedCase => {
                                    "must contain an upper-case and a lower-case letter".to_owned()
                                }
                                PasswordShortfall::Symbol => "must contain a symbol".to_owned(),
                                PasswordShortfall::Number => "must contain a digit".to_owned(),
                            },
                        );
                    }
                    None
                }
            });
    let name = check.text(&body, "name");
    if name
        .as_ref()
        .is_some_and(|n| n.trim().is_empty() || n.chars().count() > MAX_TEXT)
    {
        check.fail("name", format!("must be 1 to {MAX_TEXT} characters"));
    }
    let is_reseller = check.boolean(&body, "is_reseller", false);
    let email = check.text(&body, "email");
    let mobile = check.text(&body, "mobile");
    for (field, v) in [("email", &email), ("mobile", &mobile)] {
        if v.as_ref().is_some_and(|v| v.chars().count() > MAX_TEXT) {
            check.fail(field, format!("must be at most {MAX_TEXT} characters"));
        }
    }
    if let Some(u) = &username
        && s.core.username_taken(u).await?
    {
        check.fail("username", "is already taken");
    }
    check.finish()?;
    let (Some(username), Some(password)) = (username, password) else {
        return Err(Problem::internal(
            &"account fields missing after validation",
        ));
    };
    let spec = SubAccountSpec {
        username,
        password,
        name,
        mobile,
        email,
        is_reseller: is_reseller.unwrap_or(false),
    };
    let account = s.core.create_beneath(&caller, spec, &rid).await?;
    let mut res = (StatusCode::CREATED, axum::Json(render::account(&account))).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/lk/v1/accounts/{}", account.id)) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

/// `GET /lk/v1/accounts/{id}`: the account with its `ancestors`, root
/// first, as far up as the caller may see (never above the caller).
pub async fn show(
    State(s): State<AppState>,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = account_id(&id)?;
    let ancestry = s.core.ancestry(&caller, id).await?;
    let ancestors: Vec<_> = ancestry
        .seen_by(&caller.account)
        .iter()
        .map(render::brief)
        .collect();
    let mut body = render::account(&ancestry.selected);
    body["ancestors"] = json!(ancestors);
    Ok(axum::Json(body).into_response())
}

/// `PATCH /lk/v1/accounts/{id}` {name?, status?: active|suspended}.
pub async fn change(
    State(s): State<AppState>,
    Rid(rid): Rid,
    Authed(caller): Authed,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<Response, Problem> {
    let id = account_id(&id)?;
    let mut check = Check::default();
    let name = check.text(&body, "name");
    if name
        .as_ref()
        .is_some_and(|n| n.trim().is_empty() || n.chars().count() > MAX_TEXT)
    {
        check.fail("name", format!("must be 1 to {MAX_TEXT} characters"));
    }
    let status = check.string(&body, "status", false);
    let suspended = match status.as_deref() {
        None => None,
        Some("active") => Some(false),
        Some("suspended") => Some(true),
        Some(_) => {
            check.fail("status", "must be active or suspended");
            None
        }
    };
    check.finish()?;
    let account = s
        .core
        .change_account(&caller, id, AccountChange { name, suspended }, &rid)
        .await?;
    Ok(axum::Json(render::account(&account)).into_response())
}
