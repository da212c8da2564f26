//! Assigning and unassigning numbers down the account tree, and the cascade.

use super::changes::{Change, Outcome, Removal, Terms, apply};
use super::{Caller, Core, CoreError, RefPart};
use crate::domain::Username;
use crate::store::{Account, AccountKey, Grant, Number, NumberKey, ResolvedReads, StoreError, Tx};

/// The reads a grant rule makes while it plans: a transaction's own
/// ([`Tx`]), or a bulk request's, which reads every item's numbers, grants
/// and accounts up front and answers from memory (see `core::bulk`).
pub trait GrantReads {
    fn number_by_id(&mut self, id: i64) -> Result<Option<Number>, StoreError>;
    fn number_by_e164(&mut self, e164: &str) -> Result<Option<Number>, StoreError>;
    fn number_by_uid(&mut self, uid: &str) -> Result<Option<Number>, StoreError>;
    /// The grants on a number, by account id (as [`Tx::grants_on`]).
    fn grants_on(&mut self, number_id: i64) -> Result<Vec<Grant>, StoreError>;
    fn account_by_id(&mut self, id: i64) -> Result<Option<Account>, StoreError>;
    /// By the case-folded username.
    fn account_by_username(&mut self, key: &str) -> Result<Option<Account>, StoreError>;
    /// [`resolve`]'s reads: each lookup above, in order
    /// ([`reads_one_by_one`]), unless the reader can do better.
    fn resolve_reads(
        &mut self,
        number: Option<NumberKey<'_>>,
        account: Option<AccountKey<'_>>,
    ) -> Result<ResolvedReads, StoreError> {
        reads_one_by_one(self, number, account)
    }
}

/// [`resolve`]'s reads as separate lookups: the number `number` names with
/// its grants, then the account `account` names. The one statement of their
/// order, whether the reader is a transaction whose backend does not send
/// them together ([`Tx::resolve_reads`]) or a bulk request's memory.
fn reads_one_by_one<R: GrantReads + ?Sized>(
    r: &mut R,
    number: Option<NumberKey<'_>>,
    account: Option<AccountKey<'_>>,
) -> Result<ResolvedReads, StoreError> {
    let number = match number {
        Some(NumberKey::Id(id)) => r.number_by_id(id)?,
        Some(NumberKey::E164(e164)) => r.number_by_e164(e164)?,
        Some(NumberKey::Uid(uid)) => r.number_by_uid(uid)?,
        None => None,
    };
    let number = match number {
        Some(n) => {
            let grants = r.grants_on(n.id)?;
            Some((n, grants))
        }
        None => None,
    };
    let account = match account {
        Some(AccountKey::Id(id)) => r.account_by_id(id)?,
        Some(AccountKey::Username(key)) => r.account_by_username(key)?,
        None => None,
    };
    Ok((number, account))
}

impl<T: Tx + ?Sized> GrantReads for T {
    fn number_by_id(&mut self, id: i64) -> Result<Option<Number>, StoreError> {
        Tx::number_by_id(self, id)
    }
    fn number_by_e164(&mut self, e164: &str) -> Result<Option<Number>, StoreError> {
        Tx::number_by_e164(self, e164)
    }
    fn number_by_uid(&mut self, uid: &str) -> Result<Option<Number>, StoreError> {
        Tx::number_by_uid(self, uid)
    }
    fn grants_on(&mut self, number_id: i64) -> Result<Vec<Grant>, StoreError> {
        Tx::grants_on(self, number_id)
    }
    fn account_by_id(&mut self, id: i64) -> Result<Option<Account>, StoreError> {
        Tx::account_by_id(self, id)
    }
    fn account_by_username(&mut self, key: &str) -> Result<Option<Account>, StoreError> {
        Tx::account_by_username(self, key)
    }
    fn resolve_reads(
        &mut self,
        number: Option<NumberKey<'_>>,
        account: Option<AccountKey<'_>>,
    ) -> Result<ResolvedReads, StoreError> {
        match Tx::resolve_reads(self, number, account)? {
            Some(found) => Ok(found),
            None => reads_one_by_one(self, number, account),
        }
    }
}

/// A number named by id, by E.164, or both (which must then agree); or by
/// its uid alone.
#[derive(Clone, Debug, Default)]
pub struct NumberRef {
    pub id: Option<i64>,
    pub e164: Option<String>,
    pub uid: Option<String>,
}

/// An account named by id, by username, or both (which must then agree).
#[derive(Clone, Debug, Default)]
pub struct AccountRef {
    pub id: Option<i64>,
    pub username: Option<String>,
}

/// `send` and `gets` on one number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perms {
    pub send: bool,
    pub gets: bool,
}

impl Perms {
    pub const ALL: Perms = Perms {
        send: true,
        gets: true,
    };

    pub fn covers(self, wanted: Perms) -> bool {
        (self.send || !wanted.send) && (self.gets || !wanted.gets)
    }
}

/// What `account` may do with `number`, given the grants on it that are
/// live (see [`expiries`]); `None` if it does not hold it. Owners and
/// administrators hold a subscribed number fully; a number in the pool is
/// held by no one.
pub fn holding(account: &Account, number: &Number, live: &[Grant]) -> Option<Perms> {
    holding_terms(account, number, live).map(|t| Perms {
        send: t.send,
        gets: t.gets,
    })
}

/// [`holding`] with its end: an owner's (or administrator's) holding has
/// none; a grantee's ends with its grant.
pub fn holding_terms(account: &Account, number: &Number, live: &[Grant]) -> Option<Terms> {
    let owner = number.owner_id()?;
    if owner == account.id || account.is_admin() {
        return Some(Terms {
            send: true,
            gets: true,
            expires_at: None,
        });
    }
    live.iter()
        .find(|g| g.account_id == account.id)
        .map(Terms::of)
}

/// The grants that go when `target`'s grant goes: its own first, then every
/// grant made from it, transitively (breadth first). Grants that reached the
/// same accounts along another chain are not made from `target`'s, so they stay.
pub fn cascade(grants: &[Grant], target: i64) -> Vec<Grant> {
    let start = grants
        .iter()
        .filter(|g| g.account_id == target)
        .map(|g| (g.clone(), vec![g.account_id]))
        .collect();
    descend(grants, start).into_iter().map(|(g, _)| g).collect()
}

/// `start` and every grant made from those, transitively, breadth first,
/// each with its chain (the chain of a grant made from `g` is `g`'s chain
/// and its own account).
pub(crate) fn descend(grants: &[Grant], start: Vec<(Grant, Vec<i64>)>) -> Vec<(Grant, Vec<i64>)> {
    let mut out = start;
    let mut i = 0;
    while i < out.len() {
        let (from, chain) = (out[i].0.account_id, out[i].1.clone());
        for g in grants.iter().filter(|g| g.granted_by == from) {
            let mut c = chain.clone();
            c.push(g.account_id);
            out.push((g.clone(), c));
        }
        i += 1;
    }
    out
}

/// Splits the grants on a number at `now`: the removals that expiry calls
/// for (every grant past its end, and whatever was granted from it), and
/// the live rest. Every read and every rule sees only the live grants; a
/// write that touches the number makes the removals first, so an expired
/// grant confers nothing from its instant whether or not it was swept.
pub fn expiries(all: &[Grant], now: i64) -> (Vec<Change>, Vec<Grant>) {
    let start = all
        .iter()
        .filter(|g| !g.live_at(now))
        .map(|g| (g.clone(), vec![g.account_id]))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut changes = Vec::new();
    for (g, chain) in descend(all, start) {
        if seen.insert(g.account_id) {
            changes.push(Change::GrantRemoved {
                number_id: g.number_id,
                account_id: g.account_id,
                granted_by: g.granted_by,
                reason: Removal::Expire,
                chain,
            });
        }
    }
    let live = all
        .iter()
        .filter(|g| !seen.contains(&g.account_id))
        .cloned()
        .collect();
    (changes, live)
}

/// The number and account an assign or unassign is about, as the caller sees
/// them, with the grants currently on the number.
struct Resolved {
    number: Number,
    /// The live grants on the number.
    grants: Vec<Grant>,
    /// The removals of expired grants the command makes first.
    expired: Vec<Change>,
    held: Terms,
    target: Account,
}

/// Finds both things a command names, reporting every part that the caller
/// cannot see (so a client gets all its field errors at once).
fn resolve<R: GrantReads + ?Sized>(
    tx: &mut R,
    caller: &Account,
    n: &NumberRef,
    t: &AccountRef,
    now: i64,
) -> Result<Resolved, CoreError> {
    let name = t
        .username
        .as_deref()
        .and_then(Username::parse)
        .map(|u| u.key());
    let account_key = match (t.id, name.as_deref()) {
        (Some(id), _) => Some(AccountKey::Id(id)),
        (None, Some(key)) => Some(AccountKey::Username(key)),
        (None, None) => None,
    };
    let (found, account) = tx.resolve_reads(number_key(n), account_key)?;
    let number = judge_number(caller, n, found, now);
    let target = judge_account(caller, t, account);
    match (number, target) {
        (Ok((number, grants, expired, held)), Ok(target)) => Ok(Resolved {
            number,
            grants,
            expired,
            held,
            target,
        }),
        (number, target) => Err(CoreError::NotVisible {
            number: number.err(),
            account: target.err(),
        }),
    }
}

type Found<T> = Result<T, RefPart>;

/// The refusal for a number the caller does not hold.
pub(crate) fn number_not_visible(part: RefPart) -> CoreError {
    CoreError::NotVisible {
        number: Some(part),
        account: None,
    }
}

/// The number `r` names if `caller` holds it, else `NotVisible`.
pub fn visible_number(
    tx: &mut dyn Tx,
    caller: &Account,
    r: &NumberRef,
    now: i64,
) -> Result<Number, CoreError> {
    resolve_number(tx, caller, r, now)?
        .map(|(n, ..)| n)
        .map_err(number_not_visible)
}

/// A visible number: itself, its live grants, the expiry removals due on
/// it, and the caller's holding.
type SeenNumber = (Number, Vec<Grant>, Vec<Change>, Terms);

/// The key a [`NumberRef`] looks its number up by: the id first.
fn number_key(r: &NumberRef) -> Option<NumberKey<'_>> {
    match (r.id, r.e164.as_deref(), r.uid.as_deref()) {
        (Some(id), _, _) => Some(NumberKey::Id(id)),
        (None, Some(e164), _) => Some(NumberKey::E164(e164)),
        (None, None, Some(uid)) => Some(NumberKey::Uid(uid)),
        (None, None, None) => None,
    }
}

fn resolve_number<R: GrantReads + ?Sized>(
    tx: &mut R,
    caller: &Account,
    r: &NumberRef,
    now: i64,
) -> Result<Found<SeenNumber>, CoreError> {
    let (found, _) = tx.resolve_reads(number_key(r), None)?;
    Ok(judge_number(caller, r, found, now))
}

/// Whether the number `r` named, found with its grants as `found`, is
/// visible to `caller`, and if so what it holds of it.
fn judge_number(
    caller: &Account,
    r: &NumberRef,
    found: Option<(Number, Vec<Grant>)>,
    now: i64,
) -> Found<SeenNumber> {
    let first = if r.id.is_some() {
        RefPart::Id
    } else {
        RefPart::Natural
    };
    let Some((number, all)) = found else {
        return Err(first);
    };
    let (expired, grants) = expiries(&all, now);
    let Some(held) = holding_terms(caller, &number, &grants) else {
        return Err(first);
    };
    // Only once the first half is known to be visible may a mismatch with
    // the second be told: otherwise which field fails would reveal that an
    // out-of-reach id exists.
    if r.id.is_some() && r.e164.as_deref().is_some_and(|e| e != number.number) {
        return Err(RefPart::Natural);
    }
    Ok((number, grants, expired, held))
}

/// Whether the account `r` named, found as `account`, is visible to
/// `caller` (below it).
fn judge_account(caller: &Account, r: &AccountRef, account: Option<Account>) -> Found<Account> {
    let first = if r.id.is_some() {
        RefPart::Id
    } else {
        RefPart::Natural
    };
    let Some(account) = account.filter(|a| caller.is_above(a)) else {
        return Err(first);
    };
    // As for numbers: a mismatch is told only about a visible account.
    if r.id.is_some()
        && r.username
            .as_deref()
            .is_some_and(|u| !u.eq_ignore_ascii_case(&account.username))
    {
        return Err(RefPart::Natural);
    }
    Ok(account)
}

/// Grant `target` the use of `number` with `perms`, until `expires_at`
/// (Unix seconds) if given. A granter whose own grant ends may grant no
/// later than that; without `expires_at`, its grant ends with the granter's.
#[derive(Clone, Debug)]
pub struct Assign {
    pub number: NumberRef,
    pub target: AccountRef,
    pub perms: Perms,
    pub expires_at: Option<i64>,
}

/// Remove `target`'s grant on `number`, and everything granted from it.
#[derive(Clone, Debug)]
pub struct Unassign {
    pub number: NumberRef,
    pub target: AccountRef,
}

/// Change `target`'s grant on `number`: each `Some` replaces that term
/// (`expires_at: Some(None)` removes the grant's own end).
#[derive(Clone, Debug)]
pub struct ChangeGrant {
    pub number: NumberRef,
    pub target: AccountRef,
    pub send: Option<bool>,
    pub gets: Option<bool>,
    pub expires_at: Option<Option<i64>>,
}

fn check_end(expires_at: Option<i64>, now: i64) -> Result<(), CoreError> {
    match expires_at {
        Some(e) if e <= now => Err(CoreError::InvalidExpiry),
        _ => Ok(()),
    }
}

/// The changes [`Assign`] makes, checked; writes nothing.
pub fn plan_assign<R: GrantReads + ?Sized>(
    tx: &mut R,
    caller: &Account,
    cmd: &Assign,
    now: i64,
) -> Result<Vec<Change>, CoreError> {
    if !caller.can_manage() {
        return Err(CoreError::Forbidden);
    }
    let r = resolve(tx, caller, &cmd.number, &cmd.target, now)?;
    if holding(&r.target, &r.number, &r.grants).is_some() {
        return Err(CoreError::AlreadyAssigned);
    }
    check_end(cmd.expires_at, now)?;
    let held = Perms {
        send: r.held.send,
        gets: r.held.gets,
    };
    if !held.covers(cmd.perms) {
        return Err(CoreError::PermissionExceeded);
    }
    let terms = Terms {
        send: cmd.perms.send,
        gets: cmd.perms.gets,
        expires_at: cmd.expires_at.or(r.held.expires_at),
    };
    if !terms.within(r.held) {
        return Err(CoreError::ExpiryExceeded);
    }
    let mut changes = r.expired;
    changes.push(Change::GrantCreated {
        number_id: r.number.id,
        account_id: r.target.id,
        granted_by: caller.id,
        terms,
    });
    Ok(changes)
}

/// The changes [`Unassign`] makes, checked; writes nothing.
pub fn plan_unassign<R: GrantReads + ?Sized>(
    tx: &mut R,
    caller: &Account,
    cmd: &Unassign,
    now: i64,
) -> Result<Vec<Change>, CoreError> {
    if !caller.can_manage() {
        return Err(CoreError::Forbidden);
    }
    let r = resolve(tx, caller, &cmd.number, &cmd.target, now)?;
    let start = r
        .grants
        .iter()
        .filter(|g| g.account_id == r.target.id)
        .map(|g| (g.clone(), vec![g.account_id]))
        .collect();
    let doomed = descend(&r.grants, start);
    if doomed.is_empty() {
        return Err(CoreError::NotAssigned);
    }
    let mut changes = r.expired;
    for (i, (g, chain)) in doomed.into_iter().enumerate() {
        changes.push(Change::GrantRemoved {
            number_id: g.number_id,
            account_id: g.account_id,
            granted_by: g.granted_by,
            reason: if i == 0 {
                Removal::Unassign
            } else {
                Removal::Cascade
            },
            chain,
        });
    }
    Ok(changes)
}

/// The changes [`ChangeGrant`] makes, checked; writes nothing. The caller
/// must be the grant's granter or above it, and hold the number; the new
/// terms may exceed neither its holding nor the granter's. Every grant made
/// from the changed one that would exceed its new terms is lowered to them,
/// transitively.
pub fn plan_change<R: GrantReads + ?Sized>(
    tx: &mut R,
    caller: &Account,
    cmd: &ChangeGrant,
    now: i64,
) -> Result<Vec<Change>, CoreError> {
    if !caller.can_manage() {
        return Err(CoreError::Forbidden);
    }
    let r = resolve(tx, caller, &cmd.number, &cmd.target, now)?;
    let Some(grant) = r.grants.iter().find(|g| g.account_id == r.target.id) else {
        return Err(CoreError::NotAssigned);
    };
    let ceiling = if grant.granted_by == caller.id {
        r.held
    } else {
        let granter = tx
            .account_by_id(grant.granted_by)?
            .filter(|g| caller.is_above(g))
            .ok_or(CoreError::NotGranter)?;
        let theirs = holding_terms(&granter, &r.number, &r.grants).ok_or(CoreError::NotAssigned)?;
        // Both bounds hold: the caller's own, and the granter's (invariant 6).
        Terms {
            send: r.held.send && theirs.send,
            gets: r.held.gets && theirs.gets,
            expires_at: match (r.held.expires_at, theirs.expires_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    };
    let before = Terms::of(grant);
    let after = Terms {
        send: cmd.send.unwrap_or(before.send),
        gets: cmd.gets.unwrap_or(before.gets),
        expires_at: cmd.expires_at.unwrap_or(before.expires_at),
    };
    if cmd.expires_at.is_some() {
        check_end(after.expires_at, now)?;
    }
    if (after.send && !ceiling.send) || (after.gets && !ceiling.gets) {
        return Err(CoreError::PermissionExceeded);
    }
    if !after.within(ceiling) {
        return Err(CoreError::ExpiryExceeded);
    }
    let mut changes = r.expired;
    changes.push(Change::GrantChanged {
        number_id: r.number.id,
        account_id: grant.account_id,
        granted_by: grant.granted_by,
        before,
        after,
        cascaded: false,
        chain: vec![grant.account_id],
    });
    let mut queue =
        std::collections::VecDeque::from([(grant.account_id, after, vec![grant.account_id])]);
    while let Some((from, terms, chain)) = queue.pop_front() {
        for g in r.grants.iter().filter(|g| g.granted_by == from) {
            let theirs = Terms::of(g);
            if theirs.within(terms) {
                continue;
            }
            let lowered = theirs.capped(terms);
            let mut c = chain.clone();
            c.push(g.account_id);
            changes.push(Change::GrantChanged {
                number_id: g.number_id,
                account_id: g.account_id,
                granted_by: g.granted_by,
                before: theirs,
                after: lowered,
                cascaded: true,
                chain: c.clone(),
            });
            queue.push_back((g.account_id, lowered, c));
        }
    }
    Ok(changes)
}

/// Assigns, as [`plan_assign`] plans it.
pub fn assign(
    tx: &mut dyn Tx,
    caller: &Account,
    cmd: &Assign,
    now: i64,
    rid: &str,
) -> Result<Outcome, CoreError> {
    let changes = plan_assign(tx, caller, cmd, now)?;
    apply(tx, &changes, Some(caller.id), now, rid)?;
    Ok(Outcome {
        changes,
        dry_run: false,
    })
}

/// Unassigns, as [`plan_unassign`] plans it.
pub fn unassign(
    tx: &mut dyn Tx,
    caller: &Account,
    cmd: &Unassign,
    now: i64,
    rid: &str,
) -> Result<Outcome, CoreError> {
    let changes = plan_unassign(tx, caller, cmd, now)?;
    apply(tx, &changes, Some(caller.id), now, rid)?;
    Ok(Outcome {
        changes,
        dry_run: false,
    })
}

/// Changes a grant, as [`plan_change`] plans it.
pub fn change_grant(
    tx: &mut dyn Tx,
    caller: &Account,
    cmd: &ChangeGrant,
    now: i64,
    rid: &str,
) -> Result<Outcome, CoreError> {
    let changes = plan_change(tx, caller, cmd, now)?;
    apply(tx, &changes, Some(caller.id), now, rid)?;
    Ok(Outcome {
        changes,
        dry_run: false,
    })
}

use crate::core::metrics::Business;

/// A number as one of its holders sees it (see [`Core::number_view`]).
#[derive(Clone, Debug)]
pub struct NumberView {
    pub number: Number,
    /// `None` when there is none, or the caller may not see it.
    pub owner: Option<Account>,
    /// The caller's own permissions on it.
    pub held: Perms,
    /// The grants below the caller, each with its account, parents before
    /// children (see [`grants_below`]).
    pub tree: Vec<(Grant, Account)>,
}

/// The grants that stem from `viewer`'s holding of `number`: those it made
/// and, transitively, those made from them (breadth first). For the owner or
/// an administrator, the holding is the whole number: every grant.
pub fn grants_below(viewer: &Account, number: &Number, grants: &[Grant]) -> Vec<Grant> {
    if viewer.is_admin() || number.owner_id() == Some(viewer.id) {
        // Roots first: grants made by a holder without a grant of its own.
        let mut out: Vec<Grant> = grants
            .iter()
            .filter(|g| !grants.iter().any(|p| p.account_id == g.granted_by))
            .cloned()
            .collect();
        let mut i = 0;
        while i < out.len() {
            let from = out[i].account_id;
            out.extend(grants.iter().filter(|g| g.granted_by == from).cloned());
            i += 1;
        }
        return out;
    }
    let mut out: Vec<Grant> = Vec::new();
    for g in grants.iter().filter(|g| g.granted_by == viewer.id) {
        out.extend(cascade(grants, g.account_id));
    }
    out
}

/// A rule's planner: the changes a command makes, checked, writing nothing.
type Plan<C> = fn(&mut dyn Tx, &Account, &C, i64) -> Result<Vec<Change>, CoreError>;

impl Core {
    /// Runs `cmd` as `plan` plans it: with `dry_run`, the plan alone in a
    /// read (nothing written, not even history); otherwise the plan applied
    /// in one write transaction, each change with its history entry.
    async fn planned<C: Send + 'static>(
        &self,
        caller: &Caller,
        cmd: C,
        plan: Plan<C>,
        dry_run: bool,
        request_id: &str,
    ) -> Result<Outcome, CoreError> {
        let (account, now, rid) = (
            caller.account.clone(),
            self.clock.now(),
            request_id.to_owned(),
        );
        if dry_run {
            return self
                .store
                .read(move |tx| {
                    Ok(Outcome {
                        changes: plan(tx, &account, &cmd, now)?,
                        dry_run: true,
                    })
                })
                .await;
        }
        let outcome = self
            .store
            .write(move |tx| {
                let changes = plan(tx, &account, &cmd, now)?;
                apply(tx, &changes, Some(account.id), now, &rid)?;
                Ok::<_, CoreError>(Outcome {
                    changes,
                    dry_run: false,
                })
            })
            .await?;
        self.forget_routes(&outcome);
        Ok(outcome)
    }

    /// Grants a number (`POST /api/numbers/assign`).
    pub async fn assign(
        &self,
        caller: &Caller,
        cmd: Assign,
        request_id: &str,
    ) -> Result<Outcome, CoreError> {
        let outcome = self
            .planned(
                caller,
                cmd,
                |tx, a, c, n| plan_assign(tx, a, c, n),
                false,
                request_id,
            )
            .await?;
        Business::add(&self.business.assignments, 1);
        Ok(outcome)
    }

    /// Removes a grant and its cascade (`POST /api/numbers/unassign`). With
    /// `dry_run`, the same checks and outcome, and nothing written.
    pub async fn unassign(
        &self,
        caller: &Caller,
        cmd: Unassign,
        dry_run: bool,
        request_id: &str,
    ) -> Result<Outcome, CoreError> {
        let outcome = self
            .planned(
                caller,
                cmd,
                |tx, a, c, n| plan_unassign(tx, a, c, n),
                dry_run,
                request_id,
            )
            .await?;
        if !dry_run {
            Business::add(&self.business.unassignments, 1);
            Business::add(
                &self.business.cascaded_removals,
                (outcome.removed() as u64).saturating_sub(1),
            );
        }
        Ok(outcome)
    }

    /// Changes a grant's `send`, `gets` and `expires_at`, lowering what was
    /// granted from it as needed. With `dry_run`, nothing is written.
    pub async fn change_grant(
        &self,
        caller: &Caller,
        cmd: ChangeGrant,
        dry_run: bool,
        request_id: &str,
    ) -> Result<Outcome, CoreError> {
        self.planned(
            caller,
            cmd,
            |tx, a, c, n| plan_change(tx, a, c, n),
            dry_run,
            request_id,
        )
        .await
    }

    /// This instance's routing cache forgets every number `outcome` touched,
    /// at once (other instances' entries age out within their TTL).
    pub(crate) fn forget_routes(&self, outcome: &Outcome) {
        for id in outcome.number_ids() {
            self.routes.forget(id);
        }
    }

    /// One number the caller holds (by id, E.164 or uid): its state, its
    /// owner where the caller may see it, the caller's own permissions, and
    /// the grants below the caller. Anything else is `NotVisible`.
    pub async fn number_view(
        &self,
        caller: &Caller,
        number: NumberRef,
    ) -> Result<NumberView, CoreError> {
        let (me, now) = (caller.account.clone(), self.clock.now());
        self.store
            .read(move |tx| {
                let (number, grants, _, terms) =
                    resolve_number(tx, &me, &number, now)?.map_err(number_not_visible)?;
                let held = Perms {
                    send: terms.send,
                    gets: terms.gets,
                };
                let owner = match number.owner_id() {
                    Some(id) => tx
                        .account_by_id(id)?
                        .filter(|o| o.id == me.id || me.is_above(o)),
                    None => None,
                };
                let below = grants_below(&me, &number, &grants);
                let ids: Vec<i64> = below.iter().map(|g| g.account_id).collect();
                let accounts = tx.accounts_by_ids(&ids)?;
                let tree = below
                    .into_iter()
                    .filter_map(|g| {
                        let a = accounts.iter().find(|a| a.id == g.account_id)?.clone();
                        Some((g, a))
                    })
                    .collect();
                Ok(NumberView {
                    number,
                    owner,
                    held,
                    tree,
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(account_id: i64, granted_by: i64) -> Grant {
        Grant {
            number_id: 1,
            account_id,
            granted_by,
            send: true,
            gets: true,
            created_at: 0,
            expires_at: None,
        }
    }

    #[test]
    fn cascade_follows_only_the_removed_chain() {
        // R(1) -> A(2) -> B(3) -> C(4), and R -> C directly would be a second
        // grant to C, which cannot exist; so R's direct grant goes to D(5)
        // below C, reached also from C.
        let grants = [g(2, 1), g(3, 2), g(4, 3), g(5, 1)];
        let removed: Vec<i64> = cascade(&grants, 2).iter().map(|g| g.account_id).collect();
        assert_eq!(removed, vec![2, 3, 4]);
        assert!(cascade(&grants, 9).is_empty());
    }

    #[test]
    fn perms_cover() {
        let send_only = Perms {
            send: true,
            gets: false,
        };
        assert!(send_only.covers(Perms {
            send: true,
            gets: false
        }));
        assert!(!send_only.covers(Perms {
            send: false,
            gets: true
        }));
        assert!(Perms::ALL.covers(Perms::ALL));
    }
}
