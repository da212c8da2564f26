//! `linekeeper bench`: linekeeper measured against its own ceiling.
//!
//! One run seeds a world into a fresh temporary database (SQLite by default,
//! a new database on the given PostgreSQL server otherwise), starts this same
//! binary as a server process on it, and drives bounded load over keep-alive
//! connections to 127.0.0.1 from this process. Each scenario runs for
//! `--duration` seconds on `--connections` connections:
//!
//! * `ceiling`: `GET /healthz`, the fastest answer the server can give;
//! * `list`: `GET /api/number/numbers` page 1 of 50, as random holders;
//! * `list_big`: the same as the holder of [`BIG_HOLDER`] numbers (or of
//!   `--numbers`, if fewer);
//! * `list_small`: the same as the holder of [`SMALL_HOLDER`] numbers, in the
//!   same skewed world (one holder of 100,000 beside holders of a few);
//! * `assign_unassign`: assign then unassign, as random resellers on numbers
//!   they own and accounts of their downline;
//! * `assign_unassign_webhook`: the same with one webhook endpoint
//!   subscribed to every event, at a receiver in the bench process that
//!   answers 204 at once; the report adds its throughput as a share of
//!   `assign_unassign`'s and the delivery lag (from each mutation's answer,
//!   matched by the request id on the answer and in the event, to the
//!   delivery's arrival), and how many were still undelivered 5 s after;
//! * `unsubscribe_subscribe`: unsubscribe then purchase-postpaid, as owners;
//! * `routing`: `GET /lk/v1/routing/{e164}` of random numbers of the world,
//!   as the administrator;
//! * `history`: `GET /lk/v1/numbers/{number}/history`, the first page of a
//!   number with [`HISTORY_ENTRIES`] entries, as its owner;
//! * `native_list`: `GET /lk/v1/numbers`, the first page, as a holder of
//!   [`BIG_HOLDER`] numbers (or of `--numbers`, if fewer);
//! * `native_list_small`: the same as a holder of [`SMALL_HOLDER`] numbers;
//! * `login`: `POST /api/acl/auth/login` (argon2id, by design the slowest).
//!
//! The two holders own numbers seeded for them beyond `--numbers`, so the
//! other scenarios' world is the same with or without them.
//!
//! On PostgreSQL the same run also measures the server's own ceiling with
//! `pgbench` (see [`pgbench`]): `-N` (small write transactions) and `-S`
//! (one-row reads), 16 clients, prepared statements, for `--duration` each;
//! the report gives `assign_unassign` as a share of the first and the lists
//! as a share of the second.
//!
//! Each connection works on numbers of its own, so every request of the
//! paired scenarios is expected to succeed: any non-2xx answer is counted.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

use super::stress::Rng;
use crate::client::HttpClient;
use crate::core::admin::{NumberSpec, add_number, create_account};
use crate::core::auth::issue;
use crate::core::grants::{AccountRef, Assign, NumberRef, Perms, assign};
use crate::core::{Core, CoreError};
use crate::domain::{E164, TokenKind, TokenSecret, hex, random_bytes};
use crate::store::{Cycle, NewAccount, NewToken, Subscription, Tx};

/// What to measure.
#[derive(Clone, Debug)]
pub struct Plan {
    pub duration: Duration,
    pub connections: usize,
    pub numbers: usize,
    pub accounts: usize,
    pub depth: usize,
}

/// The password every bench account shares (hashed once).
const PASSWORD: &str = "Bench-pass-1";
const RID: &str = "bench-seed";

/// Rows per seeding transaction. Small on purpose: within one SQLite
/// savepoint every statement's release walks the in-memory sub-journal,
/// which grows with the pages the job has touched, so a job's cost grows with
/// the square of its size (at a million numbers, 1,000-row jobs made seeding
/// take minutes).
const SEED_JOB: usize = 100;

/// Numbers the big holder of `native_list` owns (at most `--numbers`).
pub const BIG_HOLDER: usize = 100_000;
/// Numbers the small holder of `native_list_small` owns.
pub const SMALL_HOLDER: usize = 10;
/// History entries of the `history` scenario's number (besides its own).
pub const HISTORY_ENTRIES: usize = 10_000;

/// One account of the world, as the load generator needs it.
struct Member {
    id: i64,
    username: String,
    key: String,
}

/// The seeded world, reduced to what the scenarios use.
pub struct World {
    members: Vec<Member>,
    /// Members that hold at least one number.
    holders: Vec<usize>,
    /// `(owner member, number id, a downline member without a grant on it)`.
    pairs: Vec<(usize, i64, usize)>,
    /// `(owner member, number uid)`.
    owned: Vec<(usize, String)>,
    /// The E.164 of every number of the world (not the two holders').
    e164s: Vec<String>,
    /// The API keys of the big and the small holder.
    big_key: String,
    small_key: String,
    /// The number with [`HISTORY_ENTRIES`] entries (the big holder's).
    history_number: i64,
    pub grants: usize,
    /// When each mutation of `assign_unassign_webhook` was answered, by its
    /// request id (the delivery lag's start).
    pub answered: std::sync::Mutex<Vec<(String, Instant)>>,
    /// The sweep measurement's grants: the big holder (the granting
    /// account), the small holder (the target) and the big holder's numbers.
    expiring: (crate::store::Account, i64, Vec<i64>),
    /// Items the `bulk_assign` scenario sent.
    pub bulk_items: std::sync::atomic::AtomicU64,
}

/// Seeds the world: an administrator above a reseller tree `depth` levels
/// deep (plain users at the bottom level), `numbers` numbers of which 60% are
/// owned by resellers of the first two levels, and about two grants per
/// owned... enough chains down the tree to reach `2 × numbers` grants.
pub async fn seed(core: &Core, url: &str, plan: &Plan) -> Result<World, String> {
    let err = |e: CoreError| e.to_string();
    let mut rng = Rng::seed_from_u64(0x5EED);
    let password_hash = tokio::task::spawn_blocking(|| crate::core::auth::hash_password(PASSWORD))
        .await
        .map_err(|e| e.to_string())?
        .map_err(err)?;
    let depth = plan.depth.max(2);
    let accounts = plan.accounts.max(depth + 1);
    let now = core.now();
    let started = Instant::now();
    let phase = |what: &str, n: usize| {
        eprintln!(
            "seeding: {n} {what} by {:.1} s",
            started.elapsed().as_secs_f64()
        )
    };

    // Level sizes grow geometrically from 10 at the top, so every account
    // has a few children and grant chains can run the whole depth (evenly
    // sized levels leave about one child per account, and chains end early).
    let total = accounts - 1;
    let first = 10.min(total / depth).max(1);
    let sum = |r: f64| {
        (0..depth)
            .map(|l| first as f64 * r.powi(l as i32))
            .sum::<f64>()
    };
    let (mut lo, mut hi) = (1.0f64, 1000.0f64);
    for _ in 0..200 {
        let mid = (lo + hi) / 2.0;
        if sum(mid) < total as f64 {
            lo = mid
        } else {
            hi = mid
        }
    }
    let mut sizes: Vec<usize> = (0..depth)
        .map(|l| (first as f64 * lo.powi(l as i32)).round().max(1.0) as usize)
        .collect();
    let others: usize = sizes[..depth - 1].iter().sum();
    sizes[depth - 1] = total.saturating_sub(others).max(1);
    let mut tag = [0u8; 3];
    random_bytes(&mut tag);
    let tag = hex(&tag);
    // (parent index, level) per account, index 0 the administrator.
    let mut shape: Vec<(Option<usize>, usize)> = vec![(None, 0)];
    let mut previous: Vec<usize> = vec![0];
    for (l, &size) in sizes.iter().enumerate() {
        let mut current = Vec::with_capacity(size);
        for _ in 0..size {
            let parent = previous[rng.random_range(0..previous.len())];
            current.push(shape.len());
            shape.push((Some(parent), l + 1));
        }
        previous = current;
    }
    let shape = Arc::new(shape);
    let (hash, tag2, levels) = (password_hash.clone(), tag.clone(), depth);
    let shape2 = shape.clone();
    // Each account as created, with its API key.
    let created: Vec<(crate::store::Account, String)> = core
        .seed(move |tx| {
            let mut out: Vec<(crate::store::Account, String)> = Vec::with_capacity(shape2.len());
            for (i, (parent, level)) in shape2.iter().enumerate() {
                let username = format!("b{tag2}-{i}");
                let parent = parent.map(|p| (out[p].0.id, out[p].0.path.clone()));
                let made = member(tx, username, &hash, *level < levels, parent, now)?;
                out.push(made);
            }
            Ok(out)
        })
        .await
        .map_err(err)?;
    phase("accounts", created.len());
    analyze(url).await?;
    let members: Vec<Member> = created
        .iter()
        .map(|(account, key)| Member {
            id: account.id,
            username: account.username.clone(),
            key: key.clone(),
        })
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); shape.len()];
    for (i, (parent, _)) in shape.iter().enumerate() {
        if let Some(p) = parent {
            children[*p].push(i);
        }
    }
    let top: Vec<usize> = (0..shape.len())
        .filter(|&i| matches!(shape[i].1, 1 | 2))
        .collect();

    // Numbers, in jobs of one transaction each; owners chosen here.
    let prefix = 200 + u32::from_str_radix(&tag[..2], 16).unwrap_or(0);
    let mut owners: Vec<Option<usize>> = Vec::with_capacity(plan.numbers);
    for i in 0..plan.numbers {
        owners.push((i % 5 < 3).then(|| top[rng.random_range(0..top.len())]));
    }
    let specs: Vec<(String, Option<i64>)> = (0..plan.numbers)
        .map(|i| {
            (
                format!("+1{prefix}{i:07}"),
                owners[i].map(|m| members[m].id),
            )
        })
        .collect();
    let e164s: Vec<String> = specs.iter().map(|(e, _)| e.clone()).collect();
    let jobs = number_jobs(specs, now)?;
    let numbers: Vec<(i64, String)> = in_groups(core, url, jobs)
        .await?
        .into_iter()
        .flatten()
        .collect();
    phase("numbers", numbers.len());
    let (big_key, small_key, history_number, expiring) = seed_holders(
        core,
        url,
        plan,
        &created[0].0,
        &password_hash,
        &tag,
        prefix,
        now,
    )
    .await?;
    phase("holders' numbers and history entries", HISTORY_ENTRIES);

    // Grants: chains down the tree from each owner, until 2 x numbers.
    let owned_idx: Vec<usize> = (0..plan.numbers).filter(|&i| owners[i].is_some()).collect();
    let target = plan.numbers * 2;
    let mut chains: Vec<Vec<usize>> = Vec::with_capacity(owned_idx.len());
    let mut planned = 0;
    for (k, &i) in owned_idx.iter().enumerate() {
        let remaining_numbers = owned_idx.len() - k;
        let want = (target - planned).div_ceil(remaining_numbers.max(1));
        let mut chain = Vec::new();
        let mut at = owners[i].unwrap_or(0);
        while chain.len() < want && !children[at].is_empty() {
            at = children[at][rng.random_range(0..children[at].len())];
            chain.push(at);
        }
        planned += chain.len();
        chains.push(chain);
    }
    let jobs: Vec<(i64, Vec<(i64, i64)>)> = owned_idx
        .iter()
        .zip(&chains)
        .map(|(&i, chain)| {
            let mut by = owners[i].map(|m| members[m].id).unwrap_or(0);
            let steps = chain
                .iter()
                .map(|&m| {
                    let step = (by, members[m].id);
                    by = members[m].id;
                    step
                })
                .collect();
            (numbers[i].0, steps)
        })
        .collect();
    // The granting accounts as the rule needs them, as they were created.
    let accounts_by_id: Arc<std::collections::HashMap<i64, crate::store::Account>> = Arc::new(
        created
            .into_iter()
            .map(|(account, _)| (account.id, account))
            .collect(),
    );
    let mut grant_jobs = Vec::with_capacity(jobs.len().div_ceil(SEED_JOB));
    for chunk in jobs.chunks(SEED_JOB) {
        let chunk = chunk.to_vec();
        let by_id = accounts_by_id.clone();
        grant_jobs.push(move |tx: &mut dyn Tx| {
            let mut made = 0;
            for (number_id, steps) in &chunk {
                for (by, to) in steps {
                    let caller = by_id
                        .get(by)
                        .ok_or_else(|| CoreError::Invalid("no such account".into()))?;
                    let n = NumberRef {
                        id: Some(*number_id),
                        e164: None,
                        uid: None,
                    };
                    let t = AccountRef {
                        id: Some(*to),
                        username: None,
                    };
                    let cmd = Assign {
                        number: n,
                        target: t,
                        perms: Perms::ALL,
                        expires_at: None,
                    };
                    assign(tx, caller, &cmd, now, RID)?;
                    made += 1;
                }
            }
            Ok(made)
        });
    }
    let grants: usize = in_groups(core, url, grant_jobs).await?.into_iter().sum();
    phase("grants", grants);
    // What autovacuum would have done by the time a production database
    // served this world: without a visibility map, PostgreSQL's index-only
    // scans (the numbers list's) fetch every row from the table anyway.
    if crate::store::postgres::is_postgres_url(url) {
        super::pg_admin(url, "VACUUM ANALYZE").await?;
        phase("vacuumed tables of", grants);
    }

    // What the scenarios draw from.
    let mut holders: HashSet<usize> = owned_idx.iter().filter_map(|&i| owners[i]).collect();
    holders.extend(chains.iter().flatten().copied());
    let mut pairs = Vec::new();
    let mut owned = Vec::new();
    for (k, &i) in owned_idx.iter().enumerate() {
        let Some(owner) = owners[i] else { continue };
        owned.push((owner, numbers[i].1.clone()));
        // A grandchild (or child) of the owner outside this number's chain.
        let below: Vec<usize> = children[owner]
            .iter()
            .flat_map(|&c| children[c].iter().copied().chain([c]))
            .collect();
        if let Some(&t) = below.iter().find(|m| !chains[k].contains(m)) {
            pairs.push((owner, numbers[i].0, t));
        }
    }
    Ok(World {
        members,
        holders: holders.into_iter().collect(),
        pairs,
        owned,
        e164s,
        big_key,
        small_key,
        history_number,
        expiring,
        grants,
        answered: std::sync::Mutex::default(),
        bulk_items: std::sync::atomic::AtomicU64::new(0),
    })
}

/// Seeding jobs adding `specs` (E.164, owner) as numbers, subscribed by their
/// owners; each job answers `(id, uid)` of its numbers.
#[allow(clippy::type_complexity)]
fn number_jobs(
    specs: Vec<(String, Option<i64>)>,
    now: i64,
) -> Result<
    Vec<impl FnMut(&mut dyn Tx) -> Result<Vec<(i64, String)>, CoreError> + Send + 'static>,
    String,
> {
    let mut jobs = Vec::with_capacity(specs.len().div_ceil(SEED_JOB));
    for chunk in specs.chunks(SEED_JOB) {
        let specs: Vec<(NumberSpec, Option<i64>)> = chunk
            .iter()
            .map(|(e164, owner)| {
                let e164 = E164::parse(e164).ok_or("generated a bad number")?;
                let spec = NumberSpec {
                    monthly_price: 1000,
                    yearly_price: 10_000,
                    ..NumberSpec::new(e164)
                };
                Ok((spec, *owner))
            })
            .collect::<Result<_, &str>>()?;
        jobs.push(move |tx: &mut dyn Tx| {
            let mut out = Vec::with_capacity(specs.len());
            for (spec, owner) in &specs {
                let n = add_number(tx, &spec.to_new_number(), now, RID)?;
                if let Some(owner_id) = owner {
                    let sub = Subscription {
                        owner_id: *owner_id,
                        cycle: Cycle::Month,
                        resubscribe: false,
                        subscribed_at: now,
                    };
                    tx.subscribe_number(n.id, &sub)?;
                    crate::core::events::log(
                        tx,
                        crate::core::history(
                            now,
                            RID,
                            None,
                            crate::store::Action::Subscribe,
                            Some(n.id),
                            Some(*owner_id),
                            "{}",
                        ),
                    )?;
                }
                out.push((n.id, n.uid));
            }
            Ok(out)
        });
    }
    Ok(jobs)
}

/// One postpaid account of the world, with its API key.
fn member(
    tx: &mut dyn Tx,
    username: String,
    password_hash: &str,
    is_reseller: bool,
    parent: Option<(i64, String)>,
    now: i64,
) -> Result<(crate::store::Account, String), CoreError> {
    let new = NewAccount {
        id: None,
        name: username.clone(),
        username,
        password_hash: password_hash.to_owned(),
        is_reseller,
        parent,
        postpaid: true,
        mobile: None,
        email: None,
        created_at: now,
    };
    let account = create_account(tx, &new, None, RID)?;
    let secret = TokenSecret::generate(TokenKind::ApiKey);
    let token = NewToken {
        digest: secret.digest(),
        account_id: account.id,
        kind: TokenKind::ApiKey,
        created_at: now,
        expires_at: None,
    };
    issue(tx, &token, None, RID)?;
    Ok((account, secret.expose().to_owned()))
}

/// Seeds the two holders of `native_list`: a reseller below the
/// administrator owning `min(BIG_HOLDER, --numbers)` numbers of their own,
/// and below it a reseller owning [`SMALL_HOLDER`]. The big holder's first
/// number gets [`HISTORY_ENTRIES`] entries of assign/unassign churn (actor the
/// big holder, target the small one), written straight through the core's
/// one writer of history. Answers the two API keys and that number's id.
#[allow(clippy::too_many_arguments)]
async fn seed_holders(
    core: &Core,
    url: &str,
    plan: &Plan,
    admin: &crate::store::Account,
    password_hash: &str,
    tag: &str,
    prefix: u32,
    now: i64,
) -> Result<(String, String, i64, (crate::store::Account, i64, Vec<i64>)), String> {
    let err = |e: CoreError| e.to_string();
    let (admin, hash, tag2) = (admin.clone(), password_hash.to_owned(), tag.to_owned());
    let made: Vec<(crate::store::Account, String)> = core
        .seed(move |tx| {
            let mut parent = (admin.id, admin.path.clone());
            let mut out = Vec::new();
            for who in ["big", "small"] {
                let username = format!("b{tag2}-{who}");
                let (account, key) = member(tx, username, &hash, true, Some(parent.clone()), now)?;
                parent = (account.id, account.path.clone());
                out.push((account, key));
            }
            Ok(out)
        })
        .await
        .map_err(err)?;
    let (big, small) = (made[0].0.id, made[1].0.id);
    // Their own area code, next to the world's.
    let prefix = if prefix < 455 { prefix + 1 } else { 200 };
    let big_n = BIG_HOLDER.min(plan.numbers.max(1));
    let specs: Vec<(String, Option<i64>)> = (0..big_n + SMALL_HOLDER)
        .map(|i| {
            let owner = if i < big_n { big } else { small };
            (format!("+1{prefix}{i:07}"), Some(owner))
        })
        .collect();
    let numbers: Vec<(i64, String)> = in_groups(core, url, number_jobs(specs, now)?)
        .await?
        .into_iter()
        .flatten()
        .collect();
    let number = numbers[0].0;
    let mut jobs = Vec::new();
    for start in (0..HISTORY_ENTRIES).step_by(SEED_JOB) {
        let end = (start + SEED_JOB).min(HISTORY_ENTRIES);
        jobs.push(move |tx: &mut dyn Tx| {
            for i in start..end {
                let (action, detail) = if i % 2 == 0 {
                    (
                        crate::store::Action::Assign,
                        r#"{"send":true,"gets":true}"#.to_owned(),
                    )
                } else {
                    (
                        crate::store::Action::Unassign,
                        format!(r#"{{"granted_by":{big}}}"#),
                    )
                };
                let entry = crate::core::history(
                    now,
                    RID,
                    Some(big),
                    action,
                    Some(number),
                    Some(small),
                    &detail,
                );
                crate::core::events::log(tx, entry)?;
            }
            Ok(())
        });
    }
    // In order, one job at a time: the entries' ids follow the churn.
    for job in jobs {
        core.seed(job).await.map_err(err)?;
    }
    analyze(url).await?;
    let big_numbers: Vec<i64> = numbers.iter().take(big_n).map(|(id, _)| *id).collect();
    Ok((
        made[0].1.clone(),
        made[1].1.clone(),
        number,
        (made[0].0.clone(), small, big_numbers),
    ))
}

/// The `sweep` measurement's figures.
pub struct SweepFigures {
    /// Grants that ended at the same second.
    pub grants: usize,
    /// Seconds from their end until the sweeper's first batch of them had
    /// committed (its next round); `None` if not within [`SWEEP_WAIT`].
    pub started_after: Option<f64>,
    /// Seconds from their end until the sweeper had ended them all; `None`
    /// if not within [`SWEEP_WAIT`].
    pub swept_after: Option<f64>,
    /// `assign_unassign` while the sweeper works: from its first batch to
    /// its last.
    pub during: Figures,
}

/// How long the sweep measurement waits for the sweeper.
pub const SWEEP_WAIT: Duration = Duration::from_secs(120);

/// Gives each of the big holder's numbers (up to 100,000) to the small
/// holder with a grant ending at one second a little ahead, waits for that
/// second and then for the server's sweeper to start on them (its rounds
/// are 5 s apart), runs `assign_unassign` until they are all ended, and
/// tells how long that took. `core` is a second handle on the server's
/// database.
pub async fn sweep(
    core: &Core,
    url: &str,
    world: Arc<World>,
    addr: SocketAddr,
    plan: &Plan,
) -> Result<SweepFigures, String> {
    let (big, small, numbers) = world.expiring.clone();
    let grants = numbers.len();
    // The bench's core keeps the system's time, as the server does.
    let now = core.now();
    // Time enough to seed them first (about 10,000 a second here).
    let ends = now + 5 + (grants / 5_000) as i64;
    let big = Arc::new(big);
    let mut jobs = Vec::with_capacity(grants.div_ceil(SEED_JOB));
    for chunk in numbers.chunks(SEED_JOB) {
        let (chunk, big) = (chunk.to_vec(), big.clone());
        jobs.push(move |tx: &mut dyn Tx| {
            for id in &chunk {
                let cmd = Assign {
                    number: NumberRef {
                        id: Some(*id),
                        e164: None,
                        uid: None,
                    },
                    target: AccountRef {
                        id: Some(small),
                        username: None,
                    },
                    perms: Perms::ALL,
                    expires_at: Some(ends),
                };
                assign(tx, &big, &cmd, now, RID)?;
            }
            Ok(chunk.len())
        });
    }
    let made: usize = in_groups(core, url, jobs).await?.into_iter().sum();
    // Wait for their second itself, and time the sweep from it: the
    // sweeper (every 5 s) may well end them before a poll that starts late.
    let end_at = std::time::UNIX_EPOCH + Duration::from_secs(ends.max(0) as u64);
    match end_at.duration_since(std::time::SystemTime::now()) {
        Ok(wait) => tokio::time::sleep(wait).await,
        Err(late) => {
            return Err(format!(
                "seeding {made} expiring grants outlasted their lead (they ended {:.1} s before it finished)",
                late.duration().as_secs_f64()
            ));
        }
    }
    let since_end = move || {
        std::time::SystemTime::now()
            .duration_since(end_at)
            .map_or(0.0, |d| d.as_secs_f64())
    };
    // The lowest number with one of them left: a grant ending at or before
    // `ends` (the world's other grants have no end). The sweeper goes in
    // id order, so its first batch changes it.
    let lowest = {
        let core = core.clone();
        move || {
            let core = core.clone();
            async move {
                core.store
                    .read(move |tx| {
                        Ok::<_, CoreError>(tx.due(crate::store::Due::Grants, ends, i64::MIN, 1)?)
                    })
                    .await
                    .map(|ids| ids.first().copied())
                    .map_err(|e| e.to_string())
            }
        }
    };
    let first = lowest().await?;
    let mut started = None;
    while since_end() < SWEEP_WAIT.as_secs_f64() {
        // None left already: started (and done) before the first look.
        if first.is_none() || lowest().await? != first {
            started = Some(since_end());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let Some(started) = started else {
        return Ok(SweepFigures {
            grants: made,
            started_after: None,
            swept_after: None,
            during: measure(world, Scenario::AssignUnassign, addr, plan).await,
        });
    };
    // From the sweep's first batch (seen within 10 ms, then the
    // connections' 200 ms to open) to its last: the scenario's figures
    // while the sweeper works, not while it waits for its next round.
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut swept = None;
            while since_end() < SWEEP_WAIT.as_secs_f64() {
                if matches!(lowest().await, Ok(None)) {
                    swept = Some(since_end());
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            swept
        })
    };
    let longest = SWEEP_WAIT.saturating_sub(Duration::from_secs_f64(started));
    let mut during =
        measure_until(world, Scenario::AssignUnassign, addr, plan, longest, done).await;
    during.name = "assign_unassign_sweep";
    let swept_after = watcher.await.map_err(|e| e.to_string())?;
    Ok(SweepFigures {
        grants: made,
        started_after: Some(started),
        swept_after,
        during,
    })
}

/// Seeding jobs the store runs at once: on PostgreSQL each takes a pooled
/// connection, on SQLite the writer commits those waiting together. The jobs
/// of one phase touch disjoint numbers, so they never wait on each other.
const IN_FLIGHT: usize = 4;

/// Runs seeding `jobs` as write transactions, [`IN_FLIGHT`] at a time, and
/// returns their answers in the jobs' order.
async fn in_flight<T, F>(core: &Core, jobs: Vec<F>) -> Result<Vec<T>, String>
where
    F: FnMut(&mut dyn Tx) -> Result<T, CoreError> + Send + 'static,
    T: Send + 'static,
{
    let mut answers: Vec<Option<T>> = (0..jobs.len()).map(|_| None).collect();
    let mut running = tokio::task::JoinSet::new();
    let mut jobs = jobs.into_iter().enumerate();
    loop {
        while running.len() < IN_FLIGHT {
            let Some((i, job)) = jobs.next() else { break };
            let core = core.clone();
            running.spawn(async move { (i, core.seed(job).await) });
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        let (i, answer) = done.map_err(|e| e.to_string())?;
        answers[i] = Some(answer.map_err(|e| e.to_string())?);
    }
    answers
        .into_iter()
        .map(|a| a.ok_or_else(|| "a seeding job did not finish".to_owned()))
        .collect()
}

/// Seeding jobs between two refreshes of the planner's statistics, at most.
const JOBS_PER_ANALYZE: usize = 1_000;

/// [`in_flight`], refreshing PostgreSQL's statistics after 16 jobs, then
/// after twice as many each time up to every [`JOBS_PER_ANALYZE`], and at the
/// end.
///
/// PostgreSQL plans from statistics, and a fresh database has none (nor gets
/// any where autovacuum is off, as on this project's machine). Statements
/// prepared while a table was nearly empty kept plans that suited an empty
/// table: subscribing a number scanned the whole pool index, so seeding
/// slowed with every number added, and the server would have started on the
/// same blind plans; every grant read its number's grants by scanning the
/// whole table. Analyzing as the tables grow is what autovacuum does for a
/// production database; ANALYZE also makes prepared statements re-plan.
async fn in_groups<T, F>(core: &Core, url: &str, mut jobs: Vec<F>) -> Result<Vec<T>, String>
where
    F: FnMut(&mut dyn Tx) -> Result<T, CoreError> + Send + 'static,
    T: Send + 'static,
{
    let mut answers = Vec::with_capacity(jobs.len());
    let mut group = 16;
    while !jobs.is_empty() {
        let rest = jobs.split_off(jobs.len().min(group));
        group = (group * 2).min(JOBS_PER_ANALYZE);
        answers.extend(in_flight(core, std::mem::replace(&mut jobs, rest)).await?);
        analyze(url).await?;
    }
    Ok(answers)
}

/// Refreshes the planner's statistics (PostgreSQL; SQLite plans without them).
async fn analyze(url: &str) -> Result<(), String> {
    if crate::store::postgres::is_postgres_url(url) {
        super::pg_admin(url, "ANALYZE").await
    } else {
        Ok(())
    }
}

/// The scenarios, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    Ceiling,
    List,
    ListBig,
    ListSmall,
    AssignUnassign,
    /// `assign_unassign` with one webhook endpoint subscribed to every
    /// event, at a fast receiver in the bench process.
    AssignUnassignWebhook,
    UnsubscribeSubscribe,
    Routing,
    History,
    NativeList,
    NativeListSmall,
    Login,
    /// `POST /lk/v1/grants/bulk`, non-atomic, up to [`BULK_ITEMS`] assigns
    /// of one owner's numbers, then the same items as unassigns.
    BulkAssign,
    /// The API calls each console page makes to render, one page a step,
    /// timed as a whole (the console's own views.js, in order).
    PageNumbers,
    PageNumber,
    PageDownline,
    PagePool,
}

/// Items of one `bulk_assign` request (at most, as the connection's share
/// of the world's pairs allows).
pub const BULK_ITEMS: usize = 1_000;

impl Scenario {
    /// A console page: its latency is the whole sequence's.
    pub fn is_page(self) -> bool {
        matches!(
            self,
            Scenario::PageNumbers
                | Scenario::PageNumber
                | Scenario::PageDownline
                | Scenario::PagePool
        )
    }
}

impl Scenario {
    pub const ALL: [Scenario; 17] = [
        Scenario::Ceiling,
        Scenario::List,
        Scenario::ListBig,
        Scenario::ListSmall,
        Scenario::AssignUnassign,
        Scenario::AssignUnassignWebhook,
        Scenario::UnsubscribeSubscribe,
        Scenario::Routing,
        Scenario::History,
        Scenario::NativeList,
        Scenario::NativeListSmall,
        Scenario::Login,
        Scenario::BulkAssign,
        Scenario::PageNumbers,
        Scenario::PageNumber,
        Scenario::PageDownline,
        Scenario::PagePool,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Ceiling => "ceiling",
            Scenario::List => "list",
            Scenario::ListBig => "list_big",
            Scenario::ListSmall => "list_small",
            Scenario::AssignUnassign => "assign_unassign",
            Scenario::AssignUnassignWebhook => "assign_unassign_webhook",
            Scenario::UnsubscribeSubscribe => "unsubscribe_subscribe",
            Scenario::Routing => "routing",
            Scenario::History => "history",
            Scenario::NativeList => "native_list",
            Scenario::NativeListSmall => "native_list_small",
            Scenario::Login => "login",
            Scenario::BulkAssign => "bulk_assign",
            Scenario::PageNumbers => "page_numbers",
            Scenario::PageNumber => "page_number",
            Scenario::PageDownline => "page_downline",
            Scenario::PagePool => "page_pool",
        }
    }
}

/// One scenario's figures.
#[derive(Clone, Debug)]
pub struct Figures {
    pub name: &'static str,
    pub requests: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: u64,
    pub error_sample: Option<String>,
}

/// Drives one connection until `deadline`; latencies in microseconds and the
/// count of non-2xx answers.
async fn connection(
    world: Arc<World>,
    scenario: Scenario,
    addr: SocketAddr,
    index: usize,
    connections: usize,
    start: Instant,
    until: Until,
) -> (Vec<u32>, u64, Option<String>) {
    let mut http = HttpClient::new(addr);
    let mut rng = Rng::seed_from_u64(0xB0B + index as u64);
    let mut latencies = Vec::with_capacity(64 * 1024);
    let (mut errors, mut sample) = (0u64, None);
    // This connection's own share of the paired work.
    let pairs: Vec<_> = world
        .pairs
        .iter()
        .skip(index)
        .step_by(connections)
        .collect();
    let owned: Vec<_> = world
        .owned
        .iter()
        .skip(index)
        .step_by(connections)
        .collect();
    // bulk_assign's batches: every pair of the world by owner, each owner's
    // pairs to one connection (owners dealt round the connections, most
    // pairs first), in batches of at most BULK_ITEMS. A connection dealt no
    // owner sits the scenario out.
    let mut bulk: Vec<(usize, Vec<(i64, i64)>)> = Vec::new();
    if scenario == Scenario::BulkAssign {
        let mut by_owner: BTreeMap<usize, Vec<(i64, i64)>> = BTreeMap::new();
        for (owner, number_id, target) in &world.pairs {
            by_owner
                .entry(*owner)
                .or_default()
                .push((*number_id, world.members[*target].id));
        }
        let mut owners: Vec<_> = by_owner.into_iter().collect();
        owners.sort_by_key(|(owner, items)| (std::cmp::Reverse(items.len()), *owner));
        for (owner, items) in owners.into_iter().skip(index).step_by(connections) {
            for chunk in items.chunks(BULK_ITEMS) {
                bulk.push((owner, chunk.to_vec()));
            }
        }
    }
    let _ = http.request("GET", "/healthz", &[], b"").await;
    tokio::time::sleep_until(start.into()).await;
    let json = ("content-type", "application/json");
    let mut step = 0usize;
    let mut answered = Vec::new();
    while !until.over() {
        let mut requests: Vec<(&str, String, Option<String>, Vec<u8>)> = Vec::with_capacity(2);
        match scenario {
            Scenario::Ceiling => requests.push(("GET", "/healthz".into(), None, Vec::new())),
            Scenario::List => {
                let m = &world.members[world.holders[rng.random_range(0..world.holders.len())]];
                requests.push((
                    "GET",
                    "/api/number/numbers?page=1&per_page=50".into(),
                    Some(m.key.clone()),
                    Vec::new(),
                ));
            }
            Scenario::ListBig | Scenario::ListSmall => {
                let key = if scenario == Scenario::ListBig {
                    &world.big_key
                } else {
                    &world.small_key
                };
                requests.push((
                    "GET",
                    "/api/number/numbers?page=1&per_page=50".into(),
                    Some(key.clone()),
                    Vec::new(),
                ));
            }
            Scenario::AssignUnassign | Scenario::AssignUnassignWebhook => {
                if pairs.is_empty() {
                    break;
                }
                let (owner, number_id, target) = pairs[step % pairs.len()];
                let key = world.members[*owner].key.clone();
                let target_id = world.members[*target].id;
                let a = json!({"number_id": number_id, "target_user_id": target_id, "send": true, "gets": true});
                let u = json!({"number_id": number_id, "target_user_id": target_id});
                requests.push((
                    "POST",
                    "/api/numbers/assign".into(),
                    Some(key.clone()),
                    a.to_string().into_bytes(),
                ));
                requests.push((
                    "POST",
                    "/api/numbers/unassign".into(),
                    Some(key),
                    u.to_string().into_bytes(),
                ));
            }
            Scenario::UnsubscribeSubscribe => {
                if owned.is_empty() {
                    break;
                }
                let (owner, uid) = owned[step % owned.len()];
                let key = world.members[*owner].key.clone();
                let path = format!("/api/v1/apiClient/virtual-number/unsubscribe/{uid}");
                requests.push(("PUT", path, Some(key.clone()), Vec::new()));
                let body = json!({"number": uid}).to_string().into_bytes();
                let buy = "/api/v1/apiClient/virtual-number/purchase-postpaid".to_owned();
                requests.push(("POST", buy, Some(key), body));
            }
            Scenario::Routing => {
                let e164 = &world.e164s[rng.random_range(0..world.e164s.len())];
                let admin = world.members[0].key.clone();
                requests.push((
                    "GET",
                    format!("/lk/v1/routing/{e164}"),
                    Some(admin),
                    Vec::new(),
                ));
            }
            Scenario::History => {
                let path = format!("/lk/v1/numbers/{}/history", world.history_number);
                requests.push(("GET", path, Some(world.big_key.clone()), Vec::new()));
            }
            Scenario::NativeList | Scenario::NativeListSmall => {
                let key = if scenario == Scenario::NativeList {
                    &world.big_key
                } else {
                    &world.small_key
                };
                requests.push((
                    "GET",
                    "/lk/v1/numbers".into(),
                    Some(key.clone()),
                    Vec::new(),
                ));
            }
            Scenario::Login => {
                let m = &world.members[rng.random_range(0..world.members.len())];
                let body = json!({"username": m.username, "password": PASSWORD})
                    .to_string()
                    .into_bytes();
                requests.push(("POST", "/api/acl/auth/login".into(), None, body));
            }
            Scenario::BulkAssign => {
                // The owner with the most of this connection's pairs, its
                // pairs in batches: assign them all, then unassign them all.
                let Some((owner, items)) = bulk.get(step % bulk.len().max(1)) else {
                    break;
                };
                let key = world.members[*owner].key.clone();
                let assign: Vec<Value> = items
                    .iter()
                    .map(|(n, t)| json!({"op": "assign", "number": n, "account": t, "send": true, "gets": true}))
                    .collect();
                let unassign: Vec<Value> = items
                    .iter()
                    .map(|(n, t)| json!({"op": "unassign", "number": n, "account": t}))
                    .collect();
                for list in [assign, unassign] {
                    let body = json!({"atomic": false, "items": list})
                        .to_string()
                        .into_bytes();
                    requests.push(("POST", "/lk/v1/grants/bulk".into(), Some(key.clone()), body));
                }
                world
                    .bulk_items
                    .fetch_add(2 * items.len() as u64, std::sync::atomic::Ordering::Relaxed);
            }
            Scenario::PageNumbers => {
                let key = world.big_key.clone();
                requests.push(("GET", "/lk/v1/me".into(), Some(key.clone()), Vec::new()));
                requests.push((
                    "GET",
                    "/lk/v1/numbers?limit=20".into(),
                    Some(key),
                    Vec::new(),
                ));
            }
            Scenario::PageNumber => {
                let key = world.big_key.clone();
                let n = world.history_number;
                requests.push(("GET", "/lk/v1/me".into(), Some(key.clone()), Vec::new()));
                requests.push((
                    "GET",
                    format!("/lk/v1/numbers/{n}"),
                    Some(key.clone()),
                    Vec::new(),
                ));
                requests.push((
                    "GET",
                    format!("/lk/v1/numbers/{n}/history?limit=50"),
                    Some(key.clone()),
                    Vec::new(),
                ));
                // The assign form's choice of accounts: the whole downline.
                requests.push(("GET", ALL_ACCOUNTS.into(), Some(key), Vec::new()));
            }
            Scenario::PageDownline => {
                // As the administrator: the whole world is its downline.
                let key = world.members[0].key.clone();
                requests.push(("GET", "/lk/v1/me".into(), Some(key.clone()), Vec::new()));
                requests.push(("GET", ALL_ACCOUNTS.into(), Some(key), Vec::new()));
            }
            Scenario::PagePool => {
                let key = world.big_key.clone();
                requests.push(("GET", "/lk/v1/me".into(), Some(key.clone()), Vec::new()));
                requests.push(("GET", "/lk/v1/pool?limit=20".into(), Some(key), Vec::new()));
            }
        }
        step += 1;
        let page_started = Instant::now();
        let page = scenario.is_page();
        for (method, path, key, body) in requests {
            let auth = key.map(|k| format!("Bearer {k}"));
            let mut headers = vec![json];
            if let Some(a) = &auth {
                headers.push(("authorization", a.as_str()));
            }
            let sent = Instant::now();
            let result = if path == ALL_ACCOUNTS {
                all_pages(&mut http, "/lk/v1/accounts", &headers).await
            } else {
                http.request(method, &path, &headers, &body).await
            };
            if !page {
                latencies.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
            }
            match result {
                Ok(res) if (200..300).contains(&res.status) => {
                    // The server's request id is on the answer and on the
                    // change's event: the delivery lag's key.
                    if scenario == Scenario::AssignUnassignWebhook
                        && let Some(rid) = res.header("x-request-id")
                    {
                        answered.push((rid.to_owned(), Instant::now()));
                    }
                }
                Ok(res) => {
                    errors += 1;
                    sample.get_or_insert_with(|| {
                        format!(
                            "{method} {path} -> {} {}",
                            res.status,
                            String::from_utf8_lossy(&res.body)
                        )
                    });
                }
                Err(e) => {
                    errors += 1;
                    sample.get_or_insert_with(|| format!("{method} {path} -> {e}"));
                }
            }
        }
        if page {
            latencies.push(page_started.elapsed().as_micros().min(u32::MAX as u128) as u32);
        }
    }
    if !answered.is_empty()
        && let Ok(mut all) = world.answered.lock()
    {
        all.extend(answered);
    }
    (latencies, errors, sample)
}

/// The console's `all('/accounts')`: every page of 500, up to 5,000 items.
const ALL_ACCOUNTS: &str = "ALL /lk/v1/accounts";

/// Follows `path`'s cursors as the console's `all()` does (pages of 500,
/// at most 5,000 items); the last answer, or the first that failed.
async fn all_pages(
    http: &mut HttpClient,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<crate::client::HttpResponse> {
    let mut cursor: Option<String> = None;
    let mut items = 0;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}?limit=500&cursor={c}"),
            None => format!("{path}?limit=500"),
        };
        let res = http.request("GET", &url, headers, b"").await?;
        if res.status != 200 {
            return Ok(res);
        }
        let page = res.json();
        items += page["items"].as_array().map_or(0, Vec::len);
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() || items >= 5_000 {
            return Ok(res);
        }
    }
}

/// When a connection stops sending: at `deadline`, or once `stop` is set.
struct Until {
    deadline: Instant,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Until {
    fn over(&self) -> bool {
        Instant::now() >= self.deadline || self.stop.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Runs one scenario against the server at `addr`.
pub async fn measure(
    world: Arc<World>,
    scenario: Scenario,
    addr: SocketAddr,
    plan: &Plan,
) -> Figures {
    let never = Arc::new(std::sync::atomic::AtomicBool::new(false));
    measure_until(world, scenario, addr, plan, plan.duration, never).await
}

/// [`measure`] for at most `longest`, or until `stop` is set.
async fn measure_until(
    world: Arc<World>,
    scenario: Scenario,
    addr: SocketAddr,
    plan: &Plan,
    longest: Duration,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Figures {
    // Connections open before the clock starts.
    let start = Instant::now() + Duration::from_millis(200);
    let deadline = start + longest;
    let tasks: Vec<_> = (0..plan.connections)
        .map(|i| {
            tokio::spawn(connection(
                world.clone(),
                scenario,
                addr,
                i,
                plan.connections,
                start,
                Until {
                    deadline,
                    stop: stop.clone(),
                },
            ))
        })
        .collect();
    let mut all = Vec::new();
    let (mut errors, mut error_sample) = (0, None);
    for t in tasks {
        if let Ok((lat, e, s)) = t.await {
            all.extend(lat);
            errors += e;
            error_sample = error_sample.or(s);
        }
    }
    let elapsed = Instant::now()
        .saturating_duration_since(start)
        .as_secs_f64()
        .max(1e-9);
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1;
        f64::from(all[i]) / 1000.0
    };
    Figures {
        name: scenario.name(),
        requests: all.len() as u64,
        rps: all.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p90_ms: pct(0.90),
        p99_ms: pct(0.99),
        max_ms: all.last().map(|&m| f64::from(m) / 1000.0).unwrap_or(0.0),
        errors,
        error_sample,
    }
}

/// The server under test: this binary's `serve`, on the bench database.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// Set once the server has logged that its routing table loaded.
    table_loaded: Arc<std::sync::atomic::AtomicBool>,
}

/// What a server logs once its routing table has loaded (`keep_routes`).
const TABLE_LOADED: &str = "routing table loaded";

impl Server {
    /// This binary's `serve` on `database_url`.
    pub fn start(database_url: &str) -> Result<Server, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        Server::start_exe(&exe, database_url)
    }

    /// Another build's `serve` (the baseline of [`BASELINE_ENV`]) on the same
    /// database: it must accept this build's migrations as applied.
    pub fn start_exe(exe: &std::path::Path, database_url: &str) -> Result<Server, String> {
        let mut child = Command::new(exe)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                database_url,
            ])
            // Warnings, and the routing table's load: the bench waits for it.
            .env("LINEKEEPER_LOG", "warn,linekeeper::core::routing=info")
            // The bench drives a few credentials far beyond a client's rate:
            // keep the limiter's cost in the figures but never its refusals.
            .env("LINEKEEPER_RATE_LIMIT_PER_SEC", "10000000")
            .env("LINEKEEPER_RATE_LIMIT_BURST", "10000000")
            // `login` runs 64 logins at once from one address: a login in
            // flight holds a strike until it succeeds (the throttle against
            // parallel guessing), so keep its cost but not its refusals.
            .env("LINEKEEPER_LOGIN_MAX_FAILURES_PER_ADDR", "10000000")
            .env("LINEKEEPER_LOGIN_MAX_FAILURES_PER_USER", "10000000")
            // The webhook scenario's receiver is in the bench, on 127.0.0.1.
            .env("LINEKEEPER_WEBHOOK_ALLOW_PRIVATE", "true")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting the server: {e}"))?;
        // The server's log goes on to the bench's, watched for the table's
        // load.
        let table_loaded = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if let Some(stderr) = child.stderr.take() {
            let loaded = table_loaded.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if line.contains(TABLE_LOADED) {
                        loaded.store(true, std::sync::atomic::Ordering::Release);
                    }
                    // Not `eprintln!`, which panics if the bench's stderr is
                    // gone: this thread must go on reading, or the server
                    // would block on a full pipe.
                    let _ = writeln!(std::io::stderr(), "{line}");
                }
            });
        }
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                return Err("the server exited before listening".into());
            };
            if let Some(rest) = line.strip_prefix("linekeeper listening on http://") {
                match rest.split_whitespace().next().and_then(|a| a.parse().ok()) {
                    Some(addr) => break addr,
                    None => {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err("unreadable listen address".into());
                    }
                }
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let server = Server {
            child,
            addr,
            table_loaded,
        };
        server.wait_until_idle();
        Ok(server)
    }

    /// Waits (at most [`STARTUP_WAIT`]) until the server has done what it
    /// does once it starts (this build loads its routing table), so that
    /// work is measured by no scenario and slows no ceiling: until it has
    /// logged that its table loaded and its CPU time then grows by no clock
    /// tick in each of two 100 ms windows in a row. A server that logs no
    /// load (a build before the table) is taken as started once it has been
    /// idle for 2 s. Idleness alone is not enough: on PostgreSQL most of a
    /// load's work is the database's, and the server can sit idle waiting
    /// for a page (a 1M world's scenarios once ran during its load).
    fn wait_until_idle(&self) {
        let cpu = || -> Option<u64> {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
            // The fields after the command's closing parenthesis; utime and
            // stime are the 14th and 15th of the whole line.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
            Some(ticks(11)? + ticks(12)?)
        };
        let deadline = std::time::Instant::now() + STARTUP_WAIT;
        let (mut last, mut quiet) = (cpu(), 0);
        let loaded = || self.table_loaded.load(std::sync::atomic::Ordering::Acquire);
        while !(quiet >= 2 && loaded() || quiet >= 20) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(100));
            let now = cpu();
            // A tick is 10 ms at the usual 100 Hz: none in 100 ms is less
            // than a tenth of one core.
            quiet = match (last, now) {
                (Some(a), Some(b)) if b.saturating_sub(a) == 0 => quiet + 1,
                (Some(_), Some(_)) => 0,
                _ => 2,
            };
            last = now;
        }
    }

    /// Peak resident set size in MiB (Linux `VmHWM`).
    pub fn peak_rss_mb(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Names another linekeeper binary (an earlier build) to measure in the
/// same run, on the same seeded world, after this build's server: the
/// before and after of a change under the same load on the machine. The
/// world is seeded (and migrated) by this build, so a baseline's writes also
/// pay for whatever this build's migrations added (triggers included); its
/// reads run its own statements.
pub const BASELINE_ENV: &str = "LINEKEEPER_BENCH_BASELINE";

/// How long the bench waits for a started server to go idle.
const STARTUP_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// The database server's own ceiling, measured by `pgbench` on the bench's
/// database in the same run (PostgreSQL only).
#[derive(Clone, Copy, Debug)]
pub struct PgBench {
    /// `pgbench -N`: transactions of three updates-or-inserts and a select.
    pub write_tps: f64,
    /// `pgbench -S`: one-row selects by primary key.
    pub read_tps: f64,
}

/// pgbench's clients (and the issue's figure): 16, on 2 threads.
pub const PGBENCH_CLIENTS: usize = 16;

/// Where pgbench is: on `PATH`, else in Debian's per-version directory.
fn pgbench_path() -> Option<std::path::PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("pgbench"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let mut found: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| Some(e.ok()?.path().join("bin/pgbench")))
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        found.pop()
    })
}

/// Runs pgbench with `args`; answers its standard output, or what it said.
fn run_pgbench(exe: &std::path::Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(exe)
        .args(args)
        .output()
        .map_err(|e| format!("running {}: {e}", exe.display()))?;
    if !out.status.success() {
        return Err(format!(
            "pgbench {} failed: {}",
            args.first().copied().unwrap_or(""),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The `tps = N` of pgbench's report.
fn tps_of(report: &str) -> Result<f64, String> {
    report
        .lines()
        .find_map(|l| l.trim().strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no tps in pgbench's report: {report:?}"))
}

/// Measures [`PgBench`] on the database `url` names: `pgbench -i -s 1`
/// (its own `pgbench_*` tables, beside linekeeper's), then `-N` and `-S` for
/// `duration` each (whole seconds, at least 1) with [`PGBENCH_CLIENTS`]
/// clients and `-M prepared`, as linekeeper prepares its statements. Run
/// while no linekeeper server is up, so the two do not share the machine.
pub async fn pgbench(url: &str, duration: Duration) -> Result<PgBench, String> {
    let exe = pgbench_path().ok_or(
        "pgbench not found (Debian: apt-get install postgresql-client, or \
         /usr/lib/postgresql/*/bin/pgbench)",
    )?;
    let url = url.to_owned();
    let secs = duration.as_secs_f64().round().max(1.0).to_string();
    tokio::task::spawn_blocking(move || {
        let clients = PGBENCH_CLIENTS.to_string();
        run_pgbench(&exe, &["-i", "-q", "-s", "1", &url])?;
        let mut tps = [0.0; 2];
        for (i, mode) in ["-N", "-S"].into_iter().enumerate() {
            let args = [
                mode, "-M", "prepared", "-c", &clients, "-j", "2", "-T", &secs, &url,
            ];
            tps[i] = tps_of(&run_pgbench(&exe, &args)?)?;
        }
        Ok(PgBench {
            write_tps: tps[0],
            read_tps: tps[1],
        })
    })
    .await
    .map_err(|e| e.to_string())?
}

/// The scenarios reported as a share of `pgbench -N` (writes) and of
/// `pgbench -S` (reads).
const WRITES: &[&str] = &["assign_unassign", "unsubscribe_subscribe"];
const READS: &[&str] = &[
    "list",
    "list_big",
    "list_small",
    "routing",
    "history",
    "native_list",
    "native_list_small",
];

/// The report: a table, or the JSON object of the issue.
pub fn report(
    figures: &[Figures],
    rss_mb: Option<f64>,
    pg: Option<&PgBench>,
    as_json: bool,
) -> String {
    let ceiling = figures
        .iter()
        .find(|f| f.name == "ceiling")
        .map(|f| f.rps)
        .unwrap_or(0.0);
    let ratio = |f: &Figures| if ceiling > 0.0 { f.rps / ceiling } else { 0.0 };
    // A scenario's share of the database's own ceiling, where it has one.
    let pg_ratio = |f: &Figures| -> Option<f64> {
        let pg = pg?;
        let base = if WRITES.contains(&f.name) {
            pg.write_tps
        } else if READS.contains(&f.name) {
            pg.read_tps
        } else {
            return None;
        };
        (base > 0.0).then(|| f.rps / base)
    };
    let round = |x: f64, d: i32| (x * 10f64.powi(d)).round() / 10f64.powi(d);
    if as_json {
        let scenarios: Vec<Value> = figures
            .iter()
            .map(|f| {
                let mut v = json!({"name": f.name, "rps": round(f.rps, 1), "p50_ms": round(f.p50_ms, 3), "p90_ms": round(f.p90_ms, 3),
                    "p99_ms": round(f.p99_ms, 3), "max_ms": round(f.max_ms, 3), "errors": f.errors,
                    "ratio_to_ceiling": round(ratio(f), 4)});
                if let Some(r) = pg_ratio(f) {
                    v["ratio_to_pgbench"] = json!(round(r, 4));
                }
                v
            })
            .collect();
        let mut out =
            json!({"scenarios": scenarios, "server_peak_rss_mb": rss_mb.map(|r| round(r, 1))});
        if let Some(pg) = pg {
            out["pgbench"] = json!({"clients": PGBENCH_CLIENTS, "N_tps": round(pg.write_tps, 1),
                "S_tps": round(pg.read_tps, 1)});
        }
        return out.to_string();
    }
    let mut out = format!(
        "{:<22} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7} {:>9} {:>9}\n",
        "scenario", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "ceiling", "pgbench"
    );
    for f in figures {
        let share = pg_ratio(f)
            .map(|r| format!("{:>8.1}%", r * 100.0))
            .unwrap_or_else(|| format!("{:>9}", "-"));
        out.push_str(&format!(
            "{:<22} {:>10.0} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>7} {:>8.1}% {share}\n",
            f.name,
            f.rps,
            f.p50_ms,
            f.p90_ms,
            f.p99_ms,
            f.max_ms,
            f.errors,
            ratio(f) * 100.0
        ));
    }
    if let Some(pg) = pg {
        out.push_str(&format!(
            "pgbench -N: {:.0} tps, pgbench -S: {:.0} tps ({PGBENCH_CLIENTS} clients, -M prepared, \
             same server; the pgbench column: writes as a share of -N, reads of -S)\n",
            pg.write_tps, pg.read_tps
        ));
    }
    out.push_str(&format!(
        "server peak RSS: {}\n",
        rss_mb
            .map(|r| format!("{r:.1} MiB"))
            .unwrap_or_else(|| "unknown".into())
    ));
    for f in figures.iter().filter(|f| f.errors > 0) {
        if let Some(s) = &f.error_sample {
            out.push_str(&format!("first error in {}: {s}\n", f.name));
        }
    }
    out
}

/// A fast webhook receiver in the bench process: answers 204 at once and
/// notes when each event's delivery arrived, by the event's request id.
pub struct Receiver {
    pub url: String,
    arrived: Arc<std::sync::Mutex<Vec<(String, Instant)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Result<Receiver, String> {
        use axum::extract::State;
        type Arrivals = Arc<std::sync::Mutex<Vec<(String, Instant)>>>;
        async fn receive(
            State(arrived): State<Arrivals>,
            body: axum::body::Bytes,
        ) -> axum::http::StatusCode {
            let at = Instant::now();
            let rid = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["data"]["request_id"].as_str().map(str::to_owned))
                .unwrap_or_default();
            if let Ok(mut a) = arrived.lock() {
                a.push((rid, at));
            }
            axum::http::StatusCode::NO_CONTENT
        }
        let arrived: Arrivals = Arc::default();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(arrived.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("the webhook receiver cannot listen: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Receiver {
            url: format!("http://{addr}/hook"),
            arrived,
            task,
        })
    }

    /// How many deliveries arrived so far.
    pub fn count(&self) -> usize {
        self.arrived.lock().map(|a| a.len()).unwrap_or(0)
    }

    /// Per answered mutation whose delivery arrived, the time from its
    /// answer to its delivery (0 when the delivery came first), in ms,
    /// sorted; and how many answered mutations had no delivery.
    pub fn lags(&self, answered: &[(String, Instant)]) -> (Vec<f64>, usize) {
        let arrived = self.arrived.lock().map(|a| a.clone()).unwrap_or_default();
        let by_rid: std::collections::HashMap<&str, Instant> =
            arrived.iter().map(|(r, t)| (r.as_str(), *t)).collect();
        let mut lags = Vec::new();
        let mut missing = 0;
        for (rid, at) in answered {
            match by_rid.get(rid.as_str()) {
                Some(t) => lags.push(t.saturating_duration_since(*at).as_secs_f64() * 1000.0),
                None => missing += 1,
            }
        }
        lags.sort_by(f64::total_cmp);
        (lags, missing)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The `p` quantile of sorted `values` (0 if empty).
pub fn quantile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let i = ((values.len() as f64 * p).ceil() as usize).clamp(1, values.len()) - 1;
    values[i]
}

/// The `feed` measurement's figures: from a change's answer to the moment a
/// reader already waiting on `GET /lk/v1/events` receives its event.
#[derive(Clone, Debug)]
pub struct FeedLag {
    pub samples: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One page of the feed (at most one event) after `after`.
async fn read_feed(
    http: &mut HttpClient,
    auth: &str,
    after: i64,
    wait: u32,
) -> Result<Value, String> {
    let path = format!("/lk/v1/events?after={after}&wait={wait}&limit=1");
    let res = http
        .request("GET", &path, &[("authorization", auth)], b"")
        .await
        .map_err(|e| format!("the feed: {e}"))?;
    match res.status {
        200 => Ok(res.json()),
        s => Err(format!("the feed answered {s}")),
    }
}

/// Most changes the `feed` measurement makes.
pub const FEED_ROUNDS: usize = 300;

/// The `feed` measurement: one change at a time (an assign, then its
/// unassign, of one pair of the world), each while a reader long-polls the
/// feed as the administrator; the lag is from the change's answer to the
/// reader's receipt of its event. At most [`FEED_ROUNDS`] changes, or the
/// plan's duration.
pub async fn feed_lag(world: Arc<World>, addr: SocketAddr, plan: &Plan) -> Result<FeedLag, String> {
    let &(owner, number_id, target) = world
        .pairs
        .first()
        .ok_or("the world has no pair to change")?;
    let admin = format!("Bearer {}", admin_key(&world));
    let owner_key = world.members[owner].key.clone();
    let target_id = world.members[target].id;
    let mut reader = HttpClient::new(addr);
    let mut writer = HttpClient::new(addr);
    // The newest event's id: the least `after` past which there is none
    // (by doubling, then halving; the world's seeding made many).
    let empty = |v: &Value| v["items"].as_array().is_none_or(|a| a.is_empty());
    let mut high = 1i64;
    while !empty(&read_feed(&mut reader, &admin, high, 0).await?) {
        high = high.saturating_mul(2);
    }
    let mut low = 0i64;
    while high - low > 1 {
        let mid = low + (high - low) / 2;
        if empty(&read_feed(&mut reader, &admin, mid, 0).await?) {
            high = mid;
        } else {
            low = mid;
        }
    }
    let mut after = high;
    let deadline = Instant::now() + plan.duration;
    let mut lags = Vec::new();
    for round in 0..FEED_ROUNDS {
        if Instant::now() >= deadline {
            break;
        }
        let (path, body) = if round % 2 == 0 {
            let b = json!({"number_id": number_id, "target_user_id": target_id, "send": true, "gets": true});
            ("/api/numbers/assign", b)
        } else {
            let b = json!({"number_id": number_id, "target_user_id": target_id});
            ("/api/numbers/unassign", b)
        };
        let body = body.to_string().into_bytes();
        let change = async {
            // Give the reader time to be waiting before the change commits.
            tokio::time::sleep(Duration::from_millis(20)).await;
            let res = writer
                .request(
                    "POST",
                    path,
                    &[
                        ("content-type", "application/json"),
                        ("authorization", &owner_key),
                    ],
                    &body,
                )
                .await
                .map_err(|e| format!("the feed's change: {e}"))?;
            match res.status {
                200 => Ok::<_, String>(Instant::now()),
                s => Err(format!("the feed's change answered {s}")),
            }
        };
        let read = async {
            // Until the change's event arrives (another change, such as the
            // sweeper's, may come first).
            loop {
                let v = read_feed(&mut reader, &admin, after, 10).await?;
                let seen = Instant::now();
                after = v["next_after"].as_i64().unwrap_or(after);
                let items = v["items"].as_array().cloned().unwrap_or_default();
                if items
                    .iter()
                    .any(|e| e["type"].as_str().is_some_and(|t| t.starts_with("grant.")))
                {
                    return Ok::<_, String>(seen);
                }
            }
        };
        let (answered, seen) = tokio::join!(change, read);
        let (answered, seen) = (answered?, seen?);
        lags.push(seen.saturating_duration_since(answered).as_secs_f64() * 1000.0);
    }
    // The pair as the world had it (unassigned), for the scenarios after.
    if lags.len() % 2 == 1 {
        let b = json!({"number_id": number_id, "target_user_id": target_id}).to_string();
        let res = writer
            .request(
                "POST",
                "/api/numbers/unassign",
                &[
                    ("content-type", "application/json"),
                    ("authorization", &owner_key),
                ],
                b.as_bytes(),
            )
            .await
            .map_err(|e| format!("the feed's last unassign: {e}"))?;
        if res.status != 200 {
            return Err(format!("the feed's last unassign answered {}", res.status));
        }
    }
    lags.sort_by(f64::total_cmp);
    Ok(FeedLag {
        samples: lags.len(),
        p50_ms: quantile(&lags, 0.5),
        p99_ms: quantile(&lags, 0.99),
        max_ms: lags.last().copied().unwrap_or(0.0),
    })
}

/// The admin's key (the world's first member), for the bench's own setup.
pub fn admin_key(world: &World) -> &str {
    &world.members[0].key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tps_is_read_from_pgbench_report() {
        let report = "transaction type: <builtin: select only>\n\
             latency average = 0.512 ms\n\
             initial connection time = 10.337 ms\n\
             tps = 31234.567890 (without initial connection time)\n";
        assert_eq!(tps_of(report), Ok(31234.56789));
        assert!(tps_of("no figures").is_err());
    }
}
