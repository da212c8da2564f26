//! The PostgreSQL backend: for several `linekeeper serve` processes behind a
//! load balancer, on one database.
//!
//! A pool of worker threads, each with one connection, takes jobs from one
//! queue. A write job runs in a READ COMMITTED transaction in which every
//! number it looks up is locked (`FOR UPDATE`) until commit, so all changes to
//! one number are serialized by the database, across processes; uniqueness
//! (one grant per number and account, usernames) is decided by unique indexes
//! with `ON CONFLICT DO NOTHING`. Serialization failures and deadlocks are
//! retried a bounded number of times. Reads run in REPEATABLE READ READ ONLY
//! transactions (one snapshot for a page and its count).

mod tx;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use postgres::error::SqlState;
use postgres::{Client, IsolationLevel, NoTls, Statement};

use super::{Access, Backend, Job, StoreError, StoreOptions};

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
        "0005_lifecycle",
        include_str!("migrations/0005_lifecycle.sql"),
    ),
];

/// Whether `url` names a PostgreSQL database.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

pub struct PgBackend {
    queue: Sender<(Access, Box<dyn Job>)>,
    retries: Arc<AtomicU64>,
}

impl PgBackend {
    pub fn open(url: &str, options: &StoreOptions) -> Result<PgBackend, StoreError> {
        let config = postgres::Config::from_str(url)
            .map_err(|e| StoreError::Backend(format!("bad URL: {e}")))?;
        let mut first = connect(&config, options)?;
        migrate(&mut first)?;
        let (queue, jobs) = crossbeam_channel::unbounded();
        let retries = Arc::new(AtomicU64::new(0));
        let size = options.readers.max(1);
        let mut clients = vec![first];
        for _ in 1..size {
            clients.push(connect(&config, options)?);
        }
        for (i, client) in clients.into_iter().enumerate() {
            let worker = Worker {
                client,
                config: config.clone(),
                options: options.clone(),
                jobs: jobs.clone(),
                retries: retries.clone(),
                cache: HashMap::new(),
            };
            thread::Builder::new()
                .name(format!("lk-pg-{i}"))
                .spawn(move || worker.run())
                .map_err(|e| StoreError::Backend(format!("spawning a worker: {e}")))?;
        }
        Ok(PgBackend { queue, retries })
    }
}

impl Backend for PgBackend {
    fn submit(&self, access: Access, job: Box<dyn Job>) {
        let _ = self.queue.send((access, job));
    }

    fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
}

fn connect(config: &postgres::Config, options: &StoreOptions) -> Result<Client, StoreError> {
    let mut client = config
        .connect(NoTls)
        .map_err(|e| StoreError::Backend(format!("connecting: {e}")))?;
    client
        .batch_execute(&format!(
            "SET statement_timeout = {}",
            options.statement_timeout_ms
        ))
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(client)
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let err = |e: postgres::Error| StoreError::Backend(format!("migrating: {e}"));
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
                .map_err(|e| StoreError::Backend(format!("migration {name}: {e}")))?;
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
    client: Client,
    config: postgres::Config,
    options: StoreOptions,
    jobs: Receiver<(Access, Box<dyn Job>)>,
    retries: Arc<AtomicU64>,
    cache: HashMap<String, Statement>,
}

impl Worker {
    fn run(mut self) {
        while let Ok((access, mut job)) = self.jobs.recv() {
            if self.client.is_closed() && !self.reconnect() {
                job.finish(Err(StoreError::Unavailable));
                continue;
            }
            let outcome = self.run_job(access, job.as_mut());
            job.finish(outcome);
        }
    }

    fn reconnect(&mut self) -> bool {
        match connect(&self.config, &self.options) {
            Ok(client) => {
                self.client = client;
                self.cache.clear();
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot reconnect to PostgreSQL");
                false
            }
        }
    }

    /// Runs `job` until it commits, is refused, or runs out of retries.
    fn run_job(&mut self, access: Access, job: &mut dyn Job) -> Result<(), StoreError> {
        let write = access == Access::Write;
        for attempt in 0..=self.options.max_retries {
            if attempt > 0 {
                self.retries.fetch_add(1, Ordering::Relaxed);
                // Back off a little, more on each attempt, so racers spread out.
                thread::sleep(Duration::from_millis(1 + attempt as u64 * 2));
            }
            let mut builder = self.client.build_transaction();
            builder = if write {
                builder.isolation_level(IsolationLevel::ReadCommitted)
            } else {
                builder
                    .isolation_level(IsolationLevel::RepeatableRead)
                    .read_only(true)
            };
            let mut transaction = match builder.start() {
                Ok(t) => t,
                Err(e) => return Err(StoreError::Backend(e.to_string())),
            };
            let mut tx = tx::PgTx::new(&mut transaction, &mut self.cache, write);
            let keep = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(&mut tx)))
                .unwrap_or(false);
            let retry = tx.wants_retry();
            if retry {
                let _ = transaction.rollback();
                continue;
            }
            if !keep {
                let _ = transaction.rollback();
                return Ok(());
            }
            match transaction.commit() {
                Ok(()) => return Ok(()),
                Err(e) if is_retryable(&e) => continue,
                Err(e) => return Err(StoreError::Backend(e.to_string())),
            }
        }
        Err(StoreError::Backend(format!(
            "gave up after {} retries",
            self.options.max_retries
        )))
    }
}

/// Serialization failures and deadlocks: the transaction may succeed if run again.
pub(super) fn is_retryable(e: &postgres::Error) -> bool {
    matches!(e.code(), Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED)
}
