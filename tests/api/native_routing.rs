//! `GET /lk/v1/routing/{e164}`: administrators only, cached, and forgotten
//! at once on this instance's own changes.

use serde_json::json;

use crate::native_common::{brief, delete, get, not_found, problem, send};

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
}
