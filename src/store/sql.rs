//! The SQL that both backends run, written once, and the row mappings they
//! share.
//!
//! Statements are written with PostgreSQL's numbered placeholders (`$1`).
//! SQLite reads `$1` as a *named* parameter and numbers named parameters by
//! first appearance, so `SET path = $2 WHERE id = $1` would bind its values
//! the wrong way round; its spelling of each statement has `?1` for `$1`
//! instead. Both spellings are made at compile time, so a statement is one
//! `&'static str` per backend, which is what the statement caches key on.
//!
//! What the dialects do differently stays in `sqlite/tx.rs` and
//! `postgres/tx.rs`, each with the reason beside it.

use crate::domain::TokenKind;
use crate::domain::{Quarantine, Reservation};
use crate::store::{
    Account, AttemptRow, Credential, Cycle, DeliveryRow, EventRow, Grant, HeldNumber, HeldRow,
    HistoryRow, KeyRow, Number, NumberFacts, RoutingRows, StoredAnswer, Subscription, TokenRow,
    WebhookRow,
};

/// One statement, spelled for each backend.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sql {
    pub(crate) postgres: &'static str,
    pub(crate) sqlite: &'static str,
}

/// The length of `parts` joined.
pub(crate) const fn joined_len(parts: &[&str]) -> usize {
    let mut len = 0;
    let mut i = 0;
    while i < parts.len() {
        len += parts[i].len();
        i += 1;
    }
    len
}

/// `parts` joined; with `sqlite`, every `$` that starts a placeholder (a `$`
/// before a digit) becomes `?`, which keeps the length.
pub(crate) const fn join<const N: usize>(parts: &[&str], sqlite: bool) -> [u8; N] {
    let mut out = [0u8; N];
    let mut at = 0;
    let mut p = 0;
    while p < parts.len() {
        let bytes = parts[p].as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let placeholder =
                bytes[i] == b'$' && i + 1 < bytes.len() && bytes[i + 1].is_ascii_digit();
            out[at] = if sqlite && placeholder {
                b'?'
            } else {
                bytes[i]
            };
            at += 1;
            i += 1;
        }
        p += 1;
    }
    assert!(at == N, "joined length mismatch");
    out
}

/// `bytes` as text; they are always joined from `&str`s with ASCII swapped
/// for ASCII, so this cannot fail.
pub(crate) const fn text(bytes: &'static [u8]) -> &'static str {
    match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(_) => panic!("SQL text is not UTF-8"),
    }
}

/// String constants joined at compile time into one `&'static str`;
/// `sqlite;` first spells the placeholders `?N`.
macro_rules! concat_sql {
    (sqlite; $($part:expr),+ $(,)?) => {
        $crate::store::sql::concat_sql!(@ true; $($part),+)
    };
    (@ $sqlite:expr; $($part:expr),+) => {{
        const PARTS: &[&str] = &[$($part),+];
        const BYTES: [u8; $crate::store::sql::joined_len(PARTS)] =
            $crate::store::sql::join(PARTS, $sqlite);
        const TEXT: &str = $crate::store::sql::text(&BYTES);
        TEXT
    }};
    ($($part:expr),+ $(,)?) => {
        $crate::store::sql::concat_sql!(@ false; $($part),+)
    };
}
pub(crate) use concat_sql;

/// A statement both dialects agree on, written with `$N` placeholders.
macro_rules! shared {
    ($($part:expr),+ $(,)?) => {
        Sql {
            postgres: concat_sql!($($part),+),
            sqlite: concat_sql!(sqlite; $($part),+),
        }
    };
}

/// The columns [`account`] reads, in its order, from `accounts a`.
pub(crate) const ACCOUNT_COLS: &str = "a.id, a.username, a.name, a.is_reseller, a.suspended, \
     a.parent_id, a.path, a.postpaid, a.created_at";

/// The columns [`number`] reads, in its order, from `numbers n`.
pub(crate) const NUMBER_COLS: &str = "n.id, n.uid, n.number, n.operator_id, n.alias, \
     n.is_66_char, n.country, n.monthly_price, n.yearly_price, n.owner_id, n.cycle, \
     n.resubscribe, n.subscribed_at, n.former_owner_id, n.quarantine_until, n.reserved_by, \
     n.reserved_until";

/// The columns [`holding`] reads first, in its order, from `numbers n`; its
/// permissions and the viewer's grant's end follow them (and
/// `HOLDINGS_HELD_IDS_FIRST` spells the same five by hand, per arm). The
/// number's facts are not among them: the core has them cached, or asks
/// for them by id (`Tx::number_facts`).
pub(crate) const HOLDING_COLS: &str = "n.id, n.owner_id";

/// The columns [`number_facts`] reads, from `numbers n`.
pub(crate) const NUMBER_FACTS_COLS: &str = "n.id, n.uid, n.number, n.country";

/// The columns [`grant`] reads, in its order, from `grants`.
pub(crate) const GRANT_COLS: &str =
    "number_id, account_id, granted_by, send, gets, created_at, expires_at";

pub(crate) const COUNT_ACCOUNTS: Sql = shared!("SELECT count(*) FROM accounts");
pub(crate) const ACCOUNT_BY_ID: Sql =
    shared!("SELECT ", ACCOUNT_COLS, " FROM accounts a WHERE a.id = $1");
pub(crate) const ACCOUNT_BY_USERNAME: Sql = shared!(
    "SELECT ",
    ACCOUNT_COLS,
    " FROM accounts a WHERE a.username_key = $1"
);
pub(crate) const PASSWORD_HASH: Sql = shared!("SELECT password_hash FROM accounts WHERE id = $1");
/// An account's path names its own id, which the insert has only just chosen.
pub(crate) const SET_PATH: Sql = shared!("UPDATE accounts SET path = $2 WHERE id = $1");
pub(crate) const SET_POSTPAID: Sql = shared!("UPDATE accounts SET postpaid = $2 WHERE id = $1");
pub(crate) const SET_SUSPENDED: Sql = shared!("UPDATE accounts SET suspended = $2 WHERE id = $1");

pub(crate) const NUMBER_BY_ID: Sql =
    shared!("SELECT ", NUMBER_COLS, " FROM numbers n WHERE n.id = $1");
pub(crate) const NUMBER_BY_E164: Sql = shared!(
    "SELECT ",
    NUMBER_COLS,
    " FROM numbers n WHERE n.number = $1"
);
pub(crate) const NUMBER_BY_UID: Sql =
    shared!("SELECT ", NUMBER_COLS, " FROM numbers n WHERE n.uid = $1");
/// Ends any quarantine or reservation the number carries: the core has
/// decided, under the number's lock, that the subscriber may take it.
pub(crate) const SUBSCRIBE_NUMBER: Sql = shared!(
    "UPDATE numbers SET owner_id = $2, cycle = $3, resubscribe = $4, subscribed_at = $5, \
       former_owner_id = NULL, quarantine_until = NULL, reserved_by = NULL, reserved_until = NULL \
     WHERE id = $1 AND owner_id IS NULL"
);
pub(crate) const RELEASE_NUMBER: Sql = shared!(
    "UPDATE numbers SET owner_id = NULL, cycle = NULL, resubscribe = FALSE, subscribed_at = NULL, \
       former_owner_id = NULL, quarantine_until = NULL, reserved_by = NULL, reserved_until = NULL \
     WHERE id = $1"
);
pub(crate) const QUARANTINE_NUMBER: Sql = shared!(
    "UPDATE numbers SET owner_id = NULL, cycle = NULL, resubscribe = FALSE, subscribed_at = NULL, \
       former_owner_id = $2, quarantine_until = $3, reserved_by = NULL, reserved_until = NULL \
     WHERE id = $1"
);
/// Conditional, so that of several sweepers racing for one number exactly
/// one changes it (the others wait for its row lock, then match nothing).
pub(crate) const END_QUARANTINE: Sql = shared!(
    "UPDATE numbers SET former_owner_id = NULL, quarantine_until = NULL \
     WHERE id = $1 AND quarantine_until IS NOT NULL AND quarantine_until <= $2"
);
/// As [`END_QUARANTINE`].
pub(crate) const END_RESERVATION: Sql = shared!(
    "UPDATE numbers SET reserved_by = NULL, reserved_until = NULL \
     WHERE id = $1 AND reserved_until IS NOT NULL AND reserved_until <= $2"
);
pub(crate) const RESERVE_NUMBER: Sql = shared!(
    "UPDATE numbers SET reserved_by = $2, reserved_until = $3 WHERE id = $1 AND owner_id IS NULL"
);
pub(crate) const COUNT_RESERVATIONS: Sql =
    shared!("SELECT count(*) FROM numbers WHERE reserved_by = $1 AND reserved_until > $2");
pub(crate) const RESERVATIONS_OF: Sql = shared!(
    "SELECT ",
    NUMBER_COLS,
    " FROM numbers n WHERE n.reserved_by = $1 AND n.reserved_until > $2 ORDER BY n.id"
);
/// The sweeper's queues: ids above `$2` of numbers with something due at
/// `$1`, at most `$3` of them, in id order (the order every writer locks numbers in).
pub(crate) const DUE_GRANTS: Sql = shared!(
    "SELECT DISTINCT number_id FROM grants WHERE expires_at IS NOT NULL AND expires_at <= $1 \
     AND number_id > $2 ORDER BY number_id LIMIT $3"
);
pub(crate) const DUE_QUARANTINES: Sql = shared!(
    "SELECT id FROM numbers WHERE quarantine_until IS NOT NULL AND quarantine_until <= $1 \
     AND id > $2 ORDER BY id LIMIT $3"
);
pub(crate) const DUE_RESERVATIONS: Sql = shared!(
    "SELECT id FROM numbers WHERE reserved_until IS NOT NULL AND reserved_until <= $1 \
     AND id > $2 ORDER BY id LIMIT $3"
);

pub(crate) const GRANTS_ON: Sql = shared!(
    "SELECT ",
    GRANT_COLS,
    " FROM grants WHERE number_id = $1 ORDER BY account_id"
);
/// With a copy of the number's listed columns (migration 0003); inserts
/// nothing if the number is missing.
pub(crate) const INSERT_GRANT: Sql = shared!(
    "INSERT INTO grants (number_id, account_id, granted_by, send, gets, created_at, \
       expires_at, number, operator_id, alias, is_66_char) \
     SELECT $1, $2, $3, $4, $5, $6, $7, n.number, n.operator_id, n.alias, n.is_66_char \
     FROM numbers n WHERE n.id = $1"
);
pub(crate) const UPDATE_GRANT: Sql = shared!(
    "UPDATE grants SET send = $3, gets = $4, expires_at = $5 WHERE number_id = $1 AND account_id = $2"
);
pub(crate) const DELETE_GRANT: Sql =
    shared!("DELETE FROM grants WHERE number_id = $1 AND account_id = $2");

/// The routing lookup's reads in one statement, so that they are one
/// snapshot with no transaction around it (and on PostgreSQL one round
/// trip): the number with its owner's account (columns 24 on, NULL for a
/// pool number) and no grant, then each grant on it (columns 17-23) with its
/// account, by account id, and NULL for the number's columns (the grants
/// arm finds the number's id in the `number` index alone and reads no
/// number row). Read by [`routing_row`]. PostgreSQL needs the first arm's
/// NULLs typed; SQLite has no `::` casts and needs none.
pub(crate) const ROUTING_ROWS: Sql = Sql {
    postgres: concat_sql!(
        "SELECT ",
        NUMBER_COLS,
        ", NULL::bigint, NULL::bigint, NULL::bigint, NULL::boolean, NULL::boolean, NULL::bigint, \
           NULL::bigint, ",
        ACCOUNT_COLS,
        ROUTING_FIRST_ARM,
        ROUTING_NO_NUMBER,
        ROUTING_GRANT_COLS,
        ACCOUNT_COLS,
        ROUTING_GRANT_ARM
    ),
    sqlite: concat_sql!(
        sqlite;
        "SELECT ",
        NUMBER_COLS,
        ", NULL, NULL, NULL, NULL, NULL, NULL, NULL, ",
        ACCOUNT_COLS,
        ROUTING_FIRST_ARM,
        ROUTING_NO_NUMBER,
        ROUTING_GRANT_COLS,
        ACCOUNT_COLS,
        ROUTING_GRANT_ARM
    ),
};
const ROUTING_FIRST_ARM: &str = " FROM numbers n LEFT JOIN accounts a ON a.id = n.owner_id \
     WHERE n.number = $1 UNION ALL SELECT ";
/// In place of [`NUMBER_COLS`] in the grants arm (the types come from the
/// first arm).
const ROUTING_NO_NUMBER: &str = "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
     NULL, NULL, NULL, NULL, NULL, NULL, NULL";
const ROUTING_GRANT_COLS: &str =
    ", g.number_id, g.account_id, g.granted_by, g.send, g.gets, g.created_at, g.expires_at, ";
const ROUTING_GRANT_ARM: &str = " FROM grants g JOIN accounts a ON a.id = g.account_id \
     WHERE g.number_id = (SELECT n.id FROM numbers n WHERE n.number = $1) \
     ORDER BY 19 NULLS FIRST";

/// Adds one row of [`ROUTING_ROWS`] to `into`: the first row (the number's
/// own) makes it, each later one is a grant.
pub(crate) fn routing_row<R: Columns + ?Sized>(
    r: &R,
    into: &mut Option<RoutingRows>,
) -> Result<(), R::Error> {
    // The owner's row has no account for a pool number.
    let account = match r.col::<Option<i64>>(24)? {
        Some(_) => Some(account(&Shifted(r, 24))?),
        None => None,
    };
    match into {
        None => {
            *into = Some(RoutingRows {
                number: number(r)?,
                grants: Vec::new(),
                accounts: account.into_iter().collect(),
            })
        }
        Some(rows) => {
            rows.grants.push(grant(&Shifted(r, 17))?);
            rows.accounts.extend(account);
        }
    }
    Ok(())
}

/// The routing table's load (`Tx::routing_range`): the grants on the
/// numbers of ids in `($1, $2]`, by number and account (the numbers are
/// [`NUMBERS_AFTER`]'s; their accounts are then read by id, once a page).
pub(crate) const ROUTING_RANGE_GRANTS: Sql = shared!(
    "SELECT ",
    GRANT_COLS,
    " FROM grants WHERE number_id > $1 AND number_id <= $2 ORDER BY number_id, account_id"
);

/// Files each grant (by number id, as both are ordered) with its number;
/// answers the page and the ids of every account it names, once each.
pub(crate) fn routing_range(
    numbers: Vec<Number>,
    grants: Vec<Grant>,
) -> (Vec<RoutingRows>, Vec<i64>) {
    let mut ids: Vec<i64> = numbers.iter().filter_map(Number::owner_id).collect();
    ids.extend(grants.iter().map(|g| g.account_id));
    ids.sort_unstable();
    ids.dedup();
    let mut page: Vec<RoutingRows> = numbers
        .into_iter()
        .map(|number| RoutingRows {
            number,
            grants: Vec::new(),
            accounts: Vec::new(),
        })
        .collect();
    let mut at = 0;
    for grant in grants {
        while page.get(at).is_some_and(|n| n.number.id < grant.number_id) {
            at += 1;
        }
        match page.get_mut(at) {
            Some(rows) if rows.number.id == grant.number_id => rows.grants.push(grant),
            Some(_) => {}
            None => break,
        }
    }
    (page, ids)
}

pub(crate) const INSERT_TOKEN: Sql = shared!(
    "INSERT INTO tokens (digest, account_id, kind, created_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5)"
);
/// Read by [`credential`].
pub(crate) const CREDENTIAL: Sql = shared!(
    "SELECT ",
    ACCOUNT_COLS,
    ", t.kind, t.expires_at, t.revoked_at IS NOT NULL \
     FROM tokens t JOIN accounts a ON a.id = t.account_id WHERE t.digest = $1"
);
pub(crate) const REVOKE_TOKEN: Sql =
    shared!("UPDATE tokens SET revoked_at = $2 WHERE digest = $1 AND revoked_at IS NULL");

pub(crate) const RECORD: Sql = shared!(
    "INSERT INTO history (at, request_id, actor_id, action, number_id, account_id, detail) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id"
);

pub(crate) const INSERT_EVENT: Sql = shared!(
    "INSERT INTO events (history_id, at, type, actor_id, request_id, number_id, account_id, data) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
);

/// Events after id `$1` whose actor or account has a path in `[$2, $3)`
/// (none given: every event), oldest first, at most `$4`; read by
/// [`event_row`].
pub(crate) const EVENTS_AFTER: Sql = shared!(
    "SELECT e.id, e.at, e.type, e.actor_id, e.request_id, e.number_id, e.account_id, \
       e.data, n.number \
     FROM events e LEFT JOIN numbers n ON n.id = e.number_id \
     WHERE e.id > $1 \
       AND (CAST($2 AS TEXT) IS NULL \
         OR EXISTS (SELECT 1 FROM accounts a WHERE a.id = e.account_id \
                    AND a.path >= $2 AND a.path < $3) \
         OR EXISTS (SELECT 1 FROM accounts a WHERE a.id = e.actor_id \
                    AND a.path >= $2 AND a.path < $3)) \
     ORDER BY e.id LIMIT $4"
);
/// Events past the retention (`at < $1`), but none that an endpoint still
/// has to deliver or has not made its deliveries of yet (its cursor is
/// behind), and none that a publisher has not published, unless that
/// publisher has not been seen for the whole retention (its lease ran out
/// before `$1`: a publisher taken out of service does not hold the outbox
/// for ever).
pub(crate) const PRUNE_EVENTS: Sql = shared!(
    "DELETE FROM events WHERE at < $1 \
       AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d \
         WHERE d.event_id = events.id AND d.state = 'pending') \
       AND NOT EXISTS (SELECT 1 FROM webhooks w \
         WHERE w.disabled_at IS NULL AND w.cursor < events.id) \
       AND NOT EXISTS (SELECT 1 FROM event_cursors c \
         WHERE c.cursor < events.id AND c.lease_until > $1)"
);
pub(crate) const ALL_EVENTS: Sql = shared!("SELECT history_id, type FROM events ORDER BY id");
/// An event's columns as [`event_row`] reads them, from `events e LEFT
/// JOIN numbers n ON n.id = e.number_id`.
pub(crate) const EVENT_COLS: &str = "e.id, e.at, e.type, e.actor_id, e.request_id, e.number_id, \
     e.account_id, e.data, n.number";
/// One event, read by [`event_row`].
pub(crate) const EVENT_BY_ID: Sql = shared!(
    "SELECT ",
    EVENT_COLS,
    " FROM events e LEFT JOIN numbers n ON n.id = e.number_id WHERE e.id = $1"
);

pub(crate) const WEBHOOK_COLS: &str = "id, account_id, url, types, description, secret, cursor, \
     failing_since, disabled_at, disabled_reason, created_at";
/// A new endpoint, its cursor at the newest committed event; answers its id.
pub(crate) const INSERT_WEBHOOK: Sql = shared!(
    "INSERT INTO webhooks (account_id, url, types, description, secret, cursor, created_at) \
     VALUES ($1, $2, $3, $4, $5, (SELECT COALESCE(MAX(id), 0) FROM events), $6) RETURNING id"
);
pub(crate) const WEBHOOK_BY_ID: Sql =
    shared!("SELECT ", WEBHOOK_COLS, " FROM webhooks WHERE id = $1");
pub(crate) const WEBHOOKS_OF: Sql = shared!(
    "SELECT ",
    WEBHOOK_COLS,
    " FROM webhooks WHERE account_id = $1 ORDER BY id"
);
/// The enabled endpoints, for the fan-out; on PostgreSQL each is locked, and
/// one another instance is fanning out is skipped.
const ENABLED_WEBHOOKS_BODY: &str = concat_sql!(
    "SELECT ",
    WEBHOOK_COLS,
    " FROM webhooks WHERE disabled_at IS NULL ORDER BY cursor, id LIMIT $1"
);
pub(crate) const ENABLED_WEBHOOKS: Sql = Sql {
    postgres: concat_sql!(ENABLED_WEBHOOKS_BODY, " FOR UPDATE SKIP LOCKED"),
    sqlite: concat_sql!(sqlite; ENABLED_WEBHOOKS_BODY),
};
pub(crate) const UPDATE_WEBHOOK: Sql = shared!(
    "UPDATE webhooks SET url = $2, types = $3, description = $4, cursor = $5, \
       failing_since = $6, disabled_at = $7, disabled_reason = $8 WHERE id = $1"
);
pub(crate) const DELETE_WEBHOOK_ATTEMPTS: Sql = shared!(
    "DELETE FROM webhook_attempts WHERE delivery_id IN \
       (SELECT id FROM webhook_deliveries WHERE webhook_id = $1)"
);
pub(crate) const DELETE_WEBHOOK_DELIVERIES: Sql =
    shared!("DELETE FROM webhook_deliveries WHERE webhook_id = $1");
pub(crate) const DELETE_WEBHOOK: Sql = shared!("DELETE FROM webhooks WHERE id = $1");
pub(crate) const INSERT_DELIVERY: Sql = shared!(
    "INSERT INTO webhook_deliveries \
       (webhook_id, event_id, order_key, state, attempts, next_at, lease_until, created_at) \
     VALUES ($1, $2, $3, 'pending', 0, $4, 0, $4) ON CONFLICT DO NOTHING"
);
/// Pending deliveries due at `$1`, unclaimed (or whose claim ran out), to
/// enabled endpoints, and first of their order key among the pending ones:
/// a later event for a number waits for the earlier one, even while
/// another instance holds the earlier one's claim. At most `$2`, oldest
/// first; on PostgreSQL locked, skipping those another claim is taking.
const CLAIMABLE_BODY: &str = "SELECT d.id FROM webhook_deliveries d \
     JOIN webhooks w ON w.id = d.webhook_id \
     WHERE d.state = 'pending' AND d.next_at <= $1 AND d.lease_until <= $1 \
       AND w.disabled_at IS NULL \
       AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p \
         WHERE p.webhook_id = d.webhook_id AND p.order_key = d.order_key \
           AND p.state = 'pending' AND p.event_id < d.event_id) \
     ORDER BY d.event_id LIMIT $2";
pub(crate) const CLAIMABLE: Sql = Sql {
    postgres: concat_sql!(CLAIMABLE_BODY, " FOR UPDATE OF d SKIP LOCKED"),
    sqlite: concat_sql!(sqlite; CLAIMABLE_BODY),
};
pub(crate) const LEASE_DELIVERY: Sql =
    shared!("UPDATE webhook_deliveries SET lease_owner = $2, lease_until = $3 WHERE id = $1");
pub(crate) const DELIVERY_COLS: &str = "d.id, d.webhook_id, d.event_id, d.order_key, d.state, d.attempts, \
     d.next_at, d.created_at, d.done_at, e.type";
pub(crate) const DELIVERY_BY_ID: Sql = shared!(
    "SELECT ",
    DELIVERY_COLS,
    " FROM webhook_deliveries d LEFT JOIN events e ON e.id = d.event_id WHERE d.id = $1"
);
/// One endpoint's deliveries with an id below `$2`, newest first, at most `$3`.
pub(crate) const DELIVERIES_OF: Sql = shared!(
    "SELECT ",
    DELIVERY_COLS,
    " FROM webhook_deliveries d LEFT JOIN events e ON e.id = d.event_id \
     WHERE d.webhook_id = $1 AND d.id < $2 ORDER BY d.id DESC LIMIT $3"
);
pub(crate) const ATTEMPTS_OF: Sql = shared!(
    "SELECT delivery_id, attempt, at, status, latency_ms, response, error \
     FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt"
);
pub(crate) const INSERT_ATTEMPT: Sql = shared!(
    "INSERT INTO webhook_attempts (delivery_id, attempt, at, status, latency_ms, response, error) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)"
);
/// A claimed delivery's outcome, only while the claim is still `$2`'s.
pub(crate) const FINISH_DELIVERY: Sql = shared!(
    "UPDATE webhook_deliveries SET state = $3, attempts = $4, next_at = $5, done_at = $6, \
       lease_owner = NULL, lease_until = 0 \
     WHERE id = $1 AND lease_owner = $2 AND state = 'pending'"
);
/// Back to pending, due at `$2`, for another round of attempts.
pub(crate) const RETRY_DELIVERY: Sql = shared!(
    "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_at = $2, done_at = NULL, \
       lease_owner = NULL, lease_until = 0 WHERE id = $1"
);
pub(crate) const PRUNE_ATTEMPTS: Sql = shared!(
    "DELETE FROM webhook_attempts WHERE delivery_id IN \
       (SELECT id FROM webhook_deliveries WHERE state <> 'pending' AND done_at < $1)"
);
pub(crate) const PRUNE_DELIVERIES: Sql =
    shared!("DELETE FROM webhook_deliveries WHERE state <> 'pending' AND done_at < $1");

pub(crate) const INSERT_CURSOR: Sql = shared!(
    "INSERT INTO event_cursors (name, cursor, lease_until) VALUES ($1, 0, 0) ON CONFLICT DO NOTHING"
);
/// Takes (or renews) a publisher's lease: `$2` until `$4`, if it is free at
/// `$3` or `$2`'s already; answers the cursor.
pub(crate) const CLAIM_CURSOR: Sql = shared!(
    "UPDATE event_cursors SET lease_owner = $2, lease_until = $4 \
     WHERE name = $1 AND (lease_owner = $2 OR lease_until <= $3) RETURNING cursor"
);
pub(crate) const ADVANCE_CURSOR: Sql = shared!(
    "UPDATE event_cursors SET cursor = $3 WHERE name = $1 AND lease_owner = $2 AND cursor < $3"
);
pub(crate) const MAX_EVENT_ID: Sql = shared!("SELECT COALESCE(MAX(id), 0) FROM events");
pub(crate) const SET_WEBHOOK_CURSOR: Sql =
    shared!("UPDATE webhooks SET cursor = $2 WHERE id = $1 AND cursor < $2");
pub(crate) const WEBHOOK_SUCCEEDED: Sql =
    shared!("UPDATE webhooks SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL");
pub(crate) const WEBHOOK_FAILED: Sql =
    shared!("UPDATE webhooks SET failing_since = COALESCE(failing_since, $2) WHERE id = $1");
/// Disables an enabled endpoint failing since `$4` or earlier.
pub(crate) const WEBHOOK_DISABLE_FAILING: Sql = shared!(
    "UPDATE webhooks SET disabled_at = $2, disabled_reason = $3 \
     WHERE id = $1 AND disabled_at IS NULL AND failing_since <= $4"
);
/// Whether the dispatcher has anything to do at `$1`: an enabled endpoint
/// behind the newest event, or a due, unclaimed delivery to one.
pub(crate) const WEBHOOK_WORK: Sql = shared!(
    "SELECT (SELECT count(*) FROM webhooks w WHERE w.disabled_at IS NULL \
         AND w.cursor < (SELECT COALESCE(MAX(id), 0) FROM events)) \
     + (SELECT count(*) FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
         WHERE d.state = 'pending' AND d.next_at <= $1 AND d.lease_until <= $1 \
           AND w.disabled_at IS NULL)"
);

pub(crate) const HISTORY_IDS: Sql = shared!("SELECT id FROM history ORDER BY id");

pub(crate) const KEY_ROW: Sql = shared!(
    "SELECT method, path, body_hash, status, content_type, response, created_at \
     FROM idempotency WHERE account_id = $1 AND key = $2"
);
pub(crate) const CLAIM_KEY: Sql = shared!(
    "INSERT INTO idempotency (account_id, key, method, path, body_hash, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
);
pub(crate) const ANSWER_KEY: Sql = shared!(
    "UPDATE idempotency SET status = $3, content_type = $4, response = $5 \
     WHERE account_id = $1 AND key = $2 AND status IS NULL"
);
pub(crate) const PRUNE_KEYS: Sql = shared!("DELETE FROM idempotency WHERE created_at < $1");

/// Every subscribed number as `$1` lists it, read by [`held_number`]. The
/// numbers list is the hottest read: its statements read only the listed
/// columns.
pub(crate) const SUBSCRIBED: Sql = shared!(
    "SELECT n.id, n.number, n.operator_id, n.alias, n.is_66_char, TRUE, TRUE, n.owner_id = $1 \
     FROM numbers n WHERE n.owner_id IS NOT NULL ORDER BY n.id LIMIT $2 OFFSET $3"
);
pub(crate) const COUNT_SUBSCRIBED: Sql =
    shared!("SELECT count(*) FROM numbers WHERE owner_id IS NOT NULL");

/// A page of the numbers `$1` owns, each with its number of grants live at
/// `$4` (read by [`number`], then column 17).
pub(crate) const OWNED: Sql = shared!(
    "SELECT ",
    NUMBER_COLS,
    ", (SELECT count(*) FROM grants g WHERE g.number_id = n.id \
        AND (g.expires_at IS NULL OR g.expires_at > $4)) \
     FROM numbers n WHERE n.owner_id = $1 ORDER BY n.id LIMIT $2 OFFSET $3"
);
pub(crate) const COUNT_OWNED: Sql = shared!("SELECT count(*) FROM numbers WHERE owner_id = $1");

pub(crate) const ALL_ACCOUNTS: Sql =
    shared!("SELECT ", ACCOUNT_COLS, " FROM accounts a ORDER BY a.id");
pub(crate) const ALL_NUMBERS: Sql =
    shared!("SELECT ", NUMBER_COLS, " FROM numbers n ORDER BY n.id");
pub(crate) const ALL_GRANTS: Sql = shared!(
    "SELECT ",
    GRANT_COLS,
    " FROM grants ORDER BY number_id, account_id"
);
pub(crate) const ALL_HISTORY: Sql =
    shared!("SELECT action, number_id, account_id, request_id FROM history ORDER BY id");
/// Grants whose copy of their number's listed columns went stale.
pub(crate) const STALE_COPIES: Sql = shared!(
    "SELECT count(*) FROM grants g JOIN numbers n ON n.id = g.number_id \
     WHERE g.number IS DISTINCT FROM n.number OR g.operator_id IS DISTINCT FROM n.operator_id \
        OR g.alias IS DISTINCT FROM n.alias OR g.is_66_char IS DISTINCT FROM n.is_66_char"
);

pub(crate) const SET_NAME: Sql = shared!("UPDATE accounts SET name = $2 WHERE id = $1");

/// The operator's command line (`admin accounts`, `numbers`, `export-numbers`):
/// keyset pages of every row, by id, after `$1`, at most `$2`.
pub(crate) const ACCOUNTS_AFTER: Sql = shared!(
    "SELECT ",
    ACCOUNT_COLS,
    " FROM accounts a WHERE a.id > $1 ORDER BY a.id LIMIT $2"
);
pub(crate) const NUMBERS_AFTER: Sql = shared!(
    "SELECT ",
    NUMBER_COLS,
    " FROM numbers n WHERE n.id > $1 ORDER BY n.id LIMIT $2"
);
pub(crate) const SET_PASSWORD_HASH: Sql =
    shared!("UPDATE accounts SET password_hash = $2 WHERE id = $1");
/// A token by id, read by [`token_row`], its account's id last.
pub(crate) const TOKEN_BY_ID: Sql = shared!(
    "SELECT id, digest, kind, created_at, expires_at, revoked_at, account_id FROM tokens \
     WHERE id = $1"
);

/// Read by [`token_row`].
pub(crate) const TOKENS_OF: Sql = shared!(
    "SELECT id, digest, kind, created_at, expires_at, revoked_at FROM tokens \
     WHERE account_id = $1 ORDER BY id"
);

/// What `$1` holds (everything subscribed when `$2`: the administrator's
/// statement; anyone else's is [`HOLDINGS_HELD`]), after id `$3`, by id,
/// at most `$9`; read by [`holding`]. Country `$4`, `LIKE` patterns `$5`
/// (prefix) and `$6` (contains) of digits only, owned `$7`, granted to `$8`.
/// Both dialects read `CAST(NULL AS ...)` and `TRUE` alike.
pub(crate) const HOLDINGS: Sql = shared!(
    "SELECT ",
    HOLDING_COLS,
    ", CASE WHEN CAST($2 AS BOOLEAN) OR n.owner_id = $1 THEN TRUE ELSE g.send END, \
       CASE WHEN CAST($2 AS BOOLEAN) OR n.owner_id = $1 THEN TRUE ELSE g.gets END, \
       CASE WHEN CAST($2 AS BOOLEAN) OR n.owner_id = $1 THEN CAST(NULL AS BIGINT) \
         ELSE g.expires_at END \
     FROM numbers n LEFT JOIN grants g ON g.number_id = n.id AND g.account_id = $1 \
          AND (g.expires_at IS NULL OR g.expires_at > $10) \
     WHERE n.owner_id IS NOT NULL \
       AND (CAST($2 AS BOOLEAN) OR n.owner_id = $1 OR g.account_id IS NOT NULL) \
       AND n.id > $3 \
       AND (CAST($4 AS TEXT) IS NULL OR n.country = $4) \
       AND (CAST($5 AS TEXT) IS NULL OR n.number LIKE $5) \
       AND (CAST($6 AS TEXT) IS NULL OR n.number LIKE $6) \
       AND (CAST($7 AS BOOLEAN) IS NULL OR (n.owner_id = $1) = CAST($7 AS BOOLEAN)) \
       AND (CAST($8 AS BIGINT) IS NULL OR EXISTS \
            (SELECT 1 FROM grants x WHERE x.number_id = n.id AND x.account_id = $8 \
             AND (x.expires_at IS NULL OR x.expires_at > $10))) \
     ORDER BY n.id LIMIT $9"
);

/// The filters of [`HOLDINGS_HELD`]'s arms on the numbers table aliased
/// `$a`: country `$4`, prefix `$5`, contains `$6`, granted to `$8` (live at
/// `$10`).
macro_rules! holding_filters {
    ($a:literal) => {
        concat!(
            " AND (CAST($4 AS TEXT) IS NULL OR ",
            $a,
            ".country = $4) \
             AND (CAST($5 AS TEXT) IS NULL OR ",
            $a,
            ".number LIKE $5) \
             AND (CAST($6 AS TEXT) IS NULL OR ",
            $a,
            ".number LIKE $6) \
             AND (CAST($8 AS BIGINT) IS NULL OR EXISTS \
                  (SELECT 1 FROM grants x WHERE x.number_id = ",
            $a,
            ".id AND x.account_id = $8 \
                   AND (x.expires_at IS NULL OR x.expires_at > $10)))"
        )
    };
}

/// [`HOLDINGS`] for a caller that is not an administrator (`$2` false; its
/// own statement, as a prepared plan cannot depend on `$2`), in the numbers
/// list's two-arm shape: what `$1` owns, a range of `numbers_holder`
/// (owner_id, id), and what it was granted, a range of `grants_holder`
/// (account_id, number_id), each in the order of its index and stopped at
/// the page's end, then merged. The single-arm form walked every subscribed
/// number by id and kept the caller's, so a holder of 10 numbers among
/// 100,000 read them all; a page now costs the same whatever the caller and
/// the others hold. `$7` (owned) picks the arms; a grant is never on a
/// number its holder owns.
///
/// The owned arm picks the page's ids from `numbers_holder` alone (an
/// index-only range) before it reads their rows: asked for whole rows in id
/// order, PostgreSQL's custom plan for a holder of 100,000 numbers walked
/// `numbers_pkey` and filtered on the owner (it estimates a big holder's
/// numbers spread over the table; the bench's come last: 100,000 rows
/// skipped, 100 ms a page).
pub(crate) const HOLDINGS_HELD: Sql = shared!(
    "SELECT * FROM (SELECT ",
    HOLDING_COLS,
    ", TRUE AS send, TRUE AS gets, CAST(NULL AS BIGINT) AS ends_at \
       FROM numbers n WHERE n.id IN (SELECT m.id FROM numbers m \
       WHERE m.owner_id = $1 AND NOT CAST($2 AS BOOLEAN) AND m.id > $3 \
         AND (CAST($7 AS BOOLEAN) IS NULL OR CAST($7 AS BOOLEAN))",
    holding_filters!("m"),
    " ORDER BY m.owner_id, m.id LIMIT $9) \
     UNION ALL \
     SELECT * FROM (SELECT ",
    HOLDING_COLS,
    ", g.send, g.gets, g.expires_at FROM grants g JOIN numbers n ON n.id = g.number_id \
       WHERE g.account_id = $1 AND NOT CAST($2 AS BOOLEAN) AND g.number_id > $3 \
         AND (g.expires_at IS NULL OR g.expires_at > $10) AND n.owner_id IS NOT NULL \
         AND (CAST($7 AS BOOLEAN) IS NULL OR NOT CAST($7 AS BOOLEAN))",
    holding_filters!("n"),
    " ORDER BY g.account_id, g.number_id LIMIT $9) AS granted) AS held \
     ORDER BY 1 LIMIT $9"
);

/// [`HOLDINGS_HELD`] as SQLite runs it best: the page's ids (with their
/// owner and permissions) from the two index ranges, merged and cut to the
/// page; the owned arm is an index-only range of `numbers_holder` (the
/// number's row is read only for a filter on its country or E.164), and no
/// number's row is read for its facts, which the core has cached
/// (`core::facts`). The compound's own `ORDER BY ...
/// LIMIT` (no `ORDER BY` or `LIMIT` in the arms) lets SQLite run it as a
/// `MERGE (UNION ALL)` of the two ranges, each already in id order
/// (`numbers_holder` (owner_id, id), `grants_holder` (account_id,
/// number_id)), which stops once the page is full; with a `LIMIT` in each arm
/// it copied each arm's rows through a co-routine and sorted them all in a
/// temporary B-tree. [`HOLDINGS_HELD`]'s shape had SQLite sort the two arms'
/// whole rows (up to twice the page of 19 columns): about 480,000
/// instructions in `sqlite3_step` for a page of 50, against about 277,000 for
/// the ids first with a sort, and about 128,000 for the merge (callgrind,
/// BENCHMARKS.md); reading each number's row for its facts besides was
/// about 1,000 more an item. The store sorts the page by id all the same
/// rather than rely on a plan. PostgreSQL keeps [`HOLDINGS_HELD`], whose
/// plans were measured there.
pub(crate) const HOLDINGS_HELD_IDS_FIRST: Sql = shared!(
    "SELECT m.id AS id, m.owner_id AS owner_id, TRUE AS send, TRUE AS gets, \
       CAST(NULL AS BIGINT) AS ends_at FROM numbers m \
       WHERE m.owner_id = $1 AND NOT CAST($2 AS BOOLEAN) AND m.id > $3 \
         AND (CAST($7 AS BOOLEAN) IS NULL OR CAST($7 AS BOOLEAN))",
    holding_filters!("m"),
    " UNION ALL \
     SELECT g.number_id AS id, n.owner_id AS owner_id, g.send AS send, g.gets AS gets, \
       g.expires_at AS ends_at \
       FROM grants g JOIN numbers n ON n.id = g.number_id \
       WHERE g.account_id = $1 AND NOT CAST($2 AS BOOLEAN) AND g.number_id > $3 \
         AND (g.expires_at IS NULL OR g.expires_at > $10) AND n.owner_id IS NOT NULL \
         AND (CAST($7 AS BOOLEAN) IS NULL OR NOT CAST($7 AS BOOLEAN))",
    holding_filters!("n"),
    " ORDER BY 1 LIMIT $9"
);

/// History newest first: before id `$1`, whose actor or target has a path
/// in `[$2, $3)` (a subtree, its root included), at most `$4`; read by
/// [`history_row`]. Served by the indexes of migration 0006. A number's
/// own history is read by id instead ([`HISTORY_IDS_OF_NUMBER`]).
pub(crate) const HISTORY_PAGE: Sql = shared!(
    "SELECT h.id, h.at, h.request_id, h.actor_id, h.action, h.number_id, h.account_id, \
       h.detail, n.number \
     FROM history h LEFT JOIN numbers n ON n.id = h.number_id \
     WHERE (CAST($1 AS BIGINT) IS NULL OR h.id < $1) \
       AND (CAST($2 AS TEXT) IS NULL \
         OR EXISTS (SELECT 1 FROM accounts a WHERE a.id = h.account_id \
                    AND a.path >= $2 AND a.path < $3) \
         OR EXISTS (SELECT 1 FROM accounts a WHERE a.id = h.actor_id \
                    AND a.path >= $2 AND a.path < $3)) \
     ORDER BY h.id DESC LIMIT $4"
);

/// The ids of one number's (`$1`) history entries before id `$2`, newest
/// first, at most `$3`: an index-only range of `history_number_id`. The
/// entries themselves come from the core's cache of them (the history is
/// append-only), or by id for the ones it lacks ([`HISTORY_BY_IDS_COLS`]).
pub(crate) const HISTORY_IDS_OF_NUMBER: Sql = shared!(
    "SELECT id FROM history \
     WHERE number_id = $1 AND (CAST($2 AS BIGINT) IS NULL OR id < $2) \
     ORDER BY id DESC LIMIT $3"
);

/// The columns [`history_row`] reads, for entries read by id (their
/// number's E.164 is not joined: the caller has it).
pub(crate) const HISTORY_BY_IDS_COLS: &str = "h.id, h.at, h.request_id, h.actor_id, h.action, \
     h.number_id, h.account_id, h.detail, CAST(NULL AS TEXT)";

/// A value that both drivers can read from a column.
pub(crate) trait Column:
    rusqlite::types::FromSql + for<'r> postgres::types::FromSql<'r>
{
}

impl<T> Column for T where T: rusqlite::types::FromSql + for<'r> postgres::types::FromSql<'r> {}

/// A result row of either driver, so that a row is mapped to a record once.
pub(crate) trait Columns {
    type Error;
    fn col<T: Column>(&self, idx: usize) -> Result<T, Self::Error>;
}

/// A row's columns from `offset` on, so that a joined row is mapped by the
/// mappings of its parts.
pub(crate) struct Shifted<'r, R: ?Sized>(pub(crate) &'r R, pub(crate) usize);

impl<R: Columns + ?Sized> Columns for Shifted<'_, R> {
    type Error = R::Error;

    fn col<T: Column>(&self, idx: usize) -> Result<T, R::Error> {
        self.0.col(idx + self.1)
    }
}

/// An account from [`ACCOUNT_COLS`].
pub(crate) fn account<R: Columns + ?Sized>(r: &R) -> Result<Account, R::Error> {
    Ok(Account {
        id: r.col(0)?,
        username: r.col(1)?,
        name: r.col(2)?,
        is_reseller: r.col(3)?,
        suspended: r.col(4)?,
        parent_id: r.col(5)?,
        path: r.col(6)?,
        postpaid: r.col(7)?,
        created_at: r.col(8)?,
    })
}

/// A number from [`NUMBER_COLS`]. A number is subscribed only when its
/// owner, cycle and subscription time are all present.
pub(crate) fn number<R: Columns + ?Sized>(r: &R) -> Result<Number, R::Error> {
    let owner_id: Option<i64> = r.col(9)?;
    let cycle: Option<String> = r.col(10)?;
    let subscribed_at: Option<i64> = r.col(12)?;
    let subscription = match (
        owner_id,
        cycle.as_deref().and_then(Cycle::parse),
        subscribed_at,
    ) {
        (Some(owner_id), Some(cycle), Some(subscribed_at)) => Some(Subscription {
            owner_id,
            cycle,
            resubscribe: r.col(11)?,
            subscribed_at,
        }),
        _ => None,
    };
    Ok(Number {
        id: r.col(0)?,
        uid: r.col(1)?,
        number: r.col(2)?,
        operator_id: r.col(3)?,
        alias: r.col(4)?,
        is_66_char: r.col(5)?,
        country: r.col(6)?,
        monthly_price: r.col(7)?,
        yearly_price: r.col(8)?,
        subscription,
        quarantine: match (r.col::<Option<i64>>(13)?, r.col::<Option<i64>>(14)?) {
            (Some(former_owner_id), Some(until)) => Some(Quarantine {
                former_owner_id,
                until,
            }),
            _ => None,
        },
        reservation: match (r.col::<Option<i64>>(15)?, r.col::<Option<i64>>(16)?) {
            (Some(holder_id), Some(until)) => Some(Reservation { holder_id, until }),
            _ => None,
        },
    })
}

/// A number with its number of grants, from [`OWNED`].
pub(crate) fn owned<R: Columns + ?Sized>(r: &R) -> Result<(Number, i64), R::Error> {
    Ok((number(r)?, r.col(17)?))
}

/// A grant from [`GRANT_COLS`].
pub(crate) fn grant<R: Columns + ?Sized>(r: &R) -> Result<Grant, R::Error> {
    Ok(Grant {
        number_id: r.col(0)?,
        account_id: r.col(1)?,
        granted_by: r.col(2)?,
        send: r.col(3)?,
        gets: r.col(4)?,
        created_at: r.col(5)?,
        expires_at: r.col(6)?,
    })
}

/// A line of the numbers list: `id, number, operator_id, alias, is_66_char,
/// send, gets, owned`.
pub(crate) fn held_number<R: Columns + ?Sized>(r: &R) -> Result<HeldNumber, R::Error> {
    Ok(HeldNumber {
        id: r.col(0)?,
        number: r.col(1)?,
        operator_id: r.col(2)?,
        alias: r.col(3)?,
        is_66_char: r.col(4)?,
        send: r.col(5)?,
        gets: r.col(6)?,
        owned: r.col(7)?,
    })
}

/// A credential from [`CREDENTIAL`].
pub(crate) fn credential<R: Columns + ?Sized>(r: &R) -> Result<Credential, R::Error> {
    let kind: String = r.col(9)?;
    Ok(Credential {
        account: account(r)?,
        kind: TokenKind::parse(&kind).unwrap_or(TokenKind::Session),
        expires_at: r.col(10)?,
        revoked: r.col(11)?,
    })
}

/// A token from [`TOKENS_OF`].
pub(crate) fn token_row<R: Columns + ?Sized>(r: &R) -> Result<TokenRow, R::Error> {
    let kind: String = r.col(2)?;
    Ok(TokenRow {
        id: r.col(0)?,
        digest: r.col(1)?,
        kind: TokenKind::parse(&kind).unwrap_or(TokenKind::Session),
        created_at: r.col(3)?,
        expires_at: r.col(4)?,
        revoked_at: r.col(5)?,
    })
}

/// A holding from [`HOLDINGS`].
pub(crate) fn holding<R: Columns + ?Sized>(r: &R) -> Result<HeldRow, R::Error> {
    Ok(HeldRow {
        id: r.col(0)?,
        owner_id: r.col(1)?,
        // After HOLDING_COLS.
        send: r.col(2)?,
        gets: r.col(3)?,
        ends_at: r.col(4)?,
    })
}

/// A number's id and facts, read as [`NUMBER_FACTS_COLS`] gives them.
pub(crate) fn number_facts<R: Columns + ?Sized>(r: &R) -> Result<(i64, NumberFacts), R::Error> {
    let (uid, number, country): (String, String, String) = (r.col(1)?, r.col(2)?, r.col(3)?);
    Ok((r.col(0)?, NumberFacts::new(&uid, &number, &country)))
}

/// An entry from [`HISTORY_PAGE`].
pub(crate) fn history_row<R: Columns + ?Sized>(r: &R) -> Result<HistoryRow, R::Error> {
    Ok(HistoryRow {
        id: r.col(0)?,
        at: r.col(1)?,
        request_id: r.col(2)?,
        actor_id: r.col(3)?,
        action: r.col(4)?,
        number_id: r.col(5)?,
        account_id: r.col(6)?,
        detail: r.col(7)?,
        number: r.col(8)?,
    })
}

/// `(action, number_id, account_id)` and the request id, from [`ALL_HISTORY`].
/// An event from [`EVENTS_AFTER`].
pub(crate) fn event_row<R: Columns + ?Sized>(r: &R) -> Result<EventRow, R::Error> {
    Ok(EventRow {
        id: r.col(0)?,
        at: r.col(1)?,
        kind: r.col(2)?,
        actor_id: r.col(3)?,
        request_id: r.col(4)?,
        number_id: r.col(5)?,
        account_id: r.col(6)?,
        data: r.col(7)?,
        number: r.col(8)?,
    })
}

/// An endpoint from [`WEBHOOK_COLS`].
pub(crate) fn webhook<R: Columns + ?Sized>(r: &R) -> Result<WebhookRow, R::Error> {
    Ok(WebhookRow {
        id: r.col(0)?,
        account_id: r.col(1)?,
        url: r.col(2)?,
        types: r.col(3)?,
        description: r.col(4)?,
        secret: r.col(5)?,
        cursor: r.col(6)?,
        failing_since: r.col(7)?,
        disabled_at: r.col(8)?,
        disabled_reason: r.col(9)?,
        created_at: r.col(10)?,
    })
}

/// A delivery from [`DELIVERY_COLS`].
pub(crate) fn delivery<R: Columns + ?Sized>(r: &R) -> Result<DeliveryRow, R::Error> {
    let kind: Option<String> = r.col(9)?;
    Ok(DeliveryRow {
        id: r.col(0)?,
        webhook_id: r.col(1)?,
        event_id: r.col(2)?,
        order_key: r.col(3)?,
        state: r.col(4)?,
        attempts: r.col(5)?,
        next_at: r.col(6)?,
        created_at: r.col(7)?,
        done_at: r.col(8)?,
        kind: kind.unwrap_or_default(),
    })
}

/// An attempt from [`ATTEMPTS_OF`].
pub(crate) fn attempt<R: Columns + ?Sized>(r: &R) -> Result<AttemptRow, R::Error> {
    Ok(AttemptRow {
        delivery_id: r.col(0)?,
        attempt: r.col(1)?,
        at: r.col(2)?,
        status: r.col(3)?,
        latency_ms: r.col(4)?,
        response: r.col(5)?,
        error: r.col(6)?,
    })
}

/// A key from [`KEY_ROW`].
pub(crate) fn key_row<R: Columns + ?Sized>(r: &R) -> Result<KeyRow, R::Error> {
    let status: Option<i32> = r.col(3)?;
    let content_type: Option<String> = r.col(4)?;
    let body: Option<String> = r.col(5)?;
    Ok(KeyRow {
        method: r.col(0)?,
        path: r.col(1)?,
        body_hash: r.col(2)?,
        answer: status.map(|status| StoredAnswer {
            status: u16::try_from(status).unwrap_or(500),
            content_type: content_type.unwrap_or_default(),
            body: body.unwrap_or_default(),
        }),
        created_at: r.col(6)?,
    })
}

pub(crate) type HistoryLine = ((String, Option<i64>, Option<i64>), String);

pub(crate) fn history_line<R: Columns + ?Sized>(r: &R) -> Result<HistoryLine, R::Error> {
    Ok(((r.col(0)?, r.col(1)?, r.col(2)?), r.col(3)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_spelling_numbers_its_placeholders() {
        assert_eq!(
            SET_PATH.sqlite,
            "UPDATE accounts SET path = ?2 WHERE id = ?1"
        );
        assert_eq!(
            SET_PATH.postgres,
            "UPDATE accounts SET path = $2 WHERE id = $1"
        );
        const SPLIT: &str = concat_sql!(sqlite; "a = $1", " AND b = $12 AND c = '$x'");
        assert_eq!(SPLIT, "a = ?1 AND b = ?12 AND c = '$x'");
    }
}
