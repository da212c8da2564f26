//! The number's life through the native face: `PATCH` of a grant, dry runs,
//! bulk, reservations, subscriptions, unsubscribing into quarantine and the
//! administrator's release. Time moves only by the manual clock.

use linekeeper::core::Lifecycle;
use linekeeper::domain::Clock;
use linekeeper::store::Number;
use serde_json::{Value, json};

use crate::helpers::{T0, TestApp};
use crate::native_common::{delete, get, not_found, problem, send};
use crate::vn_common::{pool_number, postpaid};

fn terms(send: bool, gets: bool, end: Option<&str>) -> Value {
    json!({"send": send, "gets": gets, "expires_at": end})
}

fn changed(
    n: i64,
    a: i64,
    by: i64,
    before: Value,
    after: Value,
    cascaded: bool,
    chain: &[i64],
) -> Value {
    json!({"type": "grant.changed", "number_id": n, "account_id": a, "granted_by": by,
        "before": before, "after": after, "cascaded": cascaded, "chain": chain})
}

fn removed(n: i64, a: i64, by: i64, reason: &str, chain: &[i64]) -> Value {
    json!({"type": "grant.removed", "number_id": n, "account_id": a, "granted_by": by,
        "reason": reason, "chain": chain})
}

fn created(n: i64, a: i64, by: i64, t: Value) -> Value {
    json!({"type": "grant.created", "number_id": n, "account_id": a, "granted_by": by, "terms": t})
}

fn grants(n: i64, a: i64) -> String {
    format!("/lk/v1/numbers/{n}/grants/{a}")
}

fn conflict(detail: &str) -> Value {
    problem("conflict", "Conflict", 409, detail)
}

fn reservation(n: &Number, until: &str) -> Value {
    json!({"id": n.id, "uid": n.uid, "number": n.number, "country": n.country, "until": until})
}

fn owned(n: &Number, resubscribe: bool, at: &str) -> Value {
    json!({"id": n.id, "uid": n.uid, "number": n.number, "country": n.country,
        "state": "subscribed", "operator_id": null, "alias": null,
        "monthly_price": n.monthly_price, "yearly_price": n.yearly_price,
        "subscription": {"cycle": "month", "resubscribe": resubscribe, "subscribed_at": at}})
}

crate::scenarios! {
async fn patch_lowers_the_cascade_and_its_dry_run_writes_nothing(app: TestApp) {
    app.account("admin", None, false).await;
    let (r, rk) = app.account("reseller", Some("admin"), true).await;
    let (a, ak) = app.account("agent", Some("reseller"), true).await;
    let (b, bk) = app.account("buyer", Some("agent"), false).await;
    let (x, _) = app.account("idle", Some("reseller"), false).await;
    let n = app.number("+61400000001", Some("reseller")).await;
    let all = json!({"send": true, "gets": true});
    assert_eq!(send(&app, "PUT", &grants(n.id, a.id), &rk, all.clone()).await.0, 201);
    assert_eq!(send(&app, "PUT", &grants(n.id, b.id), &ak, all.clone()).await.0, 201);

    let lowered = json!([
        changed(n.id, a.id, r.id, terms(true, true, None), terms(true, false, None), false, &[a.id]),
        changed(n.id, b.id, a.id, terms(true, true, None), terms(true, false, None), true, &[a.id, b.id]),
    ]);
    let before = app.history_len().await;
    let dry = format!("{}?dry_run=true", grants(n.id, a.id));
    assert_eq!(send(&app, "PATCH", &dry, &rk, json!({"gets": false})).await,
        (200, json!({"dry_run": true, "changes": lowered})));
    assert_eq!(app.history_len().await, before);
    assert_eq!(get(&app, &format!("/lk/v1/numbers/{}", n.id), &bk).await.1["permissions"], all);

    assert_eq!(send(&app, "PATCH", &grants(n.id, a.id), &rk, json!({"gets": false})).await,
        (200, json!({"changes": lowered})));
    assert_eq!(app.history_len().await, before + 2);
    assert_eq!(get(&app, &format!("/lk/v1/numbers/{}", n.id), &bk).await.1["permissions"],
        json!({"send": true, "gets": false}));

    // An end lowers in time too; `null` removes the grant's own end again
    // (what was granted from it keeps the end it was given).
    let end = "2026-01-02T00:00:00Z";
    assert_eq!(send(&app, "PATCH", &grants(n.id, a.id), &rk, json!({"expires_at": end})).await,
        (200, json!({"changes": [
            changed(n.id, a.id, r.id, terms(true, false, None), terms(true, false, Some(end)), false, &[a.id]),
            changed(n.id, b.id, a.id, terms(true, false, None), terms(true, false, Some(end)), true, &[a.id, b.id]),
        ]})));
    assert_eq!(send(&app, "PATCH", &grants(n.id, a.id), &rk, json!({"expires_at": null})).await,
        (200, json!({"changes": [
            changed(n.id, a.id, r.id, terms(true, false, Some(end)), terms(true, false, None), false, &[a.id]),
        ]})));

    // Never above the caller's own holding.
    assert_eq!(send(&app, "PATCH", &grants(n.id, b.id), &ak, json!({"gets": true})).await,
        (403, problem("permission-exceeded", "Permission exceeded", 403,
            "A grant cannot give a permission the granter does not hold.")));
    assert_eq!(send(&app, "PATCH", &grants(n.id, b.id), &bk, json!({"send": false})).await,
        (403, problem("forbidden", "Forbidden", 403, "Only resellers and administrators change grants.")));
    assert_eq!(send(&app, "PATCH", &grants(n.id, x.id), &rk, json!({"send": false})).await,
        (409, problem("not-assigned", "Not assigned", 409, "The account holds no grant on the number.")));
    assert_eq!(send(&app, "PATCH", &grants(999_999, a.id), &rk, json!({"send": false})).await,
        (404, not_found("No such number.")));
    let (status, body) = send(&app, "PATCH", &grants(n.id, a.id), &rk, json!({})).await;
    assert_eq!((status, &body["errors"]), (422, &json!({"send": ["give at least one of send, gets, expires_at"]})));
    let (status, body) = send(&app, "PATCH", &grants(n.id, a.id), &rk, json!({"send": 1, "expires_at": "soon"})).await;
    assert_eq!((status, &body["errors"]), (422, &json!({
        "expires_at": ["must be an RFC 3339 date-time"], "send": ["must be a boolean"]})));
    let (status, body) = send(&app, "PATCH", &format!("{}?dry_run=maybe", grants(n.id, a.id)), &rk,
        json!({"send": false})).await;
    assert_eq!((status, &body["errors"]), (422, &json!({"dry_run": ["must be true or false"]})));
    app.assert_invariants().await;
}

async fn a_dry_run_unassign_answers_the_cascade_and_writes_nothing(app: TestApp) {
    app.account("admin", None, false).await;
    let (r, rk) = app.account("reseller", Some("admin"), true).await;
    let (a, ak) = app.account("agent", Some("reseller"), true).await;
    let (b, _) = app.account("buyer", Some("agent"), false).await;
    let n = app.number("+61400000001", Some("reseller")).await;
    let all = json!({"send": true, "gets": true});
    assert_eq!(send(&app, "PUT", &grants(n.id, a.id), &rk, all.clone()).await.0, 201);
    assert_eq!(send(&app, "PUT", &grants(n.id, b.id), &ak, all.clone()).await.0, 201);
    let before = app.history_len().await;
    assert_eq!(delete(&app, &format!("{}?dry_run=true", grants(n.id, a.id)), &rk).await,
        (200, json!({"dry_run": true, "changes": [
            removed(n.id, a.id, r.id, "unassign", &[a.id]),
            removed(n.id, b.id, a.id, "cascade", &[a.id, b.id])]})));
    assert_eq!(app.history_len().await, before);
    // The same refusals as the real thing.
    assert_eq!(delete(&app, &format!("{}?dry_run=true", grants(n.id, r.id)), &ak).await,
        (404, not_found("No such account.")));
    // `dry_run=false` is the ordinary answer.
    assert_eq!(delete(&app, &format!("{}?dry_run=false", grants(n.id, a.id)), &rk).await,
        (200, json!({"removed": [
            {"number_id": n.id, "account_id": a.id, "granted_by": r.id, "reason": "unassign", "chain": [a.id]},
            {"number_id": n.id, "account_id": b.id, "granted_by": a.id, "reason": "cascade", "chain": [a.id, b.id]}]})));
    assert_eq!(app.history_len().await, before + 2);
    app.assert_invariants().await;
}

async fn bulk_is_atomic_or_item_by_item_with_each_items_own_problem(app: TestApp) {
    app.account("admin", None, false).await;
    let (r, rk) = app.account("reseller", Some("admin"), true).await;
    let (a, _) = app.account("agent", Some("reseller"), true).await;
    let (_, bk) = app.account("buyer", Some("agent"), false).await;
    let n1 = app.number("+61400000001", Some("reseller")).await;
    let n2 = app.number("+61400000002", Some("reseller")).await;
    let items = json!([
        {"op": "assign", "number": n1.id, "account": a.id, "send": true, "gets": true},
        {"op": "assign", "number": "+61400000001", "account": a.id.to_string(), "send": true, "gets": true},
        {"op": "assign", "number": n2.uid, "account": "agent", "send": true, "gets": false},
    ]);
    let already = problem("already-assigned", "Already assigned", 409, "The account already holds the number.");
    let first = json!({"status": 201, "changes": [created(n1.id, a.id, r.id, terms(true, true, None))]});
    let third = json!({"status": 201, "changes": [created(n2.id, a.id, r.id, terms(true, false, None))]});

    let before = app.history_len().await;
    assert_eq!(send(&app, "POST", "/lk/v1/grants/bulk", &rk, json!({"atomic": true, "items": items})).await,
        (200, json!({"committed": false, "results": [
            first,
            {"status": 409, "problem": already},
            {"status": 409, "problem": conflict("Not attempted: an earlier item failed, and the request is atomic.")},
        ]})));
    assert_eq!(app.history_len().await, before);
    assert_eq!(send(&app, "POST", "/lk/v1/grants/bulk?dry_run=true", &rk,
        json!({"atomic": false, "items": items})).await,
        (200, json!({"dry_run": true, "committed": false, "results": [
            first, {"status": 409, "problem": already}, third]})));
    assert_eq!(app.history_len().await, before);
    assert_eq!(send(&app, "POST", "/lk/v1/grants/bulk", &rk, json!({"atomic": false, "items": items})).await,
        (200, json!({"committed": true, "results": [first, {"status": 409, "problem": already}, third]})));
    assert_eq!(app.history_len().await, before + 2);

    // Each item's problem is the one its own route answers.
    let alone = delete(&app, &grants(999_999, a.id), &rk).await;
    let (status, body) = send(&app, "POST", "/lk/v1/grants/bulk", &rk, json!({"atomic": false, "items": [
        {"op": "change", "number": n1.id, "account": a.id, "gets": false},
        {"op": "unassign", "number": 999_999, "account": a.id},
        {"op": "unassign", "number": n2.id, "account": a.id},
    ]})).await;
    assert_eq!((status, &body["results"][1]), (200, &json!({"status": alone.0, "problem": alone.1})));
    assert_eq!(body["results"][0], json!({"status": 200, "changes": [
        changed(n1.id, a.id, r.id, terms(true, true, None), terms(true, false, None), false, &[a.id])]}));
    assert_eq!(body["results"][2], json!({"status": 200, "changes": [
        removed(n2.id, a.id, r.id, "unassign", &[a.id])]}));

    // A malformed item refuses the whole request; so does a 1001st item.
    let (status, body) = send(&app, "POST", "/lk/v1/grants/bulk", &rk, json!({"atomic": true, "items": [
        {"op": "move"}, {"op": "assign", "number": n1.id, "account": a.id, "send": "yes"}]})).await;
    assert_eq!((status, &body["errors"]), (422, &json!({
        "items[0].account": ["is required"], "items[0].number": ["is required"],
        "items[0].op": ["must be assign, change or unassign"],
        "items[1].gets": ["is required"], "items[1].send": ["must be a boolean"]})));
    // 1000 items naming numbers by uid and accounts by username, with an
    // end, run past 64 KiB: a bulk request may be up to 256 KiB.
    let long: Vec<Value> = (0..1000).map(|i| json!({"op": "assign", "number": format!("{i:024x}"),
        "account": format!("no-such-account-{i:016}"), "send": true, "gets": false,
        "expires_at": "2027-01-01T00:00:00+00:00"})).collect();
    let body = json!({"atomic": false, "items": long.clone()}).to_string();
    assert!(body.len() > 64 * 1024 && body.len() < 256 * 1024, "{}", body.len());
    let (status, ran) = send(&app, "POST", "/lk/v1/grants/bulk?dry_run=true", &rk, json!({"atomic": false, "items": long})).await;
    assert_eq!((status, ran["results"].as_array().map(Vec::len), &ran["results"][999]["status"]), (200, Some(1000), &json!(404)));
    let huge = format!("{{\"atomic\": false, \"items\": [{}]}}", vec![r#"{"op": "unassign", "number": 1, "account": 2}"#; 6000].join(","));
    let res = app.raw("POST", "/lk/v1/grants/bulk", &[("authorization", &format!("Bearer {rk}")),
        ("content-type", "application/json")], huge.as_bytes()).await;
    assert_eq!((res.status, &res.json()["type"]), (413, &json!("/lk/v1/problems/too-large")));
    let many: Vec<Value> = (0..1001).map(|_| json!({"op": "unassign", "number": 1, "account": 2})).collect();
    let (status, body) = send(&app, "POST", "/lk/v1/grants/bulk", &rk, json!({"atomic": false, "items": many})).await;
    assert_eq!((status, &body["errors"]), (422, &json!({"items": ["a bulk request takes at most 1000 items"]})));
    assert_eq!(send(&app, "POST", "/lk/v1/grants/bulk", &bk, json!({"atomic": false, "items": []})).await,
        (403, problem("forbidden", "Forbidden", 403,
            "Only resellers and administrators assign, change and unassign grants.")));
    app.assert_invariants().await;
}

async fn a_reservation_keeps_others_off_until_it_ends(app: TestApp) {
    let (_, admin) = app.account("admin", None, false).await;
    let (_, alice) = postpaid(&app, "alice", Some("admin"), false).await;
    let (_, bob) = postpaid(&app, "bob", Some("admin"), false).await;
    let p1 = pool_number(&app, "+61400000001", 100, 1000).await;
    let p2 = pool_number(&app, "+61400000002", 200, 2000).await;

    assert_eq!(send(&app, "POST", "/lk/v1/reservations", &alice, json!({"number": p1.uid})).await,
        (201, reservation(&p1, "2026-01-01T00:30:00Z")));
    // The routing lookup says where the number is in its life.
    let (status, routed) = get(&app, &format!("/lk/v1/routing/{}", p1.number), &admin).await;
    assert_eq!((status, &routed["state"], &routed["owner"]), (200, &json!("reserved"), &Value::Null));
    let taken = conflict("The number is not available.");
    assert_eq!(send(&app, "POST", "/lk/v1/subscriptions", &bob, json!({"number": "+61400000001"})).await,
        (409, taken.clone()));
    assert_eq!(send(&app, "POST", "/lk/v1/reservations", &bob, json!({"number": p1.id})).await,
        (409, taken.clone()));
    assert_eq!(send(&app, "POST", "/lk/v1/reservations", &alice, json!({"number": p1.id})).await,
        (409, conflict("The caller already holds this reservation; extend it instead.")));
    assert_eq!(get(&app, "/lk/v1/reservations", &alice).await,
        (200, json!({"items": [reservation(&p1, "2026-01-01T00:30:00Z")], "next_cursor": null})));
    assert_eq!(get(&app, "/lk/v1/reservations", &bob).await, (200, json!({"items": [], "next_cursor": null})));

    app.clock.advance(600);
    let path = format!("/lk/v1/reservations/{}", p1.uid);
    // 3600.0 is a whole number too (JSON Schema's integer).
    assert_eq!(send(&app, "PATCH", &path, &alice, json!({"duration_secs": 3600.0})).await,
        (200, reservation(&p1, "2026-01-01T01:10:00Z")));
    assert_eq!(send(&app, "PATCH", &path, &alice, json!({"duration_secs": 90_000})).await,
        (422, problem("validation", "Validation failed", 422, "a reservation lasts from 1 second to 86400 seconds")));
    let not_held = not_found("No reservation of this number is held.");
    assert_eq!(send(&app, "PATCH", &path, &bob, json!({})).await, (404, not_held.clone()));
    assert_eq!(delete(&app, "/lk/v1/reservations/+61400000009", &alice).await, (404, not_held.clone()));
    assert_eq!(send(&app, "POST", "/lk/v1/subscriptions", &alice, json!({"number": p1.id})).await,
        (201, owned(&p1, false, "2026-01-01T00:10:00Z")));
    assert_eq!(get(&app, "/lk/v1/reservations", &alice).await.1["items"], json!([]));

    // A reservation that runs out keeps no one off, swept or not.
    assert_eq!(send(&app, "POST", "/lk/v1/reservations", &alice,
        json!({"number": "+61400000002", "duration_secs": 60})).await,
        (201, reservation(&p2, "2026-01-01T00:11:00Z")));
    assert_eq!(send(&app, "POST", "/lk/v1/subscriptions", &bob, json!({"number": p2.uid})).await,
        (409, taken.clone()));
    app.clock.advance(60);
    assert_eq!(send(&app, "POST", "/lk/v1/subscriptions", &bob, json!({"number": p2.uid, "resubscribe": true})).await,
        (201, owned(&p2, true, "2026-01-01T00:11:00Z")));

    assert_eq!(send(&app, "POST", "/lk/v1/reservations", &alice, json!({"number": "+61499999999"})).await,
        (404, not_found("No such number.")));
    let (status, body) = send(&app, "POST", "/lk/v1/reservations", &alice, json!({"duration_secs": "long"})).await;
    assert_eq!((status, &body["errors"]), (422, &json!({
        "duration_secs": ["must be a whole number"], "number": ["is required"]})));
    app.assert_invariants().await;
}

async fn the_reservation_cap_is_a_conflict_that_names_it(app: TestApp) {
    let capped = TestApp::spawn_lifecycle(app.backend, Lifecycle {
        reservation_cap: 2,
        ..TestApp::lifecycle()
    }).await;
    drop(app);
    let app = capped;
    app.account("admin", None, false).await;
    let (_, alice) = app.account("alice", Some("admin"), false).await;
    let mut ns = Vec::new();
    for i in 1..=3 {
        ns.push(pool_number(&app, &format!("+6140000000{i}"), 100, 1000).await);
    }
    for n in &ns[..2] {
        assert_eq!(send(&app, "POST", "/lk/v1/reservations", &alice, json!({"number": n.id})).await.0, 201);
    }
    let full = conflict("The caller already holds 2 reservations, the most an account may hold at once; cancel one or subscribe first.");
    assert_eq!(send(&app, "POST", "/lk/v1/reservations", &alice, json!({"number": ns[2].id})).await,
        (409, full));
    assert_eq!(delete(&app, &format!("/lk/v1/reservations/{}", ns[0].number), &alice).await.0, 204);
    assert_eq!(send(&app, "POST", "/lk/v1/reservations", &alice, json!({"number": ns[2].id})).await,
        (201, reservation(&ns[2], "2026-01-01T00:30:00Z")));
    let (_, list) = get(&app, "/lk/v1/reservations?limit=1", &alice).await;
    assert_eq!(list["items"], json!([reservation(&ns[1], "2026-01-01T00:30:00Z")]));
    let cur = list["next_cursor"].as_str().expect("cursor").to_owned();
    assert_eq!(get(&app, &format!("/lk/v1/reservations?limit=1&cursor={cur}"), &alice).await.1,
        json!({"items": [reservation(&ns[2], "2026-01-01T00:30:00Z")], "next_cursor": null}));
    app.assert_invariants().await;
}

async fn unsubscribing_quarantines_and_an_administrator_releases(app: TestApp) {
    let (_, admin) = app.account("admin", None, false).await;
    let (alice_acct, alice) = postpaid(&app, "alice", Some("admin"), true).await;
    let (bob_acct, bob) = postpaid(&app, "bob", Some("alice"), false).await;
    let p = pool_number(&app, "+61400000001", 100, 1000).await;
    assert_eq!(send(&app, "POST", "/lk/v1/subscriptions", &alice, json!({"number": p.uid, "resubscribe": true})).await,
        (201, owned(&p, true, "2026-01-01T00:00:00Z")));
    assert_eq!(send(&app, "PUT", &grants(p.id, bob_acct.id), &alice, json!({"send": true, "gets": false})).await.0, 201);

    let path = format!("/lk/v1/subscriptions/{}", p.id);
    assert_eq!(delete(&app, &path, &bob).await, (404, not_found("No such number.")));
    let changes = json!([
        removed(p.id, bob_acct.id, alice_acct.id, "unsubscribe", &[alice_acct.id, bob_acct.id]),
        {"type": "number.unsubscribed", "number_id": p.id, "owner_id": alice_acct.id,
            "quarantine_until": "2026-01-31T00:00:00Z"},
    ]);
    let before = app.history_len().await;
    assert_eq!(delete(&app, &format!("{path}?dry_run=true"), &alice).await,
        (200, json!({"dry_run": true, "changes": changes})));
    assert_eq!(app.history_len().await, before);
    assert_eq!(delete(&app, &path, &alice).await, (200, json!({"changes": changes})));
    assert_eq!(app.history_len().await, before + 2);
    assert_eq!(delete(&app, &path, &alice).await, (404, not_found("No such number.")));

    // In quarantine: nobody else may take it.
    assert_eq!(send(&app, "POST", "/lk/v1/subscriptions", &bob, json!({"number": p.id})).await,
        (409, conflict("The number is not available.")));
    // The routing lookup says where it is in its life.
    let (status, routed) = get(&app, &format!("/lk/v1/routing/{}", p.number), &admin).await;
    assert_eq!((status, &routed["state"], &routed["send"]), (200, &json!("quarantined"), &json!([])));
    let release = format!("/lk/v1/admin/numbers/{}/release", p.number);
    let admins_only = problem("forbidden", "Forbidden", 403, "Only administrators release numbers from quarantine.");
    assert_eq!(send(&app, "POST", &release, &alice, json!({})).await, (403, admins_only.clone()));
    assert_eq!(send(&app, "POST", "/lk/v1/admin/numbers/999999/release", &bob, json!({})).await,
        (403, admins_only));
    app.clock.advance(3600);
    assert_eq!(app.clock.now(), T0 + 3600);
    let before = app.history_len().await;
    assert_eq!(send(&app, "POST", &release, &admin, json!({})).await, (200, json!({
        "id": p.id, "uid": p.uid, "number": p.number, "country": p.country, "state": "available",
        "operator_id": null, "alias": null, "monthly_price": 100, "yearly_price": 1000})));
    assert_eq!(app.history_len().await, before + 1);
    // The release is on the record as the administrator's.
    let (_, trail) = get(&app, "/lk/v1/history", &admin).await;
    assert_eq!((&trail["items"][0]["action"], &trail["items"][0]["actor"]["username"],
        &trail["items"][0]["number"]["id"]),
        (&json!("number.release"), &json!("admin"), &json!(p.id)));
    assert_eq!(send(&app, "POST", &release, &admin, json!({})).await,
        (409, conflict("Number +61400000001 is not quarantined (it is available).")));
    assert_eq!(send(&app, "POST", "/lk/v1/admin/numbers/999999/release", &admin, json!({})).await,
        (404, not_found("No such number.")));
    assert_eq!(send(&app, "POST", "/lk/v1/subscriptions", &bob, json!({"number": p.id})).await,
        (201, owned(&p, false, "2026-01-01T01:00:00Z")));
    app.assert_invariants().await;
}
}
