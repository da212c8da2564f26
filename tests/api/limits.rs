//! The limits, over HTTP: body size, request timeout, login
//! throttling, the per-credential rate limit, JSON nesting, header sizes and
//! the security headers. Each refusal is in the face's own format.
//!
//! Most limits do not touch the database, so the tests that need limits of
//! their own run on SQLite only; the rest run on both backends. Login
//! budgets live in the database on PostgreSQL (shared by every instance),
//! so their tests run on both, and with two instances on PostgreSQL.

use std::time::Duration;

use linekeeper::http::limits::Limits;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::expect::*;
use crate::helpers::{Backend, TestApp};
use crate::vn_common::{VN, failure as vn_failure, postpaid};

/// Sends raw bytes on a fresh connection and reads until the server closes
/// it (or 5 s pass): the status and the JSON body, and the raw text.
async fn raw_exchange(app: &TestApp, request: &[u8]) -> (u16, Value, String) {
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    // The first answer's body (a second answer may follow on the connection).
    let length: usize = header(&text, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| b.as_bytes().get(..length))
        .map(|b| serde_json::from_slice(b).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    (status, body, text)
}

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    let head = raw.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn panel_too_many(lang: Lang) -> Value {
    failure(
        "429-1",
        match lang {
            Lang::Fa => "تعداد درخواست ها بیش از حد مجاز است",
            Lang::En => "Too many requests",
        },
    )
}

const PURCHASE: &str = "/api/v1/apiClient/virtual-number/purchase-postpaid";

async fn limited(limits: Limits) -> TestApp {
    TestApp::spawn_with(Backend::Sqlite, limits).await
}

// ---------------------------------------------------------------- body size

mod body_size {
    use super::*;

    crate::scenarios! {
        /// Over 64 KiB is a 413 in each face's format, however the size is told:
        /// chunked, or a Content-Length over the limit with a small body. A
        /// Content-Length smaller than what follows reads only what it declares.
        async fn bodies_over_the_limit_in_every_framing(app: TestApp) {
            let (_, admin) = app.account("admin", None, true).await;
            let (_, vn_key) = postpaid(&app, "buyer", Some("admin"), false).await;
            let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(70 * 1024));
            let vn_413 = vn_failure(413, "Request body is too large");

            // Chunked, on the virtual-number face (the panel's is in panel_input).
            let mut request = format!(
                "POST {PURCHASE} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {vn_key}\r\n\
                 transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            )
            .into_bytes();
            for chunk in big.as_bytes().chunks(8192) {
                request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                request.extend_from_slice(chunk);
                request.extend_from_slice(b"\r\n");
            }
            request.extend_from_slice(b"0\r\n\r\n");
            let (status, body, _) = raw_exchange(&app, &request).await;
            assert_eq!((status, body), (413, vn_413.clone()));

            // A Content-Length over the limit with a small body: refused on the
            // declaration, before waiting for bytes that will never come.
            for (path, token, want) in [
                (ASSIGN, admin.as_str(), too_large(Lang::Fa)),
                (PURCHASE, vn_key.as_str(), vn_413.clone()),
            ] {
                let request = format!(
                    "POST {path} HTTP/1.1\r\nhost: x\r\nauthorization: {token}\r\n\
                     content-type: application/json\r\ncontent-length: 1000000\r\n\
                     connection: close\r\n\r\n{{}}"
                );
                let (status, body, _) = raw_exchange(&app, request.as_bytes()).await;
                assert_eq!((status, body), (413, want), "{path}");
            }

            // A Content-Length shorter than the body: only the declared bytes are
            // the body (here not JSON: 400); the rest is not taken as a request
            // that could do anything.
            for (path, token, want) in [
                (ASSIGN, admin.as_str(), bad_body(Lang::Fa)),
                (PURCHASE, vn_key.as_str(), vn_failure(400, "Invalid JSON body")),
            ] {
                let request = format!(
                    "POST {path} HTTP/1.1\r\nhost: x\r\nauthorization: {token}\r\n\
                     content-type: application/json\r\ncontent-length: 5\r\n\r\n{big}"
                );
                let (status, body, _) = raw_exchange(&app, request.as_bytes()).await;
                assert_eq!((status, body), (400, want), "{path}");
            }
            let (status, _) = app.get(VN, &vn_key).await;
            assert_eq!(status, 200);
        }
    }
}

// ------------------------------------------------------------------ timeout

/// Headers that promise a body, then nothing: 408 in each face's format
/// once the (here 200 ms) timeout passes, and the connection is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_comes_is_a_408() {
    let app = limited(Limits {
        request_timeout: Duration::from_millis(200),
        ..Limits::default()
    })
    .await;
    let (_, admin) = app.account("admin", None, true).await;
    let (_, vn_key) = postpaid(&app, "buyer", Some("admin"), false).await;
    let panel_408 = |lang: Lang| {
        failure(
            "408-1",
            match lang {
                Lang::Fa => "زمان ارسال درخواست به پایان رسید",
                Lang::En => "The request took too long to arrive",
            },
        )
    };
    for (path, token, lang, want) in [
        (ASSIGN, admin.as_str(), "fa", panel_408(Lang::Fa)),
        (LOGIN, "", "en", panel_408(Lang::En)),
        (
            PURCHASE,
            vn_key.as_str(),
            "en",
            vn_failure(408, "Request timeout"),
        ),
    ] {
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\nauthorization: {token}\r\naccept-language: {lang}\r\n\
             content-type: application/json\r\ncontent-length: 50\r\n\r\n{{\"num"
        );
        let started = std::time::Instant::now();
        let (status, body, raw) = raw_exchange(&app, request.as_bytes()).await;
        assert_eq!((status, body), (408, want), "{path}");
        assert!(started.elapsed() >= Duration::from_millis(200), "{path}");
        assert_eq!(header(&raw, "connection"), Some("close"), "{path}");
    }
    // Requests that arrive whole are served as usual.
    let (status, _) = app.call("POST", CHECK_TOKEN, Some(&admin), None).await;
    assert_eq!(status, 200);
}

/// A request that arrived whole but is not answered in time is the server's
/// fault: 503. (The login throttle's wait, capped at 2 s, against a 1 s
/// timeout makes a handler slow on purpose.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_is_a_503() {
    let app = limited(Limits {
        request_timeout: Duration::from_secs(1),
        login_delay_step: Duration::from_secs(5),
        ..Limits::default()
    })
    .await;
    app.account("admin", None, true).await;
    for _ in 0..4 {
        assert_eq!(login_as(&app, "admin", "wrong-Pass1").await.0, 422);
    }
    let res = app
        .raw(
            "POST",
            LOGIN,
            &[
                ("content-type", "application/json"),
                ("accept-language", "en"),
            ],
            json!({"username": "admin", "password": PASSWORD})
                .to_string()
                .as_bytes(),
        )
        .await;
    assert_eq!(
        (res.status, res.json()),
        (
            503,
            failure("503-1", "The service is temporarily unavailable")
        )
    );
    let text = app.raw("GET", "/metrics", &[], b"").await;
    let text = String::from_utf8_lossy(&text.body).into_owned();
    assert!(
        text.lines()
            .any(|l| l == "linekeeper_requests_refused_total{reason=\"timeout\"} 1"),
        "{text}"
    );
}

// -------------------------------------------------------- login throttling

fn throttled_limits() -> Limits {
    Limits {
        login_window_secs: 60,
        login_max_per_user: 5,
        login_max_per_addr: 20,
        login_delay_step: Duration::from_millis(5),
        ..Limits::default()
    }
}

async fn login_as(app: &TestApp, username: &str, password: &str) -> (u16, Value, Option<String>) {
    let res = app
        .raw(
            "POST",
            LOGIN,
            &[("content-type", "application/json")],
            json!({"username": username, "password": password})
                .to_string()
                .as_bytes(),
        )
        .await;
    let retry = res.header("retry-after").map(str::to_owned);
    (res.status, res.json(), retry)
}

/// Five failures for a username, existing or not, and the sixth attempt is
/// refused (even with the right password) until the window ends; both
/// usernames are treated byte for byte alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_for_a_username_are_refused_with_429() {
    let app = limited(throttled_limits()).await;
    app.account("admin", None, true).await;
    app.account("testuser", Some("admin"), false).await;
    for username in ["testuser", "ghost"] {
        for i in 0..5 {
            let (status, body, retry) = login_as(&app, username, "wrong-Pass1").await;
            assert_eq!(
                (status, &body, retry),
                (422, &bad_login(Lang::Fa), None),
                "{username} {i}"
            );
        }
        app.clock.advance(10);
        for password in ["wrong-Pass1", PASSWORD] {
            let (status, body, retry) = login_as(&app, username, password).await;
            assert_eq!(
                (status, body, retry.as_deref()),
                (429, panel_too_many(Lang::Fa), Some("50")),
                "{username}"
            );
        }
    }
    // Another username from the same address is not refused (10 failures < 20).
    let (status, _, _) = login_as(&app, "admin", PASSWORD).await;
    assert_eq!(status, 200);
    // The window ends: the right password works again.
    app.clock.advance(50);
    let (status, body, _) = login_as(&app, "testuser", PASSWORD).await;
    assert_eq!(status, 200, "{body}");
}

/// A success clears the username's count; the address's count is of
/// failures, whatever the username, and refuses everyone from it at 20.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_resets_a_username_and_an_address_is_limited_too() {
    let app = limited(throttled_limits()).await;
    app.account("admin", None, true).await;
    app.account("testuser", Some("admin"), false).await;
    for _ in 0..4 {
        assert_eq!(login_as(&app, "testuser", "nope-Pass1").await.0, 422);
    }
    assert_eq!(login_as(&app, "testuser", PASSWORD).await.0, 200);
    for _ in 0..4 {
        assert_eq!(login_as(&app, "testuser", "nope-Pass1").await.0, 422);
    }
    // 8 failures so far from this address; 12 more under other names.
    for i in 0..12 {
        let (status, _, _) = login_as(&app, &format!("user{i}"), "nope-Pass1").await;
        assert_eq!(status, 422, "user{i}");
    }
    let (status, body, retry) = login_as(&app, "admin", PASSWORD).await;
    assert_eq!(
        (status, body, retry.is_some()),
        (429, panel_too_many(Lang::Fa), true)
    );
    app.clock.advance(60);
    assert_eq!(login_as(&app, "admin", PASSWORD).await.0, 200);
}

/// Sends one login per username, all at once (each on its own connection,
/// connected first, released together by a barrier); the statuses.
async fn logins_at_once(app: &TestApp, usernames: Vec<String>) -> Vec<u16> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(usernames.len()));
    let tasks: Vec<_> = usernames
        .into_iter()
        .map(|username| {
            let (addr, barrier) = (app.addr, barrier.clone());
            tokio::spawn(async move {
                let mut http = linekeeper::client::HttpClient::new(addr);
                let _ = http.request("GET", "/healthz", &[], b"").await;
                barrier.wait().await;
                let body = json!({"username": username, "password": "wrong-Pass1"});
                http.request(
                    "POST",
                    LOGIN,
                    &[("content-type", "application/json")],
                    body.to_string().as_bytes(),
                )
                .await
                .expect("request")
                .status
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

fn tally(statuses: &[u16]) -> (usize, usize) {
    let checked = statuses.iter().filter(|s| **s == 422).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + refused, statuses.len(), "{statuses:?}");
    (checked, refused)
}

/// Attempts take their place in the budgets when they start: of 150 wrong
/// logins sent at once from one address (the test server sees 127.0.0.1),
/// exactly the address's budget (20) get their password checked and the
/// rest are refused at once; of 150 for one username, its budget (5).
async fn parallel_attempts_cannot_overtake_a_budget(backend: Backend) {
    let app = TestApp::spawn_with(backend, throttled_limits()).await;
    app.account("admin", None, true).await;
    app.account("testuser", Some("admin"), false).await;
    let distinct = logins_at_once(&app, (0..150).map(|i| format!("user{i}")).collect()).await;
    assert_eq!(tally(&distinct), (20, 130));
    app.clock.advance(60);
    let one = logins_at_once(&app, vec!["testuser".to_owned(); 150]).await;
    assert_eq!(tally(&one), (5, 145));
    let (status, body, retry) = login_as(&app, "testuser", PASSWORD).await;
    assert_eq!(
        (status, body, retry.as_deref()),
        (429, panel_too_many(Lang::Fa), Some("60"))
    );
}

mod parallel_logins {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        parallel_attempts_cannot_overtake_a_budget(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        if crate::helpers::postgres_url().is_none() {
            eprintln!("skipped: TEST_DATABASE_URL is not set");
            return;
        }
        parallel_attempts_cannot_overtake_a_budget(Backend::Postgres).await;
    }
}

/// Two instances on one PostgreSQL database.
mod instances {
    use std::time::Instant;

    use super::*;

    async fn two(limits: Limits) -> Option<(TestApp, TestApp)> {
        if crate::helpers::postgres_url().is_none() {
            eprintln!("skipped: TEST_DATABASE_URL is not set");
            return None;
        }
        let a = TestApp::spawn_with(Backend::Postgres, limits.clone()).await;
        let b = a.another_instance(limits).await;
        Some((a, b))
    }

    /// One budget across instances: failures for a username alternate
    /// between them, and the fifth is the last that is checked, whichever
    /// instance takes it. A refused attempt costs one statement, a failed
    /// one a statement more than the login's own read.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_login_budget_is_shared_by_every_instance() {
        let Some((a, b)) = two(throttled_limits()).await else {
            return;
        };
        a.account("admin", None, true).await;
        a.account("testuser", Some("admin"), false).await;
        // The routing tables' keepers read every 200 ms: not while this
        // counts statements.
        let (_qa, _qb) = (a.core.quiet_routes().await, b.core.quiet_routes().await);
        for i in 0..5 {
            let app = if i % 2 == 0 { &a } else { &b };
            let before = app.core.store_statements();
            let (status, body, retry) = login_as(app, "testuser", "wrong-Pass1").await;
            assert_eq!(
                (status, &body, retry),
                (422, &bad_login(Lang::Fa), None),
                "{i}"
            );
            // The claim, and the login's read (begin, account, hash, commit).
            assert_eq!(app.core.store_statements() - before, 5, "failure {i}");
        }
        for (app, password) in [(&b, "wrong-Pass1"), (&a, PASSWORD), (&b, PASSWORD)] {
            let before = app.core.store_statements();
            let (status, body, retry) = login_as(app, "testuser", password).await;
            assert_eq!(
                (status, body, retry.as_deref()),
                (429, panel_too_many(Lang::Fa), Some("60"))
            );
            assert_eq!(app.core.store_statements() - before, 1, "a refusal");
        }
        // A success: the claim, the read, the token's write (begin, token,
        // history, commit) and one statement to give the strikes back.
        let before = b.core.store_statements();
        assert_eq!(login_as(&b, "admin", PASSWORD).await.0, 200);
        assert_eq!(b.core.store_statements() - before, 10, "a success");
        // The window ends for every instance at once.
        a.clock.advance(60);
        assert_eq!(login_as(&b, "testuser", PASSWORD).await.0, 200);
    }

    /// Polls `app` with `token` every 10 ms for up to 2 s until it is
    /// refused; how long that took.
    async fn refused_within(app: &TestApp, token: &str) -> Duration {
        let started = Instant::now();
        loop {
            let (status, body) = app.call("POST", CHECK_TOKEN, Some(token), None).await;
            if status == 401 {
                return started.elapsed();
            }
            assert_eq!(status, 200, "{body}");
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "still accepted after 2 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A logout on one instance, a key revoked or an account suspended
    /// there, reach the other's credential cache (5 s) at once: NOTIFY at
    /// commit, heard by each instance's listener.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_revocation_reaches_every_instance_at_once() {
        let Some((a, b)) = two(Limits::default()).await else {
            return;
        };
        a.account("admin", None, true).await;
        let (_, user_key) = a.account("testuser", Some("admin"), false).await;
        let (_, body, _) = login_as(&a, "testuser", PASSWORD).await;
        let token = body["data"]["token"].as_str().expect("token").to_owned();
        // Cached on B.
        assert_eq!(b.call("POST", CHECK_TOKEN, Some(&token), None).await.0, 200);
        assert_eq!(a.call("POST", LOGOUT, Some(&token), None).await.0, 200);
        let took = refused_within(&b, &token).await;
        eprintln!("the logout reached the other instance in {took:?}");
        assert!(took < Duration::from_secs(1), "logout took {took:?}");

        // A suspension, made through A's core, refuses the account's key on B.
        assert_eq!(
            b.call("POST", CHECK_TOKEN, Some(&user_key), None).await.0,
            200
        );
        a.core
            .set_suspended("testuser", true, "test")
            .await
            .expect("suspend");
        let took = refused_within(&b, &user_key).await;
        assert!(took < Duration::from_secs(1), "suspension took {took:?}");

        // A revoked key.
        let key = a.core.create_key("admin", "test").await.expect("key");
        assert_eq!(
            b.call("POST", CHECK_TOKEN, Some(key.expose()), None)
                .await
                .0,
            200
        );
        assert!(a.core.revoke(&key, "test").await.expect("revoke"));
        let took = refused_within(&b, key.expose()).await;
        assert!(took < Duration::from_secs(1), "revocation took {took:?}");
    }
}

// ------------------------------------------------------------- rate limit

/// A server that allows a credential 3 requests at once and 1 a second,
/// and an administrator's key.
async fn three_a_second_at_most() -> (TestApp, String) {
    let app = limited(Limits {
        rate_per_sec: 1,
        rate_burst: 3,
        ..Limits::default()
    })
    .await;
    let (_, admin) = app.account("admin", None, true).await;
    (app, admin)
}

/// A credential gets its burst, then 429 with `Retry-After` in each face's
/// format; another credential has its own bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_credential_is_rate_limited() {
    let (app, admin) = three_a_second_at_most().await;
    let (_, vn_key) = postpaid(&app, "buyer", Some("admin"), false).await;
    for _ in 0..3 {
        assert_eq!(
            app.call("POST", CHECK_TOKEN, Some(&admin), None).await.0,
            200
        );
    }
    let res = app
        .raw(
            "POST",
            CHECK_TOKEN,
            &[("authorization", &admin), ("accept-language", "en")],
            b"",
        )
        .await;
    assert_eq!(
        (res.status, res.json(), res.header("retry-after")),
        (429, panel_too_many(Lang::En), Some("1"))
    );
    for _ in 0..3 {
        assert_eq!(app.get(VN, &vn_key).await.0, 200);
    }
    let res = app
        .raw(
            "GET",
            VN,
            &[("authorization", &format!("Bearer {vn_key}"))],
            b"",
        )
        .await;
    assert_eq!(
        (res.status, res.json(), res.header("retry-after")),
        (429, vn_failure(429, "Too many requests"), Some("1"))
    );
}

/// The native face tells a credential's bucket on each answer
/// (`RateLimit-Limit`, `-Remaining`, `-Reset`: the burst, what is left, the
/// seconds until it is full again), the 429 included; the other faces, whose
/// clients know nothing of them, and an answer with no credential, do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_native_face_tells_the_rate_limit_in_its_headers() {
    let (app, admin) = three_a_second_at_most().await;
    let bearer = format!("Bearer {admin}");
    let auth = [("authorization", bearer.as_str())];
    let me = || app.raw("GET", "/lk/v1/me", &auth, b"");
    let told = |res: &linekeeper::client::HttpResponse| {
        ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"]
            .map(|h| res.header(h).map(str::to_owned))
    };
    let quota = |limit: &str, remaining: &str, reset: &str| {
        [
            Some(limit.to_owned()),
            Some(remaining.to_owned()),
            Some(reset.to_owned()),
        ]
    };
    for (remaining, reset) in [("2", "1"), ("1", "2"), ("0", "3")] {
        let res = me().await;
        assert_eq!(
            (res.status, told(&res)),
            (200, quota("3", remaining, reset))
        );
    }
    let res = me().await;
    assert_eq!(
        (
            res.status,
            res.json(),
            res.header("retry-after"),
            told(&res)
        ),
        (
            429,
            json!({"type": "/lk/v1/problems/rate-limited", "title": "Too many requests",
                "status": 429, "detail": "Too many requests; retry after 1 s."}),
            Some("1"),
            quota("3", "0", "3")
        )
    );
    let none = [None, None, None];
    let res = app
        .raw("POST", CHECK_TOKEN, &[("authorization", &admin)], b"")
        .await;
    assert_eq!((res.status, told(&res)), (429, none.clone()));
    let res = app.raw("GET", "/lk/v1/me", &[], b"").await;
    assert_eq!((res.status, told(&res)), (401, none));
}

/// `--rate-limit-per-sec 0` turns the limit off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_of_zero_is_no_limit() {
    let app = limited(Limits {
        rate_per_sec: 0,
        rate_burst: 1,
        ..Limits::default()
    })
    .await;
    let (_, admin) = app.account("admin", None, true).await;
    for _ in 0..50 {
        assert_eq!(
            app.call("POST", CHECK_TOKEN, Some(&admin), None).await.0,
            200
        );
    }
}

// ------------------------------------------------------------ JSON depth

fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

mod json_depth {
    use super::*;

    crate::scenarios! {
        /// Nesting beyond 32 levels is a 400 in each face's format, read without
        /// recursion, however deep; 32 levels are read as usual.
        async fn json_nested_too_deep_is_a_400(app: TestApp) {
            let (_, admin) = app.account("admin", None, true).await;
            let (_, vn_key) = postpaid(&app, "buyer", Some("admin"), false).await;
            // The object is one level: 31 more make 32.
            let ok = format!(r#"{{"number_id": {}, "target_user_id": 1}}"#, nested(31));
            let (status, body) = send_raw(&app, ASSIGN, &admin, ok.as_bytes()).await;
            assert_eq!(status, 422, "{body}");
            for depth in [32, 1000, 30_000] {
                let deep = format!(r#"{{"number_id": {}, "target_user_id": 1}}"#, nested(depth));
                let (status, body) = send_raw(&app, ASSIGN, &admin, deep.as_bytes()).await;
                assert_eq!((status, body), (400, bad_body(Lang::Fa)), "panel {depth}");
                let deep = format!(r#"{{"number": {}}}"#, nested(depth));
                let (status, body) = send_raw(&app, PURCHASE, &vn_key, deep.as_bytes()).await;
                assert_eq!(
                    (status, body),
                    (400, vn_failure(400, "Invalid JSON body")),
                    "vn {depth}"
                );
            }
        }
    }
}

async fn send_raw(app: &TestApp, path: &str, token: &str, body: &[u8]) -> (u16, Value) {
    let res = app
        .raw(
            "POST",
            path,
            &[
                ("content-type", "application/json"),
                ("authorization", token),
            ],
            body,
        )
        .await;
    (res.status, res.json())
}

// --------------------------------------------------------- header sizes

mod headers {
    use super::*;

    crate::scenarios! {
        /// Oversized or too many headers are refused by hyper itself (431, no
        /// body of either face), and the server goes on serving.
        async fn oversized_headers_get_431_and_no_crash(app: TestApp) {
            let huge = format!(
                "GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
                "a".repeat(1024 * 1024)
            );
            let (status, _, _) = raw_exchange(&app, huge.as_bytes()).await;
            assert_eq!(status, 431);
            let mut many = String::from("GET /healthz HTTP/1.1\r\nhost: x\r\n");
            for i in 0..200 {
                many.push_str(&format!("x-h{i}: v\r\n"));
            }
            many.push_str("\r\n");
            let (status, _, _) = raw_exchange(&app, many.as_bytes()).await;
            assert_eq!(status, 431);
            let res = app.raw("GET", "/healthz", &[], b"").await;
            assert_eq!(res.status, 200);
        }

        /// Every answer carries the security headers, and none names the server.
        async fn security_headers_on_every_answer(app: TestApp) {
            let (_, admin) = app.account("admin", None, true).await;
            let bearer = format!("Bearer {admin}");
            let want = [
                ("x-content-type-options", "nosniff"),
                ("x-frame-options", "DENY"),
                ("referrer-policy", "no-referrer"),
                (
                    "content-security-policy",
                    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
                ),
                ("cache-control", "no-store"),
            ];
            for (method, path, auth) in [
                ("POST", CHECK_TOKEN, Some(admin.as_str())),
                ("POST", CHECK_TOKEN, None),
                ("GET", VN, Some(bearer.as_str())),
                ("GET", "/api/v1/apiClient/virtual-number/nothing", None),
                ("GET", "/no/such/route", None),
                ("GET", "/healthz", None),
                ("GET", "/readyz", None),
                ("GET", "/metrics", None),
            ] {
                let headers: Vec<(&str, &str)> =
                    auth.map(|a| vec![("authorization", a)]).unwrap_or_default();
                let res = app.raw(method, path, &headers, b"").await;
                for (name, value) in want {
                    assert_eq!(res.header(name), Some(value), "{method} {path} {name}");
                }
                assert_eq!(res.header("server"), None, "{method} {path}");
                assert!(res.header("x-request-id").is_some(), "{method} {path}");
            }
        }

        /// Request ids are the server's: one a client sends is replaced, and
        /// each answer has its own, `<process prefix>-<hex counter>`.
        async fn request_ids_are_made_by_the_server(app: TestApp) {
            let mut ids = Vec::new();
            for path in ["/healthz", "/api/v1/apiClient/virtual-number/nothing", "/no/such/route"] {
                let res = app.raw("GET", path, &[("x-request-id", "mine")], b"").await;
                let id = res.header("x-request-id").expect("x-request-id").to_owned();
                let (prefix, counter) = id.split_once('-').expect("prefix-counter");
                assert_eq!(prefix.len(), 12, "{id}");
                assert!(
                    [prefix, counter].iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_hexdigit())),
                    "{id}"
                );
                ids.push(id);
            }
            ids.dedup();
            assert_eq!(ids.len(), 3, "{ids:?}");
        }
    }
}
