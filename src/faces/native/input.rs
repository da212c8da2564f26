//! Reading a native request: the caller, the JSON body, the query, the
//! `{number}` in a path, and cursors.

use std::collections::BTreeMap;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::problem::Problem;
use crate::core::{Caller, NumberRef};
use crate::domain::{E164, NumberUid};
use crate::http::{AppState, AuthRefusal, BODY_LIMIT, Face, authenticate, presented_token};

pub use crate::http::{ClientIp, RequestId as Rid};

/// The authenticated caller, within its rate limit: `Authorization: Bearer
/// <token>` (API clients), or else the console's session cookie
/// ([`SESSION_COOKIE`]) under [`cookie_allowed`]'s rules.
pub struct Authed(pub Caller);

impl FromRequestParts<AppState> for Authed {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Authed, Problem> {
        // Authenticated already by a wrapper (`idempotency`).
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(Authed(caller.clone()));
        }
        let token = match presented_token(&parts.headers, &["bearer"]) {
            Some(token) => Some(token),
            None => match session_cookie(&parts.headers) {
                Some(token) => {
                    cookie_allowed(&parts.method, &parts.headers, token)?;
                    Some(token)
                }
                None => None,
            },
        };
        authenticate(state, token)
            .await
            .map(Authed)
            .map_err(refusal)
    }
}

/// The problem for a request with no caller.
pub fn refusal(refusal: AuthRefusal) -> Problem {
    match refusal {
        AuthRefusal::Invalid => {
            Problem::new("unauthenticated", "Missing, unknown or revoked credential.")
        }
        AuthRefusal::Expired => Problem::new("unauthenticated", "The session has expired."),
        AuthRefusal::RateLimited(s) => Problem::rate_limited(s),
        AuthRefusal::Store(e) => Problem::store(&e),
    }
}

/// The console's session cookie: `HttpOnly`, `SameSite=Strict`, holding a
/// session token (see `faces::console::session`).
pub const SESSION_COOKIE: &str = "lk_session";

/// The header a cookie-authenticated request that changes anything carries.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session token in the request's [`SESSION_COOKIE`], if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// The CSRF token of a session token: SHA-256 over a fixed label and the
/// token itself, hex. Only whoever holds the token can compute it, and the
/// token is in an `HttpOnly` cookie no page's script can read; the console
/// learns it from `POST`/`GET /console/session`. It is not the token's
/// stored digest, so a reader of the database cannot forge it, and it needs
/// no key: it holds across restarts and across instances.
pub fn csrf_token(session_token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"linekeeper console CSRF v1\0");
    h.update(session_token.as_bytes());
    crate::domain::hex(&h.finalize())
}

/// Whether `Sec-Fetch-Site`, when the browser sends it, says the request
/// comes from the server's own pages.
pub fn same_origin(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .is_none_or(|v| v.as_bytes().eq_ignore_ascii_case(b"same-origin"))
}

/// The rules for a request authenticated by the session cookie: only from
/// the server's own pages (`Sec-Fetch-Site` when present), and anything but
/// GET/HEAD only with the session's [`csrf_token`] in [`CSRF_HEADER`].
pub fn cookie_allowed(method: &Method, headers: &HeaderMap, token: &str) -> Result<(), Problem> {
    if !same_origin(headers) {
        return Err(Problem::forbidden(
            "The console's session cookie is accepted only from the console's own pages.",
        ));
    }
    if method == Method::GET || method == Method::HEAD {
        return Ok(());
    }
    let presented = headers
        .get(CSRF_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let want = csrf_token(token);
    let same = presented.len() == want.len()
        && presented
            .iter()
            .zip(want.as_bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    match same {
        true => Ok(()),
        false => Err(Problem::forbidden(
            "A request authenticated by the console's session cookie needs its X-CSRF-Token header.",
        )),
    }
}

/// The detail of a 413.
pub const TOO_LARGE: &str = "The body is over 64 KiB (256 KiB for a bulk request).";

/// The body as a JSON object (an empty body is `{}`).
pub struct Body(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = Problem;

    async fn from_request(req: Request, _: &S) -> Result<Body, Problem> {
        let limit = req
            .extensions()
            .get::<axum::extract::MatchedPath>()
            .map_or(BODY_LIMIT, |m| super::Native::body_limit(m.as_str()));
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| Problem::new("too-large", TOO_LARGE))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(Map::new()));
        }
        let not_object = || Problem::new("bad-body", "The body is not a JSON object.");
        if crate::http::limits::json_too_deep(&bytes, crate::http::limits::MAX_JSON_DEPTH) {
            return Err(not_object());
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Body(map)),
            _ => Err(not_object()),
        }
    }
}

/// Why a text that is stored or searched refuses U+0000: PostgreSQL's
/// `text` cannot hold it (nor compare with it), so refusing it here keeps
/// both backends answering alike, a 422 rather than a 500 from one of them.
/// Strings that are only compared in memory or parsed (a password, a
/// username at login) take it like any other character; the contract's
/// patterns say which fields refuse it.
const NUL: &str = "must not contain a NUL character";

/// Field errors, collected so a client hears all of them at once.
#[derive(Default)]
pub struct Check {
    errors: BTreeMap<String, Vec<String>>,
}

impl Check {
    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.errors
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    /// `inner`'s messages, each field named `prefix.field` (an item of a
    /// list: `items[3]`).
    pub fn nest(&mut self, prefix: &str, inner: Check) {
        for (field, messages) in inner.errors {
            self.errors
                .entry(format!("{prefix}.{field}"))
                .or_default()
                .extend(messages);
        }
    }

    /// 422 with every message, if any.
    pub fn finish(self) -> Result<(), Problem> {
        match self.errors.is_empty() {
            true => Ok(()),
            false => Err(Problem::validation(self.errors)),
        }
    }

    /// A string field (`required`: it must be there).
    pub fn string(
        &mut self,
        body: &Map<String, Value>,
        field: &str,
        required: bool,
    ) -> Option<String> {
        match body.get(field) {
            Some(Value::String(s)) => Some(s.clone()),
            None | Some(Value::Null) if !required => None,
            None | Some(Value::Null) => {
                self.fail(field, "is required");
                None
            }
            Some(_) => {
                self.fail(field, "must be a string");
                None
            }
        }
    }

    /// An optional text field that is stored or searched: a string without
    /// U+0000 ([`NUL`]).
    pub fn text(&mut self, body: &Map<String, Value>, field: &str) -> Option<String> {
        let s = self.string(body, field, false)?;
        self.without_nul(field, s)
    }

    /// `s`, unless it holds U+0000 ([`NUL`]).
    fn without_nul(&mut self, field: &str, s: String) -> Option<String> {
        if s.contains('\0') {
            self.fail(field, NUL);
            return None;
        }
        Some(s)
    }

    /// An optional RFC 3339 date-time field, as Unix seconds.
    pub fn time(&mut self, body: &Map<String, Value>, field: &str) -> Option<i64> {
        let s = self.string(body, field, false)?;
        let parsed = crate::domain::parse_rfc3339(&s);
        if parsed.is_none() {
            self.fail(field, "must be an RFC 3339 date-time");
        }
        parsed
    }

    /// A boolean field.
    pub fn boolean(
        &mut self,
        body: &Map<String, Value>,
        field: &str,
        required: bool,
    ) -> Option<bool> {
        match body.get(field) {
            Some(Value::Bool(b)) => Some(*b),
            None | Some(Value::Null) if !required => None,
            None | Some(Value::Null) => {
                self.fail(field, "is required");
                None
            }
            Some(_) => {
                self.fail(field, "must be a boolean");
                None
            }
        }
    }
}

/// A JSON number that is a whole number within 64 bits: `5`, and `5.0`
/// too, which JSON Schema (and so the document) calls an integer.
pub fn whole(n: &serde_json::Number) -> Option<i64> {
    // -2^63 exactly; a float at or below it may be a rounded smaller one.
    let min = i64::MIN as f64;
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f > min && *f < -min)
            .map(|f| f as i64)
    })
}

/// The query string's parameters.
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        Query(serde_urlencoded::from_str(raw.unwrap_or("")).unwrap_or_default())
    }

    /// A parameter given once (repeated: an error).
    pub fn get(&self, check: &mut Check, name: &str) -> Option<String> {
        let mut found = self.0.iter().filter(|(k, _)| k == name);
        let first = found.next()?;
        if found.next().is_some() {
            check.fail(name, "must be given once");
            return None;
        }
        Some(first.1.clone())
    }

    /// A search text: a parameter without U+0000 ([`NUL`]).
    pub fn text(&self, check: &mut Check, name: &str) -> Option<String> {
        let v = self.get(check, name)?;
        check.without_nul(name, v)
    }

    /// Digits only.
    pub fn digits(&self, check: &mut Check, name: &str) -> Option<String> {
        let v = self.get(check, name)?;
        if v.is_empty() || v.len() > 15 || !v.bytes().all(|b| b.is_ascii_digit()) {
            check.fail(name, "must be 1 to 15 digits");
            return None;
        }
        Some(v)
    }

    /// `true` or `false`.
    pub fn boolean(&self, check: &mut Check, name: &str) -> Option<bool> {
        match self.get(check, name)?.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                check.fail(name, "must be true or false");
                None
            }
        }
    }

    /// A whole number within `min..=max`.
    pub fn integer(&self, check: &mut Check, name: &str, min: i64, max: i64) -> Option<i64> {
        let v = self.get(check, name)?;
        match v.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                check.fail(name, format!("must be a whole number from {min} to {max}"));
                None
            }
        }
    }

    /// ISO 3166 alpha-2 (any case), upper-cased.
    pub fn country(&self, check: &mut Check) -> Option<String> {
        let v = self.get(check, "country")?;
        if v.len() != 2 || !v.bytes().all(|b| b.is_ascii_alphabetic()) {
            check.fail("country", "must be an ISO 3166 alpha-2 code");
            return None;
        }
        Some(v.to_ascii_uppercase())
    }

    /// `limit` (1..=500, default 50) and `cursor` (of the list `scope`).
    pub fn page(&self, check: &mut Check, scope: &str) -> (i64, Option<i64>) {
        let limit = self.integer(check, "limit", 1, 500).unwrap_or(50);
        let cursor = self.get(check, "cursor").and_then(|c| {
            let key = decode_cursor(scope, &c);
            if key.is_none() {
                check.fail("cursor", "is not a cursor of this list");
            }
            key
        });
        (limit, cursor)
    }
}

/// An opaque cursor: base64url (unpadded) of `<scope>:<key>`, where the key
/// is the sort key (an id) of the last item of the page.
pub fn cursor(scope: &str, key: i64) -> String {
    base64url(format!("{scope}:{key}").as_bytes())
}

fn decode_cursor(scope: &str, cursor: &str) -> Option<i64> {
    let bytes = unbase64url(cursor)?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let (s, key) = text.split_once(':')?;
    (s == scope).then(|| key.parse().ok()).flatten()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64url(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn unbase64url(s: &str) -> Option<Vec<u8>> {
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = B64.iter().position(|&b| b == c)? as u32;
        bits = (bits << 6) | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Some(out)
}

/// A list's answer: one page and the cursor of the next (`None` at the end).
/// `rows` holds up to `limit + 1` items, the extra one only telling that
/// there is more.
pub fn paged<T, J>(
    scope: &str,
    mut rows: Vec<T>,
    limit: i64,
    key: impl Fn(&T) -> i64,
    render: impl Fn(T) -> J,
) -> Page<J> {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = match (more, rows.last()) {
        (true, Some(last)) => Some(cursor(scope, key(last))),
        _ => None,
    };
    Page {
        items: rows.into_iter().map(render).collect(),
        next_cursor,
    }
}

/// One page of a list as NATIVE_API.md writes it: `{"items": [...],
/// "next_cursor": "..." | null}`. Serialised straight from its items (not
/// through a `serde_json::Value`, which copied every item once more and cost
/// a list of 50 numbers about 1,000,000 instructions of its 2,200,000).
#[derive(serde::Serialize)]
pub struct Page<J> {
    items: Vec<J>,
    next_cursor: Option<String>,
}

impl<J: super::json::WriteJson> Page<J> {
    /// The page as its answer, its items written by [`WriteJson`] (the
    /// lists a client reads most; `json.rs`): the bytes serde would write.
    ///
    /// [`WriteJson`]: super::json::WriteJson
    pub fn into_response(self) -> axum::response::Response {
        self.into_out().into_response()
    }

    /// The page's answer's body, as [`Page::into_response`] sends it.
    pub fn into_body(self) -> bytes::Bytes {
        // Kept at its length, not at the buffer's room.
        bytes::Bytes::from(self.into_out().into_bytes().into_boxed_slice())
    }

    fn into_out(self) -> super::json::Out {
        let mut o = super::json::Out::with_capacity(64 + 224 * self.items.len());
        o.raw("{\"items\":[");
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                o.raw(",");
            }
            o.item(item);
        }
        o.raw("],\"next_cursor\":")
            .opt_str(self.next_cursor.as_deref())
            .raw("}");
        o
    }
}

/// One page of a short list the core answers whole (the caller's keys or
/// reservations), read from the query's `limit` and `cursor`: the same
/// keyset paging as the listed tables, over items in `key` order.
pub fn paged_in_memory<T, J: serde::Serialize>(
    scope: &str,
    raw_query: Option<&str>,
    items: Vec<T>,
    key: impl Fn(&T) -> i64,
    render: impl Fn(T) -> J,
) -> Result<Page<J>, Problem> {
    let q = Query::parse(raw_query);
    let mut check = Check::default();
    let (limit, after) = q.page(&mut check, scope);
    check.finish()?;
    let after = after.unwrap_or(0);
    let rows: Vec<T> = items
        .into_iter()
        .filter(|i| key(i) > after)
        .take(limit as usize + 1)
        .collect();
    Ok(paged(scope, rows, limit, key, render))
}

/// The `{number}` of a path: an id, an E.164 number (`+983000505`, or
/// `%2B983000505`) or a uid. `None` when it can name no number.
pub fn number_ref(raw: &str) -> Option<NumberRef> {
    let digits = !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit());
    if let Some(id) = raw.parse::<i64>().ok().filter(|_| digits) {
        return (id > 0).then(|| NumberRef {
            id: Some(id),
            ..NumberRef::default()
        });
    }
    if let Some(uid) = NumberUid::parse(raw) {
        return Some(NumberRef {
            uid: Some(uid.to_string()),
            ..NumberRef::default()
        });
    }
    E164::parse(raw).map(|e| NumberRef {
        e164: Some(e.to_string()),
        ..NumberRef::default()
    })
}

/// RFC 3339 in UTC, to the second: `2026-01-01T00:00:00Z`.
pub fn rfc3339(unix: i64) -> String {
    crate::domain::rfc3339_utc(unix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_keep_to_their_list() {
        for key in [0, 1, 42, 1_000_000_007, i64::MAX] {
            assert_eq!(decode_cursor("numbers", &cursor("numbers", key)), Some(key));
        }
        assert_eq!(base64url(b"numbers:1"), "bnVtYmVyczox");
        assert_eq!(decode_cursor("history", &cursor("numbers", 5)), None);
        assert_eq!(decode_cursor("numbers", "!!"), None);
    }

    #[test]
    fn numbers_are_named_by_id_e164_or_uid() {
        assert_eq!(number_ref("12").and_then(|r| r.id), Some(12));
        assert_eq!(
            number_ref("+983000505").and_then(|r| r.e164).as_deref(),
            Some("+983000505")
        );
        let uid = "0123456789abcdef01234567";
        assert_eq!(number_ref(uid).and_then(|r| r.uid).as_deref(), Some(uid));
        assert!(number_ref("abc").is_none());
        assert!(number_ref("0").is_none());
    }

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(1_767_225_600), "2026-01-01T00:00:00Z");
    }
}
