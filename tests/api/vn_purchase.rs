//! `POST /purchase-postpaid` and `POST /purchase`: success, every refusal in
//! its order, bad bodies, and racing subscribers.

use std::sync::Arc;

use linekeeper::client::HttpClient;
use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::helpers::TestApp;
use crate::vn_common::{VN, buy, failure, pool_number, postpaid, success, vn};

const PURCHASED: &str = "Virtual number has been purchased successfully.";

/// The owner of number `id`, read from the store.
async fn owner_of(app: &TestApp, id: i64) -> Option<i64> {
    let snapshot = app.core.snapshot().await.expect("snapshot");
    snapshot
        .numbers
        .iter()
        .find(|n| n.id == id)
        .and_then(|n| n.owner_id())
}

crate::scenarios! {
async fn postpaid_purchase_answers_the_new_item_and_records_it(app: TestApp) {
    app.account("admin", None, false).await;
    let (user, key) = postpaid(&app, "testuser", Some("admin"), false).await;
    let number = pool_number(&app, "+61400000001", 1500, 15000).await;
    let before = app.history_len().await;

    let (status, body) = vn(
        &app,
        "POST",
        "/purchase-postpaid",
        Some(&key),
        Some(&json!({"number": number.uid, "resubscribe": true})),
    )
    .await;
    let item = json!({"_id": number.uid, "number": "+61400000001", "country": "AU",
        "recurringTime": "month", "resubscribe": true,
        "subscribedAt": "2026-01-01T00:00:00.000Z", "assignedTo": 0});
    assert_eq!((status, body), (200, success(PURCHASED, item.clone())));
    assert_eq!(app.history_len().await, before + 1);
    assert_eq!(owner_of(&app, number.id).await, Some(user.id));
    let (_, mine) = vn(&app, "GET", "/", Some(&key), None).await;
    assert_eq!(mine["data"]["items"], json!([item]));

    // `resubscribe` defaults to false, and may be Joi's string form.
    for (e164, body_extra, want) in [
        ("+61400000002", json!({}), false),
        ("+61400000003", json!({"resubscribe": "true"}), true),
    ] {
        let n = pool_number(&app, e164, 0, 0).await;
        let mut body = body_extra;
        body["number"] = json!(n.uid);
        let (status, answer) =
            vn(&app, "POST", "/purchase-postpaid", Some(&key), Some(&body)).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["data"]["resubscribe"], want);
    }
    app.assert_invariants().await;
}

async fn postpaid_refusals_in_order_change_nothing(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, alice) = postpaid(&app, "alice", Some("admin"), false).await;
    let (_, bob) = postpaid(&app, "bob", Some("admin"), false).await;
    let (_, plain) = app.account("plain", Some("admin"), false).await;
    let taken = pool_number(&app, "+61400000001", 0, 0).await;
    let free = pool_number(&app, "+61400000002", 0, 0).await;
    buy(&app, &alice, &taken.uid).await;
    let before = app.history_len().await;

    let disabled = failure(403, "Postpaid billing is not enabled for this account");
    let not_found = failure(404, "Virtual number not found");
    let taken_answer = failure(409, "Virtual number is not available");
    for (key, number, want) in [
        // Postpaid is checked before anything about the number.
        (&plain, free.uid.as_str(), &disabled),
        (&plain, "66ea98514f0c1a121c76ec17", &disabled),
        (&plain, "not-a-uid", &disabled),
        (&plain, taken.uid.as_str(), &disabled),
        (&bob, "66ea98514f0c1a121c76ec17", &not_found),
        (&bob, "NOT-A-UID", &not_found),
        (&bob, taken.uid.as_str(), &taken_answer),
        // Taken already by the caller itself.
        (&alice, taken.uid.as_str(), &taken_answer),
    ] {
        let body = json!({"number": number});
        let (status, answer) = vn(&app, "POST", "/purchase-postpaid", Some(key), Some(&body)).await;
        assert_eq!(
            (status, &answer),
            (want["code"].as_u64().unwrap_or(0) as u16, want),
            "{number}"
        );
    }
    assert_eq!(app.history_len().await, before);
    assert_eq!(owner_of(&app, free.id).await, None);

    // Switching postpaid off takes effect at once.
    app.core
        .set_postpaid("bob", false, "test")
        .await
        .expect("postpaid off");
    let (status, answer) = vn(
        &app,
        "POST",
        "/purchase-postpaid",
        Some(&bob),
        Some(&json!({"number": free.uid})),
    )
    .await;
    assert_eq!((status, answer), (403, disabled));
    assert_eq!(owner_of(&app, free.id).await, None);
    app.assert_invariants().await;
}

async fn card_purchase_is_validated_then_refused_and_changes_nothing(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, alice) = postpaid(&app, "alice", Some("admin"), false).await;
    // No postpaid needed: this is a card purchase.
    let (_, carol) = app.account("carol", Some("admin"), false).await;
    let free = pool_number(&app, "+61400000001", 1500, 15000).await;
    let other = pool_number(&app, "+61400000002", 1500, 15000).await;
    let taken = pool_number(&app, "+61400000003", 1500, 15000).await;

    let (_, pool) = vn(&app, "GET", "/available", Some(&carol), None).await;
    let product = |i: usize, cycle: &str| -> String {
        pool["data"]["items"][i][format!("{cycle}ProductId")]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let (free_m, free_y, other_m, taken_y) = (
        product(0, "monthly"),
        product(0, "yearly"),
        product(1, "monthly"),
        product(2, "yearly"),
    );
    buy(&app, &alice, &taken.uid).await;
    let before = app.history_len().await;

    let refused = failure(
        400,
        "Card payments are not supported by this server; use purchase-postpaid",
    );
    let wrong = failure(400, "Invalid product for the selected recurring time");
    let cases: Vec<(Value, Value)> = vec![
        // Right product for the cycle: would go ahead, but no card payments.
        (
            json!({"product": free_m, "number": free.uid, "recurring_time": "month",
            "resubscribe": true, "card_number": "4242424242424242", "cvc": "123"}),
            refused.clone(),
        ),
        (
            json!({"product": free_y, "number": free.uid, "recurring_time": "year"}),
            refused,
        ),
        // The yearly product with a monthly cycle, and the other way round.
        (
            json!({"product": free_y, "number": free.uid, "recurring_time": "month"}),
            wrong.clone(),
        ),
        (
            json!({"product": free_m, "number": free.uid, "recurring_time": "year"}),
            wrong.clone(),
        ),
        // Another number's product.
        (
            json!({"product": other_m, "number": free.uid, "recurring_time": "month"}),
            wrong.clone(),
        ),
        (
            json!({"product": "prod_x", "number": free.uid, "recurring_time": "month"}),
            wrong,
        ),
        (
            json!({"product": taken_y, "number": taken.uid, "recurring_time": "year"}),
            failure(409, "Virtual number is not available"),
        ),
        (
            json!({"product": free_m, "number": "66ea98514f0c1a121c76ec17", "recurring_time": "month"}),
            failure(404, "Virtual number not found"),
        ),
        (
            json!({"product": free_m, "number": "nope", "recurring_time": "month"}),
            failure(404, "Virtual number not found"),
        ),
        (
            json!({"number": free.uid, "recurring_time": "week"}),
            failure(
                400,
                r#""product" is required, "recurring_time" must be one of [month, year]"#,
            ),
        ),
        (
            json!({}),
            failure(
                400,
                r#""product" is required, "number" is required, "recurring_time" is required"#,
            ),
        ),
        (
            json!({"product": 1, "number": free.uid, "recurring_time": "month", "resubscribe": "maybe"}),
            failure(
                400,
                r#""product" must be a string, "resubscribe" must be a boolean"#,
            ),
        ),
    ];
    for (body, want) in cases {
        let (status, answer) = vn(&app, "POST", "/purchase", Some(&carol), Some(&body)).await;
        assert_eq!(
            (status, &answer),
            (want["code"].as_u64().unwrap_or(0) as u16, &want),
            "{body}"
        );
    }
    assert_eq!(app.history_len().await, before);
    assert_eq!(owner_of(&app, free.id).await, None);
    assert_eq!(owner_of(&app, other.id).await, None);
}

async fn bad_bodies_are_400_or_413_and_change_nothing(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, key) = postpaid(&app, "testuser", Some("admin"), false).await;
    let number = pool_number(&app, "+61400000001", 0, 0).await;
    let before = app.history_len().await;
    let bearer = format!("Bearer {key}");
    let huge = format!(
        r#"{{"number": "{}", "pad": "{}"}}"#,
        number.uid,
        "x".repeat(70_000)
    );

    let invalid = r#"Invalid JSON body"#;
    let cases: Vec<(&str, String, u16, String)> = vec![
        ("application/json", "not json".into(), 400, invalid.into()),
        (
            "application/json",
            "{\"number\": ".into(),
            400,
            invalid.into(),
        ),
        ("application/json", "[1, 2]".into(), 400, invalid.into()),
        ("application/json", "null".into(), 400, invalid.into()),
        (
            "application/json",
            "\"a string\"".into(),
            400,
            invalid.into(),
        ),
        (
            "application/json",
            "".into(),
            400,
            r#""number" is required"#.into(),
        ),
        (
            "application/json",
            "{}".into(),
            400,
            r#""number" is required"#.into(),
        ),
        (
            "application/json",
            r#"{"numbers": "x"}"#.into(),
            400,
            r#""number" is required"#.into(),
        ),
        (
            "application/json",
            r#"{"number": 5}"#.into(),
            400,
            r#""number" must be a string"#.into(),
        ),
        (
            "application/json",
            r#"{"number": null}"#.into(),
            400,
            r#""number" must be a string"#.into(),
        ),
        (
            "application/json",
            r#"{"number": ["a"]}"#.into(),
            400,
            r#""number" must be a string"#.into(),
        ),
        (
            "application/json",
            r#"{"number": ""}"#.into(),
            400,
            r#""number" is not allowed to be empty"#.into(),
        ),
        (
            "application/json",
            format!(r#"{{"number": "{}", "resubscribe": "yes"}}"#, number.uid),
            400,
            r#""resubscribe" must be a boolean"#.into(),
        ),
        (
            "application/json",
            format!(r#"{{"number": "{}", "resubscribe": 1}}"#, number.uid),
            400,
            r#""resubscribe" must be a boolean"#.into(),
        ),
        (
            "application/json",
            r#"{"number": 5, "resubscribe": null}"#.into(),
            400,
            r#""number" must be a string, "resubscribe" must be a boolean"#.into(),
        ),
        (
            "application/x-www-form-urlencoded",
            format!("number={}", number.uid),
            400,
            invalid.into(),
        ),
        ("application/json", "[".repeat(10_000), 400, invalid.into()),
        (
            "application/json",
            huge,
            413,
            "Request body is too large".into(),
        ),
    ];
    for (content_type, body, status, message) in cases {
        let res = app
            .raw(
                "POST",
                &format!("{VN}/purchase-postpaid"),
                &[("authorization", &bearer), ("content-type", content_type)],
                body.as_bytes(),
            )
            .await;
        let shown: String = body.chars().take(60).collect();
        assert_eq!(
            (res.status, res.json()),
            (status, failure(status, &message)),
            "{shown}"
        );
    }
    assert_eq!(app.history_len().await, before);
    assert_eq!(owner_of(&app, number.id).await, None);

    // The body is JSON whatever its label says.
    let res = app
        .raw(
            "POST",
            &format!("{VN}/purchase-postpaid"),
            &[("authorization", &bearer), ("content-type", "text/plain")],
            json!({"number": number.uid}).to_string().as_bytes(),
        )
        .await;
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(app.history_len().await, before + 1);
}

/// Many subscribers for one number at once, one of them twice: the database's
/// conditional update lets exactly one win, and the rest hear 409.
async fn racing_subscriptions_have_exactly_one_winner(app: TestApp) {
    app.account("admin", None, false).await;
    let mut contenders = Vec::new();
    for i in 0..21 {
        let (account, key) = postpaid(&app, &format!("racer{i}"), Some("admin"), false).await;
        contenders.push((account.id, key));
    }
    // The first account asks twice.
    contenders.push(contenders[0].clone());

    for round in 0..3 {
        let number = pool_number(&app, &format!("+6140000000{round}"), 0, 0).await;
        let before = app.history_len().await;
        let barrier = Arc::new(Barrier::new(contenders.len()));
        let mut tasks = Vec::new();
        for (account_id, key) in contenders.clone() {
            let (barrier, addr, uid) = (barrier.clone(), app.addr, number.uid.clone());
            tasks.push(tokio::spawn(async move {
                let mut client = HttpClient::new(addr);
                // Connect first, so that the requests leave together.
                client
                    .request("GET", "/healthz", &[], b"")
                    .await
                    .expect("connect");
                let auth = format!("Bearer {key}");
                let body = json!({"number": uid}).to_string();
                barrier.wait().await;
                let res = client
                    .request(
                        "POST",
                        &format!("{VN}/purchase-postpaid"),
                        &[
                            ("authorization", &auth),
                            ("content-type", "application/json"),
                        ],
                        body.as_bytes(),
                    )
                    .await
                    .expect("request");
                (account_id, res.status, res.json())
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            let (account_id, status, body) = task.await.expect("task");
            match status {
                200 => {
                    assert_eq!(body["data"]["_id"], number.uid.as_str());
                    winners.push(account_id);
                }
                _ => assert_eq!(
                    (status, body),
                    (409, failure(409, "Virtual number is not available"))
                ),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        // One subscription, one history entry, and the winner owns it.
        assert_eq!(app.history_len().await, before + 1);
        assert_eq!(owner_of(&app, number.id).await, Some(winners[0]));
        app.assert_invariants().await;
    }
}
}
