-- linekeeper's schema (SQLite). Times are Unix seconds; booleans are 0/1.

CREATE TABLE accounts (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL,
    username_key  TEXT    NOT NULL UNIQUE,          -- lower-cased: unique case-insensitively
    name          TEXT    NOT NULL DEFAULT '',
    password_hash TEXT    NOT NULL,
    is_reseller   INTEGER NOT NULL DEFAULT 0,
    suspended     INTEGER NOT NULL DEFAULT 0,
    parent_id     INTEGER REFERENCES accounts (id),
    path          TEXT    NOT NULL,                 -- '/root/.../self/'
    depth         INTEGER NOT NULL,
    postpaid      INTEGER NOT NULL DEFAULT 0,
    mobile        TEXT,
    email         TEXT,
    created_at    INTEGER NOT NULL
);
CREATE INDEX accounts_parent ON accounts (parent_id, id);
CREATE INDEX accounts_path ON accounts (path);

CREATE TABLE numbers (
    id            INTEGER PRIMARY KEY,
    uid           TEXT    NOT NULL UNIQUE,
    number        TEXT    NOT NULL UNIQUE,
    operator_id   INTEGER,
    alias         TEXT,
    is_66_char    INTEGER NOT NULL DEFAULT 0,
    country       TEXT    NOT NULL,
    monthly_price INTEGER NOT NULL DEFAULT 0 CHECK (monthly_price >= 0),
    yearly_price  INTEGER NOT NULL DEFAULT 0 CHECK (yearly_price >= 0),
    owner_id      INTEGER REFERENCES accounts (id),
    cycle         TEXT CHECK (cycle IN ('month', 'year')),
    resubscribe   INTEGER NOT NULL DEFAULT 0,
    subscribed_at INTEGER,
    -- Invariant 3: a pool number has no owner; a subscribed one has all its terms.
    CHECK ((owner_id IS NULL AND cycle IS NULL AND subscribed_at IS NULL)
        OR (owner_id IS NOT NULL AND cycle IS NOT NULL AND subscribed_at IS NOT NULL))
);
CREATE INDEX numbers_owner ON numbers (owner_id, id);
CREATE INDEX numbers_pool ON numbers (country, id) WHERE owner_id IS NULL;

CREATE TABLE grants (
    number_id  INTEGER NOT NULL REFERENCES numbers (id),
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    granted_by INTEGER NOT NULL REFERENCES accounts (id),
    send       INTEGER NOT NULL,
    gets       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (number_id, account_id)                -- invariant 2
) WITHOUT ROWID;
CREATE INDEX grants_account ON grants (account_id, number_id);

CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY,
    digest     TEXT    NOT NULL UNIQUE,                -- SHA-256 of the secret
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    kind       TEXT    NOT NULL CHECK (kind IN ('session', 'key')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX tokens_account ON tokens (account_id);

CREATE TABLE history (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    request_id TEXT    NOT NULL,
    actor_id   INTEGER,
    action     TEXT    NOT NULL,
    number_id  INTEGER,
    account_id INTEGER,
    detail     TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX history_number ON history (number_id) WHERE number_id IS NOT NULL;

-- The history is append-only.
CREATE TRIGGER history_no_update BEFORE UPDATE ON history
BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
CREATE TRIGGER history_no_delete BEFORE DELETE ON history
BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;
