//! `GET /available` and `GET /`: items, filters, paging and its bounds; and
//! the face's answer to paths and methods it does not serve.

use serde_json::{Value, json};

use crate::helpers::T0;
use crate::vn_common::{SUCCESS_KEYS, VN, buy, failure, keys, pool_number, postpaid, success, vn};

fn numbers_of(body: &Value) -> Vec<&str> {
    body["data"]["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["number"].as_str()).collect())
        .unwrap_or_default()
}

crate::scenarios! {
async fn available_items_filters_and_paging(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, key) = postpaid(&app, "testuser", Some("admin"), false).await;
    let first = pool_number(&app, "+61400000001", 1500, 15000).await;
    for n in [
        "+61400000002",
        "+61400000003",
        "+61411111111",
        "+14155550100",
    ] {
        pool_number(&app, n, 0, 0).await;
    }
    let taken = pool_number(&app, "+61400000009", 0, 0).await;
    buy(&app, &key, &taken.uid).await;

    let (status, body) = vn(&app, "GET", "/available", Some(&key), None).await;
    assert_eq!(status, 200);
    assert_eq!(keys(&body), SUCCESS_KEYS);
    assert_eq!(keys(&body["data"]), ["items", "page", "limit", "total"]);
    let item = &body["data"]["items"][0];
    assert_eq!(
        keys(item),
        [
            "_id",
            "number",
            "country",
            "monthlyPrice",
            "yearlyPrice",
            "monthlyProductId",
            "yearlyProductId"
        ]
    );
    let monthly = item["monthlyProductId"].as_str().unwrap_or_default();
    let yearly = item["yearlyProductId"].as_str().unwrap_or_default();
    assert!(monthly.starts_with("prod_") && yearly.starts_with("prod_") && monthly != yearly);
    assert_eq!(
        *item,
        json!({"_id": first.uid, "number": "+61400000001", "country": "AU",
            "monthlyPrice": 1500, "yearlyPrice": 15000,
            "monthlyProductId": monthly, "yearlyProductId": yearly})
    );
    // The subscribed number is not in the pool.
    assert_eq!(
        numbers_of(&body),
        [
            "+61400000001",
            "+61400000002",
            "+61400000003",
            "+61411111111",
            "+14155550100"
        ]
    );
    assert_eq!(
        (
            &body["data"]["page"],
            &body["data"]["limit"],
            &body["data"]["total"]
        ),
        (&json!(1), &json!(10), &json!(5))
    );

    // Product ids are stable.
    let (_, again) = vn(&app, "GET", "/available?limit=1", Some(&key), None).await;
    assert_eq!(again["data"]["items"][0]["monthlyProductId"], monthly);

    for (query, want, total) in [
        (
            "country=au",
            vec![
                "+61400000001",
                "+61400000002",
                "+61400000003",
                "+61411111111",
            ],
            4,
        ),
        ("country=US", vec!["+14155550100"], 1),
        ("country=NZ", vec![], 0),
        ("pattern=4155", vec!["+14155550100"], 1),
        ("pattern=1111&country=AU", vec!["+61411111111"], 1),
        (
            "pattern=0000000",
            vec!["+61400000001", "+61400000002", "+61400000003"],
            3,
        ),
        ("page=2&limit=2", vec!["+61400000003", "+61411111111"], 5),
        ("page=3&limit=2", vec!["+14155550100"], 5),
        ("page=4&limit=2", vec![], 5),
        (
            "limit=100&cachebuster=7",
            vec![
                "+61400000001",
                "+61400000002",
                "+61400000003",
                "+61411111111",
                "+14155550100",
            ],
            5,
        ),
    ] {
        let (status, body) = vn(
            &app,
            "GET",
            &format!("/available?{query}"),
            Some(&key),
            None,
        )
        .await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(numbers_of(&body), want, "{query}");
        assert_eq!(body["data"]["total"], total, "{query}");
    }
    let (_, body) = vn(&app, "GET", "/available?page=3&limit=2", Some(&key), None).await;
    assert_eq!(
        (&body["data"]["page"], &body["data"]["limit"]),
        (&json!(3), &json!(2))
    );
}

async fn bad_queries_are_400_with_every_reason(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, key) = postpaid(&app, "testuser", Some("admin"), false).await;
    pool_number(&app, "+61400000001", 0, 0).await;

    for (path, message) in [
        (
            "/available?page=0",
            r#""page" must be greater than or equal to 1"#,
        ),
        (
            "/available?page=-3",
            r#""page" must be greater than or equal to 1"#,
        ),
        ("/available?page=abc", r#""page" must be a number"#),
        ("/available?page=1.5", r#""page" must be an integer"#),
        ("/available?page=1&page=2", r#""page" must be a number"#),
        (
            "/available?page=100000000000000000000",
            r#""page" must be a safe number"#,
        ),
        (
            "/available?limit=0",
            r#""limit" must be greater than or equal to 1"#,
        ),
        (
            "/available?limit=101",
            r#""limit" must be less than or equal to 100"#,
        ),
        ("/available?limit=", r#""limit" must be a number"#),
        (
            "/available?country=AUS",
            r#""country" with value "AUS" fails to match the required pattern: /^[A-Za-z]{2}$/"#,
        ),
        (
            "/available?country=A1",
            r#""country" with value "A1" fails to match the required pattern: /^[A-Za-z]{2}$/"#,
        ),
        (
            "/available?country=",
            r#""country" is not allowed to be empty"#,
        ),
        (
            "/available?pattern=04a",
            r#""pattern" with value "04a" fails to match the required pattern: /^[0-9]+$/"#,
        ),
        (
            "/available?pattern=%2B61",
            r#""pattern" with value "+61" fails to match the required pattern: /^[0-9]+$/"#,
        ),
        (
            "/available?country=a&pattern=x&page=0&limit=500",
            r#""country" with value "a" fails to match the required pattern: /^[A-Za-z]{2}$/, "pattern" with value "x" fails to match the required pattern: /^[0-9]+$/, "page" must be greater than or equal to 1, "limit" must be less than or equal to 100"#,
        ),
        (
            "/?limit=101",
            r#""limit" must be less than or equal to 100"#,
        ),
        ("?page=0", r#""page" must be greater than or equal to 1"#),
    ] {
        let (status, body) = vn(&app, "GET", path, Some(&key), None).await;
        assert_eq!((status, body), (400, failure(400, message)), "{path}");
    }
}

async fn own_numbers_with_and_without_the_slash(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, key) = postpaid(&app, "reseller", Some("admin"), true).await;
    let (child, _) = app.account("child", Some("reseller"), false).await;
    let (_, stranger) = postpaid(&app, "stranger", Some("admin"), false).await;
    let a = pool_number(&app, "+61400000001", 0, 0).await;
    let b = pool_number(&app, "+61400000002", 0, 0).await;
    buy(&app, &key, &a.uid).await;
    app.clock.advance(90);
    let (status, _) = vn(
        &app,
        "POST",
        "/purchase-postpaid",
        Some(&key),
        Some(&json!({"number": b.uid, "resubscribe": true})),
    )
    .await;
    assert_eq!(status, 200);
    let grant = json!({"number_id": b.id, "target_user_id": child.id, "send": true, "gets": false});
    assert_eq!(app.post("/api/numbers/assign", &key, &grant).await.0, 200);

    let want = success(
        "Virtual numbers fetched successfully.",
        json!({"items": [
            {"_id": a.uid, "number": "+61400000001", "country": "AU", "recurringTime": "month",
             "resubscribe": false, "subscribedAt": "2026-01-01T00:00:00.000Z", "assignedTo": 0},
            {"_id": b.uid, "number": "+61400000002", "country": "AU", "recurringTime": "month",
             "resubscribe": true, "subscribedAt": "2026-01-01T00:01:30.000Z", "assignedTo": 1},
        ], "page": 1, "limit": 10, "total": 2}),
    );
    assert_eq!(
        T0, 1_767_225_600,
        "the timestamps above assume the clock's start"
    );
    for path in ["", "/", "/?page=1&limit=10"] {
        let (status, body) = vn(&app, "GET", path, Some(&key), None).await;
        assert_eq!((status, &body), (200, &want), "{path:?}");
        assert_eq!(
            keys(&body["data"]["items"][0]),
            [
                "_id",
                "number",
                "country",
                "recurringTime",
                "resubscribe",
                "subscribedAt",
                "assignedTo"
            ]
        );
    }
    let (_, page2) = vn(&app, "GET", "/?page=2&limit=1", Some(&key), None).await;
    assert_eq!(page2["data"]["items"][0]["_id"], b.uid.as_str());
    assert_eq!(
        (&page2["data"]["page"], &page2["data"]["total"]),
        (&json!(2), &json!(2))
    );

    // Someone else's list is their own (empty) one.
    let (status, body) = vn(&app, "GET", "/", Some(&stranger), None).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"],
        json!({"items": [], "page": 1, "limit": 10, "total": 0})
    );
}

async fn unknown_paths_are_404_and_unserved_methods_405(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, key) = postpaid(&app, "testuser", Some("admin"), false).await;
    let not_found = failure(404, "Not found");
    for (method, path) in [
        ("GET", "/nope"),
        ("PUT", "/unsubscribe/"),
        ("PUT", "/unsubscribe/a/b"),
        ("TRACE", "/nope"),
    ] {
        let (status, body) = vn(&app, method, path, Some(&key), None).await;
        assert_eq!((status, &body), (404, &not_found), "{method} {path}");
    }
    let not_allowed = failure(405, "Method not allowed");
    for (method, path) in [
        ("GET", "/unsubscribe/66ea98514f0c1a121c76ec17"),
        ("DELETE", "/unsubscribe/66ea98514f0c1a121c76ec17"),
        ("POST", "/available"),
        ("TRACE", "/available/"),
        ("GET", "/purchase"),
        ("PUT", "/purchase-postpaid"),
        ("DELETE", ""),
        ("TRACE", ""),
    ] {
        let (status, body) = vn(&app, method, path, Some(&key), None).await;
        assert_eq!((status, &body), (405, &not_allowed), "{method} {path}");
    }
    // Without credentials too: the method is refused before anything else.
    assert_eq!(
        app.raw("TRACE", &format!("{VN}/available"), &[], b"")
            .await
            .status,
        405
    );
    // The prefix itself still serves GET.
    assert_eq!(vn(&app, "GET", "", Some(&key), None).await.0, 200);
    assert_eq!(
        app.raw("GET", &format!("{VN}/available"), &[], b"")
            .await
            .status,
        401
    );
}
}
