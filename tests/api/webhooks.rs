//! Issue 17: webhook endpoints, signed deliveries from the outbox, the
//! delivery rules (order, retries, timeouts, disabling, redelivery) against
//! a real local receiver, and several instances sharing the work.
//!
//! Time-driven rules run on the manual clock: a test moves it and runs a
//! dispatcher pass itself (most apps here run no background dispatcher),
//! so nothing waits for time to pass.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use linekeeper::core::webhooks::WebhookSettings;
use linekeeper::faces::native::dispatch::Dispatcher;
use linekeeper::store::Number;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::helpers::{Backend, T0, TestApp};
use crate::native_common::{bearer, delete, get, not_found, problem, send};

/// How the receiver answers one request.
#[derive(Clone, Debug)]
struct Reply {
    status: u16,
    /// Real time before answering (a slow receiver).
    delay: Duration,
    body: String,
    /// Held until notified (a receiver that has the request and has not
    /// answered yet).
    hold: Option<Arc<Notify>>,
}

impl Reply {
    fn status(status: u16) -> Reply {
        Reply {
            status,
            delay: Duration::ZERO,
            body: format!("answer {status}"),
            hold: None,
        }
    }
}

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Got {
    id: String,
    timestamp: i64,
    signature: String,
    raw: Vec<u8>,
    body: Value,
}

impl Got {
    fn event_id(&self) -> i64 {
        self.body["data"]["id"].as_i64().expect("event id")
    }
    fn number_id(&self) -> Option<i64> {
        self.body["data"]["number_id"].as_i64()
    }
}

#[derive(Default)]
struct Inbox {
    got: Mutex<Vec<Got>>,
    plan: Mutex<VecDeque<Reply>>,
    fallback: Mutex<Option<Reply>>,
    arrived: Notify,
}

/// A tiny HTTP server on 127.0.0.1 that records every request.
struct Receiver {
    url: String,
    inbox: Arc<Inbox>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(
    State(inbox): State<Arc<Inbox>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let got = Got {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp").parse().unwrap_or(0),
        signature: header("webhook-signature"),
        raw: body.to_vec(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    let reply = {
        let next = inbox.plan.lock().unwrap().pop_front();
        next.or_else(|| inbox.fallback.lock().unwrap().clone())
            .unwrap_or_else(|| Reply::status(200))
    };
    inbox.got.lock().unwrap().push(got);
    inbox.arrived.notify_waiters();
    if let Some(hold) = &reply.hold {
        hold.notified().await;
    }
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    (
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK),
        reply.body,
    )
}

impl Receiver {
    async fn start() -> Receiver {
        let inbox = Arc::new(Inbox::default());
        let app = Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://{addr}/hook"),
            inbox,
            task,
        }
    }

    /// The next answers, in order; then `fallback` (200 if none).
    fn plan(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inbox.plan.lock().unwrap().extend(replies);
    }

    fn fallback(&self, reply: Reply) {
        *self.inbox.fallback.lock().unwrap() = Some(reply);
    }

    fn got(&self) -> Vec<Got> {
        self.inbox.got.lock().unwrap().clone()
    }

    /// Waits (10 s at most) until `n` requests have arrived.
    async fn wait_for(&self, n: usize) -> Vec<Got> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let arrived = self.inbox.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            let got = self.got();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("the receiver got {} requests, not {n}: {got:#?}", got.len());
            }
        }
    }
}

/// Test settings without a background dispatcher: the test runs passes.
fn manual() -> WebhookSettings {
    WebhookSettings {
        dispatch: false,
        ..TestApp::webhooks()
    }
}

async fn endpoint(app: &TestApp, key: &str, url: &str, types: Value) -> (i64, String) {
    let (status, body) = send(
        app,
        "POST",
        "/lk/v1/webhooks",
        key,
        json!({"url": url, "types": types}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    (
        body["id"].as_i64().expect("id"),
        body["secret"].as_str().expect("secret").to_owned(),
    )
}

/// Passes until one does nothing.
async fn drain(d: &Dispatcher) {
    for _ in 0..100 {
        if d.pass().await.expect("pass") == 0 {
            return;
        }
    }
    panic!("the dispatcher never ran out of work");
}

/// The order tests' scene: a reseller (key `rk`) holding numbers A and B,
/// which it grants to its child, and the administrator's endpoint for grant
/// events.
struct Scene {
    admin: String,
    rk: String,
    child: i64,
    a: Number,
    b: Number,
    endpoint: i64,
}

impl Scene {
    async fn new(app: &TestApp, url: &str) -> Scene {
        let (_, admin) = app.account("admin", None, false).await;
        let (_, rk) = app.account("reseller", Some("admin"), true).await;
        let (child, _) = app.account("child", Some("reseller"), false).await;
        let a = app.number("+983000505", Some("reseller")).await;
        let b = app.number("+983000506", Some("reseller")).await;
        let (endpoint, _) =
            endpoint(app, &admin, url, json!(["grant.created", "grant.removed"])).await;
        Scene {
            admin,
            rk,
            child: child.id,
            a,
            b,
            endpoint,
        }
    }

    /// The child's grant on number `n`.
    fn grant(&self, n: i64) -> String {
        format!("/lk/v1/numbers/{n}/grants/{}", self.child)
    }
}

async fn log_of(app: &TestApp, key: &str, id: i64) -> Vec<Value> {
    let (status, body) = get(
        app,
        &format!("/lk/v1/webhooks/{id}/deliveries?limit=500"),
        key,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().expect("items").clone()
}

fn verify(secret: &str, got: &Got) {
    let wh = standardwebhooks::Webhook::new(secret).expect("the secret is the crate's format");
    let want = wh.sign(&got.id, got.timestamp, &got.raw).expect("sign");
    assert_eq!(got.signature, want, "signature of {}", got.id);
}

fn set_clock(app: &TestApp, t: i64) {
    app.clock.advance(t - app.core.now());
}

crate::scenarios! {
async fn endpoints_are_created_shown_once_changed_and_deleted(app: TestApp) {
    let (_, admin) = app.account("admin", None, false).await;
    let (_, other) = app.account("other", Some("admin"), true).await;
    let (status, created) = send(&app, "POST", "/lk/v1/webhooks", &admin, json!({
        "url": "http://127.0.0.1:9/hook",
        "types": ["grant.removed", "grant.created"],
        "description": "billing",
    })).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_") && secret.len() == 6 + 32, "{secret}");
    standardwebhooks::Webhook::new(&secret).expect("a secret the reference library reads");
    let shown = json!({
        "id": id,
        "url": "http://127.0.0.1:9/hook",
        "types": ["grant.created", "grant.removed"],
        "description": "billing",
        "enabled": true,
        "disabled_at": null,
        "disabled_reason": null,
        "failing_since": null,
        "created_at": "2026-01-01T00:00:00Z",
    });
    let mut with_secret = shown.clone();
    with_secret["secret"] = json!(secret);
    assert_eq!(created, with_secret);

    // Never shown again.
    assert_eq!(get(&app, &format!("/lk/v1/webhooks/{id}"), &admin).await, (200, shown.clone()));
    assert_eq!(
        get(&app, "/lk/v1/webhooks", &admin).await,
        (200, json!({"items": [shown.clone()], "next_cursor": null}))
    );

    // Another account sees nothing of it.
    let gone = not_found("No such webhook.");
    assert_eq!(get(&app, &format!("/lk/v1/webhooks/{id}"), &other).await, (404, gone.clone()));
    assert_eq!(send(&app, "PATCH", &format!("/lk/v1/webhooks/{id}"), &other, json!({"enabled": false})).await, (404, gone.clone()));
    assert_eq!(delete(&app, &format!("/lk/v1/webhooks/{id}"), &other).await, (404, gone.clone()));
    assert_eq!(get(&app, &format!("/lk/v1/webhooks/{id}/deliveries"), &other).await, (404, gone.clone()));
    assert_eq!(get(&app, "/lk/v1/webhooks", &other).await, (200, json!({"items": [], "next_cursor": null})));
    assert_eq!(get(&app, "/lk/v1/webhooks/abc", &admin).await, (404, gone.clone()));

    // Changed, disabled by its owner, enabled again.
    let (status, changed) = send(&app, "PATCH", &format!("/lk/v1/webhooks/{id}"), &admin, json!({
        "types": ["*"], "enabled": false, "description": "all",
    })).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["types"], json!(["*"]));
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["disabled_reason"], "disabled by its owner");
    assert_eq!(changed["disabled_at"], "2026-01-01T00:00:00Z");
    let (_, again) = send(&app, "PATCH", &format!("/lk/v1/webhooks/{id}"), &admin, json!({"enabled": true})).await;
    assert_eq!((again["enabled"].clone(), again["disabled_reason"].clone()), (json!(true), Value::Null));

    assert_eq!(app.call("DELETE", &format!("/lk/v1/webhooks/{id}"), Some(&bearer(&admin)), None).await.0, 204);
    assert_eq!(get(&app, &format!("/lk/v1/webhooks/{id}"), &admin).await, (404, gone));
}

async fn bad_endpoints_are_refused_with_the_field_and_change_nothing(app: TestApp) {
    let (_, admin) = app.account("admin", None, false).await;
    let invalid = |errors: Value| {
        let mut p = problem("validation", "Validation failed", 422, "One or more fields are invalid.");
        p["errors"] = errors;
        p
    };
    for (body, errors) in [
        (json!({}), json!({"url": ["is required"]})),
        (json!({"url": "ftp://example.com/"}), json!({"url": ["must be an http:// or https:// URL"]})),
        (json!({"url": "http://u:p@example.com/"}), json!({"url": ["must not carry a user name or password"]})),
        (json!({"url": 5}), json!({"url": ["must be a string"]})),
        (json!({"url": "http://0.0.0.0/"}), json!({"url": ["0.0.0.0 is not an address a receiver can be at"]})),
        (
            json!({"url": "https://example.com/", "types": ["grant.nope"]}),
            json!({"types": ["\"grant.nope\" is not an event type"]}),
        ),
        (json!({"url": "https://example.com/", "types": []}), json!({"types": ["must name at least one event type, or \"*\""]})),
        (json!({"url": "https://example.com/", "types": "*"}), json!({"types": ["must be a list of event types"]})),
    ] {
        assert_eq!(send(&app, "POST", "/lk/v1/webhooks", &admin, body.clone()).await, (422, invalid(errors)), "{body}");
    }
    assert_eq!(get(&app, "/lk/v1/webhooks", &admin).await, (200, json!({"items": [], "next_cursor": null})));

    // Private addresses need the operator's setting.
    let strict = TestApp::spawn_webhooks(app.backend, WebhookSettings { allow_private: false, ..manual() }).await;
    let (_, key) = strict.account("admin", None, false).await;
    for url in ["http://127.0.0.1:8080/", "http://localhost/", "http://10.0.0.1/", "http://169.254.169.254/", "http://[::1]/"] {
        let (status, body) = send(&strict, "POST", "/lk/v1/webhooks", &key, json!({"url": url})).await;
        assert_eq!(status, 422, "{url}: {body}");
        assert!(body["errors"]["url"][0].as_str().unwrap().contains("address"), "{body}");
    }
    let (status, _) = send(&strict, "POST", "/lk/v1/webhooks", &key, json!({"url": "https://hooks.example.com/in"})).await;
    assert_eq!(status, 201);
}

async fn deliveries_are_signed_per_standard_webhooks_and_logged(app: TestApp) {
    let rx = Receiver::start().await;
    let (_, admin) = app.account("admin", None, false).await;
    let (id, secret) = endpoint(&app, &admin, &rx.url, json!(["*"])).await;
    let n = app.number("+983000505", None).await;
    let d = Dispatcher::named(app.core.clone(), "test");
    drain(&d).await;
    let got = rx.wait_for(1).await;
    assert_eq!(got.len(), 1);
    let g = &got[0];
    verify(&secret, g);
    assert_eq!(g.timestamp, T0);
    assert_eq!(g.id, format!("evt_{}", g.event_id()));
    assert_eq!(g.body["type"], "number.added");
    assert_eq!(g.body["timestamp"], "2026-01-01T00:00:00Z");
    assert_eq!(g.body["data"]["number"], "+983000505");
    assert_eq!(g.body["data"]["number_id"], n.id);
    // The feed shows the same event.
    let (_, feed) = get(&app, &format!("/lk/v1/events?after={}&wait=0", g.event_id() - 1), &admin).await;
    assert_eq!(feed["items"][0], g.body["data"]);

    let log = log_of(&app, &admin, id).await;
    assert_eq!(log.len(), 1);
    let entry = &log[0];
    assert_eq!(entry["state"], "delivered");
    assert_eq!(entry["event_type"], "number.added");
    assert_eq!(entry["attempts"], 1);
    assert_eq!(entry["next_attempt_at"], Value::Null);
    assert_eq!(entry["done_at"], "2026-01-01T00:00:00Z");
    let attempt = &entry["log"][0];
    assert_eq!(attempt["attempt"], 1);
    assert_eq!(attempt["status"], 200);
    assert_eq!(attempt["response"], "answer 200");
    assert_eq!(attempt["error"], Value::Null);
    assert!(attempt["latency_ms"].as_i64().unwrap() >= 0);
    // Nothing more to send.
    assert_eq!(d.pass().await.unwrap(), 0);
}

async fn the_background_dispatcher_delivers_what_commits(app: TestApp) {
    // This app runs the dispatcher of `launch`, woken by commits.
    let app = TestApp::spawn_webhooks(app.backend, WebhookSettings {
        dispatch: true,
        ..TestApp::webhooks()
    }).await;
    let rx = Receiver::start().await;
    let (_, admin) = app.account("admin", None, false).await;
    let (_, secret) = endpoint(&app, &admin, &rx.url, json!(["number.added"])).await;
    app.number("+983000505", None).await;
    app.account("someone", Some("admin"), false).await;
    app.number("+983000506", None).await;
    let got = rx.wait_for(2).await;
    let types: Vec<&str> = got.iter().map(|g| g.body["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["number.added", "number.added"]);
    let numbers: Vec<&str> = got.iter().map(|g| g.body["data"]["number"].as_str().unwrap()).collect();
    assert_eq!(numbers, ["+983000505", "+983000506"]);
    for g in &got {
        verify(&secret, g);
    }
}

async fn failures_are_retried_with_backoff_on_the_clock(app: TestApp) {
    let rx = Receiver::start().await;
    rx.plan([Reply::status(500), Reply::status(502)]);
    let (_, admin) = app.account("admin", None, false).await;
    let (id, _) = endpoint(&app, &admin, &rx.url, json!(["*"])).await;
    app.number("+983000505", None).await;
    let d = Dispatcher::named(app.core.clone(), "test");
    drain(&d).await;
    assert_eq!(rx.got().len(), 1);
    let log = log_of(&app, &admin, id).await;
    assert_eq!(log[0]["state"], "pending");
    assert_eq!(log[0]["log"][0]["status"], 500);
    assert_eq!(log[0]["log"][0]["response"], "answer 500");
    // The first retry waits 5 s ± 20 %: not before 4 s.
    let next = linekeeper::domain::parse_rfc3339(log[0]["next_attempt_at"].as_str().unwrap()).unwrap();
    assert!((T0 + 4..=T0 + 6).contains(&next), "{next}");
    let (_, shown) = get(&app, &format!("/lk/v1/webhooks/{id}"), &admin).await;
    assert_eq!(shown["failing_since"], "2026-01-01T00:00:00Z");
    set_clock(&app, next - 1);
    assert_eq!(d.pass().await.unwrap(), 0);
    assert_eq!(rx.got().len(), 1);
    set_clock(&app, next);
    drain(&d).await;
    assert_eq!(rx.got().len(), 2);
    // The second waits 15 s ± 20 %.
    let log = log_of(&app, &admin, id).await;
    let next2 = linekeeper::domain::parse_rfc3339(log[0]["next_attempt_at"].as_str().unwrap()).unwrap();
    assert!((next + 12..=next + 18).contains(&next2), "{next2} after {next}");
    set_clock(&app, next2);
    drain(&d).await;
    let got = rx.got();
    assert_eq!(got.len(), 3);
    assert!(got.iter().all(|g| g.id == got[0].id), "every attempt is the same message");
    let log = log_of(&app, &admin, id).await;
    assert_eq!(log[0]["state"], "delivered");
    let statuses: Vec<&Value> = log[0]["log"].as_array().unwrap().iter().map(|a| &a["status"]).collect();
    assert_eq!(statuses, [&json!(500), &json!(502), &json!(200)]);
    let (_, shown) = get(&app, &format!("/lk/v1/webhooks/{id}"), &admin).await;
    assert_eq!(shown["failing_since"], Value::Null);
}

async fn a_later_event_for_a_number_waits_for_the_earlier_one(app: TestApp) {
    let rx = Receiver::start().await;
    let scene = Scene::new(&app, &rx.url).await;
    let (admin, rk, a, b, id) = (scene.admin.clone(), scene.rk.clone(), &scene.a, &scene.b, scene.endpoint);
    let all = json!({"send": true, "gets": true});
    let grant = |n: i64| scene.grant(n);
    // A's first event fails; its second waits; B's goes on.
    rx.plan([Reply::status(503)]);
    assert_eq!(send(&app, "PUT", &grant(a.id), &rk, all.clone()).await.0, 201);
    assert_eq!(send(&app, "DELETE", &grant(a.id), &rk, json!({})).await.0, 200);
    let d = Dispatcher::named(app.core.clone(), "test");
    drain(&d).await;
    assert_eq!(rx.got().len(), 1, "only A's first was sent");
    assert_eq!(send(&app, "PUT", &grant(b.id), &rk, all.clone()).await.0, 201);
    drain(&d).await;
    let got = rx.got();
    let seen: Vec<(Option<i64>, &str)> = got.iter().map(|g| (g.number_id(), g.body["type"].as_str().unwrap())).collect();
    assert_eq!(seen, [(Some(a.id), "grant.created"), (Some(b.id), "grant.created")]);
    let log = log_of(&app, &admin, id).await;
    let states: Vec<&str> = log.iter().map(|d| d["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["delivered", "pending", "pending"], "newest first: B's, A's second, A's first");
    assert_eq!(log[1]["attempts"], 0, "A's second was never tried");

    // Any number of passes before the retry is due change nothing.
    assert_eq!(d.pass().await.unwrap(), 0);
    app.clock.advance(7);
    drain(&d).await;
    let got = rx.got();
    let on_a: Vec<(i64, &str)> = got.iter().filter(|g| g.number_id() == Some(a.id)).map(|g| (g.event_id(), g.body["type"].as_str().unwrap())).collect();
    assert_eq!(on_a.len(), 3);
    assert_eq!(on_a[0], on_a[1], "the failed one again first");
    assert_eq!(on_a[2].1, "grant.removed");
    assert!(on_a[1].0 < on_a[2].0);
    let log = log_of(&app, &admin, id).await;
    assert!(log.iter().all(|d| d["state"] == "delivered"), "{log:#?}");
}

async fn timeouts_slow_answers_and_large_answers(app: TestApp) {
    let app = TestApp::spawn_webhooks(app.backend, WebhookSettings {
        timeout: Duration::from_millis(300),
        ..manual()
    }).await;
    let rx = Receiver::start().await;
    rx.plan([
        Reply { delay: Duration::from_millis(1500), ..Reply::status(200) },
        Reply { body: "x".repeat(200_000), ..Reply::status(200) },
    ]);
    let (_, admin) = app.account("admin", None, false).await;
    let (id, _) = endpoint(&app, &admin, &rx.url, json!(["number.added"])).await;
    app.number("+983000505", None).await;
    let d = Dispatcher::named(app.core.clone(), "test");
    let started = std::time::Instant::now();
    drain(&d).await;
    assert!(started.elapsed() < Duration::from_millis(1400), "the timeout cut the slow answer short");
    let log = log_of(&app, &admin, id).await;
    let first = &log[0]["log"][0];
    assert_eq!(first["status"], Value::Null);
    assert_eq!(first["error"], "no complete answer within 300 ms");
    assert!(first["latency_ms"].as_i64().unwrap() >= 300);
    assert_eq!(log[0]["state"], "pending");
    app.clock.advance(7);
    drain(&d).await;
    let log = log_of(&app, &admin, id).await;
    assert_eq!(log[0]["state"], "delivered");
    let second = &log[0]["log"][1];
    assert_eq!(second["status"], 200);
    assert_eq!(second["response"], "x".repeat(1024), "the log keeps the answer's first 1 KiB");
    // A receiver that is not there.
    let (gone, _) = endpoint(&app, &admin, "http://127.0.0.1:9/hook", json!(["number.added"])).await;
    app.number("+983000506", None).await;
    drain(&d).await;
    let log = log_of(&app, &admin, gone).await;
    let error = log[0]["log"][0]["error"].as_str().unwrap();
    assert!(error.starts_with("cannot connect to 127.0.0.1:9"), "{error}");
}

async fn an_endpoint_failing_for_a_day_is_disabled_and_says_so(app: TestApp) {
    let rx = Receiver::start().await;
    rx.fallback(Reply::status(503));
    let (_, admin) = app.account("admin", None, false).await;
    let (id, _) = endpoint(&app, &admin, &rx.url, json!(["number.added"])).await;
    app.number("+983000505", None).await;
    let d = Dispatcher::named(app.core.clone(), "test");
    drain(&d).await;
    let mut attempts = 1;
    loop {
        let (_, shown) = get(&app, &format!("/lk/v1/webhooks/{id}"), &admin).await;
        if shown["enabled"] == false {
            let reason = shown["disabled_reason"].as_str().unwrap();
            assert!(reason.contains("every attempt failed for 24 hours (the last: HTTP 503)"), "{reason}");
            assert_eq!(shown["failing_since"], "2026-01-01T00:00:00Z");
            break;
        }
        let log = log_of(&app, &admin, id).await;
        assert_eq!(log[0]["state"], "pending", "not given up before the endpoint is disabled");
        let next = linekeeper::domain::parse_rfc3339(log[0]["next_attempt_at"].as_str().unwrap()).unwrap();
        set_clock(&app, next);
        drain(&d).await;
        attempts += 1;
        assert_eq!(rx.got().len(), attempts);
        assert!(attempts < 15, "still enabled after {attempts} attempts");
    }
    let disabled_at = app.core.now();
    assert!(disabled_at >= T0 + 24 * 3600, "disabled only after 24 hours");
    // Disabled: nothing is sent, whatever the time. (Past the longest wait
    // between attempts, 6 hours with up to 1.2 of jitter: after 7 hours,
    // one run in twelve still had its retry ahead of it.)
    app.clock.advance(8 * 3600);
    rx.fallback(Reply::status(204));
    assert_eq!(d.pass().await.unwrap(), 0);
    assert_eq!(rx.got().len(), attempts);
    // Its owner enables it: the pending delivery goes.
    let (_, shown) = send(&app, "PATCH", &format!("/lk/v1/webhooks/{id}"), &admin, json!({"enabled": true})).await;
    assert_eq!((shown["enabled"].clone(), shown["failing_since"].clone()), (json!(true), Value::Null));
    drain(&d).await;
    assert_eq!(rx.got().len(), attempts + 1);
    let log = log_of(&app, &admin, id).await;
    assert_eq!(log[0]["state"], "delivered");
}

async fn a_delivery_can_be_sent_again_by_hand(app: TestApp) {
    let rx = Receiver::start().await;
    let (_, admin) = app.account("admin", None, false).await;
    let (_, other) = app.account("other", Some("admin"), true).await;
    let (id, _) = endpoint(&app, &admin, &rx.url, json!(["number.added"])).await;
    app.number("+983000505", None).await;
    let d = Dispatcher::named(app.core.clone(), "test");
    drain(&d).await;
    let log = log_of(&app, &admin, id).await;
    let delivery = log[0]["id"].as_i64().unwrap();
    let retry = format!("/lk/v1/webhooks/{id}/deliveries/{delivery}/retry");
    let gone = not_found("No such webhook or delivery.");
    assert_eq!(send(&app, "POST", &retry, &other, json!({})).await, (404, gone.clone()));
    assert_eq!(send(&app, "POST", &format!("/lk/v1/webhooks/{id}/deliveries/999999/retry"), &admin, json!({})).await, (404, gone));
    let (status, body) = send(&app, "POST", &retry, &admin, json!({})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["state"], "pending");
    assert_eq!(body["attempts"], 0);
    assert_eq!(body["next_attempt_at"], "2026-01-01T00:00:00Z");
    assert_eq!(body["log"].as_array().unwrap().len(), 1, "the earlier attempts stay in the log");
    drain(&d).await;
    let got = rx.got();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].id, got[1].id, "the same message again");
    let log = log_of(&app, &admin, id).await;
    assert_eq!(log[0]["state"], "delivered");
}

async fn delivered_events_are_pruned_after_the_retention_and_pending_ones_kept(app: TestApp) {
    let rx = Receiver::start().await;
    let (_, admin) = app.account("admin", None, false).await;
    let (id, _) = endpoint(&app, &admin, &rx.url, json!(["number.added"])).await;
    app.number("+983000505", None).await;
    let d = Dispatcher::named(app.core.clone(), "test");
    drain(&d).await;
    rx.fallback(Reply::status(500));
    app.number("+983000506", None).await;
    drain(&d).await;
    assert_eq!(log_of(&app, &admin, id).await.len(), 2);
    app.clock.advance(8 * 86_400);
    let report = app.core.sweep(app.core.now()).await.expect("sweep");
    let (_, feed) = get(&app, "/lk/v1/events?wait=0", &admin).await;
    let left: Vec<&str> = feed["items"].as_array().unwrap().iter().map(|e| e["number"].as_str().unwrap_or("")).collect();
    assert_eq!(left, ["+983000506"], "only the event still to deliver is kept");
    assert!(report.events_pruned >= 2, "{report:?}");
    let log = log_of(&app, &admin, id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["state"], "pending");
}

async fn two_instances_deliver_every_event_once_in_order_per_number(app: TestApp) {
    let rx = Receiver::start().await;
    let (_, admin) = app.account("admin", None, false).await;
    let (_, rk) = app.account("reseller", Some("admin"), true).await;
    let (c, _) = app.account("child", Some("reseller"), false).await;
    let mut numbers = Vec::new();
    for i in 0..4 {
        numbers.push(app.number(&format!("+98300050{i}"), Some("reseller")).await.id);
    }
    endpoint(&app, &admin, &rx.url, json!(["grant.created", "grant.removed"])).await;
    // On PostgreSQL a second server on the same database; SQLite has one
    // process, where two dispatchers race over the one writer.
    let second = match app.backend {
        Backend::Postgres => Some(app.another_instance(Default::default()).await),
        Backend::Sqlite => None,
    };
    let other = second.as_ref().unwrap_or(&app);
    let one = tokio::spawn(Dispatcher::named(app.core.clone(), "one").run());
    let two = tokio::spawn(Dispatcher::named(other.core.clone(), "two").run());
    let all = json!({"send": true, "gets": true});
    let mut changes = 0;
    for round in 0..5 {
        for (i, n) in numbers.iter().enumerate() {
            let path = format!("/lk/v1/numbers/{n}/grants/{}", c.id);
            let via = if (round + i) % 2 == 0 { &app } else { other };
            assert_eq!(send(via, "PUT", &path, &rk, all.clone()).await.0, 201);
            assert_eq!(send(via, "DELETE", &path, &rk, json!({})).await.0, 200);
            changes += 2;
        }
    }
    let got = rx.wait_for(changes).await;
    one.abort();
    two.abort();
    let mut ids: Vec<i64> = got.iter().map(Got::event_id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), changes, "every event once");
    assert_eq!(got.len(), changes, "and none twice");
    for n in &numbers {
        let mine: Vec<i64> = got.iter().filter(|g| g.number_id() == Some(*n)).map(Got::event_id).collect();
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "number {n} out of order: {mine:?}");
        assert_eq!(mine.len(), 10);
    }
}

async fn one_pass_sends_a_numbers_next_event_once_the_earlier_is_recorded(app: TestApp) {
    // A pass writes each round's outcomes in the transaction that claims
    // the next round (`Core::dispatch_round`): a number's second event goes
    // in the round after its first was answered, and nothing is left
    // unwritten when the pass returns.
    let rx = Receiver::start().await;
    let scene = Scene::new(&app, &rx.url).await;
    let (admin, rk, a, b, id) = (scene.admin.clone(), scene.rk.clone(), &scene.a, &scene.b, scene.endpoint);
    let all = json!({"send": true, "gets": true});
    let grant = |n: i64| scene.grant(n);
    for n in [a.id, b.id] {
        assert_eq!(send(&app, "PUT", &grant(n), &rk, all.clone()).await.0, 201);
        assert_eq!(send(&app, "DELETE", &grant(n), &rk, json!({})).await.0, 200);
    }
    let d = Dispatcher::named(app.core.clone(), "test");
    // Four made, then each number's first sent, then each one's second.
    assert_eq!(d.pass().await.expect("pass"), 4 + 2 + 2);
    let got = rx.got();
    assert_eq!(got.len(), 4);
    for n in [a.id, b.id] {
        let mine: Vec<(i64, &str)> = got.iter().filter(|g| g.number_id() == Some(n)).map(|g| (g.event_id(), g.body["type"].as_str().unwrap())).collect();
        assert_eq!(mine.iter().map(|m| m.1).collect::<Vec<_>>(), ["grant.created", "grant.removed"], "number {n}");
        assert!(mine[0].0 < mine[1].0);
    }
    // The first two went before either second one.
    let kinds: Vec<&str> = got.iter().map(|g| g.body["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["grant.created", "grant.created", "grant.removed", "grant.removed"]);
    let log = log_of(&app, &admin, id).await;
    assert_eq!(log.len(), 4);
    assert!(log.iter().all(|d| d["state"] == "delivered" && d["attempts"] == 1), "{log:#?}");
    assert_eq!(d.pass().await.unwrap(), 0);
}

async fn answers_not_yet_written_are_sent_again_after_the_lease(app: TestApp) {
    // A round's outcomes are written only by the pass's next round: a
    // dispatcher killed with one answer in hand and another outstanding
    // has written neither, so both are sent again once their leases run
    // out (at least once), and the number's next event still waits for
    // its earlier one's written outcome.
    let rx = Receiver::start().await;
    let hold = Arc::new(Notify::new());
    // Whichever arrives first is answered at once; the second is held.
    rx.plan([Reply::status(200), Reply { hold: Some(hold.clone()), ..Reply::status(200) }]);
    let scene = Scene::new(&app, &rx.url).await;
    let (admin, rk, a, b, id) = (scene.admin.clone(), scene.rk.clone(), &scene.a, &scene.b, scene.endpoint);
    let all = json!({"send": true, "gets": true});
    let grant = |n: i64| scene.grant(n);
    assert_eq!(send(&app, "PUT", &grant(a.id), &rk, all.clone()).await.0, 201);
    assert_eq!(send(&app, "PUT", &grant(b.id), &rk, all.clone()).await.0, 201);
    assert_eq!(send(&app, "DELETE", &grant(a.id), &rk, json!({})).await.0, 200);
    let first = Dispatcher::named(app.core.clone(), "first");
    let task = tokio::spawn(async move { first.pass().await });
    let got = rx.wait_for(2).await;
    let mut firsts: Vec<Option<i64>> = got.iter().map(Got::number_id).collect();
    firsts.sort_unstable();
    assert_eq!(firsts, [Some(a.id), Some(b.id)], "each number's first event, not A's second");
    task.abort();
    let _ = task.await;
    hold.notify_waiters();
    let log = log_of(&app, &admin, id).await;
    assert_eq!(log.len(), 3);
    assert!(log.iter().all(|d| d["state"] == "pending" && d["attempts"] == 0), "nothing written: {log:#?}");

    let second = app.another_instance(Default::default()).await;
    let d = Dispatcher::named(second.core.clone(), "second");
    drain(&d).await;
    assert_eq!(rx.got().len(), 2, "the claims are still the first's");
    app.clock.advance(61);
    drain(&d).await;
    let got = rx.got();
    let on = |n: i64| got.iter().filter(|g| g.number_id() == Some(n)).map(|g| g.body["type"].as_str().unwrap()).collect::<Vec<_>>();
    assert_eq!(on(a.id), ["grant.created", "grant.created", "grant.removed"]);
    assert_eq!(on(b.id), ["grant.created", "grant.created"]);
    let log = log_of(&second, &admin, id).await;
    assert!(log.iter().all(|d| d["state"] == "delivered" && d["attempts"] == 1), "{log:#?}");
}

async fn the_dispatcher_restarts_and_takes_over_claims_after_the_lease(app: TestApp) {
    let rx = Receiver::start().await;
    let hold = Arc::new(Notify::new());
    rx.plan([Reply { hold: Some(hold.clone()), ..Reply::status(200) }]);
    let (_, admin) = app.account("admin", None, false).await;
    let (id, secret) = endpoint(&app, &admin, &rx.url, json!(["number.added"])).await;
    let n = app.number("+983000505", None).await;
    let first = Dispatcher::named(app.core.clone(), "first");
    let task = tokio::spawn(async move { first.pass().await });
    // The first dispatcher has the number's event at the receiver, unanswered;
    // it is killed there.
    let got = rx.wait_for(1).await;
    assert_eq!(got[0].number_id(), Some(n.id));
    task.abort();
    let _ = task.await;
    hold.notify_waiters();

    // Another instance (a restart; on PostgreSQL it could as well be a
    // second server) waits for the claim's lease, then takes it over.
    let second = app.another_instance(Default::default()).await;
    let d = Dispatcher::named(second.core.clone(), "second");
    drain(&d).await;
    let again: Vec<i64> = rx.got().iter().filter(|g| g.number_id() == Some(n.id)).map(Got::event_id).collect();
    assert_eq!(again.len(), 1, "the claim is still the first's");
    app.clock.advance(61);
    drain(&d).await;
    let got = rx.got();
    let on_n: Vec<&Got> = got.iter().filter(|g| g.number_id() == Some(n.id)).collect();
    assert_eq!(on_n.len(), 2, "taken over after the lease, sent again: at least once");
    assert_eq!(on_n[0].id, on_n[1].id);
    for g in &got {
        verify(&secret, g);
    }
    let log = log_of(&second, &admin, id).await;
    assert!(log.iter().all(|d| d["state"] == "delivered"), "{log:#?}");
    // The killed attempt was never recorded; the takeover's was.
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["attempts"], 1);
}

async fn an_answer_that_lost_its_claim_is_not_logged_or_counted(app: TestApp) {
    // A dispatcher whose claim was taken over after its lease writes
    // nothing of its answer: no state, no attempt in the log, nothing in
    // the endpoint's record (here: a failure that would have been its
    // first), so the new holder's attempt is the only one.
    use linekeeper::core::webhooks::AttemptOutcome;
    let (_, admin) = app.account("admin", None, false).await;
    let (id, _) = endpoint(&app, &admin, "http://127.0.0.1:9/hook", json!(["number.added"])).await;
    app.number("+983000505", None).await;
    let core = &app.core;
    let first = core.dispatch_round("first", Vec::new(), 2000, 10).await.expect("round");
    assert_eq!((first.made, first.claimed.len()), (1, 1));
    app.clock.advance(61);
    let second = core.dispatch_round("second", Vec::new(), 2000, 10).await.expect("round");
    assert_eq!(second.claimed.len(), 1, "taken over after the lease");
    let failed = AttemptOutcome {
        status: Some(500),
        latency_ms: 3,
        response: "late".into(),
        error: None,
    };
    let claimed = first.claimed.into_iter().map(|c| (c, failed.clone())).collect();
    let late = core.dispatch_round("first", claimed, 2000, 10).await.expect("round");
    assert_eq!(late.recorded.len(), 1);
    assert!(!late.recorded[0].written, "the claim is the second's");
    let log = log_of(&app, &admin, id).await;
    assert_eq!(log.len(), 1);
    assert_eq!((log[0]["state"].as_str(), log[0]["attempts"].as_i64()), (Some("pending"), Some(0)), "{log:#?}");
    assert_eq!(log[0]["log"].as_array().map(Vec::len), Some(0), "{log:#?}");
    let (status, hook) = get(&app, &format!("/lk/v1/webhooks/{id}"), &admin).await;
    assert_eq!(status, 200);
    assert_eq!(hook["failing_since"], Value::Null, "{hook}");
    let ok = AttemptOutcome {
        status: Some(204),
        latency_ms: 2,
        response: String::new(),
        error: None,
    };
    let claimed = second.claimed.into_iter().map(|c| (c, ok.clone())).collect();
    let done = core.dispatch_round("second", claimed, 2000, 10).await.expect("round");
    assert!(done.recorded[0].written);
    let log = log_of(&app, &admin, id).await;
    assert_eq!((log[0]["state"].as_str(), log[0]["attempts"].as_i64()), (Some("delivered"), Some(1)));
    assert_eq!(log[0]["log"].as_array().map(Vec::len), Some(1), "only the holder's attempt: {log:#?}");
}
}

/// `admin webhook-test` against a real receiver: the reference library
/// verifies what it sent (its timestamp is the real clock's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_test_command_sends_a_signed_sample_and_prints_the_answer() {
    let rx = Receiver::start().await;
    rx.plan([
        Reply {
            body: "thanks".into(),
            ..Reply::status(202)
        },
        Reply::status(500),
    ]);
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let run = |url: String, extra: Vec<&'static str>| async move {
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_linekeeper"))
                .args(["admin", "webhook-test", &url, "--secret", secret])
                .args(extra)
                .output()
                .expect("run linekeeper")
        })
        .await
        .expect("join")
    };
    let out = run(rx.url.clone(), vec!["--allow-private"]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = rx.wait_for(1).await;
    let g = &got[0];
    let mut headers = HeaderMap::new();
    headers.insert("webhook-id", g.id.parse().unwrap());
    headers.insert(
        "webhook-timestamp",
        g.timestamp.to_string().parse().unwrap(),
    );
    headers.insert("webhook-signature", g.signature.parse().unwrap());
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(&g.raw, &headers)
        .expect("the reference library verifies the signature");
    assert_eq!(g.body["type"], "webhook.test");
    assert!(
        stdout.contains(&format!("webhook-id: {}\n", g.id)),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("webhook-signature: {}\n", g.signature)),
        "{stdout}"
    );
    assert!(stdout.contains("answer: HTTP 202 in "), "{stdout}");
    assert!(stdout.ends_with("thanks\n"), "{stdout}");

    // A failing answer fails the command; a private address needs the flag.
    let out = run(rx.url.clone(), vec!["--allow-private"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("answer: HTTP 500 in "));
    let out = run(rx.url.clone(), vec![]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is a loopback, link-local or private address"),
        "{stderr}"
    );
    assert_eq!(rx.got().len(), 2, "nothing sent to a refused address");
}
