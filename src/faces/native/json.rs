//! JSON written straight into the answer's bytes, for the items of the
//! lists a client reads most (the numbers list, the custody history):
//! the same bytes as `serde_json` writes for the same values, field by field
//! in the same order (the tests below compare them).
//!
//! Why not `serde_json`: it writes every field's name through its string
//! escaper and every piece through `io::Write` on the answer's buffer. For a
//! page of 50 numbers that was about 120,000 instructions of the list's
//! 511,000, most of it the names, which are constants; written here, the
//! whole list costs 419,000 (callgrind, BENCHMARKS.md, "The native list's
//! rows"). A name is one copy of bytes known at compile time, and a value
//! that needs no escaping (no uid, E.164 number, country or time does) is
//! one copy too. A value that does need escaping goes through `serde_json`,
//! so escaping is never written twice.

use axum::http::{HeaderValue, header};
use axum::response::Response;

// Whether serde_json writes a string as it is between quotes: the domain's
// rule, which a number's facts are also checked by, once per number.
use crate::domain::plain_text as plain;

/// A value that writes itself as JSON.
pub trait WriteJson {
    fn write_json(&self, out: &mut Out);
}

/// The bytes of a JSON text being written.
pub struct Out(Vec<u8>);

impl Out {
    pub fn with_capacity(n: usize) -> Out {
        Out(Vec::with_capacity(n))
    }

    /// Raw JSON syntax (punctuation and quoted names): the caller's constant.
    pub fn raw(&mut self, s: &str) -> &mut Out {
        self.0.extend_from_slice(s.as_bytes());
        self
    }

    pub fn int(&mut self, n: i64) -> &mut Out {
        self.0
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        self
    }

    /// Unix seconds `unix` as an RFC 3339 UTC time, quoted (it holds
    /// nothing to escape).
    pub fn time(&mut self, unix: i64) -> &mut Out {
        self.0.push(b'"');
        crate::domain::write_rfc3339_utc(unix, &mut self.0);
        self.0.push(b'"');
        self
    }

    pub fn bool(&mut self, b: bool) -> &mut Out {
        self.raw(if b { "true" } else { "false" })
    }

    /// A string value, quoted and escaped as `serde_json` escapes it.
    pub fn str(&mut self, s: &str) -> &mut Out {
        self.str_known(s, false)
    }

    /// [`Out::str`] of a string the caller knows needs no escaping when
    /// `plain` (it holds no control character, quote or backslash), which
    /// skips the check.
    pub fn str_known(&mut self, s: &str, plain: bool) -> &mut Out {
        if plain || self::plain(s.as_bytes()) {
            self.0.reserve(s.len() + 2);
            self.0.push(b'"');
            self.0.extend_from_slice(s.as_bytes());
            self.0.push(b'"');
        } else if serde_json::to_writer(&mut self.0, s).is_err() {
            // Writing into a Vec cannot fail; were it to, say so in the
            // answer rather than write half a string.
            self.raw("null");
        }
        self
    }

    pub fn opt_str(&mut self, s: Option<&str>) -> &mut Out {
        match s {
            Some(s) => self.str(s),
            None => self.raw("null"),
        }
    }

    pub fn item<T: WriteJson + ?Sized>(&mut self, v: &T) -> &mut Out {
        v.write_json(self);
        self
    }

    pub fn opt<T: WriteJson>(&mut self, v: Option<&T>) -> &mut Out {
        match v {
            Some(v) => self.item(v),
            None => self.raw("null"),
        }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    /// A 200 answer of these bytes ([`answer`]).
    pub fn into_response(self) -> Response {
        answer(bytes::Bytes::from(self.0))
    }
}

/// A 200 answer of JSON `body`, with the `Content-Type` that `axum::Json`
/// gives, its header map made with room for every header the edge and the
/// face add (the security headers, the request id, the rate limit's):
/// grown from empty it was reallocated on the way, about 500 instructions
/// of a routing lookup (callgrind).
pub fn answer(body: bytes::Bytes) -> Response {
    let mut answer = Response::new(axum::body::Body::from(body));
    let headers = answer.headers_mut();
    *headers = axum::http::HeaderMap::with_capacity(ANSWER_HEADERS);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    answer
}

/// Headers a native answer carries, at most, before its map grows.
const ANSWER_HEADERS: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    fn written(s: &str) -> String {
        let mut o = Out::with_capacity(0);
        o.str(s);
        String::from_utf8(o.into_bytes()).expect("UTF-8")
    }

    #[test]
    fn every_byte_serde_escapes_is_escaped_wherever_it_stands() {
        let specials: Vec<char> = (0u8..0x20).map(char::from).chain(['"', '\\']).collect();
        for len in [1, 7, 8, 9, 16, 17, 24, 31] {
            for at in 0..len {
                for &c in &specials {
                    let s: String = (0..len).map(|i| if i == at { c } else { 'a' }).collect();
                    assert!(!plain(s.as_bytes()), "{s:?}");
                    assert_eq!(written(&s), serde_json::to_string(&s).expect("serialises"));
                }
            }
        }
    }

    #[test]
    fn everything_else_is_written_as_it_is() {
        let bytes: String = (0x20u8..0x7f)
            .map(char::from)
            .filter(|c| !matches!(c, '"' | '\\'))
            .chain("é€😀\u{7f}\u{80}\u{ffff}".chars())
            .collect();
        for start in 0..bytes.len() {
            let Some(s) = bytes.get(start..) else {
                continue;
            };
            assert!(plain(s.as_bytes()), "{s:?}");
            assert_eq!(written(s), serde_json::to_string(s).expect("serialises"));
        }
    }
}
