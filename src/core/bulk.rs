//! Many grant commands in one request, in order, in one transaction.
//!
//! Every rule plans (checks, lists its changes) before it writes anything,
//! so an item that is refused leaves the transaction untouched: non-atomic
//! bulk commits the items that succeeded and reports the others' errors;
//! atomic bulk rolls back at the first refusal. Each item sees the effects
//! of the items before it, and gets the error it would get alone after them.

use super::changes::{Outcome, apply};
use super::grants::{Assign, ChangeGrant, Unassign, plan_assign, plan_change, plan_unassign};
use super::{Caller, Core, CoreError};
use crate::store::{StoreError, Tx};

/// The most items one bulk request takes.
pub const MAX_ITEMS: usize = 1000;

/// One command of a bulk request.
#[derive(Clone, Debug)]
pub enum BulkItem {
    Assign(Assign),
    Change(ChangeGrant),
    Unassign(Unassign),
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
    /// A dry run: everything planned and applied, then rolled back.
    DryRun(Vec<Result<Outcome, CoreError>>),
}

impl From<StoreError> for Abort {
    fn from(e: StoreError) -> Abort {
        Abort::Store(e)
    }
}

fn run_item(
    tx: &mut dyn Tx,
    caller: &crate::store::Account,
    item: &BulkItem,
    now: i64,
    rid: &str,
) -> Result<Outcome, CoreError> {
    let changes = match item {
        BulkItem::Assign(cmd) => plan_assign(tx, caller, cmd, now)?,
        BulkItem::Change(cmd) => plan_change(tx, caller, cmd, now)?,
        BulkItem::Unassign(cmd) => plan_unassign(tx, caller, cmd, now)?,
    };
    apply(tx, &changes, Some(caller.id), now, rid)?;
    Ok(Outcome {
        changes,
        dry_run: false,
    })
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
            .write(move |tx| {
                let mut results = Vec::with_capacity(items.len());
                for item in &items {
                    match run_item(tx, &account, item, now, &rid) {
                        Ok(outcome) => results.push(Ok(outcome)),
                        Err(CoreError::Store(e)) => return Err(Abort::Store(e)),
                        Err(refusal) if atomic => {
                            results.push(Err(refusal));
                            results.extend(
                                (results.len()..items.len()).map(|_| Err(CoreError::NotAttempted)),
                            );
                            return Err(Abort::Refused(results));
                        }
                        Err(refusal) => results.push(Err(refusal)),
                    }
                }
                if dry_run {
                    return Err(Abort::DryRun(results));
                }
                Ok(results)
            })
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
