//! The `Tx` primitives on SQLite: the shared statements of `store::sql` in
//! their `?N` spelling, and SQLite's own SQL where the dialects differ.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::backend;
use crate::store::downline::{contains_pattern, downline_bounds};
use crate::store::sql::{self, ACCOUNT_COLS, Column, Columns, NUMBER_COLS, concat_sql};
use crate::store::{
    Account, Credential, DownlineFilter, Due, EventQuery, EventRow, Grant, HeldNumber, HeldRow,
    HistoryEntry, HistoryQuery, HistoryRow, HoldingFilter, KeyClaim, KeyRow, NewAccount, NewEvent,
    NewNumber, NewToken, Number, NumberFacts, Page, PoolFilter, Relation, RoutingRows, Snapshot,
    StoreError, StoredAnswer, Subscription, TokenRow, Tx,
};
use crate::store::{AttemptRow, DeliveryRow, DeliveryUpdate, NewWebhook, WebhookRow};

pub(super) struct SqliteTx<'c> {
    conn: &'c Connection,
}

impl Columns for Row<'_> {
    type Error = rusqlite::Error;

    fn col<T: Column>(&self, idx: usize) -> rusqlite::Result<T> {
        self.get(idx)
    }
}

impl<'c> SqliteTx<'c> {
    pub(super) fn new(conn: &'c Connection) -> Self {
        SqliteTx { conn }
    }

    fn opt<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, StoreError> {
        self.conn
            .prepare_cached(sql)
            .map_err(backend)?
            .query_row(params, map)
            .optional()
            .map_err(backend)
    }

    fn all<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(backend)?;
        let rows = stmt.query_map(params, map).map_err(backend)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
    }

    fn exec(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize, StoreError> {
        self.conn
            .prepare_cached(sql)
            .map_err(backend)?
            .execute(params)
            .map_err(backend)
    }

    fn count(&self, sql: &str, params: impl rusqlite::Params) -> Result<i64, StoreError> {
        self.conn
            .prepare_cached(sql)
            .map_err(backend)?
            .query_row(params, |r| r.get(0))
            .map_err(backend)
    }
}

/// SQLite's `INTEGER PRIMARY KEY` takes the next rowid for an explicit
/// NULL, so a pinned id and a chosen one are the same statement; and a
/// refused insert leaves the transaction usable, so a taken username is the
/// constraint's error (see `conflict_as`).
const INSERT_ACCOUNT: &str = "INSERT INTO accounts (id, username, username_key, name, \
     password_hash, is_reseller, parent_id, path, depth, postpaid, mobile, email, created_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, '', ?8, ?9, ?10, ?11, ?12) RETURNING id";

/// As [`INSERT_ACCOUNT`].
const INSERT_NUMBER: &str = "INSERT INTO numbers (id, uid, number, operator_id, alias, \
     is_66_char, country, monthly_price, yearly_price) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id";

/// Each arm comes in id order from its covering index (`numbers_holder`,
/// `grants_holder`: every listed column is in them, see migration 0003), and
/// SQLite merges the two streams, reading no further than the page's end
/// instead of sorting everything held. A page reads no table row. (The
/// PostgreSQL planner needs the arms spelled out; see its `HELD`.)
const HELD: &str = "SELECT n.id, n.number, n.operator_id, n.alias, n.is_66_char, 1, 1, 1 \
     FROM numbers n WHERE n.owner_id = ?1 \
     UNION ALL \
     SELECT g.number_id, g.number, g.operator_id, g.alias, g.is_66_char, g.send, g.gets, 0 \
     FROM grants g WHERE g.account_id = ?1 AND (g.expires_at IS NULL OR g.expires_at > ?4) \
     ORDER BY 1 LIMIT ?2 OFFSET ?3";

/// What an account holds, owned plus granted: the list's total, from the
/// counter that only SQLite keeps (migration 0004), less the grants past
/// their end at `?2` that are not swept yet (a short range of
/// `grants_ending`, migration 0005).
const HELD_TOTAL: &str = "SELECT coalesce((SELECT held FROM holdings WHERE account_id = ?1), 0) \
     - (SELECT count(*) FROM grants WHERE account_id = ?1 AND expires_at <= ?2)";

/// The pool, optionally of one country (`?1`), containing the digits `?2`,
/// starting with the digits `?3`, within monthly prices `?4..=?5`, after id
/// `?6`. instr() rather than LIKE: the pattern is digits, and instr needs
/// no escaping (PostgreSQL calls it strpos()).
/// `?3` is now: a quarantine or reservation that has ended is over.
const POOL_FILTER: &str = "n.owner_id IS NULL AND (?1 IS NULL OR n.country = ?1) \
     AND (?2 IS NULL OR instr(substr(n.number, 2), ?2) > 0) \
     AND (?3 IS NULL OR instr(substr(n.number, 2), ?3) = 1) \
     AND (?4 IS NULL OR n.monthly_price >= ?4) AND (?5 IS NULL OR n.monthly_price <= ?5) \
     AND (?6 IS NULL OR n.id > ?6) \
     AND (n.quarantine_until IS NULL OR n.quarantine_until <= ?7) \
     AND (n.reserved_until IS NULL OR n.reserved_until <= ?7)";
const POOL: &str = concat_sql!(
    "SELECT ",
    NUMBER_COLS,
    " FROM numbers n WHERE ",
    POOL_FILTER,
    " ORDER BY n.id LIMIT ?8 OFFSET ?9"
);
const COUNT_POOL: &str = concat_sql!("SELECT count(*) FROM numbers n WHERE ", POOL_FILTER);

/// Maps a unique-constraint failure to `Conflict(subject)`, anything else to `Backend`.
fn conflict_as(subject: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::ConstraintViolation)
            if matches!(e.sqlite_error().map(|s| s.extended_code), Some(1555 | 2067)) =>
        {
            StoreError::Conflict(subject)
        }
        _ => backend(e),
    }
}

/// The `WHERE` clause over `accounts a` that selects `of`'s downline as
/// `filter` narrows it, with its parameters in order. Only fixed SQL
/// fragments go into the text; every value is a parameter.
fn downline_where(of: &Account, filter: &DownlineFilter) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let mut clauses: Vec<&str> = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    if filter.relation == Some(Relation::Direct) {
        // The children are exactly `parent_id = of`; `accounts_parent`
        // (parent_id, id) serves them already in id order.
        clauses.push("a.parent_id = ?");
        values.push(Value::Integer(of.id));
    } else {
        let (low, high) = downline_bounds(&of.path);
        clauses.push("a.path > ? AND a.path < ?");
        values.push(Value::Text(low));
        values.push(Value::Text(high));
        if filter.relation == Some(Relation::Indirect) {
            clauses.push("a.parent_id <> ?");
            values.push(Value::Integer(of.id));
        }
    }
    if let Some(is_reseller) = filter.is_reseller {
        clauses.push("a.is_reseller = ?");
        values.push(Value::Integer(i64::from(is_reseller)));
    }
    // SQLite's LIKE folds ASCII case only, which is what the filters promise.
    if let Some(username) = &filter.username {
        clauses.push("a.username_key LIKE ? ESCAPE '\\'");
        values.push(Value::Text(contains_pattern(username)));
    }
    if let Some(name) = &filter.name {
        clauses.push("a.name LIKE ? ESCAPE '\\'");
        values.push(Value::Text(contains_pattern(name)));
    }
    if let Some(q) = &filter.q {
        clauses.push("(a.username_key LIKE ? ESCAPE '\\' OR a.name LIKE ? ESCAPE '\\')");
        values.push(Value::Text(contains_pattern(q)));
        values.push(Value::Text(contains_pattern(q)));
    }
    if let Some(after) = filter.after_id {
        clauses.push("a.id > ?");
        values.push(Value::Integer(after));
    }
    (clauses.join(" AND "), values)
}

/// A bulk request's rows by many keys at once, the keys one JSON array
/// (SQLite has no array parameter, and one placeholder per key would be a
/// new statement text, prepared afresh, for every count of keys): each
/// value of the array is a lookup of the key's index, in the array's
/// sorted order.
const NUMBERS_BY_IDS: &str = concat_sql!(
    "SELECT ",
    NUMBER_COLS,
    " FROM numbers n WHERE n.id IN (SELECT value FROM json_each(?1))"
);
/// [`Tx::history_by_ids`], the ids one JSON array (as [`NUMBERS_BY_IDS`]).
const HISTORY_BY_IDS: &str = concat_sql!(
    "SELECT ",
    sql::HISTORY_BY_IDS_COLS,
    " FROM history h WHERE h.id IN (SELECT value FROM json_each(?1))"
);
/// [`Tx::number_facts`], the ids one JSON array (as [`NUMBERS_BY_IDS`]).
const NUMBER_FACTS: &str = concat_sql!(
    "SELECT ",
    sql::NUMBER_FACTS_COLS,
    " FROM numbers n WHERE n.id IN (SELECT value FROM json_each(?1))"
);
const NUMBERS_BY_E164S: &str = concat_sql!(
    "SELECT ",
    NUMBER_COLS,
    " FROM numbers n WHERE n.number IN (SELECT value FROM json_each(?1))"
);
const NUMBERS_BY_UIDS: &str = concat_sql!(
    "SELECT ",
    NUMBER_COLS,
    " FROM numbers n WHERE n.uid IN (SELECT value FROM json_each(?1))"
);
/// By number and account, as `GRANTS_ON`.
const GRANTS_ON_NUMBERS: &str = concat_sql!(
    "SELECT ",
    sql::GRANT_COLS,
    " FROM grants WHERE number_id IN (SELECT value FROM json_each(?1)) \
     ORDER BY number_id, account_id"
);
const ACCOUNTS_BY_IDS: &str = concat_sql!(
    "SELECT ",
    ACCOUNT_COLS,
    " FROM accounts a WHERE a.id IN (SELECT value FROM json_each(?1))"
);
const ACCOUNTS_BY_USERNAME_KEYS: &str = concat_sql!(
    "SELECT ",
    ACCOUNT_COLS,
    " FROM accounts a WHERE a.username_key IN (SELECT value FROM json_each(?1))"
);

/// `keys` as the JSON array the `json_each` statements read.
fn json_array<T: serde::Serialize>(keys: &[T]) -> Result<String, StoreError> {
    serde_json::to_string(keys).map_err(|e| StoreError::Backend(format!("encoding keys: {e}")))
}

/// Rows per multi-row write of a bulk request; what is left over goes in
/// statements of [`SMALL_CHUNK`] rows, then of one. Every write statement
/// here runs in a statement journal (the job's savepoint is open), which
/// copies each page the statement first touches: a statement per row paid
/// that copy for every row (about half of a bulk item's instructions), a
/// statement per chunk pays it once per page. Three sizes keep the texts
/// few for the statement cache.
const CHUNK: usize = 100;
const SMALL_CHUNK: usize = 10;

/// `rows` in chunks of [`CHUNK`], then [`SMALL_CHUNK`], then one.
fn chunks<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let big = rows.len() / CHUNK * CHUNK;
    let small = big + (rows.len() - big) / SMALL_CHUNK * SMALL_CHUNK;
    rows[..big]
        .chunks(CHUNK)
        .chain(rows[big..small].chunks(SMALL_CHUNK))
        .chain(rows[small..].chunks(1))
}

/// `head`, then `n` times `row` (a parenthesised list of `?`), comma
/// separated, then `tail`.
fn multi_row(head: &str, row: &str, n: usize, tail: &str) -> String {
    let mut sql = String::with_capacity(head.len() + (row.len() + 2) * n + tail.len());
    sql.push_str(head);
    for i in 0..n {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(row);
    }
    sql.push_str(tail);
    sql
}

impl Tx for SqliteTx<'_> {
    fn count_accounts(&mut self) -> Result<i64, StoreError> {
        self.count(sql::COUNT_ACCOUNTS.sqlite, [])
    }

    fn account_by_id(&mut self, id: i64) -> Result<Option<Account>, StoreError> {
        self.opt(sql::ACCOUNT_BY_ID.sqlite, [id], |r| sql::account(r))
    }

    fn account_by_username(&mut self, key: &str) -> Result<Option<Account>, StoreError> {
        self.opt(sql::ACCOUNT_BY_USERNAME.sqlite, [key], |r| sql::account(r))
    }

    fn password_hash(&mut self, account_id: i64) -> Result<Option<String>, StoreError> {
        self.opt(sql::PASSWORD_HASH.sqlite, [account_id], |r| r.get(0))
    }

    fn insert_account(&mut self, a: &NewAccount) -> Result<Account, StoreError> {
        let (parent_id, parent_path) = match &a.parent {
            Some((id, path)) => (Some(*id), path.as_str()),
            None => (None, "/"),
        };
        let depth = parent_path.matches('/').count() as i64 - 1;
        let id: i64 = self
            .conn
            .prepare_cached(INSERT_ACCOUNT)
            .map_err(backend)?
            .query_row(
                params![
                    a.id,
                    a.username,
                    a.username.to_ascii_lowercase(),
                    a.name,
                    a.password_hash,
                    a.is_reseller,
                    parent_id,
                    depth,
                    a.postpaid,
                    a.mobile,
                    a.email,
                    a.created_at
                ],
                |r| r.get(0),
            )
            .map_err(conflict_as("username"))?;
        let path = format!("{parent_path}{id}/");
        self.exec(sql::SET_PATH.sqlite, params![id, path])?;
        Ok(Account {
            id,
            username: a.username.clone(),
            name: a.name.clone(),
            is_reseller: a.is_reseller,
            suspended: false,
            parent_id,
            path,
            postpaid: a.postpaid,
            created_at: a.created_at,
        })
    }

    fn set_postpaid(&mut self, account_id: i64, enabled: bool) -> Result<(), StoreError> {
        self.exec(sql::SET_POSTPAID.sqlite, params![account_id, enabled])
            .map(drop)
    }

    fn set_suspended(&mut self, account_id: i64, suspended: bool) -> Result<(), StoreError> {
        self.exec(sql::SET_SUSPENDED.sqlite, params![account_id, suspended])
            .map(drop)
    }

    // No row locks: the one writer connection already sees and changes
    // every number alone.
    fn number_by_id(&mut self, id: i64) -> Result<Option<Number>, StoreError> {
        self.opt(sql::NUMBER_BY_ID.sqlite, [id], |r| sql::number(r))
    }

    fn number_by_e164(&mut self, number: &str) -> Result<Option<Number>, StoreError> {
        self.opt(sql::NUMBER_BY_E164.sqlite, [number], |r| sql::number(r))
    }

    fn number_by_uid(&mut self, uid: &str) -> Result<Option<Number>, StoreError> {
        self.opt(sql::NUMBER_BY_UID.sqlite, [uid], |r| sql::number(r))
    }

    fn insert_number(&mut self, n: &NewNumber) -> Result<Number, StoreError> {
        let id: i64 = self
            .conn
            .prepare_cached(INSERT_NUMBER)
            .map_err(backend)?
            .query_row(
                params![
                    n.id,
                    n.uid,
                    n.number,
                    n.operator_id,
                    n.alias,
                    n.is_66_char,
                    n.country,
                    n.monthly_price,
                    n.yearly_price
                ],
                |r| r.get(0),
            )
            .map_err(conflict_as("number"))?;
        Ok(Number {
            id,
            uid: n.uid.clone(),
            number: n.number.clone(),
            operator_id: n.operator_id,
            alias: n.alias.clone(),
            is_66_char: n.is_66_char,
            country: n.country.clone(),
            monthly_price: n.monthly_price,
            yearly_price: n.yearly_price,
            subscription: None,
            quarantine: None,
            reservation: None,
        })
    }

    fn subscribe_number(&mut self, number_id: i64, sub: &Subscription) -> Result<bool, StoreError> {
        let changed = self.exec(
            sql::SUBSCRIBE_NUMBER.sqlite,
            params![
                number_id,
                sub.owner_id,
                sub.cycle.as_str(),
                sub.resubscribe,
                sub.subscribed_at
            ],
        )?;
        Ok(changed == 1)
    }

    fn release_number(&mut self, number_id: i64) -> Result<(), StoreError> {
        self.exec(sql::RELEASE_NUMBER.sqlite, [number_id]).map(drop)
    }

    fn quarantine_number(
        &mut self,
        number_id: i64,
        former_owner_id: i64,
        until: i64,
    ) -> Result<(), StoreError> {
        self.exec(
            sql::QUARANTINE_NUMBER.sqlite,
            [number_id, former_owner_id, until],
        )
        .map(drop)
    }

    fn end_quarantine(&mut self, number_id: i64, by: i64) -> Result<bool, StoreError> {
        Ok(self.exec(sql::END_QUARANTINE.sqlite, [number_id, by])? == 1)
    }

    fn end_reservation(&mut self, number_id: i64, by: i64) -> Result<bool, StoreError> {
        Ok(self.exec(sql::END_RESERVATION.sqlite, [number_id, by])? == 1)
    }

    fn reserve_number(
        &mut self,
        number_id: i64,
        holder: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        Ok(self.exec(sql::RESERVE_NUMBER.sqlite, [number_id, holder, until])? == 1)
    }

    fn count_reservations(&mut self, holder: i64, now: i64) -> Result<i64, StoreError> {
        self.count(sql::COUNT_RESERVATIONS.sqlite, [holder, now])
    }

    fn reservations_of(&mut self, holder: i64, now: i64) -> Result<Vec<Number>, StoreError> {
        self.all(sql::RESERVATIONS_OF.sqlite, [holder, now], |r| {
            sql::number(r)
        })
    }

    fn due(&mut self, kind: Due, now: i64, after: i64, limit: i64) -> Result<Vec<i64>, StoreError> {
        let statement = match kind {
            Due::Grants => sql::DUE_GRANTS.sqlite,
            Due::Quarantines => sql::DUE_QUARANTINES.sqlite,
            Due::Reservations => sql::DUE_RESERVATIONS.sqlite,
        };
        self.all(statement, [now, after, limit], |r| r.get(0))
    }

    // The one writer connection already serializes every account's changes.
    fn lock_account(&mut self, _account_id: i64) -> Result<(), StoreError> {
        Ok(())
    }

    // And every number's.
    fn lock_numbers(&mut self, _ids: &[i64]) -> Result<(), StoreError> {
        Ok(())
    }

    fn grants_on(&mut self, number_id: i64) -> Result<Vec<Grant>, StoreError> {
        self.all(sql::GRANTS_ON.sqlite, [number_id], |r| sql::grant(r))
    }

    fn insert_grant(&mut self, g: &Grant) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(sql::INSERT_GRANT.sqlite)
            .map_err(backend)?
            .execute(params![
                g.number_id,
                g.account_id,
                g.granted_by,
                g.send,
                g.gets,
                g.created_at,
                g.expires_at
            ])
            .map_err(conflict_as("grant"))
            .and_then(|inserted| match inserted {
                1 => Ok(()),
                _ => Err(StoreError::Backend(format!(
                    "grant of missing number {}",
                    g.number_id
                ))),
            })
    }

    fn delete_grant(&mut self, number_id: i64, account_id: i64) -> Result<bool, StoreError> {
        let n = self.exec(sql::DELETE_GRANT.sqlite, [number_id, account_id])?;
        Ok(n == 1)
    }

    fn update_grant(&mut self, g: &Grant) -> Result<bool, StoreError> {
        let n = self.exec(
            sql::UPDATE_GRANT.sqlite,
            params![g.number_id, g.account_id, g.send, g.gets, g.expires_at],
        )?;
        Ok(n == 1)
    }

    fn numbers_by_keys(
        &mut self,
        ids: &[i64],
        e164s: &[String],
        uids: &[String],
    ) -> Result<Vec<Number>, StoreError> {
        // One writer: nothing to lock.
        let mut found = std::collections::BTreeMap::new();
        for (sql, keys) in [
            (NUMBERS_BY_IDS, (!ids.is_empty()).then(|| json_array(ids))),
            (
                NUMBERS_BY_E164S,
                (!e164s.is_empty()).then(|| json_array(e164s)),
            ),
            (
                NUMBERS_BY_UIDS,
                (!uids.is_empty()).then(|| json_array(uids)),
            ),
        ] {
            let Some(keys) = keys.transpose()? else {
                continue;
            };
            for n in self.all(sql, [keys], |r| sql::number(r))? {
                found.insert(n.id, n);
            }
        }
        Ok(found.into_values().collect())
    }

    fn grants_on_numbers(&mut self, number_ids: &[i64]) -> Result<Vec<Grant>, StoreError> {
        if number_ids.is_empty() {
            return Ok(Vec::new());
        }
        self.all(GRANTS_ON_NUMBERS, [json_array(number_ids)?], |r| {
            sql::grant(r)
        })
    }

    fn accounts_by_keys(
        &mut self,
        ids: &[i64],
        username_keys: &[String],
    ) -> Result<Vec<Account>, StoreError> {
        let mut found = std::collections::BTreeMap::new();
        for (sql, keys) in [
            (ACCOUNTS_BY_IDS, (!ids.is_empty()).then(|| json_array(ids))),
            (
                ACCOUNTS_BY_USERNAME_KEYS,
                (!username_keys.is_empty()).then(|| json_array(username_keys)),
            ),
        ] {
            let Some(keys) = keys.transpose()? else {
                continue;
            };
            for a in self.all(sql, [keys], |r| sql::account(r))? {
                found.insert(a.id, a);
            }
        }
        Ok(found.into_values().collect())
    }

    fn delete_grants(&mut self, keys: &[(i64, i64)]) -> Result<(), StoreError> {
        for chunk in chunks(keys) {
            let sql = multi_row(
                // The subquery, not `IN (VALUES ...)`: with the bare VALUES
                // list the planner scans the whole table.
                "DELETE FROM grants WHERE (number_id, account_id) IN \
                 (SELECT column1, column2 FROM (VALUES ",
                "(?, ?)",
                chunk.len(),
                "))",
            );
            let values = chunk.iter().flat_map(|(n, a)| [*n, *a]);
            self.exec(&sql, rusqlite::params_from_iter(values))?;
        }
        Ok(())
    }

    fn insert_grants(&mut self, grants: &[Grant]) -> Result<(), StoreError> {
        for chunk in chunks(grants) {
            // As `sql::INSERT_GRANT`: the number's listed columns from its row.
            let sql = multi_row(
                "INSERT INTO grants (number_id, account_id, granted_by, send, gets, created_at, \
                   expires_at, number, operator_id, alias, is_66_char) \
                 SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, \
                   v.column7, n.number, n.operator_id, n.alias, n.is_66_char \
                 FROM (VALUES ",
                "(?, ?, ?, ?, ?, ?, ?)",
                chunk.len(),
                ") AS v JOIN numbers n ON n.id = v.column1",
            );
            let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(7 * chunk.len());
            for g in chunk {
                values.extend([
                    &g.number_id as &dyn rusqlite::ToSql,
                    &g.account_id,
                    &g.granted_by,
                    &g.send,
                    &g.gets,
                    &g.created_at,
                    &g.expires_at,
                ]);
            }
            let inserted = self
                .conn
                .prepare_cached(&sql)
                .map_err(backend)?
                .execute(values.as_slice())
                .map_err(conflict_as("grant"))?;
            if inserted != chunk.len() {
                return Err(StoreError::Backend(format!(
                    "{} of {} grants inserted: a number is missing",
                    inserted,
                    chunk.len()
                )));
            }
        }
        Ok(())
    }

    fn record_all(&mut self, entries: &[HistoryEntry]) -> Result<Vec<i64>, StoreError> {
        let mut ids = Vec::with_capacity(entries.len());
        for chunk in chunks(entries) {
            let sql = multi_row(
                "INSERT INTO history (at, request_id, actor_id, action, number_id, account_id, \
                   detail) VALUES ",
                "(?, ?, ?, ?, ?, ?, ?)",
                chunk.len(),
                " RETURNING id",
            );
            let actions: Vec<&str> = chunk.iter().map(|e| e.action.as_str()).collect();
            let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(7 * chunk.len());
            for (e, action) in chunk.iter().zip(&actions) {
                values.extend([
                    &e.at as &dyn rusqlite::ToSql,
                    &e.request_id,
                    &e.actor_id,
                    action,
                    &e.number_id,
                    &e.account_id,
                    &e.detail,
                ]);
            }
            let mut got = self.all(&sql, values.as_slice(), |r| r.get::<_, i64>(0))?;
            // One writer: the rowids are taken in the order of the rows.
            got.sort_unstable();
            ids.extend(got);
        }
        Ok(ids)
    }

    fn insert_events(&mut self, events: &[NewEvent]) -> Result<(), StoreError> {
        for chunk in chunks(events) {
            let sql = multi_row(
                "INSERT INTO events (history_id, at, type, actor_id, request_id, number_id, \
                   account_id, data) VALUES ",
                "(?, ?, ?, ?, ?, ?, ?, ?)",
                chunk.len(),
                "",
            );
            let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(8 * chunk.len());
            for e in chunk {
                values.extend([
                    &e.history_id as &dyn rusqlite::ToSql,
                    &e.at,
                    &e.kind,
                    &e.actor_id,
                    &e.request_id,
                    &e.number_id,
                    &e.account_id,
                    &e.data,
                ]);
            }
            self.exec(&sql, values.as_slice())?;
        }
        Ok(())
    }

    fn insert_token(&mut self, t: &NewToken) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(sql::INSERT_TOKEN.sqlite)
            .map_err(backend)?
            .execute(params![
                t.digest,
                t.account_id,
                t.kind.as_str(),
                t.created_at,
                t.expires_at
            ])
            .map(drop)
            .map_err(conflict_as("token"))
    }

    fn credential(&mut self, digest: &str) -> Result<Option<Credential>, StoreError> {
        self.opt(sql::CREDENTIAL.sqlite, [digest], |r| sql::credential(r))
    }

    fn revoke_token(&mut self, digest: &str, at: i64) -> Result<bool, StoreError> {
        let n = self.exec(sql::REVOKE_TOKEN.sqlite, params![digest, at])?;
        Ok(n == 1)
    }

    fn record(&mut self, e: &HistoryEntry) -> Result<i64, StoreError> {
        self.opt(
            sql::RECORD.sqlite,
            params![
                e.at,
                e.request_id,
                e.actor_id,
                e.action.as_str(),
                e.number_id,
                e.account_id,
                e.detail
            ],
            |r| r.get(0),
        )?
        .ok_or_else(|| StoreError::Backend("history insert returned no id".into()))
    }

    fn insert_event(&mut self, e: &NewEvent) -> Result<(), StoreError> {
        self.exec(
            sql::INSERT_EVENT.sqlite,
            params![
                e.history_id,
                e.at,
                e.kind,
                e.actor_id,
                e.request_id,
                e.number_id,
                e.account_id,
                e.data
            ],
        )
        .map(drop)
    }

    fn events_after(&mut self, q: &EventQuery) -> Result<Vec<EventRow>, StoreError> {
        let (low, high) = match &q.within {
            Some(path) => {
                let (low, high) = downline_bounds(path);
                (Some(low), Some(high))
            }
            None => (None, None),
        };
        self.all(
            sql::EVENTS_AFTER.sqlite,
            params![q.after_id, low, high, q.limit],
            |r| sql::event_row(r),
        )
    }

    fn prune_events(&mut self, before: i64) -> Result<u64, StoreError> {
        Ok(self.exec(sql::PRUNE_EVENTS.sqlite, [before])? as u64)
    }

    fn event_by_id(&mut self, id: i64) -> Result<Option<EventRow>, StoreError> {
        self.opt(sql::EVENT_BY_ID.sqlite, [id], |r| sql::event_row(r))
    }

    fn insert_webhook(&mut self, w: &NewWebhook) -> Result<i64, StoreError> {
        self.opt(
            sql::INSERT_WEBHOOK.sqlite,
            params![
                w.account_id,
                w.url,
                w.types,
                w.description,
                w.secret,
                w.created_at
            ],
            |r| r.get(0),
        )?
        .ok_or_else(|| StoreError::Backend("webhook insert returned no id".into()))
    }

    fn webhook_by_id(&mut self, id: i64) -> Result<Option<WebhookRow>, StoreError> {
        self.opt(sql::WEBHOOK_BY_ID.sqlite, [id], |r| sql::webhook(r))
    }

    fn webhooks_of(&mut self, account_id: i64) -> Result<Vec<WebhookRow>, StoreError> {
        self.all(sql::WEBHOOKS_OF.sqlite, [account_id], |r| sql::webhook(r))
    }

    fn enabled_webhooks(&mut self, limit: i64) -> Result<Vec<WebhookRow>, StoreError> {
        self.all(sql::ENABLED_WEBHOOKS.sqlite, [limit], |r| sql::webhook(r))
    }

    fn update_webhook(&mut self, w: &WebhookRow) -> Result<bool, StoreError> {
        let n = self.exec(
            sql::UPDATE_WEBHOOK.sqlite,
            params![
                w.id,
                w.url,
                w.types,
                w.description,
                w.cursor,
                w.failing_since,
                w.disabled_at,
                w.disabled_reason
            ],
        )?;
        Ok(n == 1)
    }

    fn delete_webhook(&mut self, id: i64) -> Result<bool, StoreError> {
        self.exec(sql::DELETE_WEBHOOK_ATTEMPTS.sqlite, [id])?;
        self.exec(sql::DELETE_WEBHOOK_DELIVERIES.sqlite, [id])?;
        Ok(self.exec(sql::DELETE_WEBHOOK.sqlite, [id])? == 1)
    }

    fn insert_delivery(
        &mut self,
        webhook_id: i64,
        event_id: i64,
        order_key: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        self.exec(
            sql::INSERT_DELIVERY.sqlite,
            params![webhook_id, event_id, order_key, now],
        )
        .map(drop)
    }

    fn claim_deliveries(
        &mut self,
        now: i64,
        owner: &str,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let ids: Vec<i64> = self.all(sql::CLAIMABLE.sqlite, params![now, limit], |r| r.get(0))?;
        for id in &ids {
            self.exec(sql::LEASE_DELIVERY.sqlite, params![id, owner, lease_until])?;
        }
        Ok(ids)
    }

    fn delivery_by_id(&mut self, id: i64) -> Result<Option<DeliveryRow>, StoreError> {
        self.opt(sql::DELIVERY_BY_ID.sqlite, [id], |r| sql::delivery(r))
    }

    fn deliveries_of(
        &mut self,
        webhook_id: i64,
        before_id: i64,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        self.all(
            sql::DELIVERIES_OF.sqlite,
            params![webhook_id, before_id, limit],
            |r| sql::delivery(r),
        )
    }

    fn attempts_of(&mut self, delivery_id: i64) -> Result<Vec<AttemptRow>, StoreError> {
        self.all(sql::ATTEMPTS_OF.sqlite, [delivery_id], |r| sql::attempt(r))
    }

    fn insert_attempt(&mut self, a: &AttemptRow) -> Result<(), StoreError> {
        self.exec(
            sql::INSERT_ATTEMPT.sqlite,
            params![
                a.delivery_id,
                a.attempt,
                a.at,
                a.status,
                a.latency_ms,
                a.response,
                a.error
            ],
        )
        .map(drop)
    }

    fn finish_delivery(&mut self, u: &DeliveryUpdate) -> Result<bool, StoreError> {
        let n = self.exec(
            sql::FINISH_DELIVERY.sqlite,
            params![
                u.id,
                u.lease_owner,
                u.state,
                u.attempts,
                u.next_at,
                u.done_at
            ],
        )?;
        Ok(n == 1)
    }

    fn retry_delivery(&mut self, id: i64, now: i64) -> Result<bool, StoreError> {
        Ok(self.exec(sql::RETRY_DELIVERY.sqlite, [id, now])? == 1)
    }

    fn claim_cursor(
        &mut self,
        name: &str,
        owner: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<i64>, StoreError> {
        self.exec(sql::INSERT_CURSOR.sqlite, [name])?;
        self.opt(
            sql::CLAIM_CURSOR.sqlite,
            params![name, owner, now, lease_until],
            |r| r.get(0),
        )
    }

    fn advance_cursor(&mut self, name: &str, owner: &str, cursor: i64) -> Result<bool, StoreError> {
        Ok(self.exec(sql::ADVANCE_CURSOR.sqlite, params![name, owner, cursor])? == 1)
    }

    fn max_event_id(&mut self) -> Result<i64, StoreError> {
        self.count(sql::MAX_EVENT_ID.sqlite, [])
    }

    fn set_webhook_cursor(&mut self, id: i64, cursor: i64) -> Result<(), StoreError> {
        self.exec(sql::SET_WEBHOOK_CURSOR.sqlite, [id, cursor])
            .map(drop)
    }

    fn webhook_succeeded(&mut self, id: i64) -> Result<(), StoreError> {
        self.exec(sql::WEBHOOK_SUCCEEDED.sqlite, [id]).map(drop)
    }

    fn webhook_failed(
        &mut self,
        id: i64,
        now: i64,
        cutoff: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        self.exec(sql::WEBHOOK_FAILED.sqlite, [id, now])?;
        let n = self.exec(
            sql::WEBHOOK_DISABLE_FAILING.sqlite,
            params![id, now, reason, cutoff],
        )?;
        Ok(n == 1)
    }

    fn webhook_work(&mut self, now: i64) -> Result<i64, StoreError> {
        self.count(sql::WEBHOOK_WORK.sqlite, [now])
    }

    fn prune_deliveries(&mut self, before: i64) -> Result<u64, StoreError> {
        self.exec(sql::PRUNE_ATTEMPTS.sqlite, [before])?;
        Ok(self.exec(sql::PRUNE_DELIVERIES.sqlite, [before])? as u64)
    }

    fn key_row(&mut self, account_id: i64, key: &str) -> Result<Option<KeyRow>, StoreError> {
        self.opt(sql::KEY_ROW.sqlite, params![account_id, key], |r| {
            sql::key_row(r)
        })
    }

    fn claim_key(&mut self, c: &KeyClaim) -> Result<bool, StoreError> {
        let n = self.exec(
            sql::CLAIM_KEY.sqlite,
            params![c.account_id, c.key, c.method, c.path, c.body_hash, c.at],
        )?;
        Ok(n == 1)
    }

    fn answer_key(
        &mut self,
        account_id: i64,
        key: &str,
        a: &StoredAnswer,
    ) -> Result<bool, StoreError> {
        let n = self.exec(
            sql::ANSWER_KEY.sqlite,
            params![account_id, key, i32::from(a.status), a.content_type, a.body],
        )?;
        Ok(n == 1)
    }

    fn prune_keys(&mut self, before: i64) -> Result<u64, StoreError> {
        Ok(self.exec(sql::PRUNE_KEYS.sqlite, [before])? as u64)
    }

    fn held_numbers(
        &mut self,
        account_id: i64,
        page: Page,
        now: i64,
    ) -> Result<(Vec<HeldNumber>, i64), StoreError> {
        let total = self.count(HELD_TOTAL, [account_id, now])?;
        let items = self.all(
            HELD,
            params![account_id, page.limit, page.offset, now],
            |r| sql::held_number(r),
        )?;
        Ok((items, total))
    }

    fn subscribed_numbers(
        &mut self,
        viewer_id: i64,
        page: Page,
    ) -> Result<(Vec<HeldNumber>, i64), StoreError> {
        let total = self.count(sql::COUNT_SUBSCRIBED.sqlite, [])?;
        let items = self.all(
            sql::SUBSCRIBED.sqlite,
            params![viewer_id, page.limit, page.offset],
            |r| sql::held_number(r),
        )?;
        Ok((items, total))
    }

    fn available_numbers(
        &mut self,
        f: &PoolFilter,
        page: Page,
        count: bool,
        now: i64,
    ) -> Result<(Vec<Number>, Option<i64>), StoreError> {
        let (c, p, x) = (&f.country, &f.pattern, &f.prefix);
        let (lo, hi, after) = (f.min_monthly_price, f.max_monthly_price, f.after_id);
        let total = match count {
            true => Some(self.count(COUNT_POOL, params![c, p, x, lo, hi, after, now])?),
            false => None,
        };
        let items = self.all(
            POOL,
            params![c, p, x, lo, hi, after, now, page.limit, page.offset],
            |r| sql::number(r),
        )?;
        Ok((items, total))
    }

    fn holdings(
        &mut self,
        viewer_id: i64,
        everything: bool,
        f: &HoldingFilter,
        limit: i64,
    ) -> Result<Vec<HeldRow>, StoreError> {
        let prefix = f.prefix.as_ref().map(|d| format!("+{d}%"));
        let contains = f.contains.as_ref().map(|d| format!("%{d}%"));
        self.all(
            if everything {
                sql::HOLDINGS.sqlite
            } else {
                sql::HOLDINGS_HELD_IDS_FIRST.sqlite
            },
            params![
                viewer_id,
                everything,
                f.after_id,
                f.country,
                prefix,
                contains,
                f.owned,
                f.granted_to,
                limit,
                f.now
            ],
            |r| sql::holding(r),
        )
        .map(|mut rows| {
            // In id order already (see HOLDINGS_HELD_IDS_FIRST); a sort of
            // sorted rows is one pass, and the order no longer rests on a plan.
            rows.sort_by_key(|h| h.id);
            rows
        })
    }

    fn number_facts(&mut self, ids: &[i64]) -> Result<Vec<(i64, NumberFacts)>, StoreError> {
        self.all(NUMBER_FACTS, params![json_array(ids)?], |r| {
            sql::number_facts(r)
        })
    }

    fn history_page(&mut self, q: &HistoryQuery) -> Result<Vec<HistoryRow>, StoreError> {
        let (low, high) = match &q.within {
            Some(path) => {
                let (low, high) = downline_bounds(path);
                (Some(low), Some(high))
            }
            None => (None, None),
        };
        self.all(
            sql::HISTORY_PAGE.sqlite,
            params![q.before_id, low, high, q.limit],
            |r| sql::history_row(r),
        )
    }

    fn history_ids_of_number(
        &mut self,
        number_id: i64,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<i64>, StoreError> {
        self.all(
            sql::HISTORY_IDS_OF_NUMBER.sqlite,
            params![number_id, before_id, limit],
            |r| r.get(0),
        )
    }

    fn history_by_ids(&mut self, ids: &[i64]) -> Result<Vec<HistoryRow>, StoreError> {
        self.all(HISTORY_BY_IDS, params![json_array(ids)?], |r| {
            sql::history_row(r)
        })
    }

    fn tokens_of(&mut self, account_id: i64) -> Result<Vec<TokenRow>, StoreError> {
        self.all(sql::TOKENS_OF.sqlite, [account_id], |r| sql::token_row(r))
    }

    fn set_name(&mut self, account_id: i64, name: &str) -> Result<(), StoreError> {
        self.exec(sql::SET_NAME.sqlite, params![account_id, name])
            .map(drop)
    }

    fn owned_numbers(
        &mut self,
        owner_id: i64,
        page: Page,
        now: i64,
    ) -> Result<(Vec<(Number, i64)>, i64), StoreError> {
        let total = self.count(sql::COUNT_OWNED.sqlite, [owner_id])?;
        let items = self.all(
            sql::OWNED.sqlite,
            params![owner_id, page.limit, page.offset, now],
            |r| sql::owned(r),
        )?;
        Ok((items, total))
    }

    fn snapshot(&mut self, now: i64) -> Result<Snapshot, StoreError> {
        let accounts = self.all(sql::ALL_ACCOUNTS.sqlite, [], |r| sql::account(r))?;
        let numbers = self.all(sql::ALL_NUMBERS.sqlite, [], |r| sql::number(r))?;
        let grants = self.all(sql::ALL_GRANTS.sqlite, [], |r| sql::grant(r))?;
        let (history, request_ids) = self
            .all(sql::ALL_HISTORY.sqlite, [], |r| sql::history_line(r))?
            .into_iter()
            .unzip();
        // Through the list's own statement, so the check covers what it reads.
        let mut held = Vec::new();
        for a in &accounts {
            let total = self.count(HELD_TOTAL, [a.id, now])?;
            if total != 0 {
                held.push((a.id, total));
            }
        }
        let counters = self.all(
            "SELECT account_id, held FROM holdings WHERE held <> 0 ORDER BY account_id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let stale_copies = self.count(sql::STALE_COPIES.sqlite, [])?;
        let history_ids = self.all(sql::HISTORY_IDS.sqlite, [], |r| r.get(0))?;
        let events = self.all(sql::ALL_EVENTS.sqlite, [], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(Snapshot {
            history_ids,
            events,
            accounts,
            numbers,
            grants,
            history,
            request_ids,
            held,
            counters,
            stale_copies,
            at: now,
        })
    }

    fn downline(
        &mut self,
        of: &Account,
        filter: &DownlineFilter,
        page: Page,
    ) -> Result<Vec<Account>, StoreError> {
        let (clause, mut values) = downline_where(of, filter);
        // The page's ids come from the index alone (an index entry carries
        // the rowid); only the page's own rows are then read from the table.
        let text = format!(
            "SELECT {ACCOUNT_COLS} FROM accounts a WHERE a.id IN \
             (SELECT a.id FROM accounts a WHERE {clause} ORDER BY a.id LIMIT ? OFFSET ?) \
             ORDER BY a.id"
        );
        values.push(rusqlite::types::Value::Integer(page.limit));
        values.push(rusqlite::types::Value::Integer(page.offset));
        self.all(&text, rusqlite::params_from_iter(values), |r| {
            sql::account(r)
        })
    }

    fn count_downline(&mut self, of: &Account, filter: &DownlineFilter) -> Result<i64, StoreError> {
        let (clause, values) = downline_where(of, filter);
        self.count(
            &format!("SELECT count(*) FROM accounts a WHERE {clause}"),
            rusqlite::params_from_iter(values),
        )
    }

    /// One statement ([`sql::ROUTING_ROWS`]): one snapshot with no
    /// transaction around it, so the lookup can run on a connection of the
    /// calling thread's ([`crate::store::Store::read_here`]) with no `BEGIN`
    /// or `COMMIT`; and one cached statement, where the three primitives'
    /// `accounts_by_ids` is a text of its own per number of ids.
    fn routing_rows(&mut self, e164: &str) -> Result<Option<RoutingRows>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(sql::ROUTING_ROWS.sqlite)
            .map_err(backend)?;
        let mut rows = stmt.query([e164]).map_err(backend)?;
        let mut routing = None;
        while let Some(r) = rows.next().map_err(backend)? {
            sql::routing_row(r, &mut routing).map_err(backend)?;
        }
        Ok(routing)
    }

    fn grants_in(&mut self, after: i64, last: i64) -> Result<Vec<Grant>, StoreError> {
        self.all(sql::ROUTING_RANGE_GRANTS.sqlite, [after, last], |r| {
            sql::grant(r)
        })
    }

    fn accounts_by_ids(&mut self, ids: &[i64]) -> Result<Vec<Account>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // SQLite has no arrays: one placeholder per id (PostgreSQL binds one
        // array).
        let marks = vec!["?"; ids.len()].join(", ");
        let text = format!("SELECT {ACCOUNT_COLS} FROM accounts a WHERE a.id IN ({marks})");
        self.all(&text, rusqlite::params_from_iter(ids), |r| sql::account(r))
    }
    fn accounts_after(&mut self, after_id: i64, limit: i64) -> Result<Vec<Account>, StoreError> {
        self.all(sql::ACCOUNTS_AFTER.sqlite, params![after_id, limit], |r| {
            sql::account(r)
        })
    }

    fn numbers_after(&mut self, after_id: i64, limit: i64) -> Result<Vec<Number>, StoreError> {
        self.all(sql::NUMBERS_AFTER.sqlite, params![after_id, limit], |r| {
            sql::number(r)
        })
    }

    fn set_password_hash(&mut self, account_id: i64, hash: &str) -> Result<(), StoreError> {
        self.exec(sql::SET_PASSWORD_HASH.sqlite, params![account_id, hash])
            .map(drop)
    }

    fn token_by_id(&mut self, id: i64) -> Result<Option<(TokenRow, i64)>, StoreError> {
        self.opt(sql::TOKEN_BY_ID.sqlite, [id], |r| {
            Ok((sql::token_row(r)?, r.get(6)?))
        })
    }
}
