//! Adding many numbers to the pool at once, all or nothing.
//!
//! The whole import is one write job: every number is inserted with its own
//! history entry (as `add-number` does it), and if any number is refused the
//! job fails, its transaction rolls back, and nothing at all is written. The
//! refusals come back with the index of each refused number, so that whoever
//! read the numbers (the CLI, from a CSV file) can say which line was wrong.
//!
//! Every number is looked up before it is inserted: that lets one run report
//! every number already known (not just the first), and keeps the transaction
//! usable on backends where a failed statement poisons it (PostgreSQL). The
//! unique index still has the last word: a number inserted by someone else
//! between the lookup and the insert fails the insert, and the import with it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::admin::{NumberSpec, add_number};
use super::{Core, CoreError};
use crate::store::{NewNumber, StoreError, Tx};

/// Why one number of an import was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportConflict {
    /// The same number appears earlier in the import, at index `first`.
    Duplicate { index: usize, first: usize },
    /// The number is in the database already.
    Exists { index: usize },
}

impl ImportConflict {
    /// The index of the refused number in the import.
    pub fn index(&self) -> usize {
        match self {
            ImportConflict::Duplicate { index, .. } | ImportConflict::Exists { index } => *index,
        }
    }
}

/// Why an import wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Some numbers were refused; every one is listed, in index order.
    #[error("{} numbers refused", .0.len())]
    Rejected(Vec<ImportConflict>),
    #[error(transparent)]
    Failed(#[from] CoreError),
}

impl From<StoreError> for ImportError {
    fn from(e: StoreError) -> ImportError {
        ImportError::Failed(e.into())
    }
}

/// Checks every number and, with `write`, inserts them all with their history
/// entries. Returns how many were (or would be) imported; `Rejected` if any
/// number is refused, in which case the caller's transaction must not be kept
/// (a write job that fails is rolled back by the store).
///
/// `progress` counts the numbers handled so far.
pub fn import(
    tx: &mut dyn Tx,
    numbers: &[NewNumber],
    progress: &AtomicU64,
    now: i64,
    rid: &str,
    write: bool,
) -> Result<usize, ImportError> {
    // The store may run a job more than once; count from zero each time.
    progress.store(0, Ordering::Relaxed);
    let mut first_seen: HashMap<&str, usize> = HashMap::with_capacity(numbers.len());
    let mut conflicts = Vec::new();
    for (index, n) in numbers.iter().enumerate() {
        if let Some(&first) = first_seen.get(n.number.as_str()) {
            conflicts.push(ImportConflict::Duplicate { index, first });
        } else {
            first_seen.insert(&n.number, index);
            if tx.number_by_e164(&n.number)?.is_some() {
                conflicts.push(ImportConflict::Exists { index });
            } else if write && conflicts.is_empty() {
                match add_number(tx, n, now, rid) {
                    Ok(_) => {}
                    // Inserted by someone else since the lookup. The
                    // transaction may be unusable now, so stop here.
                    Err(CoreError::Taken(_)) => {
                        conflicts.push(ImportConflict::Exists { index });
                        return Err(ImportError::Rejected(conflicts));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        progress.fetch_add(1, Ordering::Relaxed);
    }
    if conflicts.is_empty() {
        Ok(numbers.len())
    } else {
        Err(ImportError::Rejected(conflicts))
    }
}

/// The rows to insert; an import adds to the pool only, so no owner.
fn rows(specs: &[NumberSpec]) -> Result<Vec<NewNumber>, CoreError> {
    if specs.iter().any(|s| s.owner.is_some()) {
        return Err(CoreError::Invalid(
            "an import adds numbers to the pool; it allots none to an owner".into(),
        ));
    }
    Ok(specs.iter().map(NumberSpec::to_new_number).collect())
}

impl Core {
    /// Imports `specs` into the pool in one transaction: all of them, or none
    /// and every refusal. `progress` counts the numbers handled so far.
    pub async fn import_numbers(
        &self,
        specs: Vec<NumberSpec>,
        progress: Arc<AtomicU64>,
        request_id: &str,
    ) -> Result<usize, ImportError> {
        let numbers = rows(&specs)?;
        drop(specs);
        let (now, rid) = (self.clock.now(), request_id.to_owned());
        self.store
            .write(move |tx| import(tx, &numbers, &progress, now, &rid, true))
            .await
    }

    /// What [`Core::import_numbers`] would refuse, without writing anything:
    /// for a caller that already knows the import must fail and wants the
    /// whole list of reasons.
    pub async fn import_conflicts(
        &self,
        specs: Vec<NumberSpec>,
    ) -> Result<Vec<ImportConflict>, CoreError> {
        let numbers = rows(&specs)?;
        drop(specs);
        let now = self.clock.now();
        let outcome = self
            .store
            .read(move |tx| import(tx, &numbers, &AtomicU64::new(0), now, "", false))
            .await;
        match outcome {
            Ok(_) => Ok(Vec::new()),
            Err(ImportError::Rejected(conflicts)) => Ok(conflicts),
            Err(ImportError::Failed(e)) => Err(e),
        }
    }
}
