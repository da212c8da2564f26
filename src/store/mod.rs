//! The store: where accounts, numbers, grants, tokens and history live.
//!
//! The store knows tables, not rules. It offers two things:
//!
//! * [`Tx`], a narrow set of primitives (find a number, list the grants on it,
//!   insert a grant, record history, ...) that each backend implements with
//!   the statements of `sql`, written once, and its own SQL only where the
//!   dialects differ, and
//! * [`Store::write`] / [`Store::read`], which run a closure over a `Tx` inside
//!   one database transaction on the backend's own threads.
//!
//! Every business rule is a function in `crate::core` over `&mut dyn Tx`, written
//! once; a backend decides only *how* a transaction is run. SQLite runs all
//! writes on one thread and commits whatever is waiting as one batch (group
//! commit, each job inside its own savepoint), so one fsync makes a whole batch
//! durable; a job is answered only after its batch has committed.

pub mod downline;
pub mod idempotency;
mod job;
pub mod postgres;
pub mod records;
mod sql;
pub mod sqlite;

use std::sync::{Arc, Weak};

// The domain's accounts and numbers are the rows the store reads and writes;
// they are named here too so that callers of the store find them beside it.
pub use crate::domain::{Account, Cycle, Grant, NewAccount, NewNumber, Number, Subscription};
pub use downline::{DownlineFilter, Relation};
pub use job::Job;
pub use records::*;

/// A failure of the database itself (as opposed to a rule saying no).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; names the constraint's subject.
    #[error("conflict on {0}")]
    Conflict(&'static str),
    /// The store's worker threads are gone (shutting down) or refused work.
    #[error("the store is unavailable")]
    Unavailable,
    /// Anything else the database said.
    #[error("database error: {0}")]
    Backend(String),
}

/// The sweeper's three queues of due times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    Grants,
    Quarantines,
    Reservations,
}

/// Whether a job only reads (and may run beside other reads) or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    /// A write that runs in a transaction of its own, never in a group
    /// with others (PostgreSQL's group commit, `postgres::Worker::run_group`):
    /// one that sequences the staged events first. Its wait for the
    /// sequencer's lock must not be cut short as a group's later job's
    /// lock waits are, and it must not hold that lock until a whole group
    /// commits (what the staging of migration 0011 is there to avoid).
    /// Where there is one writer, a [`Access::Write`].
    WriteAlone,
    /// One statement that commits on its own, with no transaction around it
    /// (one round trip where there is a server: the login budgets). Where
    /// there is one writer, a write.
    Single,
    /// A read whose statements run with no transaction around them, each
    /// its own snapshot: no `BEGIN` or `COMMIT`, so one round trip per
    /// statement where there is a server. Only for a read that needs no
    /// common snapshot across its statements (the custody history: it
    /// only grows, and its cursor is an id), or whose backend answers it
    /// in one statement (PostgreSQL's numbers list: its page and its total).
    /// Where there is no server, a [`Access::Read`].
    ReadEach,
}

/// A database backend: runs jobs on its own threads.
pub trait Backend: Send + Sync + 'static {
    /// Queues `job`; dropping it unrun (when shutting down) tells its caller
    /// the store is unavailable.
    fn submit(&self, access: Access, job: Box<dyn Job>);

    /// Queues a write `job` that may wait while requests' writes are
    /// waiting (the sweeper's batches): where there is one writer, it runs
    /// only between two batches of theirs, at most one there, each in its
    /// own transaction; elsewhere, as any write.
    fn submit_background(&self, job: Box<dyn Job>) {
        self.submit(Access::Write, job)
    }

    /// How many transactions were run again after a serialization failure
    /// or deadlock, or (PostgreSQL's group commit) a lock wait cut short in
    /// a group (always 0 where there is one writer).
    fn retries(&self) -> u64 {
        0
    }

    /// Statements sent to the database server, transaction control included
    /// (0 where there is no server).
    fn statements(&self) -> u64 {
        0
    }

    /// Round trips to the database server: writes that waited for the
    /// server's answers, however many statements each carried, a
    /// statement's preparation (once per connection) aside (0 where there
    /// is no server).
    fn round_trips(&self) -> u64 {
        0
    }

    /// Whether the login budgets live in the database, shared by every
    /// process on it ([`Tx::claim_login_budgets`]); else each process keeps
    /// them in memory.
    fn shares_login_budgets(&self) -> bool {
        false
    }

    /// Whether events wait for [`Tx::sequence_events`] to be seen.
    fn stages_events(&self) -> bool {
        false
    }

    /// Runs `f` on the calling thread over a read-only connection, with no
    /// transaction around it, if the backend has one free at once; false,
    /// with `f` not run, if not. Only where a read costs no more than
    /// handing it to another thread would (SQLite: the file is local, its
    /// pages mostly in memory, and WAL readers never wait on the writer); a
    /// server's round trip must not hold an async worker, so by default
    /// there is none.
    fn read_here(&self, _f: &mut dyn FnMut(&mut dyn Tx)) -> bool {
        false
    }

    /// Tells `sink` of every revocation any process commits from now on
    /// (replacing an earlier sink). A backend that serves one process has
    /// nothing to tell.
    fn watch_changes(&self, _sink: Weak<dyn ChangeSink>) {}
}

/// The handle the rest of the program holds; cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    /// Told of every write this process commits (the event feed's long
    /// polls wake on it).
    commits: Arc<tokio::sync::Notify>,
}

impl Store {
    /// Opens the database that `url` names (`sqlite://PATH` or
    /// `postgres://...`), creating and migrating it as needed.
    pub fn open(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        let backend: Arc<dyn Backend> = if let Some(path) = sqlite::path_of_url(url) {
            Arc::new(sqlite::SqliteBackend::open(&path, options)?)
        } else if postgres::is_postgres_url(url) {
            Arc::new(postgres::PgBackend::open(url, options)?)
        } else {
            return Err(StoreError::Backend(format!(
                "unsupported database URL {url:?}: expected sqlite://PATH or postgres://..."
            )));
        };
        Ok(Store {
            backend,
            commits: Arc::default(),
        })
    }

    /// Transactions retried after serialization failures or deadlocks.
    pub fn retries(&self) -> u64 {
        self.backend.retries()
    }

    /// Statements sent to the database server so far (see [`Backend::statements`]).
    pub fn statements(&self) -> u64 {
        self.backend.statements()
    }

    /// Round trips to the database server so far (see [`Backend::round_trips`]).
    pub fn round_trips(&self) -> u64 {
        self.backend.round_trips()
    }

    /// See [`Backend::shares_login_budgets`].
    pub fn shares_login_budgets(&self) -> bool {
        self.backend.shares_login_budgets()
    }

    /// See [`Backend::watch_changes`].
    pub fn watch_changes(&self, sink: Weak<dyn ChangeSink>) {
        self.backend.watch_changes(sink)
    }

    /// Runs `f`, which sends at most one statement, on its own: it commits
    /// as it runs ([`Access::Single`]).
    pub async fn single<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.run(Access::Single, f).await
    }

    /// Runs `f` in a write transaction and answers once it is durable. `f` may
    /// be run more than once (a backend retries serialization failures), so it
    /// must take its inputs by reference or clone them.
    ///
    /// Within an idempotency scope whose key is not claimed yet, the
    /// transaction claims it first (see [`idempotency`]); if another request
    /// holds the key, nothing is written and the answer is
    /// `Conflict("idempotency key")`.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.write_as(Access::Write, f).await
    }

    /// As [`Store::write`], for a write that calls [`Tx::sequence_events`]
    /// first: it runs alone, never in a group ([`Access::WriteAlone`]).
    pub async fn sequencing_write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.write_as(Access::WriteAlone, f).await
    }

    async fn write_as<T, E, F>(&self, access: Access, mut f: F) -> Result<T, E>
    where
        F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let answer = match idempotency::pending() {
            None => self.run(access, f).await,
            Some(scope) => {
                let inner = scope.clone();
                let answer = self
                    .run(access, move |tx: &mut dyn Tx| {
                        // Only the last run's refusal counts (see `set_refused`).
                        inner.set_refused(false);
                        if !tx.claim_key(&inner.claim)? {
                            inner.set_refused(true);
                            return Err(E::from(StoreError::Conflict("idempotency key")));
                        }
                        f(tx)
                    })
                    .await;
                if answer.is_ok() {
                    scope.mark_claimed();
                }
                answer
            }
        };
        if answer.is_ok() {
            self.commits.notify_waiters();
        }
        answer
    }

    /// See [`Backend::stages_events`].
    pub fn stages_events(&self) -> bool {
        self.backend.stages_events()
    }

    /// Sequences the staged events ([`Tx::sequence_events`]) where the
    /// backend stages them; answers how many it moved. Those readers of
    /// the outbox that wait on [`Store::commits`] are told when it moved any.
    pub async fn sequence_events(&self) -> Result<u64, StoreError> {
        self.sequence(|tx| tx.sequence_events()).await
    }

    /// [`Store::sequence_events`], unless another transaction is
    /// sequencing ([`Tx::sequence_events_if_free`]).
    pub async fn sequence_events_if_free(&self) -> Result<u64, StoreError> {
        self.sequence(|tx| tx.sequence_events_if_free()).await
    }

    async fn sequence(
        &self,
        f: fn(&mut dyn Tx) -> Result<u64, StoreError>,
    ) -> Result<u64, StoreError> {
        if !self.backend.stages_events() {
            return Ok(0);
        }
        let moved = self.run(Access::WriteAlone, f).await?;
        if moved > 0 {
            self.commits.notify_waiters();
        }
        Ok(moved)
    }

    /// Notified whenever this process commits a write.
    pub fn commits(&self) -> &tokio::sync::Notify {
        &self.commits
    }

    /// Runs `f` as an [`Access::ReadEach`]: no transaction, each statement
    /// its own snapshot.
    pub async fn read_each<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.run(Access::ReadEach, f).await
    }

    /// Runs `f` as [`Store::read_each`] does (no transaction, each statement
    /// its own snapshot), but on the calling thread where the backend allows
    /// it ([`Backend::read_here`]: SQLite, when one of its connections for
    /// this is free), which saves handing the job to a reader thread and
    /// waking the task again: two context switches and a cross-thread
    /// allocation and free per read. Elsewhere, or when every such
    /// connection is busy, it is [`Store::read_each`]. For short reads on
    /// the hottest paths only (the routing lookup, a numbers list's or a
    /// number's history's short page, read in one round): the calling async
    /// worker waits for it.
    pub async fn read_here<T, E, F>(&self, mut f: F) -> Result<T, E>
    where
        F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let mut answer = None;
        if self.backend.read_here(&mut |tx| answer = Some(f(tx)))
            && let Some(answer) = answer
        {
            return answer;
        }
        self.run(Access::ReadEach, f).await
    }

    /// Runs `f` in a write transaction as [`Store::write`] does, behind the
    /// requests' writes ([`Backend::submit_background`]): for background
    /// work that comes in many small transactions (the sweeper's batches),
    /// so that none of them lengthens a batch of requests. No idempotency
    /// scope applies.
    pub async fn write_background<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (job, answer) = job::Typed::new(f);
        self.backend.submit_background(Box::new(job));
        let answer = answer
            .await
            .unwrap_or(Err(E::from(StoreError::Unavailable)));
        // As for `write`: what this process commits wakes the outbox's
        // readers at once (the feed's long-polls, the dispatcher, NATS), the
        // sweeper's removals and releases included.
        if answer.is_ok() {
            self.commits.notify_waiters();
        }
        answer
    }

    /// Runs `f` in a read-only transaction (one consistent snapshot).
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.run(Access::Read, f).await
    }

    async fn run<T, E, F>(&self, access: Access, f: F) -> Result<T, E>
    where
        F: FnMut(&mut dyn Tx) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (job, answer) = job::Typed::new(f);
        self.backend.submit(access, Box::new(job));
        answer
            .await
            .unwrap_or(Err(E::from(StoreError::Unavailable)))
    }
}

/// Tuning that applies to every backend.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Reader threads (SQLite) or pooled connections (PostgreSQL).
    pub readers: usize,
    /// The most write jobs committed as one batch (SQLite).
    pub max_batch: usize,
    /// The most write jobs, among those waiting, that a PostgreSQL
    /// connection runs as one transaction, each in its own savepoint (group
    /// commit; 1 runs each alone).
    pub write_group: usize,
    /// PostgreSQL's `statement_timeout` for every connection, in milliseconds.
    pub statement_timeout_ms: u64,
    /// How often a transaction is run again after a serialization failure or
    /// deadlock before the request fails (PostgreSQL).
    pub max_retries: u32,
    /// SQLite's page cache per connection, in KiB (the writer's and each
    /// reader's). A bulk load wants far more than a server does.
    pub cache_kib: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            readers: 4,
            max_batch: 512,
            write_group: 8,
            statement_timeout_ms: 5_000,
            max_retries: 10,
            cache_kib: 16_000,
        }
    }
}

/// A number by one of its keys.
#[derive(Clone, Copy, Debug)]
pub enum NumberKey<'a> {
    Id(i64),
    E164(&'a str),
    Uid(&'a str),
}

/// An account by one of its keys (the username case-folded).
#[derive(Clone, Copy, Debug)]
pub enum AccountKey<'a> {
    Id(i64),
    Username(&'a str),
}

/// What [`Tx::resolve_reads`] found: the number with its grants (by account
/// id), and the account.
pub type ResolvedReads = (Option<(Number, Vec<Grant>)>, Option<Account>);

/// The primitives a backend offers inside one transaction.
///
/// In a write transaction the `number_by_*` lookups also lock the number's
/// row until the transaction ends (a no-op where the backend has one writer),
/// so every rule that touches a number sees and changes it alone.
pub trait Tx {
    fn count_accounts(&mut self) -> Result<i64, StoreError>;
    fn account_by_id(&mut self, id: i64) -> Result<Option<Account>, StoreError>;
    /// By the case-folded username ([`crate::domain::Username::key`]).
    fn account_by_username(&mut self, key: &str) -> Result<Option<Account>, StoreError>;
    /// The argon2 hash of an account's password.
    fn password_hash(&mut self, account_id: i64) -> Result<Option<String>, StoreError>;
    /// Inserts an account; `Conflict("username")` if the username is taken.
    fn insert_account(&mut self, account: &NewAccount) -> Result<Account, StoreError>;
    fn set_postpaid(&mut self, account_id: i64, enabled: bool) -> Result<(), StoreError>;
    fn set_suspended(&mut self, account_id: i64, suspended: bool) -> Result<(), StoreError>;

    fn number_by_id(&mut self, id: i64) -> Result<Option<Number>, StoreError>;
    fn number_by_e164(&mut self, number: &str) -> Result<Option<Number>, StoreError>;
    fn number_by_uid(&mut self, uid: &str) -> Result<Option<Number>, StoreError>;
    /// Inserts a pool number; `Conflict("number")` if it is known already.
    fn insert_number(&mut self, number: &NewNumber) -> Result<Number, StoreError>;
    /// Makes an available number subscribed; false if it was not available.
    fn subscribe_number(&mut self, number_id: i64, sub: &Subscription) -> Result<bool, StoreError>;
    /// Returns a subscribed number to the pool.
    fn release_number(&mut self, number_id: i64) -> Result<(), StoreError>;
    /// Ends a subscription into quarantine until `until`.
    fn quarantine_number(
        &mut self,
        number_id: i64,
        former_owner_id: i64,
        until: i64,
    ) -> Result<(), StoreError>;
    /// Ends the number's quarantine if it ends at or before `by`; false if
    /// there was none (or another instance ended it first).
    fn end_quarantine(&mut self, number_id: i64, by: i64) -> Result<bool, StoreError>;
    /// As [`Tx::end_quarantine`], for a reservation.
    fn end_reservation(&mut self, number_id: i64, by: i64) -> Result<bool, StoreError>;
    /// Reserves an unowned number (or moves its reservation's end).
    fn reserve_number(
        &mut self,
        number_id: i64,
        holder: i64,
        until: i64,
    ) -> Result<bool, StoreError>;
    /// How many reservations `holder` holds that run past `now`.
    fn count_reservations(&mut self, holder: i64, now: i64) -> Result<i64, StoreError>;
    /// The numbers `holder` has reserved past `now`, by id.
    fn reservations_of(&mut self, holder: i64, now: i64) -> Result<Vec<Number>, StoreError>;
    /// Ids above `after` of numbers with a grant, a quarantine or a
    /// reservation due at `now`, at most `limit`, in id order.
    fn due(&mut self, kind: Due, now: i64, after: i64, limit: i64) -> Result<Vec<i64>, StoreError>;
    /// Locks an account's row until the transaction ends (a no-op where the
    /// backend has one writer): serializes one account's reservations.
    fn lock_account(&mut self, account_id: i64) -> Result<(), StoreError>;
    /// Locks the rows of the numbers with these ids (given in id order), in
    /// that order, until the transaction ends, as [`Tx::number_by_id`] does
    /// one (a no-op where the backend has one writer); unknown ids are
    /// skipped. The sweeper's batch of numbers whose grants end.
    fn lock_numbers(&mut self, ids: &[i64]) -> Result<(), StoreError>;

    fn grants_on(&mut self, number_id: i64) -> Result<Vec<Grant>, StoreError>;
    /// A rule's first reads, which do not depend on one another: the
    /// number `number` names (locked in a write, as `number_by_*`) with its
    /// grants, and the account `account` names, each as its own lookup would
    /// answer it. A backend with a server sends them together (one round
    /// trip, each statement still after the one before); `None` (the
    /// default) says it has no better way, and the core makes the lookups
    /// one by one (`core::grants`).
    fn resolve_reads(
        &mut self,
        _number: Option<NumberKey<'_>>,
        _account: Option<AccountKey<'_>>,
    ) -> Result<Option<ResolvedReads>, StoreError> {
        Ok(None)
    }
    /// Inserts a grant; `Conflict("grant")` if `(number, account)` has one.
    fn insert_grant(&mut self, grant: &Grant) -> Result<(), StoreError>;
    fn delete_grant(&mut self, number_id: i64, account_id: i64) -> Result<bool, StoreError>;
    /// Sets a grant's `send`, `gets` and `expires_at`; false if it is gone.
    fn update_grant(&mut self, grant: &Grant) -> Result<bool, StoreError>;

    /// The numbers with any of these ids, E.164s or uids, each once, in id
    /// order; in a write transaction each is locked, as by
    /// [`Tx::number_by_id`], and in id order (a bulk request's numbers: two
    /// requests that share numbers take their locks in the same order).
    fn numbers_by_keys(
        &mut self,
        ids: &[i64],
        e164s: &[String],
        uids: &[String],
    ) -> Result<Vec<Number>, StoreError>;
    /// The grants on these numbers, by number, then (as [`Tx::grants_on`])
    /// by account.
    fn grants_on_numbers(&mut self, number_ids: &[i64]) -> Result<Vec<Grant>, StoreError>;
    /// The accounts with any of these ids or case-folded usernames, each
    /// once, in any order; unknown ones are skipped.
    fn accounts_by_keys(
        &mut self,
        ids: &[i64],
        username_keys: &[String],
    ) -> Result<Vec<Account>, StoreError>;
    /// Deletes these grants, `(number, account)`; those already gone are
    /// skipped, as by [`Tx::delete_grant`].
    fn delete_grants(&mut self, keys: &[(i64, i64)]) -> Result<(), StoreError>;
    /// Sets these grants' `send`, `gets` and `expires_at`, as
    /// [`Tx::update_grant`] each.
    fn update_grants(&mut self, grants: &[Grant]) -> Result<(), StoreError> {
        for g in grants {
            self.update_grant(g)?;
        }
        Ok(())
    }
    /// Inserts these grants, as [`Tx::insert_grant`] each;
    /// `Conflict("grant")` if any `(number, account)` has one already.
    fn insert_grants(&mut self, grants: &[Grant]) -> Result<(), StoreError>;

    fn insert_token(&mut self, token: &NewToken) -> Result<(), StoreError>;
    /// The credential whose digest this is, with its account.
    fn credential(&mut self, digest: &str) -> Result<Option<Credential>, StoreError>;
    /// Marks a token revoked; false if it was unknown or revoked already.
    /// Where several processes share the database, the others hear of it
    /// when the transaction commits ([`Backend::watch_changes`]), as they
    /// do of [`Tx::set_suspended`].
    fn revoke_token(&mut self, digest: &str, at: i64) -> Result<bool, StoreError>;

    /// Takes a strike on both login budgets of `claim`, or on neither, in one
    /// statement (see [`BudgetClaim`]). Only where
    /// [`Backend::shares_login_budgets`].
    fn claim_login_budgets(&mut self, _claim: &BudgetClaim) -> Result<ClaimOutcome, StoreError> {
        Err(StoreError::Backend(
            "login budgets are kept in memory on this backend".into(),
        ))
    }
    /// Gives strikes back, in one statement.
    fn release_login_budgets(&mut self, _release: &BudgetRelease) -> Result<(), StoreError> {
        Err(StoreError::Backend(
            "login budgets are kept in memory on this backend".into(),
        ))
    }
    /// Drops the budgets whose window started at or before `before`.
    fn prune_login_budgets(&mut self, _before: i64) -> Result<u64, StoreError> {
        Ok(0)
    }

    /// Appends one history entry; answers its id.
    fn record(&mut self, entry: &HistoryEntry) -> Result<i64, StoreError>;

    /// Appends history entries in order; answers their ids, in the same
    /// order (each entry's id above the one before).
    fn record_all(&mut self, entries: &[HistoryEntry]) -> Result<Vec<i64>, StoreError>;

    /// Appends a history entry and, when given, its event, which takes the
    /// entry's id as its `history_id` (whatever `event` says): the two
    /// writes of [`crate::core::events::log`]. A backend with a server
    /// makes them one statement and sends it with the next one.
    fn log_entry(
        &mut self,
        entry: &HistoryEntry,
        event: Option<NewEvent>,
    ) -> Result<(), StoreError> {
        let history_id = self.record(entry)?;
        if let Some(mut event) = event {
            event.history_id = history_id;
            self.insert_event(&event)?;
        }
        Ok(())
    }

    /// Appends one event to the outbox. Ids follow commit order: SQLite has
    /// one writer; PostgreSQL stages a transaction's events, and
    /// [`Tx::sequence_events`] gives them their ids after the commit.
    fn insert_event(&mut self, event: &NewEvent) -> Result<(), StoreError>;
    /// Gives the committed staged events their ids, in commit order, so
    /// that readers of the outbox see them; answers how many. Where events
    /// get their ids as they are written (SQLite), nothing to do.
    fn sequence_events(&mut self) -> Result<u64, StoreError> {
        Ok(0)
    }
    /// [`Tx::sequence_events`] if no other transaction is sequencing (it
    /// never waits for one); 0 if one is.
    fn sequence_events_if_free(&mut self) -> Result<u64, StoreError> {
        Ok(0)
    }
    /// Appends events to the outbox in order, as [`Tx::insert_event`] each.
    fn insert_events(&mut self, events: &[NewEvent]) -> Result<(), StoreError> {
        for e in events {
            self.insert_event(e)?;
        }
        Ok(())
    }
    /// Events after an id, oldest first.
    fn events_after(&mut self, query: &EventQuery) -> Result<Vec<EventRow>, StoreError>;
    /// Drops the events older than `before`.
    fn prune_events(&mut self, before: i64) -> Result<u64, StoreError>;

    /// One event, if kept.
    fn event_by_id(&mut self, id: i64) -> Result<Option<EventRow>, StoreError>;

    /// Inserts a webhook endpoint, its cursor at the newest committed event;
    /// answers its id.
    fn insert_webhook(&mut self, webhook: &NewWebhook) -> Result<i64, StoreError>;
    fn webhook_by_id(&mut self, id: i64) -> Result<Option<WebhookRow>, StoreError>;
    /// An account's endpoints, by id.
    fn webhooks_of(&mut self, account_id: i64) -> Result<Vec<WebhookRow>, StoreError>;
    /// Up to `limit` enabled endpoints, by id; in a write transaction each is
    /// locked, and one another transaction holds is skipped.
    fn enabled_webhooks(&mut self, limit: i64) -> Result<Vec<WebhookRow>, StoreError>;
    /// Writes every field but the id, owner, secret and creation time; false
    /// if the endpoint is gone.
    fn update_webhook(&mut self, webhook: &WebhookRow) -> Result<bool, StoreError>;
    /// Deletes an endpoint with its deliveries and their attempts.
    fn delete_webhook(&mut self, id: i64) -> Result<bool, StoreError>;
    /// A pending delivery of an event to an endpoint, due at `now` (none if
    /// it has one already).
    fn insert_delivery(
        &mut self,
        webhook_id: i64,
        event_id: i64,
        order_key: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Claims up to `limit` deliveries due at `now` for `owner` until
    /// `lease_until` (see `sql::CLAIMABLE`); answers their ids, oldest event
    /// first.
    fn claim_deliveries(
        &mut self,
        now: i64,
        owner: &str,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<i64>, StoreError>;
    fn delivery_by_id(&mut self, id: i64) -> Result<Option<DeliveryRow>, StoreError>;
    /// The deliveries `ids` that exist, in that order, each with its
    /// endpoint and its event (`None` if gone). Where statements are round
    /// trips (PostgreSQL), a few statements for all of them.
    fn claimed(&mut self, ids: &[i64]) -> Result<Vec<ClaimedRows>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            let Some(delivery) = self.delivery_by_id(id)? else {
                continue;
            };
            let webhook = self.webhook_by_id(delivery.webhook_id)?;
            let event = self.event_by_id(delivery.event_id)?;
            out.push((delivery, webhook, event));
        }
        Ok(out)
    }
    /// An endpoint's deliveries with an id below `before_id`, newest first.
    fn deliveries_of(
        &mut self,
        webhook_id: i64,
        before_id: i64,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError>;
    /// A delivery's attempts, first first.
    fn attempts_of(&mut self, delivery_id: i64) -> Result<Vec<AttemptRow>, StoreError>;
    fn insert_attempt(&mut self, attempt: &AttemptRow) -> Result<(), StoreError>;
    /// Writes a claimed delivery's outcome; false if the claim is no longer
    /// `update.lease_owner`'s (it ran out and another took it over).
    fn finish_delivery(&mut self, update: &DeliveryUpdate) -> Result<bool, StoreError>;
    /// [`Tx::insert_attempt`] for each; where statements are round trips
    /// (PostgreSQL), one statement for them all.
    fn insert_attempts(&mut self, attempts: &[AttemptRow]) -> Result<(), StoreError> {
        attempts.iter().try_for_each(|a| self.insert_attempt(a))
    }
    /// [`Tx::finish_delivery`] for each, answering each one's result in
    /// order; where statements are round trips, one statement for them all.
    fn finish_deliveries(&mut self, updates: &[DeliveryUpdate]) -> Result<Vec<bool>, StoreError> {
        updates.iter().map(|u| self.finish_delivery(u)).collect()
    }
    /// [`Tx::insert_delivery`] for each `(endpoint, event, order key)`;
    /// where statements are round trips, one statement for them all.
    fn insert_deliveries(
        &mut self,
        deliveries: &[(i64, i64, Option<String>)],
        now: i64,
    ) -> Result<(), StoreError> {
        deliveries
            .iter()
            .try_for_each(|(w, e, k)| self.insert_delivery(*w, *e, k.as_deref(), now))
    }
    /// Makes a delivery pending again, due at `now`, its attempts counted
    /// afresh; false if it is unknown.
    fn retry_delivery(&mut self, id: i64, now: i64) -> Result<bool, StoreError>;
    /// Takes or renews the lease of the outbox publisher `name` for `owner`
    /// until `lease_until`, if free at `now` (or `owner`'s); its cursor (0
    /// for a new one), or `None` while another holds it.
    fn claim_cursor(
        &mut self,
        name: &str,
        owner: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<i64>, StoreError>;
    /// Moves the publisher's cursor forward while `owner` holds it; false if
    /// it does not.
    fn advance_cursor(&mut self, name: &str, owner: &str, cursor: i64) -> Result<bool, StoreError>;
    /// The newest committed event's id (0 if none).
    fn max_event_id(&mut self) -> Result<i64, StoreError>;

    /// What changed since event `after`, in one snapshot: the id and number
    /// of each event after it (at most `limit`, oldest first), and the
    /// numbers of committed events not yet given an id (PostgreSQL's
    /// staging; at most `limit`; none where events get their ids as they
    /// are written). Every change committed before the snapshot is in one
    /// of the two, unless a list came back full.
    fn changes_after(&mut self, after: i64, limit: i64) -> Result<ChangesAfter, StoreError> {
        let events = self.events_after(&EventQuery {
            after_id: after,
            within: None,
            limit,
        })?;
        Ok(ChangesAfter {
            events: events.iter().map(|e| (e.id, e.number_id)).collect(),
            staged: Vec::new(),
        })
    }
    /// Moves an endpoint's cursor forward to `cursor`.
    fn set_webhook_cursor(&mut self, id: i64, cursor: i64) -> Result<(), StoreError>;
    /// An endpoint answered with success: it is failing no more.
    fn webhook_succeeded(&mut self, id: i64) -> Result<(), StoreError>;
    /// An endpoint failed at `now`: failing since then unless it was
    /// already; disabled with `reason` if failing since `cutoff` or earlier.
    /// True if this disabled it.
    fn webhook_failed(
        &mut self,
        id: i64,
        now: i64,
        cutoff: i64,
        reason: &str,
    ) -> Result<bool, StoreError>;
    /// How many things the dispatcher could do at `now` (see `sql::WEBHOOK_WORK`).
    fn webhook_work(&mut self, now: i64) -> Result<i64, StoreError>;
    /// Drops the finished deliveries (and their attempts) done before `before`.
    fn prune_deliveries(&mut self, before: i64) -> Result<u64, StoreError>;

    /// An account's idempotency key, if stored.
    fn key_row(&mut self, account_id: i64, key: &str) -> Result<Option<KeyRow>, StoreError>;
    /// Stores a key with no answer yet; false if the account has it already.
    fn claim_key(&mut self, claim: &KeyClaim) -> Result<bool, StoreError>;
    /// Stores the answer of a claimed key that has none yet.
    fn answer_key(
        &mut self,
        account_id: i64,
        key: &str,
        answer: &StoredAnswer,
    ) -> Result<bool, StoreError>;
    /// Drops the keys stored before `before`.
    fn prune_keys(&mut self, before: i64) -> Result<u64, StoreError>;

    /// The numbers `account_id` owns or was granted (by a grant live at
    /// `now`), ordered by id, with how many there are in all: the page and
    /// its total from one snapshot, even with no transaction around it
    /// ([`Access::ReadEach`]). The total is read from the holdings counters,
    /// so a page costs the same whatever the account holds.
    fn held_numbers(
        &mut self,
        account_id: i64,
        page: Page,
        now: i64,
    ) -> Result<(Vec<HeldNumber>, i64), StoreError>;
    /// Every subscribed number, ordered by id, as `viewer_id` lists them
    /// (`owned` where it is the owner), with how many there are in all.
    fn subscribed_numbers(
        &mut self,
        viewer_id: i64,
        page: Page,
    ) -> Result<(Vec<HeldNumber>, i64), StoreError>;
    /// Pool numbers at `now` (neither quarantined nor reserved then) that
    /// pass `filter`, by id, with how many there are in all when `count`
    /// asks for it.
    fn available_numbers(
        &mut self,
        filter: &PoolFilter,
        page: Page,
        count: bool,
        now: i64,
    ) -> Result<(Vec<Number>, Option<i64>), StoreError>;
    /// Up to `limit` subscribed numbers that `viewer_id` holds (every one,
    /// when `everything`: an administrator), by id, that pass `filter`.
    fn holdings(
        &mut self,
        viewer_id: i64,
        everything: bool,
        filter: &HoldingFilter,
        limit: i64,
    ) -> Result<Vec<HeldRow>, StoreError>;
    /// The facts of the numbers `ids` names, in no particular order; an id
    /// of no number is left out. The core asks only for ids it lacks, so
    /// never for none.
    fn number_facts(&mut self, ids: &[i64]) -> Result<Vec<(i64, NumberFacts)>, StoreError>;
    /// One page of the history, newest first.
    fn history_page(&mut self, query: &HistoryQuery) -> Result<Vec<HistoryRow>, StoreError>;
    /// The ids of one number's history entries older than `before_id`,
    /// newest first, at most `limit`.
    fn history_ids_of_number(
        &mut self,
        number_id: i64,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<i64>, StoreError>;
    /// The history entries `ids` names, in no particular order, without
    /// their number's E.164 (`number` is `None`); an id of no entry is left
    /// out. Never asked for none.
    fn history_by_ids(&mut self, ids: &[i64]) -> Result<Vec<HistoryRow>, StoreError>;
    /// Every token and key of an account, by id.
    fn tokens_of(&mut self, account_id: i64) -> Result<Vec<TokenRow>, StoreError>;
    fn set_name(&mut self, account_id: i64, name: &str) -> Result<(), StoreError>;
    /// Numbers `owner_id` subscribes to, each with how many grants live at
    /// `now` it carries.
    fn owned_numbers(
        &mut self,
        owner_id: i64,
        page: Page,
        now: i64,
    ) -> Result<(Vec<(Number, i64)>, i64), StoreError>;

    /// Folds the holdings counters' per-connection deltas into their
    /// totals, at most `limit` delta rows; answers how many it folded. A
    /// no-op where there is one counter row per account (SQLite).
    fn fold_holdings(&mut self, _limit: i64) -> Result<u64, StoreError> {
        Ok(0)
    }

    /// The number `e164` with its grants and their and its owner's
    /// accounts, for the routing lookup: from one snapshot even with no
    /// transaction around it ([`Access::ReadEach`]). Here three primitives,
    /// which a backend's read transaction makes one snapshot (SQLite's
    /// readers); PostgreSQL answers in one statement.
    fn routing_rows(&mut self, e164: &str) -> Result<Option<RoutingRows>, StoreError> {
        let Some(number) = self.number_by_e164(e164)? else {
            return Ok(None);
        };
        let grants = self.grants_on(number.id)?;
        let mut ids: Vec<i64> = grants.iter().map(|g| g.account_id).collect();
        ids.extend(number.owner_id());
        let accounts = self.accounts_by_ids(&ids)?;
        Ok(Some(RoutingRows {
            number,
            grants,
            accounts,
        }))
    }

    /// The `limit` numbers after id `after`, by id, with their grants, and
    /// the accounts they name: a page of the routing table's load. Its
    /// statements need not be one snapshot (the table forgets whatever
    /// changes while it loads).
    fn routing_range(&mut self, after: i64, limit: i64) -> Result<RoutingPage, StoreError> {
        let numbers = self.numbers_after(after, limit)?;
        let Some(last) = numbers.last().map(|n| n.id) else {
            return Ok(RoutingPage::default());
        };
        let grants = self.grants_in(after, last)?;
        let (numbers, ids) = sql::routing_range(numbers, grants);
        // In chunks: a page's numbers may name more accounts than a
        // statement may have parameters (SQLite's 32,766).
        let mut accounts = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(1_000) {
            accounts.extend(self.accounts_by_ids(chunk)?);
        }
        Ok(RoutingPage { numbers, accounts })
    }

    /// The grants on the numbers of ids in `(after, last]`, by number and
    /// account.
    fn grants_in(&mut self, after: i64, last: i64) -> Result<Vec<Grant>, StoreError>;

    /// Everything the invariant checker needs, for tests and `stress`, as
    /// of `now`.
    fn snapshot(&mut self, now: i64) -> Result<Snapshot, StoreError>;

    /// One page of the accounts strictly below `of` that pass `filter`,
    /// ordered by id. The downline is a range on `path` (see
    /// [`downline::downline_bounds`]); direct children are `parent_id = of.id`.
    fn downline(
        &mut self,
        of: &Account,
        filter: &DownlineFilter,
        page: Page,
    ) -> Result<Vec<Account>, StoreError>;
    /// How many accounts [`Tx::downline`] would list without paging.
    fn count_downline(&mut self, of: &Account, filter: &DownlineFilter) -> Result<i64, StoreError>;
    /// The accounts with these ids, in any order; unknown ids are skipped.
    fn accounts_by_ids(&mut self, ids: &[i64]) -> Result<Vec<Account>, StoreError>;

    /// Up to `limit` accounts with an id above `after_id`, by id (the
    /// operator's listing and checks page through every account).
    fn accounts_after(&mut self, after_id: i64, limit: i64) -> Result<Vec<Account>, StoreError>;
    /// Up to `limit` numbers with an id above `after_id`, by id.
    fn numbers_after(&mut self, after_id: i64, limit: i64) -> Result<Vec<Number>, StoreError>;
    /// Replaces an account's password hash.
    fn set_password_hash(&mut self, account_id: i64, hash: &str) -> Result<(), StoreError>;
    /// A token or key by id, with its account's id.
    fn token_by_id(&mut self, id: i64) -> Result<Option<(TokenRow, i64)>, StoreError>;
}
