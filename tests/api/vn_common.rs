//! What the virtual-number tests share: the face's paths, its two envelopes
//! as the spec writes them, and postpaid accounts.
#![allow(dead_code)] // shared by several test modules

use linekeeper::core::admin::NumberSpec;
use linekeeper::domain::E164;
use linekeeper::store::{Account, Number};
use serde_json::{Value, json};

use crate::helpers::TestApp;

pub const VN: &str = "/api/v1/apiClient/virtual-number";

/// The failure envelope: `stack` is exactly `"APIError: " + message`.
pub fn failure(code: u16, message: &str) -> Value {
    json!({"code": code, "message": message, "stack": format!("APIError: {message}")})
}

/// The success envelope with every field the spec lists.
pub fn success(message: &str, data: Value) -> Value {
    json!({
        "app_type": "web", "app_version": "1.0", "maintainence": 0, "new_version": 0,
        "force_update": 0, "invalid_token": 0, "refresh_token": "", "show_message": 1,
        "is_enc": false, "status": true, "message": message, "message_type": "toast",
        "data": data, "error": {}
    })
}

/// The keys of an object in the order received (serde_json keeps it).
pub fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

pub const SUCCESS_KEYS: [&str; 14] = [
    "app_type",
    "app_version",
    "maintainence",
    "new_version",
    "force_update",
    "invalid_token",
    "refresh_token",
    "show_message",
    "is_enc",
    "status",
    "message",
    "message_type",
    "data",
    "error",
];

/// An account enabled for postpaid billing, with its API key.
pub async fn postpaid(
    app: &TestApp,
    username: &str,
    parent: Option<&str>,
    reseller: bool,
) -> (Account, String) {
    let (account, key) = app.account(username, parent, reseller).await;
    app.core
        .set_postpaid(username, true, "test")
        .await
        .expect("set postpaid");
    (account, key)
}

/// A pool number with prices.
pub async fn pool_number(app: &TestApp, e164: &str, monthly: i64, yearly: i64) -> Number {
    let spec = NumberSpec {
        monthly_price: monthly,
        yearly_price: yearly,
        ..NumberSpec::new(E164::parse(e164).expect("e164"))
    };
    app.core.add_number(spec, "test").await.expect("add number")
}

/// A virtual-number call with `Authorization: Bearer <key>`.
pub async fn vn(
    app: &TestApp,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let auth = key.map(|k| format!("Bearer {k}"));
    app.call(method, &format!("{VN}{path}"), auth.as_deref(), body)
        .await
}

/// Subscribes the holder of `key` to `uid` over HTTP; panics unless 200.
pub async fn buy(app: &TestApp, key: &str, uid: &str) {
    let (status, body) = vn(
        app,
        "POST",
        "/purchase-postpaid",
        Some(key),
        Some(&json!({"number": uid})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// The numbers (E.164) the panel face lists for the holder of `key`.
pub async fn panel_numbers(app: &TestApp, key: &str) -> Vec<String> {
    let (status, body) = app.get("/api/number/numbers?per_page=100", key).await;
    assert_eq!(status, 200, "{body}");
    body["data"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["number"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
