//! Reading a virtual-number request: the caller, the JSON body, the query
//! string, and their validation.
//!
//! The original service validates with Joi, reporting every failing field at
//! once (`abortEarly: false`), labelled by key, joined with `", "`, as one 400.
//! [`Check`] reproduces that: fields are checked in the schema's order, every
//! message is collected, and `finish` turns them into one refusal. Query
//! values are converted as Joi converts them (`"10"` is the number 10); body
//! values are taken as JSON gives them, except that a boolean may also be the
//! string `"true"` or `"false"`, which Joi's conversion accepts too. Fields
//! the schema does not name are ignored, so a client that sends the card or
//! BECS fields of `/purchase`, or a cache-busting query parameter, is served.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde_json::{Map, Value};

use super::envelope::VnError;
use super::messages;
use crate::core::Caller;
use crate::http::{AppState, AuthRefusal, BODY_LIMIT, authenticate, presented_token};

pub use crate::http::RequestId as Rid;

/// The authenticated caller, within its rate limit (429 beyond it). Any active account may use this face for its own
/// numbers; no reseller rights are needed.
pub struct Authed(pub Caller);

impl FromRequestParts<AppState> for Authed {
    type Rejection = VnError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Authed, VnError> {
        // `Authorization: Bearer <token>` (the scheme word in any case) or
        // the bare token.
        let token = presented_token(&parts.headers, &["bearer"]);
        match authenticate(state, token).await {
            Ok(caller) => Ok(Authed(caller)),
            Err(AuthRefusal::Invalid) => Err(VnError::invalid_token()),
            Err(AuthRefusal::Expired) => Err(VnError::token_expired()),
            Err(AuthRefusal::RateLimited(retry_after)) => Err(VnError::too_many(retry_after)),
            Err(AuthRefusal::Store(crate::store::StoreError::Unavailable)) => {
                Err(VnError::unavailable())
            }
            Err(AuthRefusal::Store(e)) => Err(VnError::internal(&crate::http::cause_chain(&e))),
        }
    }
}

/// The request body as a JSON object.
///
/// The body is read as JSON whatever its `Content-Type` says (the original's
/// clients all send JSON, and a mislabelled body is still read correctly); an
/// empty body is `{}`, so a client that sends nothing hears which fields are
/// required. Anything that is not a JSON object is `Invalid JSON body`, and a
/// body over 64 KiB a 413.
pub struct JsonBody(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = VnError;

    async fn from_request(req: Request, _: &S) -> Result<JsonBody, VnError> {
        // The edge has read the body within the limit already.
        let bytes = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
            .await
            .map_err(|_| VnError::too_large())?;
        read_json_body(&bytes).map(JsonBody)
    }
}

/// A whole body, as [`JsonBody`] reads it: `{}` when empty, the 400 when it
/// is not a JSON object or nests deeper than
/// [`MAX_JSON_DEPTH`](crate::http::limits::MAX_JSON_DEPTH). Public for the fuzzers.
pub fn read_json_body(bytes: &[u8]) -> Result<Map<String, Value>, VnError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    if crate::http::limits::json_too_deep(bytes, crate::http::limits::MAX_JSON_DEPTH) {
        return Err(VnError::bad_request(messages::INVALID_JSON));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(VnError::bad_request(messages::INVALID_JSON)),
    }
}

/// A query parameter as Express's query parser gives it: once, or repeated
/// (an array, which no scalar rule accepts).
enum Param<'a> {
    One(&'a str),
    Many,
}

/// The query string's parameters, in order.
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        // Percent-decoding is lossy (invalid UTF-8 becomes U+FFFD), so this
        // cannot fail on anything a client sends; the fallback is for form's sake.
        Query(serde_urlencoded::from_str(raw.unwrap_or("")).unwrap_or_default())
    }

    fn get(&self, name: &str) -> Option<Param<'_>> {
        let mut found = self.0.iter().filter(|(k, _)| k == name);
        let first = found.next()?;
        Some(match found.next() {
            None => Param::One(&first.1),
            Some(_) => Param::Many,
        })
    }
}

/// Joi's number syntax for converted strings: optional spaces and sign,
/// digits with an optional fraction (or a bare fraction), optional exponent.
fn joi_number(s: &str) -> Option<f64> {
    let t = s.trim();
    let b = t.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i - start
    };
    let whole = digits(&mut i);
    let mut frac = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        frac = digits(&mut i);
    }
    if whole == 0 && frac == 0 {
        return None;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    t.parse::<f64>().ok()
}

/// 2^53 − 1: the largest integer a JavaScript number holds exactly.
const MAX_SAFE: f64 = 9_007_199_254_740_991.0;

/// Collects every validation message of one request, in schema order.
#[derive(Default)]
pub struct Check {
    errors: Vec<String>,
}

impl Check {
    pub fn new() -> Check {
        Check::default()
    }

    fn fail(&mut self, message: String) {
        self.errors.push(message);
    }

    /// Ends validation: a 400 carrying every message, joined as Joi joins them.
    pub fn finish(self) -> Result<(), VnError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(VnError::bad_request(self.errors.join(", ")))
        }
    }

    /// A string field of the body: not null, not a number, not empty.
    pub fn string(
        &mut self,
        body: &Map<String, Value>,
        name: &str,
        required: bool,
    ) -> Option<String> {
        match body.get(name) {
            None if required => {
                self.fail(messages::required(name));
                None
            }
            None => None,
            Some(Value::String(s)) if s.is_empty() => {
                self.fail(messages::empty(name));
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                self.fail(messages::must_be(name, "string"));
                None
            }
        }
    }

    /// An optional boolean field of the body: `true`/`false`, or those words
    /// as strings in any case.
    pub fn boolean(&mut self, body: &Map<String, Value>, name: &str) -> Option<bool> {
        let parsed = match body.get(name)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        };
        if parsed.is_none() {
            self.fail(messages::must_be(name, "boolean"));
        }
        parsed
    }

    /// A required field of the body that must be one of `allowed`.
    pub fn one_of(
        &mut self,
        body: &Map<String, Value>,
        name: &str,
        allowed: &[&'static str],
    ) -> Option<&'static str> {
        let Some(value) = body.get(name) else {
            self.fail(messages::required(name));
            return None;
        };
        let found = allowed.iter().copied().find(|a| value.as_str() == Some(*a));
        if found.is_none() {
            self.fail(messages::one_of(name, allowed));
        }
        found
    }

    /// An integer query parameter within `min..=max`, `default` when absent.
    pub fn integer(&mut self, q: &Query, name: &str, default: i64, min: i64, max: i64) -> i64 {
        let raw = match q.get(name) {
            None => return default,
            Some(Param::Many) => None,
            Some(Param::One(s)) => joi_number(s),
        };
        let Some(v) = raw else {
            self.fail(messages::must_be(name, "number"));
            return default;
        };
        if v.abs() > MAX_SAFE {
            self.fail(messages::unsafe_number(name));
            return default;
        }
        let mut ok = true;
        if v.fract() != 0.0 {
            self.fail(messages::integer(name));
            ok = false;
        }
        if v < min as f64 {
            self.fail(messages::at_least(name, min));
            ok = false;
        }
        if v > max as f64 {
            self.fail(messages::at_most(name, max));
            ok = false;
        }
        // Exact: a safe integer converts to i64 without loss.
        if ok { v as i64 } else { default }
    }

    /// An optional string query parameter that `test` accepts; `regex` is how
    /// the message shows the rule.
    pub fn matching(
        &mut self,
        q: &Query,
        name: &str,
        regex: &str,
        test: fn(&str) -> bool,
    ) -> Option<String> {
        let s = match q.get(name)? {
            Param::Many => {
                self.fail(messages::must_be(name, "string"));
                return None;
            }
            Param::One(s) => s,
        };
        if s.is_empty() {
            self.fail(messages::empty(name));
            return None;
        }
        if !test(s) {
            self.fail(messages::pattern(name, s, regex));
            return None;
        }
        Some(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_convert_as_joi_converts_them() {
        for (s, want) in [
            ("10", Some(10.0)),
            (" +3 ", Some(3.0)),
            ("1.5", Some(1.5)),
            (".5", Some(0.5)),
            ("2e1", Some(20.0)),
            ("-1", Some(-1.0)),
        ] {
            assert_eq!(joi_number(s), want, "{s:?}");
        }
        for s in [
            "", "abc", "1a", "inf", "NaN", "0x10", "1e", ".", "--1", "1 2",
        ] {
            assert_eq!(joi_number(s), None, "{s:?}");
        }
    }

    fn paging(query: &str) -> Result<(i64, i64), VnError> {
        let q = Query::parse(Some(query));
        let mut c = Check::new();
        let page = c.integer(&q, "page", 1, 1, MAX_SAFE as i64);
        let limit = c.integer(&q, "limit", 10, 1, 100);
        c.finish().map(|()| (page, limit))
    }

    #[test]
    fn paging_bounds_and_every_message() {
        assert_eq!(paging("").ok(), Some((1, 10)));
        assert_eq!(paging("page=3&limit=100").ok(), Some((3, 100)));
        let msg = |q: &str| paging(q).err().map(|e| e.message.into_owned());
        assert_eq!(
            msg("page=0&limit=101").as_deref(),
            Some(
                "\"page\" must be greater than or equal to 1, \"limit\" must be less than or equal to 100"
            )
        );
        assert_eq!(msg("page=x").as_deref(), Some("\"page\" must be a number"));
        assert_eq!(
            msg("page=1&page=2").as_deref(),
            Some("\"page\" must be a number")
        );
        assert_eq!(
            msg("limit=-1.5").as_deref(),
            Some("\"limit\" must be an integer, \"limit\" must be greater than or equal to 1")
        );
        assert_eq!(
            msg("page=99999999999999999999").as_deref(),
            Some("\"page\" must be a safe number")
        );
    }

    #[test]
    fn body_fields_in_joi_words() {
        let body =
            json!({"number": 5, "resubscribe": "yes", "recurring_time": "week", "product": ""});
        let body = body.as_object().cloned().unwrap_or_default();
        let mut c = Check::new();
        c.string(&body, "product", true);
        c.string(&body, "number", true);
        c.one_of(&body, "recurring_time", &["month", "year"]);
        c.boolean(&body, "resubscribe");
        c.string(&body, "missing", true);
        assert_eq!(
            c.finish().err().map(|e| e.message.into_owned()).as_deref(),
            Some(
                "\"product\" is not allowed to be empty, \"number\" must be a string, \
                 \"recurring_time\" must be one of [month, year], \"resubscribe\" must be a boolean, \
                 \"missing\" is required"
            )
        );
        let ok = json!({"resubscribe": "TRUE"});
        let ok = ok.as_object().cloned().unwrap_or_default();
        let mut c = Check::new();
        assert_eq!(c.boolean(&ok, "resubscribe"), Some(true));
        assert!(c.finish().is_ok());
    }
}
