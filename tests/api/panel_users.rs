//! The panel face's user routes: create, list, show, parents_tree.

use linekeeper::client::HttpClient;
use serde_json::{Value, json};

use crate::helpers::{T0, TestApp};

const CREATE: &str = "/api/user/create";
const LIST: &str = "/api/user/list";
const SHOW: &str = "/api/user/show";
const TREE: &str = "/api/user/parents_tree";
const PASSWORD: &str = "Strong-pass1";

/// 256 characters: one more than a display name may have.
const LONG_NAME: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\
0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\
0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\
0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Query-string pairs.
type Query = Vec<(&'static str, &'static str)>;

fn done(data: Value) -> Value {
    json!({"data": data, "meta": {"status": true, "message": "انجام شد",
        "message_parameters": [], "message_code": "200-1"}})
}

fn paged(
    data: Value,
    page: i64,
    per_page: i64,
    total: i64,
    last: i64,
    from: Value,
    to: Value,
) -> Value {
    json!({"data": data, "meta": {"status": true, "message": "انجام شد",
        "message_parameters": [], "message_code": "200-1",
        "current_page": page, "per_page": per_page, "total": total, "last_page": last,
        "from": from, "to": to}})
}

/// A 422 as the spec's summary rule builds it from `errors` (every
/// message counted, across fields).
fn invalid(errors: Value, en: bool) -> Value {
    let messages: Vec<&str> = errors
        .as_object()
        .expect("errors object")
        .values()
        .flat_map(|v| {
            v.as_array()
                .expect("list")
                .iter()
                .map(|m| m.as_str().expect("text"))
        })
        .collect();
    let more = messages.len() - 1;
    let message = match (en, more) {
        (_, 0) => messages[0].to_owned(),
        (false, n) => format!("{} (و {n} خطای دیگر)", messages[0]),
        (true, 1) => format!("{} (and 1 more error)", messages[0]),
        (true, n) => format!("{} (and {n} more errors)", messages[0]),
    };
    json!({"data": null, "meta": {"status": false, "message": message,
        "message_parameters": [], "message_code": "400-2", "errors": errors}})
}

fn no_such_user(en: bool) -> Value {
    let m = if en {
        "The selected user id is invalid."
    } else {
        "گزینه انتخاب شده user id صحیح نمی باشد"
    };
    invalid(json!({"user_id": [m]}), en)
}

/// A list item.
fn item(id: i64, uname: &str, name: &str, reseller: bool, parent: i64, time: i64) -> Value {
    json!({"user_id": id, "uname": uname, "name": name,
        "is_reseller": if reseller { "yes" } else { "no" }, "status": "active",
        "parent": parent, "time": time})
}

/// A request in English (`Accept-Language: en`).
async fn en(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let headers = [
        ("content-type", "application/json"),
        ("authorization", token),
        ("accept-language", "en"),
    ];
    let res = app.raw(method, path, &headers, &bytes).await;
    (res.status, res.json())
}

fn query(path: &str, pairs: &[(&str, &str)]) -> String {
    format!(
        "{path}?{}",
        serde_urlencoded::to_string(pairs).expect("query")
    )
}

async fn key(app: &TestApp, username: &str) -> String {
    let key = app.core.create_key(username, "test").await.expect("key");
    key.expose().to_owned()
}

/// Creates an account over HTTP as `token`'s holder; returns its id.
async fn create(app: &TestApp, token: &str, username: &str, name: &str, reseller: bool) -> i64 {
    let body = json!({"user_name": username, "password": PASSWORD, "name_family": name,
        "is_reseller": reseller});
    let (status, answer) = app.post(CREATE, token, &body).await;
    assert_eq!(status, 200, "{answer}");
    answer["data"]["user_id"].as_i64().expect("user_id")
}

/// admin ─┬─ alpha (R) ─┬─ Alpha_R2 (R) ── alpha_r3 (R) ── alpha_u4
///        │             └─ alphaU2
///        └─ beta (R) ───── beta_u2
/// Five levels on alpha's side; beta is alpha's sibling reseller. Each
/// account is created a minute after the one before.
struct World {
    admin: (i64, String),
    alpha: (i64, String),
    r2: (i64, String),
    u2: i64,
    r3: (i64, String),
    u4: (i64, String),
    beta: (i64, String),
    beta_u2: i64,
}

async fn world(app: &TestApp) -> World {
    let (admin, admin_key) = app.account("admin", None, false).await;
    let step = || app.clock.advance(60);
    step();
    let alpha = create(app, &admin_key, "alpha", "Zahra Karimi", true).await;
    let alpha_key = key(app, "alpha").await;
    step();
    let beta = create(app, &admin_key, "beta", "رضا احمدی", true).await;
    let beta_key = key(app, "beta").await;
    step();
    let r2 = create(app, &alpha_key, "Alpha_R2", "100% Sales", true).await;
    let r2_key = key(app, "alpha_r2").await;
    step();
    let u2 = create(app, &alpha_key, "alphaU2", "zahra the user", false).await;
    step();
    let beta_u2 = create(app, &beta_key, "beta_u2", "Beta User", false).await;
    step();
    let r3 = create(app, &r2_key, "alpha_r3", "Third Level", true).await;
    let r3_key = key(app, "alpha_r3").await;
    step();
    let u4 = create(app, &r3_key, "alpha_u4", "Fourth Level", false).await;
    let u4_key = key(app, "alpha_u4").await;
    World {
        admin: (admin.id, admin_key),
        alpha: (alpha, alpha_key),
        r2: (r2, r2_key),
        u2,
        r3: (r3, r3_key),
        u4: (u4, u4_key),
        beta: (beta, beta_key),
        beta_u2,
    }
}

/// The items of `w`'s accounts as the list shows them.
fn items(w: &World) -> [Value; 7] {
    [
        item(w.alpha.0, "alpha", "Zahra Karimi", true, w.admin.0, T0 + 60),
        item(w.beta.0, "beta", "رضا احمدی", true, w.admin.0, T0 + 120),
        item(w.r2.0, "Alpha_R2", "100% Sales", true, w.alpha.0, T0 + 180),
        item(
            w.u2,
            "alphaU2",
            "zahra the user",
            false,
            w.alpha.0,
            T0 + 240,
        ),
        item(w.beta_u2, "beta_u2", "Beta User", false, w.beta.0, T0 + 300),
        item(w.r3.0, "alpha_r3", "Third Level", true, w.r2.0, T0 + 360),
        item(w.u4.0, "alpha_u4", "Fourth Level", false, w.r3.0, T0 + 420),
    ]
}

fn one_page(data: Vec<Value>) -> Value {
    let n = data.len() as i64;
    let (from, to) = if n == 0 {
        (Value::Null, Value::Null)
    } else {
        (json!(1), json!(n))
    };
    paged(Value::Array(data), 1, 10, n, 1, from, to)
}

crate::scenarios! {
async fn create_answers_the_new_id_records_it_once_and_the_account_works(app: TestApp) {
    let (admin, admin_key) = app.account("admin", None, false).await;
    let before = app.history_len().await;
    app.clock.advance(5);
    let body = json!({"user_name": "NewReseller", "password": PASSWORD, "name_family": "Ali Rezaei",
        "mobile_number": "+989121234567", "email": "ali@example.com", "is_reseller": "1"});
    let (status, answer) = app.post(CREATE, &admin_key, &body).await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["data"]["user_id"].as_i64().expect("id");
    assert_eq!(answer, done(json!({"user_id": id})));
    assert_eq!(app.history_len().await, before + 1);

    let (status, answer) = app.get(&format!("{SHOW}?user_id={id}"), &admin_key).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        done(
            json!({"user_id": id, "uname": "NewReseller", "name": "Ali Rezaei",
            "is_reseller": "yes", "status": "active",
            "parent": {"user_id": admin.id, "uname": "admin"}, "time": T0 + 5})
        )
    );

    // The password was stored: the new account logs in with it (any case of
    // its username), and being a reseller it may create beneath itself.
    let login = json!({"username": "newreseller", "password": PASSWORD});
    let (status, answer) = app
        .call("POST", "/api/acl/auth/login", None, Some(&login))
        .await;
    assert_eq!(status, 200, "{answer}");
    let token = answer["data"]["token"].as_str().expect("token").to_owned();
    let (status, answer) = app
        .post(
            "/v1/api/user/create",
            &token,
            &json!({"user_name": "child", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let child = answer["data"]["user_id"].as_i64().expect("id");

    // Without a name_family the display name is the username; is_reseller
    // defaults to false.
    let (status, answer) = app
        .get(&format!("/v1/api/user/show?user_id={child}"), &token)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        done(
            json!({"user_id": child, "uname": "child", "name": "child", "is_reseller": "no",
            "status": "active", "parent": {"user_id": id, "uname": "NewReseller"}, "time": T0 + 5})
        )
    );
    // Login added one entry (its session token), the child one more.
    assert_eq!(app.history_len().await, before + 3);
    app.assert_invariants().await;
}

async fn the_list_is_the_whole_downline_by_id_and_nothing_else(app: TestApp) {
    let w = world(&app).await;
    let [alpha, beta, r2, u2, beta_u2, r3, u4] = items(&w);

    let (status, answer) = app.get(LIST, &w.admin.1).await;
    assert_eq!(status, 200);
    let everyone = vec![
        alpha.clone(),
        beta,
        r2.clone(),
        u2.clone(),
        beta_u2,
        r3.clone(),
        u4.clone(),
    ];
    assert_eq!(answer, one_page(everyone));

    let (_, answer) = app.get(LIST, &w.alpha.1).await;
    assert_eq!(
        answer,
        one_page(vec![r2.clone(), u2.clone(), r3.clone(), u4.clone()])
    );
    let (_, answer) = app.get("/v1/api/user/list", &w.r2.1).await;
    assert_eq!(answer, one_page(vec![r3, u4.clone()]));
    let (_, answer) = app.get(LIST, &w.r3.1).await;
    assert_eq!(answer, one_page(vec![u4]));

    // A suspended account is listed with its status.
    app.core
        .set_suspended("alphaU2", true, "test")
        .await
        .expect("suspend");
    let (_, answer) = app
        .get(&query(LIST, &[("username", "alphau2")]), &w.alpha.1)
        .await;
    let mut suspended = u2;
    suspended["status"] = json!("suspended");
    assert_eq!(answer, one_page(vec![suspended]));
    app.assert_invariants().await;
}

async fn each_filter_narrows_the_downline(app: TestApp) {
    let w = world(&app).await;
    let [alpha, beta, r2, u2, beta_u2, r3, u4] = items(&w);
    let admin = &w.admin.1;
    let cases: Vec<(Query, Vec<&Value>)> = vec![
        // username: a substring, in any case.
        (vec![("username", "ALPHA_R")], vec![&r2, &r3]),
        (vec![("username", "u2")], vec![&u2, &beta_u2]),
        (
            vec![("username", "alpha")],
            vec![&alpha, &r2, &u2, &r3, &u4],
        ),
        // `_` and `%` are themselves, not wildcards.
        (vec![("username", "_")], vec![&r2, &beta_u2, &r3, &u4]),
        (vec![("username", "%")], vec![]),
        (vec![("username", "nobody")], vec![]),
        // name: a substring; ASCII letters in any case, Persian as given.
        (vec![("name", "ZAHRA")], vec![&alpha, &u2]),
        (vec![("name", "رضا")], vec![&beta]),
        (vec![("name", "%")], vec![&r2]),
        (vec![("name", "level")], vec![&r3, &u4]),
        (vec![("is_reseller", "yes")], vec![&alpha, &beta, &r2, &r3]),
        (vec![("is_reseller", "no")], vec![&u2, &beta_u2, &u4]),
        (vec![("sub_reseller", "0")], vec![&alpha, &beta]),
        (
            vec![("sub_reseller", "1")],
            vec![&r2, &u2, &beta_u2, &r3, &u4],
        ),
        // Filters combine.
        (
            vec![("sub_reseller", "1"), ("is_reseller", "no")],
            vec![&u2, &beta_u2, &u4],
        ),
        (
            vec![
                ("sub_reseller", "1"),
                ("username", "alpha"),
                ("name", "level"),
            ],
            vec![&r3, &u4],
        ),
        // An empty filter is no filter (Laravel reads "" as absent).
        (
            vec![("username", ""), ("is_reseller", "")],
            vec![&alpha, &beta, &r2, &u2, &beta_u2, &r3, &u4],
        ),
    ];
    for (pairs, expected) in cases {
        let (status, answer) = app.get(&query(LIST, &pairs), admin).await;
        assert_eq!(status, 200, "{pairs:?}");
        assert_eq!(
            answer,
            one_page(expected.into_iter().cloned().collect()),
            "{pairs:?}"
        );
    }

    // sub_reseller relative to a caller below the root.
    let (_, answer) = app
        .get(&query(LIST, &[("sub_reseller", "0")]), &w.alpha.1)
        .await;
    assert_eq!(answer, one_page(vec![r2.clone(), u2.clone()]));
    let (_, answer) = app
        .get(&query(LIST, &[("sub_reseller", "1")]), &w.alpha.1)
        .await;
    assert_eq!(answer, one_page(vec![r3.clone(), u4.clone()]));
    let (_, answer) = app
        .get(&query(LIST, &[("sub_reseller", "1")]), &w.r3.1)
        .await;
    assert_eq!(answer, one_page(vec![]));
    // A filter never reaches outside the caller's downline.
    let (_, answer) = app
        .get(&query(LIST, &[("username", "beta")]), &w.alpha.1)
        .await;
    assert_eq!(answer, one_page(vec![]));
}

async fn bad_filters_and_paging_are_422_with_every_error(app: TestApp) {
    let (_, admin) = app.account("admin", None, false).await;
    // A downline for the filters to run over (SQLite checks a LIKE pattern
    // only when it compares a row with it).
    app.account("kid", Some("admin"), false).await;
    let fa = |f: &str| format!("گزینه انتخاب شده {f} صحیح نمی باشد");
    let cases: Vec<(Query, Value, Value)> = vec![
        (
            vec![("is_reseller", "maybe")],
            json!({"is_reseller": [fa("is reseller")]}),
            json!({"is_reseller": ["The selected is reseller is invalid."]}),
        ),
        (
            vec![("sub_reseller", "2")],
            json!({"sub_reseller": [fa("sub reseller")]}),
            json!({"sub_reseller": ["The selected sub reseller is invalid."]}),
        ),
        (
            vec![("page", "0")],
            json!({"page": ["گزینه page باید حداقل 1 باشد"]}),
            json!({"page": ["The page must be at least 1."]}),
        ),
        (
            vec![("per_page", "101")],
            json!({"per_page": ["گزینه per page نباید بزرگتر از 100 باشد"]}),
            json!({"per_page": ["The per page must not be greater than 100."]}),
        ),
        (
            vec![("per_page", "0")],
            json!({"per_page": ["گزینه per page باید حداقل 1 باشد"]}),
            json!({"per_page": ["The per page must be at least 1."]}),
        ),
        (
            vec![("page", "two")],
            json!({"page": ["گزینه page باید از نوع عددی باشد"]}),
            json!({"page": ["The page must be an integer."]}),
        ),
        // No filter is longer than what it could match.
        (
            vec![("username", "abcdefghijklmnopqrstuvwxyz0123456")],
            json!({"username": ["گزینه username نباید بزرگتر از 32 کاراکتر باشد"]}),
            json!({"username": ["The username must not be greater than 32 characters."]}),
        ),
        (
            vec![("name", LONG_NAME)],
            json!({"name": ["گزینه name نباید بزرگتر از 255 کاراکتر باشد"]}),
            json!({"name": ["The name must not be greater than 255 characters."]}),
        ),
        // Every field's error at once, in the route's field order.
        (
            vec![
                ("sub_reseller", "yes"),
                ("is_reseller", "1"),
                ("per_page", "1000"),
                ("page", "-3"),
            ],
            json!({"page": ["گزینه page باید حداقل 1 باشد"],
                   "per_page": ["گزینه per page نباید بزرگتر از 100 باشد"],
                   "is_reseller": [fa("is reseller")], "sub_reseller": [fa("sub reseller")]}),
            json!({"page": ["The page must be at least 1."],
                   "per_page": ["The per page must not be greater than 100."],
                   "is_reseller": ["The selected is reseller is invalid."],
                   "sub_reseller": ["The selected sub reseller is invalid."]}),
        ),
    ];
    for (pairs, fa_errors, en_errors) in cases {
        let path = query(LIST, &pairs);
        let (status, answer) = app.get(&path, &admin).await;
        assert_eq!(status, 422, "{pairs:?}");
        assert_eq!(answer, invalid(fa_errors, false), "{pairs:?}");
        let (status, answer) = en(&app, "GET", &path, &admin, None).await;
        assert_eq!(status, 422, "{pairs:?}");
        assert_eq!(answer, invalid(en_errors, true), "{pairs:?}");
    }
    // A filter beyond SQLite's LIKE pattern limit (50,000 bytes), within
    // the longest URI the server reads (64 KiB), is a 422 too, never a
    // database error.
    let huge = "a".repeat(50_500);
    let (status, answer) = en(&app, "GET", &query(LIST, &[("name", &huge)]), &admin, None).await;
    assert_eq!(status, 422);
    assert_eq!(
        answer,
        invalid(
            json!({"name": ["The name must not be greater than 255 characters."]}),
            true
        )
    );
    // One literal body, to pin the summary's wording.
    let (_, answer) = en(
        &app,
        "GET",
        "/api/user/list?page=0&per_page=0",
        &admin,
        None,
    )
    .await;
    assert_eq!(
        answer,
        json!({"data": null, "meta": {"status": false,
            "message": "The page must be at least 1. (and 1 more error)",
            "message_parameters": [], "message_code": "400-2",
            "errors": {"page": ["The page must be at least 1."],
                       "per_page": ["The per page must be at least 1."]}}})
    );
}

async fn paging_walks_the_downline_with_the_paginator_meta(app: TestApp) {
    let (admin, admin_key) = app.account("admin", None, false).await;
    let mut all = Vec::new();
    for i in 0..12 {
        let name = format!("user{i:02}");
        let (a, _) = app.account(&name, Some("admin"), false).await;
        all.push(item(a.id, &name, &name, false, admin.id, T0));
    }
    let page = |n: i64, from: i64, to: i64| {
        let rows = all[(from - 1) as usize..to as usize].to_vec();
        paged(Value::Array(rows), n, 5, 12, 3, json!(from), json!(to))
    };
    let cases = [
        ("page=1&per_page=5", page(1, 1, 5)),
        ("page=2&per_page=5", page(2, 6, 10)),
        ("page=3&per_page=5", page(3, 11, 12)),
        (
            "page=4&per_page=5",
            paged(json!([]), 4, 5, 12, 3, Value::Null, Value::Null),
        ),
        (
            "per_page=100",
            paged(
                Value::Array(all.clone()),
                1,
                100,
                12,
                1,
                json!(1),
                json!(12),
            ),
        ),
        (
            "per_page=1&page=12",
            paged(json!([all[11]]), 12, 1, 12, 12, json!(12), json!(12)),
        ),
        (
            "",
            paged(
                Value::Array(all[..10].to_vec()),
                1,
                10,
                12,
                2,
                json!(1),
                json!(10),
            ),
        ),
    ];
    for (q, expected) in cases {
        let (status, answer) = app.get(&format!("{LIST}?{q}"), &admin_key).await;
        assert_eq!(status, 200, "{q}");
        assert_eq!(answer, expected, "{q}");
    }
    // An empty downline: one empty page.
    let (_, leaf) = app.account("reseller", Some("admin"), true).await;
    let (_, answer) = app.get(LIST, &leaf).await;
    assert_eq!(
        answer,
        paged(json!([]), 1, 10, 0, 1, Value::Null, Value::Null)
    );
}

async fn show_and_parents_tree_see_only_the_caller_and_its_downline(app: TestApp) {
    let w = world(&app).await;
    let [alpha, _, r2, _, _, _, u4] = items(&w);
    let alpha_key = &w.alpha.1;

    // Inside: the caller itself and its downline, in both routes.
    for (id, expected) in [(w.alpha.0, &alpha), (w.r2.0, &r2), (w.u4.0, &u4)] {
        let (status, answer) = app.get(&format!("{SHOW}?user_id={id}"), alpha_key).await;
        assert_eq!(status, 200);
        assert_eq!(answer["data"]["uname"], expected["uname"]);
        let (status, _) = app.get(&format!("{TREE}?user_id={id}"), alpha_key).await;
        assert_eq!(status, 200);
    }
    let (_, answer) = app
        .get(&format!("{SHOW}?user_id={}", w.u4.0), alpha_key)
        .await;
    let mut shown = u4.clone();
    shown["parent"] = json!({"user_id": w.r3.0, "uname": "alpha_r3"});
    assert_eq!(answer, done(shown));

    // Outside: a sibling reseller, its account, the caller's own parent, an
    // id that does not exist, and ids that cannot exist all get one answer.
    let outside = [
        w.beta.0.to_string(),
        w.beta_u2.to_string(),
        w.admin.0.to_string(),
        "999999".into(),
        "0".into(),
        "-1".into(),
        "abc".into(),
        "1.5".into(),
        "+1".into(),
        "99999999999999999999999".into(),
    ];
    for id in &outside {
        for route in [SHOW, TREE] {
            let path = query(route, &[("user_id", id)]);
            let (status, answer) = app.get(&path, alpha_key).await;
            assert_eq!(
                (status, &answer),
                (422, &no_such_user(false)),
                "{route} {id}"
            );
            let (status, answer) = en(&app, "GET", &path, alpha_key, None).await;
            assert_eq!(
                (status, &answer),
                (422, &no_such_user(true)),
                "{route} {id}"
            );
        }
    }
    // Below the caller but not in its downline: alpha_r3 cannot see alpha_r2.
    let (status, answer) = app
        .get(&format!("{SHOW}?user_id={}", w.r2.0), &w.r3.1)
        .await;
    assert_eq!((status, answer), (422, no_such_user(false)));

    // Missing user_id is `required`.
    for route in [SHOW, TREE] {
        for path in [route.to_owned(), format!("{route}?user_id=")] {
            let (status, answer) = en(&app, "GET", &path, alpha_key, None).await;
            assert_eq!(status, 422);
            assert_eq!(
                answer,
                invalid(json!({"user_id": ["The user id field is required."]}), true)
            );
        }
    }

    // The sibling's accounts never appear in the list, whatever the filter.
    let (_, answer) = app.get(&format!("{LIST}?per_page=100"), alpha_key).await;
    let listed: Vec<i64> = answer["data"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["user_id"].as_i64().expect("id"))
        .collect();
    assert_eq!(listed, vec![w.r2.0, w.u2, w.r3.0, w.u4.0]);
}

async fn parents_tree_runs_from_the_root_down_to_the_parent(app: TestApp) {
    let w = world(&app).await;
    let node = |id: i64, name: &str, reseller: bool| json!({"id": id, "username": name, "is_reseller": if reseller { "yes" } else { "no" }});
    let named = |id: i64, name: &str, reseller: bool| json!({"id": id, "username": name, "is_reseller": reseller});
    let chain = [
        node(w.admin.0, "admin", true),
        node(w.alpha.0, "alpha", true),
        node(w.r2.0, "Alpha_R2", true),
        node(w.r3.0, "alpha_r3", true),
    ];
    let u4 = named(w.u4.0, "alpha_u4", false);
    let root = named(w.admin.0, "admin", true);
    let expected_u4 = done(json!({"selected_user": u4, "main_parent": root, "tree": chain}));
    // The same chain whoever above asks, the caller's own ancestors included.
    for caller in [&w.admin.1, &w.alpha.1, &w.r2.1, &w.r3.1] {
        let (status, answer) = app.get(&format!("{TREE}?user_id={}", w.u4.0), caller).await;
        assert_eq!(status, 200);
        assert_eq!(answer, expected_u4);
    }
    let (_, answer) = app
        .get(&format!("{TREE}?user_id={}", w.alpha.0), &w.alpha.1)
        .await;
    assert_eq!(
        answer,
        done(
            json!({"selected_user": named(w.alpha.0, "alpha", true), "main_parent": root,
            "tree": [chain[0]]})
        )
    );
    // A root is its own main parent, with nothing above it.
    let (_, answer) = app
        .get(
            &format!("/v1/api/user/parents_tree?user_id={}", w.admin.0),
            &w.admin.1,
        )
        .await;
    assert_eq!(
        answer,
        done(json!({"selected_user": root, "main_parent": root, "tree": []}))
    );
}

async fn every_create_validation_message_in_both_languages(app: TestApp) {
    let (_, admin) = app.account("admin", None, false).await;
    app.account("Taken.Name", Some("admin"), false).await;
    let long = "x".repeat(256);
    let long_email = format!("{}@example.com", "a".repeat(250));
    // (body, fa errors, en errors)
    let cases: Vec<(Value, Value, Value)> = vec![
        (
            json!({}),
            json!({"user_name": ["تکمیل گزینه user name الزامی است"],
                   "password": ["تکمیل گزینه password الزامی است"]}),
            json!({"user_name": ["The user name field is required."],
                   "password": ["The password field is required."]}),
        ),
        (
            json!({"user_name": "", "password": null}),
            json!({"user_name": ["تکمیل گزینه user name الزامی است"],
                   "password": ["تکمیل گزینه password الزامی است"]}),
            json!({"user_name": ["The user name field is required."],
                   "password": ["The password field is required."]}),
        ),
        (
            json!({"user_name": "ab", "password": PASSWORD}),
            json!({"user_name": ["فرمت گزینه user name صحیح نمی باشد"]}),
            json!({"user_name": ["The user name format is invalid."]}),
        ),
        (
            json!({"user_name": "has space", "password": PASSWORD}),
            json!({"user_name": ["فرمت گزینه user name صحیح نمی باشد"]}),
            json!({"user_name": ["The user name format is invalid."]}),
        ),
        (
            json!({"user_name": "a".repeat(33), "password": PASSWORD}),
            json!({"user_name": ["فرمت گزینه user name صحیح نمی باشد"]}),
            json!({"user_name": ["The user name format is invalid."]}),
        ),
        (
            json!({"user_name": 12345, "password": PASSWORD}),
            json!({"user_name": ["گزینه user name باید تنها شامل حروف باشد"]}),
            json!({"user_name": ["The user name must be a string."]}),
        ),
        (
            json!({"user_name": "taken.name", "password": PASSWORD}),
            json!({"user_name": ["این user name قبلاً ثبت شده است"]}),
            json!({"user_name": ["The user name has already been taken."]}),
        ),
        (
            json!({"user_name": "fresh", "password": "Sh0rt!"}),
            json!({"password": ["گزینه password باید حداقل 8 کاراکتر باشد"]}),
            json!({"password": ["The password must be at least 8 characters."]}),
        ),
        (
            json!({"user_name": "fresh", "password": "alllowercase"}),
            json!({"password": ["گزینه password باید حداقل شامل یک حرف بزرگ و یک حرف کوچک باشد",
                                "گزینه password باید حداقل شامل یک نماد باشد",
                                "گزینه password باید حداقل شامل یک عدد باشد"]}),
            json!({"password": ["The password must contain at least one uppercase and one lowercase letter.",
                                "The password must contain at least one symbol.",
                                "The password must contain at least one number."]}),
        ),
        (
            json!({"user_name": "fresh", "password": "ALLUPPER-12"}),
            json!({"password": ["گزینه password باید حداقل شامل یک حرف بزرگ و یک حرف کوچک باشد"]}),
            json!({"password": ["The password must contain at least one uppercase and one lowercase letter."]}),
        ),
        (
            json!({"user_name": "fresh", "password": "NoSymbol12"}),
            json!({"password": ["گزینه password باید حداقل شامل یک نماد باشد"]}),
            json!({"password": ["The password must contain at least one symbol."]}),
        ),
        (
            json!({"user_name": "fresh", "password": "No-digits-here"}),
            json!({"password": ["گزینه password باید حداقل شامل یک عدد باشد"]}),
            json!({"password": ["The password must contain at least one number."]}),
        ),
        (
            json!({"user_name": "fresh", "password": 12345678}),
            json!({"password": ["گزینه password باید تنها شامل حروف باشد"]}),
            json!({"password": ["The password must be a string."]}),
        ),
        (
            json!({"user_name": "fresh", "password": PASSWORD, "name_family": long}),
            json!({"name_family": ["گزینه name family نباید بزرگتر از 255 کاراکتر باشد"]}),
            json!({"name_family": ["The name family must not be greater than 255 characters."]}),
        ),
        (
            json!({"user_name": "fresh", "password": PASSWORD, "name_family": ["x"]}),
            json!({"name_family": ["گزینه name family باید تنها شامل حروف باشد"]}),
            json!({"name_family": ["The name family must be a string."]}),
        ),
        (
            json!({"user_name": "fresh", "password": PASSWORD, "mobile_number": "0912-123-4567"}),
            json!({"mobile_number": ["فرمت گزینه mobile number صحیح نمی باشد"]}),
            json!({"mobile_number": ["The mobile number format is invalid."]}),
        ),
        (
            json!({"user_name": "fresh", "password": PASSWORD, "mobile_number": 9121234567_i64}),
            json!({"mobile_number": ["گزینه mobile number باید تنها شامل حروف باشد"]}),
            json!({"mobile_number": ["The mobile number must be a string."]}),
        ),
        (
            json!({"user_name": "fresh", "password": PASSWORD, "email": "not-an-email"}),
            json!({"email": ["فرمت گزینه email صحیح نمی باشد"]}),
            json!({"email": ["The email format is invalid."]}),
        ),
        (
            json!({"user_name": "fresh", "password": PASSWORD, "email": long_email}),
            json!({"email": ["گزینه email نباید بزرگتر از 255 کاراکتر باشد"]}),
            json!({"email": ["The email must not be greater than 255 characters."]}),
        ),
        (
            json!({"user_name": "fresh", "password": PASSWORD, "is_reseller": "maybe"}),
            json!({"is_reseller": ["گزینه is reseller تنها می تواند صحیح یا غلط باشد"]}),
            json!({"is_reseller": ["The is reseller field must be true or false."]}),
        ),
        // Every field wrong at once: each reported, in the route's order.
        (
            json!({"is_reseller": 2, "email": "a@b@c", "mobile_number": "+98", "name_family": 1,
                   "password": "abc", "user_name": "TAKEN.NAME"}),
            json!({"user_name": ["این user name قبلاً ثبت شده است"],
                   "password": ["گزینه password باید حداقل 8 کاراکتر باشد"],
                   "name_family": ["گزینه name family باید تنها شامل حروف باشد"],
                   "mobile_number": ["فرمت گزینه mobile number صحیح نمی باشد"],
                   "email": ["فرمت گزینه email صحیح نمی باشد"],
                   "is_reseller": ["گزینه is reseller تنها می تواند صحیح یا غلط باشد"]}),
            json!({"user_name": ["The user name has already been taken."],
                   "password": ["The password must be at least 8 characters."],
                   "name_family": ["The name family must be a string."],
                   "mobile_number": ["The mobile number format is invalid."],
                   "email": ["The email format is invalid."],
                   "is_reseller": ["The is reseller field must be true or false."]}),
        ),
    ];
    let history = app.history_len().await;
    for (body, fa_errors, en_errors) in cases {
        let (status, answer) = app.post(CREATE, &admin, &body).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(answer, invalid(fa_errors, false), "{body}");
        let (status, answer) = en(&app, "POST", CREATE, &admin, Some(&body)).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(answer, invalid(en_errors, true), "{body}");
    }
    // Nothing was created.
    assert_eq!(app.history_len().await, history);
    let (_, answer) = app.get(LIST, &admin).await;
    assert_eq!(answer["meta"]["total"], 1);

    // One literal body, to pin the Persian summary.
    let (_, answer) = app
        .post(
            CREATE,
            &admin,
            &json!({"user_name": "fresh", "password": "lowercase!"}),
        )
        .await;
    assert_eq!(
        answer,
        json!({"data": null, "meta": {"status": false,
            "message": "گزینه password باید حداقل شامل یک حرف بزرگ و یک حرف کوچک باشد (و 1 خطای دیگر)",
            "message_parameters": [], "message_code": "400-2",
            "errors": {"password": ["گزینه password باید حداقل شامل یک حرف بزرگ و یک حرف کوچک باشد",
                                    "گزینه password باید حداقل شامل یک عدد باشد"]}}})
    );
    // A body that is not a JSON object is a 400 and creates nothing.
    let res = app
        .raw(
            "POST",
            CREATE,
            &[
                ("content-type", "application/json"),
                ("authorization", admin.as_str()),
            ],
            b"[1]",
        )
        .await;
    assert_eq!(res.status, 400);
    assert_eq!(app.history_len().await, history);
    app.assert_invariants().await;
}

async fn racing_creates_of_one_username_make_exactly_one_account(app: TestApp) {
    let (_, admin) = app.account("admin", None, false).await;
    let history = app.history_len().await;
    let names = ["Racer", "racer", "RACER", "rAcEr"];
    let mut tasks = Vec::new();
    for name in names {
        let (addr, token) = (app.addr, admin.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = HttpClient::new(addr);
            let body = json!({"user_name": name, "password": PASSWORD}).to_string();
            let headers = [
                ("content-type", "application/json"),
                ("authorization", token.as_str()),
            ];
            let res = client
                .request("POST", CREATE, &headers, body.as_bytes())
                .await
                .expect("request");
            (res.status, res.json())
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.expect("join"));
    }
    let won: Vec<_> = answers.iter().filter(|(s, _)| *s == 200).collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    let taken = invalid(
        json!({"user_name": ["این user name قبلاً ثبت شده است"]}),
        false,
    );
    for (status, answer) in answers.iter().filter(|(s, _)| *s != 200) {
        assert_eq!((*status, answer), (422, &taken));
    }
    assert_eq!(app.history_len().await, history + 1);
    let (_, answer) = app.get(LIST, &admin).await;
    assert_eq!(answer["meta"]["total"], 1);
    assert_eq!(answer["data"][0]["user_id"], won[0].1["data"]["user_id"]);
    app.assert_invariants().await;
}

async fn plain_users_and_strangers_are_refused(app: TestApp) {
    let w = world(&app).await;
    let forbidden = json!({"data": null, "meta": {"status": false,
        "message": "شما به این بخش دسترسی ندارید", "message_parameters": [],
        "message_code": "403-1", "errors": {}}});
    let unauthenticated = json!({"data": null, "meta": {"status": false,
        "message": "اطلاعات وارد شده صحیح نمی باشد", "message_parameters": [],
        "message_code": "400-1", "errors": {}}});
    let history = app.history_len().await;
    let own = format!("user_id={}", w.u4.0);
    for prefix in ["/api", "/v1/api"] {
        let routes = [
            ("POST", format!("{prefix}/user/create")),
            ("GET", format!("{prefix}/user/list")),
            ("GET", format!("{prefix}/user/show?{own}")),
            ("GET", format!("{prefix}/user/parents_tree?{own}")),
        ];
        for (method, path) in &routes {
            // Even a valid body, even about itself.
            let body = json!({"user_name": "sneaky", "password": PASSWORD});
            let (status, answer) = app
                .call(method, path, Some(w.u4.1.as_str()), Some(&body))
                .await;
            assert_eq!((status, &answer), (403, &forbidden), "{method} {path}");
            let (status, answer) = app.call(method, path, None, Some(&body)).await;
            assert_eq!(
                (status, &answer),
                (401, &unauthenticated),
                "{method} {path}"
            );
        }
    }
    assert_eq!(app.history_len().await, history);
    app.assert_invariants().await;
}

/// A NUL character cannot be stored or searched for (PostgreSQL refuses it in
/// any text value, which made these a 500 there): a format error on both
/// backends, and nothing created.
async fn text_with_a_nul_is_a_format_error_not_a_server_error(app: TestApp) {
    let (_, admin) = app.account("admin", None, false).await;
    app.account("kid", Some("admin"), false).await;
    let format = |f: &str| format!("The {f} format is invalid.");

    let body = json!({"user_name": "nul_name", "password": PASSWORD, "name_family": "a\u{0}b"});
    let (status, answer) = en(&app, "POST", CREATE, &admin, Some(&body)).await;
    assert_eq!((status, answer), (422, invalid(json!({"name_family": [format("name family")]}), true)));
    let body = json!({"user_name": "nul_mail", "password": PASSWORD, "email": "a\u{0}@b"});
    let (status, answer) = en(&app, "POST", CREATE, &admin, Some(&body)).await;
    assert_eq!((status, answer), (422, invalid(json!({"email": [format("email")]}), true)));

    for (field, attribute) in [("username", "username"), ("name", "name")] {
        let path = query(LIST, &[(field, "k\u{0}d")]);
        let (status, answer) = en(&app, "GET", &path, &admin, None).await;
        assert_eq!((status, answer), (422, invalid(json!({field: [format(attribute)]}), true)));
    }

    let (status, answer) = app.get(LIST, &admin).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["meta"]["total"], 1, "nothing was created: {answer}");
}
}
