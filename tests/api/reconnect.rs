//! PostgreSQL connections that break under a running server (a failover):
//! a stale connection is replaced without the request noticing, and while
//! no connection can be made every face answers a clean 503 in its own
//! format, never a 500 or a hang, and serves again once it can.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{Backend, TestApp, postgres_url};

/// Runs `sql` on the server's maintenance database.
async fn admin(sql: String) {
    let server = postgres_url().expect("TEST_DATABASE_URL");
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&server, postgres::NoTls).expect("connect");
        client.batch_execute(&sql).expect("admin statement");
    })
    .await
    .expect("join");
}

fn database_of(app: &TestApp) -> String {
    let tail = app.database_url.rsplit('/').next().unwrap_or_default();
    tail.split('?').next().unwrap_or_default().to_owned()
}

/// Ends every connection to `db` but the caller's.
async fn terminate(db: &str) {
    admin(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}' AND pid <> pg_backend_pid()"
    ))
    .await;
}

/// The three faces' answers to one read each: (status, content type, body).
async fn faces(app: &TestApp, key: &str, uid: &str) -> Vec<(u16, String, Value)> {
    let auth = format!("Bearer {key}");
    let headers = [("authorization", auth.as_str())];
    let vn = format!("/api/v1/apiClient/virtual-number/unsubscribe/{uid}");
    let mut out = Vec::new();
    for (method, path) in [
        ("GET", "/api/number/numbers?page=1&per_page=50"),
        ("PUT", vn.as_str()),
        ("GET", "/lk/v1/numbers"),
    ] {
        let started = Instant::now();
        let res = app.raw(method, path, &headers, b"").await;
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{path} took {:?}",
            started.elapsed()
        );
        let ctype = res.header("content-type").unwrap_or_default().to_owned();
        out.push((res.status, ctype, res.json()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_connections_are_replaced_without_the_request_noticing() {
    if postgres_url().is_none() {
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    }
    let app = TestApp::spawn_on(Backend::Postgres).await;
    let (_, key) = app.account("admin", None, true).await;
    let uid = app.number("+15550000001", None).await.uid.to_string();
    let before = faces(&app, &key, &uid).await;
    assert_eq!(
        before.iter().map(|f| f.0).collect::<Vec<_>>(),
        [200, 404, 200]
    );
    // Every pooled connection dies while idle (as a restarted server or
    // haproxy cutting them after a failover would do it).
    terminate(&database_of(&app)).await;
    for round in 0..3 {
        let after = faces(&app, &key, &uid).await;
        assert_eq!(
            after.iter().map(|f| f.0).collect::<Vec<_>>(),
            [200, 404, 200],
            "round {round}: {after:?}"
        );
    }
    app.assert_invariants().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_a_clean_503_in_each_face_then_service_resumes() {
    if postgres_url().is_none() {
        eprintln!("skipped: TEST_DATABASE_URL is not set");
        return;
    }
    let app = TestApp::spawn_on(Backend::Postgres).await;
    let (_, key) = app.account("admin", None, true).await;
    let uid = app.number("+15550000002", None).await.uid.to_string();
    let db = database_of(&app);
    // No new connection is accepted, and the open ones end: as while no
    // primary answers during a failover.
    admin(format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false")).await;
    terminate(&db).await;
    let down = faces(&app, &key, &uid).await;
    admin(format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true")).await;
    let [panel, vn, native] = &down[..] else {
        panic!("three answers: {down:?}");
    };
    assert_eq!(panel.0, 503, "{panel:?}");
    assert_eq!(panel.2["meta"]["message_code"], "503-1", "{panel:?}");
    assert_eq!(panel.2["meta"]["status"], false, "{panel:?}");
    assert_eq!(vn.0, 503, "{vn:?}");
    assert_eq!(vn.2["code"], 503, "{vn:?}");
    assert_eq!(native.0, 503, "{native:?}");
    assert_eq!(native.1, "application/problem+json", "{native:?}");
    assert_eq!(
        native.2["type"], "/lk/v1/problems/unavailable",
        "{native:?}"
    );
    assert_eq!(native.2["status"], 503, "{native:?}");
    let ready = app.raw("GET", "/readyz", &[], b"").await;
    assert_eq!(ready.status, 200, "ready again");
    let after = faces(&app, &key, &uid).await;
    assert_eq!(
        after.iter().map(|f| f.0).collect::<Vec<_>>(),
        [200, 404, 200],
        "{after:?}"
    );
    app.assert_invariants().await;
}
