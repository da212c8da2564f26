//! Who may send from a number and who receives on it: the messaging layer's
//! question, asked for every message, so answered from memory.
//!
//! Each process keeps the answers it computed for `ttl` (the credential
//! cache's, 5 s by default). What this process changes (assign, unassign,
//! subscribe, unsubscribe) it forgets at once, in the core's own write paths;
//! a change made by another process (a second instance, the CLI) reaches
//! this one within `ttl`, when its entry runs out. `ttl` 0 turns it off.
//! A lookup that raced a change must not put back what the change made the
//! cache forget: every forgetting moves a generation on, and a routing read
//! under an older generation is answered but not kept (as in
//! `credentials`).
//!
//! An answer is shared (`Arc`): a hit copies no strings. A miss is one
//! statement (`Tx::routing_rows`), run on the calling thread where the store
//! allows it (`Store::read_here`: SQLite), with no transaction and no hop to
//! a reader thread; on PostgreSQL it is one round trip from a pool thread.
//!
//! Measured (BENCHMARKS.md, "Routing without a reader-thread hop"), the
//! server under callgrind on a copy of the bench's SQLite world, 2,000
//! random numbers each asked twice (a miss, then a hit): 237,000
//! instructions a request before these changes, 91,000 after. In bench
//! runs with the previous build as the baseline
//! (`LINEKEEPER_BENCH_BASELINE=target/lk-before target/release/linekeeper
//! bench --duration 3`, on a machine shared with other builds) `routing`
//! went from 30-36% of the ceiling to 40-48% on SQLite, short of the
//! issue's 60%, and stayed at 16% on PostgreSQL, where a miss is still a
//! round trip from a pool thread.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Caller, Core, CoreError, Perms};
use crate::store::{Account, Number};

/// Beyond this many entries the cache starts over (bounded memory).
const MAX_ENTRIES: usize = 100_000;

/// One account that holds the number, and how.
#[derive(Clone, Debug)]
pub struct Holder {
    pub account: Account,
    pub perms: Perms,
    /// Who granted it; `None` for the owner.
    pub granted_by: Option<i64>,
}

/// The routing of one number.
#[derive(Clone, Debug)]
pub struct Routing {
    pub number: Number,
    pub owner: Option<Account>,
    /// The owner first, then every live grant by account id.
    pub holders: Vec<Holder>,
    /// The earliest end among those grants (Unix seconds): a cached answer
    /// is not used from then on, so an ended grant never routes.
    pub(crate) ends_at: Option<i64>,
}

#[derive(Default)]
struct Entries {
    by_e164: HashMap<String, (Arc<Routing>, Instant)>,
    /// Number id to E.164, so a change forgets its number in one lookup.
    e164_of: HashMap<i64, String>,
    /// Moves on with every forgetting.
    generation: u64,
}

pub(crate) struct RouteCache {
    ttl: Duration,
    entries: Mutex<Entries>,
}

impl RouteCache {
    pub(crate) fn new(ttl: Duration) -> RouteCache {
        RouteCache {
            ttl,
            entries: Mutex::new(Entries::default()),
        }
    }

    /// The cached routing of `e164`, if it is younger than the TTL and no
    /// grant in it has ended by `now` (the core's clock); else the
    /// generation to [`RouteCache::put`] a fresh read under.
    fn get(&self, e164: &str, now: i64) -> Result<Arc<Routing>, u64> {
        let Ok(entries) = self.entries.lock() else {
            return Err(u64::MAX);
        };
        if self.ttl.is_zero() {
            return Err(entries.generation);
        }
        match entries.by_e164.get(e164) {
            Some((routing, at))
                if at.elapsed() < self.ttl && routing.ends_at.is_none_or(|end| now < end) =>
            {
                Ok(routing.clone())
            }
            _ => Err(entries.generation),
        }
    }

    /// Keeps `routing`, read under `generation`, unless something was
    /// forgotten since.
    fn put(&self, routing: Arc<Routing>, generation: u64) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.generation != generation {
                return;
            }
            if entries.by_e164.len() >= MAX_ENTRIES {
                entries.by_e164.clear();
                entries.e164_of.clear();
            }
            let e164 = routing.number.number.clone();
            entries.e164_of.insert(routing.number.id, e164.clone());
            entries.by_e164.insert(e164, (routing, Instant::now()));
        }
    }

    /// Forgets the number with this id (this process changed it), and
    /// keeps no lookup that was under way meanwhile.
    pub(crate) fn forget(&self, number_id: i64) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.generation = entries.generation.wrapping_add(1);
            if let Some(e164) = entries.e164_of.remove(&number_id) {
                entries.by_e164.remove(&e164);
            }
        }
    }
}

impl Core {
    /// `e164`'s owner and holders, for administrators only (`Forbidden`
    /// otherwise); an unknown number is `NumberNotFound`.
    pub async fn routing(&self, caller: &Caller, e164: &str) -> Result<Arc<Routing>, CoreError> {
        if !caller.account.is_admin() {
            return Err(CoreError::Forbidden);
        }
        let now = self.clock.now();
        let generation = match self.routes.get(e164, now) {
            Ok(r) => return Ok(r),
            Err(generation) => generation,
        };
        let key = e164.to_owned();
        // One snapshot of the number, its grants and their accounts, in
        // one statement with no transaction of ours, on this thread where
        // the store allows it (the hottest read: a miss of the cache is its
        // cost).
        let routing = self
            .store
            .read_here(move |tx| {
                let rows = tx.routing_rows(&key)?.ok_or(CoreError::NumberNotFound)?;
                let (number, accounts) = (rows.number, rows.accounts);
                // Only live grants route: an ended one (and whatever was
                // granted from it) confers nothing, swept or not.
                let (_, grants) = super::grants::expiries(&rows.grants, now);
                let ends_at = grants.iter().filter_map(|g| g.expires_at).min();
                let find = |id: i64| accounts.iter().find(|a| a.id == id).cloned();
                let owner = number.owner_id().and_then(find);
                let mut holders: Vec<Holder> = owner
                    .iter()
                    .map(|o| Holder {
                        account: o.clone(),
                        perms: Perms::ALL,
                        granted_by: None,
                    })
                    .collect();
                holders.extend(grants.iter().filter_map(|g| {
                    Some(Holder {
                        account: find(g.account_id)?,
                        perms: Perms {
                            send: g.send,
                            gets: g.gets,
                        },
                        granted_by: Some(g.granted_by),
                    })
                }));
                Ok::<_, CoreError>(Routing {
                    number,
                    owner,
                    holders,
                    ends_at,
                })
            })
            .await?;
        let routing = Arc::new(routing);
        self.routes.put(routing.clone(), generation);
        Ok(routing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routing(id: i64, e164: &str) -> Arc<Routing> {
        Arc::new(Routing {
            number: Number {
                id,
                uid: format!("u{id}"),
                number: e164.to_owned(),
                operator_id: None,
                alias: None,
                is_66_char: false,
                country: "AU".into(),
                monthly_price: 0,
                yearly_price: 0,
                subscription: None,
                quarantine: None,
                reservation: None,
            },
            owner: None,
            holders: Vec::new(),
            ends_at: None,
        })
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_kept() {
        let cache = RouteCache::new(Duration::from_secs(5));
        let Err(before) = cache.get("+61400000001", 0) else {
            panic!("an empty cache has nothing");
        };
        // This process changes the number while the read is under way.
        cache.forget(1);
        cache.put(routing(1, "+61400000001"), before);
        assert!(
            cache.get("+61400000001", 0).is_err(),
            "the stale read was kept"
        );
        // A read begun after the change is kept, and forgotten by the next.
        let Err(after) = cache.get("+61400000001", 0) else {
            panic!("nothing was kept");
        };
        cache.put(routing(1, "+61400000001"), after);
        assert!(cache.get("+61400000001", 0).is_ok());
        cache.forget(1);
        assert!(cache.get("+61400000001", 0).is_err());
    }

    #[test]
    fn an_entry_is_not_used_past_its_ttl_or_a_grants_end() {
        let cache = RouteCache::new(Duration::from_millis(30));
        let Err(g) = cache.get("+61400000002", 0) else {
            panic!("an empty cache has nothing");
        };
        let mut r = routing(2, "+61400000002");
        Arc::make_mut(&mut r).ends_at = Some(100);
        cache.put(r, g);
        assert!(cache.get("+61400000002", 99).is_ok());
        assert!(
            cache.get("+61400000002", 100).is_err(),
            "an ended grant routed"
        );
        std::thread::sleep(Duration::from_millis(40));
        assert!(
            cache.get("+61400000002", 0).is_err(),
            "an entry outlived its TTL"
        );
    }
}
