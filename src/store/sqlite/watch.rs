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
//! Another process's changes (the admin CLI, a second server on the same
//! file) are not heard here: the routing table follows them in the outbox
//! (`core::routing`), where every change writes its event.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;

use crate::store::{ChangeSink, Changed, StoreError};

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
        Ok(Watch { slot, noted })
    }

    fn sink(&self) -> Option<Arc<dyn ChangeSink>> {
        self.slot.lock().ok()?.as_ref()?.upgrade()
    }

    /// After a batch: tells what it changed if it committed, forgets it if
    /// not.
    pub(super) fn batch_ended(&mut self, committed: bool) {
        let noted = match self.noted.lock() {
            Ok(mut noted) => std::mem::take(&mut *noted),
            Err(_) => return,
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
    }
}
