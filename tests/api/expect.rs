//! The panel face's answers as PANEL_API.md spells them, written out here
//! independently of `src/faces/panel/messages.rs`, so that the tests check the
//! service against the spec rather than against itself.
#![allow(dead_code)] // shared by many test modules; not every one uses every helper

use linekeeper::core::admin::{AccountSpec, NumberSpec};
use linekeeper::domain::E164;
use linekeeper::store::{Account, Number};
use serde_json::{Map, Value, json};

use crate::helpers::TestApp;

pub const UNASSIGN: &str = "/api/numbers/unassign";
pub const ASSIGN: &str = "/api/numbers/assign";
pub const NUMBERS: &str = "/api/number/numbers";
pub const LOGIN: &str = "/api/acl/auth/login";
pub const CHECK_TOKEN: &str = "/api/acl/auth/check_token";
pub const LOGOUT: &str = "/api/acl/auth/logout";

/// The password `TestApp::account` gives every account.
pub const PASSWORD: &str = "Secret-pass1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Fa,
    En,
}

/// A validation rule of the spec's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    Required,
    Integer,
    Boolean,
    String,
    Format,
    Exists,
    /// Laravel's numeric `min` (paging).
    Min(i64),
    /// Laravel's numeric `max` (paging).
    Max(i64),
}

/// The message of `rule` for `field` (the attribute is the field name with
/// `_` replaced by a space).
pub fn msg(lang: Lang, rule: Rule, field: &str) -> String {
    let a = field.replace('_', " ");
    match (lang, rule) {
        (Lang::Fa, Rule::Required) => format!("تکمیل گزینه {a} الزامی است"),
        (Lang::En, Rule::Required) => format!("The {a} field is required."),
        (Lang::Fa, Rule::Integer) => format!("گزینه {a} باید از نوع عددی باشد"),
        (Lang::En, Rule::Integer) => format!("The {a} must be an integer."),
        (Lang::Fa, Rule::Boolean) => format!("گزینه {a} تنها می تواند صحیح یا غلط باشد"),
        (Lang::En, Rule::Boolean) => format!("The {a} field must be true or false."),
        (Lang::Fa, Rule::String) => format!("گزینه {a} باید تنها شامل حروف باشد"),
        (Lang::En, Rule::String) => format!("The {a} must be a string."),
        (Lang::Fa, Rule::Format) => format!("فرمت گزینه {a} صحیح نمی باشد"),
        (Lang::En, Rule::Format) => format!("The {a} format is invalid."),
        (Lang::Fa, Rule::Exists) => format!("گزینه انتخاب شده {a} صحیح نمی باشد"),
        (Lang::En, Rule::Exists) => format!("The selected {a} is invalid."),
        (Lang::Fa, Rule::Min(n)) => format!("گزینه {a} باید حداقل {n} باشد"),
        (Lang::En, Rule::Min(n)) => format!("The {a} must be at least {n}."),
        (Lang::Fa, Rule::Max(n)) => format!("گزینه {a} نباید بزرگتر از {n} باشد"),
        (Lang::En, Rule::Max(n)) => format!("The {a} must not be greater than {n}."),
    }
}

/// A success envelope.
pub fn ok(lang: Lang, data: Value) -> Value {
    let message = match lang {
        Lang::Fa => "انجام شد",
        Lang::En => "Done",
    };
    json!({"data": data, "meta": {"status": true, "message": message,
        "message_parameters": [], "message_code": "200-1"}})
}

/// A failure envelope with no field errors.
pub fn failure(code: &str, message: &str) -> Value {
    json!({"data": null, "meta": {"status": false, "message": message,
        "message_parameters": [], "message_code": code, "errors": {}}})
}

pub fn unauthenticated(lang: Lang) -> Value {
    failure(
        "400-1",
        match lang {
            Lang::Fa => "اطلاعات وارد شده صحیح نمی باشد",
            Lang::En => "The information entered is not correct",
        },
    )
}

pub fn forbidden(lang: Lang) -> Value {
    failure(
        "403-1",
        match lang {
            Lang::Fa => "شما به این بخش دسترسی ندارید",
            Lang::En => "You do not have access to this section",
        },
    )
}

pub fn bad_body(lang: Lang) -> Value {
    failure(
        "400-1",
        match lang {
            Lang::Fa => "بدنه درخواست معتبر نیست",
            Lang::En => "The request body is not valid JSON",
        },
    )
}

pub fn too_large(lang: Lang) -> Value {
    failure(
        "400-1",
        match lang {
            Lang::Fa => "حجم درخواست بیش از حد مجاز است",
            Lang::En => "The request body is too large",
        },
    )
}

/// An operation's own refusal (400), English in both languages.
pub fn refusal(message: &str) -> Value {
    failure("400-1", message)
}

pub const NOT_ASSIGNED: &str = "number not assigned to user";
pub const ALREADY_ASSIGNED: &str = "number already assigned to user";
pub const EXCEEDED: &str = "cannot grant a permission you do not hold";

/// A 422 (`400-2`) with these field errors, in this order, summarised as the
/// spec says: the first message, then how many more follow.
pub fn invalid(lang: Lang, errors: &[(&str, Rule)]) -> Value {
    let mut map = Map::new();
    let mut all = Vec::new();
    for (field, rule) in errors {
        let m = msg(lang, *rule, field);
        all.push(m.clone());
        map.entry(field.to_string())
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("array")
            .push(Value::String(m));
    }
    let more = all.len() - 1;
    let message = match (lang, more) {
        (_, 0) => all[0].clone(),
        (Lang::Fa, n) => format!("{} (و {n} خطای دیگر)", all[0]),
        (Lang::En, 1) => format!("{} (and 1 more error)", all[0]),
        (Lang::En, n) => format!("{} (and {n} more errors)", all[0]),
    };
    json!({"data": null, "meta": {"status": false, "message": message,
        "message_parameters": [], "message_code": "400-2", "errors": map}})
}

/// The 422 of a failed login (`422-1`).
pub fn bad_login(lang: Lang) -> Value {
    let (message, error) = match lang {
        Lang::Fa => ("درخواست معتبر نیست", "نام کاربری یا رمز عبور اشتباه است"),
        Lang::En => (
            "The request is not valid",
            "The username or password is incorrect",
        ),
    };
    json!({"data": null, "meta": {"status": false, "message": message,
        "message_parameters": [], "message_code": "422-1",
        "errors": {"username": [error]}}})
}

/// A request with extra headers (besides `Content-Type: application/json`
/// when a body is given); status and JSON body (`Null` if not JSON).
pub async fn call_with(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (u16, Value) {
    let mut all: Vec<(&str, &str)> = Vec::new();
    if body.is_some() {
        all.push(("content-type", "application/json"));
    }
    if let Some(t) = token {
        all.push(("authorization", t));
    }
    all.extend_from_slice(headers);
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let res = app.raw(method, path, &all, &bytes).await;
    (res.status, res.json())
}

/// `call_with` in English.
pub async fn post_en(app: &TestApp, path: &str, token: &str, body: &Value) -> (u16, Value) {
    call_with(
        app,
        "POST",
        path,
        Some(token),
        &[("accept-language", "en")],
        Some(body),
    )
    .await
}

/// An account with a pinned id and an API key.
pub async fn account_with_id(
    app: &TestApp,
    id: i64,
    username: &str,
    parent: Option<&str>,
    reseller: bool,
) -> (Account, String) {
    let spec = AccountSpec {
        id: Some(id),
        username: username.into(),
        password: PASSWORD.into(),
        admin: parent.is_none(),
        parent: parent.map(Into::into),
        is_reseller: reseller,
        ..Default::default()
    };
    let account = app
        .core
        .create_account(spec, "test")
        .await
        .expect("create account");
    let key = app.core.create_key(username, "test").await.expect("key");
    (account, key.expose().to_owned())
}

/// A number with a pinned id, owned by `owner` if given.
pub async fn number_with_id(app: &TestApp, id: i64, e164: &str, owner: Option<&str>) -> Number {
    let spec = NumberSpec {
        id: Some(id),
        owner: owner.map(Into::into),
        ..NumberSpec::new(E164::parse(e164).expect("e164"))
    };
    app.core.add_number(spec, "test").await.expect("add number")
}

/// The seed page's world: `admin` (1) above `reseller` (2) above `testuser`
/// (123); the reseller owns `+983000505` (10).
pub struct SeedWorld {
    pub admin: String,
    pub reseller: String,
    pub user: String,
}

pub async fn seed_world(app: &TestApp) -> SeedWorld {
    let (_, admin) = account_with_id(app, 1, "admin", None, false).await;
    let (_, reseller) = account_with_id(app, 2, "reseller", Some("admin"), true).await;
    let (_, user) = account_with_id(app, 123, "testuser", Some("reseller"), false).await;
    number_with_id(app, 10, "+983000505", Some("reseller")).await;
    SeedWorld {
        admin,
        reseller,
        user,
    }
}

/// The assign body granting both permissions.
pub fn grant_body(number_id: i64, user_id: i64) -> Value {
    json!({"number_id": number_id, "target_user_id": user_id, "send": true, "gets": true})
}

/// The current grants as `(number_id, account_id, granted_by, send, gets)`.
pub async fn grants(app: &TestApp) -> Vec<(i64, i64, i64, bool, bool)> {
    let s = app.core.snapshot().await.expect("snapshot");
    s.grants
        .iter()
        .map(|g| (g.number_id, g.account_id, g.granted_by, g.send, g.gets))
        .collect()
}

/// The history entries after the first `from`, as `(action, number, account)`.
pub async fn history_since(app: &TestApp, from: usize) -> Vec<(String, Option<i64>, Option<i64>)> {
    let s = app.core.snapshot().await.expect("snapshot");
    s.history[from..].to_vec()
}

/// Asserts a status and a JSON body, keys in order (the spec fixes the order
/// of `meta`'s keys and of `errors`' fields; `Value`'s `==` ignores order).
#[track_caller]
pub fn assert_answer(got: (u16, &Value), want: (u16, &Value), context: &str) {
    assert_eq!(
        (got.0, got.1.to_string()),
        (want.0, want.1.to_string()),
        "{context}"
    );
}
