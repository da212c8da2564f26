//! The seam by which an idempotency key is stored in the transaction of the
//! change it guards, without threading it through every rule.
//!
//! A face that receives `Idempotency-Key` runs its handler [`within`] a
//! [`KeyScope`]. The first write transaction that commits inside the scope
//! (see `Store::write`) inserts the key's row, with no answer yet, before
//! its own statements: so the key is claimed exactly when the change
//! commits, and a change that rolls back leaves the key unclaimed. A second
//! request with the key finds the row (or, racing, is refused by its primary
//! key in its own transaction, which then changes nothing). The face then
//! writes the answer into the row.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::KeyClaim;

tokio::task_local! {
    static SCOPE: Arc<KeyScope>;
}

/// One request's key, and what became of it.
#[derive(Debug)]
pub struct KeyScope {
    pub claim: KeyClaim,
    claimed: AtomicBool,
    refused: AtomicBool,
}

impl KeyScope {
    pub fn new(claim: KeyClaim) -> Arc<KeyScope> {
        Arc::new(KeyScope {
            claim,
            claimed: AtomicBool::new(false),
            refused: AtomicBool::new(false),
        })
    }

    /// Whether a change committed with the key claimed.
    pub fn claimed(&self) -> bool {
        self.claimed.load(Ordering::Acquire)
    }

    /// Whether a write found the key claimed by another request.
    pub fn refused(&self) -> bool {
        self.refused.load(Ordering::Acquire)
    }

    pub(super) fn mark_claimed(&self) {
        self.claimed.store(true, Ordering::Release);
    }

    /// Whether the current run of the write found the key claimed by
    /// another request: set at the start of every run, so that only the
    /// run that answers decides (a run undone and run again, as a
    /// PostgreSQL group's jobs are when its connection is lost, may have
    /// been refused by an earlier job's claim that never committed).
    pub(super) fn set_refused(&self, refused: bool) {
        self.refused.store(refused, Ordering::Release);
    }
}

/// Runs `f` with `scope` as the current request's key.
pub async fn within<F: std::future::Future>(scope: Arc<KeyScope>, f: F) -> F::Output {
    SCOPE.scope(scope, f).await
}

/// The key of the request being served, while it is not claimed yet.
pub(super) fn pending() -> Option<Arc<KeyScope>> {
    SCOPE
        .try_with(Arc::clone)
        .ok()
        .filter(|s| !s.claimed() && !s.refused())
}
