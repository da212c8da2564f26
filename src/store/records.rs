//! The rows the store reads and writes, as plain values, beside the
//! domain's accounts and numbers (`crate::domain`).

use crate::domain::{Account, Grant, Number, TokenKind};

/// A token or key to store (by digest only).
#[derive(Clone, Debug)]
pub struct NewToken {
    pub digest: String,
    pub account_id: i64,
    pub kind: TokenKind,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

/// A stored credential with the account it authenticates.
#[derive(Clone, Debug)]
pub struct Credential {
    pub account: Account,
    pub kind: TokenKind,
    pub expires_at: Option<i64>,
    pub revoked: bool,
}

/// What a history entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    AccountCreate,
    AccountPostpaid,
    AccountSuspend,
    NumberAdd,
    Subscribe,
    Unsubscribe,
    Assign,
    Unassign,
    /// A grant removed because the grant it came from was removed.
    CascadeUnassign,
    /// A grant's permissions or end changed by its granter or one above.
    GrantChange,
    /// A grant lowered because the grant it came from was lowered.
    CascadeChange,
    /// A grant removed at its end (or because the grant it came from ended).
    Expire,
    /// A quarantined number back in the pool (its end, or an administrator).
    Release,
    Reserve,
    ReserveExtend,
    ReserveCancel,
    /// A reservation that reached its end.
    ReserveExpire,
    TokenCreate,
    TokenRevoke,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::AccountCreate => "account.create",
            Action::AccountPostpaid => "account.postpaid",
            Action::AccountSuspend => "account.suspend",
            Action::NumberAdd => "number.add",
            Action::Subscribe => "number.subscribe",
            Action::Unsubscribe => "number.unsubscribe",
            Action::Assign => "grant.assign",
            Action::Unassign => "grant.unassign",
            Action::CascadeUnassign => "grant.cascade",
            Action::GrantChange => "grant.change",
            Action::CascadeChange => "grant.cascade_change",
            Action::Expire => "grant.expire",
            Action::Release => "number.release",
            Action::Reserve => "number.reserve",
            Action::ReserveExtend => "number.reserve_extend",
            Action::ReserveCancel => "number.reserve_cancel",
            Action::ReserveExpire => "number.reserve_expire",
            Action::TokenCreate => "token.create",
            Action::TokenRevoke => "token.revoke",
        }
    }
}

/// One line of the append-only history.
#[derive(Clone, Debug)]
pub struct HistoryEntry {
    pub at: i64,
    pub request_id: String,
    pub actor_id: Option<i64>,
    pub action: Action,
    pub number_id: Option<i64>,
    pub account_id: Option<i64>,
    /// A small JSON object with whatever else the action needs to be read back.
    pub detail: String,
}

/// A number as its holder sees it in the numbers list: the listed columns
/// only (the list is the hottest read; it reads nothing it does not show).
#[derive(Clone, Debug)]
pub struct HeldNumber {
    pub id: i64,
    pub number: String,
    pub operator_id: Option<i64>,
    pub alias: Option<String>,
    pub is_66_char: bool,
    pub send: bool,
    pub gets: bool,
    pub owned: bool,
}

/// A window of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub offset: i64,
    pub limit: i64,
}

/// The whole state that the invariants speak of.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub accounts: Vec<Account>,
    pub numbers: Vec<Number>,
    pub grants: Vec<Grant>,
    /// `(action, number_id, account_id)` of every history entry, in order.
    pub history: Vec<(String, Option<i64>, Option<i64>)>,
    /// The request id of every history entry, in the same order.
    pub request_ids: Vec<String>,
    /// `(account id, numbers it owns plus numbers granted to it)` as the
    /// store counts them for the numbers list's total (an administrator's
    /// list counts every subscribed number instead), for every account
    /// whose count is not zero, by id.
    pub held: Vec<(i64, i64)>,
    /// Grants whose copy of their number's listed columns differs from the
    /// number's (migration 0003); always 0.
    pub stale_copies: i64,
    /// The time the snapshot was read at: grants, quarantines and
    /// reservations whose end is not after it are over.
    pub at: i64,
}
