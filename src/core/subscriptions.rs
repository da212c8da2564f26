//! Subscribing to pool numbers and unsubscribing from them, and the lists of
//! the virtual-number face.

use sha2::{Digest, Sha256};

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

/// Makes `caller` the owner of an available number. `uid` is `None` when the
/// client's id cannot name any number (malformed): that is refused as an
/// unknown number, but only after the postpaid check, so the order of refusals
/// does not depend on the id's spelling.
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
    let number = match uid {
        Some(uid) => tx.number_by_uid(uid)?,
        None => None,
    }
    .ok_or(CoreError::NumberNotFound)?;
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
    let detail = format!(
        "{{\"cycle\":\"{}\",\"resubscribe\":{resubscribe}}}",
        cycle.as_str()
    );
    tx.record(&history(
        now,
        rid,
        Some(caller_id),
        Action::Subscribe,
        Some(number.id),
        Some(caller_id),
        &detail,
    ))?;
    Ok(OwnedNumber {
        number: Number {
            subscription: Some(sub),
            ..number
        },
        assigned_to: 0,
    })
}

/// Ends the owner's subscription: every grant on the number goes (each one
/// recorded), and the number returns to the pool. To anyone but the owner the
/// number does not exist. Answers the number's id and how many grants went.
pub fn unsubscribe(
    tx: &mut dyn Tx,
    caller_id: i64,
    uid: &str,
    now: i64,
    rid: &str,
) -> Result<(i64, usize), CoreError> {
    let number = tx.number_by_uid(uid)?.ok_or(CoreError::NumberNotFound)?;
    if number.owner_id() != Some(caller_id) {
        return Err(CoreError::NumberNotFound);
    }
    let grants = tx.grants_on(number.id)?;
    let removed = super::grants::remove_grants(
        tx,
        &grants,
        Some(caller_id),
        now,
        rid,
        Action::CascadeUnassign,
    )?;
    tx.release_number(number.id)?;
    tx.record(&history(
        now,
        rid,
        Some(caller_id),
        Action::Unsubscribe,
        Some(number.id),
        Some(caller_id),
        "{}",
    ))?;
    Ok((number.id, removed))
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

    /// `PUT /unsubscribe/:id`.
    pub async fn unsubscribe(
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
        let (number_id, removed) = self
            .store
            .write(move |tx| unsubscribe(tx, id, &uid, now, &rid))
            .await?;
        self.routes.forget(number_id);
        Business::add(&self.business.unsubscriptions, 1);
        Business::add(&self.business.cascaded_removals, removed as u64);
        Ok(())
    }

    /// `POST /purchase`: everything a card purchase would check, short of
    /// taking the payment. `Ok` means the purchase would have gone ahead.
    pub async fn check_purchase(
        &self,
        uid: &NumberUid,
        cycle: Cycle,
        product: &str,
    ) -> Result<(), CoreError> {
        let (uid, product) = (uid.to_string(), product.to_owned());
        self.store
            .read(move |tx| {
                let number = tx.number_by_uid(&uid)?.ok_or(CoreError::NumberNotFound)?;
                if product_id(&number.number, cycle) != product {
                    return Err(CoreError::InvalidProduct);
                }
                if number.subscription.is_some() {
                    return Err(CoreError::NotAvailable);
                }
                Ok(())
            })
            .await
    }

    /// `GET /available`.
    pub async fn pool(&self, filter: PoolFilter, page: Page) -> Result<Listing<Number>, CoreError> {
        self.store
            .read(move |tx| {
                let (items, total) = tx.available_numbers(&filter, page, true)?;
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
        self.store
            .read(move |tx| {
                let page = Page { offset: 0, limit };
                Ok(tx.available_numbers(&filter, page, false)?.0)
            })
            .await
    }

    /// `GET /`: the caller's own subscriptions.
    pub async fn owned(
        &self,
        caller: &Caller,
        page: Page,
    ) -> Result<Listing<OwnedNumber>, CoreError> {
        let id = caller.account.id;
        self.store
            .read(move |tx| {
                let (items, total) = tx.owned_numbers(id, page)?;
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
