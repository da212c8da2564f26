//! What the server logs, captured: one JSON object a line, each request's
//! lines carrying its span (id, method, matched route, then status and
//! latency), and never a password, a token or a key. A test binary of its
//! own, because it installs the process's global subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};

use linekeeper::client::HttpClient;
use linekeeper::core::admin::AccountSpec;
use linekeeper::http::limits::Limits;
use linekeeper::server::{self as app, Settings};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_lines_carry_the_span_and_no_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing::subscriber::set_global_default(linekeeper::cli::log_subscriber(
        &linekeeper::config::Config::default().log,
        true,
        false,
        move || writer.clone(),
    ))
    .expect("the only subscriber");

    let dir = std::env::temp_dir().join(format!("linekeeper-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let settings = Settings {
        database_url: format!("sqlite://{}", dir.join("logs.db").display()),
        ..Settings::default()
    };
    let core = tokio::task::spawn_blocking(move || app::open(&settings))
        .await
        .expect("join")
        .expect("open");
    let password = "Very-secret-pw9";
    core.create_account(
        AccountSpec {
            username: "admin".into(),
            password: password.into(),
            admin: true,
            ..Default::default()
        },
        "t",
    )
    .await
    .expect("account");
    let key = core.create_key("admin", "t").await.expect("key");
    let key = key.expose().to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app::launch_with(core, Limits::default(), listener, async {
        let _ = stopped.await;
    }));

    let mut http = HttpClient::new(addr);
    let json = ("content-type", "application/json");
    let login = json!({"username": "admin", "password": password}).to_string();
    let res = http
        .request("POST", "/api/acl/auth/login", &[json], login.as_bytes())
        .await
        .expect("login");
    assert_eq!(res.status, 200);
    let session = res.json()["data"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let wrong = json!({"username": "admin", "password": "Wrong-secret-pw9"}).to_string();
    let res = http
        .request("POST", "/api/acl/auth/login", &[json], wrong.as_bytes())
        .await
        .expect("login");
    assert_eq!(res.status, 422);
    for token in [&key, &session] {
        let auth = format!("Bearer {token}");
        let res = http
            .request(
                "POST",
                "/api/acl/auth/check_token",
                &[("authorization", &auth)],
                b"",
            )
            .await
            .expect("check");
        assert_eq!(res.status, 200);
    }
    let res = http
        .request("GET", "/api/v1/apiClient/virtual-number/unsubscribe/66ea98514f0c1a121c76ec17?token=zzz-query-secret", &[], b"")
        .await
        .expect("vn");
    assert_eq!(res.status, 405);

    // A store that fails: the table a request needs is gone. The client
    // hears the generic 500; the log line has the whole cause.
    let db = dir.join("logs.db");
    tokio::task::spawn_blocking(move || {
        let conn = rusqlite::Connection::open(db).expect("open the database beside the server");
        conn.execute_batch("ALTER TABLE numbers RENAME TO numbers_gone")
            .expect("rename");
    })
    .await
    .expect("join");
    let assign = json!({"number_id": 1, "target_user_id": 1, "send": true, "gets": true});
    let auth = format!("Bearer {key}");
    let res = http
        .request(
            "POST",
            "/api/numbers/assign",
            &[json, ("authorization", &auth)],
            assign.to_string().as_bytes(),
        )
        .await
        .expect("assign");
    assert_eq!(
        (res.status, res.json()),
        (
            500,
            json!({"data": null, "meta": {"status": false, "message": "خطای داخلی سرور",
                "message_parameters": [], "message_code": "500-1", "errors": {}}})
        )
    );
    assert!(
        !String::from_utf8_lossy(&res.body).contains("numbers"),
        "no detail reaches the client"
    );
    let _ = stop.send(());
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&dir);

    let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
    for secret in [
        password,
        "Wrong-secret-pw9",
        &key,
        &session,
        "zzz-query-secret",
    ] {
        assert!(!text.contains(secret), "{secret:?} logged:\n{text}");
    }
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let answered: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "answered")
        .collect();
    assert_eq!(answered.len(), 6, "{text}");
    let failure = lines
        .iter()
        .find(|l| l["level"] == "ERROR")
        .unwrap_or_else(|| panic!("no error logged:\n{text}"));
    assert_eq!(
        failure["fields"]["message"], "panel request failed",
        "{failure}"
    );
    let cause = failure["fields"]["error"].as_str().unwrap_or_default();
    assert!(
        cause.starts_with("database error: ") && cause.contains("no such table: numbers"),
        "{failure}"
    );
    assert_eq!(failure["span"]["route"], "/api/numbers/assign", "{failure}");
    let mut ids = Vec::new();
    for (line, (route, status)) in answered.iter().zip([
        ("/api/acl/auth/login", 200),
        ("/api/acl/auth/login", 422),
        ("/api/acl/auth/check_token", 200),
        ("/api/acl/auth/check_token", 200),
        ("/api/v1/apiClient/virtual-number/unsubscribe/{id}", 405),
        ("/api/numbers/assign", 500),
    ]) {
        let span = &line["span"];
        assert_eq!(span["name"], "request", "{line}");
        assert_eq!(span["route"], route, "{line}");
        assert_eq!(span["status"], status, "{line}");
        assert!(span["latency_ms"].as_f64().is_some(), "{line}");
        let id = span["id"].as_str().expect("a request id").to_owned();
        assert!(!ids.contains(&id), "ids are unique");
        ids.push(id);
    }
}
