//! `POST /sessions`, `DELETE /sessions/current`, and the caller's API keys.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::input::{Authed, Body, Check, ClientIp, Rid, paged_in_memory, rfc3339};
use super::problem::Problem;
use crate::core::auth::SESSION_TTL_SECS;
use crate::domain::TokenKind;
use crate::http::{AppState, LoginRefusal, login};

/// `POST /lk/v1/sessions` {username, password}: 201 {token, expires_at},
/// through the edge's throttled login (shared with the panel face).
pub async fn create(
    State(s): State<AppState>,
    Rid(rid): Rid,
    ClientIp(ip): ClientIp,
    Body(body): Body,
) -> Result<Response, Problem> {
    let mut check = Check::default();
    let username = check.string(&body, "username", true);
    let password = check.string(&body, "password", true);
    check.finish()?;
    let (Some(username), Some(password)) = (username, password) else {
        return Err(Problem::internal(&"login fields missing after validation"));
    };
    match login(&s, ip, &username, &password, &rid).await {
        Ok(token) => {
            let expires_at = rfc3339(s.core.now() + SESSION_TTL_SECS);
            let body = json!({ "token": token.expose(), "expires_at": expires_at });
            Ok((StatusCode::CREATED, axum::Json(body)).into_response())
        }
        Err(LoginRefusal::BadCredentials) => Err(Problem::new(
            "unauthenticated",
            "Wrong username or password.",
        )),
        Err(LoginRefusal::Throttled(after)) => Err(Problem::rate_limited(after)),
        Err(LoginRefusal::Core(e)) => Err(e.into()),
    }
}

/// `DELETE /lk/v1/sessions/current`: revokes the session token used (an API
/// key is no session: 403).
pub async fn delete_current(
    State(s): State<AppState>,
    Rid(rid): Rid,
    Authed(caller): Authed,
) -> Result<Response, Problem> {
    if caller.kind != TokenKind::Session {
        return Err(Problem::forbidden(
            "This credential is an API key, not a session; revoke it with DELETE /lk/v1/keys/{id}.",
        ));
    }
    s.core.logout(&caller, &rid).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /lk/v1/keys`: 201 {id, key, created_at}; the key is shown only here.
pub async fn create_key(
    State(s): State<AppState>,
    Rid(rid): Rid,
    Authed(caller): Authed,
) -> Result<Response, Problem> {
    if caller.kind != TokenKind::Session {
        return Err(Problem::forbidden(
            "Only a session token may create API keys.",
        ));
    }
    let (row, secret) = s.core.create_own_key(&caller, &rid).await?;
    let body = json!({
        "id": row.id,
        "key": secret.expose(),
        "created_at": rfc3339(row.created_at),
    });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// `GET /lk/v1/keys`: the caller's live keys, never their secrets.
pub async fn list_keys(
    State(s): State<AppState>,
    Authed(caller): Authed,
    RawQuery(raw): RawQuery,
) -> Result<Response, Problem> {
    let keys = s.core.own_keys(&caller).await?;
    let body = paged_in_memory(
        "keys",
        raw.as_deref(),
        keys,
        |k| k.id,
        |k| json!({ "id": k.id, "created_at": rfc3339(k.created_at) }),
    )?;
    Ok(axum::Json(body).into_response())
}

/// `DELETE /lk/v1/keys/{id}`: 204; revoked at once here.
pub async fn delete_key(
    State(s): State<AppState>,
    Rid(rid): Rid,
    Authed(caller): Authed,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let id = id
        .parse::<i64>()
        .map_err(|_| Problem::not_found("No such key."))?;
    match s.core.revoke_own_key(&caller, id, &rid).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(crate::core::CoreError::NotVisible { .. }) => Err(Problem::not_found("No such key.")),
        Err(e) => Err(e.into()),
    }
}
