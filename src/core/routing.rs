//! Who may send from a number and who receives on it: the messaging layer's
//! question, asked for every message, so answered from memory: a table of
//! every number's routing, loaded when the process starts and kept true by
//! hearing of every change.
//!
//! What is heard, and how soon: every change to a number's row or its
//! grants (a routing names accounts by id and username, and no statement
//! changes a username):
//! - this process's own, as the request that made them returns: the
//!   core's write paths (grants, bulk, subscriptions, reservations,
//!   release, the sweeper's ends) forget the numbers they changed, on both
//!   backends;
//! - every process's, its own included, from the outbox: every change
//!   writes its event, with its number, in the change's own transaction,
//!   and the events' ids follow commit order (SQLite's one writer;
//!   PostgreSQL's sequencer). Every [`FOLLOW_EVERY`] the keeper reads the
//!   events after its cursor and forgets their numbers
//!   ([`Core::follow_outbox`]). That round also proves that every change
//!   committed before it began has been heard.
//!
//! The table trusts its entries whatever their age only while the last
//! proof is younger than `ttl` (the credential cache's, 5 s by default);
//! without a recent proof (the database unreachable, the keeper's rounds
//! failing) an entry is used only for `ttl` after it was read, as every
//! entry was before the table: a change made elsewhere reaches this process
//! within [`FOLLOW_EVERY`] when all is well, and within `ttl` whatever
//! happens. `ttl` 0 turns the table off.
//!
//! Announcing each change with `NOTIFY` from a trigger was tried first and
//! dropped: PostgreSQL serialises the commits of transactions that notify
//! (a lock on the notification queue, held through the commit's flush),
//! which undid the group commit of concurrent writers and made
//! `assign_unassign` time out on that lock (BENCHMARKS.md, "The routing
//! table").
//!
//! A lookup that raced a change must not put back what the change made the
//! table forget: every forgetting moves a generation on, and a routing read
//! under an older generation is answered but not kept (as in
//! `credentials`). The load, which reads for seconds, keeps instead a
//! journal of what was forgotten since it began and keeps no number in it.
//! Rounds that fail for longer than `ttl`, or an outbox whose newest id
//! went below the cursor (a database restored or failed over), start the
//! following over: the table is emptied and the cursor is the new head.
//!
//! Beside a number's routing the table keeps, once a first history page
//! of the number was read, that page's newest ids ([`Head`]): every entry
//! about a number is written with its event and by a change that forgets
//! the number here, so a head is forgotten with the routing and trusted by
//! the same rule, and used only with a routing at least as fresh as it is
//! ([`RouteCache::at_hand`]). With the routing (whether the caller holds the number)
//! and the entries' and accounts' caches it answers a first page with no
//! statement (`custody`). At most [`MAX_HEADS`] are kept.
//!
//! An answer is shared (`Arc`), and so is each account among the answers a
//! load reads together: a hit copies no strings. A miss (a number created
//! since, or one past [`MAX_ENTRIES`]) is one statement
//! (`Tx::routing_rows`), run on the calling thread where the store allows
//! it (`Store::read_here`: SQLite), with no transaction and no hop to a
//! reader thread; on PostgreSQL it is one round trip from a pool thread.
//!
//! Measured: see BENCHMARKS.md, "The routing table". Before the table
//! (BENCHMARKS.md, "Routing without a reader-thread hop"), 58% of a bench
//! run's lookups were a number's first, each a statement; a hit cost 49-56
//! thousand instructions, a miss 122 thousand.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Caller, Core, CoreError, Perms};
use crate::domain::NumberState;
use crate::store::{Account, Number, RoutingRows};

/// At most this many numbers are kept (at the bench's shape of number,
/// about 0.9 KB each, and about 0.4 KB more for each one looked up, whose
/// answer is kept too: up to about 2.6 GB; BENCHMARKS.md, "The routing
/// table" and "The routing answer kept with its routing"); the rest are
/// read each time.
const MAX_ENTRIES: usize = 2_000_000;

/// Numbers read per statement pair while the table loads.
const LOAD_PAGE: i64 = 5_000;

/// How often the outbox is read for changes ([`Core::follow_outbox`]): a
/// change another process makes is forgotten here within this, plus the
/// round's own time.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(200);

/// Events read per statement while following the outbox.
const FOLLOW_PAGE: i64 = 5_000;

/// At most this many numbers' history heads ([`Head`]) are kept: once
/// full, they are all dropped and fill again with what is asked for.
const MAX_HEADS: usize = 16_384;

/// The least time between the starts of two loads: a load that failed is
/// tried again at most this often, the database answering meanwhile.
pub const RELOAD_GAP: Duration = Duration::from_secs(30);

/// One account that holds the number, and how.
#[derive(Clone, Debug)]
pub struct Holder {
    /// Shared by every number the table holds that names it.
    pub account: Arc<Account>,
    pub perms: Perms,
    /// Who granted it; `None` for the owner.
    pub granted_by: Option<i64>,
}

/// The routing of one number.
#[derive(Clone, Debug)]
pub struct Routing {
    pub number: Number,
    pub owner: Option<Arc<Account>>,
    /// The owner first, then every live grant by account id.
    pub holders: Vec<Holder>,
    /// The earliest end among those grants (Unix seconds): a cached answer
    /// is not used from then on, so an ended grant never routes.
    pub(crate) ends_at: Option<i64>,
    /// A face's answer for this routing, with the number's state it was
    /// written for: the face writes it on the first lookup and reuses it
    /// while the state is the same (the state moves with the clock, as a
    /// reservation or quarantine lapses). A routing is never changed once
    /// kept (a change forgets it), so neither is its answer.
    pub(crate) answer: OnceLock<(NumberState, Bytes)>,
}

impl Routing {
    /// The routing that `rows` (one snapshot of a number) give at `now`.
    fn read(rows: RoutingRows, now: i64) -> Routing {
        let accounts: Vec<Arc<Account>> = rows.accounts.into_iter().map(Arc::new).collect();
        let find = |id: i64| accounts.iter().find(|a| a.id == id).cloned();
        Routing::of(rows.number, &rows.grants, now, find)
    }

    /// The routing of `number` with `grants` at `now`, its accounts found
    /// by id.
    fn of(
        number: Number,
        grants: &[crate::store::Grant],
        now: i64,
        find: impl Fn(i64) -> Option<Arc<Account>>,
    ) -> Routing {
        // Only live grants route: an ended one (and whatever was granted
        // from it) confers nothing, swept or not.
        let (_, grants) = super::grants::expiries(grants, now);
        let ends_at = grants.iter().filter_map(|g| g.expires_at).min();
        let owner = number.owner_id().and_then(&find);
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
        Routing {
            number,
            owner,
            holders,
            ends_at,
            answer: OnceLock::new(),
        }
    }
}

/// A number's newest history ids, as its first page read them (`custody`):
/// a number's entries come with its events, so they are forgotten with its
/// routing and trusted as its routing is.
#[derive(Debug)]
pub(crate) struct Head {
    /// Newest first.
    ids: Vec<i64>,
    /// How many were asked for: fewer answered means that these are all.
    asked: usize,
}

impl Head {
    pub(crate) fn new(ids: Vec<i64>, asked: usize) -> Head {
        Head { ids, asked }
    }

    /// The newest `ask` ids (all there are, if fewer), if this head holds
    /// that many or all of them.
    pub(crate) fn newest(&self, ask: usize) -> Option<&[i64]> {
        if ask <= self.asked || self.ids.len() < self.asked {
            Some(&self.ids[..ask.min(self.ids.len())])
        } else {
            None
        }
    }
}

/// A history head as kept: when its read began (its age, as a routing's)
/// and when it ended (what it may show).
struct KeptHead {
    head: Arc<Head>,
    read_at: Instant,
    done: Instant,
}

/// How a number is looked up in the table.
#[derive(Clone, Copy)]
pub(crate) enum NumberKey<'a> {
    Id(i64),
    E164(&'a str),
}

#[derive(Default)]
struct Entries {
    /// Each number's routing, and when it was kept.
    by_e164: HashMap<String, (Arc<Routing>, Instant)>,
    /// Number id to E.164, so a change forgets its number in one lookup.
    e164_of: HashMap<i64, String>,
    /// Some numbers' history heads, by number id.
    heads: HashMap<i64, KeptHead>,
    /// Moves on with every forgetting.
    generation: u64,
    /// While a load runs: the numbers forgotten since it began.
    loading: Option<HashSet<i64>>,
    /// When the running load began.
    load_began: Option<Instant>,
    /// Moves on with every load begun and every restart: a load keeps
    /// pages only while it is still the one running.
    load_epoch: u64,
    /// Whether a load should run (none has, or one failed).
    want_load: bool,
    /// When the last load began.
    loaded_at: Option<Instant>,
    /// Whether a load has run to its end.
    loaded: bool,
}

impl Entries {
    fn insert(&mut self, routing: Arc<Routing>, at: Instant) {
        let e164 = routing.number.number.clone();
        self.e164_of.insert(routing.number.id, e164.clone());
        self.by_e164.insert(e164, (routing, at));
    }

    fn remove(&mut self, number_id: i64) -> Option<(Arc<Routing>, Instant)> {
        let e164 = self.e164_of.remove(&number_id)?;
        self.by_e164.remove(&e164)
    }

    /// The entry of `e164` if it may be used at `now`: no grant in it has
    /// ended, and the store proves it hears (`hearing`) or it is younger
    /// than `ttl`.
    fn trusted(&self, e164: &str, now: i64, hearing: bool, ttl: Duration) -> Option<Arc<Routing>> {
        match self.by_e164.get(e164) {
            Some((routing, at))
                if routing.ends_at.is_none_or(|end| now < end)
                    && (hearing || at.elapsed() < ttl) =>
            {
                Some(routing.clone())
            }
            _ => None,
        }
    }
}

/// What a load's page came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Loaded {
    /// Kept; the load goes on.
    Kept,
    /// Stopped: the load ended meanwhile, or the table is full.
    Stopped,
}

pub(crate) struct RouteCache {
    /// Shared by the keeper's rounds and loads, taken whole by
    /// [`Core::quiet_routes`].
    rounds: tokio::sync::RwLock<()>,
    ttl: Duration,
    entries: Mutex<Entries>,
    /// When the store last proved that it had told every change committed
    /// before (nanoseconds after `base`; 0: never).
    heard: AtomicU64,
    /// How many proofs there have been.
    proofs: AtomicU64,
    base: Instant,
}

impl RouteCache {
    pub(crate) fn new(ttl: Duration) -> RouteCache {
        RouteCache {
            rounds: tokio::sync::RwLock::new(()),
            ttl,
            entries: Mutex::new(Entries {
                want_load: true,
                ..Entries::default()
            }),
            heard: AtomicU64::new(0),
            proofs: AtomicU64::new(0),
            base: Instant::now(),
        }
    }

    /// Whether the store's last proof of hearing is younger than the TTL.
    fn hearing(&self) -> bool {
        let heard = self.heard.load(Ordering::Acquire);
        let now = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let ttl = u64::try_from(self.ttl.as_nanos()).unwrap_or(u64::MAX);
        heard != 0 && now.saturating_sub(heard) < ttl
    }

    /// The cached routing of `e164`, if it is still true as far as this
    /// process can know (the keeper proves it hears every change, or it
    /// was read within the TTL) and no grant in it has ended by `now` (the
    /// core's clock); else the generation to [`RouteCache::put`] a fresh
    /// read under.
    fn get(&self, e164: &str, now: i64) -> Result<Arc<Routing>, u64> {
        let hearing = self.hearing();
        let Ok(entries) = self.entries.lock() else {
            return Err(u64::MAX);
        };
        if self.ttl.is_zero() {
            return Err(entries.generation);
        }
        entries
            .trusted(e164, now, hearing, self.ttl)
            .ok_or(entries.generation)
    }

    /// The generation to [`RouteCache::put_head`] a read under that
    /// begins now.
    pub(crate) fn generation(&self) -> u64 {
        self.entries.lock().map_or(u64::MAX, |e| e.generation)
    }

    /// Whether something read under `generation` from `read_at` on is
    /// still true as far as this process can know, by the table's own
    /// rule: nothing was forgotten since (no change to any number heard,
    /// here or from the outbox), and the store proves it hears or the read
    /// is younger than the TTL. Never with the table off (TTL 0), nor
    /// under the generation a poisoned lock answers (`u64::MAX`).
    pub(crate) fn still_true(&self, generation: u64, read_at: Instant) -> bool {
        !self.ttl.is_zero()
            && generation != u64::MAX
            && (self.hearing() || read_at.elapsed() < self.ttl)
            && self.generation() == generation
    }

    /// A number's routing and history head together (by id or E.164), if
    /// each may be used at `now` as [`RouteCache::get`] says, and the
    /// routing is as fresh as the head: read after the head's read ended,
    /// or proved by a round that began after it. Otherwise the head could
    /// show an entry of a change (made elsewhere, not heard yet) that the
    /// routing does not reflect: a grant taken back, its holder still
    /// listed.
    pub(crate) fn at_hand(
        &self,
        number: NumberKey<'_>,
        now: i64,
    ) -> Option<(Arc<Routing>, Arc<Head>)> {
        if self.ttl.is_zero() {
            return None;
        }
        let (hearing, heard) = (self.hearing(), self.heard.load(Ordering::Acquire));
        let entries = self.entries.lock().ok()?;
        let e164 = match number {
            NumberKey::Id(id) => entries.e164_of.get(&id)?.as_str(),
            NumberKey::E164(e164) => e164,
        };
        let routing = entries.trusted(e164, now, hearing, self.ttl)?;
        let (routing_at, kept) = (
            entries.by_e164.get(e164)?.1,
            entries.heads.get(&routing.number.id)?,
        );
        let trusted = hearing || kept.read_at.elapsed() < self.ttl;
        let fresh = kept.done <= routing_at || self.nanos(kept.done) <= heard;
        (trusted && fresh).then(|| (routing, kept.head.clone()))
    }

    /// `at` in nanoseconds after `base` (at least 1; `u64::MAX` before it).
    fn nanos(&self, at: Instant) -> u64 {
        at.checked_duration_since(self.base).map_or(u64::MAX, |d| {
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
        })
    }

    /// Keeps the history head of the number with this id, read under
    /// `generation` from `read_at` on (and ended by now), unless something
    /// was forgotten since, or the head kept already holds as many ids and
    /// may still be used (a newer one would be usable only after the next
    /// proof or a routing read after it: [`RouteCache::at_hand`]).
    pub(crate) fn put_head(&self, number_id: i64, head: Head, generation: u64, read_at: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let hearing = self.hearing();
        let kept = KeptHead {
            head: Arc::new(head),
            read_at,
            done: Instant::now(),
        };
        let gone = match self.entries.lock() {
            Ok(entries)
                if entries.heads.get(&number_id).is_some_and(|k| {
                    k.head.newest(kept.head.asked).is_some()
                        && (hearing || k.read_at.elapsed() < self.ttl)
                }) =>
            {
                None
            }
            Ok(mut entries) if entries.generation == generation => {
                let full =
                    entries.heads.len() >= MAX_HEADS && !entries.heads.contains_key(&number_id);
                let gone = full.then(|| std::mem::take(&mut entries.heads));
                entries.heads.insert(number_id, kept);
                gone
            }
            _ => None,
        };
        drop(gone);
    }

    /// Keeps `routing`, read under `generation` from `read_at` on, unless
    /// something was forgotten since (or the table is full and lacks it).
    fn put(&self, routing: Arc<Routing>, generation: u64, read_at: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.generation != generation {
                return;
            }
            if entries.by_e164.len() >= MAX_ENTRIES
                && !entries.e164_of.contains_key(&routing.number.id)
            {
                return;
            }
            entries.insert(routing, read_at);
        }
    }

    /// Forgets the number with this id (changed), and keeps no lookup or
    /// load that was reading it meanwhile.
    pub(crate) fn forget(&self, number_id: i64) {
        let gone = match self.entries.lock() {
            Ok(mut entries) => {
                entries.generation = entries.generation.wrapping_add(1);
                if let Some(journal) = entries.loading.as_mut() {
                    journal.insert(number_id);
                }
                let head = entries.heads.remove(&number_id);
                (entries.remove(number_id), head)
            }
            Err(_) => (None, None),
        };
        // Dropped (maybe the last reference) outside the lock.
        drop(gone);
    }

    /// Whether a load should begin now: the table is on, the store hears,
    /// one is wanted, none runs, and the last began [`RELOAD_GAP`] ago.
    pub(crate) fn load_due(&self) -> bool {
        if self.ttl.is_zero() || !self.hearing() {
            return false;
        }
        self.entries.lock().is_ok_and(|e| {
            e.want_load
                && e.loading.is_none()
                && e.loaded_at.is_none_or(|at| at.elapsed() >= RELOAD_GAP)
        })
    }

    /// Starts a load's journal (before its first read); `None` if one runs
    /// already or the table is off. The load ends when the guard drops.
    fn begin_load(&self) -> Option<LoadGuard<'_>> {
        if self.ttl.is_zero() {
            return None;
        }
        let mut entries = self.entries.lock().ok()?;
        if entries.loading.is_some() {
            return None;
        }
        let now = Instant::now();
        entries.loading = Some(HashSet::new());
        entries.load_began = Some(now);
        entries.load_epoch = entries.load_epoch.wrapping_add(1);
        let epoch = entries.load_epoch;
        entries.want_load = false;
        entries.loaded_at = Some(now);
        Some(LoadGuard {
            cache: self,
            epoch,
            done: false,
        })
    }

    /// Keeps a page of the load, but no number forgotten since the load
    /// began, and none a lookup has kept since it began (which is as
    /// fresh).
    fn keep_loaded(&self, page: Vec<Routing>, at: Instant, epoch: u64) -> Loaded {
        let Ok(mut entries) = self.entries.lock() else {
            return Loaded::Stopped;
        };
        if entries.load_epoch != epoch {
            return Loaded::Stopped;
        }
        let (Some(journal), Some(began)) = (entries.loading.take(), entries.load_began) else {
            return Loaded::Stopped;
        };
        let mut outcome = Loaded::Kept;
        let mut replaced = Vec::new();
        for routing in page {
            let id = routing.number.id;
            if journal.contains(&id) {
                continue;
            }
            match entries
                .e164_of
                .get(&id)
                .and_then(|e| entries.by_e164.get(e))
            {
                Some((_, kept)) if *kept >= began => continue,
                Some(_) => replaced.extend(entries.remove(id)),
                None if entries.by_e164.len() >= MAX_ENTRIES => {
                    outcome = Loaded::Stopped;
                    break;
                }
                None => {}
            }
            entries.insert(Arc::new(routing), at);
        }
        entries.loading = Some(journal);
        drop(entries);
        drop(replaced);
        outcome
    }

    /// How many numbers are kept.
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.by_e164.len())
    }

    /// Whether the table is off, or a load has run to its end and none
    /// runs now.
    pub(crate) fn loaded(&self) -> bool {
        self.ttl.is_zero()
            || self
                .entries
                .lock()
                .is_ok_and(|e| e.loaded && e.loading.is_none())
    }
}

/// A running load; dropping it ends it (also when the load's future is
/// dropped midway). One that did not finish is wanted again.
struct LoadGuard<'a> {
    cache: &'a RouteCache,
    /// The load's epoch: a restart since stopped it.
    epoch: u64,
    done: bool,
}

impl Drop for LoadGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut entries) = self.cache.entries.lock() {
            // The one load there can be (none begins while one runs).
            entries.loading = None;
            entries.load_began = None;
            if self.done && entries.load_epoch == self.epoch {
                entries.loaded = true;
            } else {
                entries.want_load = true;
            }
        }
    }
}

impl RouteCache {
    /// Once the outbox's head is read: forgets everything kept so far (a
    /// change committed before the head has no later event to forget it
    /// by), keeps no lookup that was under way, and wants a load.
    fn restart(&self) {
        let gone = match self.entries.lock() {
            Ok(mut entries) => {
                entries.generation = entries.generation.wrapping_add(1);
                // A load under way may have read what no event will now
                // forget: it stops; the table is loaded again (after the
                // gap), not only as lookups miss.
                entries.load_epoch = entries.load_epoch.wrapping_add(1);
                entries.want_load = true;
                Some((
                    std::mem::take(&mut entries.by_e164),
                    std::mem::take(&mut entries.e164_of),
                    std::mem::take(&mut entries.heads),
                ))
            }
            Err(_) => None,
        };
        drop(gone);
    }

    /// Every change committed before `at` has been heard: what was kept and
    /// not forgotten is still true as of `at`.
    fn heard(&self, at: Instant) {
        // A proof from before this table was made proves nothing of it.
        if at < self.base {
            return;
        }
        self.heard.fetch_max(self.nanos(at), Ordering::AcqRel);
        self.proofs.fetch_add(1, Ordering::AcqRel);
    }
}

impl Core {
    /// `e164`'s owner and holders, for administrators only (`Forbidden`
    /// otherwise); an unknown number is `NumberNotFound`.
    pub async fn routing(&self, caller: &Caller, e164: &str) -> Result<Arc<Routing>, CoreError> {
        if !caller.account.is_admin() {
            return Err(CoreError::Forbidden);
        }
        let now = self.clock.now();
        let generation = match self.routes.get(e164, now) {
            Ok(r) => return Ok(r),
            Err(generation) => generation,
        };
        let key = e164.to_owned();
        // Kept as of before the read: its age counts from here.
        let read_at = Instant::now();
        // One snapshot of the number, its grants and their accounts, in
        // one statement with no transaction of ours, on this thread where
        // the store allows it (the hottest read: a miss of the table is its
        // cost).
        let routing = self
            .store
            .read_here(move |tx| {
                let rows = tx.routing_rows(&key)?.ok_or(CoreError::NumberNotFound)?;
                Ok::<_, CoreError>(Routing::read(rows, now))
            })
            .await?;
        let routing = Arc::new(routing);
        self.routes.put(routing.clone(), generation, read_at);
        Ok(routing)
    }

    /// Loads every number's routing into the table, a page at a time on
    /// the reader threads; answers how many numbers the table holds after.
    /// A load already running, or the table being off, makes it a no-op.
    pub async fn load_routes(&self) -> Result<usize, CoreError> {
        let Some(mut load) = self.routes.begin_load() else {
            return Ok(self.routes.len());
        };
        let mut after = i64::MIN;
        let outcome = loop {
            let (now, read_at) = (self.clock.now(), Instant::now());
            let page = self
                .store
                .read(move |tx| Ok::<_, CoreError>(tx.routing_range(after, LOAD_PAGE)?))
                .await;
            let page = match page {
                Ok(page) => page,
                Err(e) => break Err(e),
            };
            let Some(last) = page.numbers.last().map(|r| r.number.id) else {
                break Ok(());
            };
            let last_page = page.numbers.len() < usize::try_from(LOAD_PAGE).unwrap_or(usize::MAX);
            after = last;
            // A page's numbers share its accounts.
            let accounts: HashMap<i64, Arc<Account>> = page
                .accounts
                .into_iter()
                .map(|a| (a.id, Arc::new(a)))
                .collect();
            let find = |id: i64| accounts.get(&id).cloned();
            let page = page
                .numbers
                .into_iter()
                .map(|rows| Routing::of(rows.number, &rows.grants, now, find))
                .collect();
            if self.routes.keep_loaded(page, read_at, load.epoch) == Loaded::Stopped || last_page {
                break Ok(());
            }
        };
        load.done = outcome.is_ok();
        drop(load);
        outcome.map(|()| self.routes.len())
    }

    /// Stops the routing table's keeper (once its round or load under way
    /// ends) until the guard drops: for a measurement of a request's
    /// statements that the keeper's own would blur. Meanwhile the table
    /// stops being trusted past the TTL, as whenever the rounds stop.
    pub async fn quiet_routes(&self) -> tokio::sync::RwLockWriteGuard<'_, ()> {
        self.routes.rounds.write().await
    }

    /// How many times the routing table's keeper has proved that it heard
    /// every change committed before its round began.
    pub fn routing_proofs(&self) -> u64 {
        self.routes.proofs.load(Ordering::Acquire)
    }

    /// Whether the routing table has loaded (or is off): from then on a
    /// number that existed at start is answered from memory.
    pub fn routing_table_loaded(&self) -> bool {
        self.routes.loaded()
    }

    /// Keeps the routing table true and loaded for as long as the process
    /// runs: follows the outbox ([`Core::follow_outbox`]) every
    /// [`FOLLOW_EVERY`], loads the table once that has begun, and again
    /// after a load that failed (at most once every [`RELOAD_GAP`]).
    pub async fn keep_routes(self) {
        if self.routes.ttl.is_zero() {
            return;
        }
        let follow = async {
            let (mut cursor, mut last_ok) = (None, Instant::now());
            loop {
                // Rounds that failed for longer than the TTL (a database
                // down, failing over, restored): the outbox may no longer
                // hold what happened meanwhile, so start over from its head.
                if last_ok.elapsed() > self.routes.ttl {
                    cursor = None;
                }
                let round = self.routes.rounds.read().await;
                let followed = self.follow_outbox(cursor).await;
                drop(round);
                match followed {
                    Ok(next) => (cursor, last_ok) = (Some(next), Instant::now()),
                    // Once a failing spell, not five times a second.
                    Err(e) if last_ok.elapsed() < FOLLOW_EVERY * 2 => {
                        tracing::warn!(error = %e, "following the outbox for routing failed")
                    }
                    Err(_) => {}
                }
                tokio::time::sleep(FOLLOW_EVERY).await;
            }
        };
        let load = async {
            loop {
                let round = self.routes.rounds.read().await;
                if self.routes.load_due() {
                    let started = Instant::now();
                    match self.load_routes().await {
                        Ok(kept) => tracing::info!(
                            numbers = kept,
                            ms = started.elapsed().as_millis() as u64,
                            "routing table loaded"
                        ),
                        Err(e) => tracing::warn!(error = %e, "loading the routing table failed"),
                    }
                }
                drop(round);
                tokio::time::sleep(FOLLOW_EVERY).await;
            }
        };
        tokio::join!(follow, load);
    }

    /// One round of following the outbox, where every change of every
    /// process writes its event, naming its number, in the change's own
    /// transaction: forgets the number of each event after `cursor`, and of
    /// each event committed but not yet given its id (PostgreSQL's staging,
    /// forgotten again each round until it is), all read in one snapshot;
    /// then, if neither list was cut short, tells the table that every
    /// change committed before the round began has been heard. Answers the
    /// new cursor. The first round (`cursor` `None`) takes the newest
    /// event's id and forgets everything the table kept (what was read
    /// before has no event to be forgotten by), and proves nothing yet.
    ///
    /// Why the two lists suffice: event ids follow commit order (SQLite's
    /// one writer; PostgreSQL's sequencer, migration 0011), so an event
    /// committed before the snapshot either has an id above every id seen
    /// before, or is still staged. The round never waits to sequence (the
    /// sequencer's lock can be behind however large a backlog): it
    /// sequences what is staged only if no one else is.
    pub async fn follow_outbox(&self, cursor: Option<i64>) -> Result<i64, CoreError> {
        let at = Instant::now();
        let Some(mut cursor) = cursor else {
            let head = self
                .store
                .read(|tx| Ok::<_, CoreError>(tx.max_event_id()?))
                .await?;
            // After the head is read: a lookup that read before it is not
            // kept, and one that reads after it sees every change up to it.
            self.routes.restart();
            return Ok(head);
        };
        loop {
            let after = cursor;
            let (changes, head) = self
                .store
                .read(move |tx| {
                    Ok::<_, CoreError>((tx.changes_after(after, FOLLOW_PAGE)?, tx.max_event_id()?))
                })
                .await?;
            if head < cursor {
                // The outbox went back (a database restored or failed over
                // to one that lacks what this instance read): start over.
                return Box::pin(self.follow_outbox(None)).await;
            }
            let numbers = changes.events.iter().map(|e| e.1);
            for id in numbers.chain(changes.staged.iter().copied()).flatten() {
                self.routes.forget(id);
            }
            cursor = changes.events.iter().map(|e| e.0).fold(cursor, i64::max);
            let whole = |n: usize| n < usize::try_from(FOLLOW_PAGE).unwrap_or(usize::MAX);
            if !whole(changes.events.len()) {
                // More events than a page: read on from the new cursor.
                continue;
            }
            if whole(changes.staged.len()) {
                self.routes.heard(at);
            }
            if !changes.staged.is_empty() {
                // Staged events are forgotten again each round until they
                // have ids, and more than a page of them stops the proofs:
                // sequence them if no one else is (the sweeper and the
                // outbox's readers do too), so that the next round forgets
                // them once more and then no longer.
                // The round has forgotten and proved already: a failure
                // here is told, and the next round tries again.
                if let Err(e) = self.store.sequence_events_if_free().await {
                    tracing::warn!(error = %e, "sequencing staged events for routing failed");
                }
            }
            break;
        }
        Ok(cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routing(id: i64, e164: &str) -> Arc<Routing> {
        Arc::new(Routing {
            number: Number {
                id,
                uid: format!("u{id}"),
                number: e164.to_owned(),
                operator_id: None,
                alias: None,
                is_66_char: false,
                country: "AU".into(),
                monthly_price: 0,
                yearly_price: 0,
                subscription: None,
                quarantine: None,
                reservation: None,
            },
            owner: None,
            holders: Vec::new(),
            ends_at: None,
            answer: OnceLock::new(),
        })
    }

    #[test]
    fn a_head_answers_what_it_holds() {
        let some = Head::new(vec![9, 7, 5], 3);
        assert_eq!(some.newest(2), Some(&[9, 7][..]));
        assert_eq!(some.newest(3), Some(&[9, 7, 5][..]));
        // There may be more than it read.
        assert_eq!(some.newest(4), None);
        let all = Head::new(vec![9, 7], 3);
        assert_eq!(all.newest(10), Some(&[9, 7][..]));
    }

    #[test]
    fn a_head_is_used_with_a_routing_as_fresh_and_goes_with_its_number() {
        let cache = RouteCache::new(Duration::from_secs(5));
        let by_id = NumberKey::Id(1);
        let head = || Head::new(vec![3], 51);
        // A routing read before the head was: not used together, until a
        // round that began after the head's read proves hearing.
        cache.put(routing(1, "+1"), cache.generation(), Instant::now());
        cache.put_head(1, head(), cache.generation(), Instant::now());
        assert!(cache.at_hand(by_id, 0).is_none());
        cache.heard(Instant::now());
        let (r, h) = cache.at_hand(by_id, 0).expect("proved since the head");
        assert_eq!((r.number.id, h.newest(51)), (1, Some(&[3][..])));
        // A routing read after the head's read ended: used together.
        cache.forget(1);
        cache.put_head(1, head(), cache.generation(), Instant::now());
        cache.put(routing(1, "+1"), cache.generation(), Instant::now());
        assert!(cache.at_hand(NumberKey::E164("+1"), 0).is_some());
        // Forgotten with its number.
        cache.forget(1);
        cache.put(routing(1, "+1"), cache.generation(), Instant::now());
        assert!(cache.at_hand(by_id, 0).is_none());
        // A read that raced a change (of any number) is not kept.
        let generation = cache.generation();
        cache.forget(2);
        cache.put_head(1, head(), generation, Instant::now());
        cache.heard(Instant::now());
        assert!(cache.at_hand(by_id, 0).is_none());
    }

    #[test]
    fn a_head_past_the_ttl_is_used_only_while_the_store_proves_it_hears() {
        let cache = RouteCache::new(Duration::from_secs(5));
        cache.put_head(1, Head::new(vec![3], 51), cache.generation(), ago(6));
        cache.put(routing(1, "+1"), cache.generation(), Instant::now());
        assert!(cache.at_hand(NumberKey::Id(1), 0).is_none());
        cache.heard(Instant::now());
        assert!(cache.at_hand(NumberKey::Id(1), 0).is_some());
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_kept() {
        let cache = RouteCache::new(Duration::from_secs(5));
        let Err(before) = cache.get("+61400000001", 0) else {
            panic!("an empty cache has nothing");
        };
        // This process changes the number while the read is under way.
        cache.forget(1);
        cache.put(routing(1, "+61400000001"), before, Instant::now());
        assert!(
            cache.get("+61400000001", 0).is_err(),
            "the stale read was kept"
        );
        // A read begun after the change is kept, and forgotten by the next.
        let Err(after) = cache.get("+61400000001", 0) else {
            panic!("nothing was kept");
        };
        cache.put(routing(1, "+61400000001"), after, Instant::now());
        assert!(cache.get("+61400000001", 0).is_ok());
        cache.forget(1);
        assert!(cache.get("+61400000001", 0).is_err());
    }

    #[test]
    fn an_entry_is_not_used_past_its_ttl_or_a_grants_end() {
        let cache = RouteCache::new(Duration::from_millis(30));
        let Err(g) = cache.get("+61400000002", 0) else {
            panic!("an empty cache has nothing");
        };
        let mut r = routing(2, "+61400000002");
        Arc::make_mut(&mut r).ends_at = Some(100);
        cache.put(r, g, Instant::now());
        assert!(cache.get("+61400000002", 99).is_ok());
        assert!(
            cache.get("+61400000002", 100).is_err(),
            "an ended grant routed"
        );
        std::thread::sleep(Duration::from_millis(40));
        assert!(
            cache.get("+61400000002", 0).is_err(),
            "an entry outlived its TTL"
        );
    }

    fn held_by(id: i64, e164: &str, account_id: i64) -> Routing {
        let mut r = (*routing(id, e164)).clone();
        r.holders.push(Holder {
            account: Arc::new(Account {
                id: account_id,
                username: format!("user{account_id}"),
                name: String::new(),
                is_reseller: false,
                suspended: false,
                parent_id: Some(1),
                path: String::new(),
                postpaid: false,
                created_at: 0,
            }),
            perms: Perms::ALL,
            granted_by: Some(1),
        });
        r
    }

    /// An entry kept as if `age` ago.
    fn keep_old(cache: &RouteCache, r: Arc<Routing>, age: Duration) {
        let at = Instant::now()
            .checked_sub(age)
            .expect("the machine is up that long");
        cache.entries.lock().expect("lock").insert(r, at);
    }

    fn ago(secs: u64) -> Instant {
        Instant::now()
            .checked_sub(Duration::from_secs(secs))
            .expect("the machine is up that long")
    }

    #[test]
    fn an_entry_outlives_its_ttl_only_while_the_store_proves_it_hears() {
        let ttl = Duration::from_secs(5);
        let mut cache = RouteCache::new(ttl);
        // As if the table had been made half a minute ago.
        cache.base = ago(30);
        let old = Duration::from_secs(20);
        keep_old(&cache, routing(3, "+61400000003"), old);
        assert!(
            cache.get("+61400000003", 0).is_err(),
            "an old entry was used with nothing heard"
        );
        // A proof older than the TTL is no proof.
        cache.heard(ago(6));
        assert!(
            cache.get("+61400000003", 0).is_err(),
            "a stale proof was trusted"
        );
        cache.heard(Instant::now());
        assert!(
            cache.get("+61400000003", 0).is_ok(),
            "a proven entry was not used"
        );
        // What is heard is forgotten, proof or not.
        cache.forget(3);
        assert!(cache.get("+61400000003", 0).is_err());
        keep_old(&cache, routing(4, "+61400000004"), old);
        keep_old(&cache, routing(5, "+61400000005"), Duration::ZERO);
        assert!(cache.get("+61400000004", 0).is_ok());
        // The outbox's head was read: nothing kept before is used again.
        cache.restart();
        assert!(cache.get("+61400000004", 0).is_err());
        assert!(cache.get("+61400000005", 0).is_err());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_load_keeps_nothing_that_changed_while_it_read() {
        let cache = RouteCache::new(Duration::from_secs(5));
        cache.heard(Instant::now());
        assert!(cache.load_due(), "a new table wants a load");
        let mut load = cache.begin_load().expect("a load begins");
        assert!(cache.begin_load().is_none(), "two loads ran at once");
        assert!(!cache.load_due());
        // Heard while the page was being read: number 1 changed; a lookup
        // kept number 4 afresh.
        cache.forget(1);
        let Err(g) = cache.get("+61400000004", 0) else {
            panic!("an empty table has nothing");
        };
        let fresh = Arc::new(held_by(4, "+61400000004", 44));
        cache.put(fresh.clone(), g, Instant::now());
        let page = vec![
            (*routing(1, "+61400000001")).clone(),
            (*routing(2, "+61400000002")).clone(),
            (*routing(4, "+61400000004")).clone(),
        ];
        assert_eq!(
            cache.keep_loaded(page, Instant::now(), load.epoch),
            Loaded::Kept
        );
        assert!(
            cache.get("+61400000001", 0).is_err(),
            "a changed number was loaded"
        );
        assert!(cache.get("+61400000002", 0).is_ok());
        let kept = cache.get("+61400000004", 0).expect("number 4");
        assert!(
            Arc::ptr_eq(&kept, &fresh),
            "the load replaced a fresher read"
        );
        load.done = true;
        drop(load);
        assert!(!cache.load_due(), "a finished load is wanted again");

        // A load that fails (or is dropped midway) is wanted again.
        cache.entries.lock().expect("lock").loaded_at = None;
        cache.entries.lock().expect("lock").want_load = true;
        drop(cache.begin_load().expect("a load begins"));
        cache.entries.lock().expect("lock").loaded_at = None;
        assert!(cache.load_due(), "an unfinished load is not wanted again");

        // A load after a lookup kept a number replaces it only if the
        // lookup came before the load began.
        cache.entries.lock().expect("lock").loaded_at = None;
        cache.entries.lock().expect("lock").want_load = true;
        let load = cache.begin_load().expect("a load begins");
        let again = held_by(2, "+61400000002", 22);
        assert_eq!(
            cache.keep_loaded(vec![again], Instant::now(), load.epoch),
            Loaded::Kept
        );
        drop(load);
        let kept = cache.get("+61400000002", 0).expect("number 2");
        assert_eq!(kept.holders.len(), 1, "the load kept the entry from before");

        // A restart (the outbox followed afresh) stops a load under way:
        // what it read may have changed with no event left to say so.
        cache.entries.lock().expect("lock").loaded_at = None;
        cache.entries.lock().expect("lock").want_load = true;
        let mut load = cache.begin_load().expect("a load begins");
        cache.restart();
        assert_eq!(
            cache.keep_loaded(
                vec![(*routing(8, "+61400000008")).clone()],
                Instant::now(),
                load.epoch
            ),
            Loaded::Stopped
        );
        assert!(
            cache.get("+61400000008", 0).is_err(),
            "a stopped load kept a page"
        );
        load.done = true;
        drop(load);
        cache.entries.lock().expect("lock").loaded_at = None;
        assert!(
            cache.load_due(),
            "a load stopped by a restart is not wanted again"
        );
    }
}
