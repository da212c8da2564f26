//! The core: every business rule of DOMAIN.md, once.
//!
//! Rules are plain functions over `&mut dyn Tx` (one transaction), so both
//! faces and both backends share them: `grants` holds who may assign what to
//! whom and the cascade, `subscriptions` the pool, `auth` credentials, `admin`
//! what the command line does, `import` the all-or-nothing bulk import,
//! `invariants` what must always hold. The async
//! methods on [`Core`] run a rule in a transaction and answer once it is durable.

pub mod accounts;
pub mod admin;
pub mod auth;
pub mod budgets;
pub mod bulk;
pub mod changes;
mod credentials;
pub mod custody;
mod error;
pub mod events;
mod facts;
pub mod grants;
mod hashing;
pub mod import;
pub mod invariants;
pub mod lifecycle;
pub mod metrics;
pub mod operator;
mod pages;
pub mod routing;
pub mod subscriptions;
pub mod webhooks;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

pub use bulk::{BulkItem, BulkOutcome};
pub use changes::{Change, Outcome, Removal, Terms};
pub use error::{AuthError, CoreError, RefPart};
pub use grants::{AccountRef, Assign, ChangeGrant, NumberRef, Perms, Unassign};
pub use lifecycle::{Lifecycle, Reserved, SweepReport};
pub use subscriptions::{OwnedNumber, PoolFilter};

use crate::domain::{Clock, TokenKind};
use crate::store::{
    Account, Action, HeldNumber, HistoryEntry, Holding, HoldingFilter, Page, Snapshot, Store,
    StoreError, Tx,
};

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub account: Account,
    pub kind: TokenKind,
    /// Digest of the credential used, so logout can revoke exactly it.
    pub digest: String,
}

/// One page of a list, with the size of the whole list.
#[derive(Clone, Debug)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// Pages of up to this many rows are read on the calling thread where the
/// store allows it ([`Store::read_here`]): the numbers list's pages cost 4%
/// (50 items) to 11% (10 items) fewer instructions there, without the hop
/// to a reader thread and back and with its rows allocated and freed on one
/// thread (callgrind, BENCHMARKS.md, "The native list's rows"). A longer
/// page (up to 501 rows) goes to a reader thread rather than hold an async
/// worker that long.
const HERE_ROWS: i64 = 101;

/// The rules, bound to a store and a clock: a handle, cloned into every
/// request's state (several times), so one reference count. Measured
/// (`perf record` of the server under a routing load, BENCHMARKS.md "The
/// routing table"): while the fields below were cloned and dropped one by
/// one, dropping and cloning the request's state and core took 5.1% of the
/// server's samples (reference counts that both cores touch); none of
/// those functions shows after.
#[derive(Clone)]
pub struct Core {
    inner: Arc<CoreInner>,
}

impl std::ops::Deref for Core {
    type Target = CoreInner;

    fn deref(&self) -> &CoreInner {
        &self.inner
    }
}

/// Only the builders (`with_…`, before the core is shared) change a core;
/// one that is shared already is copied first, as a field-by-field clone
/// was.
impl std::ops::DerefMut for Core {
    fn deref_mut(&mut self) -> &mut CoreInner {
        Arc::make_mut(&mut self.inner)
    }
}

/// What a [`Core`] holds.
#[derive(Clone)]
pub struct CoreInner {
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    /// Verified against when a login names an unknown user, so that the
    /// answer costs the same as for a known one. Shared: the core is cloned
    /// into every request's state (several times), and a `String` here was
    /// an allocation and a copy each time.
    dummy_hash: Arc<str>,
    /// Recently read credentials (see `credentials`).
    pub(crate) credentials: Arc<credentials::CredentialCache>,
    /// Threads that hash and verify passwords (see `hashing`).
    pub(crate) hashing: Arc<hashing::HashPool>,
    /// What this core has done, for `/metrics`.
    pub(crate) business: Arc<crate::core::metrics::Business>,
    /// Every number's routing (see `routing`).
    pub(crate) routes: Arc<routing::RouteCache>,
    /// The numbers' unchanging facts, for the numbers list (see `facts`).
    facts: Arc<facts::FactsCache>,
    /// Holders' first pages of the numbers list, as written (see `pages`).
    pages: Arc<pages::HeldPages>,
    /// The history entries read, for history pages (see `custody`).
    entries: Arc<custody::EntryCache>,
    /// The accounts history entries name, for history pages (see `custody`).
    accounts: Arc<custody::AccountCache>,
    /// Quarantine, reservations and the sweeper (see `lifecycle`).
    pub(crate) lifecycle: Lifecycle,
    /// How webhooks are delivered (see `webhooks`).
    pub(crate) webhooks: webhooks::WebhookSettings,
}

/// How long a process trusts a credential it read, by default.
pub const AUTH_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

impl Core {
    /// Builds the core. Computes one password hash (the login timing decoy),
    /// so it is best called off the async threads or once at start-up.
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Result<Core, CoreError> {
        let mut decoy = [0u8; 16];
        crate::domain::random_bytes(&mut decoy);
        let dummy_hash = auth::hash_password(&crate::domain::hex(&decoy))?;
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let credentials = Arc::new(credentials::CredentialCache::new(AUTH_CACHE_TTL));
        let routes = Arc::new(routing::RouteCache::new(AUTH_CACHE_TTL));
        let core = Core {
            inner: Arc::new(CoreInner {
                store,
                clock,
                dummy_hash: dummy_hash.into(),
                credentials,
                hashing: Arc::new(hashing::HashPool::new(cores)),
                business: Arc::default(),
                routes,
                facts: Arc::default(),
                pages: Arc::default(),
                entries: Arc::new(custody::EntryCache::new(custody::ENTRY_CAPACITY)),
                accounts: Arc::new(custody::AccountCache::new(custody::ACCOUNT_CAPACITY)),
                lifecycle: Lifecycle::default(),
                webhooks: webhooks::WebhookSettings::default(),
            }),
        };
        core.watch_changes();
        Ok(core)
    }

    /// Sets how long this process trusts a credential (and a routing, see
    /// `routing`) it read (0: never).
    pub fn with_auth_cache_ttl(mut self, ttl: std::time::Duration) -> Core {
        self.credentials = Arc::new(credentials::CredentialCache::new(ttl));
        self.routes = Arc::new(routing::RouteCache::new(ttl));
        // Kept pages are judged by the routing table they were read under.
        self.pages = Arc::default();
        self.watch_changes();
        self
    }

    /// Revocations other processes commit reach this process's cache (on
    /// PostgreSQL; see `credentials`).
    fn watch_changes(&self) {
        let cache: Arc<dyn crate::store::ChangeSink> = self.credentials.clone();
        self.store.watch_changes(Arc::downgrade(&cache));
    }

    /// Readiness: one trivial read (a credential lookup that finds nothing),
    /// so a database that cannot be reached is an error.
    pub async fn ready(&self) -> Result<(), StoreError> {
        self.store.read(|tx| tx.credential("").map(|_| ())).await
    }

    /// Transactions the store ran again after serialization failures or
    /// deadlocks (`/metrics`).
    pub fn store_retries(&self) -> u64 {
        self.store.retries()
    }

    /// Statements sent to the database server so far (0 on SQLite).
    pub fn store_statements(&self) -> u64 {
        self.store.statements()
    }

    /// Round trips to the database server so far (0 on SQLite).
    pub fn store_round_trips(&self) -> u64 {
        self.store.round_trips()
    }

    /// How many accounts exist (the demo seeds only an empty database).
    pub async fn count_accounts(&self) -> Result<i64, CoreError> {
        self.store.read(|tx| Ok(tx.count_accounts()?)).await
    }

    /// Runs `f` as one write transaction over the store's primitives: the
    /// seam for bulk seeding (`bench`), which calls the core's rule
    /// functions itself to write thousands of rows per transaction.
    /// Requests go through the named methods instead. `f` may be run more
    /// than once (see [`Store::write`]).
    pub async fn seed<T, F>(&self, f: F) -> Result<T, CoreError>
    where
        F: FnMut(&mut dyn Tx) -> Result<T, CoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.store.write(f).await
    }

    /// The business counters (`/metrics`).
    pub fn business(&self) -> &crate::core::metrics::Business {
        &self.business
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// `GET /api/number/numbers`: what the caller holds.
    pub async fn held_numbers(
        &self,
        caller: &Caller,
        page: Page,
    ) -> Result<Listing<HeldNumber>, CoreError> {
        let (id, is_admin, now) = (
            caller.account.id,
            caller.account.is_admin(),
            self.clock.now(),
        );
        if is_admin {
            // An administrator holds every subscribed number: its page and
            // its total are two statements, so one snapshot.
            return self
                .store
                .read(move |tx| {
                    let (items, total) = tx.subscribed_numbers(id, page)?;
                    Ok(Listing { items, total })
                })
                .await;
        }
        // Anyone else what it owns plus what it was granted (never both for
        // one number): the hottest read. Each backend answers the page with
        // its total from one snapshot (SQLite's reader transaction,
        // PostgreSQL's one statement), so it needs no transaction of ours.
        self.store
            .read_each(move |tx| {
                let (items, total) = tx.held_numbers(id, page, now)?;
                Ok(Listing { items, total })
            })
            .await
    }

    /// A keyset page of what the caller holds (an administrator: every
    /// subscribed number), by id. A `granted_to` outside the caller's reach
    /// lists nothing, as for an account that does not exist.
    pub async fn holdings(
        &self,
        caller: &Caller,
        filter: HoldingFilter,
        limit: i64,
    ) -> Result<Vec<Holding>, CoreError> {
        let filter = HoldingFilter {
            now: self.clock.now(),
            ..filter
        };
        self.holdings_at(caller, filter, limit).await
    }

    /// [`Core::holdings`] as of `filter.now`.
    async fn holdings_at(
        &self,
        caller: &Caller,
        filter: HoldingFilter,
        limit: i64,
    ) -> Result<Vec<Holding>, CoreError> {
        let me = caller.account.clone();
        if filter.granted_to.is_none() {
            // One statement, so no transaction of ours (one round trip on
            // PostgreSQL instead of three); a short page on the calling
            // thread where the store allows it (see [`HERE_ROWS`]).
            let facts = self.facts.clone();
            let read = move |tx: &mut dyn crate::store::Tx| {
                let rows = tx.holdings(me.id, me.is_admin(), &filter, limit)?;
                Ok(facts.holdings(tx, rows)?)
            };
            return match limit <= HERE_ROWS {
                true => self.store.read_here(read).await,
                false => self.store.read_each(read).await,
            };
        }
        let facts = self.facts.clone();
        self.store
            .read(move |tx| {
                if let Some(to) = filter.granted_to {
                    let visible = tx
                        .account_by_id(to)?
                        .is_some_and(|a| a.id == me.id || me.is_above(&a));
                    if !visible {
                        return Ok(Vec::new());
                    }
                }
                let rows = tx.holdings(me.id, me.is_admin(), &filter, limit)?;
                Ok(facts.holdings(tx, rows)?)
            })
            .await
    }

    /// The first page (no cursor) or any other of what the caller holds, as
    /// [`Core::holdings`] reads it (at most `limit` rows), written into
    /// an answer by `write`. A first page without `granted_to` is kept as
    /// written and answered again while nothing has changed (see `pages`).
    pub async fn holdings_page(
        &self,
        caller: &Caller,
        filter: HoldingFilter,
        limit: i64,
        write: impl FnOnce(Vec<Holding>) -> Bytes,
    ) -> Result<Bytes, CoreError> {
        let key = pages::PageKey::of(caller.account.id, caller.account.is_admin(), &filter, limit);
        let Some(key) = key else {
            return Ok(write(self.holdings(caller, filter, limit).await?));
        };
        let routes = &self.routes;
        let still_true = |generation, read_at| routes.still_true(generation, read_at);
        if let Some(body) = self.pages.get(&key, self.clock.now(), still_true) {
            return Ok(body);
        }
        // Before the read: a change heard from now on makes it stale.
        let (generation, read_at) = (self.routes.generation(), Instant::now());
        let now = self.clock.now();
        let rows = self
            .holdings_at(caller, HoldingFilter { now, ..filter }, limit)
            .await?;
        let read = pages::Read {
            generation,
            read_at,
            now,
            until: rows.iter().filter_map(|h| h.ends_at).min(),
        };
        let body = write(rows);
        self.pages.put(key, body.clone(), read, still_true);
        Ok(body)
    }

    /// How many numbers list pages were answered as kept (see `pages`).
    pub fn held_pages_answered(&self) -> u64 {
        self.pages.answered()
    }

    /// The whole state as of now, for invariant checks.
    pub async fn snapshot(&self) -> Result<Snapshot, CoreError> {
        let now = self.clock.now();
        self.store.read(move |tx| Ok(tx.snapshot(now)?)).await
    }
}

/// Builds a history entry.
pub(crate) fn history(
    at: i64,
    request_id: &str,
    actor_id: Option<i64>,
    action: Action,
    number_id: Option<i64>,
    account_id: Option<i64>,
    detail: &str,
) -> HistoryEntry {
    HistoryEntry {
        at,
        request_id: request_id.to_owned(),
        actor_id,
        action,
        number_id,
        account_id,
        detail: detail.to_owned(),
    }
}
