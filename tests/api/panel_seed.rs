//! The seed pages (IPPanel "Unassign Number", English and Persian): every
//! response they show, reproduced exactly, for each request body they show,
//! in Persian (the default) and with `Accept-Language: en`.

use serde_json::{Value, json};

use crate::expect::*;
use crate::helpers::TestApp;

/// The English page's request body: all four fields.
fn english_body() -> Value {
    json!({"number_id": 10, "target_user_id": 123, "number": "+983000505", "target_user": "testuser"})
}

/// The Persian page's example request: `number_id` and `target_user_id`.
fn persian_body() -> Value {
    json!({"number_id": 10, "target_user_id": 123})
}

/// The page's success answer, verbatim.
fn seed_200() -> Value {
    serde_json::from_str(
        r#"{
  "data": null,
  "meta": {
    "status": true,
    "message": "انجام شد",
    "message_parameters": [],
    "message_code": "200-1"
  }
}"#,
    )
    .unwrap()
}

fn seed_401() -> Value {
    serde_json::from_str(
        r#"{
  "data": null,
  "meta": {
    "status": false,
    "message": "اطلاعات وارد شده صحیح نمی باشد",
    "message_parameters": [],
    "message_code": "400-1",
    "errors": {}
  }
}"#,
    )
    .unwrap()
}

fn seed_422() -> Value {
    serde_json::from_str(
        r#"{
  "data": null,
  "meta": {
    "status": false,
    "message": "تکمیل گزینه number id الزامی است (و 1 خطای دیگر)",
    "message_parameters": [],
    "message_code": "400-2",
    "errors": {
      "number_id": [
        "تکمیل گزینه number id الزامی است"
      ],
      "number": [
        "تکمیل گزینه number الزامی است"
      ]
    }
  }
}"#,
    )
    .unwrap()
}

fn seed_400() -> Value {
    serde_json::from_str(
        r#"{
  "data": null,
  "meta": {
    "status": false,
    "message": "number not assigned to user",
    "message_parameters": [],
    "message_code": "400-1",
    "errors": {}
  }
}"#,
    )
    .unwrap()
}

/// The helpers in `expect` agree with the page, so other modules may use them.
#[test]
fn the_expectation_helpers_match_the_page() {
    assert_eq!(ok(Lang::Fa, Value::Null), seed_200());
    assert_eq!(unauthenticated(Lang::Fa), seed_401());
    assert_eq!(refusal(NOT_ASSIGNED), seed_400());
    assert_eq!(
        invalid(
            Lang::Fa,
            &[("number_id", Rule::Required), ("number", Rule::Required)]
        ),
        seed_422()
    );
}

#[tokio::test]
async fn each_seed_body_unassigns_with_the_pages_200_then_gets_its_400() {
    for (body, prefix) in [
        (english_body(), "/api"),
        (persian_body(), "/api"),
        (english_body(), "/v1/api"),
        (persian_body(), "/v1/api"),
    ] {
        let app = TestApp::spawn().await;
        let w = seed_world(&app).await;
        let (status, answer) = app.post(ASSIGN, &w.reseller, &grant_body(10, 123)).await;
        assert_eq!((status, answer), (200, ok(Lang::Fa, Value::Null)));
        assert_eq!(grants(&app).await, vec![(10, 123, 2, true, true)]);
        let before = app.history_len().await;

        let path = format!("{prefix}/numbers/unassign");
        let (status, answer) = app.post(&path, &w.reseller, &body).await;
        assert_eq!((status, &answer), (200, &seed_200()), "{body} at {prefix}");
        assert_eq!(grants(&app).await, vec![]);
        assert_eq!(
            history_since(&app, before).await,
            vec![("grant.unassign".to_owned(), Some(10), Some(123))]
        );

        let (status, answer) = app.post(&path, &w.reseller, &body).await;
        assert_eq!((status, &answer), (400, &seed_400()), "{body} at {prefix}");
        assert_eq!(app.assert_invariants().await, before + 1);
    }
}

crate::scenarios! {
async fn the_pages_401_for_a_missing_or_unknown_token(app: TestApp) {
    let w = seed_world(&app).await;
    app.post(ASSIGN, &w.reseller, &grant_body(10, 123)).await;
    let before = app.history_len().await;
    for prefix in ["/api", "/v1/api"] {
        let path = format!("{prefix}/numbers/unassign");
        for token in [None, Some("nonsense"), Some("Bearer nonsense"), Some("")] {
            let (status, answer) = app.call("POST", &path, token, Some(&english_body())).await;
            assert_eq!((status, &answer), (401, &seed_401()), "{token:?} at {path}");
        }
    }
    assert_eq!(app.assert_invariants().await, before);
    assert_eq!(grants(&app).await.len(), 1);
}

async fn the_pages_422_when_the_number_is_not_named(app: TestApp) {
    let w = seed_world(&app).await;
    let before = app.history_len().await;
    for body in [
        json!({"target_user_id": 123}),
        json!({"target_user": "testuser"}),
        json!({"target_user_id": 123, "target_user": "testuser"}),
        json!({"number_id": null, "number": "", "target_user_id": 123}),
    ] {
        for prefix in ["/api", "/v1/api"] {
            let path = format!("{prefix}/numbers/unassign");
            let (status, answer) = app.post(&path, &w.reseller, &body).await;
            assert_answer(
                (status, &answer),
                (422, &seed_422()),
                &format!("{body} {path}"),
            );
        }
    }
    assert_eq!(app.assert_invariants().await, before);
}

async fn english_variants_of_every_seed_answer(app: TestApp) {
    let w = seed_world(&app).await;
    let (other, _) = app.account("other", Some("reseller"), false).await;
    app.post(ASSIGN, &w.reseller, &grant_body(10, 123)).await;

    let en_422 = json!({"data": null, "meta": {"status": false,
        "message": "The number id field is required. (and 1 more error)",
        "message_parameters": [], "message_code": "400-2",
        "errors": {"number_id": ["The number id field is required."],
                   "number": ["The number field is required."]}}});
    assert_eq!(
        invalid(
            Lang::En,
            &[("number_id", Rule::Required), ("number", Rule::Required)]
        ),
        en_422
    );
    let en_401 = json!({"data": null, "meta": {"status": false,
        "message": "The information entered is not correct",
        "message_parameters": [], "message_code": "400-1", "errors": {}}});

    // (Accept-Language, English expected)
    let cases = [
        ("en", true),
        ("EN", true),
        ("en-US", true),
        ("en-GB,en;q=0.9", true),
        ("de-DE, en;q=0.8", true),
        ("fr, en-AU;q=0.5, fa;q=0.4", true),
        ("fa", false),
        ("fa-IR, en;q=0.9", false),
        ("en;q=0, fa", false),
        ("de", false),
        ("", false),
        ("*", false),
    ];
    for (header, english) in cases {
        let lang = if english { Lang::En } else { Lang::Fa };
        let h = [("accept-language", header)];
        let (status, answer) = call_with(
            &app,
            "POST",
            UNASSIGN,
            Some(&w.reseller),
            &h,
            Some(&json!({"target_user_id": 123})),
        )
        .await;
        let want = if english { en_422.clone() } else { seed_422() };
        assert_answer((status, &answer), (422, &want), header);

        let (status, answer) = call_with(
            &app,
            "POST",
            UNASSIGN,
            Some("wrong"),
            &h,
            Some(&persian_body()),
        )
        .await;
        let want = if english { en_401.clone() } else { seed_401() };
        assert_eq!((status, &answer), (401, &want), "{header:?}");

        let (status, answer) = call_with(
            &app,
            "POST",
            UNASSIGN,
            Some(&w.reseller),
            &h,
            Some(&json!({"number_id": 10, "target_user_id": 1})),
        )
        .await;
        assert_eq!(
            (status, &answer),
            (422, &invalid(lang, &[("target_user_id", Rule::Exists)])),
            "{header:?}"
        );

        // The operation's refusal stays in English, as the seeds keep it.
        let (status, answer) = call_with(
            &app,
            "POST",
            UNASSIGN,
            Some(&w.reseller),
            &h,
            Some(&json!({"number_id": 10, "target_user_id": other.id})),
        )
        .await;
        assert_eq!((status, &answer), (400, &seed_400()), "{header:?}");
    }

    let (status, answer) = post_en(&app, UNASSIGN, &w.reseller, &english_body()).await;
    assert_eq!((status, answer), (200, ok(Lang::En, Value::Null)));
    let (status, answer) = post_en(&app, UNASSIGN, &w.reseller, &english_body()).await;
    assert_eq!((status, answer), (400, seed_400()));
    app.assert_invariants().await;
}

/// The page's example as curl sends it: `--data` with the body laid out as on
/// the page, `Authorization` holding the bare key.
async fn the_pages_curl_request_byte_for_byte(app: TestApp) {
    let w = seed_world(&app).await;
    app.post(ASSIGN, &w.reseller, &grant_body(10, 123)).await;
    let body = "{\n    \"number_id\": 10,\n    \"target_user_id\": 123,\n    \"number\": \"+983000505\",\n    \"target_user\": \"testuser\"\n}";
    let res = app
        .raw(
            "POST",
            UNASSIGN,
            &[
                ("Content-Type", "application/json"),
                ("Authorization", &w.reseller),
            ],
            body.as_bytes(),
        )
        .await;
    assert_eq!(res.status, 200);
    assert!(
        res.header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{:?}",
        res.headers
    );
    assert_eq!(res.json(), seed_200());
    let _ = (w.admin, w.user);
    app.assert_invariants().await;
}
}
