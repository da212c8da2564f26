//! What never changes about a number (its uid, E.164 and country), cached
//! for the numbers list.
//!
//! A list page is read as ids and flags ([`HeldRow`]); each item's facts
//! come from here, and only the ids this process has not seen yet are read
//! from the store ([`Tx::number_facts`], one statement for the page's
//! misses). No statement changes these three columns and no number is
//! deleted (a unit test below reads every statement to keep it so), so an
//! entry is never stale: nothing is invalidated, on this instance or
//! another. Each core (so each database) has its own cache.
//!
//! Reading the three strings of each row (SQLite's text, UTF-8 checks,
//! three allocations and their frees) and the number's row itself was most
//! of what a list item cost (BENCHMARKS.md, "The native list's facts").
//!
//! The cache holds at most [`CAPACITY`] numbers (a few tens of MB at
//! worst) for at most [`LIFETIME`]; once full or that old, it is emptied and
//! fills again with what is asked for, which keeps it bounded without the
//! bookkeeping of an LRU on every hit.
//!
//! The cache itself ([`Frozen`]) holds any value that never changes once
//! its row exists; the custody history keeps its entries in one too (the
//! history is append-only: both backends refuse an UPDATE or DELETE of it).
//!
//! [`Tx::number_facts`]: crate::store::Tx::number_facts

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::store::{HeldRow, Holding, NumberFacts, StoreError, Tx};

/// The most numbers the facts cache holds.
pub(crate) const CAPACITY: usize = 262_144;

/// How long a [`Frozen`] cache trusts what it holds: then it starts again.
/// Nothing should ever make an entry wrong, but a PostgreSQL failover that
/// loses committed writes could let an id be given to another number (or
/// history entry), and a later version could change what is fixed today;
/// this bounds what such a surprise costs, as the credential and routing
/// caches' lifetimes do, at one more statement for a page's rows a minute.
pub(crate) const LIFETIME: Duration = Duration::from_secs(60);

/// foldhash's fast hasher, not the standard SipHash: the keys are row ids,
/// not chosen by a client to collide, and SipHash was about 150
/// instructions an item of a page (callgrind), foldhash's a few dozen.
type Ids<V> = HashMap<i64, V, foldhash::fast::RandomState>;

struct Entries<V> {
    by_id: Ids<Arc<V>>,
    /// When the entries began.
    since: Instant,
}

/// Values that never change once their row exists, by the row's id: a
/// number's facts (here), a history entry (`custody`). Bounded by a count
/// and by [`LIFETIME`]; once full or that old, it is emptied and fills
/// again with what is asked for.
pub(crate) struct Frozen<V> {
    entries: RwLock<Entries<V>>,
    capacity: usize,
}

impl<V> Frozen<V> {
    pub(crate) fn new(capacity: usize) -> Frozen<V> {
        Frozen {
            entries: RwLock::new(Entries {
                by_id: Ids::default(),
                since: Instant::now(),
            }),
            capacity,
        }
    }

    /// The value of each id; `None` for the ids the cache lacks or no
    /// longer trusts at `now` (the misses, listed once each).
    fn lookup(&self, ids: &[i64], now: Instant) -> (Vec<Option<Arc<V>>>, Vec<i64>) {
        // A panic elsewhere while holding the lock cannot leave the map
        // half-written in a way that matters: every entry is whole.
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let fresh = now.duration_since(entries.since) < LIFETIME;
        let mut misses = Vec::new();
        let found = ids
            .iter()
            .map(|id| {
                let hit = fresh.then(|| entries.by_id.get(id).cloned()).flatten();
                if hit.is_none() {
                    misses.push(*id);
                }
                hit
            })
            .collect();
        misses.sort_unstable();
        misses.dedup();
        (found, misses)
    }

    fn keep(&self, read: &[(i64, Arc<V>)], now: Instant) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.by_id.len() + read.len() > self.capacity
            || now.duration_since(entries.since) >= LIFETIME
        {
            entries.by_id.clear();
            entries.since = now;
        }
        for (id, value) in read {
            entries.by_id.insert(*id, value.clone());
        }
    }

    /// The value of each of `ids`, in their order, if the cache holds every
    /// one of them.
    pub(crate) fn peek(&self, ids: &[i64]) -> Option<Vec<Arc<V>>> {
        let (found, misses) = self.lookup(ids, Instant::now());
        if !misses.is_empty() {
            return None;
        }
        found.into_iter().collect()
    }

    /// The value of each of `ids`, in their order: the cached ones, and the
    /// others read with `read` (given the misses, once each), and kept if
    /// `keep`. An id that `read` does not answer is `None`.
    pub(crate) fn get(
        &self,
        tx: &mut dyn Tx,
        ids: &[i64],
        keep: bool,
        read: impl FnOnce(&mut dyn Tx, &[i64]) -> Result<Vec<(i64, V)>, StoreError>,
    ) -> Result<Vec<Option<Arc<V>>>, StoreError> {
        let now = Instant::now();
        let (mut found, misses) = self.lookup(ids, now);
        if !misses.is_empty() {
            let read: Vec<(i64, Arc<V>)> = read(tx, &misses)?
                .into_iter()
                .map(|(id, v)| (id, Arc::new(v)))
                .collect();
            if keep {
                self.keep(&read, now);
            }
            let by_id: Ids<&Arc<V>> = read.iter().map(|(id, v)| (*id, v)).collect();
            for (slot, id) in found.iter_mut().zip(ids) {
                if slot.is_none() {
                    *slot = by_id.get(id).map(|v| Arc::clone(v));
                }
            }
        }
        Ok(found)
    }
}

/// The numbers' facts, for the numbers list.
pub(crate) type FactsCache = Frozen<NumberFacts>;

impl Default for FactsCache {
    fn default() -> FactsCache {
        Frozen::new(CAPACITY)
    }
}

impl FactsCache {
    /// `rows` as holdings: the cached facts, and the others read through
    /// `tx` (and kept). A row whose number has no facts is a store fault
    /// (numbers are never deleted).
    pub(crate) fn holdings(
        &self,
        tx: &mut dyn Tx,
        rows: Vec<HeldRow>,
    ) -> Result<Vec<Holding>, StoreError> {
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let found = self.get(tx, &ids, true, |tx, misses| tx.number_facts(misses))?;
        rows.into_iter()
            .zip(found)
            .map(|(r, facts)| {
                let facts = facts
                    .ok_or_else(|| StoreError::Backend(format!("number {} has no row", r.id)))?;
                Ok(Holding {
                    id: r.id,
                    owner_id: r.owner_id,
                    send: r.send,
                    gets: r.gets,
                    ends_at: r.ends_at,
                    facts,
                })
            })
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn facts_keep_their_three_parts() {
        let f = NumberFacts::new("a4bd91924c9d91af3778f59d", "+61400000001", "AU");
        assert_eq!(
            (f.uid(), f.number(), f.country()),
            ("a4bd91924c9d91af3778f59d", "+61400000001", "AU")
        );
    }

    #[test]
    fn misses_are_listed_once_and_kept_ones_are_hits() {
        let cache = FactsCache::default();
        let now = Instant::now();
        let (found, misses) = cache.lookup(&[3, 1, 3], now);
        assert_eq!((found.len(), misses), (3, vec![1, 3]));
        cache.keep(&[(1, Arc::new(NumberFacts::new("u", "+1", "US")))], now);
        let (found, misses) = cache.lookup(&[3, 1], now);
        assert_eq!(misses, vec![3]);
        assert_eq!(found[1].as_deref().map(NumberFacts::number), Some("+1"));
        assert!(found[0].is_none());
    }

    #[test]
    fn a_full_cache_starts_again() {
        let cache = FactsCache::default();
        let now = Instant::now();
        let many: Vec<_> = (0..CAPACITY as i64)
            .map(|id| (id, Arc::new(NumberFacts::new("u", "+1", "US"))))
            .collect();
        cache.keep(&many, now);
        cache.keep(&[(-1, Arc::new(NumberFacts::new("v", "+2", "GB")))], now);
        let (_, misses) = cache.lookup(&[-1, 0], now);
        assert_eq!(misses, vec![0]);
    }

    #[test]
    fn an_old_cache_is_not_trusted_and_starts_again() {
        let cache = FactsCache::default();
        let start = Instant::now();
        cache.keep(&[(1, Arc::new(NumberFacts::new("u", "+1", "US")))], start);
        let later = start + LIFETIME;
        assert_eq!(
            cache.lookup(&[1], later - Duration::from_secs(1)).1,
            Vec::<i64>::new()
        );
        assert_eq!(cache.lookup(&[1], later).1, vec![1]);
        cache.keep(&[(2, Arc::new(NumberFacts::new("v", "+2", "GB")))], later);
        assert_eq!(cache.lookup(&[1, 2], later).1, vec![1]);
    }

    /// The store's sources that hold statements, for the tests that read
    /// them (here and in `custody`).
    pub(crate) const STORE_SOURCES: [&str; 6] = [
        include_str!("../store/sql.rs"),
        include_str!("../store/sqlite/tx.rs"),
        include_str!("../store/sqlite/mod.rs"),
        include_str!("../store/postgres/tx.rs"),
        include_str!("../store/postgres/mod.rs"),
        include_str!("../store/mod.rs"),
    ];

    /// `text` in lower case with its runs of white space made one space.
    pub(crate) fn flat(text: &str) -> String {
        text.to_ascii_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The cache rests on no statement changing a number's uid, E.164 or
    /// country, or deleting a number: the store's sources are read for a
    /// statement that would.
    #[test]
    fn no_statement_changes_a_numbers_facts_or_deletes_one() {
        let mut found = Vec::new();
        for text in STORE_SOURCES {
            let flat = flat(text);
            for (i, _) in flat.match_indices("update numbers set") {
                // The SET list runs to the WHERE.
                let set = &flat[i..];
                let set = &set[..set.find(" where ").unwrap_or(set.len())];
                for column in ["uid", "number", "country"] {
                    for spelled in [format!(" {column} ="), format!(",{column} =")] {
                        if set.contains(&spelled) {
                            found.push(set.to_owned());
                        }
                    }
                }
            }
            if flat.contains("delete from numbers") {
                found.push("delete from numbers".to_owned());
            }
        }
        assert!(found.is_empty(), "{found:?}");
    }
}
