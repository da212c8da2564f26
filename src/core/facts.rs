//! What never changes about a number (its uid, E.164 and country), cached
//! for the numbers list.
//!
//! A list page is read as ids and flags ([`HeldRow`]); each item's facts
//! come from here, and only the ids this process has not seen yet are read
//! from the store ([`Tx::number_facts`], one statement for the page's
//! misses). No statement changes these three columns and no number is
//! deleted, so an entry is never stale: nothing is invalidated, on this
//! instance or another. A fresh database (a restore) means a fresh process,
//! so a fresh cache.
//!
//! Reading the three strings of each row (SQLite's text, UTF-8 checks,
//! three allocations and their frees) and the number's row itself was most
//! of what a list item cost (BENCHMARKS.md, "The native list's facts").
//!
//! The cache holds at most [`CAPACITY`] numbers (a few tens of MB at
//! worst); once full, it is emptied and fills again with what is asked for,
//! which keeps it bounded without the bookkeeping of an LRU on every hit.
//!
//! [`Tx::number_facts`]: crate::store::Tx::number_facts

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::store::{HeldRow, Holding, NumberFacts, StoreError, Tx};

/// The most numbers the cache holds.
pub(crate) const CAPACITY: usize = 262_144;

/// foldhash's fast hasher, not the standard SipHash: the keys are number
/// ids, not chosen by a client to collide, and SipHash was about 150
/// instructions an item of a page (callgrind), foldhash's a few dozen.
type Ids<V> = HashMap<i64, V, foldhash::fast::RandomState>;

#[derive(Default)]
pub(crate) struct FactsCache {
    by_id: RwLock<Ids<Arc<NumberFacts>>>,
}

impl FactsCache {
    /// Each row with its facts; `None` for the ids the cache lacks (the
    /// misses, listed once each).
    fn lookup(&self, rows: &[HeldRow]) -> (Vec<Option<Arc<NumberFacts>>>, Vec<i64>) {
        let mut misses = Vec::new();
        let found = match self.by_id.read() {
            Ok(map) => rows
                .iter()
                .map(|r| {
                    let hit = map.get(&r.id).cloned();
                    if hit.is_none() {
                        misses.push(r.id);
                    }
                    hit
                })
                .collect(),
            // A writer panicked: read everything afresh, as if empty.
            Err(_) => {
                misses.extend(rows.iter().map(|r| r.id));
                vec![None; rows.len()]
            }
        };
        misses.sort_unstable();
        misses.dedup();
        (found, misses)
    }

    fn keep(&self, read: &[(i64, Arc<NumberFacts>)]) {
        let Ok(mut map) = self.by_id.write() else {
            return;
        };
        if map.len() + read.len() > CAPACITY {
            map.clear();
        }
        for (id, facts) in read {
            map.insert(*id, facts.clone());
        }
    }

    /// `rows` as holdings: the cached facts, and the others read through
    /// `tx` (and kept). A row whose number has no facts is a store fault
    /// (numbers are never deleted).
    pub(crate) fn holdings(
        &self,
        tx: &mut dyn Tx,
        rows: Vec<HeldRow>,
    ) -> Result<Vec<Holding>, StoreError> {
        let (mut found, misses) = self.lookup(&rows);
        if !misses.is_empty() {
            let read: Vec<(i64, Arc<NumberFacts>)> = tx
                .number_facts(&misses)?
                .into_iter()
                .map(|(id, f)| (id, Arc::new(f)))
                .collect();
            self.keep(&read);
            let by_id: Ids<&Arc<NumberFacts>> = read.iter().map(|(id, f)| (*id, f)).collect();
            for (slot, row) in found.iter_mut().zip(&rows) {
                if slot.is_none() {
                    *slot = by_id.get(&row.id).map(|f| Arc::clone(f));
                }
            }
        }
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
                    facts,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64) -> HeldRow {
        HeldRow {
            id,
            owner_id: 1,
            send: true,
            gets: false,
        }
    }

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
        let (found, misses) = cache.lookup(&[row(3), row(1), row(3)]);
        assert_eq!((found.len(), misses), (3, vec![1, 3]));
        cache.keep(&[(1, Arc::new(NumberFacts::new("u", "+1", "US")))]);
        let (found, misses) = cache.lookup(&[row(3), row(1)]);
        assert_eq!(misses, vec![3]);
        assert_eq!(found[1].as_deref().map(NumberFacts::number), Some("+1"));
    }

    #[test]
    fn a_full_cache_starts_again() {
        let cache = FactsCache::default();
        let many: Vec<_> = (0..CAPACITY as i64)
            .map(|id| (id, Arc::new(NumberFacts::new("u", "+1", "US"))))
            .collect();
        cache.keep(&many);
        cache.keep(&[(-1, Arc::new(NumberFacts::new("v", "+2", "GB")))]);
        let (_, misses) = cache.lookup(&[row(-1), row(0)]);
        assert_eq!(misses, vec![0]);
    }
}
