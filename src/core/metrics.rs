//! What the core counts as it succeeds; the edge renders these on `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// What the core counts as it succeeds.
#[derive(Default)]
pub struct Business {
    pub assignments: AtomicU64,
    pub unassignments: AtomicU64,
    /// Grants removed because a grant they came from was removed (by an
    /// unassignment or an unsubscription).
    pub cascaded_removals: AtomicU64,
    pub subscriptions: AtomicU64,
    pub unsubscriptions: AtomicU64,
    pub logins_ok: AtomicU64,
    pub logins_failed: AtomicU64,
}

impl Business {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}
