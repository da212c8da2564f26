//! Assign and unassign as rules: attenuation of permissions, one grant per
//! (number, account), owners, and the cascade down one chain only.

use serde_json::{Value, json};

use crate::expect::*;
use crate::helpers::TestApp;

fn perms(number_id: i64, user_id: i64, send: bool, gets: bool) -> Value {
    json!({"number_id": number_id, "target_user_id": user_id, "send": send, "gets": gets})
}

fn target(number_id: i64, user_id: i64) -> Value {
    json!({"number_id": number_id, "target_user_id": user_id})
}

/// Accounts of the cascade world, by name.
struct Chain {
    ids: std::collections::HashMap<&'static str, i64>,
    keys: std::collections::HashMap<&'static str, String>,
}

impl Chain {
    fn id(&self, name: &str) -> i64 {
        self.ids[name]
    }
    fn key(&self, name: &str) -> &str {
        &self.keys[name]
    }
}

/// admin → R → A → B → C → D → E (resellers, E a user), and R → A2 → B2 beside
/// them. R owns the number.
async fn chain(app: &TestApp) -> Chain {
    let mut ids = std::collections::HashMap::new();
    let mut keys = std::collections::HashMap::new();
    for (name, parent, reseller) in [
        ("admin", None, false),
        ("r", Some("admin"), true),
        ("a", Some("r"), true),
        ("b", Some("a"), true),
        ("c", Some("b"), true),
        ("d", Some("c"), true),
        ("e", Some("d"), false),
        ("a2", Some("r"), true),
        ("b2", Some("a2"), false),
    ] {
        // Usernames are at least 3 characters.
        let username = format!("{name}_acct");
        let parent = parent.map(|p| format!("{p}_acct"));
        let (account, key) = app.account(&username, parent.as_deref(), reseller).await;
        ids.insert(name, account.id);
        keys.insert(name, key);
    }
    Chain { ids, keys }
}

crate::scenarios! {
async fn a_holder_grants_at_most_what_it_holds_and_once_per_account(app: TestApp) {
    let (_, admin) = app.account("admin", None, false).await;
    let (_, owner) = app.account("owner", Some("admin"), true).await;
    let (a, a_key) = app.account("middle", Some("owner"), true).await;
    let (b, _) = app.account("below", Some("middle"), true).await;
    let n = app.number("+983000505", Some("owner")).await;

    let send_only = perms(n.id, a.id, true, false);
    let (status, answer) = app.post(ASSIGN, &owner, &send_only).await;
    assert_eq!((status, answer), (200, ok(Lang::Fa, Value::Null)));
    let before = app.history_len().await;

    // (body, answer): `middle` holds `send` only.
    let cases = [
        (perms(n.id, b.id, true, true), refusal(EXCEEDED)),
        (perms(n.id, b.id, false, true), refusal(EXCEEDED)),
        (
            json!({"number_id": n.id, "target_user_id": b.id, "send": "1", "gets": "true"}),
            refusal(EXCEEDED),
        ),
    ];
    for (body, want) in &cases {
        for lang in [Lang::Fa, Lang::En] {
            let (status, answer) = if lang == Lang::Fa {
                app.post(ASSIGN, &a_key, body).await
            } else {
                post_en(&app, ASSIGN, &a_key, body).await
            };
            assert_answer((status, &answer), (400, want), &body.to_string());
        }
    }
    assert_eq!(app.history_len().await, before);

    let (status, answer) = app
        .post(ASSIGN, &a_key, &perms(n.id, b.id, true, false))
        .await;
    assert_eq!((status, answer), (200, ok(Lang::Fa, Value::Null)));

    // A grant of neither permission is a grant: the account holds the number
    // (and lists it) without using it.
    let (c, c_key) = app.account("empty", Some("middle"), false).await;
    let (status, answer) = app
        .post(ASSIGN, &a_key, &perms(n.id, c.id, false, false))
        .await;
    assert_eq!((status, answer), (200, ok(Lang::Fa, Value::Null)));
    let (status, answer) = app.get(NUMBERS, &c_key).await;
    assert_eq!(
        (status, &answer["data"]),
        (
            200,
            &json!([{"id": n.id, "number": "+983000505",
        "operator_id": null, "alias": null, "gets": 0, "send": 0, "is_66_char": 0, "owned": false}])
        )
    );
    let (status, _) = app.post(UNASSIGN, &a_key, &target(n.id, c.id)).await;
    assert_eq!(status, 200);

    // A second grant to the same account, with any permissions, by anyone
    // who may grant it: refused, and the first grant is left as it was.
    let again = [
        (&a_key, perms(n.id, b.id, true, false)),
        (&a_key, perms(n.id, b.id, false, false)),
        (&a_key, perms(n.id, b.id, true, true)),
        (&owner, perms(n.id, b.id, true, true)),
        (&owner, perms(n.id, a.id, true, true)),
        (&admin, perms(n.id, b.id, false, true)),
    ];
    let before = app.history_len().await;
    for (key, body) in &again {
        let (status, answer) = app.post(ASSIGN, key, body).await;
        assert_answer(
            (status, &answer),
            (400, &refusal(ALREADY_ASSIGNED)),
            &body.to_string(),
        );
    }
    // The owner already holds its number: an administrator cannot grant it to it.
    let owner_id = app.core.snapshot().await.unwrap().numbers[0].owner_id();
    let (status, answer) = app
        .post(ASSIGN, &admin, &perms(n.id, owner_id.unwrap(), true, true))
        .await;
    assert_answer(
        (status, &answer),
        (400, &refusal(ALREADY_ASSIGNED)),
        "owner",
    );
    assert_eq!(app.assert_invariants().await, before);
    assert_eq!(
        grants(&app).await,
        vec![
            (n.id, a.id, owner_id.unwrap(), true, false),
            (n.id, b.id, a.id, true, false)
        ]
    );
}

async fn an_owner_cannot_be_unassigned_from_its_own_number(app: TestApp) {
    let (_, admin) = app.account("admin", None, false).await;
    let (owner, _) = app.account("owner", Some("admin"), true).await;
    let (user, _) = app.account("user", Some("owner"), false).await;
    let n = app.number("+983000505", Some("owner")).await;
    let pool = app.number("+983000506", None).await;
    let before = app.history_len().await;
    for body in [
        target(n.id, owner.id),
        json!({"number": "+983000505", "target_user": "OWNER"}),
    ] {
        let (status, answer) = app.post(UNASSIGN, &admin, &body).await;
        assert_answer(
            (status, &answer),
            (400, &refusal(NOT_ASSIGNED)),
            &body.to_string(),
        );
    }
    // Held by no one, granted to no one: a pool number is not there at all.
    let (status, answer) = app.post(UNASSIGN, &admin, &target(pool.id, user.id)).await;
    assert_answer(
        (status, &answer),
        (422, &invalid(Lang::Fa, &[("number_id", Rule::Exists)])),
        "pool",
    );
    let (status, answer) = app
        .post(ASSIGN, &admin, &perms(pool.id, user.id, true, true))
        .await;
    assert_answer(
        (status, &answer),
        (422, &invalid(Lang::Fa, &[("number_id", Rule::Exists)])),
        "pool",
    );
    assert_eq!(app.assert_invariants().await, before);
    let s = app.core.snapshot().await.unwrap();
    assert_eq!(s.numbers[0].owner_id(), Some(owner.id));
}

async fn unassigning_cascades_down_its_own_chain_only(app: TestApp) {
    let w = chain(&app).await;
    let n = app.number("+983000505", Some("r_acct")).await.id;
    let other = app.number("+983000506", Some("r_acct")).await.id;
    // (granter, grantee, number): the chain R→A→B→C; R straight to D (below
    // C, reached along another chain) and D on to E; the sibling chain
    // R→A2→B2; and the same chain R→A→B on another number.
    for (by, to, number) in [
        ("r", "a", n),
        ("a", "b", n),
        ("b", "c", n),
        ("r", "d", n),
        ("d", "e", n),
        ("r", "a2", n),
        ("a2", "b2", n),
        ("r", "a", other),
        ("a", "b", other),
    ] {
        let (status, answer) = app
            .post(ASSIGN, w.key(by), &grant_body(number, w.id(to)))
            .await;
        assert_eq!(
            (status, answer),
            (200, ok(Lang::Fa, Value::Null)),
            "{by}→{to}"
        );
    }
    let before = app.assert_invariants().await;

    let (status, answer) = app.post(UNASSIGN, w.key("r"), &target(n, w.id("a"))).await;
    assert_eq!((status, answer), (200, ok(Lang::Fa, Value::Null)));

    // Exactly one history entry per removed grant: A's, then B's and C's.
    assert_eq!(
        history_since(&app, before).await,
        vec![
            ("grant.unassign".to_owned(), Some(n), Some(w.id("a"))),
            ("grant.cascade".to_owned(), Some(n), Some(w.id("b"))),
            ("grant.cascade".to_owned(), Some(n), Some(w.id("c"))),
        ]
    );
    let id = |name| w.id(name);
    let mut want = vec![
        (n, id("d"), id("r"), true, true),
        (n, id("e"), id("d"), true, true),
        (n, id("a2"), id("r"), true, true),
        (n, id("b2"), id("a2"), true, true),
        (other, id("a"), id("r"), true, true),
        (other, id("b"), id("a"), true, true),
    ];
    want.sort();
    let mut got = grants(&app).await;
    got.sort();
    assert_eq!(got, want);
    assert_eq!(app.assert_invariants().await, before + 3);

    // What each account now holds, as its numbers list says.
    for (name, holds) in [
        ("a", vec![other]),
        ("b", vec![other]),
        ("c", vec![]),
        ("d", vec![n]),
        ("e", vec![n]),
        ("b2", vec![n]),
    ] {
        let (status, answer) = app.get(NUMBERS, w.key(name)).await;
        assert_eq!(status, 200);
        let ids: Vec<i64> = answer["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, holds, "{name}");
    }

    // C lost the number, so it can no longer unassign what R gave D below it:
    // for C the number does not exist.
    let (status, answer) = app.post(UNASSIGN, w.key("c"), &target(n, id("e"))).await;
    assert_answer(
        (status, &answer),
        (422, &invalid(Lang::Fa, &[("number_id", Rule::Exists)])),
        "c",
    );
    // A holder above D may take back R's grant to D, and D's to E goes with it.
    let before = app.history_len().await;
    let (status, answer) = app
        .post(UNASSIGN, w.key("admin"), &target(n, id("d")))
        .await;
    assert_eq!((status, answer), (200, ok(Lang::Fa, Value::Null)));
    assert_eq!(
        history_since(&app, before).await,
        vec![
            ("grant.unassign".to_owned(), Some(n), Some(id("d"))),
            ("grant.cascade".to_owned(), Some(n), Some(id("e"))),
        ]
    );
    // Removing a leaf removes just it.
    let (status, answer) = app.post(UNASSIGN, w.key("a2"), &target(n, id("b2"))).await;
    assert_eq!((status, answer), (200, ok(Lang::Fa, Value::Null)));
    assert_eq!(
        history_since(&app, before + 2).await,
        vec![("grant.unassign".to_owned(), Some(n), Some(id("b2")))]
    );
    // And what was removed can be granted again, straight from R.
    let (status, answer) = app.post(ASSIGN, w.key("r"), &grant_body(n, id("c"))).await;
    assert_eq!((status, answer), (200, ok(Lang::Fa, Value::Null)));
    assert_eq!(app.assert_invariants().await, before + 4);
}
}
