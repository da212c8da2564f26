//! Reading a panel request: the caller, the body, and typed fields.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde_json::{Map, Value, json};

use super::envelope::PanelError;
use super::messages::{Lang, Rule};
use crate::app::{AppState, BODY_LIMIT, BodyRead, RequestId};
use crate::core::{AuthError, Caller};

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Lang, Self::Rejection> {
        Ok(Lang::from_headers(&parts.headers))
    }
}

/// The request's id (set by the app's middleware).
pub struct Rid(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Rid {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Rid, Self::Rejection> {
        Ok(Rid(parts
            .extensions
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default()))
    }
}

/// The presented credential: `Authorization: <token>` or `Bearer <token>`
/// (the scheme word in any case).
pub fn presented_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get("authorization")?.to_str().ok()?.trim();
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => value,
    };
    (!token.is_empty()).then_some(token)
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

/// Any authenticated caller, within its rate limit (429 beyond it).
pub struct Authed(pub Caller);

impl FromRequestParts<AppState> for Authed {
    type Rejection = PanelError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Authed, PanelError> {
        let lang = Lang::from_headers(&parts.headers);
        let token = presented_token(parts).ok_or_else(|| PanelError::unauthenticated(lang))?;
        match state.core.authenticate(token).await {
            Ok(caller) => match state.guard.rate.check(&caller.digest) {
                Ok(()) => Ok(Authed(caller)),
                Err(retry_after) => {
                    state.guard.http.refusals.rate_limited.fetch_add(1, Relaxed);
                    Err(PanelError::too_many(lang, retry_after))
                }
            },
            Err(AuthError::Invalid | AuthError::Expired) => Err(PanelError::unauthenticated(lang)),
            Err(AuthError::Store(e)) => {
                tracing::error!(error = %e, "authentication failed");
                Err(PanelError::internal(lang))
            }
        }
    }
}

/// A caller who is a reseller or an administrator; others get 403 before
/// their body is read.
pub struct Reseller(pub Caller);

impl FromRequestParts<AppState> for Reseller {
    type Rejection = PanelError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Reseller, PanelError> {
        let Authed(caller) = Authed::from_request_parts(parts, state).await?;
        if caller.account.can_manage() {
            Ok(Reseller(caller))
        } else {
            Err(PanelError::forbidden(Lang::from_headers(&parts.headers)))
        }
    }
}

/// The request body as a JSON object.
///
/// JSON (`application/json`, `*+json`, or no Content-Type) and HTML forms
/// (`application/x-www-form-urlencoded`, every value a string, as a Laravel
/// server reads them, or JSON that a client mislabelled as a form) are accepted; an empty body is an empty object, so a
/// client that sends nothing gets the fields' `required` errors. Anything else
/// is a 400, and a body over 64 KiB a 413.
pub struct Body(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = PanelError;

    async fn from_request(req: Request, _: &S) -> Result<Body, PanelError> {
        let lang = Lang::from_headers(req.headers());
        let content_type = req
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("?").to_owned())
            .unwrap_or_default();
        let declared_too_large = req
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > BODY_LIMIT as u64);
        if declared_too_large {
            return Err(PanelError::too_large(lang));
        }
        let body_read = req.extensions().get::<BodyRead>().cloned();
        let bytes = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
            .await
            .map_err(|e| {
                let too_large = std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
                if too_large {
                    PanelError::too_large(lang)
                } else {
                    PanelError::bad_body(lang)
                }
            })?;
        if let Some(b) = body_read {
            b.done();
        }
        read_body(&content_type, &bytes)
            .map(Body)
            .ok_or_else(|| PanelError::bad_body(lang))
    }
}

/// A whole body, as [`Body`] reads it: `None` is the 400 (not a JSON object
/// or form, an unsupported type, or nested deeper than
/// [`MAX_JSON_DEPTH`](crate::limits::MAX_JSON_DEPTH)). Public for the fuzzers.
pub fn read_body(content_type: &str, bytes: &[u8]) -> Option<Map<String, Value>> {
    let content_type = content_type.to_ascii_lowercase();
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Some(Map::new());
    }
    match mime {
        "" | "application/json" => parse_json(bytes),
        m if m.ends_with("+json") => parse_json(bytes),
        // curl's `--data` labels a JSON body as a form; read it as JSON.
        "application/x-www-form-urlencoded" if bytes.trim_ascii_start().starts_with(b"{") => {
            parse_json(bytes)
        }
        "application/x-www-form-urlencoded" => {
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes)
                .ok()
                .map(|pairs| {
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k, Value::String(v)))
                        .collect()
                })
        }
        _ => None,
    }
}

fn parse_json(bytes: &[u8]) -> Option<Map<String, Value>> {
    if crate::limits::json_too_deep(bytes, crate::limits::MAX_JSON_DEPTH) {
        return None;
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// Reads typed fields from a body or query, collecting every field's errors.
pub struct Fields<'a> {
    lang: Lang,
    input: &'a Map<String, Value>,
    errors: Vec<(String, String)>,
}

/// A field's value, if present and well typed.
pub type Got<T> = Option<T>;

impl<'a> Fields<'a> {
    pub fn new(lang: Lang, input: &'a Map<String, Value>) -> Fields<'a> {
        Fields {
            lang,
            input,
            errors: Vec::new(),
        }
    }

    /// Present means given, not null, and not an empty string (Laravel turns
    /// empty strings into null).
    pub fn present(&self, name: &str) -> bool {
        !matches!(self.input.get(name), None | Some(Value::Null))
            && self.input.get(name) != Some(&json!(""))
    }

    pub fn fail(&mut self, name: &str, rule: Rule) {
        self.errors
            .push((name.to_owned(), self.lang.rule(rule, name)));
    }

    /// `required` unless `partner` is present (Laravel's `required_without`).
    pub fn required_without(&mut self, name: &str, partner: &str) {
        if !self.present(name) && !self.present(partner) {
            self.fail(name, Rule::Required);
        }
    }

    pub fn required(&mut self, name: &str) {
        if !self.present(name) {
            self.fail(name, Rule::Required);
        }
    }

    /// A 64-bit integer, given as a JSON integer or a string of digits.
    pub fn integer(&mut self, name: &str) -> Got<i64> {
        if !self.present(name) {
            return None;
        }
        let parsed = match &self.input[name] {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => parse_int(s),
            _ => None,
        };
        if parsed.is_none() {
            self.fail(name, Rule::Integer);
        }
        parsed
    }

    /// A boolean: `true`/`false`, `1`/`0`, or those as strings.
    pub fn boolean(&mut self, name: &str) -> Got<bool> {
        if !self.present(name) {
            return None;
        }
        let parsed = match &self.input[name] {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_i64() {
                Some(1) => Some(true),
                Some(0) => Some(false),
                _ => None,
            },
            Value::String(s) => match s.as_str() {
                "1" | "true" => Some(true),
                "0" | "false" => Some(false),
                _ => None,
            },
            _ => None,
        };
        if parsed.is_none() {
            self.fail(name, Rule::Boolean);
        }
        parsed
    }

    /// A string.
    pub fn string(&mut self, name: &str) -> Got<String> {
        if !self.present(name) {
            return None;
        }
        match &self.input[name] {
            Value::String(s) => Some(s.clone()),
            _ => {
                self.fail(name, Rule::String);
                None
            }
        }
    }

    /// A string that `parse` accepts; `Format` otherwise.
    pub fn formatted<T>(&mut self, name: &str, parse: impl Fn(&str) -> Option<T>) -> Got<T> {
        let s = self.string(name)?;
        let parsed = parse(&s);
        if parsed.is_none() {
            self.fail(name, Rule::Format);
        }
        parsed
    }

    /// An integer within `min..=max`, or `default` when absent.
    pub fn bounded(&mut self, name: &str, default: i64, min: i64, max: i64) -> i64 {
        match self.integer(name) {
            None => default,
            Some(v) if v < min => {
                self.fail(name, Rule::Min(min));
                default
            }
            Some(v) if v > max => {
                self.fail(name, Rule::Max(max));
                default
            }
            Some(v) => v,
        }
    }

    /// Ends validation: the 422 when anything failed, with the fields in
    /// `order` (the route's listing order).
    pub fn finish(self, order: &[&str]) -> Result<(), PanelError> {
        if self.errors.is_empty() {
            return Ok(());
        }
        let mut errors = Map::new();
        for field in order {
            let msgs: Vec<Value> = self
                .errors
                .iter()
                .filter(|(f, _)| f == field)
                .map(|(_, m)| Value::String(m.clone()))
                .collect();
            if !msgs.is_empty() {
                errors.insert((*field).to_owned(), Value::Array(msgs));
            }
        }
        Err(PanelError::invalid(self.lang, errors))
    }
}

/// An optionally signed string of ASCII digits that fits 64 bits.
fn parse_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The query string as a JSON object of strings, for [`Fields`].
pub fn query_map(query: Option<&str>) -> Map<String, Value> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or(""))
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect()
}
