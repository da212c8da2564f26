//! What one bulk request costs inside the store's writer, item by item:
//! [`Core::bulk`] of 1,000 assigns by a reseller to its children, then the
//! same 1,000 as unassigns, repeated, with no HTTP around it (the native
//! face's parsing and rendering are not in these figures; `linekeeper
//! bench`'s `bulk_assign` has them).
//!
//! ```sh
//! cargo run --release --example bench_bulk                     # a temporary SQLite database
//! cargo run --release --example bench_bulk -- postgres://postgres@127.0.0.1:5432/lk_bulk
//!                                                              # an existing, empty database
//! valgrind --tool=callgrind --toggle-collect='*bulk::run_items*' target/release/examples/bench_bulk
//! ```
//!
//! The world: an administrator, a reseller below it owning `NUMBERS`
//! numbers (plus as many again owned by a second reseller, so the tables are
//! not the bulk's alone), and `CHILDREN` accounts below the reseller.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use linekeeper::core::{AccountRef, Assign, BulkItem, Caller, Core, CoreError, NumberRef, Perms};
use linekeeper::core::{Unassign, bulk::MAX_ITEMS};
use linekeeper::domain::{Cycle, SystemClock, TokenKind};
use linekeeper::store::{Account, NewAccount, Store, StoreOptions, Subscription};

const NUMBERS: usize = 20_000;
const CHILDREN: usize = 200;
const ROUNDS: usize = 10;

fn account(username: String, parent: Option<&Account>, is_reseller: bool) -> NewAccount {
    common::account(username, parent, is_reseller, 1_767_225_600)
}

/// `count` numbers owned by `owner`, their E.164s from `first`.
async fn numbers(
    store: &Store,
    owner: i64,
    first: u64,
    count: usize,
) -> Result<Vec<i64>, CoreError> {
    let mut ids = Vec::with_capacity(count);
    for chunk in (0..count as u64).collect::<Vec<_>>().chunks(5_000) {
        let chunk = chunk.to_vec();
        let made = store
            .write(move |tx| {
                let mut made = Vec::with_capacity(chunk.len());
                for i in &chunk {
                    let n = tx.insert_number(&common::number(
                        format!("u{}", first + i),
                        format!("+98{}", first + i),
                    ))?;
                    let sub = Subscription {
                        owner_id: owner,
                        cycle: Cycle::Month,
                        resubscribe: false,
                        subscribed_at: 1_767_225_600,
                    };
                    tx.subscribe_number(n.id, &sub)?;
                    made.push(n.id);
                }
                Ok::<_, CoreError>(made)
            })
            .await?;
        ids.extend(made);
    }
    Ok(ids)
}

fn per_item(d: Duration, items: usize) -> String {
    format!("{:7.1} µs/item", d.as_secs_f64() * 1e6 / items as f64)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("linekeeper-bench-bulk-{}", std::process::id()));
    let url = match std::env::args().nth(1) {
        Some(url) => url,
        None => {
            std::fs::create_dir_all(&dir)?;
            format!("sqlite://{}", dir.join("bench.db").display())
        }
    };
    // Outside the runtime: the PostgreSQL client blocks while it connects.
    let store = Store::open(&url, &StoreOptions::default())?;
    let ran = tokio::runtime::Runtime::new()?.block_on(run(store));
    let _ = std::fs::remove_dir_all(&dir);
    ran
}

async fn run(store: Store) -> Result<(), Box<dyn std::error::Error>> {
    let (admin, reseller, other) = store
        .write(|tx| {
            let admin = tx.insert_account(&account("admin".into(), None, false))?;
            let reseller = tx.insert_account(&account("reseller".into(), Some(&admin), true))?;
            let other = tx.insert_account(&account("other".into(), Some(&admin), true))?;
            Ok::<_, CoreError>((admin, reseller, other))
        })
        .await?;
    let parent = reseller.clone();
    let children = store
        .write(move |tx| {
            (0..CHILDREN)
                .map(|i| Ok(tx.insert_account(&account(format!("c{i}"), Some(&parent), true))?))
                .collect::<Result<Vec<_>, CoreError>>()
        })
        .await?;
    let mine = numbers(&store, reseller.id, 1_000_000_000, NUMBERS).await?;
    numbers(&store, other.id, 2_000_000_000, NUMBERS).await?;
    drop(admin);
    let core = Core::new(store.clone(), Arc::new(SystemClock))?;
    let caller = Caller {
        account: reseller,
        kind: TokenKind::ApiKey,
        digest: String::new(),
    };
    let (mut assigns, mut unassigns) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let batch = &mine[(round * MAX_ITEMS) % NUMBERS..][..MAX_ITEMS];
        let pairs: Vec<(i64, i64)> = batch
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, children[i % CHILDREN].id))
            .collect();
        let assign = pairs
            .iter()
            .map(|&(n, a)| {
                BulkItem::Assign(Assign {
                    number: NumberRef {
                        id: Some(n),
                        ..NumberRef::default()
                    },
                    target: AccountRef {
                        id: Some(a),
                        username: None,
                    },
                    perms: Perms::ALL,
                    expires_at: None,
                })
            })
            .collect();
        let unassign = pairs
            .iter()
            .map(|&(n, a)| {
                BulkItem::Unassign(Unassign {
                    number: NumberRef {
                        id: Some(n),
                        ..NumberRef::default()
                    },
                    target: AccountRef {
                        id: Some(a),
                        username: None,
                    },
                })
            })
            .collect();
        for (items, times) in [(assign, &mut assigns), (unassign, &mut unassigns)] {
            let start = Instant::now();
            let ran = core.bulk(&caller, items, false, "bench-bulk").await?;
            times.push(start.elapsed());
            let failed = ran.results.iter().filter(|r| r.is_err()).count();
            if failed > 0 || !ran.committed {
                return Err(format!("{failed} items failed").into());
            }
        }
    }
    for (what, times) in [("assign", &mut assigns), ("unassign", &mut unassigns)] {
        times.sort();
        println!(
            "{what:<8} {MAX_ITEMS} items: median {} (min {}, max {})",
            per_item(times[ROUNDS / 2], MAX_ITEMS),
            per_item(times[0], MAX_ITEMS),
            per_item(times[ROUNDS - 1], MAX_ITEMS)
        );
    }
    Ok(())
}
