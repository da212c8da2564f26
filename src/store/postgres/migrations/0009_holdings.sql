-- How many numbers each account holds (owned plus granted, a grant counted
-- until it is swept): the numbers list's `total`, read in a few index
-- lookups instead of counted on every page (a reseller holding 20,000
-- numbers paid for 20,000 index entries per page, and a holder of 100,000
-- for 100,000). SQLite keeps one row per account (0004_holdings): its one
-- writer makes that free. Here one row per account would be a hot row: every
-- subscription or grant change of one account, on every instance, would
-- queue on it until its transaction commits.
--
-- So a change adds to a delta row of its own *backend*: `holdings_delta`
-- is keyed by (account, pg_backend_pid()). A backend runs one transaction
-- at a time and no two live backends share a pid, so no two concurrent
-- transactions ever update the same delta row: no writer waits on another
-- for a counter, whatever order a cascade touches accounts in, so counters
-- add no lock waits and no deadlocks to the change path. The count is the
-- folded row of `holdings` plus the account's delta rows (one per backend
-- that changed its holdings since the last fold: bounded by the pools'
-- connections, not by the holdings).
--
-- The sweeper folds delta rows into `holdings` (`PgTx::fold_holdings`): it
-- deletes the delta rows no transaction holds (`FOR UPDATE SKIP LOCKED`,
-- so it never waits on a writer) and adds them to `holdings` in account
-- order (two folders on two instances wait on each other at worst, in one
-- order). Writers never touch `holdings`; a writer may wait on a folder's
-- deleted row, but the folder waits on no writer, so there is no cycle.
--
-- The triggers keep the counters in the same transaction as the change,
-- on every path that changes holdings (the core's rules, the sweeper,
-- imports, the operator's commands), without a round trip of their own.
CREATE TABLE holdings (
    account_id BIGINT PRIMARY KEY,
    held       BIGINT NOT NULL
);
CREATE TABLE holdings_delta (
    account_id BIGINT NOT NULL,
    backend    INT NOT NULL,
    held       BIGINT NOT NULL,
    PRIMARY KEY (account_id, backend)
);

CREATE FUNCTION holdings_add(account BIGINT, n BIGINT) RETURNS void LANGUAGE sql AS $$
    INSERT INTO holdings_delta (account_id, backend, held) VALUES (account, pg_backend_pid(), n)
    ON CONFLICT (account_id, backend) DO UPDATE SET held = holdings_delta.held + EXCLUDED.held
$$;

CREATE FUNCTION holdings_grants() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        PERFORM holdings_add(OLD.account_id, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM holdings_add(NEW.account_id, 1);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION holdings_numbers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') AND OLD.owner_id IS NOT NULL THEN
        PERFORM holdings_add(OLD.owner_id, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.owner_id IS NOT NULL THEN
        PERFORM holdings_add(NEW.owner_id, 1);
    END IF;
    RETURN NULL;
END
$$;

-- The triggers first: creating them locks both tables against writes until
-- this migration commits, so the backfill below counts every change
-- committed before it and the triggers count every change after it (an
-- older instance still running during a rolling upgrade included).
CREATE TRIGGER holdings_grant_added AFTER INSERT ON grants
    FOR EACH ROW EXECUTE FUNCTION holdings_grants();
CREATE TRIGGER holdings_grant_removed AFTER DELETE ON grants
    FOR EACH ROW EXECUTE FUNCTION holdings_grants();
CREATE TRIGGER holdings_grant_moved AFTER UPDATE OF account_id ON grants
    FOR EACH ROW WHEN (OLD.account_id IS DISTINCT FROM NEW.account_id)
    EXECUTE FUNCTION holdings_grants();
CREATE TRIGGER holdings_number_added AFTER INSERT ON numbers
    FOR EACH ROW WHEN (NEW.owner_id IS NOT NULL) EXECUTE FUNCTION holdings_numbers();
CREATE TRIGGER holdings_number_moved AFTER UPDATE OF owner_id ON numbers
    FOR EACH ROW WHEN (OLD.owner_id IS DISTINCT FROM NEW.owner_id)
    EXECUTE FUNCTION holdings_numbers();
CREATE TRIGGER holdings_number_removed AFTER DELETE ON numbers
    FOR EACH ROW WHEN (OLD.owner_id IS NOT NULL) EXECUTE FUNCTION holdings_numbers();

LOCK TABLE numbers, grants IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO holdings (account_id, held)
    SELECT account_id, count(*) FROM (
        SELECT owner_id AS account_id FROM numbers WHERE owner_id IS NOT NULL
        UNION ALL
        SELECT account_id FROM grants) h
    GROUP BY account_id;

-- The list's total leaves out grants past their end that are not swept
-- yet: a short range of this index (SQLite's `grants_ending`, 0007).
CREATE INDEX grants_ending ON grants (account_id, expires_at) WHERE expires_at IS NOT NULL;
