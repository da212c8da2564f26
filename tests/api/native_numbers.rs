//! `GET /numbers`, `GET /numbers/{number}`, `PUT/DELETE .../grants/{account}`, `GET /pool`.

use linekeeper::domain::Clock;
use serde_json::{Value, json};

use crate::native_common::{brief, delete, get, not_found, problem, send};

fn grant(number: i64, account: i64, by: i64, send: bool, gets: bool) -> Value {
    json!({"number_id": number, "account_id": account, "granted_by": by,
        "permissions": {"send": send, "gets": gets}, "created_at": "2026-01-01T00:00:00Z",
        "expires_at": null})
}

/// A grant removed, with why and the chain of accounts that reached it.
fn removed(number: i64, account: i64, by: i64, reason: &str, chain: &[i64]) -> Value {
    json!({"number_id": number, "account_id": account, "granted_by": by,
        "reason": reason, "chain": chain})
}

fn item(n: &linekeeper::store::Number, owned: bool, send: bool, gets: bool) -> Value {
    json!({"id": n.id, "uid": n.uid, "number": n.number, "country": n.country,
        "state": "subscribed", "owned": owned, "permissions": {"send": send, "gets": gets}})
}

crate::scenarios! {
/// A holder's first page is kept as written and answered again while
/// nothing changed: what this instance changes shows at once (a grant, a
/// change of one, a grant taken back, an unsubscription, a number
/// allotted), a grant's end by the clock alone shows at its instant with
/// nothing swept, and what another instance changes within a second, where
/// the TTL is five.
async fn a_holders_first_page_from_memory_follows_every_change(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, rk) = app.account("reseller", Some("admin"), true).await;
    let (a, ak) = app.account("agent", Some("reseller"), true).await;
    let n1 = app.number("+61400000001", Some("reseller")).await;
    let n2 = app.number("+61400000002", Some("reseller")).await;
    let to_agent = |n: &linekeeper::store::Number| format!("/lk/v1/numbers/{}/grants/{}", n.id, a.id);
    let page = |items: Vec<Value>| (200, json!({"items": items, "next_cursor": null}));
    let owned = |n: &linekeeper::store::Number| item(n, true, true, true);
    // Asked twice: the second answer is the kept page.
    let twice = |path: &'static str, key: String, want: (u16, Value)| {
        let app = &app;
        async move {
            let before = app.core.held_pages_answered();
            assert_eq!(get(app, path, &key).await, want);
            assert_eq!(get(app, path, &key).await, want);
            assert_eq!(app.core.held_pages_answered(), before + 1, "{path} asked again");
        }
    };
    app.core.load_routes().await.expect("load the routing table");
    // The keeper quiet: only this instance's own forgetting can tell it of
    // its changes.
    let quiet = app.core.quiet_routes().await;
    twice("/lk/v1/numbers", ak.clone(), page(vec![])).await;
    // Granted here, one with an end: at once, and kept.
    let end = app.clock.now() + 60;
    let ends = json!({"send": true, "gets": true, "expires_at": linekeeper::domain::rfc3339_utc(end)});
    assert_eq!(send(&app, "PUT", &to_agent(&n1), &rk, ends).await.0, 201);
    assert_eq!(send(&app, "PUT", &to_agent(&n2), &rk, json!({"send": true, "gets": false})).await.0, 201);
    let (first, second) = (item(&n1, false, true, true), item(&n2, false, true, false));
    twice("/lk/v1/numbers", ak.clone(), page(vec![first.clone(), second.clone()])).await;
    // Changed here: at once.
    assert_eq!(send(&app, "PATCH", &to_agent(&n2), &rk, json!({"send": false})).await.0, 200);
    let second = item(&n2, false, false, false);
    twice("/lk/v1/numbers", ak.clone(), page(vec![first.clone(), second.clone()])).await;
    // The end passes with nothing swept or heard: the kept page is not used
    // past its first row's end.
    app.clock.advance(59);
    assert_eq!(get(&app, "/lk/v1/numbers", &ak).await, page(vec![first.clone(), second.clone()]));
    app.clock.advance(1);
    twice("/lk/v1/numbers", ak.clone(), page(vec![second.clone()])).await;
    // Taken back, a number allotted to its holder, one unsubscribed, each
    // here: at once.
    assert_eq!(delete(&app, &to_agent(&n2), &rk).await.0, 200);
    twice("/lk/v1/numbers", ak.clone(), page(vec![])).await;
    twice("/lk/v1/numbers", rk.clone(), page(vec![owned(&n1), owned(&n2)])).await;
    let n3 = app.number("+61400000003", Some("reseller")).await;
    twice("/lk/v1/numbers", rk.clone(), page(vec![owned(&n1), owned(&n2), owned(&n3)])).await;
    assert_eq!(delete(&app, "/lk/v1/subscriptions/+61400000002", &rk).await.0, 200);
    twice("/lk/v1/numbers", rk.clone(), page(vec![owned(&n1), owned(&n3)])).await;
    // Another query is another page.
    let (status, short) = get(&app, "/lk/v1/numbers?limit=1", &rk).await;
    assert_eq!((status, &short["items"]), (200, &json!([owned(&n1)])));
    assert!(short["next_cursor"].is_string(), "{short}");
    let before = app.core.held_pages_answered();
    assert_eq!(get(&app, "/lk/v1/numbers?limit=1", &rk).await, (200, short));
    assert_eq!(app.core.held_pages_answered(), before + 1);
    twice("/lk/v1/numbers?prefix=61400000003", rk.clone(), page(vec![owned(&n3)])).await;
    drop(quiet);

    // Another instance grants: this one's kept page follows within a second.
    let other = app.another_instance(Default::default()).await;
    assert_eq!(send(&other, "PUT", &to_agent(&n3), &rk, json!({"send": false, "gets": true})).await.0, 201);
    let want = page(vec![item(&n3, false, false, true)]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    let got = loop {
        let got = get(&app, "/lk/v1/numbers", &ak).await;
        if got == want || std::time::Instant::now() >= deadline {
            break got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(got, want);
    app.assert_invariants().await;
}

/// A page's numbers' uid, E.164 and country come from the core's cache or,
/// for those it lacks, from one read by id: a page that mixes both, in
/// either order, answers each number with its own.
async fn a_page_of_cached_and_uncached_numbers_answers_each_with_its_own(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, rk) = app.account("reseller", Some("admin"), true).await;
    let mut ns = Vec::new();
    for i in 1..=5 {
        ns.push(app.number(&format!("+6140000000{i}"), Some("reseller")).await);
    }
    let items = |at: &[usize]| json!(at.iter().map(|&i| item(&ns[i], true, true, true)).collect::<Vec<_>>());
    // The fourth and the first are read (and cached) first; then all five,
    // three of them misses between and after the cached ones; then all five
    // again, every one cached.
    assert_eq!(get(&app, "/lk/v1/numbers?prefix=61400000004", &rk).await, (200, json!({"items": items(&[3]), "next_cursor": null})));
    assert_eq!(get(&app, "/lk/v1/numbers?limit=1", &rk).await.1["items"], items(&[0]));
    for _ in 0..2 {
        assert_eq!(get(&app, "/lk/v1/numbers", &rk).await, (200, json!({"items": items(&[0, 1, 2, 3, 4]), "next_cursor": null})));
    }
}
async fn assign_show_and_unassign_with_cascade(app: TestApp) {
    app.account("admin", None, false).await;
    let (r, rk) = app.account("reseller", Some("admin"), true).await;
    let (a, ak) = app.account("agent", Some("reseller"), true).await;
    let (b, bk) = app.account("buyer", Some("agent"), false).await;
    let (x, _) = app.account("outsider", Some("admin"), true).await;
    let n1 = app.number("+983000505", Some("reseller")).await;
    let n3 = app.number("+61400000003", Some("reseller")).await;
    let n2 = app.number("+61400000002", Some("outsider")).await;

    let put = |n: i64, t: i64| format!("/lk/v1/numbers/{n}/grants/{t}");
    let all = json!({"send": true, "gets": true});
    assert_eq!(send(&app, "PUT", &put(n1.id, a.id), &rk, all.clone()).await,
        (201, grant(n1.id, a.id, r.id, true, true)));
    let by_e164 = format!("/lk/v1/numbers/%2B983000505/grants/{}", b.id);
    assert_eq!(send(&app, "PUT", &by_e164, &ak, json!({"send": true, "gets": false})).await,
        (201, grant(n1.id, b.id, a.id, true, false)));
    let already = problem("already-assigned", "Already assigned", 409,
        "The account already holds the number.");
    assert_eq!(send(&app, "PUT", &put(n1.id, b.id), &rk, all.clone()).await, (409, already.clone()));
    assert_eq!(send(&app, "PUT", &put(n1.id, r.id), &ak, all.clone()).await.0, 404);
    assert_eq!(send(&app, "PUT", &put(n3.id, a.id), &rk, json!({"send": true, "gets": false})).await.0, 201);
    assert_eq!(send(&app, "PUT", &put(n3.id, b.id), &ak, all.clone()).await,
        (403, problem("permission-exceeded", "Permission exceeded", 403,
            "A grant cannot give a permission the granter does not hold.")));
    assert_eq!(send(&app, "PUT", &put(n1.id, b.id), &bk, all.clone()).await,
        (403, problem("forbidden", "Forbidden", 403, "Only resellers and administrators assign numbers.")));
    let (status, body) = send(&app, "PUT", &put(n3.id, b.id), &ak, json!({"send": 1})).await;
    assert_eq!((status, &body["errors"]), (422, &json!({"gets": ["is required"], "send": ["must be a boolean"]})));

    // Out of reach and nonexistent answer alike.
    let no_number = (404, not_found("No such number."));
    assert_eq!(send(&app, "PUT", &put(n2.id, a.id), &rk, all.clone()).await, no_number);
    assert_eq!(send(&app, "PUT", &put(999_999, a.id), &rk, all.clone()).await, no_number);
    assert_eq!(send(&app, "PUT", &put(n1.id, x.id), &rk, all.clone()).await, (404, not_found("No such account.")));
    assert_eq!(send(&app, "PUT", &put(n1.id, 999_999), &rk, all.clone()).await, (404, not_found("No such account.")));
    assert_eq!(get(&app, &format!("/lk/v1/numbers/{}", n2.id), &rk).await, no_number);
    assert_eq!(get(&app, "/lk/v1/numbers/+61400000002", &rk).await, no_number);
    assert_eq!(get(&app, "/lk/v1/numbers/+61400000009", &rk).await, no_number);
    assert_eq!(get(&app, &format!("/lk/v1/numbers/{}", n2.uid), &rk).await, no_number);

    // The owner sees the whole tree; the agent its own part, and no owner above it.
    let detail = |owner: Value, perms: Value, grants: Value| json!({
        "id": n1.id, "uid": n1.uid, "number": "+983000505", "country": n1.country,
        "state": "subscribed", "operator_id": null, "alias": null,
        "monthly_price": n1.monthly_price, "yearly_price": n1.yearly_price,
        "owner": owner, "permissions": perms, "grants": grants,
    });
    let b_node = json!({"account": brief(&b), "granted_by": a.id,
        "permissions": {"send": true, "gets": false}, "created_at": "2026-01-01T00:00:00Z", "grants": []});
    let a_node = json!({"account": brief(&a), "granted_by": r.id,
        "permissions": {"send": true, "gets": true}, "created_at": "2026-01-01T00:00:00Z",
        "grants": [b_node.clone()]});
    let owners_view = detail(brief(&r), all.clone(), json!([a_node]));
    for name in [n1.id.to_string(), "+983000505".into(), "%2B983000505".into(), n1.uid.clone()] {
        assert_eq!(get(&app, &format!("/lk/v1/numbers/{name}"), &rk).await, (200, owners_view.clone()), "{name}");
    }
    assert_eq!(get(&app, &format!("/lk/v1/numbers/{}", n1.id), &ak).await,
        (200, detail(Value::Null, all.clone(), json!([b_node]))));

    // DELETE takes the cascade with it, and says so.
    let before = app.history_len().await;
    assert_eq!(delete(&app, &put(n1.id, a.id), &rk).await, (200, json!({"removed": [
        removed(n1.id, a.id, r.id, "unassign", &[a.id]),
        removed(n1.id, b.id, a.id, "cascade", &[a.id, b.id])]})));
    assert_eq!(app.history_len().await, before + 2);
    assert_eq!(delete(&app, &put(n1.id, a.id), &rk).await, (409, problem("not-assigned",
        "Not assigned", 409, "The account holds no grant on the number.")));
    assert_eq!(get(&app, &format!("/lk/v1/numbers/{}", n1.id), &bk).await, no_number);
    app.assert_invariants().await;
}

async fn the_held_list_filters_and_its_cursor_is_stable_under_changes(app: TestApp) {
    app.account("admin", None, false).await;
    let (r, rk) = app.account("reseller", Some("admin"), true).await;
    let (a, ak) = app.account("agent", Some("reseller"), true).await;
    let (b, _) = app.account("buyer", Some("agent"), false).await;
    let mut ns = Vec::new();
    for i in 1..=5 {
        let n = app.number(&format!("+6140000000{i}"), Some("reseller")).await;
        let path = format!("/lk/v1/numbers/{}/grants/{}", n.id, a.id);
        assert_eq!(send(&app, "PUT", &path, &rk, json!({"send": true, "gets": i != 2})).await.0, 201);
        ns.push(n);
    }
    let own = app.number("+983000505", Some("agent")).await;
    let path = format!("/lk/v1/numbers/{}/grants/{}", ns[3].id, b.id);
    assert_eq!(send(&app, "PUT", &path, &ak, json!({"send": true, "gets": true})).await.0, 201);

    let (status, all) = get(&app, "/lk/v1/numbers", &ak).await;
    assert_eq!(status, 200);
    let mut expected: Vec<Value> = ns.iter().enumerate()
        .map(|(i, n)| item(n, false, true, i != 1)).collect();
    expected.push(item(&own, true, true, true));
    assert_eq!(all, json!({"items": expected, "next_cursor": null}));
    assert_eq!(get(&app, "/lk/v1/numbers?owned=true", &ak).await.1["items"], json!([item(&own, true, true, true)]));
    assert_eq!(get(&app, "/lk/v1/numbers?prefix=98", &ak).await.1["items"], json!([item(&own, true, true, true)]));
    assert_eq!(get(&app, "/lk/v1/numbers?country=ir", &ak).await.1["items"], json!([item(&own, true, true, true)]));
    assert_eq!(get(&app, "/lk/v1/numbers?contains=0000004", &ak).await.1["items"], json!([item(&ns[3], false, true, true)]));
    assert_eq!(get(&app, &format!("/lk/v1/numbers?granted_to={}", b.id), &ak).await.1["items"],
        json!([item(&ns[3], false, true, true)]));
    assert_eq!(get(&app, &format!("/lk/v1/numbers?granted_to={}", r.id), &ak).await.1["items"], json!([]));
    assert_eq!(get(&app, "/lk/v1/numbers?state=available", &ak).await.1["items"], json!([]));
    assert_eq!(get(&app, "/lk/v1/numbers?state=subscribed&owned=false", &ak).await.1["items"].as_array().map(Vec::len), Some(5));
    let (status, body) = get(&app, "/lk/v1/numbers?state=lost&prefix=+1&owned=yes", &ak).await;
    assert_eq!((status, &body["errors"]), (422, &json!({
        "owned": ["must be true or false"], "prefix": ["must be 1 to 15 digits"],
        "state": ["must be subscribed or available"]})));

    // Page 1, then changes: an item already read and one not yet read go,
    // a new one arrives. Nothing is repeated, nothing that remained skipped.
    let (_, p1) = get(&app, "/lk/v1/numbers?limit=2", &ak).await;
    assert_eq!(p1["items"], json!([expected[0], expected[1]]));
    for gone in [&ns[0], &ns[2]] {
        let path = format!("/lk/v1/numbers/{}/grants/{}", gone.id, a.id);
        assert_eq!(delete(&app, &path, &rk).await.0, 200);
    }
    let late = app.number("+61400000009", Some("reseller")).await;
    let path = format!("/lk/v1/numbers/{}/grants/{}", late.id, a.id);
    assert_eq!(send(&app, "PUT", &path, &rk, json!({"send": true, "gets": true})).await.0, 201);
    let cur = p1["next_cursor"].as_str().expect("cursor").to_owned();
    let (_, p2) = get(&app, &format!("/lk/v1/numbers?limit=2&cursor={cur}"), &ak).await;
    assert_eq!(p2["items"], json!([expected[3], expected[4]]));
    let cur = p2["next_cursor"].as_str().expect("cursor").to_owned();
    let (_, p3) = get(&app, &format!("/lk/v1/numbers?limit=2&cursor={cur}"), &ak).await;
    assert_eq!(p3, json!({"items": [expected[5], item(&late, false, true, true)], "next_cursor": null}));
    app.assert_invariants().await;
}

async fn the_pool_is_searched_by_country_digits_and_price(app: TestApp) {
    let (_, key) = app.account("admin", None, false).await;
    let mut ns = Vec::new();
    for (e164, price) in [("+61400000001", 100), ("+61400000002", 500), ("+983000505", 300)] {
        ns.push(crate::vn_common::pool_number(&app, e164, price, price * 10).await);
    }
    app.number("+61400000004", Some("admin")).await;
    let row = |n: &linekeeper::store::Number| json!({"id": n.id, "uid": n.uid, "number": n.number,
        "country": n.country, "monthly_price": n.monthly_price, "yearly_price": n.yearly_price});
    let (status, body) = get(&app, "/lk/v1/pool", &key).await;
    assert_eq!((status, body), (200, json!({"items": [row(&ns[0]), row(&ns[1]), row(&ns[2])], "next_cursor": null})));
    assert_eq!(get(&app, "/lk/v1/pool?country=AU", &key).await.1["items"], json!([row(&ns[0]), row(&ns[1])]));
    assert_eq!(get(&app, "/lk/v1/pool?prefix=98", &key).await.1["items"], json!([row(&ns[2])]));
    assert_eq!(get(&app, "/lk/v1/pool?contains=0002", &key).await.1["items"], json!([row(&ns[1])]));
    let (_, p1) = get(&app, "/lk/v1/pool?limit=2", &key).await;
    let cur = p1["next_cursor"].as_str().expect("cursor").to_owned();
    assert_eq!(get(&app, &format!("/lk/v1/pool?limit=2&cursor={cur}"), &key).await.1,
        json!({"items": [row(&ns[2])], "next_cursor": null}));
    assert_eq!(get(&app, "/lk/v1/pool?min_monthly_price=300", &key).await.1["items"], json!([row(&ns[1]), row(&ns[2])]));
    assert_eq!(get(&app, "/lk/v1/pool?min_monthly_price=200&max_monthly_price=400", &key).await.1["items"], json!([row(&ns[2])]));
    let (status, body) = get(&app, "/lk/v1/pool?min_monthly_price=-1", &key).await;
    assert_eq!(status, 422, "{body}");
}
}
