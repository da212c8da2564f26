//! The SQLite backend: the embedded default.
//!
//! One writer thread owns the only writing connection. It takes every write
//! job waiting in its queue (up to `max_batch`), runs each inside its own
//! SAVEPOINT of one `BEGIN IMMEDIATE` transaction, commits once, and only then
//! answers each job. With `synchronous=FULL` one fsync makes the whole batch
//! durable, which is what lets writes keep pace with many clients; a job that
//! fails rolls back to its savepoint and leaves the others' work in place.
//! Several SQLite writer connections would only wait on each other's locks.
//!
//! Reads run on a small pool of `query_only` connections, each job in a
//! deferred transaction (one WAL snapshot), so they never wait behind writes.
//! A few more `query_only` connections serve [`Backend::read_here`]: a
//! one-statement read (the routing lookup) run on the calling thread, with
//! no transaction and no hop to a reader thread.

mod tx;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread;

use crossbeam_channel::{Receiver, Sender};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags};

use super::{Access, Backend, Job, StoreError, StoreOptions, Tx};

/// The migrations, in order; the same names are used by every backend.
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
    (
        "0004_holdings",
        include_str!("migrations/0004_holdings.sql"),
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
    (
        "0010_webhooks",
        include_str!("migrations/0010_webhooks.sql"),
    ),
];

/// The file that a `sqlite://` URL names, or `None` for another scheme.
/// `sqlite://linekeeper.db` is relative to the working directory,
/// `sqlite:///var/lib/lk.db` absolute; a `?query` is ignored.
pub fn path_of_url(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or("");
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// How much of the file a [`Backend::read_here`] connection maps (1 GiB;
/// beyond it, pages are read as on the other connections).
const HERE_MMAP: u64 = 1 << 30;

pub struct SqliteBackend {
    writes: Sender<Box<dyn Job>>,
    /// [`Backend::submit_background`]'s jobs: the writer takes one only
    /// between two batches of `writes`, or when none is waiting.
    background: Sender<Box<dyn Job>>,
    reads: Sender<Box<dyn Job>>,
    /// The connections of [`Backend::read_here`], free ones only: one per
    /// core (as many as the runtime has workers to run reads at once), at
    /// most `readers`; a read that finds none free goes to the reader
    /// threads.
    here: Mutex<Vec<Connection>>,
}

impl SqliteBackend {
    pub fn open(path: &Path, options: &StoreOptions) -> Result<SqliteBackend, StoreError> {
        let writer = open_connection(path, false, options.cache_kib)?;
        migrate(&writer)?;

        let (writes, write_queue) = crossbeam_channel::unbounded::<Box<dyn Job>>();
        let (background, background_queue) = crossbeam_channel::unbounded::<Box<dyn Job>>();
        let max_batch = options.max_batch.max(1);
        thread::Builder::new()
            .name("lk-sqlite-writer".into())
            .spawn(move || write_loop(writer, write_queue, background_queue, max_batch))
            .map_err(|e| StoreError::Backend(format!("spawning the writer: {e}")))?;

        let (reads, read_queue) = crossbeam_channel::unbounded::<Box<dyn Job>>();
        for i in 0..options.readers.max(1) {
            let conn = open_connection(path, true, options.cache_kib)?;
            let queue = read_queue.clone();
            thread::Builder::new()
                .name(format!("lk-sqlite-reader-{i}"))
                .spawn(move || read_loop(conn, queue))
                .map_err(|e| StoreError::Backend(format!("spawning a reader: {e}")))?;
        }
        let workers = thread::available_parallelism().map_or(1, |n| n.get());
        let here = (0..workers.min(options.readers.max(1)))
            .map(|_| {
                let conn = open_connection(path, true, options.cache_kib)?;
                // Read through a mapping of the file: a page that is not in
                // the connection's own cache (16 MB by default, against a
                // working set of random numbers, their grants and accounts
                // that is larger) is then found in the OS's page cache with
                // no read() call and no copy, and all of them share it.
                conn.execute_batch(&format!("PRAGMA mmap_size = {HERE_MMAP};"))
                    .map_err(backend)?;
                Ok(conn)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(SqliteBackend {
            writes,
            background,
            reads,
            here: Mutex::new(here),
        })
    }
}

impl Backend for SqliteBackend {
    fn submit(&self, access: Access, job: Box<dyn Job>) {
        let queue = match access {
            Access::Write | Access::WriteAlone | Access::Single => &self.writes,
            Access::Read | Access::ReadEach => &self.reads,
        };
        // A send fails only once the threads are gone; the job is then dropped,
        // which answers its caller "unavailable".
        let _ = queue.send(job);
    }

    fn submit_background(&self, job: Box<dyn Job>) {
        let _ = self.background.send(job);
    }

    /// On a free connection of `here`, taken out for the read (the lock is
    /// held only to take it and to put it back). A panic in `f` is caught
    /// as on the reader threads; the connection goes back either way (its
    /// statements reset when dropped).
    fn read_here(&self, f: &mut dyn FnMut(&mut dyn Tx)) -> bool {
        let Some(conn) = self.here.lock().ok().and_then(|mut free| free.pop()) else {
            return false;
        };
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            f(&mut tx::SqliteTx::new(&conn))
        }))
        .is_ok();
        if let Ok(mut free) = self.here.lock() {
            free.push(conn);
        }
        ran
    }
}

fn open_connection(path: &Path, read_only: bool, cache_kib: u32) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|e| StoreError::Backend(format!("opening {}: {e}", path.display())))?;
    // WAL lets readers work beside the writer; synchronous=FULL makes every
    // commit durable before it is answered; busy_timeout covers the admin CLI
    // writing while the server runs. Every write job runs in a savepoint, so
    // each statement keeps a statement journal and the job a sub-journal; kept
    // in memory (temp_store) they cost no file writes, where on disk they cost
    // several writes per row (1.1 million for a 100,000-number import).
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 10000;
         PRAGMA temp_store = MEMORY;",
    )
    .map_err(backend)?;
    conn.execute_batch(&format!("PRAGMA cache_size = -{cache_kib};"))
        .map_err(backend)?;
    // Plans must not depend on the values bound. Without this, SQLite checks
    // `owner_id = ?1` against the partial index `numbers_pool` (`WHERE
    // owner_id IS NULL`) using the bound value, marks the statement as
    // value-dependent, and re-parses and re-plans it every time it is bound
    // again: about 300,000 instructions per numbers list, a quarter of the
    // server's work there. The plans chosen are the same.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(backend)?;
    if read_only {
        conn.execute_batch("PRAGMA query_only = ON;")
            .map_err(backend)?;
    }
    // Room for a bulk request's multi-row writes (three sizes of four
    // statements, see `tx::CHUNK`) beside every other statement.
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

/// Applies the migrations not yet recorded in `_migrations`, each in its own
/// `BEGIN IMMEDIATE` transaction with its record.
///
/// Hand-written rather than `refinery`, checked 2026-12: refinery 0.10.1 does
/// accept rusqlite 0.41 and postgres 0.19, but (1) it needs Rust 1.92 and this
/// crate promises 1.89; (2) its rusqlite driver reads the applied versions and
/// applies the rest in separate deferred transactions, so two processes
/// starting at once can both apply a migration, which the IMMEDIATE lock
/// here prevents; (3) it keeps its own `refinery_schema_history` (versions
/// and checksums), so every existing database's `_migrations` would need
/// converting. Those cost more than these thirty lines.
fn migrate(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .map_err(backend)?;
    for (name, sql) in MIGRATIONS {
        // IMMEDIATE: a second process starting at the same moment waits here
        // and then sees the migration applied.
        conn.execute_batch("BEGIN IMMEDIATE").map_err(backend)?;
        let applied: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM _migrations WHERE name = ?1)",
                [name],
                |r| r.get(0),
            )
            .map_err(backend)?;
        let outcome = if applied {
            Ok(())
        } else {
            conn.execute_batch(sql).and_then(|()| {
                conn.execute(
                    "INSERT INTO _migrations (name, applied_at) VALUES (?1, unixepoch())",
                    [name],
                )
                .map(drop)
            })
        };
        match outcome {
            Ok(()) => conn.execute_batch("COMMIT").map_err(backend)?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(StoreError::Backend(format!("migration {name}: {e}")));
            }
        }
    }
    Ok(())
}

/// Takes every request's write job waiting (up to `max_batch`) and commits
/// them as one batch; between two batches, runs at most one `background`
/// job in a transaction of its own, and background jobs back to back only
/// while no request's job waits. A background job therefore never
/// lengthens a batch of requests, a request waits behind at most one of
/// them, and they still get one turn per batch however busy the writer is.
fn write_loop(
    conn: Connection,
    queue: Receiver<Box<dyn Job>>,
    background: Receiver<Box<dyn Job>>,
    max_batch: usize,
) {
    let mut batch: Vec<(Box<dyn Job>, bool)> = Vec::with_capacity(max_batch);
    loop {
        let first = match queue.try_recv() {
            Ok(job) => job,
            Err(crossbeam_channel::TryRecvError::Disconnected) => return,
            Err(crossbeam_channel::TryRecvError::Empty) => {
                crossbeam_channel::select_biased! {
                    recv(queue) -> job => match job {
                        Ok(job) => job,
                        Err(_) => return,
                    },
                    recv(background) -> job => match job {
                        Ok(job) => {
                            run_and_finish(&conn, &mut batch, job);
                            continue;
                        }
                        // Both senders live as long as the backend.
                        Err(_) => return,
                    },
                }
            }
        };
        batch.push((first, false));
        while batch.len() < max_batch {
            match queue.try_recv() {
                Ok(job) => batch.push((job, false)),
                Err(_) => break,
            }
        }
        finish_batch(&conn, &mut batch);
        if let Ok(job) = background.try_recv() {
            run_and_finish(&conn, &mut batch, job);
        }
    }
}

/// Runs `job` alone in a transaction of its own (`batch` is empty, and left so).
fn run_and_finish(conn: &Connection, batch: &mut Vec<(Box<dyn Job>, bool)>, job: Box<dyn Job>) {
    batch.push((job, false));
    finish_batch(conn, batch);
}

/// Runs and commits `batch`, answers each of its jobs, and empties it.
fn finish_batch(conn: &Connection, batch: &mut Vec<(Box<dyn Job>, bool)>) {
    let committed = run_batch(conn, batch);
    for (job, _) in batch.drain(..) {
        job.finish(
            committed
                .as_ref()
                .map(|_| ())
                .map_err(|e| StoreError::Backend(e.clone())),
        );
    }
}

/// Runs a batch in one transaction; every job gets its own savepoint so that
/// one refused operation does not undo the others.
fn run_batch(conn: &Connection, batch: &mut [(Box<dyn Job>, bool)]) -> Result<(), String> {
    control(conn, "BEGIN IMMEDIATE").map_err(|e| e.to_string())?;
    for (job, _) in batch.iter_mut() {
        if let Err(e) = control(conn, "SAVEPOINT job") {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e.to_string());
        }
        let mut tx = tx::SqliteTx::new(conn);
        let keep = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(&mut tx)))
            .unwrap_or(false);
        let end = if keep {
            control(conn, "RELEASE job")
        } else {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")
        };
        if let Err(e) = end {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e.to_string());
        }
    }
    control(conn, "COMMIT").map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        e.to_string()
    })
}

/// Runs a transaction-control statement, prepared once per connection
/// (`execute_batch` would parse it again on every request).
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

fn read_loop(conn: Connection, queue: Receiver<Box<dyn Job>>) {
    while let Ok(mut job) = queue.recv() {
        let outcome = control(&conn, "BEGIN DEFERRED").map_err(backend).map(|()| {
            let mut tx = tx::SqliteTx::new(&conn);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(&mut tx)));
            let _ = control(&conn, "COMMIT");
        });
        job.finish(outcome);
    }
}

pub(super) fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}
