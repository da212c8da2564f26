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
    AccountRename,
    /// An operator set the account's password (`admin set-password`).
    AccountPassword,
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
            Action::AccountRename => "account.rename",
            Action::AccountPassword => "account.password",
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

/// What the routing lookup reads of one number: the number, every grant on
/// it by account id (live or not), and the accounts of its owner and of
/// every grantee, in any order.
#[derive(Clone, Debug)]
pub struct RoutingRows {
    pub number: Number,
    pub grants: Vec<Grant>,
    pub accounts: Vec<Account>,
}

/// A page of the routing table's load: numbers by id, each with its
/// grants (and no accounts), and every account they name, once.
#[derive(Clone, Debug, Default)]
pub struct RoutingPage {
    pub numbers: Vec<RoutingRows>,
    pub accounts: Vec<Account>,
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
    /// The id of every history entry, in the same order.
    pub history_ids: Vec<i64>,
    /// `(history id, type)` of every event in the outbox, by event id.
    pub events: Vec<(i64, String)>,
    /// `(account id, numbers it owns plus numbers granted to it)` as the
    /// store counts them for the numbers list's total (an administrator's
    /// list counts every subscribed number instead), for every account
    /// whose count is not zero, by id.
    pub held: Vec<(i64, i64)>,
    /// `(account id, its holdings counter)`: the stored count the list's
    /// total is read from, which counts a grant until it is swept (past its
    /// end or not), for every account whose counter is not zero, by id.
    pub counters: Vec<(i64, i64)>,
    /// Grants whose copy of their number's listed columns differs from the
    /// number's (migration 0003); always 0.
    pub stale_copies: i64,
    /// The time the snapshot was read at: grants, quarantines and
    /// reservations whose end is not after it are over.
    pub at: i64,
}

/// One login attempt asking for its place in two budgets at once: the
/// username's and the client address's (issue 13). Both are counted over a
/// fixed window of `window` seconds that starts at the first strike; a
/// budget at its maximum within its window is exhausted. The claim takes a
/// strike on both budgets or on neither.
#[derive(Clone, Debug)]
pub struct BudgetClaim {
    /// `u:` and the username's key.
    pub user_key: String,
    /// `a:` and the client address.
    pub addr_key: String,
    pub now: i64,
    pub window: i64,
    pub max_user: u32,
    pub max_addr: u32,
}

/// A budget's strikes and the start of their window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetCount {
    pub count: u32,
    pub since: i64,
}

/// What a [`BudgetClaim`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClaimOutcome {
    /// The username's budget with this attempt's strike, if it took one.
    pub user: Option<BudgetCount>,
    /// The address's budget with this attempt's strike, if it took one.
    /// (Only when two attempts race at the username's last strike can the
    /// address's be taken without the username's; the caller gives it back.)
    pub addr: Option<BudgetCount>,
    /// Both budgets as they stood before (for `Retry-After`).
    pub user_before: Option<BudgetCount>,
    pub addr_before: Option<BudgetCount>,
}

/// Strikes given back once an attempt's outcome is known: the address's
/// strike (its key and window start), and the username's, which `clear`
/// resets altogether (a success).
#[derive(Clone, Debug, Default)]
pub struct BudgetRelease {
    pub addr: Option<(String, i64)>,
    pub user: Option<(String, i64)>,
    pub clear_user: bool,
}

/// A credential that was revoked (or an account suspended) somewhere, so
/// that a process which cached it forgets it (see
/// [`crate::store::Store::watch_changes`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Changed {
    /// The token or key with this digest.
    Credential(String),
    /// Every credential of this account.
    Account(i64),
    /// Anything: revocations may have been missed (the listener reconnected).
    Everything,
}

/// Who hears of changes (see [`crate::store::Store::watch_changes`]).
pub trait ChangeSink: Send + Sync {
    fn changed(&self, what: &Changed);
}

/// A token or key as its account lists it: never the secret, only its
/// digest (which the core needs to forget it from the credential cache).
#[derive(Clone, Debug)]
pub struct TokenRow {
    pub id: i64,
    pub digest: String,
    pub kind: TokenKind,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A subscribed number that a viewer holds, with the viewer's permissions,
/// as the store reads it: ids and flags only. Its uid, E.164 and country
/// never change once the number is stored, so the core keeps them apart
/// ([`NumberFacts`], cached) and makes a [`Holding`] of the two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldRow {
    pub id: i64,
    pub owner_id: i64,
    pub send: bool,
    pub gets: bool,
    /// When the viewer's grant of it ends (Unix seconds); `None` for what
    /// it owns, an administrator's view, and a grant with no end. A grant
    /// ends no later than the one it was made from, so this is when the
    /// viewer stops holding it.
    pub ends_at: Option<i64>,
}

/// What never changes about a stored number: its uid, E.164 and country
/// (no statement updates them, and numbers are never deleted), in one
/// string. Shared ([`std::sync::Arc`]) between the core's cache and the
/// pages that answer with it, so a list item costs no allocation of its own.
#[derive(Debug, PartialEq, Eq)]
pub struct NumberFacts {
    text: String,
    uid_end: usize,
    number_end: usize,
    plain: bool,
}

impl NumberFacts {
    pub fn new(uid: &str, number: &str, country: &str) -> NumberFacts {
        let mut text = String::with_capacity(uid.len() + number.len() + country.len());
        text.push_str(uid);
        text.push_str(number);
        text.push_str(country);
        let plain = crate::domain::plain_text(text.as_bytes());
        NumberFacts {
            text,
            uid_end: uid.len(),
            number_end: uid.len() + number.len(),
            plain,
        }
    }

    /// [`crate::domain::plain_text`] of the three (a uid, an E.164 and a
    /// country code always are). Only the native face's writer asks; it is
    /// kept here, found once per number, because checking each string of
    /// each item was about 185 instructions an item (callgrind).
    pub fn plain(&self) -> bool {
        self.plain
    }

    pub fn uid(&self) -> &str {
        self.text.get(..self.uid_end).unwrap_or_default()
    }

    pub fn number(&self) -> &str {
        self.text
            .get(self.uid_end..self.number_end)
            .unwrap_or_default()
    }

    pub fn country(&self) -> &str {
        self.text.get(self.number_end..).unwrap_or_default()
    }
}

/// A subscribed number that a viewer holds, with the viewer's permissions:
/// what the numbers list answers, not the whole [`Number`]. Mapping a
/// page's 51 whole rows (17 columns, six of them strings) was about a third
/// of the list's cost on SQLite, and the three strings of each row (read,
/// checked, allocated and freed) most of what was left (BENCHMARKS.md, "The
/// native list's rows" and "The native list's facts").
#[derive(Clone, Debug)]
pub struct Holding {
    pub id: i64,
    pub owner_id: i64,
    pub send: bool,
    pub gets: bool,
    /// As [`HeldRow::ends_at`].
    pub ends_at: Option<i64>,
    pub facts: std::sync::Arc<NumberFacts>,
}

impl Holding {
    /// A held number is subscribed: every statement that reads holdings
    /// reads numbers with an owner only, and an owner implies the
    /// subscription's terms (invariant 3, a `CHECK` in both schemas).
    pub fn state(&self) -> crate::domain::NumberState {
        crate::domain::NumberState::Subscribed
    }
}

/// Which of the numbers a viewer holds to list, after which id (keyset).
#[derive(Clone, Debug, Default)]
pub struct HoldingFilter {
    /// ISO alpha-2, upper case.
    pub country: Option<String>,
    /// Digits the E.164 number starts with (after the `+`).
    pub prefix: Option<String>,
    /// Digits the number contains.
    pub contains: Option<String>,
    /// Only numbers the viewer owns (`true`) or only those granted to it.
    pub owned: Option<bool>,
    /// Only numbers on which this account holds a grant.
    pub granted_to: Option<i64>,
    /// Only numbers with a greater id (the keyset cursor); 0 from the start.
    pub after_id: i64,
    /// The time grants are judged at: an ended grant confers nothing.
    pub now: i64,
}

/// Filters of the pool listing.
#[derive(Clone, Debug, Default)]
pub struct PoolFilter {
    /// ISO alpha-2, upper case.
    pub country: Option<String>,
    /// Digits the number must contain.
    pub pattern: Option<String>,
    /// Digits the number must start with (after the `+`).
    pub prefix: Option<String>,
    /// Bounds on the monthly price, inclusive, in minor units.
    pub min_monthly_price: Option<i64>,
    pub max_monthly_price: Option<i64>,
    /// Only numbers with a greater id (a keyset cursor).
    pub after_id: Option<i64>,
}

/// One page of the whole history, newest first (a number's own is read by
/// id: `Tx::history_ids_of_number`).
#[derive(Clone, Debug)]
pub struct HistoryQuery {
    /// Only entries older than this one (a keyset cursor).
    pub before_id: Option<i64>,
    /// Only entries whose actor or target lies in the subtree at this
    /// path (the account itself included); `None`: every entry.
    pub within: Option<String>,
    pub limit: i64,
}

/// A stored history entry, with the number's E.164 when it names one.
#[derive(Clone, Debug)]
pub struct HistoryRow {
    pub id: i64,
    pub at: i64,
    pub request_id: String,
    pub actor_id: Option<i64>,
    pub action: String,
    pub number_id: Option<i64>,
    pub account_id: Option<i64>,
    pub detail: String,
    pub number: Option<String>,
}

/// One event of the outbox, as a change writes it beside its history entry.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// The history entry of the same change.
    pub history_id: i64,
    pub at: i64,
    /// `number.subscribed`, `grant.removed`, ... (see `crate::core::events`).
    pub kind: &'static str,
    pub actor_id: Option<i64>,
    pub request_id: String,
    pub number_id: Option<i64>,
    pub account_id: Option<i64>,
    /// A small JSON object.
    pub data: String,
}

/// A stored event, with its number's E.164 when it names one.
#[derive(Clone, Debug)]
pub struct EventRow {
    pub id: i64,
    pub at: i64,
    pub kind: String,
    pub actor_id: Option<i64>,
    pub request_id: String,
    pub number_id: Option<i64>,
    pub account_id: Option<i64>,
    pub data: String,
    pub number: Option<String>,
}

/// [`crate::store::Tx::changes_after`]'s answer.
#[derive(Clone, Debug, Default)]
pub struct ChangesAfter {
    /// Each event's id and number.
    pub events: Vec<(i64, Option<i64>)>,
    /// The numbers of events committed and not yet sequenced.
    pub staged: Vec<Option<i64>>,
}

/// Which events to read, oldest first.
#[derive(Clone, Debug)]
pub struct EventQuery {
    /// Only events with a greater id.
    pub after_id: i64,
    /// Only events whose actor or account lies in the subtree at this path
    /// (the account itself included); `None`: every event.
    pub within: Option<String>,
    pub limit: i64,
}

/// A request's claim on an idempotency key: who, which key, and the
/// request's fingerprint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyClaim {
    pub account_id: i64,
    pub key: String,
    pub method: String,
    pub path: String,
    /// SHA-256 of the body, hex.
    pub body_hash: String,
    pub at: i64,
}

/// A stored idempotency key; `answer` is `None` while its first request runs
/// (or if that request's process died between committing and answering).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRow {
    pub method: String,
    pub path: String,
    pub body_hash: String,
    pub answer: Option<StoredAnswer>,
    pub created_at: i64,
}

/// The answer given to the first request with a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAnswer {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// A webhook endpoint as stored (its secret included: the dispatcher signs
/// with it; the faces never show it after creation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookRow {
    pub id: i64,
    pub account_id: i64,
    pub url: String,
    /// The event types wanted, space-separated; `*`: every type.
    pub types: String,
    pub description: String,
    /// The signing key, base64 (the part of `whsec_...` after the prefix).
    pub secret: String,
    /// The last event id deliveries were made from.
    pub cursor: i64,
    pub failing_since: Option<i64>,
    pub disabled_at: Option<i64>,
    pub disabled_reason: Option<String>,
    pub created_at: i64,
}

/// A new endpoint; its cursor starts at the newest event committed.
#[derive(Clone, Debug)]
pub struct NewWebhook {
    pub account_id: i64,
    pub url: String,
    pub types: String,
    pub description: String,
    pub secret: String,
    pub created_at: i64,
}

/// A claimed delivery as [`super::Tx::claimed`] reads it: the delivery, its
/// endpoint and its event (either `None` if gone).
pub type ClaimedRows = (DeliveryRow, Option<WebhookRow>, Option<EventRow>);

/// One event to one endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRow {
    pub id: i64,
    pub webhook_id: i64,
    pub event_id: i64,
    pub order_key: Option<String>,
    /// `pending`, `delivered` or `failed` (given up).
    pub state: String,
    pub attempts: i64,
    pub next_at: i64,
    pub created_at: i64,
    pub done_at: Option<i64>,
    /// The event's type.
    pub kind: String,
}

/// One try of a delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRow {
    pub delivery_id: i64,
    pub attempt: i64,
    pub at: i64,
    /// The receiver's HTTP status; `None` when none came (refused, timed out).
    pub status: Option<i64>,
    pub latency_ms: i64,
    /// The start of the receiver's answer.
    pub response: String,
    pub error: Option<String>,
}

/// What a delivery's outcome changes, written with its attempt.
#[derive(Clone, Debug)]
pub struct DeliveryUpdate {
    pub id: i64,
    /// The claim's owner: a claim another instance took over since is not
    /// changed.
    pub lease_owner: String,
    pub state: &'static str,
    pub attempts: i64,
    pub next_at: i64,
    pub done_at: Option<i64>,
}
