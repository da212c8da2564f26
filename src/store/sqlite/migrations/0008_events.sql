-- Issue 17: the outbox and idempotency keys.
-- AUTOINCREMENT: an id is never used twice, even after the newest events are
-- pruned, so a feed cursor (`after=<id>`) never skips a later event.
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    history_id INTEGER NOT NULL,
    at INTEGER NOT NULL,
    type TEXT NOT NULL,
    actor_id INTEGER,
    request_id TEXT NOT NULL,
    number_id INTEGER,
    account_id INTEGER,
    data TEXT NOT NULL
);
CREATE INDEX events_at ON events (at);

CREATE TABLE idempotency (
    account_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    status INTEGER,
    content_type TEXT,
    response TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, key)
);
CREATE INDEX idempotency_created ON idempotency (created_at);
