//! What the sweeper's expiries cost inside the store's writer, grant by
//! grant: `GRANTS` grants ending at one second, each on its own number, a
//! fifth of them with a grant made from them (which goes with them, a
//! cascade, ending with it), beside as many grants with no end; then one [`Core::sweep`]
//! past that second, with no HTTP and no other load.
//!
//! ```sh
//! cargo run --release --example bench_sweep                    # a temporary SQLite database
//! cargo run --release --example bench_sweep -- postgres://postgres@127.0.0.1:5432/lk_sweep
//!                                                              # an existing, empty database
//! valgrind --tool=callgrind --toggle-collect='*lifecycle*' target/release/examples/bench_sweep
//! ```
//!
//! `LK_SWEEP_GRANTS` sets how many grants end (default 20,000).

mod common;

use std::sync::Arc;
use std::time::Instant;

use linekeeper::core::{Core, CoreError, Lifecycle};
use linekeeper::domain::{Cycle, SystemClock};
use linekeeper::store::{Account, Grant, NewAccount, Store, StoreOptions, Subscription};

const BASE: i64 = 1_767_225_600;
/// The second every expiring grant ends at.
const ENDS: i64 = BASE + 3_600;

fn account(username: String, parent: Option<&Account>, is_reseller: bool) -> NewAccount {
    common::account(username, parent, is_reseller, BASE)
}

fn grant(number_id: i64, account_id: i64, granted_by: i64, expires_at: Option<i64>) -> Grant {
    Grant {
        number_id,
        account_id,
        granted_by,
        send: true,
        gets: true,
        created_at: BASE,
        expires_at,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("linekeeper-bench-sweep-{}", std::process::id()));
    let url = match std::env::args().nth(1) {
        Some(url) => url,
        None => {
            std::fs::create_dir_all(&dir)?;
            format!("sqlite://{}", dir.join("bench.db").display())
        }
    };
    let grants: usize = std::env::var("LK_SWEEP_GRANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    // Outside the runtime: the PostgreSQL client blocks while it connects.
    let store = Store::open(&url, &StoreOptions::default())?;
    let ran = tokio::runtime::Runtime::new()?.block_on(run(store, grants));
    let _ = std::fs::remove_dir_all(&dir);
    ran
}

async fn run(store: Store, grants: usize) -> Result<(), Box<dyn std::error::Error>> {
    let accounts = store
        .write(|tx| {
            let admin = tx.insert_account(&account("admin".into(), None, false))?;
            let reseller = tx.insert_account(&account("reseller".into(), Some(&admin), true))?;
            let child = tx.insert_account(&account("child".into(), Some(&reseller), true))?;
            let grandchild =
                tx.insert_account(&account("grandchild".into(), Some(&child), false))?;
            let other = tx.insert_account(&account("other".into(), Some(&reseller), false))?;
            Ok::<_, CoreError>([reseller.id, child.id, grandchild.id, other.id])
        })
        .await?;
    let [reseller, child, grandchild, other] = accounts;
    for chunk in (0..grants as u64).collect::<Vec<_>>().chunks(5_000) {
        let chunk = chunk.to_vec();
        store
            .write(move |tx| {
                for i in &chunk {
                    let n = tx.insert_number(&common::number(
                        format!("u{i}"),
                        format!("+98{}", 1_000_000_000 + i),
                    ))?;
                    let sub = Subscription {
                        owner_id: reseller,
                        cycle: Cycle::Month,
                        resubscribe: false,
                        subscribed_at: BASE,
                    };
                    tx.subscribe_number(n.id, &sub)?;
                    tx.insert_grant(&grant(n.id, child, reseller, Some(ENDS)))?;
                    tx.insert_grant(&grant(n.id, other, reseller, None))?;
                    if i % 5 == 0 {
                        tx.insert_grant(&grant(n.id, grandchild, child, Some(ENDS)))?;
                    }
                }
                Ok::<_, CoreError>(())
            })
            .await?;
    }
    let lifecycle = Lifecycle {
        sweep_interval: None,
        ..Lifecycle::default()
    };
    let core = Core::new(store.clone(), Arc::new(SystemClock))?.with_lifecycle(lifecycle);
    let start = Instant::now();
    let report = core.sweep(ENDS).await?;
    let took = start.elapsed();
    let expected = grants + grants.div_ceil(5);
    if report.grants_expired != expected {
        return Err(format!(
            "{} grants expired, {expected} expected",
            report.grants_expired
        )
        .into());
    }
    println!(
        "{} grants on {grants} numbers expired in {:.2} s: {:.1} µs a grant",
        report.grants_expired,
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / report.grants_expired as f64
    );
    Ok(())
}
