//! `GET /me`, `GET/POST /accounts`, `GET/PATCH /accounts/{id}`.

use serde_json::json;

use crate::native_common::{account_json, brief, get, not_found, problem, send};

crate::scenarios! {
async fn the_downline_is_listed_filtered_and_paged_by_cursor(app: TestApp) {
    app.account("admin", None, false).await;
    let (r, rk) = app.account("reseller", Some("admin"), true).await;
    let (c, _) = app.account("child", Some("reseller"), false).await;
    let (c2, _) = app.account("subres", Some("reseller"), true).await;
    let (g, _) = app.account("grandkid", Some("subres"), false).await;
    app.account("outsider", Some("admin"), true).await;

    let (status, body) = get(&app, "/lk/v1/accounts", &rk).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"items": [account_json(&c), account_json(&c2), account_json(&g)],
        "next_cursor": null}));
    let (_, body) = get(&app, "/lk/v1/accounts?direct=true", &rk).await;
    assert_eq!(body["items"], json!([account_json(&c), account_json(&c2)]));
    let (_, body) = get(&app, "/lk/v1/accounts?direct=false", &rk).await;
    assert_eq!(body["items"], json!([account_json(&g)]));
    let (_, body) = get(&app, "/lk/v1/accounts?reseller=true", &rk).await;
    assert_eq!(body["items"], json!([account_json(&c2)]));
    let (_, body) = get(&app, "/lk/v1/accounts?q=GRAND", &rk).await;
    assert_eq!(body["items"], json!([account_json(&g)]));
    let (_, body) = get(&app, &format!("/lk/v1/accounts?parent={}", c2.id), &rk).await;
    assert_eq!(body["items"], json!([account_json(&g)]));
    // A parent outside the caller's reach lists nothing, like one that does not exist.
    let (_, outsider) = get(&app, "/lk/v1/accounts?parent=1", &rk).await;
    assert_eq!(outsider, json!({"items": [], "next_cursor": null}));
    assert_eq!(get(&app, "/lk/v1/accounts?parent=999999", &rk).await.1, outsider);

    // Pages of one, with an account created and one... between pages.
    let (_, p1) = get(&app, "/lk/v1/accounts?limit=1", &rk).await;
    assert_eq!(p1["items"], json!([account_json(&c)]));
    let cur = p1["next_cursor"].as_str().expect("cursor").to_owned();
    let (late, _) = app.account("late", Some("reseller"), false).await;
    let (_, p2) = get(&app, &format!("/lk/v1/accounts?limit=2&cursor={cur}"), &rk).await;
    assert_eq!(p2["items"], json!([account_json(&c2), account_json(&g)]));
    let cur = p2["next_cursor"].as_str().expect("cursor").to_owned();
    let (_, p3) = get(&app, &format!("/lk/v1/accounts?limit=2&cursor={cur}"), &rk).await;
    assert_eq!(p3, json!({"items": [account_json(&late)], "next_cursor": null}));

    let (status, body) = get(&app, "/lk/v1/accounts?limit=0&cursor=zz&direct=maybe", &rk).await;
    assert_eq!((status, body), (422, json!({
        "type": "/lk/v1/problems/validation", "title": "Validation failed", "status": 422,
        "detail": "One or more fields are invalid.",
        "errors": {
            "cursor": ["is not a cursor of this list"],
            "direct": ["must be true or false"],
            "limit": ["must be a whole number from 1 to 500"],
        },
    })));
    let _ = r;
}

async fn an_account_shows_its_ancestors_as_far_as_the_caller_sees(app: TestApp) {
    let (admin, ak) = app.account("admin", None, false).await;
    let (r, rk) = app.account("reseller", Some("admin"), true).await;
    let (c2, _) = app.account("subres", Some("reseller"), true).await;
    let (g, _) = app.account("grandkid", Some("subres"), false).await;
    let (x, _) = app.account("outsider", Some("admin"), true).await;

    let mut expected = account_json(&g);
    expected["ancestors"] = json!([brief(&r), brief(&c2)]);
    assert_eq!(get(&app, &format!("/lk/v1/accounts/{}", g.id), &rk).await, (200, expected.clone()));
    expected["ancestors"] = json!([brief(&admin), brief(&r), brief(&c2)]);
    assert_eq!(get(&app, &format!("/lk/v1/accounts/{}", g.id), &ak).await, (200, expected));
    let mut me = account_json(&r);
    me["ancestors"] = json!([]);
    assert_eq!(get(&app, &format!("/lk/v1/accounts/{}", r.id), &rk).await, (200, me));

    let gone = (404, not_found("No such account."));
    assert_eq!(get(&app, &format!("/lk/v1/accounts/{}", x.id), &rk).await, gone);
    assert_eq!(get(&app, &format!("/lk/v1/accounts/{}", admin.id), &rk).await, gone);
    assert_eq!(get(&app, "/lk/v1/accounts/999999", &rk).await, gone);
    assert_eq!(get(&app, "/lk/v1/accounts/nope", &rk).await, gone);
}

async fn resellers_create_beneath_themselves_with_the_password_policy(app: TestApp) {
    app.account("admin", None, false).await;
    let (r, rk) = app.account("reseller", Some("admin"), true).await;
    let (_, uk) = app.account("plain", Some("reseller"), false).await;

    let body = json!({"username": "newbie", "password": "Secret-pass1", "name": "New Bie"});
    let (status, made) = send(&app, "POST", "/lk/v1/accounts", &rk, body.clone()).await;
    assert_eq!(status, 201);
    let id = made["id"].as_i64().expect("id");
    assert_eq!(made, json!({"id": id, "username": "newbie", "name": "New Bie", "role": "user",
        "status": "active", "parent_id": r.id, "created_at": "2026-01-01T00:00:00Z"}));
    let (status, again) = send(&app, "POST", "/lk/v1/accounts", &rk, body.clone()).await;
    assert_eq!((status, &again["errors"]), (422, &json!({"username": ["is already taken"]})));

    let (status, weak) = send(&app, "POST", "/lk/v1/accounts", &rk,
        json!({"username": "x", "password": "abcdefgh", "is_reseller": "yes"})).await;
    assert_eq!((status, weak), (422, json!({
        "type": "/lk/v1/problems/validation", "title": "Validation failed", "status": 422,
        "detail": "One or more fields are invalid.",
        "errors": {
            "is_reseller": ["must be a boolean"],
            "password": ["must contain an upper-case and a lower-case letter",
                "must contain a symbol", "must contain a digit"],
            "username": ["must be 3 to 32 characters of A-Z a-z 0-9 . _ -"],
        },
    })));
    let (status, body) = send(&app, "POST", "/lk/v1/accounts", &uk, body).await;
    assert_eq!((status, body), (403, problem("forbidden", "Forbidden", 403,
        "Only resellers and administrators create accounts.")));
    assert_eq!(get(&app, "/lk/v1/accounts", &uk).await.0, 403);
    app.assert_invariants().await;
}

async fn suspending_stops_credentials_at_once_and_renames_are_recorded(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, rk) = app.account("reseller", Some("admin"), true).await;
    let (c, ck) = app.account("child", Some("reseller"), false).await;
    let (x, _) = app.account("outsider", Some("admin"), false).await;
    // The child's key is now in the credential cache.
    assert_eq!(get(&app, "/lk/v1/me", &ck).await.0, 200);

    let before = app.history_len().await;
    let path = format!("/lk/v1/accounts/{}", c.id);
    let (status, body) = send(&app, "PATCH", &path, &rk,
        json!({"name": "Renamed", "status": "suspended"})).await;
    let mut expected = account_json(&c);
    expected["name"] = json!("Renamed");
    expected["status"] = json!("suspended");
    assert_eq!((status, body), (200, expected.clone()));
    assert_eq!(app.history_len().await, before + 2);
    assert_eq!(get(&app, "/lk/v1/me", &ck).await.0, 401);
    // Unchanged fields record nothing.
    assert_eq!(send(&app, "PATCH", &path, &rk, json!({"status": "suspended"})).await, (200, expected));
    assert_eq!(app.history_len().await, before + 2);
    let (status, _) = send(&app, "PATCH", &path, &rk, json!({"status": "active"})).await;
    assert_eq!(status, 200);
    assert_eq!(get(&app, "/lk/v1/me", &ck).await.0, 200);

    let gone = (404, not_found("No such account."));
    let out = format!("/lk/v1/accounts/{}", x.id);
    assert_eq!(send(&app, "PATCH", &out, &rk, json!({"status": "suspended"})).await, gone);
    assert_eq!(send(&app, "PATCH", "/lk/v1/accounts/999999", &rk, json!({"status": "suspended"})).await, gone);
    let (status, body) = send(&app, "PATCH", &path, &rk, json!({"status": "gone", "name": ""})).await;
    assert_eq!((status, &body["errors"]), (422, &json!({
        "name": ["must be 1 to 255 characters"], "status": ["must be active or suspended"]})));
    let (status, _) = send(&app, "PATCH", &path, &ck, json!({"name": "me"})).await;
    assert_eq!(status, 403);
    app.assert_invariants().await;
}

/// PostgreSQL's `text` holds no U+0000 and SQLite's does: a NUL in text
/// that is stored or searched is refused by both, and one in a username or
/// a password gets the answer any unknown one gets (the core parses a
/// username before it looks one up); nothing changes.
async fn a_nul_character_is_refused_alike_on_both_backends(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, rk) = app.account("reseller", Some("admin"), true).await;
    let (c, _) = app.account("child", Some("reseller"), false).await;
    let n = app.number("+61400000001", Some("reseller")).await;
    let refused = |field: &str| json!({
        "type": "/lk/v1/problems/validation", "title": "Validation failed", "status": 422,
        "detail": "One or more fields are invalid.",
        "errors": {field: ["must not contain a NUL character"]},
    });
    let before = app.history_len().await;
    let path = format!("/lk/v1/accounts/{}", c.id);
    assert_eq!(send(&app, "PATCH", &path, &rk, json!({"name": "a\u{0}b", "status": "active"})).await,
        (422, refused("name")));
    assert_eq!(send(&app, "POST", "/lk/v1/accounts", &rk,
        json!({"username": "fresh", "password": "Secret-pass1", "name": "\u{0}"})).await,
        (422, refused("name")));
    assert_eq!(get(&app, "/lk/v1/accounts?q=%00", &rk).await, (422, refused("q")));
    assert_eq!(send(&app, "POST", "/lk/v1/accounts", &rk, json!({"username": "fresh",
        "password": "Secret-pass1", "email": "a\u{0}@b", "mobile": "\u{0}"})).await.1["errors"],
        json!({"email": ["must not contain a NUL character"], "mobile": ["must not contain a NUL character"]}));
    // A username at login, in a path or in a bulk item names no account,
    // like any unknown one; a password is only compared.
    let wrong = (401, problem("unauthenticated", "Unauthenticated", 401, "Wrong username or password."));
    for (username, password) in [("admin\u{0}", "Secret-pass1"), ("admin", "Secret-pass1\u{0}")] {
        assert_eq!(app.call("POST", "/lk/v1/sessions", None,
            Some(&json!({"username": username, "password": password}))).await, wrong);
    }
    let grant = |who: &str| format!("/lk/v1/numbers/{}/grants/{who}", n.id);
    let terms = json!({"send": true, "gets": true});
    let nobody = send(&app, "PUT", &grant("nobody"), &rk, terms.clone()).await;
    assert_eq!(nobody.0, 404);
    assert_eq!(send(&app, "PUT", &grant("child%00"), &rk, terms).await, nobody);
    let item = |who: &str| json!({"atomic": false, "items": [
        {"op": "assign", "number": n.id, "account": who, "send": true, "gets": true}]});
    let (status, body) = send(&app, "POST", "/lk/v1/grants/bulk", &rk, item("child\u{0}")).await;
    assert_eq!((status, &body["results"][0]["status"]), (200, &json!(404)));
    assert_eq!((status, body), send(&app, "POST", "/lk/v1/grants/bulk", &rk, item("nobody")).await);
    assert_eq!(app.history_len().await, before);
    app.assert_invariants().await;
}
}
