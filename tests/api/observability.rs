//! Observability: `/metrics` counts requests by face,
//! matched route and status, their latencies, and what the core did;
//! `/readyz` reads through the store.

use serde_json::json;

use crate::expect::*;
use crate::helpers::TestApp;
use crate::vn_common::{pool_number, postpaid, vn};

async fn metrics(app: &TestApp) -> String {
    let res = app.raw("GET", "/metrics", &[], b"").await;
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("content-type"),
        Some("text/plain; version=0.0.4")
    );
    String::from_utf8(res.body).expect("utf-8")
}

fn has(text: &str, line: &str) {
    assert!(
        text.lines().any(|l| l == line),
        "missing {line:?} in\n{text}"
    );
}

crate::scenarios! {
    async fn metrics_count_routes_and_what_succeeded(app: TestApp) {
        app.account("admin", None, true).await;
        let (_, res) = postpaid(&app, "res", Some("admin"), true).await;
        let (usr, usr_key) = app.account("usr", Some("res"), true).await;
        let (leaf, _) = app.account("leaf", Some("usr"), false).await;
        let n = pool_number(&app, "+61400000001", 100, 1000).await;

        let (status, body) =
            vn(&app, "POST", "/purchase-postpaid", Some(&res), Some(&json!({"number": n.uid}))).await;
        assert_eq!(status, 200, "{body}");
        let grant = |to: i64| json!({"number_id": n.id, "target_user_id": to, "send": true, "gets": true});
        assert_eq!(app.post(ASSIGN, &res, &grant(usr.id)).await.0, 200);
        assert_eq!(app.post(ASSIGN, &usr_key, &grant(leaf.id)).await.0, 200);
        // A refusal changes nothing and counts no assignment.
        assert_eq!(app.post(ASSIGN, &res, &grant(usr.id)).await.0, 400);
        let unassign = json!({"number_id": n.id, "target_user_id": usr.id});
        assert_eq!(app.post(UNASSIGN, &res, &unassign).await.0, 200);
        let (status, body) =
            vn(&app, "PUT", &format!("/unsubscribe/{}", n.uid), Some(&res), None).await;
        assert_eq!(status, 200, "{body}");
        let (status, _) =
            vn(&app, "PUT", &format!("/unsubscribe/{}", n.uid), Some(&res), None).await;
        assert_eq!(status, 404);
        for (password, want) in [(PASSWORD, 200), ("Wrong-pass1", 422)] {
            let (status, _) = app
                .call("POST", LOGIN, None, Some(&json!({"username": "res", "password": password})))
                .await;
            assert_eq!(status, want);
        }

        let text = metrics(&app).await;
        let unsub = "/api/v1/apiClient/virtual-number/unsubscribe/{id}";
        for line in [
            "linekeeper_http_requests_total{face=\"panel\",route=\"/api/numbers/assign\",status=\"200\"} 2".to_owned(),
            "linekeeper_http_requests_total{face=\"panel\",route=\"/api/numbers/assign\",status=\"400\"} 1".to_owned(),
            "linekeeper_http_requests_total{face=\"panel\",route=\"/api/numbers/unassign\",status=\"200\"} 1".to_owned(),
            format!("linekeeper_http_requests_total{{face=\"vn\",route=\"{unsub}\",status=\"200\"}} 1"),
            format!("linekeeper_http_requests_total{{face=\"vn\",route=\"{unsub}\",status=\"404\"}} 1"),
            "linekeeper_http_requests_total{face=\"panel\",route=\"/api/acl/auth/login\",status=\"422\"} 1".to_owned(),
            "linekeeper_http_request_duration_seconds_count{face=\"panel\",route=\"/api/numbers/assign\"} 3".to_owned(),
            "linekeeper_http_request_duration_seconds_bucket{face=\"panel\",route=\"/api/numbers/assign\",le=\"+Inf\"} 3".to_owned(),
            "linekeeper_assignments_total 2".to_owned(),
            "linekeeper_unassignments_total 1".to_owned(),
            "linekeeper_cascaded_removals_total 1".to_owned(),
            "linekeeper_subscriptions_total 1".to_owned(),
            "linekeeper_unsubscriptions_total 1".to_owned(),
            "linekeeper_logins_total{outcome=\"ok\"} 1".to_owned(),
            "linekeeper_logins_total{outcome=\"failed\"} 1".to_owned(),
            "linekeeper_logins_total{outcome=\"throttled\"} 0".to_owned(),
            "# TYPE linekeeper_store_retries_total counter".to_owned(),
            "# TYPE linekeeper_http_request_duration_seconds histogram".to_owned(),
        ] {
            has(&text, &line);
        }
        // Routes are patterns: the raw id never becomes a label.
        assert!(!text.contains(&n.uid), "{text}");
        assert!(text.lines().any(|l| l.starts_with("linekeeper_store_retries_total ")));
    }

    async fn readyz_reads_through_the_store(app: TestApp) {
        let res = app.raw("GET", "/readyz", &[], b"").await;
        assert_eq!((res.status, res.json()), (200, json!({"status": "ready"})));
        assert_eq!(res.header("content-type"), Some("application/json"));
        // A store that cannot answer makes it a 503.
        app.drop_table("tokens").await;
        let res = app.raw("GET", "/readyz", &[], b"").await;
        assert_eq!(
            (res.status, res.json()),
            (503, json!({"status": "unavailable", "reason": "database"}))
        );
        // And liveness does not depend on the store.
        let res = app.raw("GET", "/healthz", &[], b"").await;
        assert_eq!((res.status, res.json()), (200, json!({"status": "ok"})));
    }
}
