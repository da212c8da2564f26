//! The native face's sessions, keys and problem details.

use serde_json::json;

use crate::native_common::{bearer, delete, get, login, not_found, problem, send};

crate::scenarios! {
async fn a_session_logs_in_sees_itself_and_logs_out(app: TestApp) {
    let (admin, _) = app.account("admin", None, false).await;
    let (status, body) = app
        .call("POST", "/lk/v1/sessions", None,
            Some(&json!({"username": "admin", "password": "Secret-pass1"})))
        .await;
    assert_eq!(status, 201);
    assert_eq!(body["expires_at"], json!("2026-01-01T10:00:00Z"));
    let token = body["token"].as_str().expect("token").to_owned();
    assert_eq!(body.as_object().map(|o| o.len()), Some(2));

    let (status, me) = get(&app, "/lk/v1/me", &token).await;
    assert_eq!(status, 200);
    assert_eq!(me, json!({
        "id": admin.id, "username": "admin", "name": "admin", "role": "admin",
        "status": "active", "parent_id": null, "created_at": "2026-01-01T00:00:00Z",
        "credential": "session",
        "limits": {"requests_per_second": 200, "burst": 400},
    }));

    assert_eq!(delete(&app, "/lk/v1/sessions/current", &token).await.0, 204);
    let (status, body) = get(&app, "/lk/v1/me", &token).await;
    assert_eq!((status, body), (401, problem("unauthenticated", "Unauthenticated", 401,
        "Missing, unknown or revoked credential.")));

    let (status, body) = app
        .call("POST", "/lk/v1/sessions", None,
            Some(&json!({"username": "admin", "password": "wrong"})))
        .await;
    assert_eq!((status, body), (401, problem("unauthenticated", "Unauthenticated", 401,
        "Wrong username or password.")));
    let (status, body) = app.call("POST", "/lk/v1/sessions", None, Some(&json!({}))).await;
    assert_eq!((status, body), (422, json!({
        "type": "/lk/v1/problems/validation", "title": "Validation failed", "status": 422,
        "detail": "One or more fields are invalid.",
        "errors": {"password": ["is required"], "username": ["is required"]},
    })));
}

async fn an_expired_session_is_refused(app: TestApp) {
    app.account("admin", None, false).await;
    let token = login(&app, "admin").await;
    app.clock.advance(10 * 3600);
    let (status, body) = get(&app, "/lk/v1/me", &token).await;
    assert_eq!((status, body), (401, problem("unauthenticated", "Unauthenticated", 401,
        "The session has expired.")));
}

async fn keys_are_made_from_sessions_only_listed_without_secrets_and_revoked_at_once(app: TestApp) {
    let (_, api_key) = app.account("admin", None, false).await;
    let (status, body) = send(&app, "POST", "/lk/v1/keys", &api_key, json!({})).await;
    assert_eq!((status, body), (403, problem("forbidden", "Forbidden", 403,
        "Only a session token may create API keys.")));
    let (status, body) = delete(&app, "/lk/v1/sessions/current", &api_key).await;
    assert_eq!(status, 403, "{body}");

    let session = login(&app, "admin").await;
    let (status, made) = send(&app, "POST", "/lk/v1/keys", &session, json!({})).await;
    assert_eq!(status, 201);
    let id = made["id"].as_i64().expect("id");
    let key = made["key"].as_str().expect("key").to_owned();
    assert_eq!(made, json!({"id": id, "key": key, "created_at": "2026-01-01T00:00:00Z"}));

    // The CLI's key (made before) and the new one; never a secret; sessions not listed.
    let (status, list) = get(&app, "/lk/v1/keys", &key).await;
    assert_eq!(status, 200);
    let first = list["items"][0]["id"].as_i64().expect("first");
    assert_eq!(list, json!({"items": [
        {"id": first, "created_at": "2026-01-01T00:00:00Z"},
        {"id": id, "created_at": "2026-01-01T00:00:00Z"},
    ], "next_cursor": null}));
    let (_, page) = get(&app, "/lk/v1/keys?limit=1", &key).await;
    assert_eq!(page["items"], json!([{"id": first, "created_at": "2026-01-01T00:00:00Z"}]));
    let cursor = page["next_cursor"].as_str().expect("cursor").to_owned();
    let (_, page) = get(&app, &format!("/lk/v1/keys?limit=1&cursor={cursor}"), &key).await;
    assert_eq!(page, json!({"items": [{"id": id, "created_at": "2026-01-01T00:00:00Z"}], "next_cursor": null}));

    // The key authenticated (and so is cached); revoking it ends it at once.
    assert_eq!(get(&app, "/lk/v1/me", &key).await.0, 200);
    let before = app.history_len().await;
    assert_eq!(delete(&app, &format!("/lk/v1/keys/{id}"), &session).await.0, 204);
    assert_eq!(app.history_len().await, before + 1);
    assert_eq!(get(&app, "/lk/v1/me", &key).await.0, 401);
    let gone = not_found("No such key.");
    assert_eq!(delete(&app, &format!("/lk/v1/keys/{id}"), &session).await, (404, gone.clone()));
    assert_eq!(delete(&app, "/lk/v1/keys/999999", &session).await, (404, gone.clone()));
    assert_eq!(delete(&app, "/lk/v1/keys/abc", &session).await, (404, gone.clone()));

    // Another account's key is as unknown as a missing one.
    app.account("other", Some("admin"), true).await;
    let other = login(&app, "other").await;
    let (_, theirs) = send(&app, "POST", "/lk/v1/keys", &other, json!({})).await;
    let theirs_id = theirs["id"].as_i64().expect("id");
    assert_eq!(delete(&app, &format!("/lk/v1/keys/{theirs_id}"), &session).await, (404, gone));
    assert_eq!(get(&app, "/lk/v1/me", theirs["key"].as_str().expect("key")).await.0, 200);
    app.assert_invariants().await;
}

async fn unknown_routes_wrong_methods_and_problem_pages(app: TestApp) {
    let (_, key) = app.account("admin", None, false).await;
    let res = app.raw("GET", "/lk/v1/nowhere", &[("authorization", &bearer(&key))], b"").await;
    assert_eq!(res.status, 404);
    assert_eq!(res.header("content-type"), Some("application/problem+json"));
    assert_eq!(res.json(), not_found("No such route."));
    let (status, body) = send(&app, "POST", "/lk/v1/me", &key, json!({})).await;
    assert_eq!((status, body), (405, problem("method-not-allowed", "Method not allowed", 405,
        "The route does not serve this method.")));
    let (status, body) = get(&app, "/lk/v1/numbers/1/grants/2", &key).await;
    assert_eq!(status, 405, "{body}");

    for kind in ["not-found", "unauthenticated", "forbidden", "validation", "not-assigned",
        "already-assigned", "permission-exceeded", "rate-limited", "too-large", "bad-body",
        "method-not-allowed", "timeout", "unavailable", "internal", "conflict"] {
        let res = app.raw("GET", &format!("/lk/v1/problems/{kind}"), &[], b"").await;
        assert_eq!(res.status, 200, "{kind}");
        assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"), "{kind}");
        assert!(String::from_utf8_lossy(&res.body).contains(&format!("/lk/v1/problems/{kind}")));
    }
    let res = app.raw("GET", "/lk/v1/problems/nonsense", &[], b"").await;
    assert_eq!((res.status, res.json()), (404, not_found("No such problem type.")));

    let res = app.raw("POST", "/lk/v1/sessions",
        &[("content-type", "application/json")], b"[1,2]").await;
    assert_eq!((res.status, res.json()), (400, problem("bad-body", "Bad body", 400,
        "The body is not a JSON object.")));
    let big = vec![b' '; 70 * 1024];
    let res = app.raw("POST", "/lk/v1/sessions", &[("content-type", "application/json")], &big).await;
    let over = "The body is over 64 KiB (256 KiB for a bulk request).";
    assert_eq!((res.status, res.json()), (413, problem("too-large", "Body too large", 413, over)));
    let res = app.raw("GET", "/lk/v1/me", &[], b"").await;
    assert_eq!(res.status, 401);
    assert_eq!(res.header("www-authenticate"), Some("Bearer"));
}

async fn the_openapi_document_lists_the_native_routes_and_their_problems(app: TestApp) {
    let res = app.raw("GET", "/openapi.json", &[], b"").await;
    assert_eq!(res.status, 200);
    let doc = res.json();
    let put = &doc["paths"]["/lk/v1/numbers/{number}/grants/{account}"]["put"];
    assert_eq!(put["tags"], json!(["native"]));
    assert_eq!(put["responses"]["409"]["content"]["application/problem+json"]["schema"],
        json!({"$ref": "#/components/schemas/ProblemBody"}));
    assert_eq!(put["responses"]["409"]["description"],
        json!("`/lk/v1/problems/already-assigned`"));
    assert_eq!(put["responses"]["429"]["description"], json!("`/lk/v1/problems/rate-limited`"));
    // The rate limit's headers on an authenticated answer, and when to retry
    // on a 429; none on a route that takes no credential.
    let headers = |r: &serde_json::Value| -> Vec<String> {
        r["headers"].as_object().map(|h| h.keys().cloned().collect()).unwrap_or_default()
    };
    let quota = ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"];
    assert_eq!(headers(&put["responses"]["201"]), quota);
    assert_eq!(headers(&put["responses"]["429"]), [&quota[..], &["Retry-After"]].concat());
    assert_eq!(put["responses"]["429"]["headers"]["RateLimit-Remaining"]["schema"],
        json!({"type": "integer", "minimum": 0}));
    assert_eq!(headers(&put["responses"]["409"]), quota);
    assert!(headers(&put["responses"]["401"]).is_empty());
    assert!(headers(&doc["paths"]["/lk/v1/problems/{kind}"]["get"]["responses"]["200"]).is_empty());
    assert!(doc["components"]["schemas"]["ProblemBody"]["properties"]["type"].is_object());
    for path in ["/lk/v1/sessions", "/lk/v1/keys/{id}", "/lk/v1/me", "/lk/v1/accounts/{id}",
        "/lk/v1/numbers", "/lk/v1/numbers/{number}/history", "/lk/v1/history", "/lk/v1/pool",
        "/lk/v1/routing/{e164}", "/lk/v1/problems/{kind}"] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
    assert!(doc["tags"].as_array().is_some_and(|t| t.iter().any(|t| t["name"] == "native")));
}
}
