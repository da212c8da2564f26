//! Existing clients, unchanged: what a real IPPanel or Cellcast client does
//! that the seeds do not show. The keep-alive connection after an early
//! answer, unknown routes and wrong methods, trailing slashes, Laravel's
//! reading of integers, multipart and unread bodies, the `apikey` scheme, and
//! upper-case Cellcast ids.

use std::time::Duration;

use linekeeper::http::limits::Limits;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::expect::*;
use crate::helpers::{Backend, TestApp};
use crate::vn_common::{VN, failure as vn_failure, pool_number, postpaid, success as vn_success};

// ------------------------------------------------------------- connection

/// One HTTP/1.1 answer read off a kept-alive socket: exactly its bytes (the
/// body by Content-Length), leaving the socket positioned after it.
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Reads one answer, or `None` when the server closed the connection first.
async fn read_answer(stream: &mut TcpStream) -> Option<Answer> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut byte))
            .await
            .expect("an answer within 5 s")
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let status = head.get(9..12)?.parse().ok()?;
    let mut answer = Answer {
        status,
        head,
        body: Vec::new(),
    };
    let length: usize = answer
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    answer.body = vec![0; length];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut answer.body))
        .await
        .expect("the body within 5 s")
        .ok()?;
    Some(answer)
}

/// Sends `head` and then, 50 ms later, `body` (as a client that writes its
/// headers and its body separately does), reads the answer, then sends a
/// second request on the same socket. The server must either answer the
/// second request, or have said `Connection: close` on the first answer and
/// closed: a client never loses a request on a connection kept open.
async fn early_answer_then_reuse(app: &TestApp, head: &str, body: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(app.addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("head");
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The server may already have closed its side for a refusal it said so for.
    let _ = stream.write_all(body).await;
    let first = read_answer(&mut stream).await.expect("a first answer");
    let second = "GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n";
    let closes = first
        .header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let wrote = stream.write_all(second.as_bytes()).await;
    let next = match wrote {
        Ok(()) => read_answer(&mut stream).await,
        Err(_) => None,
    };
    match next {
        Some(a) => assert_eq!(
            (a.status, a.json()),
            (200, json!({"status": "ok"})),
            "second request after {}",
            first.status
        ),
        None => assert!(
            closes,
            "the connection was dropped after a {} without `Connection: close`",
            first.status
        ),
    }
    first
}

fn post_head(path: &str, auth: &str, length: usize) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n{auth}content-length: {length}\r\n\r\n"
    )
}

mod connection {
    use super::*;

    crate::scenarios! {
    /// Every early answer leaves the connection usable, or says it will close.
    async fn early_answers_keep_the_connection_or_say_they_close(app: TestApp) {
        let (_, admin) = app.account("admin", None, false).await;
        let (_, user) = app.account("plainuser", Some("admin"), false).await;
        let body = br#"{"number_id": 1, "target_user_id": 2}"#;
        let cases: [(&str, String, u16, Value); 5] = [
            (UNASSIGN, "authorization: wrong\r\n".into(), 401, unauthenticated(Lang::Fa)),
            (UNASSIGN, format!("authorization: {user}\r\n"), 403, forbidden(Lang::Fa)),
            ("/api/numbers/nothing", format!("authorization: {admin}\r\n"), 404,
                failure("404-1", "مسیر مورد نظر یافت نشد")),
            (&format!("{VN}/purchase-postpaid"), "authorization: wrong\r\n".into(), 401,
                vn_failure(401, "Invalid token")),
            ("/nowhere", String::new(), 404, json!({"error": "not found"})),
        ];
        for (path, auth, status, want) in cases {
            let head = post_head(path, &auth, body.len());
            let a = early_answer_then_reuse(&app, &head, body).await;
            assert_answer((a.status, &a.json()), (status, &want), path);
        }
        // A wrong method with a body.
        let head = format!("PUT {ASSIGN} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n", body.len());
        let a = early_answer_then_reuse(&app, &head, body).await;
        assert_eq!(a.status, 405);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_or_oversized_request_keeps_the_connection_or_says_it_closes() {
    let limits = Limits {
        rate_per_sec: 1,
        rate_burst: 1,
        ..Limits::default()
    };
    let app = TestApp::spawn_with(Backend::Sqlite, limits).await;
    let (_, admin) = app.account("admin", None, false).await;
    let body = br#"{"number_id": 1, "target_user_id": 2}"#;
    let head = post_head(UNASSIGN, &format!("authorization: {admin}\r\n"), body.len());
    // The first spends the burst; the second is refused.
    let a = early_answer_then_reuse(&app, &head, body).await;
    assert_ne!(a.status, 429);
    let a = early_answer_then_reuse(&app, &head, body).await;
    assert_eq!(a.status, 429);
    assert_answer(
        (a.status, &a.json()),
        (
            429,
            &failure("429-1", "تعداد درخواست ها بیش از حد مجاز است"),
        ),
        "429",
    );

    // Declared too large: answered at once, and the answer says it closes.
    let head = post_head(UNASSIGN, &format!("authorization: {admin}\r\n"), 70_000);
    let a = early_answer_then_reuse(&app, &head, b"{}").await;
    assert_answer(
        (a.status, &a.json()),
        (413, &too_large(Lang::Fa)),
        "413 declared",
    );
    assert_eq!(a.header("connection"), Some("close"));
    // Chunked past the limit: the same.
    let head = format!(
        "POST {UNASSIGN} HTTP/1.1\r\nhost: x\r\nauthorization: {admin}\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    let chunk = format!("{:x}\r\n{}\r\n", 70_000, "a".repeat(70_000));
    let a = early_answer_then_reuse(&app, &head, chunk.as_bytes()).await;
    assert_answer(
        (a.status, &a.json()),
        (413, &too_large(Lang::Fa)),
        "413 chunked",
    );
    assert_eq!(a.header("connection"), Some("close"));
}

// ------------------------------------------------- unknown routes, methods

mod routes {
    use super::*;

    crate::scenarios! {
    async fn unknown_panel_routes_and_methods_answer_in_the_panel_envelope(app: TestApp) {
        let (_, admin) = app.account("admin", None, false).await;
        let not_found = |lang| match lang {
            Lang::Fa => failure("404-1", "مسیر مورد نظر یافت نشد"),
            Lang::En => failure("404-1", "The requested route was not found"),
        };
        let not_allowed = |lang| match lang {
            Lang::Fa => failure("405-1", "متد درخواست مجاز نیست"),
            Lang::En => failure("405-1", "The request method is not allowed"),
        };
        for (lang, accept) in [(Lang::Fa, "fa"), (Lang::En, "en-US")] {
            for (method, path, status, want) in [
                ("POST", "/api/send/webservice", 404, not_found(lang)),
                ("GET", "/v1/api/numbers", 404, not_found(lang)),
                ("GET", "/api/", 404, not_found(lang)),
                ("GET", ASSIGN, 405, not_allowed(lang)),
                ("DELETE", "/v1/api/number/numbers", 405, not_allowed(lang)),
                ("POST", "/api/user/list/", 405, not_allowed(lang)),
            ] {
                let res = app
                    .raw(method, path, &[("authorization", &admin), ("accept-language", accept)], b"")
                    .await;
                assert_answer((res.status, &res.json()), (status, &want), &format!("{method} {path}"));
                assert_eq!(res.header("content-type"), Some("application/json"), "{method} {path}");
            }
        }
        // Not under a face: a small JSON 404 (`/` is the console's redirect).
        for path in ["/nowhere", "/apix/numbers"] {
            let res = app.raw("GET", path, &[], b"").await;
            assert_answer((res.status, &res.json()), (404, &json!({"error": "not found"})), path);
            assert_eq!(res.header("content-type"), Some("application/json"));
        }
    }

    async fn a_trailing_slash_on_a_panel_route_is_ignored(app: TestApp) {
        let (admin_account, admin) = app.account("admin", None, false).await;
        let (r, _) = app.account("reseller", Some("admin"), true).await;
        let n = app.number("+989120000001", Some("admin")).await;
        let _ = admin_account;
        let (status, body) = app
            .post("/api/numbers/assign/", &admin, &grant_body(n.id, r.id))
            .await;
        assert_answer(
            (status, &body),
            (200, &ok(Lang::Fa, Value::Null)),
            "assign/",
        );
        let (status, body) = app
            .post(
                "/v1/api/numbers/unassign/",
                &admin,
                &json!({"number_id": n.id, "target_user_id": r.id}),
            )
            .await;
        assert_answer(
            (status, &body),
            (200, &ok(Lang::Fa, Value::Null)),
            "unassign/",
        );
        let (status, body) = app.get("/api/number/numbers/?page=1", &admin).await;
        assert_eq!(status, 200);
        // An administrator holds every subscribed number.
        assert_eq!(body["meta"]["total"], json!(1), "{body}");
        let (status, body) = app
            .post("/api/acl/auth/check_token/", &admin, &json!({}))
            .await;
        assert_eq!((status, &body["data"]["user_name"]), (200, &json!("admin")));
    }
    }
}

// ---------------------------------------------------------- input semantics

/// The number's owner, a reseller beneath it, and the number; for the input
/// tests (ids fixed by the world, so the bodies can name them).
async fn grant_world(app: &TestApp) -> (String, i64, i64) {
    let (_, admin) = app.account("admin", None, false).await;
    let (r, _) = app.account("reseller", Some("admin"), true).await;
    let n = app.number("+989120000001", Some("admin")).await;
    (admin, n.id, r.id)
}

mod input {
    use super::*;

    crate::scenarios! {
    async fn integers_are_read_as_laravel_reads_them(app: TestApp) {
        let (admin, number, target) = grant_world(&app).await;
        // Accepted forms of the integer: each assigns, then unassigns.
        for given in [json!(number), json!(number.to_string()), json!(format!(" {number} ")),
            json!(number as f64), json!(format!("+{number}"))] {
            let body = json!({"number_id": given, "target_user_id": target, "send": true, "gets": "1"});
            let (status, got) = app.post(ASSIGN, &admin, &body).await;
            assert_answer((status, &got), (200, &ok(Lang::Fa, Value::Null)), &format!("assign {given}"));
            let body = json!({"number_id": given, "target_user_id": format!("{target} ")});
            let (status, got) = app.post(UNASSIGN, &admin, &body).await;
            assert_answer((status, &got), (200, &ok(Lang::Fa, Value::Null)), &format!("unassign {given}"));
        }
        // Refused forms: the integer error, and nothing changes.
        let before = app.history_len().await;
        // PHP reads the JSON number 10.0 as 10, but not the string "10.0".
        for given in [json!(format!("{number}.0")), json!(format!("0{number}")),
            json!(format!("{number}.5")), json!(10.5), json!("1e3"), json!("abc"),
            json!("0x1A"), json!("1 0"), json!(true), json!([number])] {
            let body = json!({"number_id": given, "target_user_id": target, "send": true, "gets": true});
            let (status, got) = app.post(ASSIGN, &admin, &body).await;
            assert_answer((status, &got), (422, &invalid(Lang::Fa, &[("number_id", Rule::Integer)])),
                &format!("assign {given}"));
        }
        // An empty or blank string is no value at all: `required` (with its pair).
        for given in [json!(""), json!("   ")] {
            let body = json!({"number_id": given, "target_user_id": target, "send": true, "gets": true});
            let (status, got) = app.post(ASSIGN, &admin, &body).await;
            assert_answer((status, &got), (422, &invalid(Lang::Fa, &[("number_id", Rule::Required), ("number", Rule::Required)])),
                &format!("assign {given:?}"));
        }
        assert_eq!(app.history_len().await, before);
    }

    async fn multipart_bodies_are_read_like_forms(app: TestApp) {
        let (admin, number, target) = grant_world(&app).await;
        let boundary = "----lkboundary7MA4YWxkTrZu0gW";
        let part = |name: &str, value: &str| {
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
        };
        let body = format!(
            "{}{}{}{}--{boundary}--\r\n",
            part("number_id", &number.to_string()),
            part("target_user_id", &target.to_string()),
            part("send", "1"),
            part("gets", "0"),
        );
        let ct = format!("multipart/form-data; boundary={boundary}");
        let res = app
            .raw(
                "POST",
                ASSIGN,
                &[("authorization", &admin), ("content-type", &ct)],
                body.as_bytes(),
            )
            .await;
        assert_answer(
            (res.status, &res.json()),
            (200, &ok(Lang::Fa, Value::Null)),
            "multipart assign",
        );
        let grants = grants(&app).await;
        assert!(
            grants
                .iter()
                .any(|g| g.0 == number && g.1 == target && g.3 && !g.4),
            "{grants:?}"
        );
        // The same validation as any body.
        let body = format!(
            "{}{}--{boundary}--\r\n",
            part("number_id", "abc"),
            part("target_user_id", &target.to_string())
        );
        let res = app
            .raw(
                "POST",
                UNASSIGN,
                &[("authorization", &admin), ("content-type", &ct)],
                body.as_bytes(),
            )
            .await;
        assert_answer(
            (res.status, &res.json()),
            (422, &invalid(Lang::Fa, &[("number_id", Rule::Integer)])),
            "multipart 422",
        );
        // A broken multipart body is a bad body, as broken JSON is.
        let res = app
            .raw(
                "POST",
                UNASSIGN,
                &[("authorization", &admin), ("content-type", &ct)],
                b"--nothing\r\n",
            )
            .await;
        assert_answer(
            (res.status, &res.json()),
            (400, &bad_body(Lang::Fa)),
            "broken multipart",
        );
        // A login as multipart.
        let body = format!(
            "{}{}--{boundary}--\r\n",
            part("username", "admin"),
            part("password", PASSWORD)
        );
        let res = app
            .raw("POST", LOGIN, &[("content-type", &ct)], body.as_bytes())
            .await;
        assert_eq!(res.status, 200, "{:?}", res.json());
    }

    async fn a_body_of_a_type_the_face_does_not_read_carries_no_fields(app: TestApp) {
        let (admin, number, target) = grant_world(&app).await;
        let body = format!(r#"{{"number_id": {number}, "target_user_id": {target}}}"#);
        for ct in ["text/plain", "application/xml", "image/png"] {
            let res = app
                .raw(
                    "POST",
                    UNASSIGN,
                    &[("authorization", &admin), ("content-type", ct)],
                    body.as_bytes(),
                )
                .await;
            let want = invalid(
                Lang::Fa,
                &[
                    ("number_id", Rule::Required),
                    ("target_user_id", Rule::Required),
                    ("number", Rule::Required),
                    ("target_user", Rule::Required),
                ],
            );
            assert_answer((res.status, &res.json()), (422, &want), ct);
        }
    }

    /// A username that cannot exist, whatever it holds (a NUL, which
    /// PostgreSQL text refuses), is a wrong login, never a 500.
    async fn a_login_with_any_username_is_answered(app: TestApp) {
        app.account("admin", None, false).await;
        let long = format!("x{}y", "\u{0}".repeat(300));
        for username in ["a\u{0}b", "کاربر\u{0}x", &long] {
            let body = json!({"username": username, "password": "Wrong-pass-1"});
            let (status, got) = app.call("POST", LOGIN, None, Some(&body)).await;
            assert_answer((status, &got), (422, &bad_login(Lang::Fa)), &format!("{username:?}"));
        }
    }

    async fn the_apikey_scheme_is_accepted_on_the_panel_face(app: TestApp) {
        let (_, admin) = app.account("admin", None, false).await;
        for scheme in ["apikey", "ApiKey", "APIKEY", "Bearer", "bearer"] {
            let auth = format!("{scheme} {admin}");
            let (status, body) = app.call("POST", CHECK_TOKEN, Some(&auth), None).await;
            assert_eq!(
                (status, &body["data"]["user_name"]),
                (200, &json!("admin")),
                "{scheme}"
            );
        }
        // The scheme word alone presents no key.
        let (status, body) = app.call("POST", CHECK_TOKEN, Some("apikey"), None).await;
        assert_answer(
            (status, &body),
            (401, &unauthenticated(Lang::Fa)),
            "apikey alone",
        );
    }

    async fn a_cellcast_uid_is_matched_whatever_its_case(app: TestApp) {
        let (_, _admin) = app.account("admin", None, false).await;
        let (user, key) = app.account("vnuser", Some("admin"), false).await;
        let _ = user;
        let n = app.number("+61400000001", Some("vnuser")).await;
        let upper = n.uid.to_ascii_uppercase();
        assert_ne!(upper, n.uid);
        let res = app
            .raw(
                "PUT",
                &format!("{VN}/unsubscribe/{upper}"),
                &[("authorization", &key)],
                b"",
            )
            .await;
        assert_answer(
            (res.status, &res.json()),
            (
                200,
                &vn_success(
                    "Virtual number has been unsubscribed successfully.",
                    json!({}),
                ),
            ),
            "upper-case uid",
        );
        let res = app
            .raw(
                "PUT",
                &format!("{VN}/unsubscribe/{upper}"),
                &[("authorization", &key)],
                b"",
            )
            .await;
        assert_answer(
            (res.status, &res.json()),
            (404, &vn_failure(404, "Virtual number not found")),
            "again",
        );
        // In a body too; the answer shows the lower-case form.
        let (_, buyer) = postpaid(&app, "buyer", Some("admin"), false).await;
        let pooled = pool_number(&app, "+61400000002", 100, 1000).await;
        let body = json!({"number": pooled.uid.to_ascii_uppercase()});
        let res = app
            .raw(
                "POST",
                &format!("{VN}/purchase-postpaid"),
                &[("authorization", &buyer), ("content-type", "application/json")],
                body.to_string().as_bytes(),
            )
            .await;
        assert_eq!(res.status, 200, "{:?}", res.json());
        assert_eq!(res.json()["data"]["_id"], json!(pooled.uid));
    }
    }
}
