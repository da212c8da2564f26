//! Many grant commands in one request, in order, in one transaction.
//!
//! Every rule plans (checks, lists its changes) before it writes anything,
//! so an item that is refused leaves the transaction untouched: non-atomic
//! bulk commits the items that succeeded and reports the others' errors;
//! atomic bulk rolls back at the first refusal. Each item sees the effects
//! of the items before it, and gets the error it would get alone after them.
//!
//! How, without a round of statements per item: the request's reads are
//! made up front, set-based ([`Reads`]: every number the items name, locked
//! where the backend locks, in id order; their grants; the accounts), and
//! each item is planned by the same rule as alone (`plan_assign`, ... over
//! [`GrantReads`]) against those rows in memory, which each planned item's
//! changes then update, so the next item sees them as it would have read
//! them from the database. The writes are made once at the end: the grants
//! that differ between what was read and what the items left (deleted,
//! updated, inserted, a few statements), then every change's history entry
//! and event in order, through `core::events::log_all`. An item costs a few
//! microseconds of planning instead of six statements.
//!
//! Measured 2026-12-01 (BENCHMARKS.md, "Bulk grants"), the build before in
//! the same run (`LINEKEEPER_BENCH_BASELINE=target/lk-before
//! target/release/linekeeper bench --duration 3`, and with `--database-url
//! postgres://...`): `bulk_assign` on SQLite 3,245 to 18,014 items/s (0.5x
//! to 1.9x `assign_unassign`'s operations/s, and no more 10 s timeouts), on
//! PostgreSQL 5,462 to 11,390 (13x to 20x). In the writer alone
//! (`cargo run --release --example bench_bulk` under callgrind) 126,000
//! to 62,000 instructions an item: SQLite journals every write statement's
//! pages, once per statement, so multi-row statements pay it once per page.

use std::cmp::Ordering;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use super::changes::{Change, Outcome, history_of};
use super::grants::{
    Assign, ChangeGrant, GrantReads, Unassign, plan_assign, plan_change, plan_unassign,
};
use super::{Caller, Core, CoreError};
use crate::domain::Username;
use crate::store::{Account, Grant, HistoryEntry, Number, StoreError, Tx};

/// The most items one bulk request takes.
pub const MAX_ITEMS: usize = 1000;

/// One command of a bulk request.
#[derive(Clone, Debug)]
pub enum BulkItem {
    Assign(Assign),
    Change(ChangeGrant),
    Unassign(Unassign),
}

impl BulkItem {
    fn refs(&self) -> (&super::NumberRef, &super::AccountRef) {
        match self {
            BulkItem::Assign(c) => (&c.number, &c.target),
            BulkItem::Change(c) => (&c.number, &c.target),
            BulkItem::Unassign(c) => (&c.number, &c.target),
        }
    }
}

/// Per-item results, in the order of the items, and whether anything was
/// written. In an atomic request that failed, the items before the failure
/// carry the outcome they would have had, the failing item its error, the
/// rest [`CoreError::NotAttempted`], and `committed` is false.
#[derive(Debug)]
pub struct BulkOutcome {
    pub results: Vec<Result<Outcome, CoreError>>,
    pub committed: bool,
}

/// Why the transaction of a bulk request ends early: the database failed,
/// or (atomic) an item was refused, which rolls everything back.
enum Abort {
    Store(StoreError),
    Refused(Vec<Result<Outcome, CoreError>>),
    /// A dry run: everything planned, then rolled back.
    DryRun(Vec<Result<Outcome, CoreError>>),
}

impl From<StoreError> for Abort {
    fn from(e: StoreError) -> Abort {
        Abort::Store(e)
    }
}

/// A bulk request's view of the database: the rows its items name, read up
/// front, with the changes of the items planned so far applied to them.
/// Whatever it was not given (a granter's account, a number first named by
/// a later lookup) it reads through the transaction once and keeps.
///
/// Only grants change under a grant rule; numbers and accounts are as read.
struct Reads<'t> {
    tx: &'t mut dyn Tx,
    numbers: HashMap<i64, Number>,
    /// Ids looked up that name no number.
    no_number: HashSet<i64>,
    by_e164: HashMap<String, Option<i64>>,
    by_uid: HashMap<String, Option<i64>>,
    /// The grants on each number read, by account id, as the items so far
    /// left them.
    grants: HashMap<i64, Vec<Grant>>,
    /// The grants of each number an item changed, as read: what the writes
    /// at the end compare with.
    before: HashMap<i64, Vec<Grant>>,
    accounts: HashMap<i64, Option<Account>>,
    by_username: HashMap<String, Option<i64>>,
}

impl<'t> Reads<'t> {
    /// Reads what `items` name: their numbers (locked, in id order, where
    /// the backend locks), the grants on them, and the accounts they name.
    fn of(tx: &'t mut dyn Tx, items: &[BulkItem]) -> Result<Reads<'t>, StoreError> {
        let (mut ids, mut e164s, mut uids) = (Vec::new(), Vec::new(), Vec::new());
        let (mut account_ids, mut keys) = (Vec::new(), Vec::new());
        for item in items {
            let (n, a) = item.refs();
            // The key a rule looks the number up by (see `resolve_number`).
            match (n.id, n.e164.as_deref(), n.uid.as_deref()) {
                (Some(id), _, _) => ids.push(id),
                (None, Some(e), _) => e164s.push(e.to_owned()),
                (None, None, Some(u)) => uids.push(u.to_owned()),
                (None, None, None) => {}
            }
            match (a.id, a.username.as_deref()) {
                (Some(id), _) => account_ids.push(id),
                (None, Some(name)) => keys.extend(Username::parse(name).map(|u| u.key())),
                (None, None) => {}
            }
        }
        for v in [&mut ids, &mut account_ids] {
            v.sort_unstable();
            v.dedup();
        }
        for v in [&mut e164s, &mut uids, &mut keys] {
            v.sort_unstable();
            v.dedup();
        }
        let found = tx.numbers_by_keys(&ids, &e164s, &uids)?;
        let number_ids: Vec<i64> = found.iter().map(|n| n.id).collect();
        let mut grants: HashMap<i64, Vec<Grant>> =
            number_ids.iter().map(|id| (*id, Vec::new())).collect();
        for g in tx.grants_on_numbers(&number_ids)? {
            grants.entry(g.number_id).or_default().push(g);
        }
        let mut reads = Reads {
            numbers: HashMap::with_capacity(found.len()),
            no_number: HashSet::new(),
            by_e164: e164s.into_iter().map(|e| (e, None)).collect(),
            by_uid: uids.into_iter().map(|u| (u, None)).collect(),
            grants,
            before: HashMap::new(),
            accounts: HashMap::new(),
            by_username: keys.iter().map(|k| (k.clone(), None)).collect(),
            tx,
        };
        for n in found {
            if let Some(slot) = reads.by_e164.get_mut(&n.number) {
                *slot = Some(n.id);
            }
            if let Some(slot) = reads.by_uid.get_mut(&n.uid) {
                *slot = Some(n.id);
            }
            reads.numbers.insert(n.id, n);
        }
        reads
            .no_number
            .extend(ids.into_iter().filter(|id| !reads.numbers.contains_key(id)));
        let found = reads.tx.accounts_by_keys(&account_ids, &keys)?;
        for id in account_ids {
            reads.accounts.insert(id, None);
        }
        for a in found {
            let key = a.username.to_ascii_lowercase();
            if let Some(slot) = reads.by_username.get_mut(&key) {
                *slot = Some(a.id);
            }
            reads.accounts.insert(a.id, Some(a));
        }
        Ok(reads)
    }

    /// A number found by a lookup (here or through the transaction), kept.
    fn keep_number(&mut self, found: Option<Number>) -> Result<Option<Number>, StoreError> {
        if let Some(n) = &found
            && !self.numbers.contains_key(&n.id)
        {
            self.numbers.insert(n.id, n.clone());
        }
        Ok(found)
    }

    /// Applies one item's changes to the grants in memory, as writing them
    /// would change what the next item reads; collects their history
    /// entries. Nothing is applied if any change could not be written.
    fn apply(
        &mut self,
        changes: &[Change],
        actor: Option<i64>,
        now: i64,
        rid: &str,
        entries: &mut Vec<HistoryEntry>,
    ) -> Result<(), CoreError> {
        let mut staged: HashMap<i64, Vec<Grant>> = HashMap::new();
        for change in changes {
            let number_id = change.number_id();
            let grants = match staged.entry(number_id) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(GrantReads::grants_on(self, number_id)?),
            };
            let at = grants.binary_search_by_key(&change_account(change), |g| g.account_id);
            match (change, at) {
                (Change::GrantCreated { .. }, Err(i)) => {
                    if let Some(g) = change.created_grant(now) {
                        grants.insert(i, g);
                    }
                }
                // The unique key would refuse it, as it refuses the insert
                // of a lone command.
                (Change::GrantCreated { .. }, Ok(_)) => return Err(CoreError::AlreadyAssigned),
                (Change::GrantRemoved { .. }, Ok(i)) => {
                    grants.remove(i);
                }
                (Change::GrantChanged { after, .. }, Ok(i)) => {
                    let g = &mut grants[i];
                    g.send = after.send;
                    g.gets = after.gets;
                    g.expires_at = after.expires_at;
                }
                // As the statements would: nothing to delete or update.
                (Change::GrantRemoved { .. } | Change::GrantChanged { .. }, Err(_)) => {}
                (Change::Unsubscribed { .. }, _) => {
                    return Err(CoreError::Store(StoreError::Backend(
                        "a grant rule planned an unsubscription".into(),
                    )));
                }
            }
        }
        for (number_id, grants) in staged {
            // `grants_on` above kept the number's grants, so there is an
            // old value: as read, the first time an item changes them.
            if let Some(old) = self.grants.insert(number_id, grants) {
                self.before.entry(number_id).or_insert(old);
            }
        }
        entries.extend(changes.iter().map(|c| history_of(c, actor, now, rid)));
        Ok(())
    }

    /// Writes what the items changed: the grants that differ from what was
    /// read, then every change's history entry and event, in order.
    fn write(self, entries: Vec<HistoryEntry>) -> Result<(), StoreError> {
        let (mut deleted, mut updated, mut inserted) = (Vec::new(), Vec::new(), Vec::new());
        let mut touched: Vec<(&i64, &Vec<Grant>)> = self.before.iter().collect();
        touched.sort_unstable_by_key(|(id, _)| **id);
        for (number_id, before) in touched {
            let after = self.grants.get(number_id).map_or(&[][..], Vec::as_slice);
            // Both by account id: one walk of the two.
            let (mut b, mut a) = (before.iter().peekable(), after.iter().peekable());
            while b.peek().is_some() || a.peek().is_some() {
                let order = match (b.peek(), a.peek()) {
                    (Some(old), Some(new)) => old.account_id.cmp(&new.account_id),
                    (Some(_), None) => Ordering::Less,
                    (None, _) => Ordering::Greater,
                };
                match order {
                    Ordering::Less => {
                        if let Some(old) = b.next() {
                            deleted.push((old.number_id, old.account_id));
                        }
                    }
                    Ordering::Greater => inserted.extend(a.next().cloned()),
                    Ordering::Equal => {
                        let (Some(old), Some(new)) = (b.next(), a.next()) else {
                            break;
                        };
                        if old == new {
                            // Unchanged.
                        } else if old.granted_by == new.granted_by
                            && old.created_at == new.created_at
                        {
                            // The same grant with other terms.
                            updated.push(new.clone());
                        } else {
                            // Removed, then made again.
                            deleted.push((old.number_id, old.account_id));
                            inserted.push(new.clone());
                        }
                    }
                }
            }
        }
        let tx = self.tx;
        tx.delete_grants(&deleted)?;
        tx.update_grants(&updated)?;
        tx.insert_grants(&inserted)?;
        crate::core::events::log_all(tx, entries)
    }
}

/// The account whose grant a change is about.
fn change_account(change: &Change) -> i64 {
    match change {
        Change::GrantCreated { account_id, .. }
        | Change::GrantRemoved { account_id, .. }
        | Change::GrantChanged { account_id, .. } => *account_id,
        Change::Unsubscribed { owner_id, .. } => *owner_id,
    }
}

impl GrantReads for Reads<'_> {
    fn number_by_id(&mut self, id: i64) -> Result<Option<Number>, StoreError> {
        if let Some(n) = self.numbers.get(&id) {
            return Ok(Some(n.clone()));
        }
        if self.no_number.contains(&id) {
            return Ok(None);
        }
        let found = self.tx.number_by_id(id)?;
        if found.is_none() {
            self.no_number.insert(id);
        }
        self.keep_number(found)
    }

    fn number_by_e164(&mut self, e164: &str) -> Result<Option<Number>, StoreError> {
        match self.by_e164.get(e164) {
            Some(Some(id)) => Ok(self.numbers.get(id).cloned()),
            Some(None) => Ok(None),
            None => {
                let found = self.tx.number_by_e164(e164)?;
                self.by_e164
                    .insert(e164.to_owned(), found.as_ref().map(|n| n.id));
                self.keep_number(found)
            }
        }
    }

    fn number_by_uid(&mut self, uid: &str) -> Result<Option<Number>, StoreError> {
        match self.by_uid.get(uid) {
            Some(Some(id)) => Ok(self.numbers.get(id).cloned()),
            Some(None) => Ok(None),
            None => {
                let found = self.tx.number_by_uid(uid)?;
                self.by_uid
                    .insert(uid.to_owned(), found.as_ref().map(|n| n.id));
                self.keep_number(found)
            }
        }
    }

    fn grants_on(&mut self, number_id: i64) -> Result<Vec<Grant>, StoreError> {
        if let Some(g) = self.grants.get(&number_id) {
            return Ok(g.clone());
        }
        let g = self.tx.grants_on(number_id)?;
        self.grants.insert(number_id, g.clone());
        Ok(g)
    }

    fn account_by_id(&mut self, id: i64) -> Result<Option<Account>, StoreError> {
        if let Some(a) = self.accounts.get(&id) {
            return Ok(a.clone());
        }
        let a = self.tx.account_by_id(id)?;
        self.accounts.insert(id, a.clone());
        Ok(a)
    }

    fn account_by_username(&mut self, key: &str) -> Result<Option<Account>, StoreError> {
        match self.by_username.get(key) {
            Some(Some(id)) => Ok(self.accounts.get(id).cloned().flatten()),
            Some(None) => Ok(None),
            None => {
                let a = self.tx.account_by_username(key)?;
                self.by_username
                    .insert(key.to_owned(), a.as_ref().map(|a| a.id));
                if let Some(a) = &a {
                    self.accounts.insert(a.id, Some(a.clone()));
                }
                Ok(a)
            }
        }
    }
}

/// Plans one item against `reads` and applies its changes there.
fn run_item(
    reads: &mut Reads<'_>,
    caller: &Account,
    item: &BulkItem,
    now: i64,
    rid: &str,
    entries: &mut Vec<HistoryEntry>,
) -> Result<Outcome, CoreError> {
    let changes = match item {
        BulkItem::Assign(cmd) => plan_assign(reads, caller, cmd, now)?,
        BulkItem::Change(cmd) => plan_change(reads, caller, cmd, now)?,
        BulkItem::Unassign(cmd) => plan_unassign(reads, caller, cmd, now)?,
    };
    reads.apply(&changes, Some(caller.id), now, rid, entries)?;
    Ok(Outcome {
        changes,
        dry_run: false,
    })
}

/// Runs `items` in `tx`; see the module's documentation.
fn run_items(
    tx: &mut dyn Tx,
    account: &Account,
    items: &[BulkItem],
    atomic: bool,
    dry_run: bool,
    now: i64,
    rid: &str,
) -> Result<Vec<Result<Outcome, CoreError>>, Abort> {
    let mut reads = Reads::of(tx, items)?;
    let mut entries = Vec::new();
    let mut results = Vec::with_capacity(items.len());
    for item in items {
        match run_item(&mut reads, account, item, now, rid, &mut entries) {
            Ok(outcome) => results.push(Ok(outcome)),
            Err(CoreError::Store(e)) => return Err(Abort::Store(e)),
            Err(refusal) if atomic => {
                results.push(Err(refusal));
                results.extend((results.len()..items.len()).map(|_| Err(CoreError::NotAttempted)));
                return Err(Abort::Refused(results));
            }
            Err(refusal) => results.push(Err(refusal)),
        }
    }
    if dry_run {
        return Err(Abort::DryRun(results));
    }
    reads.write(entries)?;
    Ok(results)
}

impl Core {
    /// The administrator (a root account) `username`, as a caller of
    /// [`Core::bulk`] from the command line.
    pub async fn administrator(&self, username: &str) -> Result<Caller, CoreError> {
        let name = username.to_owned();
        let account = self
            .store
            .read(move |tx| {
                let key = crate::domain::Username::parse(&name).map(|u| u.key());
                Ok::<_, CoreError>(match key {
                    Some(k) => tx.account_by_username(&k)?,
                    None => None,
                })
            })
            .await?
            .filter(crate::store::Account::is_admin)
            .ok_or_else(|| CoreError::Invalid(format!("no administrator {username}")))?;
        Ok(Caller {
            account,
            kind: crate::domain::TokenKind::ApiKey,
            digest: String::new(),
        })
    }

    /// Runs `items` (at most [`MAX_ITEMS`]) in order in one transaction;
    /// `atomic`: all or nothing.
    pub async fn bulk(
        &self,
        caller: &Caller,
        items: Vec<BulkItem>,
        atomic: bool,
        request_id: &str,
    ) -> Result<BulkOutcome, CoreError> {
        let ran = self
            .run_bulk(caller, items, atomic, false, request_id)
            .await?;
        for outcome in ran.results.iter().flatten() {
            self.forget_routes(outcome);
        }
        Ok(ran)
    }

    /// What [`Core::bulk`] would answer, with nothing written (not even
    /// history): the same checks, each item seeing the items before it,
    /// then the transaction is rolled back. `committed` is false and every
    /// outcome is marked `dry_run`.
    pub async fn bulk_dry_run(
        &self,
        caller: &Caller,
        items: Vec<BulkItem>,
        atomic: bool,
    ) -> Result<BulkOutcome, CoreError> {
        let mut ran = self
            .run_bulk(caller, items, atomic, true, "dry-run")
            .await?;
        for outcome in ran.results.iter_mut().flatten() {
            outcome.dry_run = true;
        }
        Ok(ran)
    }

    async fn run_bulk(
        &self,
        caller: &Caller,
        items: Vec<BulkItem>,
        atomic: bool,
        dry_run: bool,
        request_id: &str,
    ) -> Result<BulkOutcome, CoreError> {
        if items.len() > MAX_ITEMS {
            return Err(CoreError::TooManyItems { max: MAX_ITEMS });
        }
        let (account, now, rid) = (
            caller.account.clone(),
            self.clock.now(),
            request_id.to_owned(),
        );
        let ran = self
            .store
            .write(move |tx| run_items(tx, &account, &items, atomic, dry_run, now, &rid))
            .await;
        match ran {
            Ok(results) => Ok(BulkOutcome {
                results,
                committed: true,
            }),
            Err(Abort::Refused(results) | Abort::DryRun(results)) => Ok(BulkOutcome {
                results,
                committed: false,
            }),
            Err(Abort::Store(e)) => Err(CoreError::Store(e)),
        }
    }
}
