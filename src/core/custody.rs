//! Reading the custody history back, as far as a caller may see it.
//!
//! An administrator sees every entry. Anyone else sees the entries whose
//! actor or target is itself or an account of its downline (its subtree),
//! and of those only the accounts inside its subtree are named: an actor or
//! granter above it (or the platform) is `None`. So a reseller never learns
//! who held a number before it reached the reseller's tree, nor who above it
//! passed the number along.

use std::sync::Arc;

use super::grants::{NumberRef, Perms};
use super::{Caller, Core, CoreError};
use crate::store::{Account, HistoryQuery, Tx};

/// One history entry, as a caller may see it.
#[derive(Clone, Debug)]
pub struct HistoryView {
    pub id: i64,
    pub at: i64,
    pub action: String,
    pub request_id: String,
    /// `(id, E.164)` of the number it is about, if any.
    pub number: Option<(i64, String)>,
    /// Shared between the entries of a page that name the same account.
    pub actor: Option<Arc<Account>>,
    pub target: Option<Arc<Account>>,
    /// Who made the grant the entry is about (assign: the actor; a removal:
    /// the grant's maker).
    pub granted_by: Option<Arc<Account>>,
    /// The permissions granted (assign only).
    pub perms: Option<Perms>,
}

/// Entries of one page, newest first, with `before_id` the keyset cursor.
pub fn page(
    tx: &mut dyn Tx,
    viewer: &Account,
    number_id: Option<i64>,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<HistoryView>, CoreError> {
    let everything = viewer.is_admin();
    let rows = tx.history_page(&HistoryQuery {
        before_id,
        number_id,
        within: (!everything).then(|| viewer.path.clone()),
        limit,
    })?;
    // Each entry's detail read once, into the three fields a view uses
    // (an unreadable detail names nothing, as a missing field would).
    let details: Vec<Detail> = rows
        .iter()
        .map(|r| serde_json::from_str(&r.detail).unwrap_or_default())
        .collect();
    let mut ids: Vec<i64> = Vec::new();
    for (r, d) in rows.iter().zip(&details) {
        ids.extend(r.actor_id);
        ids.extend(r.account_id);
        ids.extend(d.granted_by);
    }
    ids.sort_unstable();
    ids.dedup();
    // Each account the page names, once, and only if the viewer may see it.
    let accounts: Vec<Arc<Account>> = tx
        .accounts_by_ids(&ids)?
        .into_iter()
        .filter(|a| everything || a.id == viewer.id || viewer.is_above(a))
        .map(Arc::new)
        .collect();
    let named = |id: Option<i64>| -> Option<Arc<Account>> {
        accounts.iter().find(|a| Some(a.id) == id).cloned()
    };
    Ok(rows
        .into_iter()
        .zip(details)
        .map(|(r, d)| {
            let assign = r.action == crate::store::Action::Assign.as_str();
            let granted_by = if assign { r.actor_id } else { d.granted_by };
            let perms = match (d.send, d.gets) {
                (Some(send), Some(gets)) if assign => Some(Perms { send, gets }),
                _ => None,
            };
            HistoryView {
                id: r.id,
                at: r.at,
                request_id: r.request_id,
                number: r.number_id.zip(r.number),
                actor: named(r.actor_id),
                target: named(r.account_id),
                granted_by: named(granted_by),
                perms,
                action: r.action,
            }
        })
        .collect())
}

/// What a view reads of an entry's `detail` (the rest of it is ignored).
#[derive(Default, serde::Deserialize)]
struct Detail {
    granted_by: Option<i64>,
    send: Option<bool>,
    gets: Option<bool>,
}

impl Core {
    /// The caller's history (`number: None`) or that of one number it holds
    /// (`NotVisible` otherwise), newest first, entries older than `before_id`.
    pub async fn history(
        &self,
        caller: &Caller,
        number: Option<NumberRef>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<HistoryView>, CoreError> {
        let (me, now) = (caller.account.clone(), self.clock.now());
        self.store
            .read(move |tx| {
                let number_id = match &number {
                    Some(r) => Some(super::grants::visible_number(tx, &me, r, now)?.id),
                    None => None,
                };
                page(tx, &me, number_id, before_id, limit)
            })
            .await
    }
}
