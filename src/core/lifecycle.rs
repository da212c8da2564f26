//! The number's life after the seeds: quarantine, reservations, and the
//! sweeper that ends what is due (DOMAIN.md, "The number's life").
//!
//! Every end is a due time in the database. Reads compare it with the clock,
//! so an item is over from its instant; the sweeper then makes the change
//! itself, with its history entry. Any number of instances may sweep one
//! database: each item is ended by a conditional update (or under its
//! number's row lock, re-read), so exactly one of them applies it.

use std::time::Duration;

use super::changes::{Change, history_of};
use super::grants::expiries;
use super::subscriptions::record_lapses;
use super::{Caller, Core, CoreError, history};
use crate::domain::{E164, NumberUid};
use crate::store::{Action, Due, Number, Tx};

/// The lifecycle's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifecycle {
    /// How long an unsubscribed number stays in quarantine (0: none, it
    /// goes straight back to the pool).
    pub quarantine_secs: i64,
    /// A reservation's length when none is asked for.
    pub reservation_default_secs: i64,
    /// The longest a reservation may run from the moment it is made or extended.
    pub reservation_max_secs: i64,
    /// How many reservations one account may hold at once.
    pub reservation_cap: i64,
    /// How often the background sweeper runs (`None`: it does not; tests
    /// call [`Core::sweep`] themselves).
    pub sweep_interval: Option<Duration>,
    /// Items per sweeper transaction (each one turn of the writer's
    /// background lane on SQLite).
    pub sweep_batch: i64,
    /// Due ids one read of a sweeper's queue takes at most (8 bytes each),
    /// to be ended `sweep_batch` at a time.
    pub sweep_page: i64,
    /// How long the outbox keeps an event (the sweeper prunes older ones).
    pub event_retention_secs: i64,
}

pub const DAY: i64 = 86_400;

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            quarantine_secs: 30 * DAY,
            reservation_default_secs: 30 * 60,
            reservation_max_secs: DAY,
            reservation_cap: 20,
            sweep_interval: Some(Duration::from_secs(5)),
            sweep_batch: 100,
            sweep_page: 100_000,
            event_retention_secs: 7 * DAY,
        }
    }
}

/// What one sweep ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Grants removed at their end (cascades included).
    pub grants_expired: usize,
    /// Quarantined numbers returned to the pool.
    pub released: usize,
    /// Reservations that ran out.
    pub reservations_ended: usize,
    /// Events past the retention dropped from the outbox.
    pub events_pruned: u64,
    /// Idempotency keys past their 24 hours dropped.
    pub keys_pruned: u64,
}

/// Delta rows one fold transaction takes at most.
const FOLD_BATCH: i64 = 1_000;

/// A running reservation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reserved {
    pub number: Number,
    pub holder_id: i64,
    pub until: i64,
}

const SWEEP_RID: &str = "sweeper";

/// Ends every grant past its end at `now` on the numbers `ids` (in id
/// order), with their cascades; how many went. The same changes, history
/// entries and events, in the same order, as ending each number's in turn
/// by [`expiries`] and [`apply`](super::changes::apply), but set-based, as
/// a bulk request is (`core::bulk`): the numbers are locked (in id order,
/// where the backend locks) and their grants re-read under those locks in
/// one statement, each number's expiries are planned in memory, and the
/// grants are deleted, then the history entries and their events written,
/// in multi-row statements. A sweeper that lost the race to another finds
/// nothing left to do.
fn expire_grants(tx: &mut dyn Tx, ids: &[i64], now: i64) -> Result<usize, CoreError> {
    tx.lock_numbers(ids)?;
    let grants = tx.grants_on_numbers(ids)?;
    let (mut deleted, mut entries) = (Vec::new(), Vec::new());
    // By number, then account, as `grants_on` reads one number's.
    for on_one in grants.chunk_by(|a, b| a.number_id == b.number_id) {
        let (changes, _) = expiries(on_one, now);
        for change in &changes {
            if let Change::GrantRemoved {
                number_id,
                account_id,
                ..
            } = change
            {
                deleted.push((*number_id, *account_id));
            }
            entries.push(history_of(change, None, now, SWEEP_RID));
        }
    }
    tx.delete_grants(&deleted)?;
    crate::core::events::log_all(tx, entries)?;
    Ok(deleted.len())
}

/// Ends what is due at `now` on the numbers `ids` (in id order) in one
/// transaction; how many items went.
fn end_due(tx: &mut dyn Tx, kind: Due, ids: &[i64], now: i64) -> Result<usize, CoreError> {
    match kind {
        Due::Grants => expire_grants(tx, ids, now),
        Due::Quarantines => ids.iter().map(|id| end_quarantine(tx, *id, now)).sum(),
        Due::Reservations => ids.iter().map(|id| end_reservation(tx, *id, now)).sum(),
    }
}

fn end_quarantine(tx: &mut dyn Tx, number_id: i64, now: i64) -> Result<usize, CoreError> {
    let Some(q) = tx.number_by_id(number_id)?.and_then(|n| n.quarantine) else {
        return Ok(0);
    };
    if !tx.end_quarantine(number_id, now)? {
        return Ok(0);
    }
    crate::core::events::log(
        tx,
        history(
            now,
            SWEEP_RID,
            None,
            Action::Release,
            Some(number_id),
            Some(q.former_owner_id),
            "{\"by\":\"expiry\"}",
        ),
    )?;
    Ok(1)
}

fn end_reservation(tx: &mut dyn Tx, number_id: i64, now: i64) -> Result<usize, CoreError> {
    let Some(r) = tx.number_by_id(number_id)?.and_then(|n| n.reservation) else {
        return Ok(0);
    };
    if !tx.end_reservation(number_id, now)? {
        return Ok(0);
    }
    crate::core::events::log(
        tx,
        history(
            now,
            SWEEP_RID,
            None,
            Action::ReserveExpire,
            Some(number_id),
            Some(r.holder_id),
            "{}",
        ),
    )?;
    Ok(1)
}

/// Checks a reservation's length (default when `None`).
fn duration(l: &Lifecycle, asked: Option<i64>) -> Result<i64, CoreError> {
    let secs = asked.unwrap_or(l.reservation_default_secs);
    if secs < 1 || secs > l.reservation_max_secs {
        return Err(CoreError::InvalidDuration {
            max_secs: l.reservation_max_secs,
        });
    }
    Ok(secs)
}

/// Reserves an available number for `caller_id` (see [`Core::reserve`]).
pub fn reserve(
    tx: &mut dyn Tx,
    l: &Lifecycle,
    caller_id: i64,
    uid: &str,
    secs: Option<i64>,
    now: i64,
    rid: &str,
) -> Result<Reserved, CoreError> {
    let secs = duration(l, secs)?;
    // One account's reservations are counted and made one at a time, so
    // two racing requests cannot both take the last place under the cap.
    tx.lock_account(caller_id)?;
    let number = tx.number_by_uid(uid)?.ok_or(CoreError::NumberNotFound)?;
    if let Some(r) = number.reservation_at(now)
        && r.holder_id == caller_id
    {
        return Err(CoreError::AlreadyReserved);
    }
    if number.subscription.is_some()
        || number.quarantine_at(now).is_some()
        || number.reservation_at(now).is_some()
    {
        return Err(CoreError::NotAvailable);
    }
    if tx.count_reservations(caller_id, now)? >= l.reservation_cap {
        return Err(CoreError::ReservationLimit {
            cap: l.reservation_cap,
        });
    }
    record_lapses(tx, &number, now, rid)?;
    let until = now.saturating_add(secs);
    if !tx.reserve_number(number.id, caller_id, until)? {
        return Err(CoreError::NotAvailable);
    }
    crate::core::events::log(
        tx,
        history(
            now,
            rid,
            Some(caller_id),
            Action::Reserve,
            Some(number.id),
            Some(caller_id),
            &format!("{{\"until\":{until}}}"),
        ),
    )?;
    Ok(Reserved {
        number: Number {
            quarantine: None,
            reservation: None,
            ..number
        },
        holder_id: caller_id,
        until,
    })
}

/// The caller's running reservation of `uid`, or `NotReserved`.
fn held_reservation(
    tx: &mut dyn Tx,
    caller_id: i64,
    uid: &str,
    now: i64,
) -> Result<Number, CoreError> {
    let number = tx.number_by_uid(uid)?.ok_or(CoreError::NumberNotFound)?;
    match number.reservation_at(now) {
        Some(r) if r.holder_id == caller_id => Ok(number),
        _ => Err(CoreError::NotReserved),
    }
}

impl Core {
    /// The lifecycle settings this core runs with.
    pub fn lifecycle(&self) -> &Lifecycle {
        &self.lifecycle
    }

    /// Sets the lifecycle settings.
    pub fn with_lifecycle(mut self, lifecycle: Lifecycle) -> Core {
        self.lifecycle = lifecycle;
        self
    }

    /// Ends everything due at `now`: grants past their end (with their
    /// cascades), quarantines and reservations that ran out. Safe to run on
    /// several instances at once.
    ///
    /// Each queue is walked once, in id order: a read (outside the writer)
    /// takes the ids of the next `sweep_page` numbers with something due,
    /// and each `sweep_batch` of them is then one write transaction, which
    /// re-reads what it ends under the numbers' locks. The walk's cursor
    /// only moves forward, so an item is taken at most once a sweep (one
    /// that somehow cannot be ended waits for the next), and the writer
    /// never searches the queue: finding the lowest due ids reads every due
    /// grant (15 ms for 100,000 of them on SQLite), which each batch's
    /// transaction used to do.
    ///
    /// The batches go through [`crate::store::Store::write_background`]:
    /// on SQLite each runs only between two batches of requests' writes
    /// (or when none waits), so it never lengthens a request's batch, and
    /// the sweep still ends at least `sweep_batch` items per writer batch.
    /// An item is thus ended at most one `sweep_interval` plus (items due
    /// before it / `sweep_batch`) × (a request batch and a sweep
    /// transaction) after its end.
    pub async fn sweep(&self, now: i64) -> Result<SweepReport, CoreError> {
        let mut report = SweepReport::default();
        let batch = usize::try_from(self.lifecycle.sweep_batch.max(1)).unwrap_or(usize::MAX);
        let page_len = self.lifecycle.sweep_page.max(1);
        for kind in [Due::Grants, Due::Quarantines, Due::Reservations] {
            let mut after = i64::MIN;
            loop {
                let page = self
                    .store
                    .read(move |tx| Ok::<_, CoreError>(tx.due(kind, now, after, page_len)?))
                    .await?;
                for ids in page.chunks(batch) {
                    let due = ids.to_vec();
                    let done = self
                        .store
                        .write_background(move |tx| end_due(tx, kind, &due, now))
                        .await?;
                    // Their routing and history heads are forgotten here at
                    // once, as a request's changes are (an ended grant
                    // already routed nothing, but its entry is new).
                    for id in ids {
                        self.routes.forget(*id);
                    }
                    match kind {
                        Due::Grants => report.grants_expired += done,
                        Due::Quarantines => report.released += done,
                        Due::Reservations => report.reservations_ended += done,
                    }
                }
                match page.last() {
                    Some(last) if page.len() as i64 == page_len => after = *last,
                    _ => break,
                }
            }
        }
        // Upkeep rather than something that ended, so not in the report:
        // the staged events numbered (PostgreSQL; every reader of the
        // outbox also does so before it reads, so this only keeps the
        // staging table short when nothing reads), and the counters folded.
        self.store.sequence_events().await?;
        (report.events_pruned, report.keys_pruned) = self.prune_outbox(now).await?;
        let folded = self.fold_holdings().await?;
        if folded > 0 {
            tracing::debug!(folded, "folded holdings counters");
        }
        Ok(report)
    }

    /// Folds the holdings counters' per-connection delta rows into their
    /// totals (PostgreSQL's migration 0009; nothing to do on SQLite), in
    /// transactions of at most [`FOLD_BATCH`] rows; answers how many it
    /// folded. The sweeper runs it; it never waits on a writer.
    pub async fn fold_holdings(&self) -> Result<u64, CoreError> {
        let mut folded = 0;
        // Bounded like the sweeper's queues: writers add delta rows meanwhile.
        for _ in 0..100 {
            let n = self
                .store
                .write(|tx| Ok::<_, CoreError>(tx.fold_holdings(FOLD_BATCH)?))
                .await?;
            folded += n;
            if (n as i64) < FOLD_BATCH {
                break;
            }
        }
        Ok(folded)
    }

    /// Holds an available number for the caller for `secs` (default 30
    /// minutes, at most the configured maximum): only it may subscribe to
    /// it until then, and it is in nobody's pool view.
    pub async fn reserve(
        &self,
        caller: &Caller,
        uid: &NumberUid,
        secs: Option<i64>,
        request_id: &str,
    ) -> Result<Reserved, CoreError> {
        let (id, uid, now, rid, l) = (
            caller.account.id,
            uid.to_string(),
            self.clock.now(),
            request_id.to_owned(),
            self.lifecycle,
        );
        let reserved = self
            .store
            .write(move |tx| reserve(tx, &l, id, &uid, secs, now, &rid))
            .await?;
        self.routes.forget(reserved.number.id);
        Ok(reserved)
    }

    /// Moves the end of the caller's running reservation to `secs` from now
    /// (default and maximum as for [`Core::reserve`]).
    pub async fn extend_reservation(
        &self,
        caller: &Caller,
        uid: &NumberUid,
        secs: Option<i64>,
        request_id: &str,
    ) -> Result<Reserved, CoreError> {
        let (id, uid, now, rid, l) = (
            caller.account.id,
            uid.to_string(),
            self.clock.now(),
            request_id.to_owned(),
            self.lifecycle,
        );
        let reserved = self
            .store
            .write(move |tx| {
                let secs = duration(&l, secs)?;
                let number = held_reservation(tx, id, &uid, now)?;
                let until = now.saturating_add(secs);
                tx.reserve_number(number.id, id, until)?;
                crate::core::events::log(
                    tx,
                    history(
                        now,
                        &rid,
                        Some(id),
                        Action::ReserveExtend,
                        Some(number.id),
                        Some(id),
                        &format!("{{\"until\":{until}}}"),
                    ),
                )?;
                Ok::<_, CoreError>(Reserved {
                    number: Number {
                        reservation: None,
                        ..number
                    },
                    holder_id: id,
                    until,
                })
            })
            .await?;
        self.routes.forget(reserved.number.id);
        Ok(reserved)
    }

    /// Gives up the caller's running reservation.
    pub async fn cancel_reservation(
        &self,
        caller: &Caller,
        uid: &NumberUid,
        request_id: &str,
    ) -> Result<(), CoreError> {
        let (id, uid, now, rid) = (
            caller.account.id,
            uid.to_string(),
            self.clock.now(),
            request_id.to_owned(),
        );
        let number_id = self
            .store
            .write(move |tx| {
                let number = held_reservation(tx, id, &uid, now)?;
                tx.end_reservation(number.id, i64::MAX)?;
                crate::core::events::log(
                    tx,
                    history(
                        now,
                        &rid,
                        Some(id),
                        Action::ReserveCancel,
                        Some(number.id),
                        Some(id),
                        "{}",
                    ),
                )?;
                Ok::<_, CoreError>(number.id)
            })
            .await?;
        self.routes.forget(number_id);
        Ok(())
    }

    /// The caller's running reservations, by number id.
    pub async fn reservations(&self, caller: &Caller) -> Result<Vec<Reserved>, CoreError> {
        let (id, now) = (caller.account.id, self.clock.now());
        self.store
            .read(move |tx| {
                Ok(tx
                    .reservations_of(id, now)?
                    .into_iter()
                    .filter_map(|n| {
                        let r = n.reservation?;
                        Some(Reserved {
                            number: Number {
                                reservation: None,
                                ..n
                            },
                            holder_id: r.holder_id,
                            until: r.until,
                        })
                    })
                    .collect())
            })
            .await
    }

    /// The number `r` names (by id, E.164 or uid), whoever holds it: for
    /// the routes that take a pool number (reserve, subscribe), those whose
    /// own rules decide visibility (unsubscribe: the owner's only), and
    /// administrators. `None` when it names none.
    pub async fn find_number(&self, r: &super::NumberRef) -> Result<Option<Number>, CoreError> {
        let r = r.clone();
        self.store
            .read(move |tx| {
                Ok(match (r.id, r.e164.as_deref(), r.uid.as_deref()) {
                    (Some(id), _, _) => tx.number_by_id(id)?,
                    (None, Some(e164), _) => tx.number_by_e164(e164)?,
                    (None, None, Some(uid)) => tx.number_by_uid(uid)?,
                    (None, None, None) => None,
                })
            })
            .await
    }

    /// `admin release-number` (`actor` `None`: the operator's command line)
    /// and the native face's release (`actor`: the administrator's
    /// account): ends a quarantine early; the number is back in the pool.
    pub async fn release_number(
        &self,
        number: &E164,
        actor: Option<i64>,
        request_id: &str,
    ) -> Result<Number, CoreError> {
        let (e164, now, rid) = (number.to_string(), self.clock.now(), request_id.to_owned());
        let released = self
            .store
            .write(move |tx| {
                let number = tx
                    .number_by_e164(&e164)?
                    .ok_or_else(|| CoreError::Invalid(format!("no number {e164}")))?;
                // A recorded quarantine, even one whose end has passed
                // unswept: its end is still one change, recorded here.
                let Some(q) = number.quarantine else {
                    return Err(CoreError::Invalid(format!(
                        "number {e164} is not quarantined (it is {})",
                        number.state(now).as_str()
                    )));
                };
                tx.end_quarantine(number.id, i64::MAX)?;
                crate::core::events::log(
                    tx,
                    history(
                        now,
                        &rid,
                        actor,
                        Action::Release,
                        Some(number.id),
                        Some(q.former_owner_id),
                        "{\"by\":\"admin\"}",
                    ),
                )?;
                Ok::<_, CoreError>(Number {
                    quarantine: None,
                    ..number
                })
            })
            .await?;
        self.routes.forget(released.id);
        Ok(released)
    }

    /// Runs [`Core::sweep`] every `sweep_interval` until the task is dropped
    /// or aborted; a failed sweep is logged and tried again next time. An
    /// item is ended at most one interval (plus the time to drain what is
    /// due) after its end; reads honour the end from its instant regardless.
    pub async fn run_sweeper(self) {
        let Some(every) = self.lifecycle.sweep_interval else {
            return;
        };
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.sweep(self.clock.now()).await {
                Ok(r) if r != SweepReport::default() => tracing::info!(
                    grants_expired = r.grants_expired,
                    released = r.released,
                    reservations_ended = r.reservations_ended,
                    events_pruned = r.events_pruned,
                    keys_pruned = r.keys_pruned,
                    "swept"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "sweep failed"),
            }
        }
    }
}
