//! Bad input: every malformed, mistyped, oversized or mislabelled request gets
//! a clear answer in the face's format, never a 500, and changes nothing.

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::expect::*;
use crate::helpers::TestApp;
use crate::panel_property::{Draw, Rng, seeded};

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// What an answer should be: a status and a body.
fn exists(field: &'static str) -> (u16, Vec<(&'static str, Rule)>) {
    (422, vec![(field, Rule::Exists)])
}

/// Every field of unassign `required` (an empty body).
fn all_required() -> Vec<(&'static str, Rule)> {
    vec![
        ("number_id", Rule::Required),
        ("target_user_id", Rule::Required),
        ("number", Rule::Required),
        ("target_user", Rule::Required),
    ]
}

/// A body and the errors (422) it must get from unassign; the target is
/// `testuser` (123) and the number 10 unless the case says otherwise.
fn field_cases() -> Vec<(String, Vec<(&'static str, Rule)>)> {
    let j = |v: Value| v.to_string();
    // Nested as deep as a body may be (32 levels, the object included);
    // deeper is a 400 (see `limits::json_nested_too_deep_is_a_400`).
    let deep = format!("{}1{}", "[".repeat(31), "]".repeat(31));
    vec![
        // Wrong types.
        (
            j(json!({"number_id": "ten", "target_user_id": 123})),
            vec![("number_id", Rule::Integer)],
        ),
        (
            j(json!({"number_id": 10.5, "target_user_id": 123})),
            vec![("number_id", Rule::Integer)],
        ),
        (
            j(json!({"number_id": "10.0", "target_user_id": 123})),
            vec![("number_id", Rule::Integer)],
        ),
        (
            j(json!({"number_id": true, "target_user_id": 123})),
            vec![("number_id", Rule::Integer)],
        ),
        (
            j(json!({"number_id": [10], "target_user_id": 123})),
            vec![("number_id", Rule::Integer)],
        ),
        (
            j(json!({"number_id": {"id": 10}, "target_user_id": 123})),
            vec![("number_id", Rule::Integer)],
        ),
        (
            j(json!({"number_id": "010", "target_user_id": 123})),
            vec![("number_id", Rule::Integer)],
        ),
        (
            j(json!({"number_id": "1e3", "target_user_id": 123})),
            vec![("number_id", Rule::Integer)],
        ),
        (
            j(json!({"number_id": "0x0a", "target_user_id": 123})),
            vec![("number_id", Rule::Integer)],
        ),
        (
            j(json!({"number_id": 10, "target_user_id": "12a"})),
            vec![("target_user_id", Rule::Integer)],
        ),
        (
            j(json!({"number": 983000505, "target_user_id": 123})),
            vec![("number", Rule::String)],
        ),
        (
            j(json!({"number": ["+983000505"], "target_user_id": 123})),
            vec![("number", Rule::String)],
        ),
        (
            j(json!({"number_id": 10, "target_user": 123})),
            vec![("target_user", Rule::String)],
        ),
        (
            j(json!({"number_id": 10, "target_user": false})),
            vec![("target_user", Rule::String)],
        ),
        (
            j(json!({"number_id": "x", "target_user_id": "y", "number": 1, "target_user": []})),
            vec![
                ("number_id", Rule::Integer),
                ("target_user_id", Rule::Integer),
                ("number", Rule::String),
                ("target_user", Rule::String),
            ],
        ),
        // A wrong half of a pair is an error even beside a good other half.
        (
            j(json!({"number_id": "x", "number": "+983000505", "target_user_id": 123})),
            vec![("number_id", Rule::Integer)],
        ),
        // Integers beyond 64 bits (and exponents) are not integers.
        (
            r#"{"number_id": 18446744073709551616, "target_user_id": 123}"#.into(),
            vec![("number_id", Rule::Integer)],
        ),
        (
            r#"{"number_id": 9223372036854775808, "target_user_id": 123}"#.into(),
            vec![("number_id", Rule::Integer)],
        ),
        (
            r#"{"number_id": -9223372036854775809, "target_user_id": 123}"#.into(),
            vec![("number_id", Rule::Integer)],
        ),
        (
            // PHP prints this float as `1.0E+15`: not an integer.
            r#"{"number_id": 1e15, "target_user_id": 123}"#.into(),
            vec![("number_id", Rule::Integer)],
        ),
        (
            r#"{"number_id": 10, "target_user_id": 123456789012345678901234567890}"#.into(),
            vec![("target_user_id", Rule::Integer)],
        ),
        (
            j(json!({"number_id": "99999999999999999999", "target_user_id": 123})),
            vec![("number_id", Rule::Integer)],
        ),
        (
            format!(r#"{{"number_id": {deep}, "target_user_id": 123}}"#),
            vec![("number_id", Rule::Integer)],
        ),
        // Negative and zero ids, and the extremes of 64 bits, name nothing.
        (
            j(json!({"number_id": -10, "target_user_id": 123})),
            exists("number_id").1,
        ),
        (
            j(json!({"number_id": "-10", "target_user_id": 123})),
            exists("number_id").1,
        ),
        (
            j(json!({"number_id": 0, "target_user_id": 123})),
            exists("number_id").1,
        ),
        (
            j(json!({"number_id": 10, "target_user_id": -123})),
            exists("target_user_id").1,
        ),
        (
            j(json!({"number_id": i64::MAX, "target_user_id": i64::MIN})),
            vec![
                ("number_id", Rule::Exists),
                ("target_user_id", Rule::Exists),
            ],
        ),
        // Unicode.
        (
            j(json!({"number": "+۹۸۳۰۰۰۵۰۵", "target_user_id": 123})),
            vec![("number", Rule::Format)],
        ),
        (
            j(json!({"number_id": "١٠", "target_user_id": 123})),
            vec![("number_id", Rule::Integer)],
        ),
        (
            j(json!({"number_id": 10, "target_user": "کاربر"})),
            exists("target_user").1,
        ),
        (
            j(json!({"number_id": 10, "target_user": "test\u{0}user"})),
            exists("target_user").1,
        ),
        (
            j(json!({"number_id": 10, "target_user": "testüser"})),
            exists("target_user").1,
        ),
        (
            j(json!({"number_id": 10, "target_user": "😀😀😀"})),
            exists("target_user").1,
        ),
        (
            j(json!({"number_id": 10, "target_user": "x".repeat(1000)})),
            exists("target_user").1,
        ),
        // Empty strings and nulls are absent.
        (
            j(json!({"number_id": "", "number": "", "target_user_id": 123})),
            vec![("number_id", Rule::Required), ("number", Rule::Required)],
        ),
        (
            j(json!({"number_id": 10, "target_user_id": null, "target_user": ""})),
            vec![
                ("target_user_id", Rule::Required),
                ("target_user", Rule::Required),
            ],
        ),
        (j(json!({})), all_required()),
        (j(json!({"unknown": 1})), all_required()),
        // Not E.164: too long, too short, no plus, spaces, leading zero.
        (
            j(json!({"number": "+1234567890123456", "target_user_id": 123})),
            vec![("number", Rule::Format)],
        ),
        (
            j(json!({"number": format!("+{}", "9".repeat(100)), "target_user_id": 123})),
            vec![("number", Rule::Format)],
        ),
        (
            j(json!({"number": "+1234567", "target_user_id": 123})),
            vec![("number", Rule::Format)],
        ),
        (
            j(json!({"number": "983000505", "target_user_id": 123})),
            vec![("number", Rule::Format)],
        ),
        (
            j(json!({"number": "+98 300 0505", "target_user_id": 123})),
            vec![("number", Rule::Format)],
        ),
        (
            j(json!({"number": "+0983000505", "target_user_id": 123})),
            vec![("number", Rule::Format)],
        ),
        (
            j(json!({"number": "+", "target_user_id": 123})),
            vec![("number", Rule::Format)],
        ),
    ]
}

/// Bodies that are not a JSON object: 400 whatever the route.
fn not_an_object() -> Vec<Vec<u8>> {
    let mut bodies: Vec<Vec<u8>> = [
        "{not json",
        "{\"number_id\": 10, \"target_user_id\": 123",
        "{\"number_id\": 10,}",
        "[]",
        "[{\"number_id\": 10, \"target_user_id\": 123}]",
        "\"number_id=10\"",
        "null",
        "42",
        "true",
        "{\"number_id\": 10} trailing",
        "{'number_id': 10}",
        "{\"number_id\": NaN}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    bodies.push(b"{\"number\": \"\xff\xfe\", \"target_user_id\": 123}".to_vec());
    bodies.push(format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes());
    bodies.push(
        format!(
            "{{\"a\":{}1{}}}",
            "{\"a\":".repeat(5_000),
            "}".repeat(5_000)
        )
        .into_bytes(),
    );
    bodies
}

struct World {
    reseller: String,
}

async fn world(app: &TestApp) -> World {
    let w = seed_world(app).await;
    let (status, _) = app.post(ASSIGN, &w.reseller, &grant_body(10, 123)).await;
    assert_eq!(status, 200);
    World {
        reseller: w.reseller,
    }
}

async fn send(
    app: &TestApp,
    path: &str,
    key: &str,
    content_type: Option<&str>,
    lang: Lang,
    body: &[u8],
) -> (u16, Value) {
    let mut headers = vec![("authorization", key)];
    if let Some(t) = content_type {
        headers.push(("content-type", t));
    }
    if lang == Lang::En {
        headers.push(("accept-language", "en"));
    }
    let res = app.raw("POST", path, &headers, body).await;
    (res.status, res.json())
}

/// Adds assign's two required fields to a JSON object body.
fn with_perms(body: &str) -> Option<String> {
    let mut v: Value = serde_json::from_str(body).ok()?;
    let map = v.as_object_mut()?;
    map.insert("send".into(), json!(true));
    map.insert("gets".into(), json!(true));
    Some(v.to_string())
}

/// A random JSON value, biased to what the validator has to tell apart.
fn random_value(rng: &mut Rng, depth: usize) -> Value {
    let strings = [
        "",
        " ",
        "10",
        "-1",
        "0",
        "1",
        "true",
        "false",
        "+983000505",
        "testuser",
        "TESTUSER",
        "other",
        "۱۰",
        "😀",
        "\u{0}",
        "9999999999999999999999",
        "1e3",
        "+98300050５",
        "null",
    ];
    let floats = ["1.5", "1e400", "-0.0", "18446744073709551616", "10.0"];
    match rng.below(if depth == 0 { 6 } else { 8 }) {
        0 => Value::Null,
        1 => json!(rng.chance(50)),
        2 => json!(*rng.pick(&[0i64, 1, 10, 123, -1, i64::MAX, i64::MIN, 2, 124])),
        3 => json!(rand::Rng::next_u64(rng)),
        4 => serde_json::from_str::<Value>(rng.pick::<&str>(&floats)).unwrap_or(Value::Null),
        5 => json!(*rng.pick(&strings)),
        6 => Value::Array(
            (0..rng.below(3))
                .map(|_| random_value(rng, depth - 1))
                .collect(),
        ),
        _ => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.below(3) {
                m.insert(
                    (*rng.pick(&strings)).to_owned(),
                    random_value(rng, depth - 1),
                );
            }
            Value::Object(m)
        }
    }
}

crate::scenarios! {
async fn mistyped_fields_get_their_rules_message_and_change_nothing(app: TestApp) {
    let w = world(&app).await;
    let before = app.assert_invariants().await;
    for (body, errors) in field_cases() {
        for lang in [Lang::Fa, Lang::En] {
            let answer = send(
                &app,
                UNASSIGN,
                &w.reseller,
                Some(JSON),
                lang,
                body.as_bytes(),
            )
            .await;
            assert_answer(
                (answer.0, &answer.1),
                (422, &invalid(lang, &errors)),
                &format!("unassign {body}"),
            );
            // The same fields on assign (with its booleans valid) fail the same way.
            if let Some(assign_body) = with_perms(&body) {
                let answer = send(
                    &app,
                    ASSIGN,
                    &w.reseller,
                    Some(JSON),
                    lang,
                    assign_body.as_bytes(),
                )
                .await;
                assert_answer(
                    (answer.0, &answer.1),
                    (422, &invalid(lang, &errors)),
                    &format!("assign {body}"),
                );
            }
        }
    }
    assert_eq!(app.assert_invariants().await, before);
    assert_eq!(grants(&app).await, vec![(10, 123, 2, true, true)]);
}

async fn assigns_booleans(app: TestApp) {
    let w = world(&app).await;
    let (other, _) = app.account("other", Some("reseller"), false).await;
    let before = app.assert_invariants().await;
    let base = |send: Value, gets: Value| {
        let mut v = json!({"number_id": 10, "target_user_id": other.id});
        if !send.is_null() {
            v["send"] = send;
        }
        if !gets.is_null() {
            v["gets"] = gets;
        }
        v
    };
    let cases: Vec<(Value, Vec<(&str, Rule)>)> = vec![
        (
            base(Value::Null, Value::Null),
            vec![("send", Rule::Required), ("gets", Rule::Required)],
        ),
        (
            base(json!(true), Value::Null),
            vec![("gets", Rule::Required)],
        ),
        (base(json!(""), json!(true)), vec![("send", Rule::Required)]),
        (
            base(json!("yes"), json!(true)),
            vec![("send", Rule::Boolean)],
        ),
        (base(json!(2), json!(true)), vec![("send", Rule::Boolean)]),
        (base(json!(-1), json!(true)), vec![("send", Rule::Boolean)]),
        (base(json!(1.0), json!(true)), vec![("send", Rule::Boolean)]),
        (
            base(json!("TRUE"), json!(true)),
            vec![("send", Rule::Boolean)],
        ),
        (
            base(json!([true]), json!({})),
            vec![("send", Rule::Boolean), ("gets", Rule::Boolean)],
        ),
        (
            base(json!(true), json!("on")),
            vec![("gets", Rule::Boolean)],
        ),
        // Every field wrong at once, in the route's order.
        (
            json!({"number_id": "a", "target_user_id": "b", "number": 5, "target_user": 6, "send": "c", "gets": "d"}),
            vec![
                ("number_id", Rule::Integer),
                ("target_user_id", Rule::Integer),
                ("number", Rule::String),
                ("target_user", Rule::String),
                ("send", Rule::Boolean),
                ("gets", Rule::Boolean),
            ],
        ),
        (
            json!({}),
            vec![
                ("number_id", Rule::Required),
                ("target_user_id", Rule::Required),
                ("number", Rule::Required),
                ("target_user", Rule::Required),
                ("send", Rule::Required),
                ("gets", Rule::Required),
            ],
        ),
    ];
    for (body, errors) in &cases {
        for lang in [Lang::Fa, Lang::En] {
            let answer = send(
                &app,
                ASSIGN,
                &w.reseller,
                Some(JSON),
                lang,
                body.to_string().as_bytes(),
            )
            .await;
            assert_answer(
                (answer.0, &answer.1),
                (422, &invalid(lang, errors)),
                &body.to_string(),
            );
        }
    }
    assert_eq!(app.assert_invariants().await, before);

    // The accepted forms, each a real grant (and taken back).
    for (send_v, gets_v, perms) in [
        (json!(1), json!(0), (true, false)),
        (json!("1"), json!("0"), (true, false)),
        (json!("true"), json!("false"), (true, false)),
        (json!(false), json!(true), (false, true)),
        (json!(0), json!("1"), (false, true)),
    ] {
        let body = base(send_v, gets_v);
        let (status, answer) = app.post(ASSIGN, &w.reseller, &body).await;
        assert_eq!((status, answer), (200, ok(Lang::Fa, Value::Null)), "{body}");
        assert!(
            grants(&app)
                .await
                .contains(&(10, other.id, 2, perms.0, perms.1)),
            "{body}"
        );
        let (status, _) = app
            .post(
                UNASSIGN,
                &w.reseller,
                &json!({"number_id": 10, "target_user_id": other.id}),
            )
            .await;
        assert_eq!(status, 200);
    }
    assert_eq!(app.assert_invariants().await, before + 10);
}

async fn bodies_that_are_not_json_objects_are_a_400(app: TestApp) {
    let w = world(&app).await;
    let before = app.assert_invariants().await;
    for body in not_an_object() {
        for path in [UNASSIGN, ASSIGN, LOGIN] {
            for (lang, content_type) in [
                (Lang::Fa, Some(JSON)),
                (Lang::En, Some(JSON)),
                (Lang::Fa, None),
            ] {
                let answer = send(&app, path, &w.reseller, content_type, lang, &body).await;
                let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
                assert_answer(
                    (answer.0, &answer.1),
                    (400, &bad_body(lang)),
                    &format!("{path} {shown}"),
                );
            }
        }
    }
    assert_eq!(app.assert_invariants().await, before);
}

async fn content_types_empty_bodies_and_forms(app: TestApp) {
    let w = world(&app).await;
    let before = app.assert_invariants().await;
    let seed_422 = invalid(
        Lang::Fa,
        &[("number_id", Rule::Required), ("number", Rule::Required)],
    );
    let target_only = br#"{"target_user_id": 123}"#;
    // (content type, body, answer)
    let cases: Vec<(Option<&str>, &[u8], u16, Value)> = vec![
        // Labelled JSON in its variants, or not labelled: read as JSON.
        (
            Some("application/json; charset=utf-8"),
            target_only,
            422,
            seed_422.clone(),
        ),
        (Some("Application/JSON"), target_only, 422, seed_422.clone()),
        (
            Some("application/vnd.api+json"),
            target_only,
            422,
            seed_422.clone(),
        ),
        (None, target_only, 422, seed_422.clone()),
        // Any other type carries no fields, even with a JSON body, as
        // Laravel reads it: every field is required.
        (Some("text/plain"), target_only, 422, invalid(Lang::Fa, &all_required())),
        (
            Some("application/xml"),
            b"<number_id>10</number_id>",
            422,
            invalid(Lang::Fa, &all_required()),
        ),
        (
            Some("application/jsonx"),
            target_only,
            422,
            invalid(Lang::Fa, &all_required()),
        ),
        (
            Some("application/octet-stream"),
            target_only,
            422,
            invalid(Lang::Fa, &all_required()),
        ),
        (Some("json"), target_only, 422, invalid(Lang::Fa, &all_required())),
        // A multipart body that is not multipart is a bad body.
        (
            Some("multipart/form-data; boundary=x"),
            target_only,
            400,
            bad_body(Lang::Fa),
        ),
        // An empty (or blank) body is `{}`: every field required.
        (Some(JSON), b"", 422, invalid(Lang::Fa, &all_required())),
        (None, b"", 422, invalid(Lang::Fa, &all_required())),
        (
            Some(JSON),
            b"  \r\n\t ",
            422,
            invalid(Lang::Fa, &all_required()),
        ),
        (Some(FORM), b"", 422, invalid(Lang::Fa, &all_required())),
        // Form fields are strings, read as a Laravel server reads them.
        (Some(FORM), b"target_user_id=123", 422, seed_422.clone()),
        (
            Some(FORM),
            b"number_id=10&target_user_id=999",
            422,
            invalid(Lang::Fa, &[("target_user_id", Rule::Exists)]),
        ),
        (
            Some(FORM),
            b"number_id=abc&target_user=testuser",
            422,
            invalid(Lang::Fa, &[("number_id", Rule::Integer)]),
        ),
        (
            Some(FORM),
            b"number=%2B983000505&target_user=nobody",
            422,
            invalid(Lang::Fa, &[("target_user", Rule::Exists)]),
        ),
        (
            Some(FORM),
            b"number=+983000505&target_user_id=123&number_id=",
            422,
            invalid(Lang::Fa, &[("number", Rule::Format)]),
        ),
        (
            Some(FORM),
            b"number_id=%ff%fe&target_user_id=123",
            422,
            invalid(Lang::Fa, &[("number_id", Rule::Integer)]),
        ),
        (
            Some(FORM),
            b"garbage",
            422,
            invalid(Lang::Fa, &all_required()),
        ),
        // JSON labelled as a form (what `curl --data` sends) is read as JSON.
        (Some(FORM), target_only, 422, seed_422.clone()),
        (Some(FORM), b"{broken", 400, bad_body(Lang::Fa)),
    ];
    for (content_type, body, status, want) in &cases {
        let answer = send(&app, UNASSIGN, &w.reseller, *content_type, Lang::Fa, body).await;
        let ctx = format!("{content_type:?} {}", String::from_utf8_lossy(body));
        assert_answer((answer.0, &answer.1), (*status, want), &ctx);
    }
    assert_eq!(app.assert_invariants().await, before);

    // A well-formed form does the work.
    let (status, answer) = send(
        &app,
        UNASSIGN,
        &w.reseller,
        Some(FORM),
        Lang::Fa,
        b"number=%2B983000505&target_user=TestUser",
    )
    .await;
    assert_eq!((status, answer), (200, ok(Lang::Fa, Value::Null)));
    let (status, answer) = send(
        &app,
        ASSIGN,
        &w.reseller,
        Some(FORM),
        Lang::Fa,
        b"number_id=10&target_user_id=123&send=1&gets=0",
    )
    .await;
    assert_eq!((status, answer), (200, ok(Lang::Fa, Value::Null)));
    assert_eq!(grants(&app).await, vec![(10, 123, 2, true, false)]);
    assert_eq!(app.assert_invariants().await, before + 2);
}

async fn a_body_over_64_kib_is_a_413(app: TestApp) {
    let w = world(&app).await;
    let before = app.assert_invariants().await;
    let padded = |size: usize| {
        let head = r#"{"target_user_id": 123, "pad": ""#;
        let tail = "\"}";
        let fill = size - head.len() - tail.len();
        format!("{head}{}{tail}", "x".repeat(fill)).into_bytes()
    };
    // Exactly at the limit: read, and answered on its merits.
    let at = padded(64 * 1024);
    let answer = send(&app, UNASSIGN, &w.reseller, Some(JSON), Lang::Fa, &at).await;
    assert_answer(
        (answer.0, &answer.1),
        (
            422,
            &invalid(
                Lang::Fa,
                &[("number_id", Rule::Required), ("number", Rule::Required)],
            ),
        ),
        "at the limit",
    );
    for size in [64 * 1024 + 1, 1024 * 1024] {
        for (lang, path) in [(Lang::Fa, UNASSIGN), (Lang::En, ASSIGN), (Lang::Fa, LOGIN)] {
            let answer = send(&app, path, &w.reseller, Some(JSON), lang, &padded(size)).await;
            assert_answer(
                (answer.0, &answer.1),
                (413, &too_large(lang)),
                &format!("{path} {size}"),
            );
        }
    }

    // Without a Content-Length (chunked), the limit still holds.
    let body = padded(64 * 1024 + 100);
    let mut request = format!(
        "POST {UNASSIGN} HTTP/1.1\r\nhost: x\r\nauthorization: {}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        w.reseller
    )
    .into_bytes();
    for chunk in body.chunks(4096) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(&request).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    let json_start = text.find('{').expect("a JSON body");
    let got: Value = serde_json::from_str(text[json_start..].trim_end()).expect("JSON");
    assert_answer((413, &got), (413, &too_large(Lang::Fa)), "chunked");
    assert_eq!(app.assert_invariants().await, before);
}

/// Requests off the face's map are refused without a 500.
async fn unknown_routes_and_methods_are_not_errors_of_the_server(app: TestApp) {
    let w = world(&app).await;
    for (method, path, want) in [
        ("GET", "/api/numbers/unassign", 405),
        ("PUT", "/api/numbers/assign", 405),
        ("POST", "/api/number/numbers", 405),
        ("GET", "/api/acl/auth/login", 405),
        ("POST", "/api/numbers/nothing", 404),
        ("POST", "/v2/api/numbers/unassign", 404),
        // A trailing slash is ignored: the route's own `required` errors.
        ("POST", "/api/numbers/unassign/", 422),
    ] {
        let res = app
            .raw(method, path, &[("authorization", &w.reseller)], b"")
            .await;
        assert_eq!(res.status, want, "{method} {path}");
        // In the panel envelope under the face; outside it, the service's.
        let refused = match path.starts_with("/api/") {
            true => &res.json()["meta"]["status"],
            false => &res.json()["error"],
        };
        assert!(!refused.is_null(), "{method} {path}");
    }
    app.assert_invariants().await;
}

/// Random mutations of good bodies (bytes flipped, dropped, duplicated,
/// truncated, spliced from other bodies) never get a 500: every answer is the
/// face's envelope with one of the statuses a client can cause, and the
/// invariants hold afterwards.
async fn mutated_bodies_never_get_a_server_error(app: TestApp) {
    let w = world(&app).await;
    let (other, _) = app.account("other", Some("reseller"), true).await;
    let seeds: Vec<Vec<u8>> = [
        json!({"number_id": 10, "target_user_id": 123, "number": "+983000505", "target_user": "testuser"}),
        json!({"number_id": 10, "target_user_id": other.id, "send": true, "gets": false}),
        json!({"number": "+983000505", "target_user": "other", "send": "1", "gets": 0}),
    ]
    .iter()
    .map(|v| v.to_string().into_bytes())
    .collect();
    let alphabet = b"{}[]\":,0123456789-+.eE tfnul\\\x00\xff";
    let mut rng = seeded(0x00f0_0dfa_ce00);
    for i in 0..400 {
        let mut body = rng.pick(&seeds).clone();
        // Half the cases keep the JSON well formed and change field values.
        if i % 2 == 0 {
            let mut v: Value = serde_json::from_slice(&body).unwrap();
            let fields = [
                "number_id",
                "number",
                "target_user_id",
                "target_user",
                "send",
                "gets",
                "x",
            ];
            for _ in 0..1 + rng.below(3) {
                let field = *rng.pick(&fields);
                if rng.chance(20) {
                    v.as_object_mut().unwrap().remove(field);
                } else {
                    v[field] = random_value(&mut rng, 2);
                }
            }
            body = v.to_string().into_bytes();
        }
        for _ in 0..(i % 2) * (1 + rng.below(4)) {
            let at = rng.below(body.len().max(1));
            match rng.below(5) {
                0 if !body.is_empty() => body[at] = *rng.pick(alphabet),
                1 if !body.is_empty() => {
                    body.remove(at);
                }
                2 => body.insert(at.min(body.len()), *rng.pick(alphabet)),
                3 => body.truncate(at),
                _ => {
                    let donor = rng.pick(&seeds);
                    let from = rng.below(donor.len());
                    body.splice(
                        at.min(body.len())..at.min(body.len()),
                        donor[from..].iter().copied(),
                    );
                }
            }
        }
        let path = if rng.chance(50) { ASSIGN } else { UNASSIGN };
        let (status, answer) = send(&app, path, &w.reseller, Some(JSON), Lang::Fa, &body).await;
        let shown = String::from_utf8_lossy(&body).into_owned();
        assert!(
            matches!(status, 200 | 400 | 422),
            "case {i}: {path} {shown:?} got {status} {answer}"
        );
        assert_eq!(
            answer["meta"]["status"],
            json!(status == 200),
            "case {i}: {shown:?} {answer}"
        );
        let code = answer["meta"]["message_code"].as_str().unwrap_or_default();
        let want_code = match status {
            200 => "200-1",
            400 => "400-1",
            _ => "400-2",
        };
        assert_eq!(code, want_code, "case {i}: {shown:?} {answer}");
    }
    app.assert_invariants().await;
}
}
