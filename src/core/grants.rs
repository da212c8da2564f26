//! Assigning and unassigning numbers down the account tree, and the cascade.

use super::{Caller, Core, CoreError, RefPart, history};
use crate::domain::Username;
use crate::store::{Account, Action, Grant, Number, Tx};

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

    pub(crate) fn covers(self, wanted: Perms) -> bool {
        (self.send || !wanted.send) && (self.gets || !wanted.gets)
    }
}

/// What `account` may do with `number`, given the grants on it; `None` if it
/// does not hold it. Owners and administrators hold a subscribed number fully;
/// a number in the pool is held by no one.
pub fn holding(account: &Account, number: &Number, grants: &[Grant]) -> Option<Perms> {
    let owner = number.owner_id()?;
    if owner == account.id || account.is_admin() {
        return Some(Perms::ALL);
    }
    grants
        .iter()
        .find(|g| g.account_id == account.id)
        .map(|g| Perms {
            send: g.send,
            gets: g.gets,
        })
}

/// The grants that go when `target`'s grant goes: its own first, then every
/// grant made from it, transitively (breadth first). Grants that reached the
/// same accounts along another chain are not made from `target`'s, so they stay.
pub fn cascade(grants: &[Grant], target: i64) -> Vec<Grant> {
    let mut doomed: Vec<Grant> = grants
        .iter()
        .filter(|g| g.account_id == target)
        .cloned()
        .collect();
    let mut i = 0;
    while i < doomed.len() {
        let from = doomed[i].account_id;
        doomed.extend(grants.iter().filter(|g| g.granted_by == from).cloned());
        i += 1;
    }
    doomed
}

/// The number and account an assign or unassign is about, as the caller sees
/// them, with the grants currently on the number.
struct Resolved {
    number: Number,
    grants: Vec<Grant>,
    held: Perms,
    target: Account,
}

/// Finds both things a command names, reporting every part that the caller
/// cannot see (so a client gets all its field errors at once).
fn resolve(
    tx: &mut dyn Tx,
    caller: &Account,
    n: &NumberRef,
    t: &AccountRef,
) -> Result<Resolved, CoreError> {
    let number = resolve_number(tx, caller, n)?;
    let target = resolve_account(tx, caller, t)?;
    match (number, target) {
        (Ok((number, grants, held)), Ok(target)) => Ok(Resolved {
            number,
            grants,
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

/// The number `r` names if `caller` holds it, else `NotVisible`.
pub fn visible_number(
    tx: &mut dyn Tx,
    caller: &Account,
    r: &NumberRef,
) -> Result<Number, CoreError> {
    resolve_number(tx, caller, r)?
        .map(|(n, _, _)| n)
        .map_err(super::history::number_not_visible)
}

fn resolve_number(
    tx: &mut dyn Tx,
    caller: &Account,
    r: &NumberRef,
) -> Result<Found<(Number, Vec<Grant>, Perms)>, CoreError> {
    let first = if r.id.is_some() {
        RefPart::Id
    } else {
        RefPart::Natural
    };
    let number = match (r.id, r.e164.as_deref(), r.uid.as_deref()) {
        (Some(id), _, _) => tx.number_by_id(id)?,
        (None, Some(e164), _) => tx.number_by_e164(e164)?,
        (None, None, Some(uid)) => tx.number_by_uid(uid)?,
        (None, None, None) => None,
    };
    let Some(number) = number else {
        return Ok(Err(first));
    };
    let grants = tx.grants_on(number.id)?;
    let Some(held) = holding(caller, &number, &grants) else {
        return Ok(Err(first));
    };
    // Only once the first half is known to be visible may a mismatch with
    // the second be told: otherwise which field fails would reveal that an
    // out-of-reach id exists.
    if r.id.is_some() && r.e164.as_deref().is_some_and(|e| e != number.number) {
        return Ok(Err(RefPart::Natural));
    }
    Ok(Ok((number, grants, held)))
}

fn resolve_account(
    tx: &mut dyn Tx,
    caller: &Account,
    r: &AccountRef,
) -> Result<Found<Account>, CoreError> {
    let first = if r.id.is_some() {
        RefPart::Id
    } else {
        RefPart::Natural
    };
    let by_name = |tx: &mut dyn Tx, name: &str| -> Result<Option<Account>, CoreError> {
        match Username::parse(name) {
            Some(u) => Ok(tx.account_by_username(&u.key())?),
            None => Ok(None),
        }
    };
    let account = match (r.id, r.username.as_deref()) {
        (Some(id), _) => tx.account_by_id(id)?,
        (None, Some(name)) => by_name(tx, name)?,
        (None, None) => None,
    };
    let Some(account) = account.filter(|a| caller.is_above(a)) else {
        return Ok(Err(first));
    };
    // As for numbers: a mismatch is told only about a visible account.
    if r.id.is_some()
        && r.username
            .as_deref()
            .is_some_and(|u| !u.eq_ignore_ascii_case(&account.username))
    {
        return Ok(Err(RefPart::Natural));
    }
    Ok(Ok(account))
}

/// Grants `target` the use of `number` with `perms`.
pub fn assign(
    tx: &mut dyn Tx,
    caller: &Account,
    number: &NumberRef,
    target: &AccountRef,
    perms: Perms,
    now: i64,
    rid: &str,
) -> Result<Grant, CoreError> {
    if !caller.can_manage() {
        return Err(CoreError::Forbidden);
    }
    let r = resolve(tx, caller, number, target)?;
    if holding(&r.target, &r.number, &r.grants).is_some() {
        return Err(CoreError::AlreadyAssigned);
    }
    if !r.held.covers(perms) {
        return Err(CoreError::PermissionExceeded);
    }
    let grant = Grant {
        number_id: r.number.id,
        account_id: r.target.id,
        granted_by: caller.id,
        send: perms.send,
        gets: perms.gets,
        created_at: now,
    };
    match tx.insert_grant(&grant) {
        Err(crate::store::StoreError::Conflict(_)) => return Err(CoreError::AlreadyAssigned),
        other => other?,
    }
    let detail = format!("{{\"send\":{},\"gets\":{}}}", perms.send, perms.gets);
    tx.record(&history(
        now,
        rid,
        Some(caller.id),
        Action::Assign,
        Some(r.number.id),
        Some(r.target.id),
        &detail,
    ))?;
    Ok(grant)
}

/// Removes `target`'s grant on `number` and every grant that came from it;
/// the grants that went, `target`'s first.
pub fn unassign(
    tx: &mut dyn Tx,
    caller: &Account,
    number: &NumberRef,
    target: &AccountRef,
    now: i64,
    rid: &str,
) -> Result<Vec<Grant>, CoreError> {
    if !caller.can_manage() {
        return Err(CoreError::Forbidden);
    }
    let r = resolve(tx, caller, number, target)?;
    let doomed = cascade(&r.grants, r.target.id);
    if doomed.is_empty() {
        return Err(CoreError::NotAssigned);
    }
    remove_grants(tx, &doomed, Some(caller.id), now, rid, Action::Unassign)?;
    Ok(doomed)
}

/// Deletes `grants`, recording the first with `first_action` and the rest as
/// cascaded removals; how many were deleted.
pub(super) fn remove_grants(
    tx: &mut dyn Tx,
    grants: &[Grant],
    actor: Option<i64>,
    now: i64,
    rid: &str,
    first_action: Action,
) -> Result<usize, CoreError> {
    for (i, g) in grants.iter().enumerate() {
        tx.delete_grant(g.number_id, g.account_id)?;
        let action = if i == 0 {
            first_action
        } else {
            Action::CascadeUnassign
        };
        let detail = format!("{{\"granted_by\":{}}}", g.granted_by);
        tx.record(&history(
            now,
            rid,
            actor,
            action,
            Some(g.number_id),
            Some(g.account_id),
            &detail,
        ))?;
    }
    Ok(grants.len())
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

impl Core {
    /// `POST /api/numbers/assign`: the grant made.
    pub async fn assign(
        &self,
        caller: &Caller,
        number: NumberRef,
        target: AccountRef,
        perms: Perms,
        request_id: &str,
    ) -> Result<Grant, CoreError> {
        let (account, now, rid) = (
            caller.account.clone(),
            self.clock.now(),
            request_id.to_owned(),
        );
        let grant = self
            .store
            .write(move |tx| assign(tx, &account, &number, &target, perms, now, &rid))
            .await?;
        self.routes.forget(grant.number_id);
        Business::add(&self.business.assignments, 1);
        Ok(grant)
    }

    /// `POST /api/numbers/unassign`.
    pub async fn unassign(
        &self,
        caller: &Caller,
        number: NumberRef,
        target: AccountRef,
        request_id: &str,
    ) -> Result<Vec<Grant>, CoreError> {
        let (account, now, rid) = (
            caller.account.clone(),
            self.clock.now(),
            request_id.to_owned(),
        );
        let removed = self
            .store
            .write(move |tx| unassign(tx, &account, &number, &target, now, &rid))
            .await?;
        if let Some(g) = removed.first() {
            self.routes.forget(g.number_id);
        }
        Business::add(&self.business.unassignments, 1);
        Business::add(
            &self.business.cascaded_removals,
            (removed.len() as u64).saturating_sub(1),
        );
        Ok(removed)
    }

    /// One number the caller holds (by id, E.164 or uid): its state, its
    /// owner where the caller may see it, the caller's own permissions, and
    /// the grants below the caller. Anything else is `NotVisible`.
    pub async fn number_view(
        &self,
        caller: &Caller,
        number: NumberRef,
    ) -> Result<NumberView, CoreError> {
        let me = caller.account.clone();
        self.store
            .read(move |tx| {
                let (number, grants, held) = resolve_number(tx, &me, &number)?
                    .map_err(super::history::number_not_visible)?;
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
