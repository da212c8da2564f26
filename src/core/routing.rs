//! Who may send from a number and who receives on it: the messaging layer's
//! question, asked for every message, so answered from memory.
//!
//! Each process keeps the answers it computed for `ttl` (the credential
//! cache's, 5 s by default). What this process changes (assign, unassign,
//! subscribe, unsubscribe) it forgets at once, in the core's own write paths;
//! a change made by another process (a second instance, the CLI) reaches
//! this one within `ttl`, when its entry runs out. `ttl` 0 turns it off.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Caller, Core, CoreError, Perms};
use crate::store::{Account, Number};

/// Beyond this many entries the cache starts over (bounded memory).
const MAX_ENTRIES: usize = 100_000;

/// One account that holds the number, and how.
#[derive(Clone, Debug)]
pub struct Holder {
    pub account: Account,
    pub perms: Perms,
    /// Who granted it; `None` for the owner.
    pub granted_by: Option<i64>,
}

/// The routing of one number.
#[derive(Clone, Debug)]
pub struct Routing {
    pub number: Number,
    pub owner: Option<Account>,
    /// The owner first, then every live grant by account id.
    pub holders: Vec<Holder>,
    /// The earliest end among those grants (Unix seconds): a cached answer
    /// is not used from then on, so an ended grant never routes.
    pub(crate) ends_at: Option<i64>,
}

#[derive(Default)]
struct Entries {
    by_e164: HashMap<String, (Routing, Instant)>,
    /// Number id to E.164, so a change forgets its number in one lookup.
    e164_of: HashMap<i64, String>,
}

pub(crate) struct RouteCache {
    ttl: Duration,
    entries: Mutex<Entries>,
}

impl RouteCache {
    pub(crate) fn new(ttl: Duration) -> RouteCache {
        RouteCache {
            ttl,
            entries: Mutex::new(Entries::default()),
        }
    }

    /// The cached routing of `e164`, if it is younger than the TTL and no
    /// grant in it has ended by `now` (the core's clock).
    fn get(&self, e164: &str, now: i64) -> Option<Routing> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().ok()?;
        let (routing, at) = entries.by_e164.get(e164)?;
        let fresh = at.elapsed() < self.ttl && routing.ends_at.is_none_or(|end| now < end);
        fresh.then(|| routing.clone())
    }

    fn put(&self, routing: Routing) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.by_e164.len() >= MAX_ENTRIES {
                *entries = Entries::default();
            }
            let e164 = routing.number.number.clone();
            entries.e164_of.insert(routing.number.id, e164.clone());
            entries.by_e164.insert(e164, (routing, Instant::now()));
        }
    }

    /// Forgets the number with this id (this process changed it).
    pub(crate) fn forget(&self, number_id: i64) {
        if let Ok(mut entries) = self.entries.lock()
            && let Some(e164) = entries.e164_of.remove(&number_id)
        {
            entries.by_e164.remove(&e164);
        }
    }
}

impl Core {
    /// `e164`'s owner and holders, for administrators only (`Forbidden`
    /// otherwise); an unknown number is `NumberNotFound`.
    pub async fn routing(&self, caller: &Caller, e164: &str) -> Result<Routing, CoreError> {
        if !caller.account.is_admin() {
            return Err(CoreError::Forbidden);
        }
        let now = self.clock.now();
        if let Some(r) = self.routes.get(e164, now) {
            return Ok(r);
        }
        let key = e164.to_owned();
        // One snapshot of the number, its grants and their accounts, with
        // no transaction of ours (on PostgreSQL one statement, one round
        // trip: the hottest read, and a miss of the cache is its cost).
        let routing = self
            .store
            .read_each(move |tx| {
                let rows = tx.routing_rows(&key)?.ok_or(CoreError::NumberNotFound)?;
                let (number, accounts) = (rows.number, rows.accounts);
                // Only live grants route: an ended one (and whatever was
                // granted from it) confers nothing, swept or not.
                let (_, grants) = super::grants::expiries(&rows.grants, now);
                let ends_at = grants.iter().filter_map(|g| g.expires_at).min();
                let find = |id: i64| accounts.iter().find(|a| a.id == id).cloned();
                let owner = number.owner_id().and_then(find);
                let mut holders: Vec<Holder> = owner
                    .iter()
                    .map(|o| Holder {
                        account: o.clone(),
                        perms: Perms::ALL,
                        granted_by: None,
                    })
                    .collect();
                holders.extend(grants.iter().filter_map(|g| {
                    Some(Holder {
                        account: find(g.account_id)?,
                        perms: Perms {
                            send: g.send,
                            gets: g.gets,
                        },
                        granted_by: Some(g.granted_by),
                    })
                }));
                Ok::<_, CoreError>(Routing {
                    number,
                    owner,
                    holders,
                    ends_at,
                })
            })
            .await?;
        self.routes.put(routing.clone());
        Ok(routing)
    }
}
