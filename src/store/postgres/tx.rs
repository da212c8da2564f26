//! The `Tx` primitives in PostgreSQL's dialect.

use std::collections::HashMap;

use postgres::types::ToSql;
use postgres::{Row, Statement, Transaction};

use super::is_retryable;
use crate::domain::TokenKind;
use crate::store::downline::{DownlineFilter, Relation, contains_pattern, downline_bounds};
use crate::store::{
    Account, Credential, Cycle, Grant, HeldNumber, HistoryEntry, NewAccount, NewNumber, NewToken,
    Number, Page, Snapshot, StoreError, Subscription, Tx,
};

pub(super) struct PgTx<'a, 'c> {
    tx: &'a mut Transaction<'c>,
    cache: &'a mut HashMap<String, Statement>,
    /// In a write transaction, number lookups lock the row.
    write: bool,
    retry: bool,
}

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

impl<'a, 'c> PgTx<'a, 'c> {
    pub(super) fn new(
        tx: &'a mut Transaction<'c>,
        cache: &'a mut HashMap<String, Statement>,
        write: bool,
    ) -> Self {
        PgTx {
            tx,
            cache,
            write,
            retry: false,
        }
    }

    /// Whether a statement failed in a way that running the job again may cure.
    pub(super) fn wants_retry(&self) -> bool {
        self.retry
    }

    fn fail(&mut self, e: postgres::Error) -> StoreError {
        if is_retryable(&e) {
            self.retry = true;
        }
        StoreError::Backend(e.to_string())
    }

    fn stmt(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(s) = self.cache.get(sql) {
            return Ok(s.clone());
        }
        let s = self.tx.prepare(sql).map_err(|e| self.fail(e))?;
        self.cache.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    fn opt(&mut self, sql: &str, params: Params<'_>) -> Result<Option<Row>, StoreError> {
        let s = self.stmt(sql)?;
        self.tx.query_opt(&s, params).map_err(|e| self.fail(e))
    }

    fn all(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, StoreError> {
        let s = self.stmt(sql)?;
        self.tx.query(&s, params).map_err(|e| self.fail(e))
    }

    fn exec(&mut self, sql: &str, params: Params<'_>) -> Result<u64, StoreError> {
        let s = self.stmt(sql)?;
        self.tx.execute(&s, params).map_err(|e| self.fail(e))
    }

    fn count(&mut self, sql: &str, params: Params<'_>) -> Result<i64, StoreError> {
        let row = self
            .opt(sql, params)?
            .ok_or_else(|| StoreError::Backend("count returned no row".into()))?;
        get(&row, 0)
    }

    fn number_where(
        &mut self,
        clause: &str,
        key: &(dyn ToSql + Sync),
    ) -> Result<Option<Number>, StoreError> {
        let lock = if self.write { " FOR UPDATE" } else { "" };
        let sql = format!("SELECT {NUMBER_COLS} FROM numbers n WHERE {clause}{lock}");
        self.opt(&sql, &[key])?.map(|r| number_row(&r)).transpose()
    }

    fn account_where(
        &mut self,
        clause: &str,
        key: &(dyn ToSql + Sync),
    ) -> Result<Option<Account>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLS} FROM accounts a WHERE {clause}");
        self.opt(&sql, &[key])?.map(|r| account_row(&r)).transpose()
    }
}

/// A column by index; a type mismatch is an error, never a panic.
fn get<'r, T: postgres::types::FromSql<'r>>(row: &'r Row, idx: usize) -> Result<T, StoreError> {
    row.try_get(idx)
        .map_err(|e| StoreError::Backend(format!("column {idx}: {e}")))
}

const ACCOUNT_COLS: &str = "a.id, a.username, a.name, a.is_reseller, a.suspended, a.parent_id, a.path, a.postpaid, a.created_at";

fn account_row(r: &Row) -> Result<Account, StoreError> {
    Ok(Account {
        id: get(r, 0)?,
        username: get(r, 1)?,
        name: get(r, 2)?,
        is_reseller: get(r, 3)?,
        suspended: get(r, 4)?,
        parent_id: get(r, 5)?,
        path: get(r, 6)?,
        postpaid: get(r, 7)?,
        created_at: get(r, 8)?,
    })
}

const NUMBER_COLS: &str = "n.id, n.uid, n.number, n.operator_id, n.alias, n.is_66_char, n.country, \
     n.monthly_price, n.yearly_price, n.owner_id, n.cycle, n.resubscribe, n.subscribed_at";

/// The numbers list is the hottest read: its statements read only the listed
/// columns.
const ADMIN_HELD: &str = "SELECT n.id, n.number, n.operator_id, n.alias, n.is_66_char, TRUE, TRUE, \
     n.owner_id = $1 FROM numbers n WHERE n.owner_id IS NOT NULL ORDER BY n.id LIMIT $2 OFFSET $3";

/// Each arm is ordered exactly as its covering index, `numbers_holder`
/// (owner_id, id) and `grants_holder` (account_id, number_id), both carrying
/// every listed column (migration 0003), and stops at the page's end, so each
/// is a short index range scan. Left to itself the planner fed the merge by
/// walking the whole table in id order and filtering on owner_id: about 50 ms
/// a page for a holder that owns few numbers, at 100,000 numbers.
const HELD: &str = "SELECT * FROM (\
     (SELECT n.id, n.number, n.operator_id, n.alias, n.is_66_char, \
        TRUE AS send, TRUE AS gets, TRUE AS owned FROM numbers n \
      WHERE n.owner_id = $1 ORDER BY n.owner_id, n.id LIMIT $2::bigint + $3::bigint) \
     UNION ALL \
     (SELECT g.number_id, g.number, g.operator_id, g.alias, g.is_66_char, g.send, g.gets, \
        FALSE FROM grants g WHERE g.account_id = $1 \
      ORDER BY g.account_id, g.number_id LIMIT $2::bigint + $3::bigint)) AS held \
     ORDER BY 1 LIMIT $2 OFFSET $3";

/// What an account holds, owned plus granted: the list's total, counted from
/// the two covering indexes (see `0004_holdings` on SQLite for why there is
/// no counter here).
const HELD_TOTAL: &str = "SELECT (SELECT count(*) FROM numbers WHERE owner_id = $1) \
     + (SELECT count(*) FROM grants WHERE account_id = $1)";

fn number_row(r: &Row) -> Result<Number, StoreError> {
    let owner_id: Option<i64> = get(r, 9)?;
    let cycle: Option<String> = get(r, 10)?;
    let subscribed_at: Option<i64> = get(r, 12)?;
    let subscription = match (
        owner_id,
        cycle.as_deref().and_then(Cycle::parse),
        subscribed_at,
    ) {
        (Some(owner_id), Some(cycle), Some(subscribed_at)) => Some(Subscription {
            owner_id,
            cycle,
            resubscribe: get(r, 11)?,
            subscribed_at,
        }),
        _ => None,
    };
    Ok(Number {
        id: get(r, 0)?,
        uid: get(r, 1)?,
        number: get(r, 2)?,
        operator_id: get(r, 3)?,
        alias: get(r, 4)?,
        is_66_char: get(r, 5)?,
        country: get(r, 6)?,
        monthly_price: get(r, 7)?,
        yearly_price: get(r, 8)?,
        subscription,
    })
}

fn grant_row(r: &Row) -> Result<Grant, StoreError> {
    Ok(Grant {
        number_id: get(r, 0)?,
        account_id: get(r, 1)?,
        granted_by: get(r, 2)?,
        send: get(r, 3)?,
        gets: get(r, 4)?,
        created_at: get(r, 5)?,
    })
}

/// The WHERE clause of a downline query and its parameters, numbered from `$1`.
fn downline_where(of: &Account, filter: &DownlineFilter) -> (String, Vec<Box<dyn ToSql + Sync>>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut values: Vec<Box<dyn ToSql + Sync>> = Vec::new();
    let param = |values: &mut Vec<Box<dyn ToSql + Sync>>, v: Box<dyn ToSql + Sync>| {
        values.push(v);
        format!("${}", values.len())
    };
    if filter.relation == Some(Relation::Direct) {
        let p = param(&mut values, Box::new(of.id));
        clauses.push(format!("a.parent_id = {p}"));
    } else {
        let (low, high) = downline_bounds(&of.path);
        let (l, h) = (
            param(&mut values, Box::new(low)),
            param(&mut values, Box::new(high)),
        );
        clauses.push(format!("a.path > {l} AND a.path < {h}"));
        if filter.relation == Some(Relation::Indirect) {
            let p = param(&mut values, Box::new(of.id));
            clauses.push(format!("a.parent_id <> {p}"));
        }
    }
    if let Some(is_reseller) = filter.is_reseller {
        let p = param(&mut values, Box::new(is_reseller));
        clauses.push(format!("a.is_reseller = {p}"));
    }
    if let Some(username) = &filter.username {
        let p = param(&mut values, Box::new(contains_pattern(username)));
        clauses.push(format!("a.username_key LIKE {p} ESCAPE '\\'"));
    }
    if let Some(name) = &filter.name {
        // Under the "C" collation lower() folds ASCII letters only: the same
        // matching as SQLite's LIKE.
        let p = param(&mut values, Box::new(contains_pattern(name)));
        clauses.push(format!(
            "lower(a.name COLLATE \"C\") LIKE lower({p} COLLATE \"C\") ESCAPE '\\'"
        ));
    }
    (clauses.join(" AND "), values)
}

fn refs(values: &[Box<dyn ToSql + Sync>]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v.as_ref()).collect()
}

impl Tx for PgTx<'_, '_> {
    fn count_accounts(&mut self) -> Result<i64, StoreError> {
        self.count("SELECT count(*) FROM accounts", &[])
    }

    fn account_by_id(&mut self, id: i64) -> Result<Option<Account>, StoreError> {
        self.account_where("a.id = $1", &id)
    }

    fn account_by_username(&mut self, key: &str) -> Result<Option<Account>, StoreError> {
        self.account_where("a.username_key = $1", &key)
    }

    fn password_hash(&mut self, account_id: i64) -> Result<Option<String>, StoreError> {
        self.opt(
            "SELECT password_hash FROM accounts WHERE id = $1",
            &[&account_id],
        )?
        .map(|r| get(&r, 0))
        .transpose()
    }

    fn insert_account(&mut self, a: &NewAccount) -> Result<Account, StoreError> {
        let (parent_id, parent_path) = match &a.parent {
            Some((id, path)) => (Some(*id), path.as_str()),
            None => (None, "/"),
        };
        let depth = parent_path.matches('/').count() as i64 - 1;
        let key = a.username.to_ascii_lowercase();
        // ON CONFLICT DO NOTHING: a taken username leaves the transaction
        // usable, and a racing insert waits for the other to commit first.
        let row = self.opt(
            "INSERT INTO accounts (id, username, username_key, name, password_hash, is_reseller, \
             parent_id, path, depth, postpaid, mobile, email, created_at) \
             VALUES (COALESCE($1, nextval(pg_get_serial_sequence('accounts', 'id'))), $2, $3, $4, $5, $6, \
             $7, '', $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING RETURNING id",
            &[
                &a.id,
                &a.username,
                &key,
                &a.name,
                &a.password_hash,
                &a.is_reseller,
                &parent_id,
                &depth,
                &a.postpaid,
                &a.mobile,
                &a.email,
                &a.created_at,
            ],
        )?;
        let id: i64 = match row {
            Some(r) => get(&r, 0)?,
            None => return Err(StoreError::Conflict("username")),
        };
        if a.id.is_some() {
            // A pinned id (the demo world) must not be handed out again.
            self.exec(
                "SELECT setval(pg_get_serial_sequence('accounts', 'id'), (SELECT max(id) FROM accounts))",
                &[],
            )?;
        }
        let path = format!("{parent_path}{id}/");
        self.exec("UPDATE accounts SET path = $2 WHERE id = $1", &[&id, &path])?;
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
        self.exec(
            "UPDATE accounts SET postpaid = $2 WHERE id = $1",
            &[&account_id, &enabled],
        )
        .map(drop)
    }

    fn set_suspended(&mut self, account_id: i64, suspended: bool) -> Result<(), StoreError> {
        self.exec(
            "UPDATE accounts SET suspended = $2 WHERE id = $1",
            &[&account_id, &suspended],
        )
        .map(drop)
    }

    fn number_by_id(&mut self, id: i64) -> Result<Option<Number>, StoreError> {
        self.number_where("n.id = $1", &id)
    }

    fn number_by_e164(&mut self, number: &str) -> Result<Option<Number>, StoreError> {
        self.number_where("n.number = $1", &number)
    }

    fn number_by_uid(&mut self, uid: &str) -> Result<Option<Number>, StoreError> {
        self.number_where("n.uid = $1", &uid)
    }

    fn insert_number(&mut self, n: &NewNumber) -> Result<Number, StoreError> {
        let row = self.opt(
            "INSERT INTO numbers (id, uid, number, operator_id, alias, is_66_char, country, monthly_price, \
             yearly_price) VALUES (COALESCE($1, nextval(pg_get_serial_sequence('numbers', 'id'))), $2, $3, $4, \
             $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING id",
            &[
                &n.id,
                &n.uid,
                &n.number,
                &n.operator_id,
                &n.alias,
                &n.is_66_char,
                &n.country,
                &n.monthly_price,
                &n.yearly_price,
            ],
        )?;
        let id: i64 = match row {
            Some(r) => get(&r, 0)?,
            None => return Err(StoreError::Conflict("number")),
        };
        if n.id.is_some() {
            self.exec("SELECT setval(pg_get_serial_sequence('numbers', 'id'), (SELECT max(id) FROM numbers))", &[])?;
        }
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
        let changed = self.exec(
            "UPDATE numbers SET owner_id = $2, cycle = $3, resubscribe = $4, subscribed_at = $5 \
             WHERE id = $1 AND owner_id IS NULL",
            &[
                &number_id,
                &sub.owner_id,
                &sub.cycle.as_str(),
                &sub.resubscribe,
                &sub.subscribed_at,
            ],
        )?;
        Ok(changed == 1)
    }

    fn release_number(&mut self, number_id: i64) -> Result<(), StoreError> {
        self.exec(
            "UPDATE numbers SET owner_id = NULL, cycle = NULL, resubscribe = FALSE, subscribed_at = NULL \
             WHERE id = $1",
            &[&number_id],
        )
        .map(drop)
    }

    fn grants_on(&mut self, number_id: i64) -> Result<Vec<Grant>, StoreError> {
        self.all(
            "SELECT number_id, account_id, granted_by, send, gets, created_at FROM grants \
             WHERE number_id = $1 ORDER BY account_id",
            &[&number_id],
        )?
        .iter()
        .map(grant_row)
        .collect()
    }

    fn insert_grant(&mut self, g: &Grant) -> Result<(), StoreError> {
        let inserted = self.exec(
            // With a copy of the number's listed columns (migration 0003).
            "INSERT INTO grants (number_id, account_id, granted_by, send, gets, created_at, \
               number, operator_id, alias, is_66_char) \
             SELECT $1, $2, $3, $4, $5, $6, n.number, n.operator_id, n.alias, n.is_66_char \
             FROM numbers n WHERE n.id = $1 ON CONFLICT DO NOTHING",
            &[
                &g.number_id,
                &g.account_id,
                &g.granted_by,
                &g.send,
                &g.gets,
                &g.created_at,
            ],
        )?;
        if inserted == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict("grant"))
        }
    }

    fn delete_grant(&mut self, number_id: i64, account_id: i64) -> Result<bool, StoreError> {
        let n = self.exec(
            "DELETE FROM grants WHERE number_id = $1 AND account_id = $2",
            &[&number_id, &account_id],
        )?;
        Ok(n == 1)
    }

    fn insert_token(&mut self, t: &NewToken) -> Result<(), StoreError> {
        let inserted = self.exec(
            "INSERT INTO tokens (digest, account_id, kind, created_at, expires_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
            &[&t.digest, &t.account_id, &t.kind.as_str(), &t.created_at, &t.expires_at],
        )?;
        if inserted == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict("token"))
        }
    }

    fn credential(&mut self, digest: &str) -> Result<Option<Credential>, StoreError> {
        let sql = format!(
            "SELECT {ACCOUNT_COLS}, t.kind, t.expires_at, t.revoked_at IS NOT NULL \
             FROM tokens t JOIN accounts a ON a.id = t.account_id WHERE t.digest = $1"
        );
        let Some(r) = self.opt(&sql, &[&digest])? else {
            return Ok(None);
        };
        let kind: String = get(&r, 9)?;
        Ok(Some(Credential {
            account: account_row(&r)?,
            kind: TokenKind::parse(&kind).unwrap_or(TokenKind::Session),
            expires_at: get(&r, 10)?,
            revoked: get(&r, 11)?,
        }))
    }

    fn revoke_token(&mut self, digest: &str, at: i64) -> Result<bool, StoreError> {
        let n = self.exec(
            "UPDATE tokens SET revoked_at = $2 WHERE digest = $1 AND revoked_at IS NULL",
            &[&digest, &at],
        )?;
        Ok(n == 1)
    }

    fn record(&mut self, e: &HistoryEntry) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO history (at, request_id, actor_id, action, number_id, account_id, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &e.at,
                &e.request_id,
                &e.actor_id,
                &e.action.as_str(),
                &e.number_id,
                &e.account_id,
                &e.detail,
            ],
        )
        .map(drop)
    }

    fn held_numbers(
        &mut self,
        account: &Account,
        page: Page,
    ) -> Result<(Vec<HeldNumber>, i64), StoreError> {
        let (total, rows) = if account.is_admin() {
            let total = self.count(
                "SELECT count(*) FROM numbers WHERE owner_id IS NOT NULL",
                &[],
            )?;
            (
                total,
                self.all(ADMIN_HELD, &[&account.id, &page.limit, &page.offset])?,
            )
        } else {
            let total = self.count(HELD_TOTAL, &[&account.id])?;
            (
                total,
                self.all(HELD, &[&account.id, &page.limit, &page.offset])?,
            )
        };
        let items = rows
            .iter()
            .map(|r| {
                Ok(HeldNumber {
                    id: get(r, 0)?,
                    number: get(r, 1)?,
                    operator_id: get(r, 2)?,
                    alias: get(r, 3)?,
                    is_66_char: get(r, 4)?,
                    send: get(r, 5)?,
                    gets: get(r, 6)?,
                    owned: get(r, 7)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((items, total))
    }

    fn available_numbers(
        &mut self,
        country: Option<&str>,
        pattern: Option<&str>,
        page: Page,
    ) -> Result<(Vec<Number>, i64), StoreError> {
        let filter = "n.owner_id IS NULL AND ($1::text IS NULL OR n.country = $1) \
                      AND ($2::text IS NULL OR strpos(substr(n.number, 2), $2) > 0)";
        let total = self.count(
            &format!("SELECT count(*) FROM numbers n WHERE {filter}"),
            &[&country, &pattern],
        )?;
        let sql = format!(
            "SELECT {NUMBER_COLS} FROM numbers n WHERE {filter} ORDER BY n.id LIMIT $3 OFFSET $4"
        );
        let items = self
            .all(&sql, &[&country, &pattern, &page.limit, &page.offset])?
            .iter()
            .map(number_row)
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((items, total))
    }

    fn owned_numbers(
        &mut self,
        owner_id: i64,
        page: Page,
    ) -> Result<(Vec<(Number, i64)>, i64), StoreError> {
        let total = self.count(
            "SELECT count(*) FROM numbers WHERE owner_id = $1",
            &[&owner_id],
        )?;
        let sql = format!(
            "SELECT {NUMBER_COLS}, (SELECT count(*) FROM grants g WHERE g.number_id = n.id) \
             FROM numbers n WHERE n.owner_id = $1 ORDER BY n.id LIMIT $2 OFFSET $3"
        );
        let items = self
            .all(&sql, &[&owner_id, &page.limit, &page.offset])?
            .iter()
            .map(|r| Ok((number_row(r)?, get(r, 13)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((items, total))
    }

    fn snapshot(&mut self) -> Result<Snapshot, StoreError> {
        let accounts = self
            .all(
                &format!("SELECT {ACCOUNT_COLS} FROM accounts a ORDER BY a.id"),
                &[],
            )?
            .iter()
            .map(account_row)
            .collect::<Result<Vec<_>, _>>()?;
        let numbers = self
            .all(
                &format!("SELECT {NUMBER_COLS} FROM numbers n ORDER BY n.id"),
                &[],
            )?
            .iter()
            .map(number_row)
            .collect::<Result<Vec<_>, _>>()?;
        let grants = self
            .all(
                "SELECT number_id, account_id, granted_by, send, gets, created_at FROM grants \
                 ORDER BY number_id, account_id",
                &[],
            )?
            .iter()
            .map(grant_row)
            .collect::<Result<Vec<_>, _>>()?;
        let (history, request_ids): (Vec<_>, Vec<_>) = self
            .all(
                "SELECT action, number_id, account_id, request_id FROM history ORDER BY id",
                &[],
            )?
            .iter()
            .map(|r| Ok(((get(r, 0)?, get(r, 1)?, get(r, 2)?), get(r, 3)?)))
            .collect::<Result<Vec<_>, StoreError>>()?
            .into_iter()
            .unzip();
        // Through the list's own statement, so the check covers what it reads.
        let mut held = Vec::new();
        for a in &accounts {
            let total = self.count(HELD_TOTAL, &[&a.id])?;
            if total != 0 {
                held.push((a.id, total));
            }
        }
        let stale_copies = self.count(
            "SELECT count(*) FROM grants g JOIN numbers n ON n.id = g.number_id \
             WHERE g.number IS DISTINCT FROM n.number OR g.operator_id IS DISTINCT FROM n.operator_id \
                OR g.alias IS DISTINCT FROM n.alias OR g.is_66_char IS DISTINCT FROM n.is_66_char",
            &[],
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
        values.push(Box::new(page.limit));
        values.push(Box::new(page.offset));
        let (l, o) = (values.len() - 1, values.len());
        let sql = format!(
            "SELECT {ACCOUNT_COLS} FROM accounts a WHERE {clause} ORDER BY a.id LIMIT ${l} OFFSET ${o}"
        );
        self.all(&sql, &refs(&values))?
            .iter()
            .map(account_row)
            .collect()
    }

    fn count_downline(&mut self, of: &Account, filter: &DownlineFilter) -> Result<i64, StoreError> {
        let (clause, values) = downline_where(of, filter);
        self.count(
            &format!("SELECT count(*) FROM accounts a WHERE {clause}"),
            &refs(&values),
        )
    }

    fn accounts_by_ids(&mut self, ids: &[i64]) -> Result<Vec<Account>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ids.to_vec();
        self.all(
            &format!("SELECT {ACCOUNT_COLS} FROM accounts a WHERE a.id = ANY($1)"),
            &[&ids],
        )?
        .iter()
        .map(account_row)
        .collect()
    }
}
