//! How the downline queries behind `/api/user/*` scale: a root with 100,000
//! accounts below it, 12 levels deep, beside a second tree of 20,000.
//!
//! ```sh
//! cargo run --release --example bench_downline            # a temporary database
//! cargo run --release --example bench_downline -- --keep  # keep it and print its path
//! ```
//!
//! The trees are inserted straight through the store in large write jobs,
//! with one fixed password hash string (hashing 120,000 passwords would only
//! time argon2). Each figure is the median (and the slowest) of several runs
//! of the same read, through the same code the routes use.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use linekeeper::core::accounts::visible_account;
use linekeeper::core::{Caller, Core, CoreError};
use linekeeper::domain::{SystemClock, TokenKind};
use linekeeper::store::{Account, DownlineFilter, NewAccount, Page, Relation, Store, StoreOptions};

/// Accounts per level below the measured root: 100,000 in all, 12 levels.
const LEVELS: [usize; 12] = [
    10, 50, 200, 500, 1_000, 2_000, 4_000, 8_000, 14_000, 20_000, 25_000, 25_240,
];
/// Accounts per level below the other root: 20,000 in all, 6 levels.
const OTHER_LEVELS: [usize; 6] = [20, 180, 800, 2_000, 5_000, 12_000];
const JOB_ROWS: usize = 20_000;

fn new_account(
    username: String,
    parent: Option<&Account>,
    is_reseller: bool,
    n: usize,
) -> NewAccount {
    // A few name shapes so that a substring filter matches a realistic share.
    let names = [
        "Ali Rezaei",
        "Sara Ahmadi",
        "Reza Karimi",
        "Maryam Hosseini",
        "Hamid Moradi",
    ];
    NewAccount {
        name: format!("{} {n}", names[n % names.len()]),
        ..common::account(username, parent, is_reseller, 1_767_225_600 + n as i64)
    }
}

/// Inserts `levels` below a new root named `root`; returns every level's
/// accounts (the root's level first).
async fn build_tree(
    store: &Store,
    root: &str,
    prefix: &str,
    levels: &[usize],
) -> Result<Vec<Vec<Account>>, CoreError> {
    let spec = new_account(root.to_owned(), None, false, 0);
    let root = store
        .write(move |tx| Ok::<_, CoreError>(tx.insert_account(&spec)?))
        .await?;
    let mut tree = vec![vec![root]];
    let mut serial = 0usize;
    for (depth, &count) in levels.iter().enumerate() {
        let parents = tree[depth].clone();
        let leaf_level = depth + 1 == levels.len();
        let mut level = Vec::with_capacity(count);
        let mut specs = Vec::with_capacity(count);
        for j in 0..count {
            serial += 1;
            // Node j's parent is node j mod |parents| of the level above, so
            // every node of the level above has children.
            let parent = &parents[j % parents.len()];
            specs.push(new_account(
                format!("{prefix}{serial}"),
                Some(parent),
                !leaf_level,
                serial,
            ));
        }
        for chunk in specs.chunks(JOB_ROWS) {
            let chunk = chunk.to_vec();
            let made = store
                .write(move |tx| {
                    chunk
                        .iter()
                        .map(|s| tx.insert_account(s).map_err(CoreError::from))
                        .collect::<Result<Vec<_>, _>>()
                })
                .await?;
            level.extend(made);
        }
        tree.push(level);
    }
    Ok(tree)
}

/// Runs `f` `runs` times; returns the median and the slowest run.
async fn time<T, F, Fut>(runs: usize, mut f: F) -> (Duration, Duration, T)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut samples = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        last = Some(f().await);
        samples.push(start.elapsed());
    }
    samples.sort();
    let out = last.expect("at least one run");
    (samples[runs / 2], samples[runs - 1], out)
}

fn ms(d: Duration) -> String {
    format!("{:8.3} ms", d.as_secs_f64() * 1e3)
}

fn report(what: &str, (median, max): (Duration, Duration), result: &str) {
    println!("{what:<58} median {} max {}  {result}", ms(median), ms(max));
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keep = std::env::args().any(|a| a == "--keep");
    let dir =
        std::env::temp_dir().join(format!("linekeeper-bench-downline-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("bench.db");
    let store = Store::open(
        &format!("sqlite://{}", db.display()),
        &StoreOptions::default(),
    )?;

    let start = Instant::now();
    let tree = build_tree(&store, "root", "u", &LEVELS).await?;
    build_tree(&store, "other", "o", &OTHER_LEVELS).await?;
    println!(
        "built 120,002 accounts (100,000 below `root`, 12 levels; 20,000 below `other`) in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let core = Core::new(store.clone(), Arc::new(SystemClock))?;
    let caller = |a: &Account| Caller {
        account: a.clone(),
        kind: TokenKind::ApiKey,
        digest: String::new(),
    };
    let root = tree[0][0].clone();
    let deep = tree[12][tree[12].len() / 2].clone();
    let mid = tree[3][7].clone();
    println!("deep account: id {} path {}", deep.id, deep.path);

    let filters: [(&str, DownlineFilter); 6] = [
        ("no filter", DownlineFilter::default()),
        (
            "username contains \"u123\"",
            DownlineFilter {
                username: Some("u123".into()),
                ..Default::default()
            },
        ),
        (
            "name contains \"reza\"",
            DownlineFilter {
                name: Some("reza".into()),
                ..Default::default()
            },
        ),
        (
            "is_reseller=no",
            DownlineFilter {
                is_reseller: Some(false),
                ..Default::default()
            },
        ),
        (
            "sub_reseller=0 (direct)",
            DownlineFilter {
                relation: Some(Relation::Direct),
                ..Default::default()
            },
        ),
        (
            "sub_reseller=1 (indirect)",
            DownlineFilter {
                relation: Some(Relation::Indirect),
                ..Default::default()
            },
        ),
    ];
    for (label, of) in [("root (100,000 below)", &root), ("level-3 reseller", &mid)] {
        println!("\n== downline of {label}, id {} ==", of.id);
        for (name, filter) in &filters {
            let count = {
                let (of, filter) = (of.clone(), filter.clone());
                time(15, || {
                    let (of, filter) = (of.clone(), filter.clone());
                    store.read(move |tx| tx.count_downline(&of, &filter))
                })
                .await
            };
            let total = count.2?;
            report(
                &format!("[{name}] total"),
                (count.0, count.1),
                &format!("total={total}"),
            );
            // Page 1, and the page holding the middle of the list, and the last.
            let last_page = (total.max(1) + 9) / 10;
            for page_no in [1, ((last_page + 1) / 2).max(1), last_page] {
                let page = Page {
                    offset: (page_no - 1) * 10,
                    limit: 10,
                };
                let (of, filter) = (of.clone(), filter.clone());
                let r = time(15, || {
                    let (of, filter) = (of.clone(), filter.clone());
                    store.read(move |tx| tx.downline(&of, &filter, page))
                })
                .await;
                let rows = r.2?.len();
                report(
                    &format!("[{name}] page {page_no} of {last_page}"),
                    (r.0, r.1),
                    &format!("rows={rows}"),
                );
            }
            let c = caller(of);
            let r = time(15, || {
                core.downline(
                    &c,
                    filter.clone(),
                    Page {
                        offset: 0,
                        limit: 10,
                    },
                )
            })
            .await;
            report(
                &format!("[{name}] whole route read: page 1 + total"),
                (r.0, r.1),
                &format!("total={}", r.2?.total),
            );
        }
    }

    println!("\n== one deep account (level 12) ==");
    let c = caller(&root);
    let r = time(200, || core.show_account(&c, deep.id)).await;
    let view = r.2?;
    report(
        "show (as root)",
        (r.0, r.1),
        &format!("parent={:?}", view.parent.map(|p| p.id)),
    );
    let r = time(200, || core.ancestry(&c, deep.id)).await;
    let found = r.2?;
    report(
        "parents_tree (as root)",
        (r.0, r.1),
        &format!("chain={}", found.chain.len()),
    );
    let inside = tree[3]
        .iter()
        .find(|a| deep.path.starts_with(&a.path))
        .cloned()
        .ok_or("no level-3 ancestor")?;
    let outside = tree[3]
        .iter()
        .find(|a| !deep.path.starts_with(&a.path))
        .cloned()
        .ok_or("no level-3 stranger")?;
    for (label, r_acc) in [
        ("T in R's downline", &inside),
        ("T not in R's downline", &outside),
    ] {
        let (r_acc, t) = (r_acc.clone(), deep.id);
        let r = time(200, || {
            let r_acc = r_acc.clone();
            store.read(move |tx| Ok::<_, CoreError>(visible_account(tx, &r_acc, t).is_ok()))
        })
        .await;
        report(
            &format!("is T in R's downline? ({label})"),
            (r.0, r.1),
            &format!("answer={}", r.2?),
        );
    }

    if keep {
        println!("\ndatabase kept at {}", db.display());
    } else {
        drop(core);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
