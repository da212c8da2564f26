//! What the writer tells its process's caches ([`ChangeSink`]).
//!
//! Its own changes, precisely and before it answers a job: TEMP triggers on
//! the writing connection (this connection's alone; no schema change, so
//! another process's file and the migrations are untouched) call
//! `lk_changed`, a function of this connection's that notes the number a
//! row belongs to; after a batch commits the writer tells each (after a
//! rollback, nothing). What matters is what the routing lookup answers: a
//! number's row and its grants (it names accounts by id and username, and
//! no statement changes a username).
//!
//! Another process's (the admin CLI, a second server on the same file):
//! SQLite says only that one happened. `PRAGMA data_version` on this
//! connection changes exactly when another connection has committed, and
//! this process has no other writing connection, so a change there is told
//! as [`Changed::Everything`]. The writer checks after every batch and,
//! when idle, every [`IDLE_CHECK`]; each check that ran is told as
//! [`ChangeSink::heard`] with the instant it began.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;

use crate::store::{ChangeSink, Changed, StoreError};

/// How often an idle writer looks for another process's commits.
pub(super) const IDLE_CHECK: Duration = Duration::from_millis(250);

/// The triggers: one per way a row the routing lookup reads can change.
const TRIGGERS: &str = "
CREATE TEMP TRIGGER lk_grant_added AFTER INSERT ON main.grants
  BEGIN SELECT lk_changed(NEW.number_id); END;
CREATE TEMP TRIGGER lk_grant_changed AFTER UPDATE ON main.grants
  BEGIN SELECT lk_changed(OLD.number_id); SELECT lk_changed(NEW.number_id); END;
CREATE TEMP TRIGGER lk_grant_removed AFTER DELETE ON main.grants
  BEGIN SELECT lk_changed(OLD.number_id); END;
CREATE TEMP TRIGGER lk_number_changed AFTER UPDATE ON main.numbers
  BEGIN SELECT lk_changed(OLD.id); END;
CREATE TEMP TRIGGER lk_number_removed AFTER DELETE ON main.numbers
  BEGIN SELECT lk_changed(OLD.id); END;
";

/// The sink the backend was given, shared with the writer thread.
pub(super) type Slot = Arc<Mutex<Option<Weak<dyn ChangeSink>>>>;

pub(super) struct Watch {
    slot: Slot,
    /// What this connection's triggers noted since the last batch ended.
    noted: Arc<Mutex<Vec<Changed>>>,
    data_version: Option<i64>,
}

impl Watch {
    /// Installs the function and the triggers on the writing connection.
    pub(super) fn install(conn: &Connection, slot: Slot) -> Result<Watch, StoreError> {
        let noted: Arc<Mutex<Vec<Changed>>> = Arc::default();
        let into = noted.clone();
        conn.create_scalar_function("lk_changed", 1, FunctionFlags::SQLITE_UTF8, move |ctx| {
            let id = ctx.get::<i64>(0)?;
            if let Ok(mut noted) = into.lock() {
                noted.push(Changed::Number(id));
            }
            Ok(rusqlite::types::Null)
        })
        .map_err(super::backend)?;
        conn.execute_batch(TRIGGERS).map_err(super::backend)?;
        let mut watch = Watch {
            slot,
            noted,
            data_version: None,
        };
        watch.data_version = watch.data_version(conn);
        Ok(watch)
    }

    fn data_version(&self, conn: &Connection) -> Option<i64> {
        conn.prepare_cached("PRAGMA data_version")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .ok()
    }

    fn sink(&self) -> Option<Arc<dyn ChangeSink>> {
        self.slot.lock().ok()?.as_ref()?.upgrade()
    }

    /// After a batch: tells what it changed if it committed, forgets it if
    /// not; then [`Watch::check`].
    pub(super) fn batch_ended(&mut self, conn: &Connection, committed: bool) {
        let noted = match self.noted.lock() {
            Ok(mut noted) => std::mem::take(&mut *noted),
            Err(_) => vec![Changed::Everything],
        };
        if committed
            && !noted.is_empty()
            && let Some(sink) = self.sink()
        {
            let once: HashSet<Changed> = noted.into_iter().collect();
            for what in &once {
                sink.changed(what);
            }
        }
        self.check(conn);
    }

    /// Whether another connection committed since the last check (then
    /// "everything" is told), and that every change before this check's
    /// start has now been told.
    pub(super) fn check(&mut self, conn: &Connection) {
        let at = Instant::now();
        let Some(sink) = self.sink() else {
            return;
        };
        let now = self.data_version(conn);
        if now.is_none() || now != self.data_version {
            sink.changed(&Changed::Everything);
            self.data_version = now;
        }
        if now.is_some() {
            sink.heard(at);
        }
    }
}
