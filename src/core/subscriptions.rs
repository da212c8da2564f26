//! Subscribing to pool numbers and unsubscribing from them, and the lists of
//! the virtual-number face.

use sha2::{Digest, Sha256};

use super::changes::{Change, Outcome, Removal, apply};
use super::grants::{descend, expiries};
use super::{Caller, Core, CoreError, Listing, history};
use crate::domain::{NumberUid, hex};
use crate::store::{Action, Cycle, Number, Page, Subscription, Tx};

/// A number its owner subscribes to, with how many accounts hold a grant on it.
#[derive(Clone, Debug)]
pub struct OwnedNumber {
    pub number: Number,
    pub assigned_to: i64,
}

/// The product id under which `number` is sold for `cycle`: stable, derived
/// from the number and the cycle alone.
pub fn product_id(number: &str, cycle: Cycle) -> String {
    let digest = Sha256::digest(format!("{number}:{}", cycle.as_str()).as_bytes());
    format!("prod_{}", hex(&digest[..12]))
}

/// Whether `caller_id` may take `number` at `now`: nobody owns it; no
/// quarantine runs, or the caller is its former owner; no reservation runs,
/// or the caller holds it.
pub fn available_to(number: &Number, caller_id: i64, now: i64) -> bool {
    number.subscription.is_none()
        && number
            .quarantine_at(now)
            .is_none_or(|q| q.former_owner_id == caller_id)
        && number
            .reservation_at(now)
            .is_none_or(|r| r.holder_id == caller_id)
}

/// Records the end of a quarantine or reservation that ran out before the
/// sweeper came by, when a write about to replace it touches the number: an
/// end is a change with its history entry whoever notices it first.
pub(crate) fn record_lapses(
    tx: &mut dyn Tx,
    number: &Number,
    now: i64,
    rid: &str,
) -> Result<(), CoreError> {
    if let Some(q) = number.quarantine.filter(|q| q.until <= now) {
        tx.end_quarantine(number.id, now)?;
        crate::core::events::log(
            tx,
            history(
                now,
                rid,
                None,
                Action::Release,
                Some(number.id),
                Some(q.former_owner_id),
                "{\"by\":\"expiry\"}",
            ),
        )?;
    }
    if let Some(r) = number.reservation.filter(|r| r.until <= now) {
        tx.end_reservation(number.id, now)?;
        crate::core::events::log(
            tx,
            history(
                now,
                rid,
                None,
                Action::ReserveExpire,
                Some(number.id),
                Some(r.holder_id),
                "{}",
            ),
        )?;
    }
    Ok(())
}

/// Makes `caller` the owner of a number it may take (see [`available_to`]).
/// `uid` is `None` when the client's id cannot name any number (malformed):
/// that is refused as an unknown number, but only after the postpaid check,
/// so the order of refusals does not depend on the id's spelling.
pub fn subscribe(
    tx: &mut dyn Tx,
    caller_id: i64,
    uid: Option<&str>,
    cycle: Cycle,
    resubscribe: bool,
    now: i64,
    rid: &str,
) -> Result<OwnedNumber, CoreError> {
    // The caller's own row, read inside the transaction: postpaid may have
    // just been switched off.
    let postpaid = tx.account_by_id(caller_id)?.is_some_and(|a| a.postpaid);
    if !postpaid {
        return Err(CoreError::PostpaidDisabled);
    }
    // Locked until the end of the transaction (see `Tx`): the checks below
    // and the update see the number alone.
    let number = match uid {
        Some(uid) => tx.number_by_uid(uid)?,
        None => None,
    }
    .ok_or(CoreError::NumberNotFound)?;
    if !available_to(&number, caller_id, now) {
        return Err(CoreError::NotAvailable);
    }
    let reclaimed = number.quarantine_at(now).is_some();
    let reserved = number.reservation_at(now).is_some();
    record_lapses(tx, &number, now, rid)?;
    let sub = Subscription {
        owner_id: caller_id,
        cycle,
        resubscribe,
        subscribed_at: now,
    };
    // The conditional update decides races: exactly one subscriber wins.
    if !tx.subscribe_number(number.id, &sub)? {
        return Err(CoreError::NotAvailable);
    }
    let mut detail = format!(
        "{{\"cycle\":\"{}\",\"resubscribe\":{resubscribe}",
        cycle.as_str()
    );
    if reclaimed {
        detail.push_str(",\"from_quarantine\":true");
    }
    if reserved {
        detail.push_str(",\"reserved\":true");
    }
    detail.push('}');
    crate::core::events::log(
        tx,
        history(
            now,
            rid,
            Some(caller_id),
            Action::Subscribe,
            Some(number.id),
            Some(caller_id),
            &detail,
        ),
    )?;
    Ok(OwnedNumber {
        number: Number {
            subscription: Some(sub),
            quarantine: None,
            reservation: None,
            ..number
        },
        assigned_to: 0,
    })
}

/// The changes unsubscribing makes, checked; writes nothing. Only the owner
/// may: to anyone else the number does not exist. Every grant on the number
/// goes, and the number goes into quarantine for `quarantine_secs` (or
/// straight back to the pool when that is 0).
pub fn plan_unsubscribe(
    tx: &mut dyn Tx,
    caller_id: i64,
    uid: &str,
    quarantine_secs: i64,
    now: i64,
) -> Result<Vec<Change>, CoreError> {
    let number = tx.number_by_uid(uid)?.ok_or(CoreError::NumberNotFound)?;
    if number.owner_id() != Some(caller_id) {
        return Err(CoreError::NumberNotFound);
    }
    let (mut changes, live) = expiries(&tx.grants_on(number.id)?, now);
    // Each grant with the chain that reaches it from the account (the owner,
    // or an administrator) that granted its root.
    let grantees: std::collections::HashSet<i64> = live.iter().map(|g| g.account_id).collect();
    let roots = live
        .iter()
        .filter(|g| !grantees.contains(&g.granted_by))
        .map(|g| (g.clone(), vec![g.granted_by, g.account_id]))
        .collect();
    for (g, chain) in descend(&live, roots) {
        changes.push(Change::GrantRemoved {
            number_id: g.number_id,
            account_id: g.account_id,
            granted_by: g.granted_by,
            reason: Removal::Unsubscribe,
            chain,
        });
    }
    changes.push(Change::Unsubscribed {
        number_id: number.id,
        owner_id: caller_id,
        quarantine_until: (quarantine_secs > 0).then(|| now.saturating_add(quarantine_secs)),
    });
    Ok(changes)
}

/// Ends the owner's subscription, as [`plan_unsubscribe`] plans it.
pub fn unsubscribe(
    tx: &mut dyn Tx,
    caller_id: i64,
    uid: &str,
    quarantine_secs: i64,
    now: i64,
    rid: &str,
) -> Result<Outcome, CoreError> {
    let changes = plan_unsubscribe(tx, caller_id, uid, quarantine_secs, now)?;
    apply(tx, &changes, Some(caller_id), now, rid)?;
    Ok(Outcome {
        changes,
        dry_run: false,
    })
}

/// Filters of the pool listing (the store's, so both faces' pool searches
/// are one query).
pub use crate::store::PoolFilter;

use crate::core::metrics::Business;

impl Core {
    /// `POST /purchase-postpaid`: subscribes the caller for a monthly cycle.
    /// `uid` is `None` for an id that cannot name a number (see [`subscribe`]).
    pub async fn subscribe_postpaid(
        &self,
        caller: &Caller,
        uid: Option<&NumberUid>,
        resubscribe: bool,
        request_id: &str,
    ) -> Result<OwnedNumber, CoreError> {
        let (id, uid, now, rid) = (
            caller.account.id,
            uid.map(NumberUid::to_string),
            self.clock.now(),
            request_id.to_owned(),
        );
        let owned = self
            .store
            .write(move |tx| {
                subscribe(tx, id, uid.as_deref(), Cycle::Month, resubscribe, now, &rid)
            })
            .await?;
        self.routes.forget(owned.number.id);
        Business::add(&self.business.subscriptions, 1);
        Ok(owned)
    }

    /// `PUT /unsubscribe/:id`. With `dry_run`, the same checks and outcome,
    /// and nothing written.
    pub async fn unsubscribe(
        &self,
        caller: &Caller,
        uid: &NumberUid,
        dry_run: bool,
        request_id: &str,
    ) -> Result<Outcome, CoreError> {
        let (id, uid, now, rid) = (
            caller.account.id,
            uid.to_string(),
            self.clock.now(),
            request_id.to_owned(),
        );
        let quarantine = self.lifecycle.quarantine_secs;
        if dry_run {
            return self
                .store
                .read(move |tx| {
                    Ok(Outcome {
                        changes: plan_unsubscribe(tx, id, &uid, quarantine, now)?,
                        dry_run: true,
                    })
                })
                .await;
        }
        let outcome = self
            .store
            .write(move |tx| unsubscribe(tx, id, &uid, quarantine, now, &rid))
            .await?;
        self.forget_routes(&outcome);
        Business::add(&self.business.unsubscriptions, 1);
        Business::add(&self.business.cascaded_removals, outcome.removed() as u64);
        Ok(outcome)
    }

    /// `POST /purchase`: everything a card purchase would check, short of
    /// taking the payment. `Ok` means the purchase would have gone ahead.
    pub async fn check_purchase(
        &self,
        caller: &Caller,
        uid: &NumberUid,
        cycle: Cycle,
        product: &str,
    ) -> Result<(), CoreError> {
        let (id, uid, product, now) = (
            caller.account.id,
            uid.to_string(),
            product.to_owned(),
            self.clock.now(),
        );
        self.store
            .read(move |tx| {
                let number = tx.number_by_uid(&uid)?.ok_or(CoreError::NumberNotFound)?;
                if product_id(&number.number, cycle) != product {
                    return Err(CoreError::InvalidProduct);
                }
                if !available_to(&number, id, now) {
                    return Err(CoreError::NotAvailable);
                }
                Ok(())
            })
            .await
    }

    /// `GET /available`.
    pub async fn pool(&self, filter: PoolFilter, page: Page) -> Result<Listing<Number>, CoreError> {
        let now = self.clock.now();
        self.store
            .read(move |tx| {
                let (items, total) = tx.available_numbers(&filter, page, true, now)?;
                Ok(Listing {
                    items,
                    total: total.unwrap_or(0),
                })
            })
            .await
    }

    /// The native face's pool search: the same query as [`Core::pool`], a
    /// keyset page (`filter.after_id`) of at most `limit`, uncounted.
    pub async fn pool_after(
        &self,
        filter: PoolFilter,
        limit: i64,
    ) -> Result<Vec<Number>, CoreError> {
        let now = self.clock.now();
        self.store
            .read(move |tx| {
                let page = Page { offset: 0, limit };
                Ok(tx.available_numbers(&filter, page, false, now)?.0)
            })
            .await
    }

    /// `GET /`: the caller's own subscriptions.
    pub async fn owned(
        &self,
        caller: &Caller,
        page: Page,
    ) -> Result<Listing<OwnedNumber>, CoreError> {
        let (id, now) = (caller.account.id, self.clock.now());
        self.store
            .read(move |tx| {
                let (items, total) = tx.owned_numbers(id, page, now)?;
                let items = items
                    .into_iter()
                    .map(|(number, assigned_to)| OwnedNumber {
                        number,
                        assigned_to,
                    })
                    .collect();
                Ok(Listing { items, total })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_ids_are_stable_and_differ_by_cycle() {
        let m = product_id("+61400000001", Cycle::Month);
        assert_eq!(m, product_id("+61400000001", Cycle::Month));
        assert_ne!(m, product_id("+61400000001", Cycle::Year));
        assert_ne!(m, product_id("+61400000002", Cycle::Month));
        assert!(m.starts_with("prod_") && m.len() == 5 + 24);
    }
}
