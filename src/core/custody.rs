//! Reading the custody history back, as far as a caller may see it.
//!
//! An administrator sees every entry. Anyone else sees the entries whose
//! actor or target is itself or an account of its downline (its subtree),
//! and of those only the accounts inside its subtree are named: an actor or
//! granter above it (or the platform) is `None`. So a reseller never learns
//! who held a number before it reached the reseller's tree, nor who above it
//! passed the number along.
//!
//! A number's page is read as the ids of its entries (newest first, from the
//! `history_number_id` index alone) and the entries themselves from
//! [`EntryCache`]: the history is append-only, so an entry read once is kept
//! (bounded, see `facts::Frozen`), and only the ones this process lacks are
//! read, in one statement. The visibility rule is applied to the entries
//! here, in rounds of ids until the page is full. Reading each entry's row
//! and checking its accounts' paths in the statement was most of what a
//! page cost: 812,000 instructions a request for 50 entries, now 287,000
//! (callgrind, BENCHMARKS.md, "The history's entries, cached").
//!
//! A short page (the native face's, up to `HERE_ROWS`) is first read in one
//! round on the calling thread (as the numbers list is); if one round does
//! not fill it (a run of entries the caller may not see), it is read again
//! on a reader thread in as many rounds as it needs, as the whole history's
//! statement walks as far as it must. Only the first round's misses are
//! kept, so such a walk does not empty the cache for everyone else.
//! The whole history (no number) is read by one statement that applies the
//! same rule (`HistoryQuery::within`).

use std::collections::HashMap;
use std::sync::Arc;

use super::grants::{NumberRef, Perms};
use super::{Caller, Core, CoreError};
use crate::store::{Account, HistoryQuery, HistoryRow, Tx};

/// One history entry, as a caller may see it.
#[derive(Clone, Debug)]
pub struct HistoryView {
    pub id: i64,
    pub at: i64,
    /// Shared with the cached entry (no copy for each page).
    pub action: Arc<str>,
    pub request_id: Arc<str>,
    /// `(id, E.164)` of the number it is about, if any.
    pub number: Option<(i64, Arc<str>)>,
    /// Shared between the entries of a page that name the same account.
    pub actor: Option<Arc<Account>>,
    pub target: Option<Arc<Account>>,
    /// Who made the grant the entry is about (assign: the actor; a removal:
    /// the grant's maker).
    pub granted_by: Option<Arc<Account>>,
    /// The permissions granted (assign only).
    pub perms: Option<Perms>,
}

/// An entry as a view needs it, its detail read once: kept by
/// [`EntryCache`], as the history is append-only (both backends refuse an
/// UPDATE or DELETE of it).
#[derive(Debug)]
pub(crate) struct Entry {
    id: i64,
    at: i64,
    action: Arc<str>,
    request_id: Arc<str>,
    number_id: Option<i64>,
    actor_id: Option<i64>,
    account_id: Option<i64>,
    /// Who made the grant the entry is about (assign: the actor; a removal:
    /// the grant's maker, from the detail).
    granted_by: Option<i64>,
    perms: Option<Perms>,
}

impl Entry {
    fn of(r: HistoryRow) -> Entry {
        // An unreadable detail names nothing, as a missing field would.
        let d: Detail = serde_json::from_str(&r.detail).unwrap_or_default();
        let assign = r.action == crate::store::Action::Assign.as_str();
        Entry {
            id: r.id,
            at: r.at,
            granted_by: if assign { r.actor_id } else { d.granted_by },
            perms: match (d.send, d.gets) {
                (Some(send), Some(gets)) if assign => Some(Perms { send, gets }),
                _ => None,
            },
            action: r.action.into(),
            request_id: r.request_id.into(),
            number_id: r.number_id,
            actor_id: r.actor_id,
            account_id: r.account_id,
        }
    }
}

/// The history entries this process has read, by id (see `facts`).
pub(crate) type EntryCache = super::facts::Frozen<Entry>;

/// The most entries the cache holds: a few hundred bytes each.
pub(crate) const ENTRY_CAPACITY: usize = 65_536;

/// The most ids a later round of a number's page reads in one statement
/// while the caller sees too few of them (the first reads the page's size,
/// each one after four times the one before).
const MOST_IDS: i64 = 2_000;

/// How many rounds of ids a number's page may read.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Rounds {
    /// One: a page on the calling thread, which must not walk a long run
    /// of entries the caller may not see (`None` if that would be needed).
    One,
    /// As many as the page needs.
    Any,
}

/// Entries of one page, newest first, with `before_id` the keyset cursor:
/// of the whole history (`number: None`), or of one number (its id and
/// E.164), in at most `rounds` (`None` if one round did not fill it).
pub(crate) fn page(
    tx: &mut dyn Tx,
    cache: &EntryCache,
    viewer: &Arc<Account>,
    number: Option<(i64, &str)>,
    before_id: Option<i64>,
    limit: i64,
    rounds: Rounds,
) -> Result<Option<Vec<HistoryView>>, CoreError> {
    let everything = viewer.is_admin();
    let mut named = Named::default();
    if !everything {
        // The viewer names itself (its id and username are all a view
        // shows of an account, and neither changes): not read again.
        named.known.insert(viewer.id, Some(viewer.clone()));
    }
    // Each entry with its number's E.164 (if it names a number).
    let entries: Vec<(Arc<Entry>, Option<Arc<str>>)> = match number {
        None => tx
            .history_page(&HistoryQuery {
                before_id,
                within: (!everything).then(|| viewer.path.clone()),
                limit,
            })?
            .into_iter()
            .map(|mut r| {
                let e164 = r.number.take().map(Arc::from);
                (Arc::new(Entry::of(r)), e164)
            })
            .collect(),
        Some((number_id, e164)) => {
            let e164: Arc<str> = e164.into();
            // The number's entries newest first, from its index and the
            // cache, keeping those the viewer may see (its own or its
            // downline's as actor or target: what `HistoryQuery::within`
            // asks of the whole history) until the page is full.
            let mut kept = Vec::new();
            let (mut before, mut ask, mut first) = (before_id, limit.max(1), true);
            loop {
                let ids = tx.history_ids_of_number(number_id, before, ask)?;
                // Only the first round's misses are kept: a long walk
                // past entries the caller may not see must not empty the
                // cache for everyone else.
                let found = cache.get(tx, &ids, first, |tx, misses| {
                    Ok(tx
                        .history_by_ids(misses)?
                        .into_iter()
                        .map(|r| (r.id, Entry::of(r)))
                        .collect())
                })?;
                // An entry of another number (an id given again after a
                // failover that lost writes) is not this number's.
                let found: Vec<Arc<Entry>> = found
                    .into_iter()
                    .flatten()
                    .filter(|e| e.number_id == Some(number_id))
                    .collect();
                if !everything {
                    named.learn(tx, viewer, found.iter().map(|e| &**e))?;
                }
                for e in found {
                    if (kept.len() as i64) < limit
                        && (everything || named.sees(e.actor_id) || named.sees(e.account_id))
                    {
                        kept.push((e, Some(e164.clone())));
                    }
                }
                if kept.len() as i64 >= limit || (ids.len() as i64) < ask {
                    break;
                }
                if rounds == Rounds::One {
                    return Ok(None);
                }
                first = false;
                before = ids.last().copied();
                ask = (ask * 4).min(MOST_IDS);
            }
            kept
        }
    };
    // Each account the page names, once, and only if the viewer may see it.
    named.learn(tx, viewer, entries.iter().map(|(e, _)| &**e))?;
    Ok(Some(
        entries
            .into_iter()
            .map(|(e, e164)| HistoryView {
                id: e.id,
                at: e.at,
                request_id: e.request_id.clone(),
                number: e.number_id.zip(e164),
                actor: named.get(e.actor_id),
                target: named.get(e.account_id),
                granted_by: named.get(e.granted_by),
                perms: e.perms,
                action: e.action.clone(),
            })
            .collect(),
    ))
}

/// The accounts a page's entries name, each read once: `Some` if the
/// viewer may see it (itself, its downline; everyone for an
/// administrator), `None` if not.
#[derive(Default)]
struct Named {
    known: HashMap<i64, Option<Arc<Account>>, foldhash::fast::RandomState>,
}

impl Named {
    /// Reads the accounts `entries` name that are not known yet.
    fn learn<'e>(
        &mut self,
        tx: &mut dyn Tx,
        viewer: &Account,
        entries: impl Iterator<Item = &'e Entry>,
    ) -> Result<(), CoreError> {
        let mut ids: Vec<i64> = entries
            .flat_map(|e| [e.actor_id, e.account_id, e.granted_by])
            .flatten()
            .filter(|id| !self.known.contains_key(id))
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        ids.sort_unstable();
        ids.dedup();
        // Every id asked is known after, as `None` if no such account.
        for id in &ids {
            self.known.insert(*id, None);
        }
        for a in tx.accounts_by_ids(&ids)? {
            if viewer.is_admin() || a.id == viewer.id || viewer.is_above(&a) {
                self.known.insert(a.id, Some(Arc::new(a)));
            }
        }
        Ok(())
    }

    fn get(&self, id: Option<i64>) -> Option<Arc<Account>> {
        self.known.get(&id?).cloned().flatten()
    }

    fn sees(&self, id: Option<i64>) -> bool {
        id.is_some_and(|id| matches!(self.known.get(&id), Some(Some(_))))
    }
}

/// What a view reads of an entry's `detail` (the rest of it is ignored).
#[derive(Default, serde::Deserialize)]
struct Detail {
    granted_by: Option<i64>,
    send: Option<bool>,
    gets: Option<bool>,
}

impl Core {
    /// The caller's history (`number: None`) or that of one number it holds
    /// (`NotVisible` otherwise), newest first, entries older than `before_id`.
    ///
    /// No transaction of ours: each statement reads what is committed (the
    /// history only grows, and the page's cursor is an id), and a short
    /// page is read on the calling thread where the store allows it, as
    /// the numbers list is (`HERE_ROWS`).
    pub async fn history(
        &self,
        caller: &Caller,
        number: Option<NumberRef>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<HistoryView>, CoreError> {
        let (me, now) = (Arc::new(caller.account.clone()), self.clock.now());
        let cache = self.entries.clone();
        let of_number = number.is_some();
        let read = move |rounds: Rounds| {
            let (me, cache, number) = (me.clone(), cache.clone(), number.clone());
            move |tx: &mut dyn Tx| {
                let number = match &number {
                    Some(r) => Some(super::grants::visible_number(tx, &me, r, now)?),
                    None => None,
                };
                let number = number.as_ref().map(|n| (n.id, n.number.as_str()));
                page(tx, &cache, &me, number, before_id, limit, rounds)
            }
        };
        // A number's short page in one round on the calling thread where
        // the store allows it; one that needs more rounds (a long run of
        // entries the caller may not see), and the whole history (one
        // statement that may walk far), on a reader thread.
        if of_number
            && limit <= super::HERE_ROWS
            && let Some(page) = self.store.read_here(read(Rounds::One)).await?
        {
            return Ok(page);
        }
        let page = self.store.read_each(read(Rounds::Any)).await?;
        Ok(page.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    /// The entry cache rests on the history being append-only: both
    /// backends' first migration refuses an UPDATE or DELETE of it, no later
    /// one drops that, and no statement of the store tries either.
    #[test]
    fn the_history_stays_append_only() {
        use crate::core::facts::tests::{STORE_SOURCES, flat};
        let sqlite = flat(include_str!("../store/sqlite/migrations/0001_init.sql"));
        assert!(sqlite.contains("create trigger history_no_update before update on history"));
        assert!(sqlite.contains("create trigger history_no_delete before delete on history"));
        let postgres = flat(include_str!("../store/postgres/migrations/0001_init.sql"));
        assert!(
            postgres
                .contains("create trigger history_no_change before update or delete on history")
        );
        let mut texts: Vec<String> = STORE_SOURCES.iter().map(|t| t.to_string()).collect();
        for backend in ["sqlite", "postgres"] {
            let dir = format!(
                "{}/src/store/{backend}/migrations",
                env!("CARGO_MANIFEST_DIR")
            );
            for file in std::fs::read_dir(&dir).expect("the migrations") {
                let path = file.expect("a migration").path();
                texts.push(std::fs::read_to_string(&path).expect("readable"));
            }
        }
        assert!(
            texts.len() > STORE_SOURCES.len() + 10,
            "the migrations were read"
        );
        for text in &texts {
            let text = flat(text);
            for refused in [
                "update history",
                "delete from history",
                "drop trigger",
                "truncate history",
                "drop table history",
            ] {
                assert!(!text.contains(refused), "{refused}");
            }
        }
    }
}
