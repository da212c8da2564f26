-- How many numbers each account holds (owned plus granted): the numbers
-- list's `total`. Counting them on every page costs as much as the account
-- holds (a reseller owning 100,000 numbers paid for 100,000 index entries
-- per page); this row is read instead. Triggers keep it in the same
-- transaction as the change: grants are only ever inserted and deleted, and
-- a number changes hands only through `owner_id`.
--
-- SQLite only: its one writer makes these updates free of contention. On
-- PostgreSQL every subscription change of one owner would queue on that
-- owner's row across all instances, so it counts the covering indexes.
CREATE TABLE holdings (
    account_id INTEGER PRIMARY KEY REFERENCES accounts (id),
    held       INTEGER NOT NULL CHECK (held >= 0)
);
INSERT INTO holdings (account_id, held)
    SELECT account_id, count(*) FROM (
        SELECT owner_id AS account_id FROM numbers WHERE owner_id IS NOT NULL
        UNION ALL
        SELECT account_id FROM grants)
    GROUP BY account_id;

CREATE TRIGGER holdings_grant_added AFTER INSERT ON grants
BEGIN
    INSERT INTO holdings (account_id, held) VALUES (NEW.account_id, 1)
        ON CONFLICT (account_id) DO UPDATE SET held = held + 1;
END;
CREATE TRIGGER holdings_grant_removed AFTER DELETE ON grants
BEGIN
    UPDATE holdings SET held = held - 1 WHERE account_id = OLD.account_id;
END;
CREATE TRIGGER holdings_number_added AFTER INSERT ON numbers
WHEN NEW.owner_id IS NOT NULL
BEGIN
    INSERT INTO holdings (account_id, held) VALUES (NEW.owner_id, 1)
        ON CONFLICT (account_id) DO UPDATE SET held = held + 1;
END;
CREATE TRIGGER holdings_number_moved AFTER UPDATE OF owner_id ON numbers
WHEN OLD.owner_id IS NOT NEW.owner_id
BEGIN
    UPDATE holdings SET held = held - 1 WHERE account_id = OLD.owner_id;
    INSERT INTO holdings (account_id, held) SELECT NEW.owner_id, 1 WHERE NEW.owner_id IS NOT NULL
        ON CONFLICT (account_id) DO UPDATE SET held = held + 1;
END;
CREATE TRIGGER holdings_number_removed AFTER DELETE ON numbers
WHEN OLD.owner_id IS NOT NULL
BEGIN
    UPDATE holdings SET held = held - 1 WHERE account_id = OLD.owner_id;
END;
