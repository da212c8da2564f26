//! `GET /api/number/numbers`: what the caller holds, ordered by id, paged with
//! Laravel's paginator fields.

use linekeeper::core::admin::NumberSpec;
use linekeeper::domain::E164;
use serde_json::{Map, Value, json};

use crate::expect::*;
use crate::helpers::TestApp;

/// The success envelope of a page: `meta` carries the paginator after the
/// four standard fields.
fn page(
    lang: Lang,
    items: Vec<Value>,
    current: i64,
    per_page: i64,
    total: i64,
    last: i64,
    from_to: FromTo,
) -> Value {
    let mut v = ok(lang, Value::Array(items));
    let meta = v["meta"].as_object_mut().unwrap();
    let mut extra = Map::new();
    extra.insert("current_page".into(), json!(current));
    extra.insert("per_page".into(), json!(per_page));
    extra.insert("total".into(), json!(total));
    extra.insert("last_page".into(), json!(last));
    extra.insert("from".into(), json!(from_to.map(|f| f.0)));
    extra.insert("to".into(), json!(from_to.map(|f| f.1)));
    meta.extend(extra);
    v
}

fn item(
    id: i64,
    number: &str,
    operator: Value,
    alias: Value,
    send: i64,
    gets: i64,
    owned: bool,
) -> Value {
    json!({"id": id, "number": number, "operator_id": operator, "alias": alias,
        "gets": gets, "send": send, "is_66_char": 0, "owned": owned})
}

async fn add(
    app: &TestApp,
    id: i64,
    e164: &str,
    owner: &str,
    operator: Option<i64>,
    alias: Option<&str>,
) {
    let spec = NumberSpec {
        id: Some(id),
        owner: Some(owner.into()),
        operator_id: operator,
        alias: alias.map(Into::into),
        ..NumberSpec::new(E164::parse(e164).unwrap())
    };
    app.core.add_number(spec, "test").await.unwrap();
}

/// `admin` above `reseller` and `rival`; `reseller` owns 30 and 10 (added in
/// that order), `rival` owns 20 and 40 and, through the administrator, the
/// reseller holds 20 with `send` only; `user` below the reseller holds 10
/// (gets only) and 30 (both).
async fn world(app: &TestApp) -> (String, String, String, String) {
    let (_, admin) = account_with_id(app, 1, "admin", None, false).await;
    let (_, reseller) = account_with_id(app, 2, "reseller", Some("admin"), true).await;
    let (_, rival) = account_with_id(app, 3, "rival", Some("admin"), true).await;
    let (_, user) = account_with_id(app, 4, "user", Some("reseller"), false).await;
    add(app, 30, "+983000530", "reseller", None, None).await;
    add(
        app,
        10,
        "+983000510",
        "reseller",
        Some(7),
        Some("main line"),
    )
    .await;
    add(app, 20, "+983000520", "rival", Some(9), None).await;
    add(app, 40, "+983000540", "rival", None, Some("spare")).await;
    app.number("+983000550", None).await; // in the pool: held by no one
    for (key, body) in [
        (
            &admin,
            json!({"number_id": 20, "target_user_id": 2, "send": true, "gets": false}),
        ),
        (
            &reseller,
            json!({"number_id": 10, "target_user_id": 4, "send": false, "gets": true}),
        ),
        (
            &reseller,
            json!({"number_id": 30, "target_user_id": 4, "send": 1, "gets": 1}),
        ),
    ] {
        let (status, answer) = app.post(ASSIGN, key, &body).await;
        assert_eq!(status, 200, "{answer}");
    }
    (admin, reseller, rival, user)
}

/// `from` and `to` of a page, `None` when it is empty.
type FromTo = Option<(i64, i64)>;

crate::scenarios! {
async fn owned_and_granted_numbers_in_id_order_with_the_callers_permissions(app: TestApp) {
    let (admin, reseller, rival, user) = world(&app).await;
    let n10 = |send, gets, owned| {
        item(
            10,
            "+983000510",
            json!(7),
            json!("main line"),
            send,
            gets,
            owned,
        )
    };
    let n20 = |send, gets, owned| item(20, "+983000520", json!(9), Value::Null, send, gets, owned);
    let n30 = |send, gets, owned| {
        item(
            30,
            "+983000530",
            Value::Null,
            Value::Null,
            send,
            gets,
            owned,
        )
    };
    let n40 = |send, gets, owned| {
        item(
            40,
            "+983000540",
            Value::Null,
            json!("spare"),
            send,
            gets,
            owned,
        )
    };

    let cases = [
        (
            &reseller,
            vec![n10(1, 1, true), n20(1, 0, false), n30(1, 1, true)],
        ),
        (&user, vec![n10(0, 1, false), n30(1, 1, false)]),
        (&rival, vec![n20(1, 1, true), n40(1, 1, true)]),
        // An administrator holds every subscribed number; it owns none here.
        (
            &admin,
            vec![
                n10(1, 1, false),
                n20(1, 1, false),
                n30(1, 1, false),
                n40(1, 1, false),
            ],
        ),
    ];
    for (key, items) in cases {
        let n = items.len() as i64;
        for path in [
            NUMBERS.to_owned(),
            format!("/v1{NUMBERS}"),
            format!("{NUMBERS}?page=1&per_page=10"),
        ] {
            let (status, answer) = app.get(&path, key).await;
            assert_answer(
                (status, &answer),
                (
                    200,
                    &page(Lang::Fa, items.clone(), 1, 10, n, 1, Some((1, n))),
                ),
                &path,
            );
        }
    }
    let (status, answer) = call_with(
        &app,
        "GET",
        NUMBERS,
        Some(&user),
        &[("accept-language", "en")],
        None,
    )
    .await;
    assert_answer(
        (status, &answer),
        (
            200,
            &page(
                Lang::En,
                vec![n10(0, 1, false), n30(1, 1, false)],
                1,
                10,
                2,
                1,
                Some((1, 2)),
            ),
        ),
        "en",
    );
    app.assert_invariants().await;
}

async fn paging_and_its_meta(app: TestApp) {
    let (admin, reseller, _, _) = world(&app).await;
    let (_, nobody) = app.account("nobody", Some("reseller"), false).await;
    let ids = |v: &Value| -> Vec<i64> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_i64().unwrap())
            .collect()
    };
    // (query, ids, [current_page, per_page, total, last_page], from/to) for
    // the administrator, who holds 4 numbers.
    let cases: Vec<(&str, Vec<i64>, [i64; 4], FromTo)> = vec![
        ("?per_page=3", vec![10, 20, 30], [1, 3, 4, 2], Some((1, 3))),
        ("?per_page=3&page=2", vec![40], [2, 3, 4, 2], Some((4, 4))),
        ("?per_page=3&page=3", vec![], [3, 3, 4, 2], None),
        (
            "?page=2&per_page=2",
            vec![30, 40],
            [2, 2, 4, 2],
            Some((3, 4)),
        ),
        ("?per_page=1&page=4", vec![40], [4, 1, 4, 4], Some((4, 4))),
        (
            "?per_page=100",
            vec![10, 20, 30, 40],
            [1, 100, 4, 1],
            Some((1, 4)),
        ),
        (
            "?per_page=4",
            vec![10, 20, 30, 40],
            [1, 4, 4, 1],
            Some((1, 4)),
        ),
        ("?page=1000000", vec![], [1000000, 10, 4, 1], None),
        // An empty value is the default, as Laravel reads it.
        (
            "?page=&per_page=",
            vec![10, 20, 30, 40],
            [1, 10, 4, 1],
            Some((1, 4)),
        ),
        (
            "?other=1",
            vec![10, 20, 30, 40],
            [1, 10, 4, 1],
            Some((1, 4)),
        ),
    ];
    for (query, want_ids, [current, per_page, total, last], from_to) in &cases {
        let path = format!("{NUMBERS}{query}");
        let (status, answer) = app.get(&path, &admin).await;
        assert_eq!(status, 200, "{query}: {answer}");
        assert_eq!(&ids(&answer), want_ids, "{query}");
        let items = answer["data"].as_array().unwrap().clone();
        assert_answer(
            (status, &answer),
            (
                200,
                &page(
                    Lang::Fa,
                    items,
                    *current,
                    *per_page,
                    *total,
                    *last,
                    *from_to,
                ),
            ),
            query,
        );
    }
    // Nothing held: an empty first page, `last_page` 1, `from`/`to` null.
    let (status, answer) = app.get(NUMBERS, &nobody).await;
    assert_answer(
        (status, &answer),
        (200, &page(Lang::Fa, vec![], 1, 10, 0, 1, None)),
        "empty",
    );
    let _ = reseller;
}

async fn paging_out_of_bounds_is_a_422_and_changes_nothing(app: TestApp) {
    let (_, reseller, _, _) = world(&app).await;
    let before = app.history_len().await;
    let cases: Vec<(&str, Vec<(&str, Rule)>)> = vec![
        ("?page=0", vec![("page", Rule::Min(1))]),
        ("?page=-1", vec![("page", Rule::Min(1))]),
        ("?per_page=0", vec![("per_page", Rule::Min(1))]),
        ("?per_page=101", vec![("per_page", Rule::Max(100))]),
        ("?per_page=-5", vec![("per_page", Rule::Min(1))]),
        ("?page=abc", vec![("page", Rule::Integer)]),
        ("?page=1.5", vec![("page", Rule::Integer)]),
        ("?page=1e3", vec![("page", Rule::Integer)]),
        ("?per_page=ten", vec![("per_page", Rule::Integer)]),
        ("?page=99999999999999999999", vec![("page", Rule::Integer)]),
        (
            "?page=0&per_page=101",
            vec![("page", Rule::Min(1)), ("per_page", Rule::Max(100))],
        ),
        (
            "?per_page=x&page=y",
            vec![("page", Rule::Integer), ("per_page", Rule::Integer)],
        ),
    ];
    for (query, errors) in &cases {
        let path = format!("{NUMBERS}{query}");
        let (status, answer) = app.get(&path, &reseller).await;
        assert_answer((status, &answer), (422, &invalid(Lang::Fa, errors)), query);
        let (status, answer) = call_with(
            &app,
            "GET",
            &path,
            Some(&reseller),
            &[("accept-language", "en")],
            None,
        )
        .await;
        assert_answer((status, &answer), (422, &invalid(Lang::En, errors)), query);
    }
    // The largest page is still answered (empty), never an overflow.
    let (status, answer) = app
        .get(
            &format!("{NUMBERS}?page=92233720368547758&per_page=100"),
            &reseller,
        )
        .await;
    assert_eq!((status, &answer["data"]), (200, &json!([])), "{answer}");
    assert_eq!(answer["meta"]["from"], Value::Null);
    let (status, answer) = app
        .get(&format!("{NUMBERS}?page=9223372036854775807"), &reseller)
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(app.assert_invariants().await, before);
}
}
