-- Login throttling shared by every instance (issue 13): one row per budget,
-- `u:` and a username's key or `a:` and a client address, with the strikes
-- taken in the window that started at `window_start` (seconds). Each login
-- attempt costs one statement on it (see `CLAIM_LOGIN_BUDGETS` in
-- `store/postgres/tx.rs`).
--
-- UNLOGGED: the counts are worth nothing after a crash, so they skip the
-- WAL (a crash or a fail-over empties the table, which only forgives).
-- SQLite has no such table: its one process keeps the budgets in memory.
CREATE UNLOGGED TABLE login_budget (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    window_start BIGINT NOT NULL
);

-- Expired budgets are pruned by their window's start.
CREATE INDEX login_budget_window ON login_budget (window_start);
