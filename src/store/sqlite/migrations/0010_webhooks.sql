-- Issue 17: webhook endpoints, one delivery per (endpoint, event), and the
-- log of every attempt.
--
-- `cursor`: the last event id the endpoint's deliveries were made from.
-- `disabled_at` / `disabled_reason`: set when the endpoint is disabled (by
-- its owner, or after failing for 24 hours); NULL while it is enabled.
-- `failing_since`: the first failed attempt since the last success.
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL,
    url TEXT NOT NULL,
    types TEXT NOT NULL,
    description TEXT NOT NULL,
    secret TEXT NOT NULL,
    cursor INTEGER NOT NULL,
    failing_since INTEGER,
    disabled_at INTEGER,
    disabled_reason TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX webhooks_account ON webhooks (account_id);

-- `order_key`: deliveries with the same key go in event order (`n<id>` for a
-- number's events, `a<id>` for an account's); `state`: pending, delivered or
-- failed (gave up). A claim is `lease_owner` until `lease_until`.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id INTEGER NOT NULL,
    event_id INTEGER NOT NULL,
    order_key TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    done_at INTEGER,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_at);
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, order_key, event_id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    at INTEGER NOT NULL,
    status INTEGER,
    latency_ms INTEGER NOT NULL,
    response TEXT NOT NULL,
    error TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempt);

-- A publisher of the outbox (the NATS JetStream one): how far it has
-- published, and which process holds it until when.
CREATE TABLE event_cursors (
    name TEXT PRIMARY KEY,
    cursor INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER NOT NULL
);
