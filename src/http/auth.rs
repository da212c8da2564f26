//! The caller: the credential a request presents, its account, and the
//! per-credential rate limit. Each face says which `Authorization` schemes it
//! reads and renders an [`AuthRefusal`] in its own format.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use super::AppState;
use super::limits::{LoginThrottle, Outcome, QUOTA, Quota, Verdict};
use crate::core::{AuthError, Caller, CoreError};
use crate::domain::TokenSecret;
use crate::store::StoreError;

/// The presented credential: `Authorization: <token>` or `<scheme> <token>`
/// for one of `schemes` (the scheme word in any case). A scheme word with
/// nothing after it presents no token at all.
pub fn presented_token<'h>(headers: &'h HeaderMap, schemes: &[&str]) -> Option<&'h str> {
    let value = headers.get("authorization")?.to_str().ok()?.trim();
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if schemes.iter().any(|s| scheme.eq_ignore_ascii_case(s)) => {
            rest.trim()
        }
        None if schemes.iter().any(|s| value.eq_ignore_ascii_case(s)) => "",
        _ => value,
    };
    (!token.is_empty()).then_some(token)
}

/// Why a request has no caller.
#[derive(Debug)]
pub enum AuthRefusal {
    /// No credential, or one that is unknown, revoked, or of a suspended
    /// account.
    Invalid,
    /// A session token past its end.
    Expired,
    /// Over the credential's rate: try again after this many seconds.
    RateLimited(u64),
    /// The store could not be asked.
    Store(StoreError),
}

/// The account behind `token`, within its credential's rate limit.
pub async fn authenticate(state: &AppState, token: Option<&str>) -> Result<Caller, AuthRefusal> {
    let token = token.ok_or(AuthRefusal::Invalid)?;
    let caller = state.core.authenticate(token).await.map_err(|e| match e {
        AuthError::Invalid => AuthRefusal::Invalid,
        AuthError::Expired => AuthRefusal::Expired,
        AuthError::Store(e) => AuthRefusal::Store(e),
    })?;
    // Where a face asked for the quota (the native face's headers).
    let tell = |quota: Option<Quota>| {
        let _ = QUOTA.try_with(|q| q.set(quota));
    };
    match state.guard.rate.check(&caller.digest) {
        Ok(quota) => {
            tell(quota);
            Ok(caller)
        }
        Err(refused) => {
            state.guard.http.refusals.count_rate_limited();
            tell(Some(refused.quota));
            Err(AuthRefusal::RateLimited(refused.retry_after))
        }
    }
}

/// Why a password login gave no token.
#[derive(Debug)]
pub enum LoginRefusal {
    /// Wrong username or password (the same whether or not the username
    /// exists).
    BadCredentials,
    /// Throttled: too many failures for the username or the address; try
    /// again after this many seconds.
    Throttled(u64),
    /// Anything else the core said (a store failure).
    Core(CoreError),
}

/// A password login, throttled per username and per client address (see
/// [`LoginThrottle`]): every face that logs in goes through here, so the
/// budgets are one.
pub async fn login(
    state: &AppState,
    ip: IpAddr,
    username: &str,
    password: &str,
    request_id: &str,
) -> Result<TokenSecret, LoginRefusal> {
    // Throttled whether or not the username exists.
    let throttle = &state.guard.logins;
    let user_key = LoginThrottle::user_key(username);
    let verdict = throttle
        .attempt(&user_key, ip, state.core.now())
        .await
        .map_err(LoginRefusal::Core)?;
    let claim = match verdict {
        Verdict::Refuse { retry_after } => {
            state.guard.http.refusals.count_login_throttled();
            return Err(LoginRefusal::Throttled(retry_after));
        }
        Verdict::Go { delay, claim } => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            claim
        }
    };
    // An attempt cut short (the request timed out) keeps its strikes.
    match state.core.login(username, password, request_id).await {
        Ok(token) => {
            throttle.settle(claim, Outcome::Succeeded).await;
            Ok(token)
        }
        Err(CoreError::BadCredentials) => {
            throttle.settle(claim, Outcome::Failed).await;
            Err(LoginRefusal::BadCredentials)
        }
        Err(e) => {
            throttle.settle(claim, Outcome::Unknown).await;
            Err(LoginRefusal::Core(e))
        }
    }
}

/// The client's address (unspecified when the server was started without
/// connection info), for login throttling.
pub struct ClientIp(pub std::net::IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<ClientIp, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
                .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token<'a>(headers: &'a mut HeaderMap, value: &str, schemes: &[&str]) -> Option<&'a str> {
        headers.insert("authorization", value.parse().expect("header"));
        presented_token(headers, schemes)
    }

    #[test]
    fn schemes_are_read_in_any_case_and_only_when_named() {
        let mut h = HeaderMap::new();
        assert_eq!(token(&mut h, "abc", &["bearer"]), Some("abc"));
        assert_eq!(token(&mut h, "BEARER  abc ", &["bearer"]), Some("abc"));
        assert_eq!(
            token(&mut h, "ApiKey abc", &["bearer", "apikey"]),
            Some("abc")
        );
        // Not a scheme this face reads: the whole value is the token.
        assert_eq!(token(&mut h, "apikey abc", &["bearer"]), Some("apikey abc"));
        assert_eq!(token(&mut h, "Bearer", &["bearer"]), None);
        assert_eq!(token(&mut h, "  ", &["bearer"]), None);
    }
}
