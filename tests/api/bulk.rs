//! A bulk request answers every item exactly as the item's own request
//! would have, in order (DOMAIN.md, NATIVE_API.md `POST /lk/v1/grants/bulk`):
//! the same outcome or error, the same grants after it, the same history
//! and events. Two databases are built alike; one runs the items as one
//! bulk request, the other runs them one by one through the single rules,
//! and everything is compared. The items are a seeded mix of every kind of
//! reference (id, E.164, uid, username, a name of nothing, an id with the
//! wrong E.164), every command, ends in the past and the future, and
//! grants already past their end when the request runs.

use std::time::Duration;

use linekeeper::core::{
    AccountRef, Assign, BulkItem, Caller, ChangeGrant, Core, CoreError, NumberRef, Outcome, Perms,
    Unassign,
};
use linekeeper::domain::TokenKind;
use linekeeper::store::{Account, Number};

use crate::helpers::{T0, TestApp};

fn caller(account: &Account) -> Caller {
    Caller {
        account: account.clone(),
        kind: TokenKind::ApiKey,
        digest: String::new(),
    }
}

/// The accounts and numbers of one world, as both databases have them.
struct World {
    admin: Account,
    reseller: Account,
    sub: Account,
    accounts: Vec<Account>,
    numbers: Vec<Number>,
}

/// admin → reseller (owns six numbers) → sub → user → leaf, reseller →
/// side; admin → other (owns one number the reseller cannot see). Grants
/// made at T0, some ending at T0 + 50, then the clock moves to T0 + 100.
async fn world(app: &TestApp) -> World {
    let (admin, _) = app.account("admin", None, false).await;
    let (reseller, _) = app.account("reseller", Some("admin"), true).await;
    let (sub, _) = app.account("sub", Some("reseller"), true).await;
    let (user, _) = app.account("user", Some("sub"), true).await;
    let (leaf, _) = app.account("leaf", Some("user"), false).await;
    let (side, _) = app.account("side", Some("reseller"), true).await;
    let (other, _) = app.account("other", Some("admin"), true).await;
    let mut numbers = Vec::new();
    for i in 1..=6 {
        numbers.push(
            app.number(&format!("+6140000000{i}"), Some("reseller"))
                .await,
        );
    }
    numbers.push(app.number("+61400000009", Some("other")).await);
    let (r, s) = (caller(&reseller), caller(&sub));
    let grant = |n: &Number, to: &Account, end: Option<i64>| Assign {
        number: NumberRef {
            id: Some(n.id),
            ..NumberRef::default()
        },
        target: AccountRef {
            id: Some(to.id),
            username: None,
        },
        perms: Perms::ALL,
        expires_at: end,
    };
    let core = &app.core;
    core.assign(&r, grant(&numbers[0], &sub, Some(T0 + 50)), "seed")
        .await
        .expect("grant");
    core.assign(&s, grant(&numbers[0], &user, None), "seed")
        .await
        .expect("grant");
    core.assign(&r, grant(&numbers[1], &side, None), "seed")
        .await
        .expect("grant");
    core.assign(&r, grant(&numbers[2], &sub, Some(T0 + 5_000)), "seed")
        .await
        .expect("grant");
    core.assign(&s, grant(&numbers[2], &user, None), "seed")
        .await
        .expect("grant");
    app.clock.advance(100);
    World {
        admin,
        reseller,
        sub: sub.clone(),
        accounts: vec![sub, user, leaf, side, other],
        numbers,
    }
}

/// A small deterministic generator (the items must be the same in both
/// databases and from run to run).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn items(w: &World, seed: u64, count: usize) -> Vec<BulkItem> {
    let mut rng = Lcg(seed);
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let n = &w.numbers[rng.below(w.numbers.len() as u64) as usize];
        let number = match rng.below(20) {
            0 => NumberRef {
                e164: Some(n.number.clone()),
                ..NumberRef::default()
            },
            1 => NumberRef {
                uid: Some(n.uid.clone()),
                ..NumberRef::default()
            },
            2 => NumberRef {
                id: Some(n.id),
                e164: Some("+61499999999".into()),
                uid: None,
            },
            3 => NumberRef {
                id: Some(99_999),
                ..NumberRef::default()
            },
            4 => NumberRef {
                e164: Some("+61499999998".into()),
                ..NumberRef::default()
            },
            _ => NumberRef {
                id: Some(n.id),
                ..NumberRef::default()
            },
        };
        let a = &w.accounts[rng.below(w.accounts.len() as u64) as usize];
        let target = match rng.below(20) {
            0 => AccountRef {
                id: None,
                username: Some(a.username.to_uppercase()),
            },
            1 => AccountRef {
                id: None,
                username: Some("nobody".into()),
            },
            2 => AccountRef {
                id: Some(88_888),
                username: None,
            },
            3 => AccountRef {
                id: Some(w.reseller.id),
                username: None,
            },
            4 => AccountRef {
                id: Some(w.admin.id),
                username: None,
            },
            5 => AccountRef {
                id: Some(a.id),
                username: Some("someone-else".into()),
            },
            _ => AccountRef {
                id: Some(a.id),
                username: None,
            },
        };
        let end = match rng.below(6) {
            0 => Some(T0 + 60),
            1 => Some(T0 + 2_000),
            2 => Some(T0 + 9_000),
            _ => None,
        };
        let flag = |rng: &mut Lcg| rng.below(4) != 0;
        out.push(match rng.below(3) {
            0 => BulkItem::Assign(Assign {
                number,
                target,
                perms: Perms {
                    send: flag(&mut rng),
                    gets: flag(&mut rng),
                },
                expires_at: end,
            }),
            1 => BulkItem::Change(ChangeGrant {
                number,
                target,
                send: (rng.below(3) != 0).then(|| flag(&mut rng)),
                gets: (rng.below(3) != 0).then(|| flag(&mut rng)),
                expires_at: match rng.below(3) {
                    0 => Some(end),
                    _ => None,
                },
            }),
            _ => BulkItem::Unassign(Unassign { number, target }),
        });
    }
    out
}

/// Each item through its own rule, one request each, as `caller`.
async fn one_by_one(core: &Core, caller: &Caller, items: &[BulkItem]) -> Vec<String> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let r: Result<Outcome, CoreError> = match item.clone() {
            BulkItem::Assign(cmd) => core.assign(caller, cmd, "t").await,
            BulkItem::Change(cmd) => core.change_grant(caller, cmd, false, "t").await,
            BulkItem::Unassign(cmd) => core.unassign(caller, cmd, false, "t").await,
        };
        out.push(format!("{r:?}"));
    }
    out
}

fn answers(results: &[Result<Outcome, CoreError>]) -> Vec<String> {
    results.iter().map(|r| format!("{r:?}")).collect()
}

/// What the two databases must agree on: the grants, and every history
/// entry and event (the ids included: both started empty and wrote alike).
async fn state(app: &TestApp, admin: &Account) -> (String, Vec<String>) {
    let s = app.core.snapshot().await.expect("snapshot");
    let mut grants = s.grants.clone();
    grants.sort_by_key(|g| (g.number_id, g.account_id));
    let events = app
        .core
        .events(&caller(admin), 0, 100_000, Duration::ZERO)
        .await
        .expect("events");
    let events = crate::helpers::event_lines(&events);
    (
        format!(
            "{grants:?}\n{:?}\n{:?}\n{:?}",
            s.history, s.history_ids, s.events
        ),
        events,
    )
}

crate::scenarios! {
async fn a_bulk_answers_each_item_as_its_own_request_would(app: TestApp) {
    let twin = TestApp::spawn_on(app.backend).await;
    let (w, tw) = (world(&app).await, world(&twin).await);
    assert_eq!(state(&app, &w.admin).await, state(&twin, &tw.admin).await, "the worlds differ");
    for (who, seed) in [(&w.reseller, 7), (&w.sub, 11), (&w.reseller, 23)] {
        let me = caller(who);
        // The same choices in both; a number's uid is each database's own.
        let (items, twin_items) = (items(&w, seed, 300), items(&tw, seed, 300));
        let before = state(&app, &w.admin).await;

        // Atomic: the items up to the first refusal answer as alone, the
        // refusal as alone, the rest are not attempted, and nothing is written.
        let atomic = app.core.bulk(&me, items.clone(), true, "t").await.expect("bulk");
        let dry = app.core.bulk_dry_run(&me, items.clone(), false).await.expect("dry run");
        let alone = one_by_one(&twin.core, &me, &twin_items).await;
        let first = alone.iter().position(|a| a.starts_with("Err")).expect("some item is refused");
        assert!(!atomic.committed);
        assert_eq!(answers(&atomic.results)[..=first], alone[..=first], "seed {seed}");
        assert!(atomic.results[first + 1..].iter().all(|r| matches!(r, Err(CoreError::NotAttempted))));
        assert_eq!(state(&app, &w.admin).await, before, "an atomic bulk that failed wrote");

        // A dry run: the same answers, marked, and nothing written.
        assert!(!dry.committed);
        let unmarked: Vec<String> = dry
            .results
            .into_iter()
            .map(|r| format!("{:?}", r.map(|o| Outcome { dry_run: false, ..o })))
            .collect();
        assert_eq!(unmarked, alone, "seed {seed}: dry run");
        assert_eq!(state(&app, &w.admin).await, before, "a dry run wrote");

        // Item by item: every answer as alone, and the same database after.
        let each = app.core.bulk(&me, items, false, "t").await.expect("bulk");
        assert!(each.committed);
        let done = each.results.iter().filter(|r| r.is_ok()).count();
        assert!(done >= 10, "seed {seed}: only {done} items succeeded; the mix tests little");
        assert_eq!(answers(&each.results), alone, "seed {seed}");
        assert_eq!(state(&app, &w.admin).await, state(&twin, &tw.admin).await, "seed {seed}");
        app.assert_invariants().await;
        app.clock.advance(1_000);
        twin.clock.advance(1_000);
    }
}
}
