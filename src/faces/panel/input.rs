//! Reading a panel request: the caller, the body, and typed fields.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde_json::{Map, Value, json};

use super::envelope::PanelError;
use super::messages::{Lang, Rule};
use crate::core::Caller;
use crate::http::{AppState, AuthRefusal, BODY_LIMIT, authenticate, presented_token};

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Lang, Self::Rejection> {
        Ok(Lang::from_headers(&parts.headers))
    }
}

pub use crate::http::{ClientIp, RequestId as Rid};

/// The `Authorization` schemes this face reads besides a bare token:
/// `Bearer`, and `apikey`, which IPPanel's own Postman collection documents.
const SCHEMES: [&str; 2] = ["bearer", "apikey"];

/// Any authenticated caller, within its rate limit (429 beyond it).
pub struct Authed(pub Caller);

impl FromRequestParts<AppState> for Authed {
    type Rejection = PanelError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Authed, PanelError> {
        let lang = Lang::from_headers(&parts.headers);
        let token = presented_token(&parts.headers, &SCHEMES);
        match authenticate(state, token).await {
            Ok(caller) => Ok(Authed(caller)),
            Err(AuthRefusal::Invalid | AuthRefusal::Expired) => {
                Err(PanelError::unauthenticated(lang))
            }
            Err(AuthRefusal::RateLimited(retry_after)) => {
                Err(PanelError::too_many(lang, retry_after))
            }
            Err(AuthRefusal::Store(crate::store::StoreError::Unavailable)) => {
                Err(PanelError::unavailable(lang))
            }
            Err(AuthRefusal::Store(e)) => {
                let cause = crate::http::cause_chain(&e);
                tracing::error!(error = %cause, "authentication failed");
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

/// The request body as an object of fields, read as a Laravel server reads
/// it.
///
/// JSON (`application/json`, `*+json`, or no Content-Type), HTML forms
/// (`application/x-www-form-urlencoded`, every value a string, or JSON that a
/// client mislabelled as a form) and `multipart/form-data` (Postman's
/// form-data, PHP Guzzle's `multipart`; a file part is a value of no scalar
/// type) are read; a body of any other Content-Type carries no fields, and an
/// empty body is an empty object, so a client that sends either gets the
/// fields' `required` errors. A JSON or multipart body that does not parse is
/// a 400. String values are trimmed, as Laravel's `TrimStrings` middleware
/// does (passwords excepted). The edge has already read the body within the
/// size limit.
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
        let bytes = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
            .await
            .map_err(|_| PanelError::too_large(lang))?;
        read_body(&content_type, &bytes)
            .map(Body)
            .ok_or_else(|| PanelError::bad_body(lang))
    }
}

/// A whole body, as [`Body`] reads it: `None` is the 400 (JSON that is not
/// an object or nests deeper than
/// [`MAX_JSON_DEPTH`](crate::http::limits::MAX_JSON_DEPTH), or a multipart
/// body that does not parse). Public for the fuzzers.
pub fn read_body(content_type: &str, bytes: &[u8]) -> Option<Map<String, Value>> {
    let lower = content_type.to_ascii_lowercase();
    let mime = lower.split(';').next().unwrap_or("").trim();
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Some(Map::new());
    }
    let mut fields = match mime {
        "" | "application/json" => parse_json(bytes)?,
        m if m.ends_with("+json") => parse_json(bytes)?,
        // curl's `--data` labels a JSON body as a form; read it as JSON.
        "application/x-www-form-urlencoded" if bytes.trim_ascii_start().starts_with(b"{") => {
            parse_json(bytes)?
        }
        "application/x-www-form-urlencoded" => {
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(bytes)
                .ok()?
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect()
        }
        // The boundary is case-sensitive: the header as sent.
        "multipart/form-data" => super::multipart::fields(content_type, bytes)?,
        // Laravel reads no input from a body it has no parser for.
        _ => Map::new(),
    };
    trim_strings(&mut fields);
    Some(fields)
}

fn parse_json(bytes: &[u8]) -> Option<Map<String, Value>> {
    if crate::http::limits::json_too_deep(bytes, crate::http::limits::MAX_JSON_DEPTH) {
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

    /// A 64-bit integer, as PHP's `filter_var(FILTER_VALIDATE_INT)` reads
    /// it (Laravel's `integer` rule): a JSON integer, a JSON number with no
    /// fraction (`10.0`, which PHP prints as `10`), or a string of digits
    /// with an optional sign and no leading zero.
    pub fn integer(&mut self, name: &str) -> Got<i64> {
        if !self.present(name) {
            return None;
        }
        let parsed = match &self.input[name] {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().and_then(whole_float)),
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

    /// An instant: Unix seconds (an integer, or a string of digits) or an
    /// RFC 3339 date-time string; `Format` otherwise.
    pub fn instant(&mut self, name: &str) -> Got<i64> {
        if !self.present(name) {
            return None;
        }
        let parsed = match &self.input[name] {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().and_then(whole_float)),
            Value::String(s) => parse_int(s).or_else(|| crate::domain::parse_rfc3339(s.trim())),
            _ => None,
        };
        if parsed.is_none() {
            self.fail(name, Rule::Format);
        }
        parsed
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

/// A string as `FILTER_VALIDATE_INT` reads it: surrounding whitespace
/// ignored, an optional `+` or `-`, then `0` or digits not starting with `0`,
/// within 64 bits. `"10.0"`, `"1e3"`, `"0x1A"`, `"010"` and `""` are not.
fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim_matches([' ', '\t', '\n', '\r', '\0', '\x0B']);
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    let well_formed = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if !well_formed {
        return None;
    }
    s.strip_prefix('+').unwrap_or(s).parse().ok()
}

/// A JSON number with a fraction, as PHP reads it: the float is printed
/// first (with 14 significant digits), so a whole value below 10^15 prints as
/// digits and is an integer, and anything else prints with a point or an
/// exponent and is not.
fn whole_float(f: f64) -> Option<i64> {
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15).then_some(f as i64)
}

/// The query string as a JSON object of strings, for [`Fields`], trimmed as
/// a body is. A parameter given more than once is the array of its values
/// (as `name[]=...` is in PHP), which no scalar rule accepts: which of two
/// values a client meant is not this server's to guess.
pub fn query_map(query: Option<&str>) -> Map<String, Value> {
    let mut fields = Map::new();
    for (k, v) in
        serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or("")).unwrap_or_default()
    {
        match fields.get_mut(&k) {
            None => {
                fields.insert(k, Value::String(v));
            }
            Some(Value::Array(all)) => all.push(Value::String(v)),
            Some(first) => *first = Value::Array(vec![first.take(), Value::String(v)]),
        }
    }
    trim_strings(&mut fields);
    fields
}

/// Fields Laravel's `TrimStrings` leaves as sent.
const UNTRIMMED: [&str; 3] = ["password", "current_password", "password_confirmation"];

/// Trims every string value (top level; the panel's fields are flat) of the
/// characters PHP's `trim` removes, except the passwords.
fn trim_strings(fields: &mut Map<String, Value>) {
    for (name, value) in fields.iter_mut() {
        if let Value::String(s) = value
            && !UNTRIMMED.contains(&name.as_str())
        {
            let trimmed = s.trim_matches([' ', '\t', '\n', '\r', '\0', '\x0B']);
            if trimmed.len() != s.len() {
                *s = trimmed.to_owned();
            }
        }
    }
}

/// The OpenAPI schemas of fields read the way [`Fields`] reads them, for the
/// request types' `#[schema(schema_with = ...)]`: what a client may send, no
/// more and no less, so that a generated request the document calls valid is
/// read as valid and one it calls invalid is refused.
pub mod schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    use utoipa::openapi::{RefOr, schema::SchemaType};

    /// The characters PHP's `trim` (so Laravel's `TrimStrings`) removes, as a
    /// regex character class (the request types' patterns spell it out).
    pub const TRIM: &str = r"[ \t\n\r\x00\x0B]";

    fn string(pattern: String, description: &str) -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(pattern))
            .description(Some(description))
            .into()
    }

    fn one_of(items: Vec<Schema>, nullable: bool, description: &str) -> RefOr<Schema> {
        let mut b = OneOfBuilder::new().description(Some(description));
        for i in items {
            b = b.item(i);
        }
        if nullable {
            b = b.item(ObjectBuilder::new().schema_type(SchemaType::Type(Type::Null)));
        }
        RefOr::T(b.into())
    }

    /// An optional integer: a JSON integer, or its digits as a string (an
    /// optional sign, no leading zero, surrounding blanks trimmed); null or a
    /// blank string is absent.
    pub fn optional_integer() -> RefOr<Schema> {
        integer(true)
    }

    fn integer(optional: bool) -> RefOr<Schema> {
        let t = TRIM;
        let digits = if optional {
            format!(r"^{t}*([+-]?(0|[1-9][0-9]*){t}*)?$")
        } else {
            format!(r"^{t}*[+-]?(0|[1-9][0-9]*){t}*$")
        };
        one_of(
            vec![
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(i64::MIN))
                    .maximum(Some(i64::MAX))
                    .into(),
                string(digits, "The integer's digits"),
            ],
            optional,
            "An integer, or its digits as a string",
        )
    }

    fn boolean(optional: bool) -> RefOr<Schema> {
        let t = TRIM;
        let word = if optional {
            format!(r"^{t}*((0|1|true|false){t}*)?$")
        } else {
            format!(r"^{t}*(0|1|true|false){t}*$")
        };
        one_of(
            vec![
                ObjectBuilder::new().schema_type(Type::Boolean).into(),
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .enum_values(Some([0, 1]))
                    .into(),
                string(word, "`1`, `0`, `true` or `false`"),
            ],
            optional,
            "A boolean: `true`/`false`, `1`/`0`, or those as strings",
        )
    }

    /// A required boolean, as [`boolean`] reads it.
    pub fn required_boolean() -> RefOr<Schema> {
        boolean(false)
    }

    /// An optional boolean; null or a blank string is absent.
    pub fn optional_boolean() -> RefOr<Schema> {
        boolean(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_as_filter_validate_int_reads_them() {
        for (given, want) in [
            ("10", Some(10)),
            (" 10 ", Some(10)),
            ("+10", Some(10)),
            ("-10", Some(-10)),
            ("0", Some(0)),
            ("-0", Some(0)),
            ("9223372036854775807", Some(i64::MAX)),
            ("9223372036854775808", None),
            ("10.0", None),
            ("10.5", None),
            ("1e3", None),
            ("0x1A", None),
            ("010", None),
            ("", None),
            ("+", None),
            ("1 0", None),
            ("abc", None),
        ] {
            assert_eq!(parse_int(given), want, "{given:?}");
        }
        for (given, want) in [
            (10.0, Some(10)),
            (-3.0, Some(-3)),
            (1e14, Some(100_000_000_000_000)),
            (1e15, None),
            (10.5, None),
            (f64::NAN, None),
        ] {
            assert_eq!(whole_float(given), want, "{given:?}");
        }
    }

    #[test]
    fn strings_are_trimmed_but_passwords_are_not() {
        let body = read_body(
            "application/json",
            br#"{"user_name": " ali\t", "password": " Secret-1 ", "n": 5}"#,
        )
        .expect("object");
        assert_eq!(body["user_name"], json!("ali"));
        assert_eq!(body["password"], json!(" Secret-1 "));
        assert_eq!(body["n"], json!(5));
    }

    #[test]
    fn a_type_the_face_does_not_read_carries_no_fields() {
        let body = read_body("text/plain", br#"{"number_id": 5}"#).expect("no fields");
        assert!(body.is_empty());
        assert!(read_body("application/json", b"[1]").is_none());
    }
}
