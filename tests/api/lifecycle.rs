//! The number's life after the seeds (DOMAIN.md): quarantine, reservations,
//! grants with an end, changing a grant, dry runs, bulk, and the sweeper,
//! through the faces where they reach them and through the core otherwise.
//! Time moves only by the manual clock; the sweeper runs only when called.

use linekeeper::core::{
    AccountRef, Assign, BulkItem, Caller, Change, ChangeGrant, CoreError, Lifecycle, NumberRef,
    Perms, Removal, Terms, Unassign,
};
use linekeeper::domain::{Clock, E164, NumberUid, TokenKind, iso8601_utc};

use linekeeper::store::{Account, Grant, Number};
use serde_json::{Value, json};

use crate::expect::{Lang, Rule, ok, refusal};
use crate::helpers::{Backend, T0, TestApp};
use crate::vn_common::{buy, failure, pool_number, postpaid, success, vn};

const DAY: i64 = 86_400;

fn caller(account: &Account) -> Caller {
    Caller {
        account: account.clone(),
        kind: TokenKind::ApiKey,
        digest: String::new(),
    }
}

fn uid(n: &Number) -> NumberUid {
    NumberUid::parse(&n.uid).expect("uid")
}

fn num(n: &Number) -> NumberRef {
    NumberRef {
        id: Some(n.id),
        ..NumberRef::default()
    }
}

fn acct(a: &Account) -> AccountRef {
    AccountRef {
        id: Some(a.id),
        username: None,
    }
}

fn assign_cmd(n: &Number, to: &Account, send: bool, gets: bool, end: Option<i64>) -> Assign {
    Assign {
        number: num(n),
        target: acct(to),
        perms: Perms { send, gets },
        expires_at: end,
    }
}

async fn pool_ids(app: &TestApp, key: &str) -> Vec<String> {
    let (status, pool) = vn(app, "GET", "/available", Some(key), None).await;
    assert_eq!(status, 200, "{pool}");
    pool["data"]["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["_id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn purchase(app: &TestApp, key: &str, uid: &str) -> (u16, Value) {
    vn(
        app,
        "POST",
        "/purchase-postpaid",
        Some(key),
        Some(&json!({"number": uid})),
    )
    .await
}

async fn unsubscribe(app: &TestApp, key: &str, uid: &str) -> (u16, Value) {
    vn(app, "PUT", &format!("/unsubscribe/{uid}"), Some(key), None).await
}

fn unsubscribed() -> Value {
    success(
        "Virtual number has been unsubscribed successfully.",
        json!({}),
    )
}

/// The numbers (E.164) the panel list shows, and its total.
async fn listed(app: &TestApp, key: &str) -> (Vec<String>, i64) {
    let (status, body) = app.get("/api/number/numbers?per_page=100", key).await;
    assert_eq!(status, 200, "{body}");
    let numbers = body["data"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["number"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    (numbers, body["meta"]["total"].as_i64().unwrap_or(-1))
}

async fn actions_since(app: &TestApp, from: usize) -> Vec<String> {
    let s = app.core.snapshot().await.expect("snapshot");
    s.history[from..].iter().map(|h| h.0.clone()).collect()
}

/// admin → reseller (owns +61400000001) → sub (reseller) → user, with keys.
struct Tree {
    reseller: (Account, String),
    sub: (Account, String),
    user: (Account, String),
    number: Number,
}

async fn tree(app: &TestApp) -> Tree {
    app.account("admin", None, false).await;
    let reseller = app.account("reseller", Some("admin"), true).await;
    let sub = app.account("sub", Some("reseller"), true).await;
    let user = app.account("user", Some("sub"), true).await;
    let number = app.number("+61400000001", Some("reseller")).await;
    Tree {
        reseller,
        sub,
        user,
        number,
    }
}

/// Builds the sweep's world in `app`: the tree, a leaf below the user and
/// a side account below the reseller, and 24 of the reseller's numbers with
/// chains of grants whose ends fall before, at and after `T0 + 100`, or
/// never (each within the grant it came from, as the rules require).
async fn expiring_world(app: &TestApp) {
    let t = tree(app).await;
    let leaf = app.account("leaf", Some("user"), false).await;
    let side = app.account("side", Some("reseller"), true).await;
    let (r, s, u) = (caller(&t.reseller.0), caller(&t.sub.0), caller(&t.user.0));
    let within = |wanted: Option<i64>, ceiling: Option<i64>| match (wanted, ceiling) {
        (Some(w), Some(c)) => Some(w.min(c)),
        (w, None) => w,
        (None, c) => c,
    };
    for i in 0..24i64 {
        let n = app
            .number(&format!("+614000001{i:02}"), Some("reseller"))
            .await;
        let to_sub = [Some(T0 + 100), Some(T0 + 40), Some(T0 + 500), None][(i % 4) as usize];
        app.core
            .assign(&r, assign_cmd(&n, &t.sub.0, true, true, to_sub), "t")
            .await
            .expect("sub");
        if i % 3 != 0 {
            let to_user = within(if i % 2 == 0 { Some(T0 + 60) } else { None }, to_sub);
            app.core
                .assign(
                    &s,
                    assign_cmd(&n, &t.user.0, true, i % 2 == 0, to_user),
                    "t",
                )
                .await
                .expect("user");
            if i % 5 != 0 {
                app.core
                    .assign(&u, assign_cmd(&n, &leaf.0, true, false, to_user), "t")
                    .await
                    .expect("leaf");
            }
        }
        let to_side = if i % 2 == 1 { Some(T0 + 100) } else { None };
        app.core
            .assign(&r, assign_cmd(&n, &side.0, false, true, to_side), "t")
            .await
            .expect("side");
    }
}

/// The grants, every history entry (with its id and request id) and every
/// event (with its data) of `app`.
async fn sweep_state(app: &TestApp, admin: &Caller) -> (String, Vec<String>) {
    let s = app.core.snapshot().await.expect("snapshot");
    let mut grants = s.grants.clone();
    grants.sort_by_key(|g| (g.number_id, g.account_id));
    let events = app
        .core
        .events(admin, 0, 100_000, std::time::Duration::ZERO)
        .await
        .expect("events");
    let events = crate::helpers::event_lines(&events);
    (
        format!(
            "{grants:?}\n{:?}\n{:?}\n{:?}\n{:?}",
            s.history, s.history_ids, s.request_ids, s.events
        ),
        events,
    )
}

crate::scenarios! {
async fn quarantine_keeps_the_number_for_its_former_owner_until_it_ends(app: TestApp) {
    app.account("admin", None, false).await;
    let (alice, alice_key) = postpaid(&app, "alice", Some("admin"), false).await;
    let (_, bob_key) = postpaid(&app, "bob", Some("admin"), false).await;
    let number = pool_number(&app, "+61400000001", 1500, 15000).await;
    buy(&app, &alice_key, &number.uid).await;

    assert_eq!(unsubscribe(&app, &alice_key, &number.uid).await, (200, unsubscribed()));
    let snapshot = app.core.snapshot().await.expect("snapshot");
    let n = snapshot.numbers.iter().find(|n| n.id == number.id).expect("number");
    let q = n.quarantine.expect("quarantined");
    assert_eq!((q.former_owner_id, q.until), (alice.id, T0 + 30 * DAY));
    app.assert_invariants().await;

    // In nobody's pool view, and not available to anyone else.
    assert!(pool_ids(&app, &bob_key).await.is_empty());
    assert!(pool_ids(&app, &alice_key).await.is_empty());
    let before = app.history_len().await;
    assert_eq!(
        purchase(&app, &bob_key, &number.uid).await,
        (409, failure(409, "Virtual number is not available"))
    );
    assert_eq!(app.history_len().await, before);

    // The former owner takes it back.
    let (status, body) = purchase(&app, &alice_key, &number.uid).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["_id"], number.uid.as_str());
    app.assert_invariants().await;

    // Again, and this time let the period run out.
    app.clock.advance(DAY);
    assert_eq!(unsubscribe(&app, &alice_key, &number.uid).await, (200, unsubscribed()));
    app.clock.advance(30 * DAY - 1);
    assert_eq!(purchase(&app, &bob_key, &number.uid).await.0, 409);
    assert!(pool_ids(&app, &bob_key).await.is_empty());
    app.clock.advance(1);
    // Over from its instant, before any sweep.
    assert_eq!(pool_ids(&app, &bob_key).await, vec![number.uid.clone()]);
    let before = app.history_len().await;
    let report = app.core.sweep(app.clock.now()).await.expect("sweep");
    assert_eq!(report.released, 1);
    assert_eq!(actions_since(&app, before).await, vec!["number.release"]);
    assert_eq!(app.core.sweep(app.clock.now()).await.expect("sweep").released, 0);
    buy(&app, &bob_key, &number.uid).await;
    app.assert_invariants().await;
}

async fn a_lapsed_quarantine_taken_before_the_sweep_is_recorded_once(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, alice_key) = postpaid(&app, "alice", Some("admin"), false).await;
    let (_, bob_key) = postpaid(&app, "bob", Some("admin"), false).await;
    let number = pool_number(&app, "+61400000001", 0, 0).await;
    buy(&app, &alice_key, &number.uid).await;
    unsubscribe(&app, &alice_key, &number.uid).await;
    app.clock.advance(30 * DAY);
    let before = app.history_len().await;
    buy(&app, &bob_key, &number.uid).await;
    assert_eq!(
        actions_since(&app, before).await,
        vec!["number.release", "number.subscribe"]
    );
    assert_eq!(app.core.sweep(app.clock.now()).await.expect("sweep").released, 0);
    app.assert_invariants().await;
}

async fn an_administrator_releases_a_quarantined_number_early(app: TestApp) {
    app.account("admin", None, false).await;
    let (_, alice_key) = postpaid(&app, "alice", Some("admin"), false).await;
    let (_, bob_key) = postpaid(&app, "bob", Some("admin"), false).await;
    let number = pool_number(&app, "+61400000001", 0, 0).await;
    let e164 = E164::parse("+61400000001").expect("e164");
    let refused = app.core.release_number(&e164, None, "test").await;
    assert!(matches!(refused, Err(CoreError::Invalid(_))), "{refused:?}");
    buy(&app, &alice_key, &number.uid).await;
    unsubscribe(&app, &alice_key, &number.uid).await;
    let before = app.history_len().await;
    let released = app.core.release_number(&e164, None, "test").await.expect("release");
    assert_eq!(released.id, number.id);
    assert_eq!(actions_since(&app, before).await, vec!["number.release"]);
    assert_eq!(pool_ids(&app, &bob_key).await, vec![number.uid.clone()]);
    buy(&app, &bob_key, &number.uid).await;
    app.assert_invariants().await;
}

async fn a_reservation_keeps_the_number_for_its_holder(app: TestApp) {
    app.account("admin", None, false).await;
    let (alice, alice_key) = postpaid(&app, "alice", Some("admin"), false).await;
    let (bob, bob_key) = postpaid(&app, "bob", Some("admin"), false).await;
    let number = pool_number(&app, "+61400000001", 0, 0).await;
    let other = pool_number(&app, "+61400000002", 0, 0).await;

    let held = app.core.reserve(&caller(&bob), &uid(&number), None, "t").await.expect("reserve");
    assert_eq!(held.until, T0 + 30 * 60);
    let again = app.core.reserve(&caller(&bob), &uid(&number), None, "t").await;
    assert!(matches!(again, Err(CoreError::AlreadyReserved)), "{again:?}");
    let taken = app.core.reserve(&caller(&alice), &uid(&number), None, "t").await;
    assert!(matches!(taken, Err(CoreError::NotAvailable)), "{taken:?}");
    let long = app.core.reserve(&caller(&alice), &uid(&other), Some(DAY + 1), "t").await;
    assert!(matches!(long, Err(CoreError::InvalidDuration { max_secs: DAY })), "{long:?}");
    app.assert_invariants().await;

    // Nobody's pool view has it; only the holder may subscribe.
    assert_eq!(pool_ids(&app, &alice_key).await, vec![other.uid.clone()]);
    assert_eq!(pool_ids(&app, &bob_key).await, vec![other.uid.clone()]);
    assert_eq!(
        purchase(&app, &alice_key, &number.uid).await,
        (409, failure(409, "Virtual number is not available"))
    );
    let mine = app.core.reservations(&caller(&bob)).await.expect("list");
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].number.id, number.id);

    // Extended, then taken by the holder: the reservation ends with it.
    app.clock.advance(20 * 60);
    let extended = app
        .core
        .extend_reservation(&caller(&bob), &uid(&number), Some(3600), "t")
        .await
        .expect("extend");
    assert_eq!(extended.until, app.clock.now() + 3600);
    app.clock.advance(20 * 60);
    assert_eq!(purchase(&app, &alice_key, &number.uid).await.0, 409);
    buy(&app, &bob_key, &number.uid).await;
    assert!(app.core.reservations(&caller(&bob)).await.expect("list").is_empty());
    app.assert_invariants().await;

    // A reservation lapses by itself: at its end anyone may take the number.
    app.core.reserve(&caller(&bob), &uid(&other), Some(60), "t").await.expect("reserve");
    app.clock.advance(60);
    assert_eq!(pool_ids(&app, &alice_key).await, vec![other.uid.clone()]);
    let before = app.history_len().await;
    assert_eq!(
        app.core.sweep(app.clock.now()).await.expect("sweep").reservations_ended,
        1
    );
    assert_eq!(actions_since(&app, before).await, vec!["number.reserve_expire"]);
    // Cancelled: back in the pool at once.
    app.core.reserve(&caller(&alice), &uid(&other), None, "t").await.expect("reserve");
    let not_bobs = app.core.cancel_reservation(&caller(&bob), &uid(&other), "t").await;
    assert!(matches!(not_bobs, Err(CoreError::NotReserved)), "{not_bobs:?}");
    app.core.cancel_reservation(&caller(&alice), &uid(&other), "t").await.expect("cancel");
    buy(&app, &bob_key, &other.uid).await;
    app.assert_invariants().await;
}

async fn an_account_holds_at_most_its_cap_of_reservations(app: TestApp) {
    app.account("admin", None, false).await;
    let (alice, _) = postpaid(&app, "alice", Some("admin"), false).await;
    let mut numbers = Vec::new();
    for i in 0..21 {
        numbers.push(pool_number(&app, &format!("+614000001{i:02}"), 0, 0).await);
    }
    for n in &numbers[..20] {
        app.core.reserve(&caller(&alice), &uid(n), None, "t").await.expect("reserve");
    }
    let over = app.core.reserve(&caller(&alice), &uid(&numbers[20]), None, "t").await;
    assert!(matches!(over, Err(CoreError::ReservationLimit { cap: 20 })), "{over:?}");
    // Lapsed ones do not count, swept or not.
    app.clock.advance(30 * 60);
    app.core.reserve(&caller(&alice), &uid(&numbers[20]), None, "t").await.expect("reserve");
    app.assert_invariants().await;
}

async fn a_grant_with_an_end_is_gone_from_every_read_at_its_end(app: TestApp) {
    let t = tree(&app).await;
    let (reseller_key, sub_key) = (&t.reseller.1, &t.sub.1);
    let end = T0 + 3600;
    let body = json!({"number_id": t.number.id, "target_user_id": t.sub.0.id,
        "send": true, "gets": true, "expires_at": "2026-01-01T01:00:00Z"});
    assert_eq!(app.post("/api/numbers/assign", reseller_key, &body).await, (200, ok(Lang::Fa, Value::Null)));
    let s = app.core.snapshot().await.expect("snapshot");
    assert_eq!(s.grants[0].expires_at, Some(end));
    assert_eq!(listed(&app, sub_key).await, (vec!["+61400000001".to_owned()], 1));

    // Beyond its own end the sub-reseller may not grant; by Unix seconds,
    // up to it, it may.
    let user_id = t.user.0.id;
    let beyond = json!({"number_id": t.number.id, "target_user_id": user_id,
        "send": true, "gets": false, "expires_at": end + 1});
    assert_eq!(
        app.post("/api/numbers/assign", sub_key, &beyond).await,
        (400, refusal("cannot grant beyond the end of your own grant"))
    );
    let past = json!({"number_id": t.number.id, "target_user_id": user_id,
        "send": true, "gets": false, "expires_at": T0});
    assert_eq!(
        app.post("/api/numbers/assign", sub_key, &past).await,
        (422, crate::expect::invalid(Lang::Fa, &[("expires_at", Rule::Format)]))
    );
    let malformed = json!({"number_id": t.number.id, "target_user_id": user_id,
        "send": true, "gets": false, "expires_at": "tomorrow"});
    assert_eq!(
        app.post("/api/numbers/assign", sub_key, &malformed).await,
        (422, crate::expect::invalid(Lang::Fa, &[("expires_at", Rule::Format)]))
    );
    let within = json!({"number_id": t.number.id, "target_user_id": user_id,
        "send": true, "gets": false, "expires_at": (end - 60).to_string()});
    assert_eq!(app.post("/api/numbers/assign", sub_key, &within).await.0, 200);
    // Without an end of its own, a grant ends with its granter's.
    let (leaf, leaf_key) = app.account("leaf", Some("user"), false).await;
    let inherit = json!({"number_id": t.number.id, "target_user_id": leaf.id, "send": true, "gets": false});
    assert_eq!(app.post("/api/numbers/assign", &t.user.1, &inherit).await.0, 200);
    let s = app.core.snapshot().await.expect("snapshot");
    let leaf_grant = s.grants.iter().find(|g| g.account_id == leaf.id).expect("grant");
    assert_eq!(leaf_grant.expires_at, Some(end - 60));
    app.assert_invariants().await;

    // At its end: gone from the list and from the holder checks, before
    // any sweep.
    app.clock.advance(3600);
    assert_eq!(listed(&app, sub_key).await, (vec![], 0));
    assert_eq!(listed(&app, &leaf_key).await, (vec![], 0));
    let (status, _) = app
        .post("/api/numbers/unassign", sub_key, &json!({"number_id": t.number.id, "target_user_id": user_id}))
        .await;
    assert_eq!(status, 422);
    app.assert_invariants().await;
    let before = app.history_len().await;
    let report = app.core.sweep(app.clock.now()).await.expect("sweep");
    assert_eq!(report.grants_expired, 3);
    assert_eq!(
        actions_since(&app, before).await,
        vec!["grant.expire", "grant.expire", "grant.expire"]
    );
    assert!(app.core.snapshot().await.expect("snapshot").grants.is_empty());
    assert_eq!(app.core.sweep(app.clock.now()).await.expect("sweep").grants_expired, 0);
    app.assert_invariants().await;
}

async fn an_expired_grant_can_be_made_again_before_it_is_swept(app: TestApp) {
    let t = tree(&app).await;
    let sub_id = t.sub.0.id;
    let body = json!({"number_id": t.number.id, "target_user_id": sub_id,
        "send": true, "gets": true, "expires_at": T0 + 60});
    assert_eq!(app.post("/api/numbers/assign", &t.reseller.1, &body).await.0, 200);
    app.clock.advance(60);
    let before = app.history_len().await;
    let again = json!({"number_id": t.number.id, "target_user_id": sub_id, "send": true, "gets": false});
    assert_eq!(app.post("/api/numbers/assign", &t.reseller.1, &again).await, (200, ok(Lang::Fa, Value::Null)));
    assert_eq!(actions_since(&app, before).await, vec!["grant.expire", "grant.assign"]);
    assert_eq!(listed(&app, &t.sub.1).await.1, 1);
    app.assert_invariants().await;
}

async fn panel_unassign_still_cascades_with_grants_that_end(app: TestApp) {
    let t = tree(&app).await;
    let grant = |to: i64, end: Option<i64>| {
        let mut b = json!({"number_id": t.number.id, "target_user_id": to, "send": true, "gets": true});
        if let Some(e) = end {
            b["expires_at"] = json!(e);
        }
        b
    };
    assert_eq!(app.post("/api/numbers/assign", &t.reseller.1, &grant(t.sub.0.id, Some(T0 + DAY))).await.0, 200);
    assert_eq!(app.post("/api/numbers/assign", &t.sub.1, &grant(t.user.0.id, None)).await.0, 200);
    let before = app.history_len().await;
    let body = json!({"number_id": t.number.id, "target_user_id": t.sub.0.id});
    assert_eq!(app.post("/api/numbers/unassign", &t.reseller.1, &body).await, (200, ok(Lang::Fa, Value::Null)));
    assert_eq!(actions_since(&app, before).await, vec!["grant.unassign", "grant.cascade"]);
    assert!(app.core.snapshot().await.expect("snapshot").grants.is_empty());
    app.assert_invariants().await;
}

async fn changing_a_grant_lowers_what_was_granted_from_it(app: TestApp) {
    let t = tree(&app).await;
    let (leaf, _) = app.account("leaf", Some("user"), false).await;
    let (r, s, u) = (&t.reseller.0, &t.sub.0, &t.user.0);
    app.core.assign(&caller(r), assign_cmd(&t.number, s, true, true, None), "t").await.expect("a");
    app.core.assign(&caller(s), assign_cmd(&t.number, u, true, true, Some(T0 + DAY)), "t").await.expect("b");
    app.core.assign(&caller(u), assign_cmd(&t.number, &leaf, true, false, None), "t").await.expect("c");
    app.assert_invariants().await;

    let cmd = ChangeGrant {
        number: num(&t.number),
        target: acct(s),
        send: Some(false),
        gets: None,
        expires_at: Some(Some(T0 + 3600)),
    };
    // The dry run: same outcome, nothing written.
    let before = app.history_len().await;
    let grants_before = app.core.snapshot().await.expect("snapshot").grants;
    let dry = app.core.change_grant(&caller(r), cmd.clone(), true, "t").await.expect("dry");
    assert!(dry.dry_run);
    assert_eq!(app.history_len().await, before);
    assert_eq!(app.core.snapshot().await.expect("snapshot").grants, grants_before);

    let done = app.core.change_grant(&caller(r), cmd, false, "t").await.expect("change");
    assert!(!done.dry_run);
    assert_eq!(done.changes, dry.changes);
    let t3600 = Some(T0 + 3600);
    let terms = |send, gets| Terms { send, gets, expires_at: t3600 };
    let lowered: Vec<(i64, Terms, bool, Vec<i64>)> = done
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::GrantChanged { account_id, after, cascaded, chain, .. } => {
                Some((*account_id, *after, *cascaded, chain.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        lowered,
        vec![
            (s.id, terms(false, true), false, vec![s.id]),
            (u.id, terms(false, true), true, vec![s.id, u.id]),
            (leaf.id, terms(false, false), true, vec![s.id, u.id, leaf.id]),
        ]
    );
    assert_eq!(
        actions_since(&app, before).await,
        vec!["grant.change", "grant.cascade_change", "grant.cascade_change"]
    );
    app.assert_invariants().await;

    // Not above its own: the sub-reseller may not raise the user's send now,
    // nor give it a later end; the reseller, above the granter, may change
    // it within the sub-reseller's holding.
    let raise = ChangeGrant {
        number: num(&t.number),
        target: acct(u),
        send: Some(true),
        gets: None,
        expires_at: None,
    };
    let refused = app.core.change_grant(&caller(s), raise.clone(), false, "t").await;
    assert!(matches!(refused, Err(CoreError::PermissionExceeded)), "{refused:?}");
    let later = ChangeGrant { send: None, expires_at: Some(None), ..raise.clone() };
    let refused = app.core.change_grant(&caller(s), later.clone(), false, "t").await;
    assert!(matches!(refused, Err(CoreError::ExpiryExceeded)), "{refused:?}");
    let refused = app.core.change_grant(&caller(r), raise, false, "t").await;
    assert!(matches!(refused, Err(CoreError::PermissionExceeded)), "{refused:?}");
    let shorter = ChangeGrant { expires_at: Some(Some(T0 + 60)), ..later };
    app.core.change_grant(&caller(r), shorter, false, "t").await.expect("shorter");
    // Only the granter or one above it: the leaf's grant is the user's.
    let not_theirs = app
        .core
        .change_grant(
            &caller(&leaf),
            ChangeGrant { number: num(&t.number), target: acct(u), send: None, gets: None, expires_at: None },
            false,
            "t",
        )
        .await;
    assert!(matches!(not_theirs, Err(CoreError::Forbidden)), "{not_theirs:?}");
    app.assert_invariants().await;
}

async fn dry_runs_of_unassign_and_unsubscribe_write_nothing(app: TestApp) {
    let t = tree(&app).await;
    let (r, s, u) = (&t.reseller.0, &t.sub.0, &t.user.0);
    app.core.assign(&caller(r), assign_cmd(&t.number, s, true, true, None), "t").await.expect("a");
    app.core.assign(&caller(s), assign_cmd(&t.number, u, true, false, None), "t").await.expect("b");
    let before = app.history_len().await;
    let grants = app.core.snapshot().await.expect("snapshot").grants;

    let cmd = Unassign { number: num(&t.number), target: acct(s) };
    let dry = app.core.unassign(&caller(r), cmd.clone(), true, "t").await.expect("dry");
    assert!(dry.dry_run);
    let removed: Vec<(i64, Removal, Vec<i64>)> = dry
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::GrantRemoved { account_id, reason, chain, .. } => Some((*account_id, *reason, chain.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        removed,
        vec![(s.id, Removal::Unassign, vec![s.id]), (u.id, Removal::Cascade, vec![s.id, u.id])]
    );
    // Refusals are the same as the real run's.
    let wrong = Unassign { number: num(&t.number), target: acct(&t.user.0) };
    let refused = app.core.unassign(&caller(u), wrong, true, "t").await;
    assert!(matches!(refused, Err(CoreError::Forbidden) | Err(CoreError::NotVisible { .. })), "{refused:?}");

    // The owner's unsubscribe, dry: every grant and the quarantine.
    let owner_uid = uid(&t.number);
    let dry_unsub = app.core.unsubscribe(&caller(r), &owner_uid, true, "t").await.expect("dry");
    assert_eq!(dry_unsub.removed(), 2);
    assert!(dry_unsub.changes.contains(&Change::Unsubscribed {
        number_id: t.number.id,
        owner_id: r.id,
        quarantine_until: Some(T0 + 30 * DAY),
    }));
    let not_owner = app.core.unsubscribe(&caller(s), &owner_uid, true, "t").await;
    assert!(matches!(not_owner, Err(CoreError::NumberNotFound)), "{not_owner:?}");
    assert_eq!(app.history_len().await, before);
    assert_eq!(app.core.snapshot().await.expect("snapshot").grants, grants);

    let done = app.core.unassign(&caller(r), cmd, false, "t").await.expect("unassign");
    assert_eq!(done.changes, dry.changes);
    assert_eq!(app.history_len().await, before + 2);
    app.assert_invariants().await;
}

async fn bulk_is_in_order_and_atomic_only_when_asked(app: TestApp) {
    let t = tree(&app).await;
    let (r, s, u) = (&t.reseller.0, &t.sub.0, &t.user.0);
    let second = app.number("+61400000002", Some("reseller")).await;
    let items = vec![
        BulkItem::Assign(assign_cmd(&t.number, s, true, true, None)),
        BulkItem::Assign(assign_cmd(&t.number, s, true, true, None)),
        BulkItem::Assign(assign_cmd(&second, u, true, false, None)),
        BulkItem::Unassign(Unassign { number: num(&second), target: acct(s) }),
    ];
    let before = app.history_len().await;
    let atomic = app.core.bulk(&caller(r), items.clone(), true, "t").await.expect("bulk");
    assert!(!atomic.committed);
    assert!(atomic.results[0].is_ok());
    assert!(matches!(atomic.results[1], Err(CoreError::AlreadyAssigned)));
    assert!(matches!(atomic.results[2], Err(CoreError::NotAttempted)));
    assert!(matches!(atomic.results[3], Err(CoreError::NotAttempted)));
    assert_eq!(app.history_len().await, before);
    assert!(app.core.snapshot().await.expect("snapshot").grants.is_empty());

    let each = app.core.bulk(&caller(r), items, false, "t").await.expect("bulk");
    assert!(each.committed);
    assert!(each.results[0].is_ok());
    assert!(matches!(each.results[1], Err(CoreError::AlreadyAssigned)));
    assert!(each.results[2].is_ok());
    assert!(matches!(each.results[3], Err(CoreError::NotAssigned)));
    assert_eq!(app.history_len().await, before + 2);
    assert_eq!(app.core.snapshot().await.expect("snapshot").grants.len(), 2);

    // Items see the items before them.
    let chained = vec![
        BulkItem::Change(ChangeGrant {
            number: num(&second),
            target: acct(u),
            send: Some(false),
            gets: Some(true),
            expires_at: None,
        }),
        BulkItem::Unassign(Unassign { number: num(&second), target: acct(u) }),
    ];
    let done = app.core.bulk(&caller(r), chained, true, "t").await.expect("bulk");
    assert!(done.committed && done.results.iter().all(Result::is_ok));
    let too_many = vec![BulkItem::Unassign(Unassign { number: num(&second), target: acct(u) }); 1001];
    let refused = app.core.bulk(&caller(r), too_many, false, "t").await;
    assert!(matches!(refused, Err(CoreError::TooManyItems { max: 1000 })), "{refused:?}");
    app.assert_invariants().await;
}

async fn the_sweeper_ends_what_is_due_once_even_when_two_run_at_once(app: TestApp) {
    let t = tree(&app).await;
    let (r, s, u) = (&t.reseller.0, &t.sub.0, &t.user.0);
    app.account("alice", Some("admin"), false).await;
    let mut numbers = Vec::new();
    for i in 0..5 {
        let n = app.number(&format!("+6140000020{i}"), Some("reseller")).await;
        app.core.assign(&caller(r), assign_cmd(&n, s, true, true, Some(T0 + 100 + i)), "t").await.expect("a");
        app.core.assign(&caller(s), assign_cmd(&n, u, true, true, None), "t").await.expect("b");
        numbers.push(n);
    }
    app.core.assign(&caller(r), assign_cmd(&t.number, s, true, true, Some(T0 + 10 * DAY)), "t").await.expect("c");
    assert_eq!(app.core.sweep(app.clock.now()).await.expect("sweep"), Default::default());
    app.clock.advance(104);
    let before = app.history_len().await;
    // Two sweeps at once (two connections on PostgreSQL): each due item is
    // ended exactly once between them.
    let (a, b) = tokio::join!(app.core.sweep(app.clock.now()), app.core.sweep(app.clock.now()));
    let (a, b) = (a.expect("sweep"), b.expect("sweep"));
    assert_eq!(a.grants_expired + b.grants_expired, 10);
    assert_eq!(app.history_len().await, before + 10);
    let left = app.core.snapshot().await.expect("snapshot").grants;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].number_id, t.number.id);
    app.assert_invariants().await;
}

/// The set-based sweep writes what ending each number's grants in turn
/// writes (`expiries` on its grants, in id order: what the sweeper did
/// number by number): the same removals, history entries, events and
/// order, whatever the batch and the page of due ids; twin databases swept
/// with different batches and pages end up alike.
async fn the_sweep_ends_each_numbers_grants_as_its_rule_does(app: TestApp) {
    let small = Lifecycle { sweep_batch: 3, sweep_page: 7, ..TestApp::lifecycle() };
    let twin = TestApp::spawn_lifecycle(app.backend, small).await;
    expiring_world(&app).await;
    expiring_world(&twin).await;
    // Grants that outlive the grant they came from (no rule makes one: an
    // end is capped by the granter's), so that only the cascade ends them:
    // a sweep that deleted what is due and no more would leave them.
    let outlive = "UPDATE grants SET expires_at = NULL WHERE number_id = \
                   (SELECT id FROM numbers WHERE number = '+61400000101') \
                   AND granted_by <> (SELECT id FROM accounts WHERE username = 'reseller')";
    app.execute_raw(outlive).await;
    twin.execute_raw(outlive).await;
    let admin = app.core.administrator("admin").await.expect("admin");
    let twin_admin = twin.core.administrator("admin").await.expect("admin");
    let twin_before = sweep_state(&twin, &twin_admin).await;
    assert_eq!(sweep_state(&app, &admin).await, twin_before, "the worlds differ");
    app.clock.advance(100);
    twin.clock.advance(100);
    let now = app.clock.now();

    // What the rule calls for, number by number in id order.
    let before = app.core.snapshot().await.expect("snapshot");
    let mut grants = before.grants.clone();
    grants.sort_by_key(|g| (g.number_id, g.account_id));
    let (mut expected, mut granters) = (Vec::new(), std::collections::BTreeSet::new());
    for on_one in grants.chunk_by(|a, b| a.number_id == b.number_id) {
        for change in linekeeper::core::grants::expiries(on_one, now).0 {
            let Change::GrantRemoved { number_id, account_id, granted_by, reason, .. } = change else {
                panic!("expiry planned {change:?}");
            };
            assert_eq!(reason, Removal::Expire);
            granters.insert(granted_by);
            expected.push(format!(
                "grant.removed None sweeper Some({number_id}) Some({account_id}) \
                 {{\"granted_by\":{granted_by},\"reason\":\"expire\"}}"
            ));
        }
    }
    // The outliving grants are among them, by the cascade alone.
    let reseller = before.accounts.iter().find(|a| a.username == "reseller").map(|a| a.id);
    let changed = before.numbers.iter().find(|n| n.number == "+61400000101").map(|n| n.id);
    let outliving: Vec<&Grant> = before
        .grants
        .iter()
        .filter(|g| Some(g.number_id) == changed && g.expires_at.is_none())
        .filter(|g| Some(g.granted_by) != reseller)
        .collect();
    assert_eq!(outliving.len(), 2, "{outliving:?}");
    for g in &outliving {
        let planned = format!("Some({}) Some({}) ", g.number_id, g.account_id);
        assert!(expected.iter().any(|e| e.contains(&planned)), "{g:?} not planned");
    }
    // Chains three deep end with their grants: the reseller's, the sub's
    // and the user's grants.
    assert!(
        expected.len() >= 20 && granters.len() == 3,
        "{} removals by {granters:?}: the mix tests little",
        expected.len()
    );

    let events_before = sweep_state(&app, &admin).await.1.len();
    let report = app.core.sweep(now).await.expect("sweep");
    assert_eq!(report.grants_expired, expected.len());
    let (state, events) = sweep_state(&app, &admin).await;
    let swept: Vec<String> = events[events_before..]
        .iter()
        .map(|e| e.split_once(' ').map(|(_, rest)| rest.to_owned()).unwrap_or_default())
        .collect();
    assert_eq!(swept, expected);
    let after = app.core.snapshot().await.expect("snapshot");
    assert_eq!(after.history.len(), before.history.len() + expected.len());
    assert!(after.history[before.history.len()..].iter().all(|h| h.0 == "grant.expire"));
    assert!(after.grants.iter().all(|g| g.expires_at.is_none_or(|e| e > now)));

    // Batches of 3 and pages of 7: the same database.
    let twin_report = twin.core.sweep(now).await.expect("sweep");
    assert_eq!(twin_report, report);
    assert_eq!(sweep_state(&twin, &twin_admin).await, (state, events));
    assert_eq!(app.core.sweep(now).await.expect("sweep").grants_expired, 0);
    app.assert_invariants().await;
    twin.assert_invariants().await;
}
}

/// `--quarantine-days 0`: an unsubscribed number is back in the pool at once,
/// as before quarantine existed.
async fn without_quarantine_the_number_returns_to_the_pool_at_once(backend: Backend) {
    let app = TestApp::spawn_lifecycle(
        backend,
        Lifecycle {
            quarantine_secs: 0,
            ..TestApp::lifecycle()
        },
    )
    .await;
    app.account("admin", None, false).await;
    let (_, alice_key) = postpaid(&app, "alice", Some("admin"), false).await;
    let (_, bob_key) = postpaid(&app, "bob", Some("admin"), false).await;
    let number = pool_number(&app, "+61400000001", 0, 0).await;
    buy(&app, &alice_key, &number.uid).await;
    assert_eq!(
        unsubscribe(&app, &alice_key, &number.uid).await,
        (200, unsubscribed())
    );
    assert_eq!(pool_ids(&app, &bob_key).await, vec![number.uid.clone()]);
    buy(&app, &bob_key, &number.uid).await;
    app.assert_invariants().await;
}

/// `launch` runs the sweeper in the background when given an interval.
async fn the_background_sweeper_runs_beside_the_server(backend: Backend) {
    let app = TestApp::spawn_lifecycle(
        backend,
        Lifecycle {
            sweep_interval: Some(std::time::Duration::from_millis(20)),
            ..TestApp::lifecycle()
        },
    )
    .await;
    let t = tree(&app).await;
    app.core
        .assign(
            &caller(&t.reseller.0),
            assign_cmd(&t.number, &t.sub.0, true, true, Some(T0 + 60)),
            "t",
        )
        .await
        .expect("assign");
    app.clock.advance(60);
    // Wait for the sweeper's change (bounded), not for a fixed time.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let s = app.core.snapshot().await.expect("snapshot");
        if s.grants.is_empty() {
            assert_eq!(s.history.last().map(|h| h.0.as_str()), Some("grant.expire"));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sweeper did not run"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    app.assert_invariants().await;
}

mod configured {
    use super::*;
    use crate::helpers::postgres_url;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_without_quarantine() {
        without_quarantine_the_number_returns_to_the_pool_at_once(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_without_quarantine() {
        if postgres_url().is_some() {
            without_quarantine_the_number_returns_to_the_pool_at_once(Backend::Postgres).await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_background_sweeper() {
        the_background_sweeper_runs_beside_the_server(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_background_sweeper() {
        if postgres_url().is_some() {
            the_background_sweeper_runs_beside_the_server(Backend::Postgres).await
        }
    }

    #[test]
    fn iso_times_used_above_are_what_they_say() {
        assert_eq!(iso8601_utc(T0 + 3600), "2026-01-01T01:00:00.000Z");
    }
}
