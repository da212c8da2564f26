//! Authentication on the virtual-number face: the forms of the header, the
//! credentials refused, and an expired session token.

use serde_json::json;

use crate::vn_common::{VN, failure, pool_number, postpaid, vn};

crate::scenarios! {
async fn every_route_refuses_missing_and_bad_credentials(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, key) = postpaid(&app, "testuser", Some("admin"), false).await;
    let (_, suspended_key) = postpaid(&app, "suspended", Some("admin"), false).await;
    app.core
        .set_suspended("suspended", true, "test")
        .await
        .expect("suspend");
    let number = pool_number(&app, "+61400000001", 0, 0).await;
    let before = app.history_len().await;
    let body = json!({"number": number.uid}).to_string();

    let unsubscribe = format!("{VN}/unsubscribe/{}", number.uid);
    let routes = [
        ("GET", format!("{VN}/available")),
        ("GET", VN.to_owned()),
        ("GET", format!("{VN}/")),
        ("PUT", unsubscribe),
        ("POST", format!("{VN}/purchase-postpaid")),
        ("POST", format!("{VN}/purchase")),
    ];
    let suspended_bearer = format!("Bearer {suspended_key}");
    let wrong_scheme = format!("Basic {key}");
    let headers: [Option<&str>; 7] = [
        None,
        Some(""),
        Some("Bearer"),
        Some("Bearer lkk_0000000000000000000000000000000000000000000000000000000000000000"),
        Some("garbage"),
        Some(&wrong_scheme),
        Some(&suspended_bearer),
    ];
    for (method, path) in &routes {
        for auth in headers {
            let mut h = vec![("content-type", "application/json")];
            h.extend(auth.map(|a| ("authorization", a)));
            let res = app.raw(method, path, &h, body.as_bytes()).await;
            assert_eq!(
                (res.status, res.json()),
                (401, failure(401, "Invalid token")),
                "{method} {path} with {auth:?}"
            );
        }
    }
    assert_eq!(app.history_len().await, before);

    // The bare key, and `bearer` in any case, are accepted.
    for auth in [
        key.clone(),
        format!("bearer {key}"),
        format!("BEARER  {key}"),
    ] {
        let res = app
            .raw(
                "GET",
                &format!("{VN}/available"),
                &[("authorization", &auth)],
                b"",
            )
            .await;
        assert_eq!(res.status, 200, "{auth}");
    }
}

async fn an_expired_session_token_is_token_expired(app: TestApp) {
    app.account("admin", None, false).await;
    postpaid(&app, "testuser", Some("admin"), false).await;
    let number = pool_number(&app, "+61400000001", 0, 0).await;

    let (status, login) = app
        .call(
            "POST",
            "/api/acl/auth/login",
            None,
            Some(&json!({"username": "testuser", "password": "Secret-pass1"})),
        )
        .await;
    assert_eq!(status, 200, "{login}");
    let token = login["data"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!token.is_empty());

    // Valid for ten hours, on this face too.
    let (status, _) = vn(&app, "GET", "/", Some(&token), None).await;
    assert_eq!(status, 200);
    app.clock.advance(10 * 3600 - 1);
    assert_eq!(vn(&app, "GET", "/", Some(&token), None).await.0, 200);
    app.clock.advance(1);

    let before = app.history_len().await;
    let expired = failure(401, "Token expired");
    for (method, path, body) in [
        ("GET", "/".to_owned(), None),
        ("GET", "/available".to_owned(), None),
        ("PUT", format!("/unsubscribe/{}", number.uid), None),
        (
            "POST",
            "/purchase-postpaid".to_owned(),
            Some(json!({"number": number.uid})),
        ),
    ] {
        let (status, answer) = vn(&app, method, &path, Some(&token), body.as_ref()).await;
        assert_eq!((status, &answer), (401, &expired), "{method} {path}");
    }
    assert_eq!(app.history_len().await, before);
}
}
