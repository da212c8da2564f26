//! `GET /numbers/{number}/history` and `GET /history`: newest first, paged,
//! and never telling a reseller who held a number before it reached its tree.

use std::time::{Duration, Instant};

use linekeeper::domain::Clock;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::native_common::{brief, delete, get, not_found, send};

crate::scenarios! {
async fn a_reseller_sees_only_its_trees_part_of_a_numbers_custody(app: TestApp) {
    let (admin, adk) = app.account("admin", None, false).await;
    let (prev, pk) = app.account("previous", Some("admin"), true).await;
    let (pc, _) = app.account("prevchild", Some("previous"), false).await;
    let (r, rk) = app.account("reseller", Some("admin"), true).await;
    let (a, ak) = app.account("agent", Some("reseller"), true).await;
    let n = app.number("+983000505", Some("previous")).await;
    let grant = |t: i64| format!("/lk/v1/numbers/{}/grants/{t}", n.id);
    let all = json!({"send": true, "gets": true});

    // Before: `previous` owned it and granted it to its child; then the
    // administrator takes the grant away and gives the number to `reseller`'s tree.
    assert_eq!(send(&app, "PUT", &grant(pc.id), &pk, all.clone()).await.0, 201);
    assert_eq!(delete(&app, &grant(pc.id), &adk).await.0, 200);
    assert_eq!(send(&app, "PUT", &grant(r.id), &adk, all.clone()).await.0, 201);
    assert_eq!(send(&app, "PUT", &grant(a.id), &rk, json!({"send": true, "gets": false})).await.0, 201);
    assert_eq!(delete(&app, &grant(a.id), &rk).await.0, 200);

    // The administrator reads it first, each entry naming every account:
    // what the process keeps of that reading tells the reseller no more.
    let (status, full) = get(&app, &format!("/lk/v1/numbers/{}/history", n.id), &adk).await;
    assert_eq!(status, 200);
    assert_eq!(full["items"][2]["actor"], brief(&admin));
    assert_eq!(full["items"][2]["granted_by"], brief(&admin));

    let (status, body) = get(&app, &format!("/lk/v1/numbers/{}/history", n.id), &rk).await;
    assert_eq!(status, 200);
    let number = json!({"id": n.id, "number": "+983000505"});
    let entry = |e: &Value| {
        let mut e = e.clone();
        if let Some(o) = e.as_object_mut() {
            o.remove("id");
            o.remove("request_id");
        }
        e
    };
    let items: Vec<Value> = body["items"].as_array().expect("items").iter().map(entry).collect();
    assert_eq!(items, vec![
        json!({"at": "2026-01-01T00:00:00Z", "action": "grant.unassign", "number": number,
            "actor": brief(&r), "target": brief(&a), "granted_by": brief(&r), "permissions": null}),
        json!({"at": "2026-01-01T00:00:00Z", "action": "grant.assign", "number": number,
            "actor": brief(&r), "target": brief(&a), "granted_by": brief(&r),
            "permissions": {"send": true, "gets": false}}),
        // Given to the reseller from above: who gave it is not told.
        json!({"at": "2026-01-01T00:00:00Z", "action": "grant.assign", "number": number,
            "actor": null, "target": brief(&r), "granted_by": null,
            "permissions": {"send": true, "gets": true}}),
    ]);
    assert_eq!(body["next_cursor"], Value::Null);
    let text = body.to_string();
    for secret in [&prev.username, &pc.username, &admin.username] {
        assert!(!text.contains(secret.as_str()), "{secret} leaked: {text}");
    }
    // The reseller's own trail says no more.
    let (_, mine) = get(&app, "/lk/v1/history", &rk).await;
    let text = mine.to_string();
    for secret in [&prev.username, &pc.username, &admin.username] {
        assert!(!text.contains(secret.as_str()), "{secret} leaked: {text}");
    }
    assert!(text.contains("\"token.create\""));

    // The agent, no longer holding it, cannot read it; nor can anyone outside.
    let gone = (404, not_found("No such number."));
    assert_eq!(get(&app, &format!("/lk/v1/numbers/{}/history", n.id), &ak).await, gone);
    assert_eq!(get(&app, "/lk/v1/numbers/999999/history", &rk).await, gone);

    // The administrator sees everything, request ids included, paged newest first.
    let (_, p1) = get(&app, &format!("/lk/v1/numbers/{}/history?limit=2", n.id), &adk).await;
    let actions: Vec<&str> = p1["items"].as_array().expect("items").iter()
        .map(|e| e["action"].as_str().unwrap_or("")).collect();
    assert_eq!(actions, ["grant.unassign", "grant.assign"]);
    assert!(p1["items"][0]["request_id"].as_str().is_some_and(|s| !s.is_empty()));
    let cur = p1["next_cursor"].as_str().expect("cursor").to_owned();
    let (_, p2) = get(&app, &format!("/lk/v1/numbers/{}/history?limit=2&cursor={cur}", n.id), &adk).await;
    let cur = p2["next_cursor"].as_str().expect("cursor").to_owned();
    let (_, p3) = get(&app, &format!("/lk/v1/numbers/{}/history?limit=2&cursor={cur}", n.id), &adk).await;
    let tail: Vec<(String, Value)> = p2["items"].as_array().into_iter().flatten()
        .chain(p3["items"].as_array().into_iter().flatten())
        .map(|e| (e["action"].as_str().unwrap_or("").to_owned(), e["target"].clone())).collect();
    assert_eq!(tail, vec![
        ("grant.assign".to_owned(), brief(&r)),
        ("grant.unassign".to_owned(), brief(&pc)),
        ("grant.assign".to_owned(), brief(&pc)),
        ("number.subscribe".to_owned(), brief(&prev)),
    ]);
    let cur = p3["next_cursor"].as_str().expect("cursor").to_owned();
    let (_, p4) = get(&app, &format!("/lk/v1/numbers/{}/history?limit=2&cursor={cur}", n.id), &adk).await;
    assert_eq!(p4["items"].as_array().map(|i| i.len()), Some(1));
    assert_eq!(p4["items"][0]["action"], json!("number.add"));
    assert_eq!(p4["next_cursor"], Value::Null);
    // The administrator's readings of the same entries tell the reseller
    // no more than before.
    let again = get(&app, &format!("/lk/v1/numbers/{}/history", n.id), &rk).await;
    assert_eq!(again, (200, body));
    // A new entry between pages does not shift them.
    assert_eq!(send(&app, "PUT", &grant(a.id), &rk, all).await.0, 201);
    let (_, again) = get(&app, &format!("/lk/v1/numbers/{}/history?limit=2&cursor={cur}", n.id), &adk).await;
    assert_eq!(again, p4);
}

/// A reseller's page is filled past any run of entries it may not see (read
/// in rounds that grow), in order, and its cursor goes on from there.
async fn a_page_reaches_past_entries_the_reseller_may_not_see(app: TestApp) {
    let (_, adk) = app.account("admin", None, false).await;
    let (_, pk) = app.account("previous", Some("admin"), true).await;
    let (pc, _) = app.account("prevchild", Some("previous"), false).await;
    let (r, rk) = app.account("reseller", Some("admin"), true).await;
    let (a, _) = app.account("agent", Some("reseller"), true).await;
    let n = app.number("+983000606", Some("previous")).await;
    let grant = |t: i64| format!("/lk/v1/numbers/{}/grants/{t}", n.id);
    let all = json!({"send": true, "gets": true});
    assert_eq!(send(&app, "PUT", &grant(r.id), &adk, all.clone()).await.0, 201);
    assert_eq!(send(&app, "PUT", &grant(a.id), &rk, all.clone()).await.0, 201);
    // 90 entries the reseller may not see: the owner's own grants below it.
    for _ in 0..45 {
        assert_eq!(send(&app, "PUT", &grant(pc.id), &pk, all.clone()).await.0, 201);
        assert_eq!(delete(&app, &grant(pc.id), &pk).await.0, 200);
    }
    assert_eq!(delete(&app, &grant(a.id), &rk).await.0, 200);

    let seen = |body: &Value| -> Vec<(String, Value)> {
        body["items"].as_array().into_iter().flatten()
            .map(|e| (e["action"].as_str().unwrap_or("").to_owned(), e["target"].clone()))
            .collect()
    };
    let history = format!("/lk/v1/numbers/{}/history", n.id);
    let (status, whole) = get(&app, &history, &rk).await;
    assert_eq!(status, 200);
    let expected = vec![
        ("grant.unassign".to_owned(), brief(&a)),
        ("grant.assign".to_owned(), brief(&a)),
        ("grant.assign".to_owned(), brief(&r)),
    ];
    assert_eq!(seen(&whole), expected);
    assert_eq!(whole["next_cursor"], Value::Null);
    // One a page: the same three, each page's cursor leading to the next.
    let mut pages = Vec::new();
    let mut path = format!("{history}?limit=1");
    loop {
        let (status, body) = get(&app, &path, &rk).await;
        assert_eq!(status, 200);
        pages.extend(seen(&body));
        match body["next_cursor"].as_str() {
            Some(cur) => path = format!("{history}?limit=1&cursor={cur}"),
            None => break,
        }
        assert!(pages.len() <= 3, "{pages:?}");
    }
    assert_eq!(pages, expected);
    // The administrator sees all 95 (the number's add and subscribe too).
    let (_, everything) = get(&app, &format!("{history}?limit=200"), &adk).await;
    assert_eq!(everything["items"].as_array().map(Vec::len), Some(95));
}

/// Once the routing table holds a number, its first page is answered from
/// memory: what this instance changes shows at once (the sweeper's ends
/// included, and a grant taken back hides the number at once), and what
/// another instance changes within a second, where the TTL is five.
async fn a_numbers_first_page_from_memory_follows_every_change(app: TestApp) {
    let (_, adk) = app.account("admin", None, false).await;
    let (_, rk) = app.account("reseller", Some("admin"), true).await;
    let (a, ak) = app.account("agent", Some("reseller"), true).await;
    let (_, sk) = app.account("stranger", Some("admin"), true).await;
    let n = app.number("+983000707", Some("reseller")).await;
    let history = format!("/lk/v1/numbers/{}/history", n.id);
    let grant = format!("/lk/v1/numbers/{}/grants/{}", n.id, a.id);
    let routing = "/lk/v1/routing/+983000707";
    let hidden = (404, not_found("No such number."));
    app.core.load_routes().await.expect("load the routing table");
    let mine = |want: &[&str]| {
        let want: Vec<Value> = want.iter().map(|a| json!(a)).collect();
        (200, want)
    };
    let actions = |(status, body): (u16, Value)| -> (u16, Vec<Value>) {
        let items = body["items"].as_array().into_iter().flatten();
        (status, items.map(|e| e["action"].clone()).collect())
    };
    // Once warmed, read from memory; one who holds nothing of it learns
    // nothing, from memory or not.
    warm(&app, routing, &history, &adk).await;
    for key in [&adk, &adk] {
        assert_eq!(actions(get(&app, &history, key).await),
            mine(&["number.subscribe", "number.add"]));
    }
    assert_eq!(actions(get(&app, &history, &rk).await), mine(&["number.subscribe"]));
    assert_eq!(get(&app, &history, &sk).await, hidden);

    // This instance grants: both see it at once, and the agent may read.
    assert_eq!(send(&app, "PUT", &grant, &rk, json!({"send": true, "gets": true})).await.0, 201);
    for _ in 0..2 {
        assert_eq!(actions(get(&app, &history, &rk).await),
            mine(&["grant.assign", "number.subscribe"]));
        assert_eq!(actions(get(&app, &history, &ak).await), mine(&["grant.assign"]));
        assert_eq!(get(&app, &history, &sk).await, hidden);
        warm(&app, routing, &format!("{history}?limit=1"), &adk).await;
    }
    // A short first page kept does not stand in for a longer one.
    assert_eq!(actions(get(&app, &history, &adk).await),
        mine(&["grant.assign", "number.subscribe", "number.add"]));
    // Taken back: the agent may no longer read it, at once.
    assert_eq!(delete(&app, &grant, &rk).await.0, 200);
    assert_eq!(get(&app, &history, &ak).await, hidden);
    assert_eq!(actions(get(&app, &history, &rk).await),
        mine(&["grant.unassign", "grant.assign", "number.subscribe"]));

    // A grant with an end, then its end: the routing read after the end
    // no longer names it, and the page kept from before shows the sweep's
    // entry as soon as the sweep is done (the keeper quiet meanwhile, so
    // that only the sweeper's own forgetting can tell).
    let end = app.clock.now() + 60;
    let ends = json!({"send": true, "gets": true,
        "expires_at": linekeeper::domain::rfc3339_utc(end)});
    assert_eq!(send(&app, "PUT", &grant, &rk, ends).await.0, 201);
    let before_end = ["grant.assign", "grant.unassign", "grant.assign", "number.subscribe"];
    assert_eq!(actions(get(&app, &history, &rk).await), mine(&before_end));
    app.clock.advance(60);
    assert_eq!(get(&app, &history, &ak).await, hidden);
    let quiet = app.core.quiet_routes().await;
    let (status, body) = get(&app, routing, &adk).await;
    assert_eq!((status, &body["send"]), (200, &json!([n.owner_id()])));
    assert_eq!(actions(get(&app, &history, &rk).await), mine(&before_end));
    let report = app.core.sweep(app.clock.now()).await.expect("sweep");
    assert_eq!(report.grants_expired, 1);
    assert_eq!(actions(get(&app, &history, &rk).await),
        mine(&["grant.expire", "grant.assign", "grant.unassign", "grant.assign", "number.subscribe"]));
    drop(quiet);

    // Another instance grants: this one's page follows within a second.
    let other = app.another_instance(Default::default()).await;
    assert_eq!(send(&other, "PUT", &grant, &rk, json!({"send": true, "gets": false})).await.0, 201);
    let deadline = Instant::now() + Duration::from_secs(1);
    let first = loop {
        let (status, body) = get(&app, &history, &rk).await;
        assert_eq!(status, 200);
        let first = body["items"][0]["action"].clone();
        if first == json!("grant.assign") || Instant::now() >= deadline {
            break first;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(first, json!("grant.assign"));
}

/// A page's ids read after a change this instance has not heard of yet
/// (another instance took the agent's grant back) are not shown with the
/// routing kept from before it, which still lists the agent.
async fn a_page_read_after_an_unheard_change_is_not_judged_by_an_older_routing(app: TestApp) {
    let (_, adk) = app.account("admin", None, false).await;
    let (_, rk) = app.account("reseller", Some("admin"), true).await;
    let (a, ak) = app.account("agent", Some("reseller"), true).await;
    let n = app.number("+983000808", Some("reseller")).await;
    let history = format!("/lk/v1/numbers/{}/history", n.id);
    let grant = format!("/lk/v1/numbers/{}/grants/{}", n.id, a.id);
    app.core.load_routes().await.expect("load the routing table");
    // The administrator's page: the accounts it names are kept.
    assert_eq!(get(&app, &history, &adk).await.0, 200);
    assert_eq!(send(&app, "PUT", &grant, &rk, json!({"send": true, "gets": true})).await.0, 201);
    // This instance's table lists the agent; then it stops hearing.
    let (status, body) = get(&app, "/lk/v1/routing/+983000808", &adk).await;
    assert_eq!((status, &body["send"]), (200, &json!([n.owner_id(), Some(a.id)])));
    let quiet = app.core.quiet_routes().await;
    let other = app.another_instance(Default::default()).await;
    assert_eq!(delete(&other, &grant, &rk).await.0, 200);
    // The owner's page, read from the database, keeps ids that hold the
    // take-back: the agent must not be shown them by the older routing.
    let (status, body) = get(&app, &history, &rk).await;
    assert_eq!((status, &body["items"][0]["action"]), (200, &json!("grant.unassign")));
    assert_eq!(get(&app, &history, &ak).await, (404, not_found("No such number.")));
    drop(quiet);
}
}

/// Readies a number's first page to be answered from memory: the table
/// has heard of every change so far (and forgotten the number for them),
/// holds its routing again and `page`'s ids, and has proved since, and
/// the entries and the accounts they name are kept (an administrator's
/// page names every account).
async fn warm(app: &TestApp, routing: &str, page: &str, admin: &str) {
    heard(app).await;
    assert_eq!(get(app, routing, admin).await.0, 200);
    assert_eq!(get(app, page, admin).await.0, 200);
    heard(app).await;
}

/// Waits (at most two seconds) until the app's routing table has proved
/// twice that it heard every change: one whole round began after now.
async fn heard(app: &TestApp) {
    let (since, deadline) = (
        app.core.routing_proofs(),
        Instant::now() + Duration::from_secs(2),
    );
    while app.core.routing_proofs() < since + 2 {
        assert!(
            Instant::now() < deadline,
            "the routing table's keeper proves nothing"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
