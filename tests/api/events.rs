//! Issue 17: the outbox, the event feed and idempotency keys.

use serde_json::{Value, json};

use crate::helpers::{T0, TestApp};
use crate::native_common::{get, send};

fn types(feed: &Value) -> Vec<String> {
    feed["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A mutation with an idempotency key; status, the replay header, the body.
async fn keyed(
    app: &TestApp,
    method: &str,
    path: &str,
    key: &str,
    idem: &str,
    body: &Value,
) -> (u16, Option<String>, Value) {
    let auth = format!("Bearer {key}");
    let bytes = body.to_string().into_bytes();
    let res = app
        .raw(
            method,
            path,
            &[
                ("content-type", "application/json"),
                ("authorization", &auth),
                ("idempotency-key", idem),
            ],
            &bytes,
        )
        .await;
    let replayed = res.header("idempotent-replayed").map(str::to_owned);
    (res.status, replayed, res.json())
}

crate::scenarios! {
async fn every_change_has_one_event_in_commit_order(app: TestApp) {
    let (_, admin) = app.account("admin", None, false).await;
    let (r, rk) = app.account("reseller", Some("admin"), true).await;
    let (a, ak) = app.account("agent", Some("reseller"), true).await;
    let (b, _) = app.account("buyer", Some("agent"), false).await;
    let (_, xk) = app.account("outsider", Some("admin"), true).await;
    let n = app.number("+983000505", Some("reseller")).await;
    let all = json!({"send": true, "gets": true});
    let put = |t: i64| format!("/lk/v1/numbers/{}/grants/{t}", n.id);
    assert_eq!(send(&app, "PUT", &put(a.id), &rk, all.clone()).await.0, 201);
    assert_eq!(send(&app, "PUT", &put(b.id), &ak, all.clone()).await.0, 201);
    assert_eq!(send(&app, "DELETE", &put(a.id), &rk, json!({})).await.0, 200);

    let (status, feed) = get(&app, "/lk/v1/events?wait=0", &admin).await;
    assert_eq!(status, 200);
    assert_eq!(
        types(&feed),
        ["account.created", "account.created", "account.created", "account.created",
         "account.created", "number.added", "number.subscribed", "grant.created",
         "grant.created", "grant.removed", "grant.removed"]
    );
    let items = feed["items"].as_array().unwrap();
    let ids: Vec<i64> = items.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(items[9]["data"]["reason"], "unassign");
    assert_eq!(items[9]["account_id"], a.id);
    assert_eq!(items[10]["data"]["reason"], "cascade");
    assert_eq!(items[10]["number"], "+983000505");
    assert_eq!(items[10]["actor_id"], r.id);

    // After a cursor, and limited.
    let after = ids[7];
    let (_, page) = get(&app, &format!("/lk/v1/events?after={after}&limit=2&wait=0"), &admin).await;
    assert_eq!(types(&page), ["grant.created", "grant.removed"]);
    assert_eq!(page["next_after"], ids[9]);

    // The reseller sees what involves it or its downline; the outsider
    // sees only its own creation.
    let (_, mine) = get(&app, "/lk/v1/events?wait=0", &rk).await;
    assert!(types(&mine).iter().filter(|t| t.starts_with("grant.")).count() == 4);
    let (_, theirs) = get(&app, "/lk/v1/events?wait=0", &xk).await;
    assert_eq!(types(&theirs), ["account.created"]);
    let (status, _) = get(&app, "/lk/v1/events?wait=31", &xk).await;
    assert_eq!(status, 422);
    app.assert_invariants().await;
}

async fn the_feed_waits_for_the_next_commit(app: TestApp) {
    let (_, admin) = app.account("admin", None, false).await;
    let (_, feed) = get(&app, "/lk/v1/events?wait=0", &admin).await;
    let last = feed["next_after"].as_i64().unwrap();
    let path = format!("/lk/v1/events?after={last}&wait=10");
    let started = std::time::Instant::now();
    let (waiting, ()) = tokio::join!(get(&app, &path, &admin), async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        app.account("late", Some("admin"), false).await;
    });
    assert_eq!(types(&waiting.1), ["account.created"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

async fn the_sweeper_prunes_old_events_and_keys(app: TestApp) {
    let (_, admin) = app.account("admin", None, false).await;
    app.number("+983000505", None).await;
    app.clock.advance(8 * 86_400);
    app.account("fresh", Some("admin"), false).await;
    let report = app.core.sweep(T0 + 8 * 86_400).await.unwrap();
    assert_eq!(report.events_pruned, 2);
    let (_, feed) = get(&app, "/lk/v1/events?wait=0", &admin).await;
    assert_eq!(types(&feed), ["account.created"]);
    app.assert_invariants().await;
}

async fn a_publisher_behind_holds_back_pruning_until_it_is_gone_for_the_retention(app: TestApp) {
    app.account("admin", None, false).await;
    app.number("+983000505", None).await;
    let day = 86_400;
    // A publisher that is still at work, 8 days on, but has published nothing.
    app.clock.advance(8 * day);
    let batch = app.core.publisher_batch("nats:t:p", "me", 30, 10).await.unwrap();
    let events = batch.expect("the publisher's lease");
    assert_eq!(events.len(), 2);
    let report = app.core.sweep(T0 + 8 * day).await.unwrap();
    assert_eq!(report.events_pruned, 0);
    // Once it has published the first, that one may go.
    assert!(app.core.publisher_done("nats:t:p", "me", events[0].id).await.unwrap());
    let report = app.core.sweep(T0 + 8 * day).await.unwrap();
    assert_eq!(report.events_pruned, 1);
    // A publisher not seen for the whole retention holds nothing back.
    app.clock.advance(8 * day);
    let report = app.core.sweep(T0 + 16 * day).await.unwrap();
    assert_eq!(report.events_pruned, 1);
    app.assert_invariants().await;
}

async fn a_replay_changes_nothing(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, rk) = app.account("reseller", Some("admin"), true).await;
    let (a, ak) = app.account("agent", Some("reseller"), true).await;
    let n = app.number("+983000505", Some("reseller")).await;
    let path = format!("/lk/v1/numbers/{}/grants/{}", n.id, a.id);
    let body = json!({"send": true, "gets": false});
    let first = keyed(&app, "PUT", &path, &rk, "k-1", &body).await;
    assert_eq!((first.0, first.1.as_deref()), (201, None));
    let history = app.assert_invariants().await;
    let events = app.core.snapshot().await.unwrap().events.len();

    // Invariant 9: the same request again is answered as before and
    // changes nothing.
    let again = keyed(&app, "PUT", &path, &rk, "k-1", &body).await;
    assert_eq!((again.0, again.1.as_deref(), &again.2), (201, Some("true"), &first.2));
    assert_eq!(app.assert_invariants().await, history);
    assert_eq!(app.core.snapshot().await.unwrap().events.len(), events);

    // The same key with another body, method or path is refused.
    let other = keyed(&app, "PUT", &path, &rk, "k-1", &json!({"send": true, "gets": true})).await;
    assert_eq!((other.0, other.2["type"].as_str()), (422, Some("/lk/v1/problems/idempotency-key-reused")));
    let other = keyed(&app, "DELETE", &path, &rk, "k-1", &body).await;
    assert_eq!(other.0, 422);
    // Keys are the account's own: another account's same key is its own.
    let mine = keyed(&app, "DELETE", &path, &ak, "k-1", &json!({})).await;
    assert_eq!(mine.0, 404);
    // A second key is a second request.
    let unassign = keyed(&app, "DELETE", &path, &rk, "k-2", &json!({})).await;
    assert_eq!((unassign.0, unassign.1), (200, None));
    let replay = keyed(&app, "DELETE", &path, &rk, "k-2", &json!({})).await;
    assert_eq!((replay.0, replay.1.as_deref(), &replay.2), (200, Some("true"), &unassign.2));
    assert_eq!(app.assert_invariants().await, history + 1);

    let bad = keyed(&app, "DELETE", &path, &rk, "", &json!({})).await;
    assert_eq!(bad.0, 422);
}

async fn racing_requests_with_one_key_change_once(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, rk) = app.account("reseller", Some("admin"), true).await;
    let (a, _) = app.account("agent", Some("reseller"), true).await;
    let n = app.number("+983000505", Some("reseller")).await;
    let path = format!("/lk/v1/numbers/{}/grants/{}", n.id, a.id);
    let body = json!({"send": true, "gets": true});
    let before = app.history_len().await;
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let mut other = app.another_client();
        let (path, rk, body) = (path.clone(), rk.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let auth = format!("Bearer {rk}");
            let bytes = body.to_string().into_bytes();
            other
                .request("PUT", &path, &[("content-type", "application/json"),
                    ("authorization", &auth), ("idempotency-key", "race")], &bytes)
                .await
                .expect("request")
                .status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert!(statuses.iter().all(|s| [201, 409].contains(s)), "{statuses:?}");
    assert!(statuses.contains(&201));
    assert_eq!(app.assert_invariants().await, before + 1);
}
}
