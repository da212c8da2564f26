//! The console's session: `POST /console/session` {username, password} logs
//! in (through the edge's throttled login, as `POST /lk/v1/sessions`) and
//! sets the session token in the `lk_session` cookie (`HttpOnly`,
//! `SameSite=Strict`, `Path=/`, `Secure` when the request came over TLS as
//! `X-Forwarded-Proto: https` says); the answer holds the CSRF token the
//! console sends as `X-CSRF-Token` on every request that changes anything.
//! `GET /console/session` gives the CSRF token again (after a reload: the
//! page keeps nothing), `DELETE /console/session` logs out and clears the
//! cookie. The rules the native face applies to the cookie are
//! `native::input::cookie_allowed`'s.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::core::auth::SESSION_TTL_SECS;
use crate::domain::TokenKind;
use crate::faces::native::input::{
    Body, Check, ClientIp, Rid, SESSION_COOKIE, cookie_allowed, csrf_token, refusal, rfc3339,
    same_origin, session_cookie,
};
use crate::faces::native::problem::Problem;
use crate::http::{AppState, AuthRefusal, LoginRefusal, authenticate, login};

/// Whether the client reached us over TLS (a proxy in front says so).
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` value holding `token` (`None`: clearing it).
pub fn cookie(token: Option<&str>, tls: bool) -> String {
    let (value, age) = match token {
        Some(t) => (t, SESSION_TTL_SECS),
        None => ("", 0),
    };
    let secure = if tls { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={value}; Path=/; Max-Age={age}; HttpOnly; SameSite=Strict{secure}")
}

fn with_cookie(mut res: Response, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn cross_site() -> Problem {
    Problem::forbidden("The console's session is handled only from the console's own pages.")
}

/// `POST /console/session`: 201 {csrf_token, expires_at} and the cookie.
pub async fn create(
    State(s): State<AppState>,
    Rid(rid): Rid,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, Problem> {
    // No login from another site's page (login CSRF).
    if !same_origin(&headers) {
        return Err(cross_site());
    }
    let mut check = Check::default();
    let username = check.string(&body, "username", true);
    let password = check.string(&body, "password", true);
    check.finish()?;
    let (Some(username), Some(password)) = (username, password) else {
        return Err(Problem::internal(&"login fields missing after validation"));
    };
    match login(&s, ip, &username, &password, &rid).await {
        Ok(token) => {
            let body = json!({
                "csrf_token": csrf_token(token.expose()),
                "expires_at": rfc3339(s.core.now() + SESSION_TTL_SECS),
            });
            let res = (StatusCode::CREATED, axum::Json(body)).into_response();
            Ok(with_cookie(
                res,
                &cookie(Some(token.expose()), over_tls(&headers)),
            ))
        }
        Err(LoginRefusal::BadCredentials) => Err(Problem::new(
            "unauthenticated",
            "Wrong username or password.",
        )),
        Err(LoginRefusal::Throttled(after)) => Err(Problem::rate_limited(after)),
        Err(LoginRefusal::Core(e)) => Err(e.into()),
    }
}

/// `GET /console/session`: 200 {csrf_token} for a live session cookie.
pub async fn show(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, Problem> {
    let token = session_cookie(&headers).ok_or_else(|| refusal(AuthRefusal::Invalid))?;
    cookie_allowed(&Method::GET, &headers, token)?;
    let caller = authenticate(&s, Some(token)).await.map_err(refusal)?;
    if caller.kind != TokenKind::Session {
        return Err(refusal(AuthRefusal::Invalid));
    }
    let res = axum::Json(json!({ "csrf_token": csrf_token(token) })).into_response();
    let mut res = res;
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// `DELETE /console/session`: 204, the session revoked and the cookie
/// cleared (with no cookie, or a dead one, only cleared). A live session
/// needs the CSRF header, as any change does.
pub async fn delete(
    State(s): State<AppState>,
    Rid(rid): Rid,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    if let Some(token) = session_cookie(&headers) {
        match authenticate(&s, Some(token)).await {
            Ok(caller) => {
                cookie_allowed(&Method::DELETE, &headers, token)?;
                s.core.logout(&caller, &rid).await?;
            }
            Err(AuthRefusal::Invalid | AuthRefusal::Expired) => {}
            Err(e) => return Err(refusal(e)),
        }
    }
    let res = StatusCode::NO_CONTENT.into_response();
    Ok(with_cookie(res, &cookie(None, over_tls(&headers))))
}
