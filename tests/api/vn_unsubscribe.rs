//! `PUT /unsubscribe/:id`: the seed's answers, "not found" for everything
//! that is not the caller's, and the whole delegation tree going with it.

use serde_json::json;

use crate::vn_common::{VN, buy, failure, panel_numbers, pool_number, postpaid, success, vn};

crate::scenarios! {
async fn the_seeds_200_401_and_404_bodies_exactly(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, key) = postpaid(&app, "testuser", Some("admin"), false).await;
    let number = pool_number(&app, "+61400000001", 1500, 15000).await;
    buy(&app, &key, &number.uid).await;
    let path = format!("{VN}/unsubscribe/{}", number.uid);
    let bearer = format!("Bearer {key}");
    // The seed's curl: those two headers and no body.
    let seed_headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];

    let before = app.history_len().await;
    let res = app.raw("PUT", &path, &seed_headers, b"").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(
        String::from_utf8_lossy(&res.body),
        r#"{"app_type":"web","app_version":"1.0","maintainence":0,"new_version":0,"force_update":0,"invalid_token":0,"refresh_token":"","show_message":1,"is_enc":false,"status":true,"message":"Virtual number has been unsubscribed successfully.","message_type":"toast","data":{},"error":{}}"#
    );
    // One change, one entry (no grants were on it).
    assert_eq!(app.history_len().await, before + 1);

    // A second call: the number is no longer the caller's.
    let res = app.raw("PUT", &path, &seed_headers, b"").await;
    assert_eq!(res.status, 404);
    assert_eq!(
        String::from_utf8_lossy(&res.body),
        r#"{"code":404,"message":"Virtual number not found","stack":"APIError: Virtual number not found"}"#
    );

    let res = app
        .raw("PUT", &path, &[("content-type", "application/json")], b"")
        .await;
    assert_eq!(res.status, 401);
    assert_eq!(
        String::from_utf8_lossy(&res.body),
        r#"{"code":401,"message":"Invalid token","stack":"APIError: Invalid token"}"#
    );
    assert_eq!(app.history_len().await, before + 1);
    app.assert_invariants().await;
}

async fn the_seeds_javascript_sample_sends_no_authorization_and_gets_401(app: TestApp) {
    app.account("admin", None, false).await;
    let (user, key) = postpaid(&app, "testuser", Some("admin"), false).await;
    let number = pool_number(&app, "+61400000001", 0, 0).await;
    buy(&app, &key, &number.uid).await;
    let before = app.history_len().await;

    // `axios.put(url, {headers: ...})` sends the object as the JSON body.
    let body = json!({"headers": {"Authorization": format!("Bearer {key}"),
        "Content-Type": "application/json"}});
    let (status, answer) = app
        .call(
            "PUT",
            &format!("{VN}/unsubscribe/{}", number.uid),
            None,
            Some(&body),
        )
        .await;
    assert_eq!((status, answer), (401, failure(401, "Invalid token")));
    assert_eq!(app.history_len().await, before);
    let snapshot = app.core.snapshot().await.expect("snapshot");
    let n = snapshot.numbers.iter().find(|n| n.id == number.id);
    assert_eq!(n.and_then(|n| n.owner_id()), Some(user.id));
}

async fn anything_not_the_callers_is_the_same_404_and_changes_nothing(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, alice) = postpaid(&app, "alice", Some("admin"), false).await;
    let (_, bob) = postpaid(&app, "bob", Some("admin"), false).await;
    let owned = pool_number(&app, "+61400000001", 0, 0).await;
    let pooled = pool_number(&app, "+61400000002", 0, 0).await;
    buy(&app, &alice, &owned.uid).await;
    let before = app.history_len().await;

    let not_found = failure(404, "Virtual number not found");
    for id in [
        owned.uid.clone(),                 // alice's, asked by bob
        pooled.uid.clone(),                // in the pool, owned by no one
        "66ea98514f0c1a121c76ec17".into(), // the seed's id: unknown here
        owned.uid.to_uppercase(),          // alice's again, in upper case
        "66ea98514f0c1a121c76ec1".into(),  // malformed: 23 characters
        "not-an-id".into(),
        "%ff%fe".into(), // not even UTF-8 once decoded
    ] {
        let (status, body) = vn(&app, "PUT", &format!("/unsubscribe/{id}"), Some(&bob), None).await;
        assert_eq!((status, &body), (404, &not_found), "id {id:?}");
    }
    assert_eq!(app.history_len().await, before);
    let (status, body) = vn(&app, "GET", "/", Some(&alice), None).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["total"], 1, "alice still owns it: {body}");
    app.assert_invariants().await;
}

async fn unsubscribe_removes_every_grant_and_quarantines_the_number(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, reseller) = postpaid(&app, "reseller", Some("admin"), true).await;
    let (sub, sub_key) = app.account("subreseller", Some("reseller"), true).await;
    let (user, user_key) = app.account("testuser", Some("subreseller"), false).await;
    let (other, other_key) = app.account("other", Some("reseller"), false).await;
    let number = pool_number(&app, "+61400000001", 1500, 15000).await;
    let kept = pool_number(&app, "+61400000002", 1500, 15000).await;
    buy(&app, &reseller, &number.uid).await;
    buy(&app, &reseller, &kept.uid).await;

    // reseller -> subreseller -> testuser, and reseller -> other; plus a
    // grant on the number that stays.
    let assign = |key: String, number_id: i64, to: i64| {
        let app = &app;
        async move {
            let body =
                json!({"number_id": number_id, "target_user_id": to, "send": true, "gets": true});
            let (status, answer) = app.post("/api/numbers/assign", &key, &body).await;
            assert_eq!(status, 200, "{answer}");
        }
    };
    assign(reseller.clone(), number.id, sub.id).await;
    assign(sub_key.clone(), number.id, user.id).await;
    assign(reseller.clone(), number.id, other.id).await;
    assign(reseller.clone(), kept.id, other.id).await;
    assert_eq!(panel_numbers(&app, &user_key).await, vec!["+61400000001"]);
    assert_eq!(
        panel_numbers(&app, &other_key).await,
        vec!["+61400000001", "+61400000002"]
    );
    let (_, mine) = vn(&app, "GET", "/", Some(&reseller), None).await;
    assert_eq!(mine["data"]["items"][0]["assignedTo"], 3, "{mine}");

    let before = app.history_len().await;
    let (status, body) = vn(
        &app,
        "PUT",
        &format!("/unsubscribe/{}", number.uid),
        Some(&reseller),
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (
            200,
            success(
                "Virtual number has been unsubscribed successfully.",
                json!({})
            )
        )
    );
    // Three grants removed and the unsubscription: four entries.
    assert_eq!(app.history_len().await, before + 4);
    app.assert_invariants().await;

    assert!(panel_numbers(&app, &sub_key).await.is_empty());
    assert!(panel_numbers(&app, &user_key).await.is_empty());
    assert_eq!(panel_numbers(&app, &other_key).await, vec!["+61400000002"]);
    let snapshot = app.core.snapshot().await.expect("snapshot");
    assert!(snapshot.grants.iter().all(|g| g.number_id != number.id));

    // VN_API.md: unsubscribing puts the number in quarantine (30 days by
    // default), so it is not in the pool yet; once the period is over it
    // is, whether or not the sweeper has been by.
    let pool_ids = |pool: &serde_json::Value| -> Vec<String> {
        pool["data"]["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i["_id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (_, pool) = vn(&app, "GET", "/available", Some(&user_key), None).await;
    assert!(pool_ids(&pool).is_empty(), "{pool}");
    app.clock.advance(30 * 86_400);
    let (_, pool) = vn(&app, "GET", "/available", Some(&user_key), None).await;
    assert_eq!(pool_ids(&pool), vec![number.uid.clone()]);
    let (_, mine) = vn(&app, "GET", "/", Some(&reseller), None).await;
    assert_eq!(mine["data"]["total"], 1);
    assert_eq!(mine["data"]["items"][0]["_id"], kept.uid.as_str());
}

async fn any_body_is_ignored_and_the_trailing_slash_is_served(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, key) = postpaid(&app, "testuser", Some("admin"), false).await;
    let first = pool_number(&app, "+61400000001", 0, 0).await;
    let second = pool_number(&app, "+61400000002", 0, 0).await;
    buy(&app, &key, &first.uid).await;
    buy(&app, &key, &second.uid).await;
    let bearer = format!("Bearer {key}");
    let ok = success(
        "Virtual number has been unsubscribed successfully.",
        json!({}),
    );

    let res = app
        .raw(
            "PUT",
            &format!("{VN}/unsubscribe/{}", first.uid),
            &[("authorization", &bearer), ("content-type", "text/plain")],
            b"{not json at all",
        )
        .await;
    assert_eq!((res.status, res.json()), (200, ok.clone()));
    let res = app
        .raw(
            "PUT",
            &format!("{VN}/unsubscribe/{}/", second.uid),
            &[("authorization", &bearer)],
            b"",
        )
        .await;
    assert_eq!((res.status, res.json()), (200, ok));
    app.assert_invariants().await;
}
}
