//! `GET /lk/v1/routing/{e164}`: administrators only, answered from the
//! routing table, which forgets at once what this instance changes and
//! hears what another instance changes long before its TTL.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::native_common::{brief, delete, get, not_found, problem, send};
use crate::vn_common::{pool_number, postpaid};

crate::scenarios! {
async fn routing_names_owner_senders_and_receivers_and_follows_changes(app: TestApp) {
    let (_, adk) = app.account("admin", None, false).await;
    let (r, rk) = app.account("reseller", Some("admin"), true).await;
    let (a, _) = app.account("agent", Some("reseller"), false).await;
    let n = app.number("+983000505", Some("reseller")).await;
    app.number("+61400000001", None).await;

    let path = "/lk/v1/routing/+983000505";
    let owner_only = json!({"number": "+983000505", "state": "subscribed", "owner": brief(&r),
        "send": [r.id], "gets": [r.id],
        "holders": [{"account": brief(&r), "permissions": {"send": true, "gets": true}, "granted_by": null}]});
    assert_eq!(get(&app, path, &adk).await, (200, owner_only.clone()));
    assert_eq!(get(&app, "/lk/v1/routing/%2B983000505", &adk).await, (200, owner_only.clone()));

    // This instance's own change is seen at once, cache or not.
    let grant = format!("/lk/v1/numbers/{}/grants/{}", n.id, a.id);
    assert_eq!(send(&app, "PUT", &grant, &rk, json!({"send": false, "gets": true})).await.0, 201);
    assert_eq!(get(&app, path, &adk).await, (200, json!({"number": "+983000505",
        "state": "subscribed", "owner": brief(&r), "send": [r.id], "gets": [r.id, a.id],
        "holders": [
            {"account": brief(&r), "permissions": {"send": true, "gets": true}, "granted_by": null},
            {"account": brief(&a), "permissions": {"send": false, "gets": true}, "granted_by": r.id},
        ]})));
    assert_eq!(delete(&app, &grant, &rk).await.0, 200);
    assert_eq!(get(&app, path, &adk).await, (200, owner_only));

    assert_eq!(get(&app, "/lk/v1/routing/+61400000001", &adk).await, (200, json!({
        "number": "+61400000001", "state": "available", "owner": null,
        "send": [], "gets": [], "holders": []})));
    assert_eq!(get(&app, "/lk/v1/routing/+61400000009", &adk).await, (404, not_found("No such number.")));
    assert_eq!(get(&app, "/lk/v1/routing/nonsense", &adk).await, (404, not_found("No such number.")));
    assert_eq!(get(&app, path, &rk).await, (403, problem("forbidden", "Forbidden", 403,
        "Routing is for platform (administrator) credentials only.")));
}

async fn a_routing_answer_follows_the_numbers_state_as_the_clock_moves(app: TestApp) {
    let (_, adk) = app.account("admin", None, false).await;
    let (_, alice) = postpaid(&app, "alice", Some("admin"), false).await;
    pool_number(&app, "+61400000003", 100, 1000).await;
    let path = "/lk/v1/routing/+61400000003";
    let answer = |state: &str| (200, json!({"number": "+61400000003", "state": state,
        "owner": null, "send": [], "gets": [], "holders": []}));
    assert_eq!(send(&app, "POST", "/lk/v1/reservations", &alice,
        json!({"number": "+61400000003", "duration_secs": 60})).await.0, 201);
    // The first lookup writes the answer; the second is the same bytes.
    assert_eq!(get(&app, path, &adk).await, answer("reserved"));
    assert_eq!(get(&app, path, &adk).await, answer("reserved"));
    // The reservation runs out with nothing swept and nothing changed: the
    // routing kept is the same, its answer's state is not.
    app.clock.advance(60);
    assert_eq!(get(&app, path, &adk).await, answer("available"));
    assert_eq!(get(&app, path, &adk).await, answer("available"));
}

async fn routing_hears_another_instances_changes_well_within_its_ttl(app: TestApp) {
    let (_, adk) = app.account("admin", None, false).await;
    let (r, rk) = app.account("reseller", Some("admin"), true).await;
    let (a, _) = app.account("agent", Some("reseller"), false).await;
    let n = app.number("+983000606", Some("reseller")).await;
    let path = "/lk/v1/routing/+983000606";
    let owner_only = json!({"number": "+983000606", "state": "subscribed", "owner": brief(&r),
        "send": [r.id], "gets": [r.id],
        "holders": [{"account": brief(&r), "permissions": {"send": true, "gets": true}, "granted_by": null}]});
    let granted = json!({"number": "+983000606", "state": "subscribed", "owner": brief(&r),
        "send": [r.id, a.id], "gets": [r.id],
        "holders": [
            {"account": brief(&r), "permissions": {"send": true, "gets": true}, "granted_by": null},
            {"account": brief(&a), "permissions": {"send": true, "gets": false}, "granted_by": r.id},
        ]});
    // This instance loads its table and answers from it.
    app.core.load_routes().await.expect("load the routing table");
    assert_eq!(get(&app, path, &adk).await, (200, owner_only.clone()));

    // Another instance grants and takes back; this one's answer follows
    // within a second, where its TTL is five.
    let other = app.another_instance(Default::default()).await;
    let grant = format!("/lk/v1/numbers/{}/grants/{}", n.id, a.id);
    assert_eq!(send(&other, "PUT", &grant, &rk, json!({"send": true, "gets": false})).await.0, 201);
    assert_eq!(answer_within(&app, path, &adk, &granted).await, (200, granted.clone()));
    assert_eq!(delete(&other, &grant, &rk).await.0, 200);
    assert_eq!(answer_within(&app, path, &adk, &owner_only).await, (200, owner_only));
}
}

/// This app's routing answer once it is `want`, or the last one after a
/// second of asking.
async fn answer_within(app: &TestApp, path: &str, key: &str, want: &Value) -> (u16, Value) {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let got = get(app, path, key).await;
        if (got.0 == 200 && got.1 == *want) || Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
