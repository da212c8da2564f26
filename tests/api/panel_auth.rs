//! Credentials on the panel face: login, session expiry, logout, revoked keys,
//! suspended accounts, the forms of `Authorization`, and `check_token`.

use linekeeper::domain::TokenSecret;
use serde_json::{Value, json};

use crate::expect::*;
use crate::helpers::TestApp;

async fn login(app: &TestApp, username: &str, password: &str) -> (u16, Value) {
    app.call(
        "POST",
        LOGIN,
        None,
        Some(&json!({"username": username, "password": password})),
    )
    .await
}

/// Logs in and returns the session token, checking the whole answer.
async fn session(app: &TestApp, username: &str) -> String {
    let (status, answer) = login(app, username, PASSWORD).await;
    let token = answer["data"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(token.len() >= 32, "{answer}");
    assert_answer(
        (status, &answer),
        (
            200,
            &ok(Lang::Fa, json!({"method": "login", "token": token})),
        ),
        username,
    );
    token
}

async fn check(app: &TestApp, token: &str) -> (u16, Value) {
    app.call("POST", CHECK_TOKEN, Some(token), None).await
}

fn who(id: i64, username: &str, reseller: bool) -> Value {
    ok(
        Lang::Fa,
        json!({"user_name": username, "user_id": id, "document_block": false,
            "is_reseller": reseller, "send_block": false, "name": username}),
    )
}

crate::scenarios! {
async fn login_issues_a_session_token_that_authenticates(app: TestApp) {
    account_with_id(&app, 1, "admin", None, false).await;
    account_with_id(&app, 2, "Reseller", Some("admin"), true).await;
    account_with_id(&app, 123, "testuser", Some("Reseller"), false).await;
    let before = app.history_len().await;

    let token = session(&app, "testuser").await;
    assert_eq!(
        check(&app, &token).await,
        (200, who(123, "testuser", false))
    );
    // Usernames compare case-insensitively; the name keeps its case.
    let token = session(&app, "RESELLER").await;
    assert_eq!(check(&app, &token).await, (200, who(2, "Reseller", true)));
    let token = session(&app, "admin").await;
    assert_eq!(check(&app, &token).await, (200, who(1, "admin", true)));
    assert_eq!(
        history_since(&app, before).await,
        vec![
            ("token.create".to_owned(), None, Some(123)),
            ("token.create".to_owned(), None, Some(2)),
            ("token.create".to_owned(), None, Some(1)),
        ]
    );

    let (status, answer) = call_with(
        &app,
        "POST",
        LOGIN,
        None,
        &[("accept-language", "en")],
        Some(&json!({"username": "testuser", "password": PASSWORD})),
    )
    .await;
    let token = answer["data"]["token"].clone();
    assert_answer(
        (status, &answer),
        (
            200,
            &ok(Lang::En, json!({"method": "login", "token": token})),
        ),
        "en",
    );
    // Two logins, two different tokens.
    assert_ne!(
        session(&app, "testuser").await,
        session(&app, "testuser").await
    );
}

async fn a_wrong_password_and_an_unknown_user_get_the_same_answer(app: TestApp) {
    account_with_id(&app, 1, "admin", None, false).await;
    account_with_id(&app, 123, "testuser", Some("admin"), false).await;
    let before = app.history_len().await;
    let attempts = [
        ("testuser", "wrong-password"),
        ("testuser", "secret-pass1"),
        ("testuser", " Secret-pass1"),
        ("nobody", PASSWORD),
        ("ab", PASSWORD),
        ("کاربر", PASSWORD),
        (&*"a".repeat(300), PASSWORD),
    ];
    for (lang, header) in [(Lang::Fa, "fa"), (Lang::En, "en")] {
        let mut bodies = Vec::new();
        for (username, password) in attempts {
            let res = app
                .raw(
                    "POST",
                    LOGIN,
                    &[
                        ("content-type", "application/json"),
                        ("accept-language", header),
                    ],
                    json!({"username": username, "password": password})
                        .to_string()
                        .as_bytes(),
                )
                .await;
            assert_answer((res.status, &res.json()), (422, &bad_login(lang)), username);
            bodies.push(res.body);
        }
        assert!(bodies.windows(2).all(|w| w[0] == w[1]), "byte-identical");
        // Past the login throttle's window (15 minutes): six failures for one
        // username within it would be refused (see `limits`).
        app.clock.advance(15 * 60);
    }
    // Missing or mistyped fields are ordinary validation errors.
    let cases: Vec<(Value, Vec<(&str, Rule)>)> = vec![
        (
            json!({}),
            vec![("username", Rule::Required), ("password", Rule::Required)],
        ),
        (
            json!({"username": "testuser"}),
            vec![("password", Rule::Required)],
        ),
        (
            json!({"username": "", "password": PASSWORD}),
            vec![("username", Rule::Required)],
        ),
        (
            json!({"username": 123, "password": PASSWORD}),
            vec![("username", Rule::String)],
        ),
        (
            json!({"username": ["testuser"], "password": true}),
            vec![("username", Rule::String), ("password", Rule::String)],
        ),
    ];
    for (body, errors) in &cases {
        let (status, answer) = app.call("POST", LOGIN, None, Some(body)).await;
        assert_answer(
            (status, &answer),
            (422, &invalid(Lang::Fa, errors)),
            &body.to_string(),
        );
    }
    assert_eq!(app.assert_invariants().await, before);
}

async fn a_session_expires_after_ten_hours_and_a_key_does_not(app: TestApp) {
    let (_, admin_key) = account_with_id(&app, 1, "admin", None, false).await;
    let token = session(&app, "admin").await;
    app.clock.advance(10 * 3600 - 1);
    assert_eq!(check(&app, &token).await, (200, who(1, "admin", true)));
    app.clock.advance(1);
    for (method, path) in [("POST", CHECK_TOKEN), ("GET", NUMBERS), ("POST", LOGOUT)] {
        let (status, answer) = app.call(method, path, Some(&token), None).await;
        assert_answer((status, &answer), (401, &unauthenticated(Lang::Fa)), path);
    }
    app.clock.advance(365 * 24 * 3600);
    assert_eq!(check(&app, &admin_key).await, (200, who(1, "admin", true)));
    // A fresh login starts a fresh ten hours.
    let token = session(&app, "admin").await;
    assert_eq!(check(&app, &token).await.0, 200);
}

async fn logout_revokes_the_session_used_and_leaves_keys_alone(app: TestApp) {
    let (_, key) = account_with_id(&app, 1, "admin", None, false).await;
    let first = session(&app, "admin").await;
    let second = session(&app, "admin").await;
    let before = app.history_len().await;

    let (status, answer) = app.call("POST", LOGOUT, Some(&first), None).await;
    assert_eq!((status, answer), (200, ok(Lang::Fa, Value::Null)));
    assert_eq!(
        history_since(&app, before).await,
        vec![("token.revoke".to_owned(), None, Some(1))]
    );
    for (method, path) in [("POST", CHECK_TOKEN), ("POST", LOGOUT), ("GET", NUMBERS)] {
        let (status, answer) = app.call(method, path, Some(&first), None).await;
        assert_answer((status, &answer), (401, &unauthenticated(Lang::Fa)), path);
    }
    // The other session and the key are untouched.
    assert_eq!(check(&app, &second).await.0, 200);
    // Logging out with an API key answers 200 and does not revoke it.
    let (status, answer) = app.call("POST", LOGOUT, Some(&key), None).await;
    assert_eq!((status, answer), (200, ok(Lang::Fa, Value::Null)));
    assert_eq!(check(&app, &key).await, (200, who(1, "admin", true)));
    assert_eq!(app.history_len().await, before + 1);
}

async fn revoked_keys_and_suspended_accounts_are_refused(app: TestApp) {
    let w = seed_world(&app).await;
    let (status, _) = app.post(ASSIGN, &w.reseller, &grant_body(10, 123)).await;
    assert_eq!(status, 200);
    let user_session = session(&app, "testuser").await;

    // A revoked key: 401 everywhere, in the face's format; other keys work.
    let revoked = app
        .core
        .revoke(&TokenSecret::from_presented(&w.admin), "t")
        .await
        .unwrap();
    assert!(revoked);
    for (method, path) in [
        ("POST", CHECK_TOKEN),
        ("GET", NUMBERS),
        ("POST", ASSIGN),
        ("POST", UNASSIGN),
        ("POST", LOGOUT),
    ] {
        let (status, answer) = app.call(method, path, Some(&w.admin), None).await;
        assert_answer((status, &answer), (401, &unauthenticated(Lang::Fa)), path);
    }
    assert_eq!(check(&app, &w.reseller).await.0, 200);

    // A suspended account: neither its key nor its session works, and it
    // cannot log in (the answer of a wrong password); its grants stay.
    app.core.set_suspended("testuser", true, "t").await.unwrap();
    for token in [&w.user, &user_session] {
        let (status, answer) = check(&app, token).await;
        assert_answer(
            (status, &answer),
            (401, &unauthenticated(Lang::Fa)),
            "suspended",
        );
        let (status, answer) = app.get(NUMBERS, token).await;
        assert_answer(
            (status, &answer),
            (401, &unauthenticated(Lang::Fa)),
            "suspended",
        );
    }
    assert_eq!(
        login(&app, "testuser", PASSWORD).await,
        (422, bad_login(Lang::Fa))
    );
    assert_eq!(grants(&app).await, vec![(10, 123, 2, true, true)]);
    // A suspended account's parent still manages its grants.
    let (status, _) = app
        .post(
            UNASSIGN,
            &w.reseller,
            &json!({"number_id": 10, "target_user_id": 123}),
        )
        .await;
    assert_eq!(status, 200);

    // Suspending a reseller stops its key, not its downline's.
    app.core.set_suspended("reseller", true, "t").await.unwrap();
    let (status, answer) = app.post(ASSIGN, &w.reseller, &grant_body(10, 123)).await;
    assert_answer(
        (status, &answer),
        (401, &unauthenticated(Lang::Fa)),
        "reseller",
    );

    app.core
        .set_suspended("testuser", false, "t")
        .await
        .unwrap();
    assert_eq!(
        check(&app, &w.user).await,
        (200, who(123, "testuser", false))
    );
    assert_eq!(check(&app, &user_session).await.0, 200);
    assert!(!session(&app, "testuser").await.is_empty());
    app.assert_invariants().await;
}

async fn the_forms_of_the_authorization_header(app: TestApp) {
    let (_, key) = account_with_id(&app, 1, "admin", None, false).await;
    let accepted = [
        key.clone(),
        format!("Bearer {key}"),
        format!("bearer {key}"),
        format!("BEARER {key}"),
        format!("BeArEr {key}"),
        format!("Bearer  {key}"),
        format!("  {key}  "),
    ];
    for header in &accepted {
        assert_eq!(
            check(&app, header).await,
            (200, who(1, "admin", true)),
            "{header:?}"
        );
    }
    let refused = [
        String::new(),
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        format!("Basic {key}"),
        format!("Token {key}"),
        format!("Bearer {key}x"),
        format!("Bearer {}", &key[..key.len() - 1]),
        format!("{key} {key}"),
        format!("Bearer Bearer {key}"),
        key.to_uppercase(),
    ];
    for header in &refused {
        let (status, answer) = check(&app, header).await;
        assert_answer((status, &answer), (401, &unauthenticated(Lang::Fa)), header);
    }
    // A header that is not visible ASCII is a missing credential, not a 500.
    let res = app
        .raw(
            "POST",
            CHECK_TOKEN,
            &[("authorization", "Bearer \u{e9}t\u{e9}")],
            b"",
        )
        .await;
    assert_answer(
        (res.status, &res.json()),
        (401, &unauthenticated(Lang::Fa)),
        "non-ascii",
    );
    let res = app
        .raw(
            "POST",
            CHECK_TOKEN,
            &[("authorization", &key), ("accept-language", "en")],
            b"",
        )
        .await;
    assert_eq!(res.status, 200);
    let res = app
        .raw("POST", CHECK_TOKEN, &[("accept-language", "en")], b"")
        .await;
    assert_answer(
        (res.status, &res.json()),
        (401, &unauthenticated(Lang::En)),
        "en",
    );
}
}
