//! The outbox (DOMAIN.md, "Events"): every change writes its event in the
//! same transaction as the change and its history entry, through [`log`],
//! the one place history is written. An event is therefore committed exactly
//! when its change is, and each change has exactly one (invariant 8).
//!
//! Which history entries are changes with an event ([`kind_of`]):
//!
//! | history action | event type |
//! | --- | --- |
//! | `account.create` | `account.created` |
//! | `account.suspend`, `account.postpaid`, `account.rename` | `account.changed` |
//! | `number.add` | `number.added` |
//! | `number.reserve` | `number.reserved` |
//! | `number.reserve_extend` | `number.reservation_extended` |
//! | `number.reserve_cancel`, `number.reserve_expire` | `number.reservation_ended` |
//! | `number.subscribe` | `number.subscribed` |
//! | `number.unsubscribe` | `number.unsubscribed` |
//! | `number.release` | `number.released` |
//! | `grant.assign` | `grant.created` |
//! | `grant.change`, `grant.cascade_change` | `grant.changed` |
//! | `grant.unassign`, `grant.cascade`, `grant.expire` | `grant.removed` (`data.reason`) |
//!
//! Token creation and revocation are history but not events: they are a
//! credential's own bookkeeping, not the state of numbers and accounts that
//! the platform's consumers follow, and an event feed of them would tell a
//! reseller when its downline logs in.

use crate::store::{Action, HistoryEntry, NewEvent, StoreError, Tx};

/// The event type a history action produces, if it is a change with one.
pub fn kind_of(action: &str) -> Option<&'static str> {
    Some(match action {
        "account.create" => "account.created",
        "account.suspend" | "account.postpaid" | "account.rename" => "account.changed",
        "number.add" => "number.added",
        "number.reserve" => "number.reserved",
        "number.reserve_extend" => "number.reservation_extended",
        "number.reserve_cancel" | "number.reserve_expire" => "number.reservation_ended",
        "number.subscribe" => "number.subscribed",
        "number.unsubscribe" => "number.unsubscribed",
        "number.release" => "number.released",
        "grant.assign" => "grant.created",
        "grant.change" | "grant.cascade_change" => "grant.changed",
        "grant.unassign" | "grant.cascade" | "grant.expire" => "grant.removed",
        _ => return None,
    })
}

/// Appends a history entry and, when it is a change, its event: the one
/// writer of history (with [`log_all`]), so no change can be recorded
/// without its event.
/// The entry and its event are written together ([`Tx::log_entry`]: one
/// statement on PostgreSQL), the event taking the entry's id.
pub(crate) fn log(tx: &mut dyn Tx, entry: crate::store::HistoryEntry) -> Result<(), StoreError> {
    let event = kind_of(entry.action.as_str()).map(|kind| event_of(0, kind, entry.clone()));
    tx.log_entry(&entry, event)
}

/// [`log`] for many entries, in order: the history entries in one go
/// ([`Tx::record_all`]), then their events, each with its entry's id, in
/// the same order ([`Tx::insert_events`]). A bulk request's changes.
pub(crate) fn log_all(tx: &mut dyn Tx, entries: Vec<HistoryEntry>) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let ids = tx.record_all(&entries)?;
    if ids.len() != entries.len() {
        return Err(StoreError::Backend(format!(
            "{} history entries written, {} ids answered",
            entries.len(),
            ids.len()
        )));
    }
    let events: Vec<NewEvent> = entries
        .into_iter()
        .zip(ids)
        .filter_map(|(e, id)| kind_of(e.action.as_str()).map(|kind| event_of(id, kind, e)))
        .collect();
    tx.insert_events(&events)
}

fn event_of(history_id: i64, kind: &'static str, e: HistoryEntry) -> NewEvent {
    // The history's detail is the event's data, with what a consumer needs
    // that the entry says by its action alone.
    let data = match e.action {
        Action::Unassign if !e.detail.contains("\"reason\"") => {
            with_field(&e.detail, "\"reason\":\"unassign\"")
        }
        Action::ReserveCancel => with_field(&e.detail, "\"reason\":\"cancel\""),
        Action::ReserveExpire => with_field(&e.detail, "\"reason\":\"expire\""),
        Action::CascadeChange => with_field(&e.detail, "\"cascaded\":true"),
        Action::GrantChange => with_field(&e.detail, "\"cascaded\":false"),
        _ => e.detail,
    };
    NewEvent {
        history_id,
        at: e.at,
        kind,
        actor_id: e.actor_id,
        request_id: e.request_id,
        number_id: e.number_id,
        account_id: e.account_id,
        data,
    }
}

/// `detail` (a JSON object, or empty) with one more `"name":value` pair.
fn with_field(detail: &str, field: &str) -> String {
    let body = detail.trim();
    match body.strip_suffix('}') {
        Some(open) if open.trim_end() == "{" => format!("{{{field}}}"),
        Some(open) => format!("{open},{field}}}"),
        None => format!("{{{field}}}"),
    }
}

/// How long an idempotency key is kept (DOMAIN.md: at least 24 hours).
pub const KEY_RETENTION_SECS: i64 = 24 * 3600;

/// The longest a feed request waits for an event.
pub const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// How often a waiting feed looks in the database for events that other
/// processes committed (its own process's commits wake it at once).
pub const POLL_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl super::Core {
    /// The events the caller may see after id `after`, oldest (first
    /// committed) first, at most `limit`: everything for an administrator,
    /// else those whose actor or account is the caller or in its downline.
    /// When there are none, waits up to `wait` for one: woken by this
    /// process's own commits, and looking again every [`POLL_EVERY`] for
    /// those of other processes.
    pub async fn events(
        &self,
        caller: &super::Caller,
        after: i64,
        limit: i64,
        wait: std::time::Duration,
    ) -> Result<Vec<crate::store::EventRow>, super::CoreError> {
        let within = (!caller.account.is_admin()).then(|| caller.account.path.clone());
        let deadline = tokio::time::Instant::now() + wait.min(MAX_WAIT);
        loop {
            // Listen before looking, so that a commit between the look and
            // the wait is not missed.
            let woken = self.store.commits().notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            // What has committed gets its id first (where events wait for
            // one), so a change the caller has seen answered is in the feed.
            self.store.sequence_events().await?;
            let query = crate::store::EventQuery {
                after_id: after,
                within: within.clone(),
                limit,
            };
            let rows = self
                .store
                .read(move |tx| Ok::<_, super::CoreError>(tx.events_after(&query)?))
                .await?;
            let now = tokio::time::Instant::now();
            if !rows.is_empty() || now >= deadline {
                return Ok(rows);
            }
            let poll = (now + POLL_EVERY).min(deadline);
            tokio::select! {
                _ = &mut woken => {}
                _ = tokio::time::sleep_until(poll) => {}
            }
        }
    }

    /// For the outbox publisher `name` run by `owner`: takes or renews its
    /// lease (`lease_secs`), and answers the next `limit` events after its
    /// cursor, oldest first; `None` while another process holds it.
    pub async fn publisher_batch(
        &self,
        name: &str,
        owner: &str,
        lease_secs: i64,
        limit: i64,
    ) -> Result<Option<Vec<crate::store::EventRow>>, super::CoreError> {
        let now = self.clock.now();
        let (name, owner) = (name.to_owned(), owner.to_owned());
        self.store
            .sequencing_write(move |tx| {
                // First, as in every transaction that sequences: the
                // sequencer's lock is always the first one taken.
                tx.sequence_events()?;
                let Some(cursor) = tx.claim_cursor(&name, &owner, now, now + lease_secs)? else {
                    return Ok(None);
                };
                let query = crate::store::EventQuery {
                    after_id: cursor,
                    within: None,
                    limit,
                };
                Ok(Some(tx.events_after(&query)?))
            })
            .await
    }

    /// Records that the publisher `name` has published every event up to
    /// `cursor`; false if `owner` no longer holds it.
    pub async fn publisher_done(
        &self,
        name: &str,
        owner: &str,
        cursor: i64,
    ) -> Result<bool, super::CoreError> {
        let (name, owner) = (name.to_owned(), owner.to_owned());
        self.store
            .write(move |tx| Ok(tx.advance_cursor(&name, &owner, cursor)?))
            .await
    }

    /// The caller's stored idempotency key.
    pub async fn idempotency_key(
        &self,
        account_id: i64,
        key: &str,
    ) -> Result<Option<crate::store::KeyRow>, super::CoreError> {
        let key = key.to_owned();
        self.store
            .read(move |tx| Ok(tx.key_row(account_id, &key)?))
            .await
    }

    /// Stores the answer to a key's first request. `claimed`: its change
    /// committed with the key; otherwise (the request changed nothing) the
    /// key is claimed and answered here in one transaction.
    pub async fn answer_idempotency_key(
        &self,
        claim: crate::store::KeyClaim,
        claimed: bool,
        answer: crate::store::StoredAnswer,
    ) -> Result<(), super::CoreError> {
        self.store
            .write(move |tx| {
                if !claimed && !tx.claim_key(&claim)? {
                    return Ok(());
                }
                tx.answer_key(claim.account_id, &claim.key, &answer)?;
                Ok(())
            })
            .await
    }

    /// Drops the finished webhook deliveries and the events older than the
    /// retention (but no event that an endpoint still has to deliver), and
    /// keys older than [`KEY_RETENTION_SECS`]; answers how many events and
    /// keys.
    pub(crate) async fn prune_outbox(&self, now: i64) -> Result<(u64, u64), super::CoreError> {
        let events_before = now - self.lifecycle.event_retention_secs;
        let keys_before = now - KEY_RETENTION_SECS;
        self.store
            .write(move |tx| {
                tx.prune_deliveries(events_before)?;
                Ok((tx.prune_events(events_before)?, tx.prune_keys(keys_before)?))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_added_to_any_object() {
        assert_eq!(with_field("{}", "\"a\":1"), "{\"a\":1}");
        assert_eq!(with_field("", "\"a\":1"), "{\"a\":1}");
        assert_eq!(with_field("{\"b\":2}", "\"a\":1"), "{\"b\":2,\"a\":1}");
    }

    #[test]
    fn tokens_are_not_events_and_removals_are_one_type() {
        assert_eq!(kind_of("token.create"), None);
        assert_eq!(kind_of("token.revoke"), None);
        for a in ["grant.unassign", "grant.cascade", "grant.expire"] {
            assert_eq!(kind_of(a), Some("grant.removed"));
        }
    }
}
