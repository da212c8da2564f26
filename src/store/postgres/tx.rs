//! The `Tx` primitives on PostgreSQL: the shared statements of `store::sql`
//! as written, and PostgreSQL's own SQL where the dialects differ.
//!
//! Round trips. A statement whose answer the job does not read (a history
//! entry with its staged event, staged events) is not sent when the job
//! makes it: it waits in [`PgTx`] and goes out ahead of the job's next
//! statement, or with the `COMMIT`, in the same write (tokio-postgres
//! pipelines requests sent together; the server still runs them one after
//! another, in the order the job made them, each with its own snapshot).
//! The `BEGIN` goes out with the transaction's first statement in the same
//! way, and a rule's first reads that do not depend on one another (the
//! number's row lock, its grants, the target account:
//! [`Tx::resolve_reads`]) go out together. An assign is then three round
//! trips (the reads, the grant's insert, the history and event with the
//! `COMMIT`) where it was eight. A statement that fails is reported to the
//! call that sent it, which may be the one after the deferred statement's
//! own call: the job fails either way, and nothing of it commits.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use postgres::types::ToSql;
use postgres::{Row, Statement};

use super::{Conn, is_connection_lost, is_retryable};
use crate::store::downline::{DownlineFilter, Relation, contains_pattern, downline_bounds};
use crate::store::sql::{self, ACCOUNT_COLS, Column, Columns, NUMBER_COLS, concat_sql};
use crate::store::{
    Account, AccountKey, BudgetClaim, BudgetCount, BudgetRelease, ClaimOutcome, ClaimedRows,
    Credential, Due, EventQuery, EventRow, Grant, HeldNumber, HeldRow, HistoryEntry, HistoryQuery,
    HistoryRow, HoldingFilter, KeyClaim, KeyRow, NewAccount, NewEvent, NewNumber, NewToken, Number,
    NumberFacts, NumberKey, Page, PoolFilter, ResolvedReads, RoutingRows, Snapshot, StoreError,
    StoredAnswer, Subscription, TokenRow, Tx,
};
use crate::store::{AttemptRow, ChangesAfter, DeliveryRow, DeliveryUpdate, NewWebhook, WebhookRow};

/// An owned parameter of a deferred statement.
type Owned = Box<dyn ToSql + Sync + Send>;

/// A statement sent later (see the module's doc).
enum Deferred {
    /// Transaction control (a group's savepoints).
    Simple(&'static str),
    Query {
        statement: Statement,
        params: Vec<Owned>,
    },
}

/// A transaction, or the bare connection for [`crate::store::Access::Single`]
/// and [`crate::store::Access::ReadEach`].
pub(super) struct PgTx<'a> {
    conn: &'a mut Conn,
    cache: &'a mut HashMap<String, Statement>,
    /// In a write transaction, number lookups lock the row.
    write: bool,
    /// The transaction's `BEGIN`, until it is sent with the first statement
    /// (`None` without a transaction, or once sent).
    begin: Option<&'static str>,
    /// Whether a `BEGIN` was sent: there is a transaction to end.
    begun: bool,
    /// Statements not sent yet, in the order the job made them; only inside
    /// a transaction (without one, each statement is sent as it is made).
    deferred: Vec<Deferred>,
    retry: bool,
    /// A statement gave up waiting for a lock.
    timed_out: bool,
    /// A statement found the connection gone (or on a standby): the worker
    /// replaces it before its next job.
    lost: bool,
    /// Statements executed (for [`crate::store::Store::statements`]).
    executed: u64,
    /// In a group transaction, where the running job's own deferred
    /// statements start, and whether its savepoint is still among them
    /// (unsent: the job sent nothing yet).
    job_start: usize,
    savepoint_unsent: bool,
    /// A dropped job's `ROLLBACK TO SAVEPOINT` is among the deferred
    /// statements: until it is sent the transaction is aborted, so nothing
    /// may be prepared (see [`PgTx::stmt`]).
    rollback_unsent: bool,
    /// Writes to the server that waited for its answers (a statement's
    /// preparation, once per connection, aside).
    round_trips: u64,
}

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// One request of a round trip.
enum Request<'r> {
    Simple(&'r str),
    Query(&'r Statement, Vec<&'r (dyn ToSql + Sync)>),
}

/// How long a group's later job waits for a row lock (see [`PgTx::start_job`]).
pub(super) const GROUP_LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = 10";

/// A statement's rows and how many rows it wrote.
type Answer = (Vec<Row>, u64);

async fn simple(client: &tokio_postgres::Client, sql: &str) -> Result<Answer, postgres::Error> {
    client.batch_execute(sql).await.map(|()| (Vec::new(), 0))
}

async fn query(
    client: &tokio_postgres::Client,
    statement: &Statement,
    params: Vec<&(dyn ToSql + Sync)>,
) -> Result<Answer, postgres::Error> {
    use futures_util::TryStreamExt;
    let stream = client.query_raw(statement, params).await?;
    let mut stream = std::pin::pin!(stream);
    let mut rows = Vec::new();
    while let Some(row) = stream.as_mut().try_next().await? {
        rows.push(row);
    }
    let written = stream.rows_affected().unwrap_or(0);
    Ok((rows, written))
}

/// One request's answer, awaited.
type Pending<'f> = Pin<Box<dyn Future<Output = Result<Answer, postgres::Error>> + 'f>>;

/// Polls every future in order, each until it is ready, so that each sends
/// its request before the next one does: they go out in one write and the
/// server answers them in that order.
async fn in_order<'f, T>(mut futures: Vec<Pin<Box<dyn Future<Output = T> + 'f>>>) -> Vec<T> {
    let mut out: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut waiting = false;
        for (future, slot) in futures.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(v) => *slot = Some(v),
                    Poll::Pending => waiting = true,
                }
            }
        }
        if waiting {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

impl<'a> PgTx<'a> {
    /// `begin`: the transaction's `BEGIN`, or `None` for no transaction.
    pub(super) fn new(
        conn: &'a mut Conn,
        cache: &'a mut HashMap<String, Statement>,
        write: bool,
        begin: Option<&'static str>,
    ) -> Self {
        PgTx {
            conn,
            cache,
            write,
            begin,
            begun: false,
            deferred: Vec::new(),
            retry: false,
            timed_out: false,
            lost: false,
            executed: 0,
            job_start: 0,
            savepoint_unsent: false,
            rollback_unsent: false,
            round_trips: 0,
        }
    }

    /// Statements this transaction executed, its `BEGIN` and `COMMIT` or
    /// `ROLLBACK` included.
    pub(super) fn executed(&self) -> u64 {
        self.executed
    }

    /// Round trips this transaction made.
    pub(super) fn round_trips(&self) -> u64 {
        self.round_trips
    }

    /// Sends the `BEGIN` if it is still to be sent, the deferred statements
    /// and `requests` in one write, and waits for every answer: the
    /// deferred ones' errors first, then each request's answer.
    fn round_trip(
        &mut self,
        requests: Vec<Request<'_>>,
    ) -> Result<Vec<Result<Answer, postgres::Error>>, StoreError> {
        let begin = self.begin.take();
        let deferred = std::mem::take(&mut self.deferred);
        let client = &self.conn.client;
        let mut futures: Vec<Pending<'_>> = Vec::with_capacity(requests.len() + deferred.len() + 1);
        if let Some(begin) = begin {
            self.begun = true;
            self.executed += 1;
            futures.push(Box::pin(simple(client, begin)));
        }
        // `job_start` indexes `deferred`, now empty: the running job's own
        // deferred statements, from here on, start at 0 (a stale index
        // would have `drop_job` keep them, to go out ahead of its rollback).
        self.job_start = 0;
        self.savepoint_unsent = false;
        self.rollback_unsent = false;
        for d in &deferred {
            futures.push(match d {
                Deferred::Simple(sql) => Box::pin(simple(client, sql)),
                Deferred::Query { statement, params } => {
                    let params: Vec<&(dyn ToSql + Sync)> = params
                        .iter()
                        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                        .collect();
                    Box::pin(query(client, statement, params))
                }
            });
        }
        let mine = requests.len();
        for r in requests {
            futures.push(match r {
                Request::Simple(sql) => Box::pin(simple(client, sql)),
                Request::Query(s, params) => Box::pin(query(client, s, params)),
            });
        }
        let sent = futures.len();
        if sent == 0 {
            return Ok(Vec::new());
        }
        self.round_trips += 1;
        let mut answers = self.conn.rt.block_on(in_order(futures));
        if answers.len() != sent {
            return Err(StoreError::Backend(
                "a pipelined statement went unanswered".into(),
            ));
        }
        // The first failure of what was sent before `requests` is theirs
        // too: the transaction is aborted, and theirs only say so.
        let mine = answers.split_off(sent - mine);
        if let Some(e) = answers.into_iter().find_map(Result::err) {
            return Err(self.fail(e));
        }
        Ok(mine)
    }

    /// Ends the transaction with `COMMIT`, sent with the deferred
    /// statements; nothing to send when nothing was. An error leaves
    /// [`PgTx::wants_retry`] and [`PgTx::lost`] set as for any statement: a
    /// deferred statement's failure turns the `COMMIT` into a rollback (the
    /// server ends a failed transaction so), a lost connection leaves the
    /// outcome unknown.
    pub(super) fn commit(&mut self) -> Result<(), StoreError> {
        if !self.begun && self.deferred.is_empty() {
            self.begin = None;
            return Ok(());
        }
        self.executed += 1;
        let answer = self.round_trip(vec![Request::Simple("COMMIT")])?;
        match answer.into_iter().next() {
            Some(Err(e)) => Err(self.fail(e)),
            _ => Ok(()),
        }
    }

    /// Ends the transaction with `ROLLBACK` (the deferred statements are
    /// dropped unsent); nothing to send when nothing was.
    pub(super) fn rollback(&mut self) {
        self.deferred.clear();
        self.rollback_unsent = false;
        self.begin = None;
        if self.begun {
            self.begun = false;
            self.executed += 1;
            let answer = self.round_trip(vec![Request::Simple("ROLLBACK")]);
            if let Some(Err(e)) = answer.ok().and_then(|a| a.into_iter().next()) {
                let _ = self.fail(e);
            }
        }
    }

    /// Whether a statement failed in a way that running the job again may cure.
    pub(super) fn wants_retry(&self) -> bool {
        self.retry
    }

    /// Whether a statement found the connection unusable.
    pub(super) fn lost(&self) -> bool {
        self.lost
    }

    /// Whether a statement gave up waiting for a lock (`lock_timeout`).
    pub(super) fn timed_out(&self) -> bool {
        self.timed_out
    }

    fn fail(&mut self, e: postgres::Error) -> StoreError {
        if is_retryable(&e) {
            self.retry = true;
        }
        if e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) {
            self.timed_out = true;
        }
        if is_connection_lost(&e) {
            // Not retried on this connection: it is gone. The caller hears
            // a 503 (the database is unreachable), never a 500.
            self.lost = true;
            tracing::warn!(error = %super::describe(&e), "PostgreSQL connection lost");
            return StoreError::Unavailable;
        }
        StoreError::Backend(super::describe(&e))
    }

    /// The statement for `sql`, prepared once per connection.
    ///
    /// The preparation goes out at once, ahead of the deferred statements:
    /// if those hold a dropped job's `ROLLBACK TO SAVEPOINT`, the
    /// transaction is still aborted on the server and would refuse the
    /// preparation (`25P02`), failing the next job for the dropped one's
    /// sake. Those are sent first, then (a round trip more, once per
    /// statement and connection, and only after a dropped job).
    fn stmt(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(s) = self.cache.get(sql) {
            return Ok(s.clone());
        }
        if self.rollback_unsent {
            self.round_trip(Vec::new())?;
        }
        // Not counted in `round_trips`: once per statement and connection.
        let prepared = self.conn.rt.block_on(self.conn.client.prepare(sql));
        let s = prepared.map_err(|e| self.fail(e))?;
        self.cache.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    /// Runs the statements in one round trip (with whatever is still to be
    /// sent ahead of them); answers each one's rows and count, in order.
    fn many(&mut self, statements: &[(&str, Params<'_>)]) -> Result<Vec<Answer>, StoreError> {
        let prepared = statements
            .iter()
            .map(|(sql, _)| self.stmt(sql))
            .collect::<Result<Vec<_>, _>>()?;
        self.executed += statements.len() as u64;
        let requests = prepared
            .iter()
            .zip(statements)
            .map(|(s, (_, params))| Request::Query(s, params.to_vec()))
            .collect();
        let answers = self.round_trip(requests)?;
        let mut out = Vec::with_capacity(answers.len());
        for answer in answers {
            out.push(answer.map_err(|e| self.fail(e))?);
        }
        Ok(out)
    }

    fn one(&mut self, sql: &str, params: Params<'_>) -> Result<Answer, StoreError> {
        self.many(&[(sql, params)])?
            .pop()
            .ok_or_else(|| StoreError::Backend("a statement went unanswered".into()))
    }

    fn all(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, StoreError> {
        Ok(self.one(sql, params)?.0)
    }

    fn opt(&mut self, sql: &str, params: Params<'_>) -> Result<Option<Row>, StoreError> {
        let mut rows = self.all(sql, params)?;
        if rows.len() > 1 {
            return Err(StoreError::Backend(
                "query returned more than one row".into(),
            ));
        }
        Ok(rows.pop())
    }

    fn exec(&mut self, sql: &str, params: Params<'_>) -> Result<u64, StoreError> {
        Ok(self.one(sql, params)?.1)
    }

    /// Queues `sql` to go out ahead of the next statement or with the
    /// `COMMIT`, in a transaction; without one, runs it now.
    fn defer(&mut self, sql: &str, params: Vec<Owned>) -> Result<(), StoreError> {
        let statement = self.stmt(sql)?;
        if self.begin.is_none() && !self.begun {
            let refs: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            return self.exec(sql, &refs).map(drop);
        }
        self.executed += 1;
        self.deferred.push(Deferred::Query { statement, params });
        Ok(())
    }

    fn control(&mut self, sql: &'static str) {
        self.executed += 1;
        self.deferred.push(Deferred::Simple(sql));
    }

    /// Starts a job of a group transaction (see `Worker::run_group`): its
    /// savepoint, sent with its first statement. With `lock_timeout` (the
    /// group holds earlier jobs' locks), a row lock the job waits for past
    /// [`GROUP_LOCK_TIMEOUT`] fails it (`55P03`) rather than let two groups
    /// wait on each other.
    pub(super) fn start_job(&mut self, lock_timeout: bool) {
        self.retry = false;
        self.timed_out = false;
        self.job_start = self.deferred.len();
        self.savepoint_unsent = true;
        self.control("SAVEPOINT job");
        if lock_timeout {
            self.control(GROUP_LOCK_TIMEOUT);
        }
    }

    /// Ends a job of a group transaction, keeping its work: sends its
    /// deferred statements and releases its savepoint, so that a failure of
    /// its own is told to it, not to the next job.
    pub(super) fn keep_job(&mut self) -> Result<(), StoreError> {
        let start = self.job_start.min(self.deferred.len());
        if self.savepoint_unsent
            && self.deferred[start..]
                .iter()
                .all(|d| matches!(d, Deferred::Simple(_)))
        {
            // It sent nothing, and has nothing deferred: nothing to keep.
            self.drop_job();
            return Ok(());
        }
        self.control("RELEASE SAVEPOINT job");
        self.round_trip(Vec::new()).map(drop)
    }

    /// Ends a job of a group transaction, undoing its work (sent with the
    /// next statement).
    pub(super) fn drop_job(&mut self) {
        self.retry = false;
        let unsent = self.savepoint_unsent;
        self.deferred
            .truncate(self.job_start.min(self.deferred.len()));
        self.savepoint_unsent = false;
        if !unsent {
            self.control("ROLLBACK TO SAVEPOINT job");
            self.control("RELEASE SAVEPOINT job");
            self.rollback_unsent = true;
        }
    }

    fn count(&mut self, sql: &str, params: Params<'_>) -> Result<i64, StoreError> {
        let row = self
            .opt(sql, params)?
            .ok_or_else(|| StoreError::Backend("count returned no row".into()))?;
        get(&row, 0)
    }

    /// A number by one of its keys; in a write transaction its row stays
    /// locked until the end (`FOR UPDATE`, which SQLite has no need of: its
    /// one writer sees every number alone).
    fn number(
        &mut self,
        read: &'static str,
        locked: &'static str,
        key: &(dyn ToSql + Sync),
    ) -> Result<Option<Number>, StoreError> {
        let sql = if self.write { locked } else { read };
        self.opt(sql, &[key])?.map(|r| sql::number(&r)).transpose()
    }

    fn account(
        &mut self,
        sql: &str,
        key: &(dyn ToSql + Sync),
    ) -> Result<Option<Account>, StoreError> {
        self.opt(sql, &[key])?.map(|r| sql::account(&r)).transpose()
    }
}

/// [`sql::GRANTS_ON`] for the number with E.164 `$1`, or uid `$1`: sent
/// after the number's lookup (which locks it), so it reads the grants as
/// they stand once the lock is held.
const GRANTS_ON_E164: &str = concat_sql!(
    "SELECT ",
    sql::GRANT_COLS,
    " FROM grants WHERE number_id = (SELECT id FROM numbers WHERE number = $1) ORDER BY account_id"
);
const GRANTS_ON_UID: &str = concat_sql!(
    "SELECT ",
    sql::GRANT_COLS,
    " FROM grants WHERE number_id = (SELECT id FROM numbers WHERE uid = $1) ORDER BY account_id"
);
/// [`sql::RECORD`] (`$1`-`$7`) and the event of the entry it writes, staged
/// with the entry's id (`$8`-`$14`: at, type, actor, request, number,
/// account, data), in one statement.
const LOG_WITH_EVENT: &str = "WITH h AS (INSERT INTO history (at, request_id, actor_id, action, \
       number_id, account_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id) \
     INSERT INTO event_staging (history_id, at, type, actor_id, request_id, number_id, account_id, data) \
     SELECT id, $8, $9, $10, $11, $12, $13, $14 FROM h";
/// A transaction's events, staged until the sequencer gives them their
/// ids: a row per element of the arrays, in their order.
const STAGE_EVENTS: &str = "INSERT INTO event_staging \
     (history_id, at, type, actor_id, request_id, number_id, account_id, data) \
     SELECT h, a, t, ac, r, n, c, d FROM unnest($1::bigint[], $2::bigint[], $3::text[], \
       $4::bigint[], $5::text[], $6::bigint[], $7::bigint[], $8::text[]) \
       WITH ORDINALITY AS u(h, a, t, ac, r, n, c, d, o) \
     ORDER BY o";
/// Taken by [`Tx::sequence_events`] and held to its commit: one sequencer at
/// a time, on every instance, so ids are taken one pass after another.
/// `SELECT` so that it runs as a prepared query.
/// [`Tx::changes_after`]: the events after `$1` and the staged ones, at
/// most `$2` of each.
const CHANGES_AFTER: &str = "(SELECT id, number_id FROM events WHERE id > $1 ORDER BY id LIMIT $2) \
     UNION ALL (SELECT NULL::bigint, number_id FROM event_staging LIMIT $2)";

/// [`SEQUENCER_LOCK`], if no one holds it.
const SEQUENCER_TRY_LOCK: &str = "SELECT pg_try_advisory_xact_lock(7347651235)";

const SEQUENCER_LOCK: &str = "SELECT pg_advisory_xact_lock(7347651235)::text";
/// Moves up to `$1` staged events (the oldest, committed ones: this
/// statement's snapshot) to `events`, numbered in `seq` order: the sort is
/// in a subquery (which is never pulled up), so `nextval` is evaluated row
/// by row in that order.
const SEQUENCE_EVENTS: &str = "WITH moved AS (\
       DELETE FROM event_staging WHERE seq IN \
         (SELECT seq FROM event_staging ORDER BY seq LIMIT $1) \
       RETURNING *) \
     INSERT INTO events (id, history_id, at, type, actor_id, request_id, number_id, account_id, data) \
     SELECT nextval('events_id_seq'), history_id, at, type, actor_id, request_id, number_id, \
       account_id, data \
     FROM (SELECT * FROM moved ORDER BY seq) m";
/// [`sql::WEBHOOK_WORK`], and staged events when an endpoint is enabled
/// (the fan-out sequences them first).
const WEBHOOK_WORK: &str = concat_sql!(
    sql::WEBHOOK_WORK.postgres,
    " + (SELECT count(*) FROM (SELECT 1 FROM event_staging LIMIT 1) s \
       WHERE EXISTS (SELECT 1 FROM webhooks w WHERE w.disabled_at IS NULL))"
);
/// Every event, staged ones included (they are committed with their
/// changes; only their ids are still to come).
/// In the order they have or will have: the numbered ones by id, then the
/// staged ones as they will be numbered.
const ALL_EVENTS: &str = "SELECT history_id, type FROM ( \
       SELECT 0 AS staged, id AS k, history_id, type FROM events \
       UNION ALL SELECT 1, seq, history_id, type FROM event_staging) e \
     ORDER BY staged, k";
const DELIVERIES_BY_IDS: &str = concat_sql!(
    "SELECT ",
    sql::DELIVERY_COLS,
    " FROM webhook_deliveries d LEFT JOIN events e ON e.id = d.event_id WHERE d.id = ANY($1)"
);
const WEBHOOKS_BY_IDS: &str = concat_sql!(
    "SELECT ",
    sql::WEBHOOK_COLS,
    " FROM webhooks WHERE id = ANY($1)"
);

/// [`Tx::history_by_ids`], the ids one array parameter.
const HISTORY_BY_IDS: &str = concat_sql!(
    "SELECT ",
    sql::HISTORY_BY_IDS_COLS,
    " FROM history h WHERE h.id = ANY($1)"
);
/// [`Tx::number_facts`], the ids one array parameter.
const NUMBER_FACTS: &str = concat_sql!(
    "SELECT ",
    sql::NUMBER_FACTS_COLS,
    " FROM numbers n WHERE n.id = ANY($1)"
);
const EVENTS_BY_IDS: &str = concat_sql!(
    "SELECT ",
    sql::EVENT_COLS,
    " FROM events e LEFT JOIN numbers n ON n.id = e.number_id WHERE e.id = ANY($1)"
);
/// [`sql::LEASE_DELIVERY`] for every id of `$1`.
const LEASE_DELIVERIES: &str =
    "UPDATE webhook_deliveries SET lease_owner = $2, lease_until = $3 WHERE id = ANY($1)";
/// [`sql::INSERT_ATTEMPT`], a row per element of the arrays.
const INSERT_ATTEMPTS: &str = "INSERT INTO webhook_attempts \
     (delivery_id, attempt, at, status, latency_ms, response, error) \
     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], \
       $5::bigint[], $6::text[], $7::text[])";
/// [`sql::FINISH_DELIVERY`], a delivery per element of the arrays; answers
/// the ids it wrote (those still claimed by their owner).
const FINISH_DELIVERIES: &str = "UPDATE webhook_deliveries d SET state = u.state, \
       attempts = u.attempts, next_at = u.next_at, done_at = u.done_at, \
       lease_owner = NULL, lease_until = 0 \
     FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], \
       $6::bigint[]) AS u(id, owner, state, attempts, next_at, done_at) \
     WHERE d.id = u.id AND d.lease_owner = u.owner AND d.state = 'pending' RETURNING d.id";
/// [`sql::INSERT_DELIVERY`], a delivery per element of the arrays.
const INSERT_DELIVERIES: &str = "INSERT INTO webhook_deliveries \
       (webhook_id, event_id, order_key, state, attempts, next_at, lease_until, created_at) \
     SELECT w, e, k, 'pending', 0, $4, 0, $4 \
     FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS u(w, e, k) ON CONFLICT DO NOTHING";
/// Staged events moved per statement.
const SEQUENCE_BATCH: i64 = 5_000;

/// A maximum as the `int` column compares it.
fn clamp(max: u32) -> i32 {
    i32::try_from(max).unwrap_or(i32::MAX)
}

/// A column by index; a type mismatch is an error, never a panic.
fn get<'r, T: postgres::types::FromSql<'r>>(row: &'r Row, idx: usize) -> Result<T, StoreError> {
    row.try_get(idx)
        .map_err(|e| StoreError::Backend(format!("column {idx}: {e}")))
}

impl Columns for Row {
    type Error = StoreError;

    fn col<T: Column>(&self, idx: usize) -> Result<T, StoreError> {
        get(self, idx)
    }
}

const NUMBER_BY_ID_LOCKED: &str = concat_sql!(sql::NUMBER_BY_ID.postgres, " FOR UPDATE");
const NUMBER_BY_E164_LOCKED: &str = concat_sql!(sql::NUMBER_BY_E164.postgres, " FOR UPDATE");
const NUMBER_BY_UID_LOCKED: &str = concat_sql!(sql::NUMBER_BY_UID.postgres, " FOR UPDATE");

/// A NULL id does not take the next value of a `bigserial` here (as it does
/// SQLite's rowid), so the sequence is named. ON CONFLICT DO NOTHING: a
/// taken username leaves the transaction usable (a failed statement would
/// abort it), and a racing insert waits for the other to commit first.
const INSERT_ACCOUNT: &str = "INSERT INTO accounts (id, username, username_key, name, \
     password_hash, is_reseller, parent_id, path, depth, postpaid, mobile, email, created_at) \
     VALUES (COALESCE($1, nextval(pg_get_serial_sequence('accounts', 'id'))), $2, $3, $4, $5, \
     $6, $7, '', $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING RETURNING id";
/// A pinned id (the demo world) must not be handed out again.
const BUMP_ACCOUNT_IDS: &str =
    "SELECT setval(pg_get_serial_sequence('accounts', 'id'), (SELECT max(id) FROM accounts))";

/// As [`INSERT_ACCOUNT`].
const INSERT_NUMBER: &str = "INSERT INTO numbers (id, uid, number, operator_id, alias, \
     is_66_char, country, monthly_price, yearly_price) \
     VALUES (COALESCE($1, nextval(pg_get_serial_sequence('numbers', 'id'))), $2, $3, $4, $5, \
     $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING id";
/// As [`BUMP_ACCOUNT_IDS`].
const BUMP_NUMBER_IDS: &str =
    "SELECT setval(pg_get_serial_sequence('numbers', 'id'), (SELECT max(id) FROM numbers))";

/// ON CONFLICT DO NOTHING, as in [`INSERT_ACCOUNT`], so a grant that exists
/// already is reported without aborting the transaction.
const INSERT_GRANT: &str = concat_sql!(sql::INSERT_GRANT.postgres, " ON CONFLICT DO NOTHING");
/// As [`INSERT_GRANT`].
const INSERT_TOKEN: &str = concat_sql!(sql::INSERT_TOKEN.postgres, " ON CONFLICT DO NOTHING");

/// The channel on which a committed revocation is announced to every
/// process (see `postgres::listen`): `d:<digest>` for a token or key,
/// `a:<account id>` for a suspension.
pub(super) const REVOKED_CHANNEL: &str = "linekeeper_revoked";

/// Revokes and announces in one statement; `pg_notify` is delivered when
/// (and only if) the transaction commits.
const REVOKE_TOKEN: &str = concat_sql!(
    "WITH r AS (",
    sql::REVOKE_TOKEN.postgres,
    " RETURNING digest) SELECT pg_notify('linekeeper_revoked', 'd:' || digest) FROM r"
);
/// As [`REVOKE_TOKEN`], for every credential of an account.
const SET_SUSPENDED: &str = concat_sql!(
    "WITH s AS (",
    sql::SET_SUSPENDED.postgres,
    " RETURNING id) SELECT pg_notify('linekeeper_revoked', 'a:' || id) FROM s"
);

/// One login attempt's strikes, on both budgets or neither, in one statement
/// (`$1` the username's key, `$2` the address's, `$3` now, `$4` the window,
/// `$5`/`$6` the username's and the address's maxima).
///
/// A budget is live while `window_start > now - window`; an expired one, or
/// one a success cleared (count 0), starts afresh at now. The address is
/// claimed first, and only if the username is not exhausted (as of the
/// statement's snapshot) and the address itself is not; the username is
/// claimed only if the address was (`FROM addr`), and only if it is not
/// exhausted as of its latest version. Each `ON CONFLICT DO UPDATE ... WHERE`
/// runs on the row's latest version under its row lock, so racing attempts
/// are counted one after another and none can pass a maximum. The address's
/// row is always locked before the username's (no deadlock between claims).
/// Only when attempts race at a username's last strike can the address's
/// strike be taken alone; the caller then gives it back.
///
/// The last four columns are both budgets as they stood (for Retry-After).
const CLAIM_LOGIN_BUDGETS: &str = "WITH addr AS ( \
     INSERT INTO login_budget AS b (key, count, window_start) \
     SELECT $2::text, 1, $3::bigint WHERE NOT EXISTS (SELECT 1 FROM login_budget u \
       WHERE u.key = $1::text AND u.count >= $5::int AND u.window_start > $3::bigint - $4::bigint) \
     ON CONFLICT (key) DO UPDATE SET \
       count = CASE WHEN b.window_start <= $3::bigint - $4::bigint OR b.count = 0 THEN 1 ELSE b.count + 1 END, \
       window_start = CASE WHEN b.window_start <= $3::bigint - $4::bigint OR b.count = 0 \
         THEN $3::bigint ELSE b.window_start END \
     WHERE b.window_start <= $3::bigint - $4::bigint OR b.count < $6::int \
     RETURNING b.count, b.window_start), \
   usr AS ( \
     INSERT INTO login_budget AS b (key, count, window_start) \
     SELECT $1::text, 1, $3::bigint FROM addr \
     ON CONFLICT (key) DO UPDATE SET \
       count = CASE WHEN b.window_start <= $3::bigint - $4::bigint OR b.count = 0 THEN 1 ELSE b.count + 1 END, \
       window_start = CASE WHEN b.window_start <= $3::bigint - $4::bigint OR b.count = 0 \
         THEN $3::bigint ELSE b.window_start END \
     WHERE b.window_start <= $3::bigint - $4::bigint OR b.count < $5::int \
     RETURNING b.count, b.window_start) \
   SELECT (SELECT count FROM usr), (SELECT window_start FROM usr), \
     (SELECT count FROM addr), (SELECT window_start FROM addr), \
     (SELECT count FROM login_budget WHERE key = $1::text), \
     (SELECT window_start FROM login_budget WHERE key = $1::text), \
     (SELECT count FROM login_budget WHERE key = $2::text), \
     (SELECT window_start FROM login_budget WHERE key = $2::text)";

/// Gives an attempt's strikes back, in one statement: the address's (`$1`,
/// counted in the window that started at `$2`) and the username's (`$3`, in
/// the window `$4`), all of the latter when `$5` (a success). A NULL key
/// gives nothing back. A window that has started afresh since is left alone.
/// The address's row is locked first, as in [`CLAIM_LOGIN_BUDGETS`]: the
/// username's update reads `a` before it touches its row.
const RELEASE_LOGIN_BUDGETS: &str = "WITH a AS ( \
     UPDATE login_budget SET count = count - 1 \
     WHERE key = $1::text AND window_start = $2::bigint AND count > 0 RETURNING 1) \
   UPDATE login_budget SET count = CASE WHEN $5::bool THEN 0 ELSE count - 1 END \
   WHERE key = $3::text AND window_start = $4::bigint AND count > 0 \
     AND (SELECT count(*) FROM a) >= 0";

const PRUNE_LOGIN_BUDGETS: &str = "DELETE FROM login_budget WHERE window_start <= $1";

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
        AND (g.expires_at IS NULL OR g.expires_at > $4) \
      ORDER BY g.account_id, g.number_id LIMIT $2::bigint + $3::bigint)) AS held \
     ORDER BY 1 LIMIT $2 OFFSET $3";

/// What account `$1` holds, owned plus granted: the list's total, from the
/// counters of migration 0009 (the folded row and this account's delta rows,
/// a few index lookups whatever it holds), less its grants past their end at
/// `$4` that are not swept yet (a short range of `grants_ending`).
const HELD_TOTAL: &str = "SELECT coalesce((SELECT held FROM holdings WHERE account_id = $1), 0) \
     + coalesce((SELECT sum(held) FROM holdings_delta WHERE account_id = $1), 0)::bigint \
     - (SELECT count(*) FROM grants WHERE account_id = $1 AND expires_at <= $4)";

/// [`HELD`] and [`HELD_TOTAL`] as one statement, so the list is one round
/// trip and one snapshot with no transaction around it
/// ([`crate::store::Access::ReadEach`]): the total in column 8 of every row,
/// and one row of NULL items after it when the page is empty.
const HELD_PAGE: &str = concat_sql!(
    "SELECT h.*, t.total FROM (",
    HELD_TOTAL,
    " AS total) AS t LEFT JOIN LATERAL (",
    HELD,
    ") AS h ON TRUE ORDER BY h.id"
);

/// Every account's counter as it stands (folded plus deltas), for the
/// invariant checker: an account that holds nothing has 0 or no row.
const COUNTERS: &str = "SELECT account_id, sum(held)::bigint FROM \
     (SELECT account_id, held FROM holdings UNION ALL SELECT account_id, held FROM holdings_delta) c \
     GROUP BY account_id HAVING sum(held) <> 0 ORDER BY account_id";

/// Folds up to `$1` delta rows into `holdings` (see migration 0009): only
/// rows no transaction holds (`SKIP LOCKED`: the fold never waits on a
/// writer), added in account order (two folders wait on each other in one
/// order only). Answers how many delta rows it folded.
const FOLD_HOLDINGS: &str = "WITH taken AS ( \
       DELETE FROM holdings_delta d USING ( \
         SELECT account_id, backend FROM holdings_delta \
         ORDER BY account_id, backend LIMIT $1 FOR UPDATE SKIP LOCKED) s \
       WHERE d.account_id = s.account_id AND d.backend = s.backend \
       RETURNING d.account_id, d.held), \
     added AS ( \
       INSERT INTO holdings (account_id, held) \
       SELECT account_id, sum(held) FROM taken GROUP BY account_id ORDER BY account_id \
       ON CONFLICT (account_id) DO UPDATE SET held = holdings.held + EXCLUDED.held \
       RETURNING 1) \
     SELECT (SELECT count(*) FROM taken) + 0 * (SELECT count(*) FROM added)";

/// The pool, optionally of one country (`$1`) and containing the digits
/// `$2`. A parameter compared only with NULL needs its type spelled out
/// here, and the substring search is strpos() (SQLite's instr()).
/// `$3` is now: a quarantine or reservation that has ended is over.
const POOL_FILTER: &str = "n.owner_id IS NULL AND ($1::text IS NULL OR n.country = $1) \
     AND ($2::text IS NULL OR strpos(substr(n.number, 2), $2) > 0) \
     AND ($3::text IS NULL OR strpos(substr(n.number, 2), $3) = 1) \
     AND ($4::bigint IS NULL OR n.monthly_price >= $4) \
     AND ($5::bigint IS NULL OR n.monthly_price <= $5) \
     AND ($6::bigint IS NULL OR n.id > $6) \
     AND (n.quarantine_until IS NULL OR n.quarantine_until <= $7) \
     AND (n.reserved_until IS NULL OR n.reserved_until <= $7)";
const POOL: &str = concat_sql!(
    "SELECT ",
    NUMBER_COLS,
    " FROM numbers n WHERE ",
    POOL_FILTER,
    " ORDER BY n.id LIMIT $8 OFFSET $9"
);
/// Takes an account's row lock (SQLite's one writer needs none).
const LOCK_ACCOUNT: &str = "SELECT id FROM accounts WHERE id = $1 FOR UPDATE";
/// In id order: the lock rows node sits above the sort (as in
/// [`NUMBERS_BY_KEYS_LOCKED`]).
const LOCK_NUMBERS: &str = "SELECT id FROM numbers WHERE id = ANY($1) ORDER BY id FOR UPDATE";
const COUNT_POOL: &str = concat_sql!("SELECT count(*) FROM numbers n WHERE ", POOL_FILTER);

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
    if let Some(q) = &filter.q {
        let p = param(&mut values, Box::new(contains_pattern(q)));
        clauses.push(format!(
            "(a.username_key LIKE {p} ESCAPE '\\' \
             OR lower(a.name COLLATE \"C\") LIKE lower({p} COLLATE \"C\") ESCAPE '\\')"
        ));
    }
    if let Some(after) = filter.after_id {
        let p = param(&mut values, Box::new(after));
        clauses.push(format!("a.id > {p}"));
    }
    (clauses.join(" AND "), values)
}

const ACCOUNTS_BY_IDS: &str = concat_sql!(
    "SELECT ",
    ACCOUNT_COLS,
    " FROM accounts a WHERE a.id = ANY($1)"
);

fn refs(values: &[Box<dyn ToSql + Sync>]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v.as_ref()).collect()
}

/// A bulk request's numbers, by any of their keys (`$1` ids, `$2` E.164s,
/// `$3` uids), in id order. [`NUMBERS_BY_KEYS_LOCKED`] locks them in that
/// order: the lock rows node sits above the sort.
const NUMBERS_BY_KEYS: &str = concat_sql!(
    "SELECT ",
    NUMBER_COLS,
    " FROM numbers n WHERE n.id = ANY($1) OR n.number = ANY($2) OR n.uid = ANY($3) ORDER BY n.id"
);
const NUMBERS_BY_KEYS_LOCKED: &str = concat_sql!(NUMBERS_BY_KEYS, " FOR UPDATE");
/// The grants on the numbers `$1`, by number and account (as `GRANTS_ON`).
const GRANTS_ON_NUMBERS: &str = concat_sql!(
    "SELECT ",
    sql::GRANT_COLS,
    " FROM grants WHERE number_id = ANY($1) ORDER BY number_id, account_id"
);
const ACCOUNTS_BY_KEYS: &str = concat_sql!(
    "SELECT ",
    ACCOUNT_COLS,
    " FROM accounts a WHERE a.id = ANY($1) OR a.username_key = ANY($2)"
);
/// Many grants in one statement each, their columns as parallel arrays.
const DELETE_GRANTS: &str = "DELETE FROM grants g \
     USING unnest($1::bigint[], $2::bigint[]) AS d (number_id, account_id) \
     WHERE g.number_id = d.number_id AND g.account_id = d.account_id";
const UPDATE_GRANTS: &str = "UPDATE grants g SET send = d.send, gets = d.gets, expires_at = d.expires_at \
     FROM unnest($1::bigint[], $2::bigint[], $3::bool[], $4::bool[], $5::bigint[]) \
       AS d (number_id, account_id, send, gets, expires_at) \
     WHERE g.number_id = d.number_id AND g.account_id = d.account_id";
/// As [`INSERT_GRANT`], with the number's listed columns copied from its row.
const INSERT_GRANTS: &str = "INSERT INTO grants (number_id, account_id, granted_by, send, gets, \
       created_at, expires_at, number, operator_id, alias, is_66_char) \
     SELECT d.number_id, d.account_id, d.granted_by, d.send, d.gets, d.created_at, d.expires_at, \
       n.number, n.operator_id, n.alias, n.is_66_char \
     FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bool[], $5::bool[], $6::bigint[], \
       $7::bigint[]) AS d (number_id, account_id, granted_by, send, gets, created_at, expires_at) \
     JOIN numbers n ON n.id = d.number_id ON CONFLICT DO NOTHING";
/// History entries in the arrays' order: the identity takes its values as
/// the sorted rows reach the insert, so the ids answered, sorted, are the
/// entries' in order.
const RECORD_ALL: &str = "INSERT INTO history (at, request_id, actor_id, action, number_id, \
       account_id, detail) \
     SELECT d.at, d.request_id, d.actor_id, d.action, d.number_id, d.account_id, d.detail \
     FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[], \
       $7::text[]) WITH ORDINALITY \
       AS d (at, request_id, actor_id, action, number_id, account_id, detail, ord) \
     ORDER BY d.ord RETURNING id";

impl PgTx<'_> {
    /// Moves every staged event, the sequencer's lock held.
    fn sequence_locked(&mut self) -> Result<u64, StoreError> {
        let mut moved = 0;
        loop {
            let n = self.exec(SEQUENCE_EVENTS, &[&SEQUENCE_BATCH])?;
            moved += n;
            if n < SEQUENCE_BATCH as u64 {
                return Ok(moved);
            }
        }
    }
}

impl Tx for PgTx<'_> {
    fn count_accounts(&mut self) -> Result<i64, StoreError> {
        self.count(sql::COUNT_ACCOUNTS.postgres, &[])
    }

    fn account_by_id(&mut self, id: i64) -> Result<Option<Account>, StoreError> {
        self.account(sql::ACCOUNT_BY_ID.postgres, &id)
    }

    fn account_by_username(&mut self, key: &str) -> Result<Option<Account>, StoreError> {
        self.account(sql::ACCOUNT_BY_USERNAME.postgres, &key)
    }

    fn password_hash(&mut self, account_id: i64) -> Result<Option<String>, StoreError> {
        self.opt(sql::PASSWORD_HASH.postgres, &[&account_id])?
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
        let row = self.opt(
            INSERT_ACCOUNT,
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
            self.exec(BUMP_ACCOUNT_IDS, &[])?;
        }
        let path = format!("{parent_path}{id}/");
        self.exec(sql::SET_PATH.postgres, &[&id, &path])?;
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
        self.exec(sql::SET_POSTPAID.postgres, &[&account_id, &enabled])
            .map(drop)
    }

    fn set_suspended(&mut self, account_id: i64, suspended: bool) -> Result<(), StoreError> {
        self.all(SET_SUSPENDED, &[&account_id, &suspended])
            .map(drop)
    }

    fn number_by_id(&mut self, id: i64) -> Result<Option<Number>, StoreError> {
        self.number(sql::NUMBER_BY_ID.postgres, NUMBER_BY_ID_LOCKED, &id)
    }

    fn number_by_e164(&mut self, number: &str) -> Result<Option<Number>, StoreError> {
        self.number(sql::NUMBER_BY_E164.postgres, NUMBER_BY_E164_LOCKED, &number)
    }

    fn number_by_uid(&mut self, uid: &str) -> Result<Option<Number>, StoreError> {
        self.number(sql::NUMBER_BY_UID.postgres, NUMBER_BY_UID_LOCKED, &uid)
    }

    fn insert_number(&mut self, n: &NewNumber) -> Result<Number, StoreError> {
        let row = self.opt(
            INSERT_NUMBER,
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
            self.exec(BUMP_NUMBER_IDS, &[])?;
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
            quarantine: None,
            reservation: None,
        })
    }

    fn subscribe_number(&mut self, number_id: i64, sub: &Subscription) -> Result<bool, StoreError> {
        let changed = self.exec(
            sql::SUBSCRIBE_NUMBER.postgres,
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
        self.exec(sql::RELEASE_NUMBER.postgres, &[&number_id])
            .map(drop)
    }

    fn quarantine_number(
        &mut self,
        number_id: i64,
        former_owner_id: i64,
        until: i64,
    ) -> Result<(), StoreError> {
        self.exec(
            sql::QUARANTINE_NUMBER.postgres,
            &[&number_id, &former_owner_id, &until],
        )
        .map(drop)
    }

    fn end_quarantine(&mut self, number_id: i64, by: i64) -> Result<bool, StoreError> {
        Ok(self.exec(sql::END_QUARANTINE.postgres, &[&number_id, &by])? == 1)
    }

    fn end_reservation(&mut self, number_id: i64, by: i64) -> Result<bool, StoreError> {
        Ok(self.exec(sql::END_RESERVATION.postgres, &[&number_id, &by])? == 1)
    }

    fn reserve_number(
        &mut self,
        number_id: i64,
        holder: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        Ok(self.exec(sql::RESERVE_NUMBER.postgres, &[&number_id, &holder, &until])? == 1)
    }

    fn count_reservations(&mut self, holder: i64, now: i64) -> Result<i64, StoreError> {
        self.count(sql::COUNT_RESERVATIONS.postgres, &[&holder, &now])
    }

    fn reservations_of(&mut self, holder: i64, now: i64) -> Result<Vec<Number>, StoreError> {
        self.all(sql::RESERVATIONS_OF.postgres, &[&holder, &now])?
            .iter()
            .map(sql::number)
            .collect()
    }

    fn due(&mut self, kind: Due, now: i64, after: i64, limit: i64) -> Result<Vec<i64>, StoreError> {
        let statement = match kind {
            Due::Grants => sql::DUE_GRANTS.postgres,
            Due::Quarantines => sql::DUE_QUARANTINES.postgres,
            Due::Reservations => sql::DUE_RESERVATIONS.postgres,
        };
        self.all(statement, &[&now, &after, &limit])?
            .iter()
            .map(|r| get(r, 0))
            .collect()
    }

    fn lock_account(&mut self, account_id: i64) -> Result<(), StoreError> {
        self.opt(LOCK_ACCOUNT, &[&account_id]).map(drop)
    }

    fn lock_numbers(&mut self, ids: &[i64]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids = ids.to_vec();
        self.all(LOCK_NUMBERS, &[&ids]).map(drop)
    }

    fn grants_on(&mut self, number_id: i64) -> Result<Vec<Grant>, StoreError> {
        self.all(sql::GRANTS_ON.postgres, &[&number_id])?
            .iter()
            .map(sql::grant)
            .collect()
    }

    fn insert_grant(&mut self, g: &Grant) -> Result<(), StoreError> {
        let inserted = self.exec(
            INSERT_GRANT,
            &[
                &g.number_id,
                &g.account_id,
                &g.granted_by,
                &g.send,
                &g.gets,
                &g.created_at,
                &g.expires_at,
            ],
        )?;
        if inserted == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict("grant"))
        }
    }

    fn delete_grant(&mut self, number_id: i64, account_id: i64) -> Result<bool, StoreError> {
        let n = self.exec(sql::DELETE_GRANT.postgres, &[&number_id, &account_id])?;
        Ok(n == 1)
    }

    fn update_grant(&mut self, g: &Grant) -> Result<bool, StoreError> {
        let n = self.exec(
            sql::UPDATE_GRANT.postgres,
            &[&g.number_id, &g.account_id, &g.send, &g.gets, &g.expires_at],
        )?;
        Ok(n == 1)
    }

    fn numbers_by_keys(
        &mut self,
        ids: &[i64],
        e164s: &[String],
        uids: &[String],
    ) -> Result<Vec<Number>, StoreError> {
        if ids.is_empty() && e164s.is_empty() && uids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = if self.write {
            NUMBERS_BY_KEYS_LOCKED
        } else {
            NUMBERS_BY_KEYS
        };
        let (ids, e164s, uids) = (ids.to_vec(), e164s.to_vec(), uids.to_vec());
        self.all(sql, &[&ids, &e164s, &uids])?
            .iter()
            .map(sql::number)
            .collect()
    }

    fn grants_on_numbers(&mut self, number_ids: &[i64]) -> Result<Vec<Grant>, StoreError> {
        if number_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = number_ids.to_vec();
        self.all(GRANTS_ON_NUMBERS, &[&ids])?
            .iter()
            .map(sql::grant)
            .collect()
    }

    fn accounts_by_keys(
        &mut self,
        ids: &[i64],
        username_keys: &[String],
    ) -> Result<Vec<Account>, StoreError> {
        if ids.is_empty() && username_keys.is_empty() {
            return Ok(Vec::new());
        }
        let (ids, keys) = (ids.to_vec(), username_keys.to_vec());
        self.all(ACCOUNTS_BY_KEYS, &[&ids, &keys])?
            .iter()
            .map(sql::account)
            .collect()
    }

    fn delete_grants(&mut self, keys: &[(i64, i64)]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let (numbers, accounts): (Vec<i64>, Vec<i64>) = keys.iter().copied().unzip();
        self.exec(DELETE_GRANTS, &[&numbers, &accounts]).map(drop)
    }

    fn update_grants(&mut self, grants: &[Grant]) -> Result<(), StoreError> {
        if grants.is_empty() {
            return Ok(());
        }
        let numbers: Vec<i64> = grants.iter().map(|g| g.number_id).collect();
        let accounts: Vec<i64> = grants.iter().map(|g| g.account_id).collect();
        let send: Vec<bool> = grants.iter().map(|g| g.send).collect();
        let gets: Vec<bool> = grants.iter().map(|g| g.gets).collect();
        let ends: Vec<Option<i64>> = grants.iter().map(|g| g.expires_at).collect();
        self.exec(UPDATE_GRANTS, &[&numbers, &accounts, &send, &gets, &ends])
            .map(drop)
    }

    fn insert_grants(&mut self, grants: &[Grant]) -> Result<(), StoreError> {
        if grants.is_empty() {
            return Ok(());
        }
        let numbers: Vec<i64> = grants.iter().map(|g| g.number_id).collect();
        let accounts: Vec<i64> = grants.iter().map(|g| g.account_id).collect();
        let by: Vec<i64> = grants.iter().map(|g| g.granted_by).collect();
        let send: Vec<bool> = grants.iter().map(|g| g.send).collect();
        let gets: Vec<bool> = grants.iter().map(|g| g.gets).collect();
        let at: Vec<i64> = grants.iter().map(|g| g.created_at).collect();
        let ends: Vec<Option<i64>> = grants.iter().map(|g| g.expires_at).collect();
        let inserted = self.exec(
            INSERT_GRANTS,
            &[&numbers, &accounts, &by, &send, &gets, &at, &ends],
        )?;
        if inserted == grants.len() as u64 {
            Ok(())
        } else {
            Err(StoreError::Conflict("grant"))
        }
    }

    fn record_all(&mut self, entries: &[HistoryEntry]) -> Result<Vec<i64>, StoreError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let at: Vec<i64> = entries.iter().map(|e| e.at).collect();
        let rids: Vec<&str> = entries.iter().map(|e| e.request_id.as_str()).collect();
        let actors: Vec<Option<i64>> = entries.iter().map(|e| e.actor_id).collect();
        let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
        let numbers: Vec<Option<i64>> = entries.iter().map(|e| e.number_id).collect();
        let accounts: Vec<Option<i64>> = entries.iter().map(|e| e.account_id).collect();
        let details: Vec<&str> = entries.iter().map(|e| e.detail.as_str()).collect();
        let mut ids = self
            .all(
                RECORD_ALL,
                &[&at, &rids, &actors, &actions, &numbers, &accounts, &details],
            )?
            .iter()
            .map(|r| get::<i64>(r, 0))
            .collect::<Result<Vec<_>, _>>()?;
        ids.sort_unstable();
        Ok(ids)
    }

    fn insert_token(&mut self, t: &NewToken) -> Result<(), StoreError> {
        let inserted = self.exec(
            INSERT_TOKEN,
            &[
                &t.digest,
                &t.account_id,
                &t.kind.as_str(),
                &t.created_at,
                &t.expires_at,
            ],
        )?;
        if inserted == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict("token"))
        }
    }

    fn credential(&mut self, digest: &str) -> Result<Option<Credential>, StoreError> {
        self.opt(sql::CREDENTIAL.postgres, &[&digest])?
            .map(|r| sql::credential(&r))
            .transpose()
    }

    fn revoke_token(&mut self, digest: &str, at: i64) -> Result<bool, StoreError> {
        let n = self.all(REVOKE_TOKEN, &[&digest, &at])?.len();
        Ok(n == 1)
    }

    fn claim_login_budgets(&mut self, c: &BudgetClaim) -> Result<ClaimOutcome, StoreError> {
        let (max_user, max_addr) = (clamp(c.max_user), clamp(c.max_addr));
        let row = self
            .opt(
                CLAIM_LOGIN_BUDGETS,
                &[
                    &c.user_key,
                    &c.addr_key,
                    &c.now,
                    &c.window,
                    &max_user,
                    &max_addr,
                ],
            )?
            .ok_or_else(|| StoreError::Backend("the claim returned no row".into()))?;
        let pair = |i: usize| -> Result<Option<BudgetCount>, StoreError> {
            let count: Option<i32> = get(&row, i)?;
            let since: Option<i64> = get(&row, i + 1)?;
            Ok(count.zip(since).map(|(count, since)| BudgetCount {
                count: u32::try_from(count).unwrap_or(0),
                since,
            }))
        };
        Ok(ClaimOutcome {
            user: pair(0)?,
            addr: pair(2)?,
            user_before: pair(4)?,
            addr_before: pair(6)?,
        })
    }

    fn release_login_budgets(&mut self, r: &BudgetRelease) -> Result<(), StoreError> {
        let (addr_key, addr_since) = r.addr.clone().unzip();
        let (user_key, user_since) = r.user.clone().unzip();
        self.exec(
            RELEASE_LOGIN_BUDGETS,
            &[
                &addr_key,
                &addr_since,
                &user_key,
                &user_since,
                &r.clear_user,
            ],
        )
        .map(drop)
    }

    fn prune_login_budgets(&mut self, before: i64) -> Result<u64, StoreError> {
        self.exec(PRUNE_LOGIN_BUDGETS, &[&before])
    }

    fn record(&mut self, e: &HistoryEntry) -> Result<i64, StoreError> {
        let row = self
            .opt(
                sql::RECORD.postgres,
                &[
                    &e.at,
                    &e.request_id,
                    &e.actor_id,
                    &e.action.as_str(),
                    &e.number_id,
                    &e.account_id,
                    &e.detail,
                ],
            )?
            .ok_or_else(|| StoreError::Backend("history insert returned no id".into()))?;
        get(&row, 0)
    }

    /// Sent with the next statement or the `COMMIT` (see the module's doc).
    fn insert_event(&mut self, e: &NewEvent) -> Result<(), StoreError> {
        self.insert_events(std::slice::from_ref(e))
    }

    /// Staged with no lock: their ids are given after the commit, in commit
    /// order, by [`Tx::sequence_events`] (migration `0011_event_staging`
    /// says why the order is right: each event is staged after its change's
    /// row lock is taken, which holds here too, as every change writes its
    /// row before it is logged). One statement for all of them (a bulk
    /// stages up to thousands), in their order: `unnest` keeps the arrays'
    /// order, so `seq` does. Sent with the next statement or the `COMMIT`.
    fn insert_events(&mut self, events: &[NewEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let history: Vec<i64> = events.iter().map(|e| e.history_id).collect();
        let at: Vec<i64> = events.iter().map(|e| e.at).collect();
        let kind: Vec<&'static str> = events.iter().map(|e| e.kind).collect();
        let actor: Vec<Option<i64>> = events.iter().map(|e| e.actor_id).collect();
        let request: Vec<String> = events.iter().map(|e| e.request_id.clone()).collect();
        let number: Vec<Option<i64>> = events.iter().map(|e| e.number_id).collect();
        let account: Vec<Option<i64>> = events.iter().map(|e| e.account_id).collect();
        let data: Vec<String> = events.iter().map(|e| e.data.clone()).collect();
        self.defer(
            STAGE_EVENTS,
            vec![
                Box::new(history),
                Box::new(at),
                Box::new(kind),
                Box::new(actor),
                Box::new(request),
                Box::new(number),
                Box::new(account),
                Box::new(data),
            ],
        )
    }

    /// One statement, the event (if any) staged with its entry's id, sent
    /// with the next statement or the `COMMIT`.
    fn log_entry(&mut self, e: &HistoryEntry, event: Option<NewEvent>) -> Result<(), StoreError> {
        let entry: Vec<Owned> = vec![
            Box::new(e.at),
            Box::new(e.request_id.clone()),
            Box::new(e.actor_id),
            Box::new(e.action.as_str()),
            Box::new(e.number_id),
            Box::new(e.account_id),
            Box::new(e.detail.clone()),
        ];
        let Some(ev) = event else {
            return self.defer(sql::RECORD.postgres, entry);
        };
        let mut params = entry;
        params.extend::<[Owned; 7]>([
            Box::new(ev.at),
            Box::new(ev.kind),
            Box::new(ev.actor_id),
            Box::new(ev.request_id),
            Box::new(ev.number_id),
            Box::new(ev.account_id),
            Box::new(ev.data),
        ]);
        self.defer(LOG_WITH_EVENT, params)
    }

    fn resolve_reads(
        &mut self,
        number: Option<NumberKey<'_>>,
        account: Option<AccountKey<'_>>,
    ) -> Result<Option<ResolvedReads>, StoreError> {
        let w = self.write;
        let pick = |read: &'static str, locked: &'static str| if w { locked } else { read };
        let mut statements: Vec<(&str, Vec<&(dyn ToSql + Sync)>)> = Vec::with_capacity(3);
        match &number {
            Some(NumberKey::Id(id)) => {
                statements.push((
                    pick(sql::NUMBER_BY_ID.postgres, NUMBER_BY_ID_LOCKED),
                    vec![id],
                ));
                statements.push((sql::GRANTS_ON.postgres, vec![id]));
            }
            Some(NumberKey::E164(e164)) => {
                statements.push((
                    pick(sql::NUMBER_BY_E164.postgres, NUMBER_BY_E164_LOCKED),
                    vec![e164],
                ));
                statements.push((GRANTS_ON_E164, vec![e164]));
            }
            Some(NumberKey::Uid(uid)) => {
                statements.push((
                    pick(sql::NUMBER_BY_UID.postgres, NUMBER_BY_UID_LOCKED),
                    vec![uid],
                ));
                statements.push((GRANTS_ON_UID, vec![uid]));
            }
            None => {}
        }
        match &account {
            Some(AccountKey::Id(id)) => statements.push((sql::ACCOUNT_BY_ID.postgres, vec![id])),
            Some(AccountKey::Username(key)) => {
                statements.push((sql::ACCOUNT_BY_USERNAME.postgres, vec![key]))
            }
            None => {}
        }
        let refs: Vec<(&str, Params<'_>)> = statements
            .iter()
            .map(|(sql, p)| (*sql, p.as_slice()))
            .collect();
        let mut answers = self.many(&refs)?.into_iter();
        let found = match number {
            Some(_) => {
                let (numbers, grants) = (answers.next(), answers.next());
                let rows = numbers.map(|a| a.0).unwrap_or_default();
                if rows.len() > 1 {
                    return Err(StoreError::Backend(
                        "query returned more than one row".into(),
                    ));
                }
                match rows.first() {
                    Some(row) => {
                        let n = sql::number(row)?;
                        let g = grants
                            .map(|a| a.0)
                            .unwrap_or_default()
                            .iter()
                            .map(sql::grant)
                            .collect::<Result<Vec<_>, _>>()?;
                        Some((n, g))
                    }
                    None => None,
                }
            }
            None => None,
        };
        let account = match account {
            Some(_) => {
                let rows = answers.next().map(|a| a.0).unwrap_or_default();
                if rows.len() > 1 {
                    return Err(StoreError::Backend(
                        "query returned more than one row".into(),
                    ));
                }
                rows.first().map(sql::account).transpose()?
            }
            None => None,
        };
        Ok(Some((found, account)))
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
            sql::EVENTS_AFTER.postgres,
            &[&q.after_id, &low, &high, &q.limit],
        )?
        .iter()
        .map(sql::event_row)
        .collect()
    }

    fn prune_events(&mut self, before: i64) -> Result<u64, StoreError> {
        self.exec(sql::PRUNE_EVENTS.postgres, &[&before])
    }

    fn event_by_id(&mut self, id: i64) -> Result<Option<EventRow>, StoreError> {
        self.opt(sql::EVENT_BY_ID.postgres, &[&id])?
            .as_ref()
            .map(sql::event_row)
            .transpose()
    }

    fn insert_webhook(&mut self, w: &NewWebhook) -> Result<i64, StoreError> {
        let row = self
            .opt(
                sql::INSERT_WEBHOOK.postgres,
                &[
                    &w.account_id,
                    &w.url,
                    &w.types,
                    &w.description,
                    &w.secret,
                    &w.created_at,
                ],
            )?
            .ok_or_else(|| StoreError::Backend("webhook insert returned no id".into()))?;
        get(&row, 0)
    }

    fn webhook_by_id(&mut self, id: i64) -> Result<Option<WebhookRow>, StoreError> {
        self.opt(sql::WEBHOOK_BY_ID.postgres, &[&id])?
            .as_ref()
            .map(sql::webhook)
            .transpose()
    }

    fn webhooks_of(&mut self, account_id: i64) -> Result<Vec<WebhookRow>, StoreError> {
        self.all(sql::WEBHOOKS_OF.postgres, &[&account_id])?
            .iter()
            .map(sql::webhook)
            .collect()
    }

    fn enabled_webhooks(&mut self, limit: i64) -> Result<Vec<WebhookRow>, StoreError> {
        self.all(sql::ENABLED_WEBHOOKS.postgres, &[&limit])?
            .iter()
            .map(sql::webhook)
            .collect()
    }

    fn update_webhook(&mut self, w: &WebhookRow) -> Result<bool, StoreError> {
        let n = self.exec(
            sql::UPDATE_WEBHOOK.postgres,
            &[
                &w.id,
                &w.url,
                &w.types,
                &w.description,
                &w.cursor,
                &w.failing_since,
                &w.disabled_at,
                &w.disabled_reason,
            ],
        )?;
        Ok(n == 1)
    }

    fn delete_webhook(&mut self, id: i64) -> Result<bool, StoreError> {
        self.exec(sql::DELETE_WEBHOOK_ATTEMPTS.postgres, &[&id])?;
        self.exec(sql::DELETE_WEBHOOK_DELIVERIES.postgres, &[&id])?;
        Ok(self.exec(sql::DELETE_WEBHOOK.postgres, &[&id])? == 1)
    }

    fn insert_delivery(
        &mut self,
        webhook_id: i64,
        event_id: i64,
        order_key: Option<&str>,
        now: i64,
    ) -> Result<(), StoreError> {
        self.exec(
            sql::INSERT_DELIVERY.postgres,
            &[&webhook_id, &event_id, &order_key, &now],
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
        let ids = self
            .all(sql::CLAIMABLE.postgres, &[&now, &limit])?
            .iter()
            .map(|r| get::<i64>(r, 0))
            .collect::<Result<Vec<i64>, StoreError>>()?;
        if !ids.is_empty() {
            self.exec(LEASE_DELIVERIES, &[&ids, &owner, &lease_until])?;
        }
        Ok(ids)
    }

    fn delivery_by_id(&mut self, id: i64) -> Result<Option<DeliveryRow>, StoreError> {
        self.opt(sql::DELIVERY_BY_ID.postgres, &[&id])?
            .as_ref()
            .map(sql::delivery)
            .transpose()
    }

    /// Three statements for any number of deliveries (not three per
    /// delivery, as the default does): a pass claims hundreds.
    fn claimed(&mut self, ids: &[i64]) -> Result<Vec<ClaimedRows>, StoreError> {
        let ids = ids.to_vec();
        let deliveries = self
            .all(DELIVERIES_BY_IDS, &[&ids])?
            .iter()
            .map(sql::delivery)
            .collect::<Result<Vec<DeliveryRow>, _>>()?;
        let mut webhook_ids: Vec<i64> = deliveries.iter().map(|d| d.webhook_id).collect();
        webhook_ids.sort_unstable();
        webhook_ids.dedup();
        let event_ids: Vec<i64> = deliveries.iter().map(|d| d.event_id).collect();
        let webhooks: HashMap<i64, WebhookRow> = self
            .all(WEBHOOKS_BY_IDS, &[&webhook_ids])?
            .iter()
            .map(|r| sql::webhook(r).map(|w| (w.id, w)))
            .collect::<Result<_, _>>()?;
        let events: HashMap<i64, EventRow> = self
            .all(EVENTS_BY_IDS, &[&event_ids])?
            .iter()
            .map(|r| sql::event_row(r).map(|e| (e.id, e)))
            .collect::<Result<_, _>>()?;
        let mut by_id: HashMap<i64, DeliveryRow> =
            deliveries.into_iter().map(|d| (d.id, d)).collect();
        Ok(ids
            .iter()
            .filter_map(|id| by_id.remove(id))
            .map(|d| {
                let w = webhooks.get(&d.webhook_id).cloned();
                let e = events.get(&d.event_id).cloned();
                (d, w, e)
            })
            .collect())
    }

    fn deliveries_of(
        &mut self,
        webhook_id: i64,
        before_id: i64,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        self.all(
            sql::DELIVERIES_OF.postgres,
            &[&webhook_id, &before_id, &limit],
        )?
        .iter()
        .map(sql::delivery)
        .collect()
    }

    fn attempts_of(&mut self, delivery_id: i64) -> Result<Vec<AttemptRow>, StoreError> {
        self.all(sql::ATTEMPTS_OF.postgres, &[&delivery_id])?
            .iter()
            .map(sql::attempt)
            .collect()
    }

    fn insert_attempt(&mut self, a: &AttemptRow) -> Result<(), StoreError> {
        self.exec(
            sql::INSERT_ATTEMPT.postgres,
            &[
                &a.delivery_id,
                &a.attempt,
                &a.at,
                &a.status,
                &a.latency_ms,
                &a.response,
                &a.error,
            ],
        )
        .map(drop)
    }

    fn insert_attempts(&mut self, attempts: &[AttemptRow]) -> Result<(), StoreError> {
        if attempts.is_empty() {
            return Ok(());
        }
        let col = |f: fn(&AttemptRow) -> i64| attempts.iter().map(f).collect::<Vec<i64>>();
        let (ids, numbers, ats, latencies) = (
            col(|a| a.delivery_id),
            col(|a| a.attempt),
            col(|a| a.at),
            col(|a| a.latency_ms),
        );
        let statuses: Vec<Option<i64>> = attempts.iter().map(|a| a.status).collect();
        let responses: Vec<&str> = attempts.iter().map(|a| a.response.as_str()).collect();
        let errors: Vec<Option<&str>> = attempts.iter().map(|a| a.error.as_deref()).collect();
        self.exec(
            INSERT_ATTEMPTS,
            &[
                &ids, &numbers, &ats, &statuses, &latencies, &responses, &errors,
            ],
        )
        .map(drop)
    }

    fn finish_deliveries(&mut self, updates: &[DeliveryUpdate]) -> Result<Vec<bool>, StoreError> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = updates.iter().map(|u| u.id).collect();
        let owners: Vec<&str> = updates.iter().map(|u| u.lease_owner.as_str()).collect();
        let states: Vec<&str> = updates.iter().map(|u| u.state).collect();
        let attempts: Vec<i64> = updates.iter().map(|u| u.attempts).collect();
        let next: Vec<i64> = updates.iter().map(|u| u.next_at).collect();
        let done: Vec<Option<i64>> = updates.iter().map(|u| u.done_at).collect();
        let written = self
            .all(
                FINISH_DELIVERIES,
                &[&ids, &owners, &states, &attempts, &next, &done],
            )?
            .iter()
            .map(|r| get::<i64>(r, 0))
            .collect::<Result<std::collections::HashSet<i64>, _>>()?;
        Ok(ids.iter().map(|id| written.contains(id)).collect())
    }

    fn insert_deliveries(
        &mut self,
        deliveries: &[(i64, i64, Option<String>)],
        now: i64,
    ) -> Result<(), StoreError> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let webhooks: Vec<i64> = deliveries.iter().map(|d| d.0).collect();
        let events: Vec<i64> = deliveries.iter().map(|d| d.1).collect();
        let keys: Vec<Option<&str>> = deliveries.iter().map(|d| d.2.as_deref()).collect();
        self.exec(INSERT_DELIVERIES, &[&webhooks, &events, &keys, &now])
            .map(drop)
    }

    fn finish_delivery(&mut self, u: &DeliveryUpdate) -> Result<bool, StoreError> {
        let n = self.exec(
            sql::FINISH_DELIVERY.postgres,
            &[
                &u.id,
                &u.lease_owner,
                &u.state,
                &u.attempts,
                &u.next_at,
                &u.done_at,
            ],
        )?;
        Ok(n == 1)
    }

    fn retry_delivery(&mut self, id: i64, now: i64) -> Result<bool, StoreError> {
        Ok(self.exec(sql::RETRY_DELIVERY.postgres, &[&id, &now])? == 1)
    }

    fn claim_cursor(
        &mut self,
        name: &str,
        owner: &str,
        now: i64,
        lease_until: i64,
    ) -> Result<Option<i64>, StoreError> {
        self.exec(sql::INSERT_CURSOR.postgres, &[&name])?;
        self.opt(
            sql::CLAIM_CURSOR.postgres,
            &[&name, &owner, &now, &lease_until],
        )?
        .map(|r| get(&r, 0))
        .transpose()
    }

    fn advance_cursor(&mut self, name: &str, owner: &str, cursor: i64) -> Result<bool, StoreError> {
        Ok(self.exec(sql::ADVANCE_CURSOR.postgres, &[&name, &owner, &cursor])? == 1)
    }

    fn max_event_id(&mut self) -> Result<i64, StoreError> {
        self.count(sql::MAX_EVENT_ID.postgres, &[])
    }

    /// One statement, so one snapshot: an event the sequencer moves is in
    /// exactly one of the two arms.
    fn changes_after(&mut self, after: i64, limit: i64) -> Result<ChangesAfter, StoreError> {
        let mut changes = ChangesAfter::default();
        for r in self.all(CHANGES_AFTER, &[&after, &limit])? {
            let (id, number): (Option<i64>, Option<i64>) = (get(&r, 0)?, get(&r, 1)?);
            match id {
                Some(id) => changes.events.push((id, number)),
                None => changes.staged.push(number),
            }
        }
        Ok(changes)
    }

    fn sequence_events_if_free(&mut self) -> Result<u64, StoreError> {
        let free: bool = match self.opt(SEQUENCER_TRY_LOCK, &[])? {
            Some(row) => get(&row, 0)?,
            None => false,
        };
        if !free {
            return Ok(0);
        }
        self.sequence_locked()
    }

    fn sequence_events(&mut self) -> Result<u64, StoreError> {
        self.exec(SEQUENCER_LOCK, &[])?;
        self.sequence_locked()
    }

    fn set_webhook_cursor(&mut self, id: i64, cursor: i64) -> Result<(), StoreError> {
        self.exec(sql::SET_WEBHOOK_CURSOR.postgres, &[&id, &cursor])
            .map(drop)
    }

    fn webhook_succeeded(&mut self, id: i64) -> Result<(), StoreError> {
        self.exec(sql::WEBHOOK_SUCCEEDED.postgres, &[&id]).map(drop)
    }

    fn webhook_failed(
        &mut self,
        id: i64,
        now: i64,
        cutoff: i64,
        reason: &str,
    ) -> Result<bool, StoreError> {
        self.exec(sql::WEBHOOK_FAILED.postgres, &[&id, &now])?;
        let n = self.exec(
            sql::WEBHOOK_DISABLE_FAILING.postgres,
            &[&id, &now, &reason, &cutoff],
        )?;
        Ok(n == 1)
    }

    fn webhook_work(&mut self, now: i64) -> Result<i64, StoreError> {
        self.count(WEBHOOK_WORK, &[&now])
    }

    fn prune_deliveries(&mut self, before: i64) -> Result<u64, StoreError> {
        self.exec(sql::PRUNE_ATTEMPTS.postgres, &[&before])?;
        self.exec(sql::PRUNE_DELIVERIES.postgres, &[&before])
    }

    fn key_row(&mut self, account_id: i64, key: &str) -> Result<Option<KeyRow>, StoreError> {
        self.opt(sql::KEY_ROW.postgres, &[&account_id, &key])?
            .map(|r| sql::key_row(&r))
            .transpose()
    }

    fn claim_key(&mut self, c: &KeyClaim) -> Result<bool, StoreError> {
        let n = self.exec(
            sql::CLAIM_KEY.postgres,
            &[
                &c.account_id,
                &c.key,
                &c.method,
                &c.path,
                &c.body_hash,
                &c.at,
            ],
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
            sql::ANSWER_KEY.postgres,
            &[
                &account_id,
                &key,
                &i32::from(a.status),
                &a.content_type,
                &a.body,
            ],
        )?;
        Ok(n == 1)
    }

    fn prune_keys(&mut self, before: i64) -> Result<u64, StoreError> {
        self.exec(sql::PRUNE_KEYS.postgres, &[&before])
    }

    fn held_numbers(
        &mut self,
        account_id: i64,
        page: Page,
        now: i64,
    ) -> Result<(Vec<HeldNumber>, i64), StoreError> {
        let rows = self.all(HELD_PAGE, &[&account_id, &page.limit, &page.offset, &now])?;
        let total = match rows.first() {
            Some(r) => get(r, 8)?,
            None => return Err(StoreError::Backend("the list returned no row".into())),
        };
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            // The empty page's one row has no item.
            if get::<Option<i64>>(r, 0)?.is_some() {
                items.push(sql::held_number(r)?);
            }
        }
        Ok((items, total))
    }

    fn subscribed_numbers(
        &mut self,
        viewer_id: i64,
        page: Page,
    ) -> Result<(Vec<HeldNumber>, i64), StoreError> {
        let total = self.count(sql::COUNT_SUBSCRIBED.postgres, &[])?;
        let items = self
            .all(
                sql::SUBSCRIBED.postgres,
                &[&viewer_id, &page.limit, &page.offset],
            )?
            .iter()
            .map(sql::held_number)
            .collect::<Result<Vec<_>, StoreError>>()?;
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
            true => Some(self.count(COUNT_POOL, &[c, p, x, &lo, &hi, &after, &now])?),
            false => None,
        };
        let items = self
            .all(
                POOL,
                &[c, p, x, &lo, &hi, &after, &now, &page.limit, &page.offset],
            )?
            .iter()
            .map(sql::number)
            .collect::<Result<Vec<_>, StoreError>>()?;
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
                sql::HOLDINGS.postgres
            } else {
                sql::HOLDINGS_HELD.postgres
            },
            &[
                &viewer_id,
                &everything,
                &f.after_id,
                &f.country,
                &prefix,
                &contains,
                &f.owned,
                &f.granted_to,
                &limit,
                &f.now,
            ],
        )?
        .iter()
        .map(sql::holding)
        .collect()
    }

    fn number_facts(&mut self, ids: &[i64]) -> Result<Vec<(i64, NumberFacts)>, StoreError> {
        self.all(NUMBER_FACTS, &[&ids])?
            .iter()
            .map(sql::number_facts)
            .collect()
    }

    fn history_ids_of_number(
        &mut self,
        number_id: i64,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<i64>, StoreError> {
        self.all(
            sql::HISTORY_IDS_OF_NUMBER.postgres,
            &[&number_id, &before_id, &limit],
        )?
        .iter()
        .map(|r| get(r, 0))
        .collect()
    }

    fn history_by_ids(&mut self, ids: &[i64]) -> Result<Vec<HistoryRow>, StoreError> {
        self.all(HISTORY_BY_IDS, &[&ids])?
            .iter()
            .map(sql::history_row)
            .collect()
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
            sql::HISTORY_PAGE.postgres,
            &[&q.before_id, &low, &high, &q.limit],
        )?
        .iter()
        .map(sql::history_row)
        .collect()
    }

    fn tokens_of(&mut self, account_id: i64) -> Result<Vec<TokenRow>, StoreError> {
        self.all(sql::TOKENS_OF.postgres, &[&account_id])?
            .iter()
            .map(sql::token_row)
            .collect()
    }

    fn set_name(&mut self, account_id: i64, name: &str) -> Result<(), StoreError> {
        self.exec(sql::SET_NAME.postgres, &[&account_id, &name])
            .map(drop)
    }

    fn owned_numbers(
        &mut self,
        owner_id: i64,
        page: Page,
        now: i64,
    ) -> Result<(Vec<(Number, i64)>, i64), StoreError> {
        let total = self.count(sql::COUNT_OWNED.postgres, &[&owner_id])?;
        let items = self
            .all(
                sql::OWNED.postgres,
                &[&owner_id, &page.limit, &page.offset, &now],
            )?
            .iter()
            .map(sql::owned)
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok((items, total))
    }

    fn routing_rows(&mut self, e164: &str) -> Result<Option<RoutingRows>, StoreError> {
        let mut routing = None;
        for r in self.all(sql::ROUTING_ROWS.postgres, &[&e164])? {
            sql::routing_row(&r, &mut routing)?;
        }
        Ok(routing)
    }

    fn grants_in(&mut self, after: i64, last: i64) -> Result<Vec<Grant>, StoreError> {
        self.all(sql::ROUTING_RANGE_GRANTS.postgres, &[&after, &last])?
            .iter()
            .map(sql::grant)
            .collect()
    }

    fn fold_holdings(&mut self, limit: i64) -> Result<u64, StoreError> {
        let folded = self.count(FOLD_HOLDINGS, &[&limit])?;
        Ok(u64::try_from(folded).unwrap_or(0))
    }

    fn snapshot(&mut self, now: i64) -> Result<Snapshot, StoreError> {
        let accounts = self
            .all(sql::ALL_ACCOUNTS.postgres, &[])?
            .iter()
            .map(sql::account)
            .collect::<Result<Vec<_>, _>>()?;
        let numbers = self
            .all(sql::ALL_NUMBERS.postgres, &[])?
            .iter()
            .map(sql::number)
            .collect::<Result<Vec<_>, _>>()?;
        let grants = self
            .all(sql::ALL_GRANTS.postgres, &[])?
            .iter()
            .map(sql::grant)
            .collect::<Result<Vec<_>, _>>()?;
        let (history, request_ids): (Vec<_>, Vec<_>) = self
            .all(sql::ALL_HISTORY.postgres, &[])?
            .iter()
            .map(sql::history_line)
            .collect::<Result<Vec<_>, StoreError>>()?
            .into_iter()
            .unzip();
        // Through the list's own statement, so the check covers what it reads.
        let mut held = Vec::new();
        for a in &accounts {
            let (_, total) = self.held_numbers(
                a.id,
                Page {
                    limit: 0,
                    offset: 0,
                },
                now,
            )?;
            if total != 0 {
                held.push((a.id, total));
            }
        }
        let counters = self
            .all(COUNTERS, &[])?
            .iter()
            .map(|r| Ok((get(r, 0)?, get(r, 1)?)))
            .collect::<Result<Vec<(i64, i64)>, StoreError>>()?;
        let stale_copies = self.count(sql::STALE_COPIES.postgres, &[])?;
        let history_ids = self
            .all(sql::HISTORY_IDS.postgres, &[])?
            .iter()
            .map(|r| get(r, 0))
            .collect::<Result<Vec<i64>, _>>()?;
        let events = self
            .all(ALL_EVENTS, &[])?
            .iter()
            .map(|r| Ok((get(r, 0)?, get(r, 1)?)))
            .collect::<Result<Vec<(i64, String)>, StoreError>>()?;
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
        values.push(Box::new(page.limit));
        values.push(Box::new(page.offset));
        let (l, o) = (values.len() - 1, values.len());
        let text = format!(
            "SELECT {ACCOUNT_COLS} FROM accounts a WHERE {clause} ORDER BY a.id LIMIT ${l} OFFSET ${o}"
        );
        self.all(&text, &refs(&values))?
            .iter()
            .map(sql::account)
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
        // One array parameter (SQLite, having no arrays, binds each id).
        let ids = ids.to_vec();
        self.all(ACCOUNTS_BY_IDS, &[&ids])?
            .iter()
            .map(sql::account)
            .collect()
    }
    fn accounts_after(&mut self, after_id: i64, limit: i64) -> Result<Vec<Account>, StoreError> {
        self.all(sql::ACCOUNTS_AFTER.postgres, &[&after_id, &limit])?
            .iter()
            .map(sql::account)
            .collect()
    }

    fn numbers_after(&mut self, after_id: i64, limit: i64) -> Result<Vec<Number>, StoreError> {
        self.all(sql::NUMBERS_AFTER.postgres, &[&after_id, &limit])?
            .iter()
            .map(sql::number)
            .collect()
    }

    fn set_password_hash(&mut self, account_id: i64, hash: &str) -> Result<(), StoreError> {
        self.exec(sql::SET_PASSWORD_HASH.postgres, &[&account_id, &hash])
            .map(drop)
    }

    fn token_by_id(&mut self, id: i64) -> Result<Option<(TokenRow, i64)>, StoreError> {
        match self.all(sql::TOKEN_BY_ID.postgres, &[&id])?.first() {
            Some(r) => Ok(Some((sql::token_row(r)?, r.col(6)?))),
            None => Ok(None),
        }
    }
}
