//! The panel face's number routes: the seed (unassign), assign, the list.

use serde_json::json;

const UNASSIGN: &str = "/api/numbers/unassign";
const ASSIGN: &str = "/api/numbers/assign";

crate::scenarios! {
async fn the_seeds_success_and_not_assigned_answers(app: TestApp) {
    let (_, admin) = app.account("admin", None, false).await;
    let (_, reseller) = app.account("reseller", Some("admin"), true).await;
    let (user, _) = app.account("testuser", Some("reseller"), false).await;
    let number = app.number("+983000505", Some("reseller")).await;
    let _ = admin;

    let grant =
        json!({"number_id": number.id, "target_user_id": user.id, "send": true, "gets": true});
    assert_eq!(app.post(ASSIGN, &reseller, &grant).await.0, 200);

    // The English page's four fields.
    let body = json!({"number_id": number.id, "target_user_id": user.id, "number": "+983000505", "target_user": "testuser"});
    let (status, answer) = app.post(UNASSIGN, &reseller, &body).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"data": null, "meta": {"status": true, "message": "انجام شد", "message_parameters": [], "message_code": "200-1"}})
    );

    let (status, answer) = app.post(UNASSIGN, &reseller, &body).await;
    assert_eq!(status, 400);
    assert_eq!(
        answer,
        json!({"data": null, "meta": {"status": false, "message": "number not assigned to user",
            "message_parameters": [], "message_code": "400-1", "errors": {}}})
    );
    app.assert_invariants().await;
}
}
