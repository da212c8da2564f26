//! Keeping authentication off the database on the hot path.
//!
//! Every request authenticates. A credential's row changes rarely (revoked,
//! account suspended), so each process keeps what it read for a short time
//! (`ttl`, 5 s by default). What this process itself changes (logout, revoke,
//! suspend) takes effect here at once; a change made by another process (a
//! second instance, the admin CLI) takes effect here within `ttl`. A session's
//! expiry is checked against the clock on every request, cached or not.
//! `ttl` 0 turns the cache off.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::Credential;

/// Beyond this many entries the cache starts over (bounded memory).
const MAX_ENTRIES: usize = 100_000;

pub(crate) struct CredentialCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Credential, Instant)>>,
}

impl CredentialCache {
    pub(crate) fn new(ttl: Duration) -> CredentialCache {
        CredentialCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn get(&self, digest: &str) -> Option<Credential> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        let (credential, at) = entries.get(digest)?;
        (at.elapsed() < self.ttl).then(|| credential.clone())
    }

    pub(crate) fn put(&self, digest: String, credential: Credential) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(digest, (credential, Instant::now()));
        }
    }

    pub(crate) fn forget(&self, digest: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(digest);
        }
    }

    /// Forgets every credential of one account (it was suspended or changed).
    pub(crate) fn forget_account(&self, account_id: i64) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, (c, _)| c.account.id != account_id);
        }
    }
}
