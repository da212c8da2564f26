//! The rows the store reads and writes, as plain values.

use crate::domain::TokenKind;

/// An account. Accounts form one tree; `path` lists the ids from the root down
/// to this account (`/1/5/23/`), which makes "is T below R" a prefix test and
/// a downline listing an index range, on any backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub is_reseller: bool,
    pub suspended: bool,
    pub parent_id: Option<i64>,
    pub path: String,
    pub postpaid: bool,
    pub created_at: i64,
}

impl Account {
    /// Roots of the tree are the platform's administrators.
    pub fn is_admin(&self) -> bool {
        self.parent_id.is_none()
    }

    /// Resellers and administrators may assign, unassign and create accounts.
    pub fn can_manage(&self) -> bool {
        self.is_admin() || self.is_reseller
    }

    /// Whether `other` is in this account's downline (strictly below it).
    pub fn is_above(&self, other: &Account) -> bool {
        other.id != self.id && other.path.starts_with(&self.path)
    }
}

/// An account to create. `id` is normally chosen by the database; the demo
/// world pins it so that the seed's example ids work as printed.
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub id: Option<i64>,
    pub username: String,
    pub name: String,
    pub password_hash: String,
    pub is_reseller: bool,
    pub parent: Option<(i64, String)>,
    pub postpaid: bool,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub created_at: i64,
}

/// Billing cycle of a subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cycle {
    Month,
    Year,
}

impl Cycle {
    pub fn as_str(self) -> &'static str {
        match self {
            Cycle::Month => "month",
            Cycle::Year => "year",
        }
    }

    pub fn parse(s: &str) -> Option<Cycle> {
        match s {
            "month" => Some(Cycle::Month),
            "year" => Some(Cycle::Year),
            _ => None,
        }
    }
}

/// Who subscribes to a number, and on what terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub owner_id: i64,
    pub cycle: Cycle,
    pub resubscribe: bool,
    pub subscribed_at: i64,
}

/// A phone number; `subscription` is `None` while it is in the pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Number {
    pub id: i64,
    pub uid: String,
    pub number: String,
    pub operator_id: Option<i64>,
    pub alias: Option<String>,
    pub is_66_char: bool,
    pub country: String,
    pub monthly_price: i64,
    pub yearly_price: i64,
    pub subscription: Option<Subscription>,
}

impl Number {
    pub fn owner_id(&self) -> Option<i64> {
        self.subscription.as_ref().map(|s| s.owner_id)
    }
}

/// A number to add to the pool.
#[derive(Clone, Debug)]
pub struct NewNumber {
    pub id: Option<i64>,
    pub uid: String,
    pub number: String,
    pub operator_id: Option<i64>,
    pub alias: Option<String>,
    pub is_66_char: bool,
    pub country: String,
    pub monthly_price: i64,
    pub yearly_price: i64,
}

/// The use of a number given to an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub number_id: i64,
    pub account_id: i64,
    pub granted_by: i64,
    pub send: bool,
    pub gets: bool,
    pub created_at: i64,
}

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
}
