//! The fuzz targets' bodies: each takes arbitrary bytes, runs a request
//! parser on them, and checks what must hold of its answer. A panic is a
//! finding. cargo-fuzz runs them (`fuzz_targets/`); the main crate's
//! `tests/fuzz_stable.rs` includes this file and drives the same functions on
//! the stable toolchain.

use linekeeper::domain::E164;
use linekeeper::faces::panel::input::{Fields, query_map, read_body};
use linekeeper::faces::panel::messages::Lang;
use linekeeper::faces::panel::numbers::{assign_fields, paging, unassign_fields};
use linekeeper::faces::vn::input::{Check, Query, read_json_body};
use linekeeper::http::limits::{MAX_JSON_DEPTH, json_too_deep};
use serde_json::Value;

/// The content types the panel's body reader distinguishes.
const CONTENT_TYPES: [&str; 7] = [
    "application/json",
    "multipart/form-data; boundary=XyZ",
    "application/x-www-form-urlencoded",
    "",
    "text/plain",
    "application/problem+json; charset=utf-8",
    "APPLICATION/JSON",
];

/// The panel face: body reader (JSON, form, depth bound), the assign and
/// unassign validators, and the query reader with paging.
pub fn panel_body(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    let lang = if selector & 0x80 == 0 {
        Lang::Fa
    } else {
        Lang::En
    };
    // The first line is also read as a query string.
    let query = rest.split(|b| *b == b'\n').next().unwrap_or_default();
    let query = String::from_utf8_lossy(query);
    let q = query_map(Some(&query));
    if let Ok((page, per_page)) = paging(lang, &q) {
        assert!(page >= 1 && (1..=100).contains(&per_page));
    }
    let Some(body) = read_body(content_type, rest) else {
        return;
    };
    // A body whose fields were read was within the nesting bound (a type
    // the face does not read carries no fields, whatever it holds).
    assert!(
        body.is_empty()
            || !json_too_deep(rest, MAX_JSON_DEPTH)
            || !rest.trim_ascii_start().starts_with(b"{")
    );
    for result in [
        unassign_fields(lang, &body).map(|(n, t)| (n, t, None)),
        assign_fields(lang, &body).map(|(n, t, p, _)| (n, t, Some(p))),
    ] {
        match result {
            Ok((n, t, _)) => {
                assert!(
                    n.id.is_some() || n.e164.as_deref().is_some_and(|e| E164::parse(e).is_some())
                );
                assert!(t.id.is_some() || t.username.is_some());
            }
            Err(e) => {
                assert_eq!(e.status.as_u16(), 422);
                assert!(!e.errors.is_empty() && !e.message.is_empty());
            }
        }
    }
    // The typed readers never panic on any field's value.
    let mut v = Fields::new(lang, &body);
    for name in body.keys().take(8) {
        let _ = v.integer(name);
        let _ = v.boolean(name);
        let _ = v.string(name);
        let _ = v.bounded(name, 1, 1, 100);
    }
    let _ = v.finish(&[]);
}

/// The virtual-number face: the query reader with its checks, and the JSON
/// body reader with the purchase fields' checks.
pub fn vn_input(data: &[u8]) {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (query, body) = (&data[..split], data.get(split + 1..).unwrap_or_default());
    let query = String::from_utf8_lossy(query);
    let q = Query::parse(Some(&query));
    let mut c = Check::new();
    let page = c.integer(&q, "page", 1, 1, 9_007_199_254_740_991);
    let limit = c.integer(&q, "limit", 10, 1, 100);
    let _ = c.matching(&q, "country", "^[A-Za-z]{2}$", |s| {
        s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic())
    });
    let _ = c.matching(&q, "pattern", "^[0-9]+$", |s| {
        s.bytes().all(|b| b.is_ascii_digit())
    });
    if c.finish().is_ok() {
        assert!(page >= 1 && (1..=100).contains(&limit));
    }
    match read_json_body(body) {
        Ok(map) => {
            assert!(!json_too_deep(body, MAX_JSON_DEPTH));
            let mut c = Check::new();
            let number = c.string(&map, "number", true);
            let _ = c.boolean(&map, "resubscribe");
            let _ = c.one_of(&map, "recurring_time", &["month", "year"]);
            let _ = c.string(&map, "product", false);
            match c.finish() {
                Ok(()) => assert!(number.is_some_and(|n| !n.is_empty())),
                Err(e) => {
                    assert_eq!(e.status.as_u16(), 400);
                    assert!(!e.message.is_empty());
                }
            }
        }
        Err(e) => {
            assert_eq!(e.status.as_u16(), 400);
            assert_eq!(&*e.message, "Invalid JSON body");
            // Only what is not a JSON object, or too deep, is refused.
            let parsed = serde_json::from_slice::<Value>(body);
            assert!(
                json_too_deep(body, MAX_JSON_DEPTH) || !matches!(parsed, Ok(Value::Object(_))),
                "a JSON object was refused"
            );
        }
    }
}

/// E.164: what parses is `+` and 8 to 15 digits, the first not 0, and
/// comes back unchanged.
pub fn e164(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(n) = E164::parse(s) {
        assert_eq!(n.as_str(), s);
        assert_eq!(n.to_string(), s);
        let digits = n.digits();
        assert!((8..=15).contains(&digits.len()));
        assert!(digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0'));
        assert_eq!(E164::parse(&n.to_string()), Some(n));
    } else {
        let d = s.strip_prefix('+');
        let valid = d.is_some_and(|d| {
            (8..=15).contains(&d.len())
                && d.bytes().all(|b| b.is_ascii_digit())
                && !d.starts_with('0')
        });
        assert!(!valid, "{s:?} was refused");
    }
}
