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
//!
//! A number's first page needs no statement at all once it has been read
//! and the routing table holds the number ([`Core::history_at_hand`]):
//! whether the caller holds it comes from the routing, the page's ids from
//! the head the table keeps beside it (forgotten and trusted as the routing
//! is: every entry about a number comes with its event, by a change that
//! forgets the number), the entries from [`EntryCache`] and the accounts
//! they name from [`AccountCache`]. The same rule then picks the page from
//! them ([`Parts`]: the store through the caches, or the caches alone).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::grants::{NumberRef, Perms};
use super::routing::{Head, NumberKey, Routing};
use super::{Caller, Core, CoreError, CoreInner};
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

/// The accounts that history entries name, by id (see `facts`): a view
/// reads only an account's id, username and path from here (and whether
/// it is an administrator), and no statement changes those (a unit test
/// below reads every statement to keep it so). The rest of a kept account
/// (its name, whether it is suspended) may be older than the database's.
pub(crate) type AccountCache = super::facts::Frozen<Account>;

/// The most accounts that cache holds.
pub(crate) const ACCOUNT_CAPACITY: usize = 65_536;

/// Where the parts of a number's page come from: the store through the
/// caches ([`Stored`]), or the caches alone ([`AtHand`]), which answer
/// `None` for what they lack.
trait Parts {
    /// The number's entry ids below `before`, newest first, at most `ask`;
    /// `first` for the page's first round.
    fn ids(
        &mut self,
        number_id: i64,
        before: Option<i64>,
        ask: i64,
        first: bool,
    ) -> Result<Option<Vec<i64>>, CoreError>;

    /// The entries with these ids that exist (kept if `keep`).
    fn entries(&mut self, ids: &[i64], keep: bool) -> Result<Option<Vec<Arc<Entry>>>, CoreError>;

    /// The accounts with these ids that exist.
    fn accounts(&mut self, ids: &[i64]) -> Result<Option<Vec<Arc<Account>>>, CoreError>;
}

/// The store, through the caches, which keep what it reads.
struct Stored<'a> {
    tx: &'a mut dyn Tx,
    core: &'a CoreInner,
}

impl Parts for Stored<'_> {
    fn ids(
        &mut self,
        number_id: i64,
        before: Option<i64>,
        ask: i64,
        first: bool,
    ) -> Result<Option<Vec<i64>>, CoreError> {
        // A short first page's ids are kept as the number's head, under
        // the routing table's rules: taken before the read, the generation
        // keeps none that a change raced.
        let keep = first && before.is_none() && ask <= super::HERE_ROWS;
        let since = keep.then(|| (self.core.routes.generation(), Instant::now()));
        let ids = self.tx.history_ids_of_number(number_id, before, ask)?;
        if let Some((generation, read_at)) = since {
            let asked = usize::try_from(ask).unwrap_or(0);
            let head = Head::new(ids.clone(), asked);
            self.core
                .routes
                .put_head(number_id, head, generation, read_at);
        }
        Ok(Some(ids))
    }

    fn entries(&mut self, ids: &[i64], keep: bool) -> Result<Option<Vec<Arc<Entry>>>, CoreError> {
        let found = self.core.entries.get(self.tx, ids, keep, |tx, misses| {
            Ok(tx
                .history_by_ids(misses)?
                .into_iter()
                .map(|r| (r.id, Entry::of(r)))
                .collect())
        })?;
        Ok(Some(found.into_iter().flatten().collect()))
    }

    fn accounts(&mut self, ids: &[i64]) -> Result<Option<Vec<Arc<Account>>>, CoreError> {
        let found = self.core.accounts.get(self.tx, ids, true, |tx, misses| {
            Ok(tx
                .accounts_by_ids(misses)?
                .into_iter()
                .map(|a| (a.id, a))
                .collect())
        })?;
        Ok(Some(found.into_iter().flatten().collect()))
    }
}

/// The caches alone, with the number's head: no statement.
struct AtHand<'a> {
    core: &'a CoreInner,
    head: Arc<Head>,
}

impl Parts for AtHand<'_> {
    fn ids(
        &mut self,
        _number_id: i64,
        before: Option<i64>,
        ask: i64,
        _first: bool,
    ) -> Result<Option<Vec<i64>>, CoreError> {
        // Only a first page's, the one kept.
        if before.is_some() {
            return Ok(None);
        }
        let ask = usize::try_from(ask).unwrap_or(usize::MAX);
        Ok(self.head.newest(ask).map(<[i64]>::to_vec))
    }

    fn entries(&mut self, ids: &[i64], _keep: bool) -> Result<Option<Vec<Arc<Entry>>>, CoreError> {
        Ok(self.core.entries.peek(ids))
    }

    fn accounts(&mut self, ids: &[i64]) -> Result<Option<Vec<Arc<Account>>>, CoreError> {
        Ok(self.core.accounts.peek(ids))
    }
}

/// Entries of one page, newest first, with `before_id` the keyset cursor:
/// of the whole history (`number: None`), or of one number (its id and
/// E.164), in at most `rounds` (`None` if one round did not fill it).
pub(crate) fn page(
    tx: &mut dyn Tx,
    core: &CoreInner,
    viewer: &Arc<Account>,
    number: Option<(i64, &str)>,
    before_id: Option<i64>,
    limit: i64,
    rounds: Rounds,
) -> Result<Option<Vec<HistoryView>>, CoreError> {
    let mut parts = Stored { tx, core };
    match number {
        Some(number) => number_page(&mut parts, viewer, number, before_id, limit, rounds),
        None => {
            let everything = viewer.is_admin();
            let entries = parts
                .tx
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
                .collect();
            views(&mut parts, viewer, Named::of(viewer), entries)
        }
    }
}

/// A number's page (its id and E.164) from `parts`; `None` if one round
/// did not fill it and `rounds` is one, or `parts` lacked something.
fn number_page(
    parts: &mut impl Parts,
    viewer: &Arc<Account>,
    (number_id, e164): (i64, &str),
    before_id: Option<i64>,
    limit: i64,
    rounds: Rounds,
) -> Result<Option<Vec<HistoryView>>, CoreError> {
    let everything = viewer.is_admin();
    let mut named = Named::of(viewer);
    let e164: Arc<str> = e164.into();
    // The number's entries newest first, from its index (or head) and the
    // cache, keeping those the viewer may see (its own or its downline's
    // as actor or target: what `HistoryQuery::within` asks of the whole
    // history) until the page is full.
    let mut kept = Vec::new();
    let (mut before, mut ask, mut first) = (before_id, limit.max(1), true);
    loop {
        let Some(ids) = parts.ids(number_id, before, ask, first)? else {
            return Ok(None);
        };
        // Only the first round's misses are kept: a long walk past entries
        // the caller may not see must not empty the cache for everyone
        // else.
        let Some(found) = parts.entries(&ids, first)? else {
            return Ok(None);
        };
        // An entry of another number (an id given again after a failover
        // that lost writes) is not this number's.
        let found: Vec<Arc<Entry>> = found
            .into_iter()
            .filter(|e| e.number_id == Some(number_id))
            .collect();
        if !everything && !named.learn(parts, viewer, found.iter().map(|e| &**e))? {
            return Ok(None);
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
    views(parts, viewer, named, kept)
}

/// The page's views of `entries`, each account they name once, and only
/// if the viewer may see it; `None` if `parts` lacked an account.
fn views(
    parts: &mut impl Parts,
    viewer: &Account,
    mut named: Named,
    entries: Vec<(Arc<Entry>, Option<Arc<str>>)>,
) -> Result<Option<Vec<HistoryView>>, CoreError> {
    if !named.learn(parts, viewer, entries.iter().map(|(e, _)| &**e))? {
        return Ok(None);
    }
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
    /// What `viewer` knows before a read: itself (its id and username are
    /// all a view shows of an account, and neither changes), unless it is
    /// an administrator (who sees every account as read).
    fn of(viewer: &Arc<Account>) -> Named {
        let mut named = Named::default();
        if !viewer.is_admin() {
            named.known.insert(viewer.id, Some(viewer.clone()));
        }
        named
    }

    /// Reads the accounts `entries` name that are not known yet; `false`
    /// if `parts` lacked some.
    fn learn<'e>(
        &mut self,
        parts: &mut impl Parts,
        viewer: &Account,
        entries: impl Iterator<Item = &'e Entry>,
    ) -> Result<bool, CoreError> {
        let mut ids: Vec<i64> = entries
            .flat_map(|e| [e.actor_id, e.account_id, e.granted_by])
            .flatten()
            .filter(|id| !self.known.contains_key(id))
            .collect();
        if ids.is_empty() {
            return Ok(true);
        }
        ids.sort_unstable();
        ids.dedup();
        let Some(found) = parts.accounts(&ids)? else {
            return Ok(false);
        };
        // Every id asked is known after, as `None` if no such account.
        for id in &ids {
            self.known.insert(*id, None);
        }
        for a in found {
            if viewer.is_admin() || a.id == viewer.id || viewer.is_above(&a) {
                self.known.insert(a.id, Some(a));
            }
        }
        Ok(true)
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

/// Whether `viewer` may read the history of the number `routing` is of,
/// as `grants::visible_number` judges it: an owned number that the viewer
/// owns, holds by a live grant, or administers.
fn holds(viewer: &Account, routing: &Routing) -> bool {
    routing.owner.is_some()
        && (viewer.is_admin() || routing.holders.iter().any(|h| h.account.id == viewer.id))
}

impl Core {
    /// The caller's history (`number: None`) or that of one number it holds
    /// (`NotVisible` otherwise), newest first, entries older than `before_id`.
    ///
    /// No transaction of ours: each statement reads what is committed (the
    /// history only grows, and the page's cursor is an id), and a short
    /// page is read on the calling thread where the store allows it, as
    /// the numbers list is (`HERE_ROWS`). A number's first page is
    /// answered from memory when all of it is at hand
    /// ([`Core::history_at_hand`]).
    pub async fn history(
        &self,
        caller: &Caller,
        number: Option<NumberRef>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<HistoryView>, CoreError> {
        let (me, now) = (Arc::new(caller.account.clone()), self.clock.now());
        let short = limit <= super::HERE_ROWS;
        if let Some(r) = number.as_ref().filter(|_| short && before_id.is_none())
            && let Some(page) = self.history_at_hand(&me, r, limit, now)?
        {
            return Ok(page);
        }
        let of_number = number.is_some();
        let read = |rounds: Rounds| {
            let (me, core, number) = (me.clone(), self.clone(), number.clone());
            move |tx: &mut dyn Tx| {
                let number = match &number {
                    Some(r) => Some(super::grants::visible_number(tx, &me, r, now)?),
                    None => None,
                };
                let number = number.as_ref().map(|n| (n.id, n.number.as_str()));
                page(tx, &core, &me, number, before_id, limit, rounds)
            }
        };
        // A number's short page in one round on the calling thread where
        // the store allows it; one that needs more rounds (a long run of
        // entries the caller may not see), and the whole history (one
        // statement that may walk far), on a reader thread.
        if of_number
            && short
            && let Some(page) = self.store.read_here(read(Rounds::One)).await?
        {
            return Ok(page);
        }
        let page = self.store.read_each(read(Rounds::Any)).await?;
        Ok(page.unwrap_or_default())
    }

    /// A number's first page with no statement at all, if everything it
    /// needs is in memory: the number and whether `me` holds it from the
    /// routing table, its newest ids from the head the table keeps beside
    /// it (the same trust: this process's changes forget both at once,
    /// other processes' within a round of following the outbox; and the
    /// routing at least as fresh as the head, `RouteCache::at_hand`), its
    /// entries and accounts from their caches. `None` sends the page to
    /// the store, which also answers why a number is not visible.
    fn history_at_hand(
        &self,
        me: &Arc<Account>,
        r: &NumberRef,
        limit: i64,
        now: i64,
    ) -> Result<Option<Vec<HistoryView>>, CoreError> {
        let key = match (r.id, r.e164.as_deref(), r.uid.as_deref()) {
            (Some(id), _, None) => NumberKey::Id(id),
            (None, Some(e164), None) => NumberKey::E164(e164),
            (_, _, Some(_)) | (None, None, None) => return Ok(None),
        };
        let Some((routing, head)) = self.routes.at_hand(key, now) else {
            return Ok(None);
        };
        // Both halves of a reference must name the number (else the store
        // says which does not), and the caller must hold it.
        if r.e164
            .as_deref()
            .is_some_and(|e| e != routing.number.number)
            || !holds(me, &routing)
        {
            return Ok(None);
        }
        let number = (routing.number.id, routing.number.number.as_str());
        let mut parts = AtHand { core: self, head };
        number_page(&mut parts, me, number, None, limit, Rounds::One)
    }
}

#[cfg(test)]
mod tests {
    /// The account cache rests on no statement changing an account's
    /// username or parent, and its path being set only as the account is
    /// inserted (the path holds the new id), in the same transaction.
    #[test]
    fn an_accounts_username_parent_and_path_never_change() {
        use crate::core::facts::tests::{STORE_SOURCES, flat};
        let mut set = Vec::new();
        for text in STORE_SOURCES {
            let text = flat(text);
            for (i, _) in text.match_indices("update accounts set ") {
                let rest = &text[i + "update accounts set ".len()..];
                let list = &rest[..rest.find(" where ").unwrap_or(rest.len())];
                set.extend(
                    list.split(',')
                        .map(|c| c.split('=').next().unwrap_or("").trim().to_owned()),
                );
            }
        }
        set.sort();
        set.dedup();
        assert_eq!(
            set,
            ["name", "password_hash", "path", "postpaid", "suspended"]
        );
        for tx in [
            include_str!("../store/sqlite/tx.rs"),
            include_str!("../store/postgres/tx.rs"),
        ] {
            let uses: Vec<usize> = tx.match_indices("sql::SET_PATH").map(|(i, _)| i).collect();
            assert_eq!(uses.len(), 1);
            let before = &tx[..uses[0]];
            let function = &before[before.rfind("fn ").unwrap_or(0)..];
            assert!(function.starts_with("fn insert_account("), "{function}");
        }
    }

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
