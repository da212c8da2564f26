//! Shared by the native face's test modules.
#![allow(dead_code)]

use serde_json::{Value, json};

use crate::helpers::TestApp;

/// `Authorization` for a key or token.
pub fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// A problem body of `kind` as the face answers it.
pub fn problem(kind: &str, title: &str, status: u16, detail: &str) -> Value {
    json!({
        "type": format!("/lk/v1/problems/{kind}"),
        "title": title,
        "status": status,
        "detail": detail,
    })
}

pub fn not_found(detail: &str) -> Value {
    problem("not-found", "Not found", 404, detail)
}

pub async fn get(app: &TestApp, path: &str, key: &str) -> (u16, Value) {
    app.call("GET", path, Some(&bearer(key)), None).await
}

pub async fn send(app: &TestApp, method: &str, path: &str, key: &str, body: Value) -> (u16, Value) {
    app.call(method, path, Some(&bearer(key)), Some(&body))
        .await
}

pub async fn delete(app: &TestApp, path: &str, key: &str) -> (u16, Value) {
    app.call("DELETE", path, Some(&bearer(key)), None).await
}

/// Logs in through the native face; the session token.
pub async fn login(app: &TestApp, username: &str) -> String {
    let (status, body) = app
        .call(
            "POST",
            "/lk/v1/sessions",
            None,
            Some(&json!({"username": username, "password": "Secret-pass1"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().expect("token").to_owned()
}

/// An account as the native face renders it (created at T0, active).
pub fn account_json(a: &linekeeper::store::Account) -> Value {
    let role = if a.parent_id.is_none() {
        "admin"
    } else if a.is_reseller {
        "reseller"
    } else {
        "user"
    };
    json!({
        "id": a.id, "username": a.username, "name": a.name, "role": role,
        "status": if a.suspended { "suspended" } else { "active" },
        "parent_id": a.parent_id, "created_at": "2026-01-01T00:00:00Z",
    })
}

pub fn brief(a: &linekeeper::store::Account) -> Value {
    json!({"id": a.id, "username": a.username})
}
