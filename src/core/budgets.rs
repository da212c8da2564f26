//! Login budgets shared by every process on one database (PostgreSQL): the
//! seam through which the edge's login throttle (`http::limits`) counts in
//! the store. The rule (window, maxima, what a claim and a release do) is
//! the throttle's; the store only makes each step one atomic statement.

pub use crate::store::{BudgetClaim, BudgetCount, BudgetRelease, ClaimOutcome};

use super::{Core, CoreError};

impl Core {
    /// Whether the login budgets live in the database (shared by every
    /// process on it) rather than in each process's memory.
    pub fn shares_login_budgets(&self) -> bool {
        self.store.shares_login_budgets()
    }

    /// Takes a strike on both budgets of `claim`, or on neither: one
    /// statement, committed on its own.
    pub async fn claim_login_budgets(&self, claim: BudgetClaim) -> Result<ClaimOutcome, CoreError> {
        self.store
            .single(move |tx| Ok(tx.claim_login_budgets(&claim)?))
            .await
    }

    /// Gives strikes back: one statement, committed on its own.
    pub async fn release_login_budgets(&self, release: BudgetRelease) -> Result<(), CoreError> {
        self.store
            .single(move |tx| Ok(tx.release_login_budgets(&release)?))
            .await
    }

    /// Drops the budgets whose window started at or before `before`.
    pub async fn prune_login_budgets(&self, before: i64) -> Result<u64, CoreError> {
        self.store
            .single(move |tx| Ok(tx.prune_login_budgets(before)?))
            .await
    }
}
