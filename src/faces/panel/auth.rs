//! `POST /api/acl/auth/login`, `/check_token`, `/logout`.

use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use super::envelope::{PanelError, success};
use std::sync::atomic::Ordering;

use super::input::{Authed, Body, ClientIp, Fields, Rid};
use super::messages::Lang;
use crate::app::AppState;
use crate::core::CoreError;
use crate::limits::{LoginThrottle, Verdict};

const NO_REFS: [&str; 4] = ["", "", "", ""];

pub async fn login(
    State(s): State<AppState>,
    lang: Lang,
    Rid(rid): Rid,
    ClientIp(ip): ClientIp,
    Body(body): Body,
) -> Result<Response, PanelError> {
    let mut v = Fields::new(lang, &body);
    v.required("username");
    let username = v.string("username");
    v.required("password");
    let password = v.string("password");
    v.finish(&["username", "password"])?;
    let (Some(username), Some(password)) = (username, password) else {
        return Err(PanelError::bad_credentials(lang));
    };
    // Throttled whether or not the username exists (see `LoginThrottle`).
    let throttle = &s.guard.logins;
    let user_key = LoginThrottle::user_key(&username);
    match throttle.attempt(&user_key, ip, s.core.now()) {
        Verdict::Refuse { retry_after } => {
            s.guard
                .http
                .refusals
                .login_throttled
                .fetch_add(1, Ordering::Relaxed);
            return Err(PanelError::too_many(lang, retry_after));
        }
        Verdict::Go { delay } if !delay.is_zero() => tokio::time::sleep(delay).await,
        Verdict::Go { .. } => {}
    }
    let token = match s.core.login(&username, &password, &rid).await {
        Ok(token) => {
            throttle.succeeded(&user_key);
            token
        }
        Err(e) => {
            if matches!(e, CoreError::BadCredentials) {
                throttle.failed(ip, s.core.now());
            }
            return Err(PanelError::from_core(lang, e, NO_REFS));
        }
    };
    Ok(success(
        lang,
        json!({"method": "login", "token": token.expose()}),
        None,
    ))
}

pub async fn check_token(lang: Lang, Authed(caller): Authed) -> Response {
    let a = &caller.account;
    success(
        lang,
        json!({
            "user_name": a.username,
            "user_id": a.id,
            "document_block": false,
            "is_reseller": a.can_manage(),
            "send_block": false,
            "name": a.name,
        }),
        None,
    )
}

pub async fn logout(
    State(s): State<AppState>,
    lang: Lang,
    Rid(rid): Rid,
    Authed(caller): Authed,
) -> Result<Response, PanelError> {
    s.core
        .logout(&caller, &rid)
        .await
        .map_err(|e| PanelError::from_core(lang, e, NO_REFS))?;
    Ok(success(lang, Value::Null, None))
}
