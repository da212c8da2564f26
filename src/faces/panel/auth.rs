//! `POST /api/acl/auth/login`, `/check_token`, `/logout`.

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::envelope::{Envelope, FailureMeta, Meta, Null, PanelError, success};
use super::input::{Authed, Body, ClientIp, Fields, Rid};
use super::messages::Lang;
use crate::http::{AppState, LoginRefusal};

const NO_REFS: [&str; 4] = ["", "", "", ""];

/// The login body (also accepted as a form).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // Read field by field by `Fields`; this is its schema.
pub struct LoginRequest {
    /// Not blank.
    #[schema(pattern = r"^[ \t\n\r\x00\x0B]*[^ \t\n\r\x00\x0B][\s\S]*$")]
    username: String,
    /// Not empty (a password is not trimmed).
    #[schema(min_length = 1)]
    password: String,
}

/// `data` of a login.
#[derive(Serialize, ToSchema)]
pub struct LoginData {
    /// Always `login`.
    method: &'static str,
    /// A session token, shown once.
    token: String,
}

/// `data` of `check_token`: the caller.
#[derive(Serialize, ToSchema)]
pub struct TokenHolder {
    user_name: String,
    user_id: i64,
    /// Always `false`.
    document_block: bool,
    /// Resellers and administrators are `true`.
    is_reseller: bool,
    /// Always `false`.
    send_block: bool,
    name: String,
}

#[utoipa::path(
    post,
    path = "/api/acl/auth/login",
    tag = "panel",
    request_body(content(
        (LoginRequest = "application/json"),
        (LoginRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "A session token", body = Envelope<LoginData, Meta>),
        (status = 422, description = "A field missing or not a string (`400-2`), or wrong username or password (`422-1`)", body = Envelope<Null, FailureMeta>),
    ),
)]
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
    let token = match crate::http::login(&s, ip, &username, &password, &rid).await {
        Ok(token) => token,
        Err(LoginRefusal::BadCredentials) => return Err(PanelError::bad_credentials(lang)),
        Err(LoginRefusal::Throttled(retry_after)) => {
            return Err(PanelError::too_many(lang, retry_after));
        }
        Err(LoginRefusal::Core(e)) => return Err(PanelError::from_core(lang, e, NO_REFS)),
    };
    Ok(success(
        lang,
        LoginData {
            method: "login",
            token: token.expose().to_owned(),
        },
    ))
}

#[utoipa::path(
    post,
    path = "/api/acl/auth/check_token",
    tag = "panel",
    security(("api_key" = [])),
    responses((status = 200, description = "The caller", body = Envelope<TokenHolder, Meta>)),
)]
pub async fn check_token(lang: Lang, Authed(caller): Authed) -> Response {
    let a = &caller.account;
    success(
        lang,
        TokenHolder {
            user_name: a.username.clone(),
            user_id: a.id,
            document_block: false,
            is_reseller: a.can_manage(),
            send_block: false,
            name: a.name.clone(),
        },
    )
}

#[utoipa::path(
    post,
    path = "/api/acl/auth/logout",
    tag = "panel",
    security(("api_key" = [])),
    responses((status = 200, description = "The session token is revoked (an API key is not)", body = Envelope<Null, Meta>)),
)]
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
    Ok(success(lang, Null))
}
