//! The PostgreSQL backend: for several `linekeeper serve` processes behind a
//! load balancer, on one database.
//!
//! A pool of worker threads, each with one connection, takes jobs from one
//! queue. A worker runs the write jobs waiting together in one transaction,
//! each in its own savepoint, and answers them after its one commit (group
//! commit, see `Worker::run_group`); the statements a job does not wait
//! for travel with its next ones (see `tx`'s module doc). A write job runs
//! in a READ COMMITTED transaction in which every
//! number it looks up is locked (`FOR UPDATE`) until commit, so all changes to
//! one number are serialized by the database, across processes; uniqueness
//! (one grant per number and account, usernames) is decided by unique indexes
//! with `ON CONFLICT DO NOTHING`. Serialization failures and deadlocks are
//! retried a bounded number of times. Reads run in REPEATABLE READ READ ONLY
//! transactions (one snapshot for a page and its count), except those that
//! are one statement ([`Access::ReadEach`]: the numbers list with its total,
//! the routing lookup), which run with no transaction: one round trip; the
//! custody history, which only grows and pages by id, runs so too (a round
//! trip a statement, no `BEGIN` or `COMMIT`).
//!
//! The numbers list's total is read from holdings counters (migration
//! `0009_holdings`), not counted per page. The decision, and why it neither
//! deadlocks nor makes a hot row: the counters are kept by triggers in the
//! changing transaction (every path that changes holdings: the core's rules
//! in `core::changes`, the sweeper, imports, the operator's commands; no
//! round trip of their own), and split by backend connection: a change adds
//! to the row `(account, pg_backend_pid())` of `holdings_delta`. One backend
//! runs one transaction at a time and no two live backends share a pid, so no
//! two concurrent transactions ever update the same counter row: a cascade
//! that touches many accounts, in whatever order, never waits on another
//! transaction for a counter, on this instance or another, and counters add
//! no edge to any wait-for graph. (A single row per account, as SQLite's
//! one writer can afford, would have queued every change of a big holder's
//! numbers on that row until commit, across instances; a fixed update order
//! would have avoided deadlocks but not that queue.) An account's count is
//! its folded row in `holdings` plus its delta rows, at most one per
//! connection that changed its holdings since the last fold. The sweeper
//! folds delta rows into `holdings` (`Tx::fold_holdings`): it takes only rows
//! no transaction holds (`FOR UPDATE SKIP LOCKED`) and adds them in account
//! order, so it never waits on a writer, and writers never touch `holdings`.
//! The invariant checker compares every counter with the rows it counts.

mod tx;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls, Statement};

use super::{Access, Backend, ChangeSink, Changed, Job, StoreError, StoreOptions};

const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("migrations/0001_init.sql")),
    (
        "0002_downline_index",
        include_str!("migrations/0002_downline_index.sql"),
    ),
    (
        "0003_holder_indexes",
        include_str!("migrations/0003_holder_indexes.sql"),
    ),
    // 0004 is SQLite's alone (its holdings counter); 0005 PostgreSQL's
    // alone (SQLite keeps login budgets in memory).
    (
        "0005_login_budget",
        include_str!("migrations/0005_login_budget.sql"),
    ),
    (
        "0006_history_indexes",
        include_str!("migrations/0006_history_indexes.sql"),
    ),
    (
        "0007_lifecycle",
        include_str!("migrations/0007_lifecycle.sql"),
    ),
    ("0008_events", include_str!("migrations/0008_events.sql")),
    // SQLite has had its counter since 0004; this is PostgreSQL's (see the
    // migration for why it is split by backend connection).
    (
        "0009_holdings",
        include_str!("migrations/0009_holdings.sql"),
    ),
    (
        "0010_webhooks",
        include_str!("migrations/0010_webhooks.sql"),
    ),
    // The outbox's staging table (see the migration): PostgreSQL's alone,
    // as SQLite's one writer already commits events in id order.
    (
        "0011_event_staging",
        include_str!("migrations/0011_event_staging.sql"),
    ),
];

/// Whether `url` names a PostgreSQL database.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

pub struct PgBackend {
    queue: Sender<(Access, Box<dyn Job>)>,
    retries: Arc<AtomicU64>,
    statements: Arc<AtomicU64>,
    round_trips: Arc<AtomicU64>,
    config: postgres::Config,
    /// Who hears of revocations (see [`listen`]); the listener holds it weakly
    /// and ends once the backend is gone.
    sink: Arc<Mutex<Option<Weak<dyn ChangeSink>>>>,
    listening: AtomicBool,
}

impl PgBackend {
    pub fn open(url: &str, options: &StoreOptions) -> Result<PgBackend, StoreError> {
        let config = postgres::Config::from_str(url)
            .map_err(|e| StoreError::Backend(format!("bad URL: {e}")))?;
        let async_config = tokio_postgres::Config::from_str(url)
            .map_err(|e| StoreError::Backend(format!("bad URL: {e}")))?;
        let mut first = connect(&config, options)?;
        migrate(&mut first)?;
        drop(first);
        let (queue, jobs) = crossbeam_channel::unbounded();
        let retries = Arc::new(AtomicU64::new(0));
        let statements = Arc::new(AtomicU64::new(0));
        let round_trips = Arc::new(AtomicU64::new(0));
        let size = options.readers.max(1);
        let mut conns = Vec::with_capacity(size);
        for _ in 0..size {
            conns.push(Conn::open(&async_config, options)?);
        }
        for (i, conn) in conns.into_iter().enumerate() {
            let worker = Worker {
                conn,
                config: async_config.clone(),
                options: options.clone(),
                jobs: jobs.clone(),
                retries: retries.clone(),
                statements: statements.clone(),
                round_trips: round_trips.clone(),
                cache: HashMap::new(),
                group: options.write_group.max(1),
                broken: false,
                failed_connects: 0,
            };
            thread::Builder::new()
                .name(format!("lk-pg-{i}"))
                .spawn(move || worker.run())
                .map_err(|e| StoreError::Backend(format!("spawning a worker: {e}")))?;
        }
        Ok(PgBackend {
            queue,
            retries,
            statements,
            round_trips,
            config,
            sink: Arc::new(Mutex::new(None)),
            listening: AtomicBool::new(false),
        })
    }
}

impl Backend for PgBackend {
    fn submit(&self, access: Access, job: Box<dyn Job>) {
        let _ = self.queue.send((access, job));
    }

    fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    fn shares_login_budgets(&self) -> bool {
        true
    }

    fn stages_events(&self) -> bool {
        true
    }

    fn watch_changes(&self, sink: Weak<dyn ChangeSink>) {
        if let Ok(mut slot) = self.sink.lock() {
            *slot = Some(sink);
        }
        if self.listening.swap(true, Ordering::SeqCst) {
            return;
        }
        let (config, slot) = (self.config.clone(), Arc::downgrade(&self.sink));
        let spawned = thread::Builder::new()
            .name("lk-pg-listen".into())
            .spawn(move || listen(&config, &slot));
        if let Err(e) = spawned {
            self.listening.store(false, Ordering::SeqCst);
            tracing::error!(error = %e, "cannot start the revocation listener");
        }
    }
}

/// How long the listener waits for a notification before it checks that
/// its backend is still there.
const LISTEN_POLL: Duration = Duration::from_millis(500);

/// The revocation listener: one connection per process that `LISTEN`s on
/// [`tx::REVOKED_CHANNEL`] and tells the sink of each revocation as soon as
/// the revoking transaction commits (a notification is delivered at commit,
/// within milliseconds). While the connection is down nothing is heard, so
/// after every (re)connection the sink forgets everything it cached. Ends
/// once the backend is dropped.
fn listen(config: &postgres::Config, slot: &Weak<Mutex<Option<Weak<dyn ChangeSink>>>>) {
    let tell = |what: &Changed| -> bool {
        let Some(slot) = slot.upgrade() else {
            return false;
        };
        let sink = slot.lock().ok().and_then(|s| s.as_ref()?.upgrade());
        if let Some(sink) = sink {
            sink.changed(what);
        }
        true
    };
    let mut failures = 0u32;
    loop {
        if slot.strong_count() == 0 {
            return;
        }
        let connected = config.connect(NoTls).and_then(|mut client| {
            client.batch_execute(&format!("LISTEN {}", tx::REVOKED_CHANNEL))?;
            Ok(client)
        });
        let mut client = match connected {
            Ok(client) => client,
            Err(e) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!(error = %e, "revocation listener cannot connect; retrying");
                }
                thread::sleep(Duration::from_millis(200 * u64::from(failures.min(10))));
                continue;
            }
        };
        failures = 0;
        if !tell(&Changed::Everything) {
            return;
        }
        loop {
            let next = client.notifications().timeout_iter(LISTEN_POLL).next();
            match next {
                Ok(Some(note)) => {
                    let payload = note.payload();
                    let what = if let Some(digest) = payload.strip_prefix("d:") {
                        Changed::Credential(digest.to_owned())
                    } else if let Some(id) = payload.strip_prefix("a:").and_then(|i| i.parse().ok())
                    {
                        Changed::Account(id)
                    } else {
                        Changed::Everything
                    };
                    if !tell(&what) {
                        return;
                    }
                }
                Err(_) => break,
                Ok(None) if slot.strong_count() == 0 => return,
                Ok(None) if client.is_closed() => break,
                Ok(None) => {}
            }
        }
    }
}

/// How long a connection attempt may take when the URL sets no
/// `connect_timeout`: well inside the request timeout, so a request that
/// finds the database unreachable is told so (503) rather than left waiting.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

fn connect(config: &postgres::Config, options: &StoreOptions) -> Result<Client, StoreError> {
    let mut config = config.clone();
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    let mut client = config
        .connect(NoTls)
        .map_err(|e| StoreError::Backend(format!("connecting: {e}")))?;
    client
        .batch_execute(&format!(
            "SET statement_timeout = {}",
            options.statement_timeout_ms
        ))
        .map_err(|e| StoreError::Backend(describe(&e)))?;
    Ok(client)
}

/// A worker's connection: tokio-postgres, driven by the worker's own
/// single-threaded runtime (the connection's task runs while the worker
/// waits on an answer), so that statements sent together go out in one
/// write (see `tx`'s module doc).
pub(super) struct Conn {
    rt: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl Conn {
    fn open(config: &tokio_postgres::Config, options: &StoreOptions) -> Result<Conn, StoreError> {
        let mut config = config.clone();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("a runtime for a connection: {e}")))?;
        let (client, connection) = rt
            .block_on(config.connect(NoTls))
            .map_err(|e| StoreError::Backend(format!("connecting: {e}")))?;
        rt.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "PostgreSQL connection ended");
            }
        });
        rt.block_on(client.batch_execute(&format!(
            "SET statement_timeout = {}",
            options.statement_timeout_ms
        )))
        .map_err(|e| StoreError::Backend(describe(&e)))?;
        Ok(Conn { rt, client })
    }

    fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

/// `e` for the log: a database error's own message, SQLSTATE and detail
/// (its `Display` says only "db error"), else `e` with its cause.
pub(super) fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut out = format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
        if let Some(detail) = db.detail() {
            out.push_str("; ");
            out.push_str(detail);
        }
        return out;
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// Whether `e` says the connection is unusable: closed, broken, refused by
/// a server shutting down or starting up (SQLSTATE class 08, 57P01-57P03),
/// or a connection to a standby (25006: the server is read-only, as an old
/// primary is after a failover). Such a connection is dropped and replaced,
/// and the request that met it hears a 503.
pub(super) fn is_connection_lost(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(c) => {
            c.code().starts_with("08")
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
                || *c == SqlState::READ_ONLY_SQL_TRANSACTION
        }
        // No SQLSTATE: the socket failed under the client.
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

/// Applies the migrations not yet recorded in `_migrations`, in one
/// transaction that holds an advisory lock, so instances starting together
/// migrate one at a time.
///
/// Hand-written rather than `refinery` (see the SQLite runner for the
/// check): refinery 0.10.1 accepts postgres 0.19 but needs Rust 1.92, takes
/// no lock across processes (several instances behind a load balancer start
/// together), and keeps a different bookkeeping table.
fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let err = |e: postgres::Error| StoreError::Backend(format!("migrating: {}", describe(&e)));
    let mut tx = client.transaction().map_err(err)?;
    // One process migrates at a time; the others wait here, then find it done.
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(7347651234);
         CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .map_err(err)?;
    for (name, sql) in MIGRATIONS {
        let applied = tx
            .query_opt("SELECT 1 FROM _migrations WHERE name = $1", &[name])
            .map_err(err)?
            .is_some();
        if !applied {
            tx.batch_execute(sql)
                .map_err(|e| StoreError::Backend(format!("migration {name}: {}", describe(&e))))?;
            tx.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES ($1, extract(epoch from now())::bigint)",
                &[name],
            )
            .map_err(err)?;
        }
    }
    tx.commit().map_err(err)
}

struct Worker {
    conn: Conn,
    config: tokio_postgres::Config,
    options: StoreOptions,
    jobs: Receiver<(Access, Box<dyn Job>)>,
    retries: Arc<AtomicU64>,
    statements: Arc<AtomicU64>,
    round_trips: Arc<AtomicU64>,
    cache: HashMap<String, Statement>,
    /// The most write jobs run as one transaction (see [`Worker::run_group`]).
    group: usize,
    /// The connection failed under a job (see [`is_connection_lost`]): it
    /// is replaced before the next job runs.
    broken: bool,
    /// Connection attempts that failed since the last success.
    failed_connects: u64,
}

impl Worker {
    fn run(mut self) {
        let mut next = None;
        loop {
            let (access, mut job) = match next.take() {
                Some(queued) => queued,
                None => match self.jobs.recv() {
                    Ok(queued) => queued,
                    Err(_) => return,
                },
            };
            if (self.broken || self.conn.is_closed()) && !self.reconnect() {
                // The database is unreachable: the request hears a 503 now;
                // the next job tries to connect again.
                job.finish(Err(StoreError::Unavailable));
                continue;
            }
            if access == Access::Write && self.group > 1 && !self.jobs.is_empty() {
                // Writes are waiting behind this one: they may join it, one
                // at a time as each before finishes (see `run_group`).
                next = self.run_group(job);
                continue;
            }
            let outcome = self.run_job(access, job.as_mut());
            job.finish(outcome);
        }
    }

    /// Runs `first` and the write jobs waiting behind it in one transaction,
    /// each in its own savepoint, commits once and only then answers each:
    /// group commit, as SQLite's writer does (`sqlite::run_batch`). The next
    /// queued write is taken only once the job before it has finished (up
    /// to the group's size), never before: a write still queued then found
    /// no idle worker, while one taken up front would have waited behind
    /// the slow jobs before it as other workers sat idle. A job that is not
    /// an [`Access::Write`] ends the group, and is answered as the next
    /// job (returned). A job sees the
    /// work of the jobs before it, as it would had they committed first; a
    /// job that fails or is refused rolls back to its savepoint and leaves
    /// the others' work in place. One commit, so one WAL flush, for them all:
    /// with a few connections, each write's wait for its own flush was what
    /// bounded the writes (BENCHMARKS.md, "Group commit on PostgreSQL").
    ///
    /// Unlike SQLite's one writer, groups on other connections (and other
    /// instances) run at the same time. A group holds every lock its kept
    /// jobs took until it commits, so two groups could each wait for a lock
    /// the other holds; every job but the group's first therefore waits at
    /// most [`tx::GROUP_LOCK_TIMEOUT`] for a row lock while the group holds
    /// any. A job that times out so, or meets a deadlock or serialization
    /// failure, is undone and run again alone once the group has committed.
    /// If the connection is lost before the commit, nothing was committed
    /// and every job runs again alone; if the commit fails, every job is
    /// told so (a refusal too: it may have rested on an earlier job's work).
    ///
    /// Only [`Access::Write`] jobs are grouped: an [`Access::WriteAlone`]
    /// (one that sequences the staged events) never joins a group, and the
    /// worker that takes one runs it alone.
    fn run_group(&mut self, first: Box<dyn Job>) -> Option<(Access, Box<dyn Job>)> {
        let mut done: Vec<(Box<dyn Job>, Result<(), StoreError>)> = Vec::with_capacity(self.group);
        let mut again: Vec<Box<dyn Job>> = Vec::new();
        let mut after = None;
        let mut tx = tx::PgTx::new(&mut self.conn, &mut self.cache, true, Some(BEGIN_WRITE));
        let mut holding = false;
        let mut lost = false;
        let mut taken = 1;
        let mut upcoming = Some(first);
        while let Some(mut job) = upcoming.take() {
            tx.start_job(holding);
            let keep = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(&mut tx)))
                .unwrap_or(false);
            let mut failed = None;
            let kept = !tx.lost()
                && !tx.wants_retry()
                && keep
                && match tx.keep_job() {
                    Ok(()) => true,
                    Err(e) => {
                        failed = Some(e);
                        false
                    }
                };
            if tx.lost() {
                lost = true;
                again.push(job);
                break;
            }
            if kept {
                holding = true;
                done.push((job, Ok(())));
            } else {
                let retry = tx.wants_retry() || tx.timed_out();
                tx.drop_job();
                if retry {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    again.push(job);
                } else {
                    // Refused, or failed with its error in its own answer, or
                    // its deferred statements failed.
                    done.push((job, failed.map_or(Ok(()), Err)));
                }
            }
            // The job has finished: the next write still queued joins.
            if taken < self.group {
                match self.jobs.try_recv() {
                    Ok((Access::Write, more)) => {
                        taken += 1;
                        upcoming = Some(more);
                    }
                    Ok(other) => after = Some(other),
                    Err(_) => {}
                }
            }
        }
        let committed = if lost {
            Err(StoreError::Unavailable)
        } else if holding {
            tx.commit()
        } else {
            tx.rollback();
            Ok(())
        };
        let commit_lost = tx.lost();
        let commit_retry = tx.wants_retry();
        self.statements.fetch_add(tx.executed(), Ordering::Relaxed);
        self.round_trips
            .fetch_add(tx.round_trips(), Ordering::Relaxed);
        drop(tx);
        if lost || commit_lost {
            self.broken = true;
        }
        if lost || (committed.is_err() && commit_retry && !commit_lost) {
            // Nothing was committed: every job runs again, alone.
            again.extend(done.drain(..).map(|(job, _)| job));
        }
        for (job, outcome) in done {
            job.finish(match &committed {
                Ok(()) => outcome,
                Err(_) if commit_lost => Err(StoreError::Unavailable),
                Err(e) => Err(StoreError::Backend(e.to_string())),
            });
        }
        for mut job in again {
            if (self.broken || self.conn.is_closed()) && !self.reconnect() {
                job.finish(Err(StoreError::Unavailable));
                continue;
            }
            let outcome = self.run_job(Access::Write, job.as_mut());
            job.finish(outcome);
        }
        after
    }

    fn reconnect(&mut self) -> bool {
        match Conn::open(&self.config, &self.options) {
            Ok(conn) => {
                self.conn = conn;
                self.cache.clear();
                self.broken = false;
                tracing::info!(
                    failed_attempts = self.failed_connects,
                    "reconnected to PostgreSQL"
                );
                self.failed_connects = 0;
                true
            }
            Err(e) => {
                // Once per outage and worker, not once per request.
                if self.failed_connects == 0 {
                    tracing::error!(error = %e, "cannot reconnect to PostgreSQL; answering 503 until it can");
                }
                self.failed_connects += 1;
                self.broken = true;
                false
            }
        }
    }

    /// Runs `job` until it commits, is refused, or runs out of retries.
    ///
    /// A transaction that finds its connection lost before its commit has
    /// changed nothing, so it runs once more on a fresh connection: a
    /// connection that went stale while idle (its server killed, or cut by
    /// haproxy when the primary changed) costs the request nothing. Only
    /// when that fresh connection cannot be made (no primary yet) is the
    /// answer a 503. A connection lost once the `COMMIT` is sent leaves the
    /// outcome unknown: a 503 says as much, a 500 would not.
    fn run_job(&mut self, access: Access, job: &mut dyn Job) -> Result<(), StoreError> {
        let write = matches!(access, Access::Write | Access::WriteAlone);
        let mut attempt = 0u32;
        let mut reconnected = false;
        loop {
            if attempt > self.options.max_retries {
                break;
            }
            if attempt > 0 {
                self.retries.fetch_add(1, Ordering::Relaxed);
                // Back off a little, more on each attempt, so racers spread out.
                thread::sleep(Duration::from_millis(1 + u64::from(attempt) * 2));
            }
            attempt += 1;
            if matches!(access, Access::Single | Access::ReadEach) {
                // No transaction: the job's one statement commits on its own
                // (a read's statements are each their own snapshot), so the
                // job costs no BEGIN and no COMMIT round trip.
                let single = access == Access::Single;
                let mut tx = tx::PgTx::new(&mut self.conn, &mut self.cache, single, None);
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(&mut tx)));
                let (retry, lost) = (tx.wants_retry(), tx.lost());
                self.statements.fetch_add(tx.executed(), Ordering::Relaxed);
                self.round_trips
                    .fetch_add(tx.round_trips(), Ordering::Relaxed);
                if lost {
                    // The statement may or may not have run: a 503, and the
                    // connection is replaced.
                    self.broken = true;
                    return Err(StoreError::Unavailable);
                }
                if retry {
                    continue;
                }
                return Ok(());
            }
            let begin = if write { BEGIN_WRITE } else { BEGIN_READ };
            let mut tx = tx::PgTx::new(&mut self.conn, &mut self.cache, write, Some(begin));
            let keep = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(&mut tx)))
                .unwrap_or(false);
            let next = if tx.lost() {
                // Nothing was committed: run it again on a fresh connection,
                // or answer 503.
                Next::Rerun
            } else if tx.wants_retry() {
                tx.rollback();
                Next::Retry
            } else if !keep {
                tx.rollback();
                Next::Done(Ok(()))
            } else {
                match tx.commit() {
                    Ok(()) => Next::Done(Ok(())),
                    // Lost with the COMMIT sent: maybe made, maybe not.
                    Err(_) if tx.lost() => Next::Done(Err(StoreError::Unavailable)),
                    // A deferred statement or the commit failed, and the
                    // transaction was rolled back.
                    Err(_) if tx.wants_retry() => Next::Retry,
                    Err(e) => Next::Done(Err(e)),
                }
            };
            let lost = tx.lost();
            self.statements.fetch_add(tx.executed(), Ordering::Relaxed);
            self.round_trips
                .fetch_add(tx.round_trips(), Ordering::Relaxed);
            drop(tx);
            if lost {
                self.broken = true;
            }
            match next {
                Next::Rerun => {
                    // Once per job, a lost connection is replaced and the
                    // transaction run again (it committed nothing). Not a
                    // retry for a conflict: the attempt is not counted.
                    if !reconnected && self.reconnect() {
                        reconnected = true;
                        attempt -= 1;
                        continue;
                    }
                    return Err(StoreError::Unavailable);
                }
                Next::Retry => continue,
                Next::Done(result) => return result,
            }
        }
        Err(StoreError::Backend(format!(
            "gave up after {} retries",
            self.options.max_retries
        )))
    }
}

/// What a transaction's end leads to.
enum Next {
    Done(Result<(), StoreError>),
    /// A serialization failure or deadlock: run it again.
    Retry,
    /// The connection was lost before the commit: run it again on a new one.
    Rerun,
}

/// A write: READ COMMITTED, every number it looks up locked (see the module's doc).
const BEGIN_WRITE: &str = "START TRANSACTION ISOLATION LEVEL READ COMMITTED";
/// A read: one snapshot for all its statements.
const BEGIN_READ: &str = "START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// Serialization failures and deadlocks: the transaction may succeed if run again.
pub(super) fn is_retryable(e: &postgres::Error) -> bool {
    matches!(e.code(), Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED)
}
