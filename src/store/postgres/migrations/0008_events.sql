-- Issue 17: the outbox and idempotency keys.
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    history_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    type TEXT NOT NULL,
    actor_id BIGINT,
    request_id TEXT NOT NULL,
    number_id BIGINT,
    account_id BIGINT,
    data TEXT NOT NULL
);
CREATE INDEX events_at ON events (at);

CREATE TABLE idempotency (
    account_id BIGINT NOT NULL,
    key TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    body_hash TEXT NOT NULL,
    status INTEGER,
    content_type TEXT,
    response TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, key)
);
CREATE INDEX idempotency_created ON idempotency (created_at);
