//! Keeping authentication off the database on the hot path.
//!
//! Every request authenticates. A credential's row changes rarely (revoked,
//! account suspended), so each process keeps what it read for a short time
//! (`ttl`, 5 s by default, `--auth-cache-ttl-ms`; 0 turns the cache off).
//! What this process itself changes (logout, revoke, suspend) takes effect
//! here at once. On PostgreSQL the revoking transaction announces the change
//! (`NOTIFY linekeeper_revoked`, delivered at commit) and every process's
//! listener makes its cache forget it, within milliseconds; without that
//! (SQLite's admin CLI, or while a listener reconnects) a change made by
//! another process takes effect here within `ttl`. A session's expiry is
//! checked against the clock on every request, cached or not.
//!
//! A read that raced a revocation must not put back what the revocation
//! made the cache forget: every forgetting moves a generation on, and a
//! credential read under an older generation is not kept.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::{ChangeSink, Changed, Credential};

/// Beyond this many entries the cache starts over (bounded memory).
const MAX_ENTRIES: usize = 100_000;

struct Entries {
    map: HashMap<String, (Credential, Instant)>,
    /// Moves on with every forgetting.
    generation: u64,
}

pub(crate) struct CredentialCache {
    ttl: Duration,
    entries: Mutex<Entries>,
}

impl CredentialCache {
    pub(crate) fn new(ttl: Duration) -> CredentialCache {
        CredentialCache {
            ttl,
            entries: Mutex::new(Entries {
                map: HashMap::new(),
                generation: 0,
            }),
        }
    }

    /// The cached credential, and the generation to [`CredentialCache::put`]
    /// a fresh read under when there is none.
    pub(crate) fn get(&self, digest: &str) -> (Option<Credential>, u64) {
        let Ok(entries) = self.entries.lock() else {
            return (None, u64::MAX);
        };
        if self.ttl.is_zero() {
            return (None, entries.generation);
        }
        let hit = entries
            .map
            .get(digest)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(c, _)| c.clone());
        (hit, entries.generation)
    }

    /// Keeps `credential`, read under `generation`, unless something was
    /// forgotten since.
    pub(crate) fn put(&self, digest: String, credential: Credential, generation: u64) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.generation != generation {
                return;
            }
            if entries.map.len() >= MAX_ENTRIES {
                entries.map.clear();
            }
            entries.map.insert(digest, (credential, Instant::now()));
        }
    }

    pub(crate) fn forget(&self, digest: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.map.remove(digest);
            entries.generation += 1;
        }
    }

    /// Forgets every credential of one account (it was suspended or changed).
    pub(crate) fn forget_account(&self, account_id: i64) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.map.retain(|_, (c, _)| c.account.id != account_id);
            entries.generation += 1;
        }
    }

    fn forget_everything(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.map.clear();
            entries.generation += 1;
        }
    }
}

/// What another process revoked (heard through the store).
impl ChangeSink for CredentialCache {
    fn changed(&self, what: &Changed) {
        match what {
            Changed::Credential(digest) => self.forget(digest),
            Changed::Account(id) => self.forget_account(*id),
            Changed::Everything => self.forget_everything(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Account, TokenKind};

    fn credential(account_id: i64) -> Credential {
        Credential {
            account: Account {
                id: account_id,
                username: "bob".into(),
                name: String::new(),
                is_reseller: false,
                suspended: false,
                parent_id: None,
                path: String::new(),
                postpaid: false,
                created_at: 0,
            },
            kind: TokenKind::Session,
            expires_at: None,
            revoked: false,
        }
    }

    #[test]
    fn a_read_that_raced_a_revocation_is_not_kept() {
        let cache = CredentialCache::new(Duration::from_secs(60));
        let (hit, generation) = cache.get("d1");
        assert!(hit.is_none());
        // Another process revokes while this one reads the row.
        cache.changed(&Changed::Credential("d1".into()));
        cache.put("d1".into(), credential(1), generation);
        assert!(cache.get("d1").0.is_none());
        // A read after it is kept, until its account is suspended.
        let (_, generation) = cache.get("d1");
        cache.put("d1".into(), credential(1), generation);
        assert!(cache.get("d1").0.is_some());
        cache.changed(&Changed::Account(2));
        assert!(cache.get("d1").0.is_some());
        cache.changed(&Changed::Account(1));
        assert!(cache.get("d1").0.is_none());
        let (_, generation) = cache.get("d1");
        cache.put("d1".into(), credential(1), generation);
        cache.changed(&Changed::Everything);
        assert!(cache.get("d1").0.is_none());
    }

    #[test]
    fn a_ttl_of_zero_caches_nothing() {
        let cache = CredentialCache::new(Duration::ZERO);
        let (_, generation) = cache.get("d1");
        cache.put("d1".into(), credential(1), generation);
        assert!(cache.get("d1").0.is_none());
    }
}
