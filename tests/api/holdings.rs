//! The holdings counters behind the numbers list's `total` (SQLite's
//! migration 0004, PostgreSQL's 0009): every change of who holds what moves
//! them in the same transaction, cascades and the sweeper included, and
//! PostgreSQL's per-connection deltas fold into their totals without
//! changing what any list says.

use linekeeper::domain::Clock;
use serde_json::{Value, json};

use crate::expect::*;
use crate::helpers::{Backend, T0, TestApp};

/// The list's first page as `key` sees it: `(total, ids listed)`.
async fn listed(app: &TestApp, key: &str) -> (i64, Vec<i64>) {
    let (status, body) = app.get("/api/number/numbers?page=1&per_page=50", key).await;
    assert_eq!(status, 200, "{body}");
    let ids = body["data"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_i64().expect("id"))
        .collect();
    (body["meta"]["total"].as_i64().expect("total"), ids)
}

/// The stored counters, as `(account id, count)` of every non-zero one.
async fn counters(app: &TestApp) -> Vec<(i64, i64)> {
    app.core.snapshot().await.expect("snapshot").counters
}

async fn post_ok(app: &TestApp, path: &str, key: &str, body: Value) {
    assert_eq!(
        app.post(path, key, &body).await,
        (200, ok(Lang::Fa, Value::Null))
    );
}

crate::scenarios! {
async fn totals_and_counters_follow_grants_cascades_ends_and_the_sweeper(app: TestApp) {
    account_with_id(&app, 1, "admin", None, false).await;
    let (_, r) = account_with_id(&app, 2, "reseller", Some("admin"), true).await;
    let (_, c) = account_with_id(&app, 3, "child", Some("reseller"), true).await;
    let (_, u) = account_with_id(&app, 4, "user", Some("child"), false).await;
    for (id, e164) in [(11, "+983000511"), (12, "+983000512"), (13, "+983000513")] {
        number_with_id(&app, id, e164, Some("reseller")).await;
    }
    number_with_id(&app, 14, "+983000514", None).await; // the pool: nobody's
    assert_eq!(counters(&app).await, vec![(2, 3)]);
    // PostgreSQL's delta rows fold into totals (SQLite keeps none); the
    // counters say the same before and after.
    let folded = app.core.fold_holdings().await.expect("fold");
    assert_eq!(folded > 0, app.backend == Backend::Postgres, "{folded}");
    assert_eq!(counters(&app).await, vec![(2, 3)]);

    post_ok(&app, ASSIGN, &r, json!({"number_id": 11, "target_user_id": 3, "send": true, "gets": true})).await;
    post_ok(&app, ASSIGN, &r, json!({"number_id": 12, "target_user_id": 3, "send": true, "gets": true})).await;
    post_ok(&app, ASSIGN, &c, json!({"number_id": 11, "target_user_id": 4, "send": true, "gets": false})).await;
    assert_eq!(listed(&app, &r).await, (3, vec![11, 12, 13]));
    assert_eq!(listed(&app, &c).await, (2, vec![11, 12]));
    assert_eq!(listed(&app, &u).await, (1, vec![11]));
    assert_eq!(counters(&app).await, vec![(2, 3), (3, 2), (4, 1)]);
    app.assert_invariants().await;

    // The reseller takes 11 back from the child: the user's grant on it
    // goes in the same cascade.
    post_ok(&app, UNASSIGN, &r, json!({"number_id": 11, "target_user_id": 3})).await;
    assert_eq!(listed(&app, &c).await, (1, vec![12]));
    assert_eq!(listed(&app, &u).await, (0, vec![]));
    assert_eq!(counters(&app).await, vec![(2, 3), (3, 1)]);
    app.assert_invariants().await;

    // A grant with an end leaves the list at its end; its row (and its
    // place in the counter) stays until the sweeper removes it.
    post_ok(&app, ASSIGN, &r, json!({"number_id": 13, "target_user_id": 3, "send": true,
        "gets": true, "expires_at": T0 + 3600})).await;
    assert_eq!(listed(&app, &c).await, (2, vec![12, 13]));
    app.clock.advance(3601);
    assert_eq!(listed(&app, &c).await, (1, vec![12]));
    assert_eq!(counters(&app).await, vec![(2, 3), (3, 2)]);
    app.assert_invariants().await;

    let report = app.core.sweep(app.clock.now()).await.expect("sweep");
    assert_eq!(report.grants_expired, 1);
    // The sweep folded every delta row PostgreSQL's connections wrote
    // (SQLite keeps none): nothing is left to fold.
    assert_eq!(app.core.fold_holdings().await.expect("fold"), 0);
    assert_eq!(counters(&app).await, vec![(2, 3), (3, 1)]);
    assert_eq!(listed(&app, &r).await, (3, vec![11, 12, 13]));
    assert_eq!(listed(&app, &c).await, (1, vec![12]));
    app.assert_invariants().await;

    // After a fold, changes keep adding up: the reseller's numbers move on
    // through further grants, and a second sweep finds nothing to end.
    post_ok(&app, ASSIGN, &r, json!({"number_id": 13, "target_user_id": 3, "send": true, "gets": true})).await;
    post_ok(&app, ASSIGN, &c, json!({"number_id": 13, "target_user_id": 4, "send": true, "gets": true})).await;
    post_ok(&app, UNASSIGN, &r, json!({"number_id": 12, "target_user_id": 3})).await;
    assert_eq!(listed(&app, &c).await, (1, vec![13]));
    assert_eq!(listed(&app, &u).await, (1, vec![13]));
    let report = app.core.sweep(app.clock.now()).await.expect("sweep");
    assert_eq!(report.grants_expired, 0);
    assert_eq!(counters(&app).await, vec![(2, 3), (3, 1), (4, 1)]);
    app.assert_invariants().await;
}

async fn a_counter_out_of_step_with_the_rows_is_a_violation(app: TestApp) {
    account_with_id(&app, 1, "admin", None, false).await;
    account_with_id(&app, 2, "reseller", Some("admin"), true).await;
    number_with_id(&app, 11, "+983000511", Some("reseller")).await;
    app.assert_invariants().await;
    let mut snapshot = app.core.snapshot().await.expect("snapshot");
    assert_eq!(snapshot.counters, vec![(2, 1)]);
    snapshot.counters = vec![(2, 2)];
    assert_eq!(
        linekeeper::core::invariants::violations(&snapshot),
        vec!["holdings counters are wrong: account 2 has 1 numbers and grants but its counter says 2"
            .to_owned()]
    );
}

async fn the_list_and_a_routing_miss_are_one_statement_each_on_postgresql(app: TestApp) {
    let (_, admin) = account_with_id(&app, 1, "admin", None, false).await;
    let (_, r) = account_with_id(&app, 2, "reseller", Some("admin"), true).await;
    account_with_id(&app, 3, "child", Some("reseller"), true).await;
    for (id, e164) in [(11, "+983000511"), (12, "+983000512")] {
        number_with_id(&app, id, e164, Some("reseller")).await;
    }
    post_ok(&app, ASSIGN, &r, json!({"number_id": 12, "target_user_id": 3, "send": true, "gets": true})).await;
    // Each credential is read once and then cached: warm both up.
    assert_eq!(listed(&app, &r).await, (2, vec![11, 12]));
    let (status, _) = crate::native_common::get(&app, "/lk/v1/routing/+983000511", &admin).await;
    assert_eq!(status, 200);
    // SQLite sends nothing to a server; PostgreSQL one statement per read,
    // with no BEGIN or COMMIT around it. The routing table's keeper reads
    // too, every 200 ms: not while this counts.
    let _quiet = app.core.quiet_routes().await;
    let one = u64::from(app.backend == Backend::Postgres);
    let before = app.core.store_statements();
    assert_eq!(listed(&app, &r).await, (2, vec![11, 12]));
    assert_eq!(app.core.store_statements() - before, one, "the list");
    // A number's first history page (read again below): its ids are
    // kept beside the routing read next.
    let history = "/lk/v1/numbers/12/history";
    let assigned = json!(["grant.assign", "number.subscribe"]);
    let history_actions = |body: Value| -> Value {
        body["items"].as_array().expect("items").iter().map(|i| i["action"].clone()).collect()
    };
    let (status, body) = crate::native_common::get(&app, history, &r).await;
    assert_eq!((status, history_actions(body)), (200, assigned.clone()));
    let before = app.core.store_statements();
    let (status, body) = crate::native_common::get(&app, "/lk/v1/routing/+983000512", &admin).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((&body["send"], &body["gets"]), (&json!([2, 3]), &json!([2, 3])));
    let granted_by: Vec<_> = body["holders"].as_array().expect("holders").iter()
        .map(|h| h["granted_by"].clone()).collect();
    assert_eq!(granted_by, vec![Value::Null, json!(2)]);
    assert_eq!(app.core.store_statements() - before, one, "a routing miss");
    // The native list without `granted_to` is one statement too, once the
    // numbers' facts (uid, E.164, country) are cached: the first page that
    // shows a number reads them, in one more statement. A first page asked
    // again with nothing changed is kept as written: none.
    for (query, pass, statements) in [("?owned=true", "first", 2 * one),
        ("?owned=true&limit=10", "facts cached", one), ("?owned=true", "kept", 0)] {
        let before = app.core.store_statements();
        let (status, body) = crate::native_common::get(&app, &format!("/lk/v1/numbers{query}"), &r).await;
        assert_eq!(status, 200, "{body}");
        let items: Vec<_> = body["items"].as_array().expect("items").iter()
            .map(|i| (i["id"].clone(), i["number"].clone())).collect();
        assert_eq!(items, vec![(json!(11), json!("+983000511")), (json!(12), json!("+983000512"))]);
        assert_eq!(app.core.store_statements() - before, statements, "the native list, {pass}");
    }
    // An unknown number is one statement too.
    let before = app.core.store_statements();
    let (status, _) = crate::native_common::get(&app, "/lk/v1/routing/+983000599", &admin).await;
    assert_eq!(status, 404);
    assert_eq!(app.core.store_statements() - before, one, "an unknown number");
    // That page again is no statement at all: the routing table holds the
    // number (read after the page's ids were), and its newest ids, its
    // entries and their accounts are kept.
    let before = app.core.store_statements();
    let (status, body) = crate::native_common::get(&app, history, &r).await;
    assert_eq!((status, history_actions(body)), (200, assigned));
    assert_eq!(app.core.store_statements() - before, 0, "a history page at hand");
}

async fn an_assign_is_three_round_trips_and_an_unassign_one_more_per_cascaded_grant_on_postgresql(app: TestApp) {
    account_with_id(&app, 1, "admin", None, false).await;
    let (_, r) = account_with_id(&app, 2, "reseller", Some("admin"), true).await;
    let (_, c) = account_with_id(&app, 3, "child", Some("reseller"), true).await;
    account_with_id(&app, 4, "grandchild", Some("child"), true).await;
    number_with_id(&app, 11, "+983000511", Some("reseller")).await;
    // Each credential is read once and then cached: warm both up.
    listed(&app, &r).await;
    listed(&app, &c).await;
    let pg = app.backend == Backend::Postgres;
    // Nor the routing table's keeper's, while this counts.
    let _quiet = app.core.quiet_routes().await;
    // (round trips, statements) of one request; SQLite sends nothing.
    let cost = |trips: u64, statements: u64| if pg { (trips, statements) } else { (0, 0) };
    let measured = |app: &TestApp| (app.core.store_round_trips(), app.core.store_statements());
    let since = |app: &TestApp, (t, s): (u64, u64)| {
        let (t2, s2) = measured(app);
        (t2 - t, s2 - s)
    };
    // The reads (BEGIN, the number's lock, its grants, the target), the
    // grant's insert, the history entry with its event and the COMMIT.
    let before = measured(&app);
    post_ok(&app, ASSIGN, &r, json!({"number_id": 11, "target_user_id": 3, "send": true, "gets": true})).await;
    assert_eq!(since(&app, before), cost(3, 7), "an assign");
    let before = measured(&app);
    post_ok(&app, ASSIGN, &c, json!({"number_id": 11, "target_user_id": 4, "send": true, "gets": false})).await;
    assert_eq!(since(&app, before), cost(3, 7), "an assign from a grant");
    // A refusal: the reads and the ROLLBACK.
    let before = measured(&app);
    let (status, _) = app
        .post(ASSIGN, &r, &json!({"number_id": 11, "target_user_id": 3, "send": true, "gets": true}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(since(&app, before), cost(2, 5), "a refused assign");
    // The reads, each removal (the one after the first sent with the first's
    // history entry), the last entry with the COMMIT.
    let before = measured(&app);
    post_ok(&app, UNASSIGN, &r, json!({"number_id": 11, "target_user_id": 3})).await;
    assert_eq!(since(&app, before), cost(4, 9), "an unassign with its cascade");
    assert_eq!(listed(&app, &c).await, (0, vec![]));
    app.assert_invariants().await;
    // Every change has its event, in order, each with its own entry.
    let snapshot = app.core.snapshot().await.expect("snapshot");
    let last = |n: usize, v: &[i64]| v[v.len().saturating_sub(n)..].to_vec();
    let events: Vec<i64> = snapshot.events.iter().map(|(id, _)| *id).collect();
    let kinds: Vec<&str> = snapshot.events.iter().rev().take(4).rev().map(|(_, k)| k.as_str()).collect();
    assert_eq!(kinds, ["grant.created", "grant.created", "grant.removed", "grant.removed"]);
    assert_eq!(last(4, &events), last(4, &snapshot.history_ids));
}
}
