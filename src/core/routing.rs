//! Who may send from a number and who receives on it: the messaging layer's
//! question, asked for every message, so answered from memory: a table of
//! every number's routing, loaded when the process starts and kept true by
//! hearing of every change.
//!
//! What is heard, and how soon (see `Store::watch_changes`):
//! - this process's own changes, before the write that made them is
//!   answered: SQLite's writer notes each changed number, grant and
//!   username with triggers on its connection; on PostgreSQL the core's
//!   write paths forget what they changed as they return, and the listener
//!   hears the same a few milliseconds later;
//! - another process's: on PostgreSQL every change to a number, its grants
//!   or a username is announced by a trigger (`NOTIFY`, delivered at
//!   commit) and heard within milliseconds; SQLite tells only that another
//!   process wrote the file, and the table starts over (and loads again,
//!   at most once every [`RELOAD_GAP`]).
//!
//! The store also proves, every fraction of a second, that it has told
//! everything committed before a given instant (`ChangeSink::heard`). The
//! table trusts its entries whatever their age only while the last proof is
//! younger than `ttl` (the credential cache's, 5 s by default); without a
//! recent proof (a listener reconnecting, a writer busy for seconds) an
//! entry is used only for `ttl` after it was read, as every entry was
//! before the table: a change made elsewhere reaches this process within
//! `ttl` either way. `ttl` 0 turns the table off.
//!
//! A lookup that raced a change must not put back what the change made the
//! table forget: every forgetting moves a generation on, and a routing read
//! under an older generation is answered but not kept (as in
//! `credentials`). The load, which reads for seconds, keeps instead a
//! journal of what was forgotten since it began and keeps no number in it
//! (nor one naming a renamed account); "everything" stops it.
//!
//! An answer is shared (`Arc`): a hit copies no strings. A miss (a number
//! created since, or one past [`MAX_ENTRIES`]) is one statement
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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Caller, Core, CoreError, Perms};
use crate::store::{Account, ChangeSink, Changed, Number, RoutingRows};

/// At most this many numbers are kept (about 2 GB at the bench's shape of
/// number; BENCHMARKS.md, "The routing table"); the rest are read each time.
const MAX_ENTRIES: usize = 2_000_000;

/// Numbers read per statement pair while the table loads.
const LOAD_PAGE: i64 = 5_000;

/// The least time between the starts of two loads: a process that keeps
/// hearing "everything" (another process writing an SQLite file) loads at
/// most this often, and answers from the database meanwhile.
pub const RELOAD_GAP: Duration = Duration::from_secs(30);

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

impl Routing {
    /// The routing that `rows` (one snapshot of a number) give at `now`.
    fn of(rows: RoutingRows, now: i64) -> Routing {
        let (number, accounts) = (rows.number, rows.accounts);
        // Only live grants route: an ended one (and whatever was granted
        // from it) confers nothing, swept or not.
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
        Routing {
            number,
            owner,
            holders,
            ends_at,
        }
    }

    fn names(&self, account_id: i64) -> bool {
        self.holders.iter().any(|h| h.account.id == account_id)
    }
}

/// What was forgotten while a load ran.
#[derive(Default)]
struct Journal {
    numbers: HashSet<i64>,
    accounts: HashSet<i64>,
    everything: bool,
}

#[derive(Default)]
struct Entries {
    by_e164: HashMap<String, (Arc<Routing>, Instant)>,
    /// Number id to E.164, so a change forgets its number in one lookup.
    e164_of: HashMap<i64, String>,
    /// Moves on with every forgetting.
    generation: u64,
    /// While a load runs.
    loading: Option<Journal>,
    /// Whether a load should run (none has yet, or "everything" since).
    want_load: bool,
    /// When the last load began.
    loaded_at: Option<Instant>,
}

impl Entries {
    fn insert(&mut self, routing: Arc<Routing>, at: Instant) {
        let e164 = routing.number.number.clone();
        self.e164_of.insert(routing.number.id, e164.clone());
        self.by_e164.insert(e164, (routing, at));
    }

    fn remove(&mut self, number_id: i64) {
        if let Some(e164) = self.e164_of.remove(&number_id) {
            self.by_e164.remove(&e164);
        }
    }
}

/// What a load's page came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Loaded {
    /// Kept; the load goes on.
    Kept,
    /// Stopped: "everything" was heard, or the table is full.
    Stopped,
}

pub(crate) struct RouteCache {
    ttl: Duration,
    entries: Mutex<Entries>,
    /// When the store last proved that it had told every change committed
    /// before (nanoseconds after `base`; 0: never).
    heard: AtomicU64,
    base: Instant,
}

impl RouteCache {
    pub(crate) fn new(ttl: Duration) -> RouteCache {
        RouteCache {
            ttl,
            entries: Mutex::new(Entries {
                want_load: true,
                ..Entries::default()
            }),
            heard: AtomicU64::new(0),
            base: Instant::now(),
        }
    }

    /// Whether the store's last proof of hearing is younger than the TTL.
    fn hearing(&self) -> bool {
        let heard = self.heard.load(Ordering::Acquire);
        let now = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX);
        heard != 0
            && now.saturating_sub(heard) < u64::try_from(self.ttl.as_nanos()).unwrap_or(u64::MAX)
    }

    /// The cached routing of `e164`, if it is still true as far as this
    /// process can know (heard of every change lately, or read within the
    /// TTL) and no grant in it has ended by `now` (the core's clock); else
    /// the generation to [`RouteCache::put`] a fresh read under.
    fn get(&self, e164: &str, now: i64) -> Result<Arc<Routing>, u64> {
        let hearing = self.hearing();
        let Ok(entries) = self.entries.lock() else {
            return Err(u64::MAX);
        };
        if self.ttl.is_zero() {
            return Err(entries.generation);
        }
        match entries.by_e164.get(e164) {
            Some((routing, at))
                if (hearing || at.elapsed() < self.ttl)
                    && routing.ends_at.is_none_or(|end| now < end) =>
            {
                Ok(routing.clone())
            }
            _ => Err(entries.generation),
        }
    }

    /// Keeps `routing`, read under `generation`, unless something was
    /// forgotten since.
    fn put(&self, routing: Arc<Routing>, generation: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let hearing = self.hearing();
        if let Ok(mut entries) = self.entries.lock() {
            if entries.generation != generation {
                return;
            }
            if entries.by_e164.len() >= MAX_ENTRIES
                && !entries.e164_of.contains_key(&routing.number.id)
            {
                if hearing {
                    // Full of entries that are all still true.
                    return;
                }
                // Full of entries that may all have run out.
                entries.by_e164.clear();
                entries.e164_of.clear();
            }
            entries.insert(routing, Instant::now());
        }
    }

    /// Forgets the number with this id (this process changed it), and
    /// keeps no lookup that was under way meanwhile.
    pub(crate) fn forget(&self, number_id: i64) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.generation = entries.generation.wrapping_add(1);
            entries.remove(number_id);
            if let Some(journal) = entries.loading.as_mut() {
                journal.numbers.insert(number_id);
            }
        }
    }

    /// Forgets every number that names this account (renamed).
    fn forget_account(&self, account_id: i64) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.generation = entries.generation.wrapping_add(1);
            let named: Vec<i64> = entries
                .by_e164
                .values()
                .filter(|(r, _)| r.names(account_id))
                .map(|(r, _)| r.number.id)
                .collect();
            for id in named {
                entries.remove(id);
            }
            if let Some(journal) = entries.loading.as_mut() {
                journal.accounts.insert(account_id);
            }
        }
    }

    /// Forgets everything; a load should run again.
    fn forget_everything(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.generation = entries.generation.wrapping_add(1);
            entries.by_e164.clear();
            entries.e164_of.clear();
            entries.want_load = true;
            if let Some(journal) = entries.loading.as_mut() {
                journal.everything = true;
            }
        }
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

    /// Starts a load's journal (before its first read); false if one runs
    /// already or the table is off.
    fn begin_load(&self) -> bool {
        if self.ttl.is_zero() {
            return false;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return false;
        };
        if entries.loading.is_some() {
            return false;
        }
        entries.loading = Some(Journal::default());
        entries.want_load = false;
        entries.loaded_at = Some(Instant::now());
        true
    }

    /// Keeps a page of the load, but no number forgotten since the load
    /// began, none naming an account renamed since, and none a lookup has
    /// kept meanwhile (which is as fresh).
    fn keep_loaded(&self, page: Vec<Routing>) -> Loaded {
        let Ok(mut entries) = self.entries.lock() else {
            return Loaded::Stopped;
        };
        let at = Instant::now();
        let Some(journal) = entries.loading.take() else {
            return Loaded::Stopped;
        };
        if journal.everything {
            entries.loading = Some(journal);
            return Loaded::Stopped;
        }
        for routing in page {
            if entries.by_e164.len() >= MAX_ENTRIES {
                entries.loading = Some(journal);
                return Loaded::Stopped;
            }
            if journal.numbers.contains(&routing.number.id)
                || journal.accounts.iter().any(|&a| routing.names(a))
                || entries.e164_of.contains_key(&routing.number.id)
            {
                continue;
            }
            entries.insert(Arc::new(routing), at);
        }
        entries.loading = Some(journal);
        Loaded::Kept
    }

    /// Ends a load; one stopped by "everything" is wanted again.
    fn end_load(&self) {
        if let Ok(mut entries) = self.entries.lock()
            && entries.loading.take().is_some_and(|j| j.everything)
        {
            entries.want_load = true;
        }
    }

    /// How many numbers are kept.
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.by_e164.len())
    }
}

/// What the store heard (see the module's comment).
impl ChangeSink for RouteCache {
    fn changed(&self, what: &Changed) {
        match what {
            Changed::Number(id) => self.forget(*id),
            Changed::Account(id) => self.forget_account(*id),
            Changed::Everything => self.forget_everything(),
            Changed::Credential(_) => {}
        }
    }

    fn heard(&self, at: Instant) {
        // A proof from before this table was made proves nothing of it.
        let Some(at) = at.checked_duration_since(self.base) else {
            return;
        };
        let at = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.heard.fetch_max(at, Ordering::AcqRel);
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
        // One snapshot of the number, its grants and their accounts, in
        // one statement with no transaction of ours, on this thread where
        // the store allows it (the hottest read: a miss of the table is its
        // cost).
        let routing = self
            .store
            .read_here(move |tx| {
                let rows = tx.routing_rows(&key)?.ok_or(CoreError::NumberNotFound)?;
                Ok::<_, CoreError>(Routing::of(rows, now))
            })
            .await?;
        let routing = Arc::new(routing);
        self.routes.put(routing.clone(), generation);
        Ok(routing)
    }

    /// Loads every number's routing into the table, a page at a time on
    /// the reader threads; answers how many numbers the table holds after.
    /// A load already running, or the table being off, makes it a no-op.
    pub async fn load_routes(&self) -> Result<usize, CoreError> {
        if !self.routes.begin_load() {
            return Ok(self.routes.len());
        }
        let mut after = i64::MIN;
        let outcome = loop {
            let now = self.clock.now();
            let page = self
                .store
                .read(move |tx| Ok::<_, CoreError>(tx.routing_range(after, LOAD_PAGE)?))
                .await;
            let page = match page {
                Ok(page) => page,
                Err(e) => break Err(e),
            };
            let Some(last) = page.last().map(|r| r.number.id) else {
                break Ok(());
            };
            let last_page = page.len() < usize::try_from(LOAD_PAGE).unwrap_or(usize::MAX);
            after = last;
            let page = page
                .into_iter()
                .map(|rows| Routing::of(rows, now))
                .collect();
            if self.routes.keep_loaded(page) == Loaded::Stopped || last_page {
                break Ok(());
            }
        };
        self.routes.end_load();
        outcome.map(|()| self.routes.len())
    }

    /// Keeps the routing table loaded for as long as the process runs:
    /// loads it once the store hears, and again after "everything" (at most
    /// once every [`RELOAD_GAP`]).
    pub async fn keep_routes(self) {
        loop {
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
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
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
        })
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_kept() {
        let cache = RouteCache::new(Duration::from_secs(5));
        let Err(before) = cache.get("+61400000001", 0) else {
            panic!("an empty cache has nothing");
        };
        // This process changes the number while the read is under way.
        cache.forget(1);
        cache.put(routing(1, "+61400000001"), before);
        assert!(
            cache.get("+61400000001", 0).is_err(),
            "the stale read was kept"
        );
        // A read begun after the change is kept, and forgotten by the next.
        let Err(after) = cache.get("+61400000001", 0) else {
            panic!("nothing was kept");
        };
        cache.put(routing(1, "+61400000001"), after);
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
        cache.put(r, g);
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
            account: Account {
                id: account_id,
                username: format!("user{account_id}"),
                name: String::new(),
                is_reseller: false,
                suspended: false,
                parent_id: Some(1),
                path: String::new(),
                postpaid: false,
                created_at: 0,
            },
            perms: Perms::ALL,
            granted_by: Some(1),
        });
        r
    }

    /// An entry kept as if read `ago`.
    fn keep_old(cache: &RouteCache, r: Arc<Routing>, ago: Duration) {
        let at = Instant::now()
            .checked_sub(ago)
            .expect("an instant an hour ago");
        cache.entries.lock().expect("lock").insert(r, at);
    }

    #[test]
    fn an_entry_outlives_its_ttl_only_while_the_store_proves_it_hears() {
        let ttl = Duration::from_secs(5);
        let cache = RouteCache::new(ttl);
        keep_old(
            &cache,
            routing(3, "+61400000003"),
            Duration::from_secs(3600),
        );
        assert!(
            cache.get("+61400000003", 0).is_err(),
            "an hour-old entry was used with nothing heard"
        );
        // A proof from before the TTL is no proof.
        cache.heard(Instant::now() - Duration::from_secs(6));
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
        cache.changed(&Changed::Number(3));
        assert!(cache.get("+61400000003", 0).is_err());
        // A renamed account's numbers, and only those, are forgotten.
        keep_old(
            &cache,
            Arc::new(held_by(4, "+61400000004", 40)),
            Duration::ZERO,
        );
        keep_old(
            &cache,
            Arc::new(held_by(5, "+61400000005", 50)),
            Duration::ZERO,
        );
        cache.changed(&Changed::Account(40));
        assert!(
            cache.get("+61400000004", 0).is_err(),
            "a renamed holder's number was kept"
        );
        assert!(cache.get("+61400000005", 0).is_ok());
        cache.changed(&Changed::Credential("d".into()));
        assert!(cache.get("+61400000005", 0).is_ok());
        cache.changed(&Changed::Everything);
        assert!(cache.get("+61400000005", 0).is_err());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn a_load_keeps_nothing_that_changed_while_it_read() {
        let cache = RouteCache::new(Duration::from_secs(5));
        cache.heard(Instant::now());
        assert!(cache.load_due(), "a new table wants a load");
        assert!(cache.begin_load());
        assert!(!cache.begin_load(), "two loads ran at once");
        assert!(!cache.load_due());
        // Heard while the page was being read: number 1 changed, account
        // 30 was renamed; a lookup kept number 4 afresh.
        cache.changed(&Changed::Number(1));
        cache.changed(&Changed::Account(30));
        let Err(g) = cache.get("+61400000004", 0) else {
            panic!("an empty table has nothing");
        };
        let fresh = Arc::new(held_by(4, "+61400000004", 44));
        cache.put(fresh.clone(), g);
        let page = vec![
            (*routing(1, "+61400000001")).clone(),
            (*routing(2, "+61400000002")).clone(),
            held_by(3, "+61400000003", 30),
            (*routing(4, "+61400000004")).clone(),
        ];
        assert_eq!(cache.keep_loaded(page), Loaded::Kept);
        assert!(
            cache.get("+61400000001", 0).is_err(),
            "a changed number was loaded"
        );
        assert!(cache.get("+61400000002", 0).is_ok());
        assert!(
            cache.get("+61400000003", 0).is_err(),
            "a renamed holder's number was loaded"
        );
        let kept = cache.get("+61400000004", 0).expect("number 4");
        assert!(
            Arc::ptr_eq(&kept, &fresh),
            "the load replaced a fresher read"
        );
        cache.end_load();
        assert!(!cache.load_due(), "a finished load is wanted again");
        // "Everything" stops a load, and a new one is wanted (after the gap).
        cache.entries.lock().expect("lock").loaded_at = None;
        cache.changed(&Changed::Everything);
        assert!(cache.begin_load());
        cache.changed(&Changed::Everything);
        assert_eq!(
            cache.keep_loaded(vec![(*routing(2, "+61400000002")).clone()]),
            Loaded::Stopped
        );
        assert!(cache.get("+61400000002", 0).is_err());
        cache.end_load();
        assert!(!cache.load_due(), "a load began within the gap of the last");
        cache.entries.lock().expect("lock").loaded_at = None;
        assert!(cache.load_due(), "a stopped load is not wanted again");
    }
}
