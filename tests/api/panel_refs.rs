//! How a request names a number (`number_id` | `number`) and an account
//! (`target_user_id` | `target_user`); what a plain user may not do; and that
//! nothing outside a caller's reach can be told apart from nothing at all.

use serde_json::{Value, json};

use crate::expect::*;
use crate::helpers::TestApp;

/// `admin`(1) above two resellers: `reseller`(2) with `testuser`(123) and
/// `other`(124) beneath, owning 10 `+983000505` and 11 `+983000506`; and
/// `rival`(3) with `stranger`(300) beneath, owning 20 `+983000600`. Number 30
/// `+983000700` waits in the pool.
struct World {
    admin: String,
    reseller: String,
    user: String,
    rival: String,
}

async fn world(app: &TestApp) -> World {
    let (_, admin) = account_with_id(app, 1, "admin", None, false).await;
    let (_, reseller) = account_with_id(app, 2, "reseller", Some("admin"), true).await;
    let (_, rival) = account_with_id(app, 3, "rival", Some("admin"), true).await;
    let (_, user) = account_with_id(app, 123, "testuser", Some("reseller"), false).await;
    account_with_id(app, 124, "other", Some("reseller"), false).await;
    account_with_id(app, 300, "stranger", Some("rival"), false).await;
    number_with_id(app, 10, "+983000505", Some("reseller")).await;
    number_with_id(app, 11, "+983000506", Some("reseller")).await;
    number_with_id(app, 20, "+983000600", Some("rival")).await;
    number_with_id(app, 30, "+983000700", None).await;
    World {
        admin,
        reseller,
        user,
        rival,
    }
}

fn with_perms(mut body: Value) -> Value {
    body["send"] = json!(true);
    body["gets"] = json!(false);
    body
}

crate::scenarios! {
async fn every_way_of_naming_the_number_and_the_account(app: TestApp) {
    let w = world(&app).await;
    let names = [
        json!({"number_id": 10, "target_user_id": 123}),
        json!({"number": "+983000505", "target_user": "testuser"}),
        json!({"number_id": 10, "target_user": "testuser"}),
        json!({"number": "+983000505", "target_user_id": 123}),
        json!({"number_id": 10, "target_user_id": 123, "number": "+983000505", "target_user": "testuser"}),
        // Usernames compare case-insensitively, also against a matching id.
        json!({"number_id": 10, "target_user": "TESTUSER"}),
        json!({"number_id": 10, "target_user_id": 123, "target_user": "TestUser"}),
        // Digits in a string are an integer, as a Laravel server reads them.
        json!({"number_id": "10", "target_user_id": "123"}),
        // A null or empty partner counts as not given.
        json!({"number_id": 10, "number": null, "target_user_id": 123, "target_user": ""}),
    ];
    for body in &names {
        let before = app.history_len().await;
        let (status, answer) = app
            .post(ASSIGN, &w.reseller, &with_perms(body.clone()))
            .await;
        assert_eq!((status, answer), (200, ok(Lang::Fa, Value::Null)), "{body}");
        assert_eq!(
            grants(&app).await,
            vec![(10, 123, 2, true, false)],
            "{body}"
        );
        let (status, answer) = app.post(UNASSIGN, &w.reseller, body).await;
        assert_eq!((status, answer), (200, ok(Lang::Fa, Value::Null)), "{body}");
        assert_eq!(grants(&app).await, vec![], "{body}");
        assert_eq!(
            history_since(&app, before).await,
            vec![
                ("grant.assign".to_owned(), Some(10), Some(123)),
                ("grant.unassign".to_owned(), Some(10), Some(123)),
            ]
        );
    }
    let _ = (w.admin, w.user, w.rival);
    app.assert_invariants().await;
}

async fn a_mismatched_pair_fails_on_its_second_field(app: TestApp) {
    let w = world(&app).await;
    app.post(ASSIGN, &w.reseller, &grant_body(10, 123)).await;
    app.post(ASSIGN, &w.reseller, &grant_body(11, 124)).await;
    let before = app.assert_invariants().await;
    let cases: Vec<(Value, Vec<(&str, Rule)>)> = vec![
        (
            json!({"number_id": 10, "number": "+983000506", "target_user_id": 123}),
            vec![("number", Rule::Exists)],
        ),
        (
            json!({"number_id": 10, "number": "+983009999", "target_user_id": 123}),
            vec![("number", Rule::Exists)],
        ),
        (
            json!({"number_id": 10, "target_user_id": 123, "target_user": "other"}),
            vec![("target_user", Rule::Exists)],
        ),
        (
            json!({"number_id": 10, "target_user_id": 123, "target_user": "nobody"}),
            vec![("target_user", Rule::Exists)],
        ),
        (
            json!({"number_id": 11, "number": "+983000505", "target_user_id": 124, "target_user": "testuser"}),
            vec![("number", Rule::Exists), ("target_user", Rule::Exists)],
        ),
        // The first of a pair naming nothing is the one that fails.
        (
            json!({"number_id": 999, "number": "+983000505", "target_user_id": 123}),
            vec![("number_id", Rule::Exists)],
        ),
        (
            json!({"number_id": 10, "target_user_id": 999, "target_user": "testuser"}),
            vec![("target_user_id", Rule::Exists)],
        ),
        // Both references wrong: both reported, ids first, as the route lists them.
        (
            json!({"number_id": 999, "target_user_id": 999}),
            vec![
                ("number_id", Rule::Exists),
                ("target_user_id", Rule::Exists),
            ],
        ),
        (
            json!({"number": "+983009999", "target_user": "nobody"}),
            vec![("number", Rule::Exists), ("target_user", Rule::Exists)],
        ),
        (
            json!({"number": "+983009999", "target_user_id": 999}),
            vec![("target_user_id", Rule::Exists), ("number", Rule::Exists)],
        ),
    ];
    for (body, errors) in &cases {
        for (path, body) in [(UNASSIGN, body.clone()), (ASSIGN, with_perms(body.clone()))] {
            let ctx = format!("{path} {body}");
            let (status, answer) = app.post(path, &w.reseller, &body).await;
            assert_answer((status, &answer), (422, &invalid(Lang::Fa, errors)), &ctx);
            let (status, answer) = post_en(&app, path, &w.reseller, &body).await;
            assert_answer((status, &answer), (422, &invalid(Lang::En, errors)), &ctx);
        }
    }
    assert_eq!(app.assert_invariants().await, before);
    assert_eq!(
        grants(&app).await,
        vec![(10, 123, 2, true, true), (11, 124, 2, true, true)]
    );
}

async fn a_plain_user_may_not_assign_or_unassign(app: TestApp) {
    let w = world(&app).await;
    app.post(ASSIGN, &w.reseller, &grant_body(10, 123)).await;
    let before = app.history_len().await;
    // Whatever the body, even one that would not parse: 403 comes first.
    let bodies: [&[u8]; 4] = [
        br#"{"number_id": 10, "target_user_id": 123, "send": true, "gets": true}"#,
        b"",
        b"{not json",
        br#"{"number_id": 10, "target_user_id": 124, "send": true, "gets": true}"#,
    ];
    for prefix in ["/api", "/v1/api"] {
        for route in ["/numbers/assign", "/numbers/unassign"] {
            let path = format!("{prefix}{route}");
            for body in bodies {
                for (lang, header) in [(Lang::Fa, "fa"), (Lang::En, "en-US")] {
                    let res = app
                        .raw(
                            "POST",
                            &path,
                            &[
                                ("content-type", "application/json"),
                                ("authorization", &w.user),
                                ("accept-language", header),
                            ],
                            body,
                        )
                        .await;
                    assert_eq!(
                        (res.status, res.json()),
                        (403, forbidden(lang)),
                        "{path} {}",
                        String::from_utf8_lossy(body)
                    );
                }
            }
        }
    }
    assert_eq!(app.assert_invariants().await, before);
    assert_eq!(grants(&app).await, vec![(10, 123, 2, true, true)]);
}

/// Every route of the face answers at `/api/...` and at `/v1/api/...`.
async fn every_route_at_both_prefixes(app: TestApp) {
    let w = world(&app).await;
    app.post(ASSIGN, &w.reseller, &grant_body(10, 123)).await;
    for prefix in ["/api", "/v1/api"] {
        let p = |route: &str| format!("{prefix}{route}");
        // Without a token: the face's 401 (login needs none: its 422).
        for (method, route) in [
            ("POST", "/numbers/unassign"),
            ("POST", "/numbers/assign"),
            ("GET", "/number/numbers"),
            ("POST", "/acl/auth/check_token"),
            ("POST", "/acl/auth/logout"),
        ] {
            let (status, answer) = app.call(method, &p(route), None, None).await;
            assert_eq!(
                (status, answer),
                (401, unauthenticated(Lang::Fa)),
                "{route}"
            );
        }
        let (status, answer) = app.call("POST", &p("/acl/auth/login"), None, None).await;
        assert_eq!(
            (status, answer),
            (
                422,
                invalid(
                    Lang::Fa,
                    &[("username", Rule::Required), ("password", Rule::Required)]
                )
            )
        );

        // And each does its work there.
        let (status, answer) = app
            .post(&p("/numbers/assign"), &w.reseller, &grant_body(11, 123))
            .await;
        assert_eq!((status, answer), (200, ok(Lang::Fa, Value::Null)));
        let (status, answer) = app.get(&p("/number/numbers"), &w.user).await;
        assert_eq!(status, 200);
        let ids: Vec<&Value> = answer["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| &n["id"])
            .collect();
        assert_eq!(ids, [&json!(10), &json!(11)]);
        let body = json!({"number_id": 11, "target_user_id": 123});
        let (status, answer) = app.post(&p("/numbers/unassign"), &w.reseller, &body).await;
        assert_eq!((status, answer), (200, ok(Lang::Fa, Value::Null)));
        let credentials = json!({"username": "testuser", "password": PASSWORD});
        let (status, answer) = app
            .call("POST", &p("/acl/auth/login"), None, Some(&credentials))
            .await;
        assert_eq!(status, 200, "{answer}");
        let token = answer["data"]["token"].as_str().unwrap().to_owned();
        let (status, answer) = app
            .call("POST", &p("/acl/auth/check_token"), Some(&token), None)
            .await;
        assert_eq!((status, &answer["data"]["user_id"]), (200, &json!(123)));
        let (status, answer) = app
            .call("POST", &p("/acl/auth/logout"), Some(&token), None)
            .await;
        assert_eq!((status, answer), (200, ok(Lang::Fa, Value::Null)));
    }
    let _ = (w.admin, w.rival);
    app.assert_invariants().await;
}

/// A number or account outside the caller's reach gets, byte for byte, the
/// answer of one that does not exist, whichever way it is named.
async fn out_of_reach_is_indistinguishable_from_nonexistent(app: TestApp) {
    let w = world(&app).await;
    app.post(ASSIGN, &w.reseller, &grant_body(10, 123)).await;
    app.post(ASSIGN, &w.rival, &grant_body(20, 300)).await;
    let before = app.assert_invariants().await;
    // (out of reach, nonexistent): the rival's number 20, the pool's 30, the
    // rival's `stranger` (300), the reseller's own parent and the reseller itself.
    let pairs: Vec<(Value, Value)> = vec![
        (
            json!({"number_id": 20, "target_user_id": 123}),
            json!({"number_id": 999, "target_user_id": 123}),
        ),
        (
            json!({"number_id": 30, "target_user_id": 123}),
            json!({"number_id": 999, "target_user_id": 123}),
        ),
        (
            json!({"number": "+983000600", "target_user_id": 123}),
            json!({"number": "+983009999", "target_user_id": 123}),
        ),
        (
            json!({"number": "+983000700", "target_user": "testuser"}),
            json!({"number": "+983009999", "target_user": "testuser"}),
        ),
        (
            json!({"number_id": 10, "target_user_id": 300}),
            json!({"number_id": 10, "target_user_id": 999}),
        ),
        (
            json!({"number_id": 10, "target_user_id": 1}),
            json!({"number_id": 10, "target_user_id": 999}),
        ),
        (
            json!({"number_id": 10, "target_user_id": 2}),
            json!({"number_id": 10, "target_user_id": 999}),
        ),
        (
            json!({"number_id": 10, "target_user": "stranger"}),
            json!({"number_id": 10, "target_user": "nobody"}),
        ),
        (
            json!({"number_id": 10, "target_user": "RIVAL"}),
            json!({"number_id": 10, "target_user": "nobody"}),
        ),
        (
            json!({"number_id": 20, "target_user_id": 300}),
            json!({"number_id": 999, "target_user_id": 999}),
        ),
        (
            json!({"number": "+983000600", "target_user": "stranger"}),
            json!({"number": "+983009999", "target_user": "nobody"}),
        ),
        // Both halves of a pair given: the hidden one matching its partner,
        // or not, answers as a nonexistent one would.
        (
            json!({"number_id": 20, "number": "+983000600", "target_user_id": 123}),
            json!({"number_id": 999, "number": "+983000600", "target_user_id": 123}),
        ),
        (
            json!({"number_id": 20, "number": "+983000505", "target_user_id": 123}),
            json!({"number_id": 999, "number": "+983000505", "target_user_id": 123}),
        ),
        (
            json!({"number_id": 20, "number": "+983009999", "target_user_id": 123}),
            json!({"number_id": 999, "number": "+983009999", "target_user_id": 123}),
        ),
        (
            json!({"number_id": 10, "number": "+983000600", "target_user_id": 123}),
            json!({"number_id": 10, "number": "+983009999", "target_user_id": 123}),
        ),
        (
            json!({"number_id": 10, "target_user_id": 300, "target_user": "testuser"}),
            json!({"number_id": 10, "target_user_id": 999, "target_user": "testuser"}),
        ),
        (
            json!({"number_id": 10, "target_user_id": 300, "target_user": "nobody"}),
            json!({"number_id": 10, "target_user_id": 999, "target_user": "nobody"}),
        ),
        (
            json!({"number_id": 10, "target_user_id": 123, "target_user": "stranger"}),
            json!({"number_id": 10, "target_user_id": 123, "target_user": "nobody"}),
        ),
    ];
    for (hidden, missing) in &pairs {
        for (path, hidden, missing) in [
            (UNASSIGN, hidden.clone(), missing.clone()),
            (
                ASSIGN,
                with_perms(hidden.clone()),
                with_perms(missing.clone()),
            ),
        ] {
            for lang in ["fa", "en"] {
                let send = |body: Value| {
                    let app = &app;
                    let key = w.reseller.clone();
                    async move {
                        app.raw(
                            "POST",
                            path,
                            &[
                                ("content-type", "application/json"),
                                ("authorization", &key),
                                ("accept-language", lang),
                            ],
                            body.to_string().as_bytes(),
                        )
                        .await
                    }
                };
                let a = send(hidden.clone()).await;
                let b = send(missing.clone()).await;
                assert_eq!(
                    a.status,
                    422,
                    "{path} {hidden}: {}",
                    String::from_utf8_lossy(&a.body)
                );
                assert_eq!(
                    (a.status, String::from_utf8_lossy(&a.body)),
                    (b.status, String::from_utf8_lossy(&b.body)),
                    "{path} {hidden} vs {missing}"
                );
            }
        }
    }
    assert_eq!(app.assert_invariants().await, before);
    assert_eq!(
        grants(&app).await,
        vec![(10, 123, 2, true, true), (20, 300, 3, true, true)]
    );
}
}
