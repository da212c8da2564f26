//! The `Tx` primitives in SQLite's dialect.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::backend;
use crate::domain::TokenKind;
use crate::store::downline::{contains_pattern, downline_bounds};
use crate::store::{
    Account, Credential, Cycle, DownlineFilter, Grant, HeldNumber, HistoryEntry, NewAccount,
    NewNumber, NewToken, Number, Page, Relation, Snapshot, StoreError, Subscription, Tx,
};

pub(super) struct SqliteTx<'c> {
    conn: &'c Connection,
}

impl<'c> SqliteTx<'c> {
    pub(super) fn new(conn: &'c Connection) -> Self {
        SqliteTx { conn }
    }

    fn account_where(
        &self,
        clause: &str,
        key: &dyn rusqlite::ToSql,
    ) -> Result<Option<Account>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLS} FROM accounts a WHERE {clause}");
        self.conn
            .prepare_cached(&sql)
            .map_err(backend)?
            .query_row([key], account_row)
            .optional()
            .map_err(backend)
    }

    fn number_where(
        &self,
        clause: &str,
        key: &dyn rusqlite::ToSql,
    ) -> Result<Option<Number>, StoreError> {
        let sql = format!("SELECT {NUMBER_COLS} FROM numbers n WHERE {clause}");
        self.conn
            .prepare_cached(&sql)
            .map_err(backend)?
            .query_row([key], number_row)
            .optional()
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

const ACCOUNT_COLS: &str = "a.id, a.username, a.name, a.is_reseller, a.suspended, a.parent_id, a.path, a.postpaid, a.created_at";

fn account_row(r: &Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        id: r.get(0)?,
        username: r.get(1)?,
        name: r.get(2)?,
        is_reseller: r.get(3)?,
        suspended: r.get(4)?,
        parent_id: r.get(5)?,
        path: r.get(6)?,
        postpaid: r.get(7)?,
        created_at: r.get(8)?,
    })
}

const NUMBER_COLS: &str = "n.id, n.uid, n.number, n.operator_id, n.alias, n.is_66_char, n.country, \
     n.monthly_price, n.yearly_price, n.owner_id, n.cycle, n.resubscribe, n.subscribed_at";

/// The numbers list is the hottest read: its statements read only the listed
/// columns.
const ADMIN_HELD: &str = "SELECT n.id, n.number, n.operator_id, n.alias, n.is_66_char, 1, 1, \
     n.owner_id = ?1 FROM numbers n WHERE n.owner_id IS NOT NULL ORDER BY n.id LIMIT ?2 OFFSET ?3";

/// Each arm comes in id order from its covering index (`numbers_holder`,
/// `grants_holder`: every listed column is in them, see migration 0003), and
/// SQLite merges the two streams, reading no further than the page's end
/// instead of sorting everything held. A page reads no table row.
const HELD: &str = "SELECT n.id, n.number, n.operator_id, n.alias, n.is_66_char, 1, 1, 1 \
     FROM numbers n WHERE n.owner_id = ?1 \
     UNION ALL \
     SELECT g.number_id, g.number, g.operator_id, g.alias, g.is_66_char, g.send, g.gets, 0 \
     FROM grants g WHERE g.account_id = ?1 \
     ORDER BY 1 LIMIT ?2 OFFSET ?3";

/// What an account holds, owned plus granted: the list's total (migration
/// 0004 keeps it).
const HELD_TOTAL: &str = "SELECT coalesce((SELECT held FROM holdings WHERE account_id = ?1), 0)";

fn number_row(r: &Row<'_>) -> rusqlite::Result<Number> {
    let owner_id: Option<i64> = r.get(9)?;
    let cycle: Option<String> = r.get(10)?;
    let subscribed_at: Option<i64> = r.get(12)?;
    let subscription = match (
        owner_id,
        cycle.as_deref().and_then(Cycle::parse),
        subscribed_at,
    ) {
        (Some(owner_id), Some(cycle), Some(subscribed_at)) => Some(Subscription {
            owner_id,
            cycle,
            resubscribe: r.get(11)?,
            subscribed_at,
        }),
        _ => None,
    };
    Ok(Number {
        id: r.get(0)?,
        uid: r.get(1)?,
        number: r.get(2)?,
        operator_id: r.get(3)?,
        alias: r.get(4)?,
        is_66_char: r.get(5)?,
        country: r.get(6)?,
        monthly_price: r.get(7)?,
        yearly_price: r.get(8)?,
        subscription,
    })
}

fn grant_row(r: &Row<'_>) -> rusqlite::Result<Grant> {
    Ok(Grant {
        number_id: r.get(0)?,
        account_id: r.get(1)?,
        granted_by: r.get(2)?,
        send: r.get(3)?,
        gets: r.get(4)?,
        created_at: r.get(5)?,
    })
}

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
    (clauses.join(" AND "), values)
}

impl Tx for SqliteTx<'_> {
    fn count_accounts(&mut self) -> Result<i64, StoreError> {
        self.count("SELECT count(*) FROM accounts", [])
    }

    fn account_by_id(&mut self, id: i64) -> Result<Option<Account>, StoreError> {
        self.account_where("a.id = ?1", &id)
    }

    fn account_by_username(&mut self, key: &str) -> Result<Option<Account>, StoreError> {
        self.account_where("a.username_key = ?1", &key)
    }

    fn password_hash(&mut self, account_id: i64) -> Result<Option<String>, StoreError> {
        self.conn
            .prepare_cached("SELECT password_hash FROM accounts WHERE id = ?1")
            .map_err(backend)?
            .query_row([account_id], |r| r.get(0))
            .optional()
            .map_err(backend)
    }

    fn insert_account(&mut self, a: &NewAccount) -> Result<Account, StoreError> {
        let (parent_id, parent_path) = match &a.parent {
            Some((id, path)) => (Some(*id), path.as_str()),
            None => (None, "/"),
        };
        let depth = parent_path.matches('/').count() as i64 - 1;
        let id: i64 = self
            .conn
            .prepare_cached(
                "INSERT INTO accounts (id, username, username_key, name, password_hash, is_reseller, \
                 parent_id, path, depth, postpaid, mobile, email, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, '', ?8, ?9, ?10, ?11, ?12) RETURNING id",
            )
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
        self.conn
            .prepare_cached("UPDATE accounts SET path = ?2 WHERE id = ?1")
            .map_err(backend)?
            .execute(params![id, path])
            .map_err(backend)?;
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
        self.conn
            .prepare_cached("UPDATE accounts SET postpaid = ?2 WHERE id = ?1")
            .map_err(backend)?
            .execute(params![account_id, enabled])
            .map(drop)
            .map_err(backend)
    }

    fn set_suspended(&mut self, account_id: i64, suspended: bool) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("UPDATE accounts SET suspended = ?2 WHERE id = ?1")
            .map_err(backend)?
            .execute(params![account_id, suspended])
            .map(drop)
            .map_err(backend)
    }

    fn number_by_id(&mut self, id: i64) -> Result<Option<Number>, StoreError> {
        self.number_where("n.id = ?1", &id)
    }

    fn number_by_e164(&mut self, number: &str) -> Result<Option<Number>, StoreError> {
        self.number_where("n.number = ?1", &number)
    }

    fn number_by_uid(&mut self, uid: &str) -> Result<Option<Number>, StoreError> {
        self.number_where("n.uid = ?1", &uid)
    }

    fn insert_number(&mut self, n: &NewNumber) -> Result<Number, StoreError> {
        let id: i64 = self
            .conn
            .prepare_cached(
                "INSERT INTO numbers (id, uid, number, operator_id, alias, is_66_char, country, \
                 monthly_price, yearly_price) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
            )
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
        })
    }

    fn subscribe_number(&mut self, number_id: i64, sub: &Subscription) -> Result<bool, StoreError> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE numbers SET owner_id = ?2, cycle = ?3, resubscribe = ?4, subscribed_at = ?5 \
                 WHERE id = ?1 AND owner_id IS NULL",
            )
            .map_err(backend)?
            .execute(params![number_id, sub.owner_id, sub.cycle.as_str(), sub.resubscribe, sub.subscribed_at])
            .map_err(backend)?;
        Ok(changed == 1)
    }

    fn release_number(&mut self, number_id: i64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE numbers SET owner_id = NULL, cycle = NULL, resubscribe = 0, subscribed_at = NULL \
                 WHERE id = ?1",
            )
            .map_err(backend)?
            .execute([number_id])
            .map(drop)
            .map_err(backend)
    }

    fn grants_on(&mut self, number_id: i64) -> Result<Vec<Grant>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT number_id, account_id, granted_by, send, gets, created_at FROM grants \
                 WHERE number_id = ?1 ORDER BY account_id",
            )
            .map_err(backend)?;
        let rows = stmt.query_map([number_id], grant_row).map_err(backend)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
    }

    fn insert_grant(&mut self, g: &Grant) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                // With a copy of the number's listed columns (migration 0003).
                "INSERT INTO grants (number_id, account_id, granted_by, send, gets, created_at, \
                   number, operator_id, alias, is_66_char) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, n.number, n.operator_id, n.alias, n.is_66_char \
                 FROM numbers n WHERE n.id = ?1",
            )
            .map_err(backend)?
            .execute(params![
                g.number_id,
                g.account_id,
                g.granted_by,
                g.send,
                g.gets,
                g.created_at
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
        let n = self
            .conn
            .prepare_cached("DELETE FROM grants WHERE number_id = ?1 AND account_id = ?2")
            .map_err(backend)?
            .execute([number_id, account_id])
            .map_err(backend)?;
        Ok(n == 1)
    }

    fn insert_token(&mut self, t: &NewToken) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO tokens (digest, account_id, kind, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(backend)?
            .execute(params![t.digest, t.account_id, t.kind.as_str(), t.created_at, t.expires_at])
            .map(drop)
            .map_err(conflict_as("token"))
    }

    fn credential(&mut self, digest: &str) -> Result<Option<Credential>, StoreError> {
        let sql = format!(
            "SELECT {ACCOUNT_COLS}, t.kind, t.expires_at, t.revoked_at IS NOT NULL \
             FROM tokens t JOIN accounts a ON a.id = t.account_id WHERE t.digest = ?1"
        );
        self.conn
            .prepare_cached(&sql)
            .map_err(backend)?
            .query_row([digest], |r| {
                let kind: String = r.get(9)?;
                Ok(Credential {
                    account: account_row(r)?,
                    kind: TokenKind::parse(&kind).unwrap_or(TokenKind::Session),
                    expires_at: r.get(10)?,
                    revoked: r.get(11)?,
                })
            })
            .optional()
            .map_err(backend)
    }

    fn revoke_token(&mut self, digest: &str, at: i64) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE tokens SET revoked_at = ?2 WHERE digest = ?1 AND revoked_at IS NULL",
            )
            .map_err(backend)?
            .execute(params![digest, at])
            .map_err(backend)?;
        Ok(n == 1)
    }

    fn record(&mut self, e: &HistoryEntry) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO history (at, request_id, actor_id, action, number_id, account_id, detail) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(backend)?
            .execute(params![e.at, e.request_id, e.actor_id, e.action.as_str(), e.number_id, e.account_id, e.detail])
            .map(drop)
            .map_err(backend)
    }

    fn held_numbers(
        &mut self,
        account: &Account,
        page: Page,
    ) -> Result<(Vec<HeldNumber>, i64), StoreError> {
        // An administrator holds every subscribed number; anyone else what it
        // owns plus what it was granted (never both for one number).
        let (list_sql, count_sql) = if account.is_admin() {
            (
                ADMIN_HELD,
                "SELECT count(*) FROM numbers WHERE owner_id IS NOT NULL AND ?1 = ?1",
            )
        } else {
            (HELD, HELD_TOTAL)
        };
        let total = self.count(count_sql, [account.id])?;
        let mut stmt = self.conn.prepare_cached(list_sql).map_err(backend)?;
        let rows = stmt
            .query_map(params![account.id, page.limit, page.offset], |r| {
                Ok(HeldNumber {
                    id: r.get(0)?,
                    number: r.get(1)?,
                    operator_id: r.get(2)?,
                    alias: r.get(3)?,
                    is_66_char: r.get(4)?,
                    send: r.get(5)?,
                    gets: r.get(6)?,
                    owned: r.get(7)?,
                })
            })
            .map_err(backend)?;
        let items = rows
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(backend)?;
        Ok((items, total))
    }

    fn available_numbers(
        &mut self,
        country: Option<&str>,
        pattern: Option<&str>,
        page: Page,
    ) -> Result<(Vec<Number>, i64), StoreError> {
        // instr() rather than LIKE: the pattern is digits, and instr needs no escaping.
        let filter = "n.owner_id IS NULL AND (?1 IS NULL OR n.country = ?1) \
                      AND (?2 IS NULL OR instr(substr(n.number, 2), ?2) > 0)";
        let total = self.count(
            &format!("SELECT count(*) FROM numbers n WHERE {filter}"),
            params![country, pattern],
        )?;
        let sql = format!(
            "SELECT {NUMBER_COLS} FROM numbers n WHERE {filter} ORDER BY n.id LIMIT ?3 OFFSET ?4"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(backend)?;
        let rows = stmt
            .query_map(
                params![country, pattern, page.limit, page.offset],
                number_row,
            )
            .map_err(backend)?;
        let items = rows
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(backend)?;
        Ok((items, total))
    }

    fn owned_numbers(
        &mut self,
        owner_id: i64,
        page: Page,
    ) -> Result<(Vec<(Number, i64)>, i64), StoreError> {
        let total = self.count(
            "SELECT count(*) FROM numbers WHERE owner_id = ?1",
            [owner_id],
        )?;
        let sql = format!(
            "SELECT {NUMBER_COLS}, (SELECT count(*) FROM grants g WHERE g.number_id = n.id) \
             FROM numbers n WHERE n.owner_id = ?1 ORDER BY n.id LIMIT ?2 OFFSET ?3"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(backend)?;
        let rows = stmt
            .query_map(params![owner_id, page.limit, page.offset], |r| {
                Ok((number_row(r)?, r.get(13)?))
            })
            .map_err(backend)?;
        let items = rows
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(backend)?;
        Ok((items, total))
    }

    fn snapshot(&mut self) -> Result<Snapshot, StoreError> {
        let accounts = {
            let mut stmt = self
                .conn
                .prepare(&format!(
                    "SELECT {ACCOUNT_COLS} FROM accounts a ORDER BY a.id"
                ))
                .map_err(backend)?;
            stmt.query_map([], account_row)
                .map_err(backend)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(backend)?
        };
        let numbers = {
            let mut stmt = self
                .conn
                .prepare(&format!("SELECT {NUMBER_COLS} FROM numbers n ORDER BY id"))
                .map_err(backend)?;
            stmt.query_map([], number_row)
                .map_err(backend)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(backend)?
        };
        let grants = {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT number_id, account_id, granted_by, send, gets, created_at FROM grants \
                     ORDER BY number_id, account_id",
                )
                .map_err(backend)?;
            stmt.query_map([], grant_row)
                .map_err(backend)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(backend)?
        };
        let (history, request_ids) = {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT action, number_id, account_id, request_id FROM history ORDER BY id",
                )
                .map_err(backend)?;
            stmt.query_map([], |r| Ok(((r.get(0)?, r.get(1)?, r.get(2)?), r.get(3)?)))
                .map_err(backend)?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(backend)?
                .into_iter()
                .unzip()
        };
        // Through the list's own statement, so the check covers what it reads.
        let mut held = Vec::new();
        for a in &accounts {
            let total = self.count(HELD_TOTAL, [a.id])?;
            if total != 0 {
                held.push((a.id, total));
            }
        }
        let stale_copies = self.count(
            "SELECT count(*) FROM grants g JOIN numbers n ON n.id = g.number_id \
             WHERE g.number IS NOT n.number OR g.operator_id IS NOT n.operator_id \
                OR g.alias IS NOT n.alias OR g.is_66_char IS NOT n.is_66_char",
            [],
        )?;
        Ok(Snapshot {
            accounts,
            numbers,
            grants,
            history,
            request_ids,
            held,
            stale_copies,
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
        let sql = format!(
            "SELECT {ACCOUNT_COLS} FROM accounts a WHERE a.id IN \
             (SELECT a.id FROM accounts a WHERE {clause} ORDER BY a.id LIMIT ? OFFSET ?) \
             ORDER BY a.id"
        );
        values.push(rusqlite::types::Value::Integer(page.limit));
        values.push(rusqlite::types::Value::Integer(page.offset));
        let mut stmt = self.conn.prepare_cached(&sql).map_err(backend)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(values), account_row)
            .map_err(backend)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
    }

    fn count_downline(&mut self, of: &Account, filter: &DownlineFilter) -> Result<i64, StoreError> {
        let (clause, values) = downline_where(of, filter);
        self.count(
            &format!("SELECT count(*) FROM accounts a WHERE {clause}"),
            rusqlite::params_from_iter(values),
        )
    }

    fn accounts_by_ids(&mut self, ids: &[i64]) -> Result<Vec<Account>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; ids.len()].join(", ");
        let sql = format!("SELECT {ACCOUNT_COLS} FROM accounts a WHERE a.id IN ({marks})");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(backend)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(ids), account_row)
            .map_err(backend)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
    }
}
