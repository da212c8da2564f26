-- Issue 17: webhook endpoints, one delivery per (endpoint, event), and the
-- log of every attempt.
--
-- `cursor`: the last event id the endpoint's deliveries were made from.
-- `disabled_at` / `disabled_reason`: set when the endpoint is disabled (by
-- its owner, or after failing for 24 hours); NULL while it is enabled.
-- `failing_since`: the first failed attempt since the last success.
CREATE TABLE webhooks (
    id BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL,
    url TEXT NOT NULL,
    types TEXT NOT NULL,
    description TEXT NOT NULL,
    secret TEXT NOT NULL,
    cursor BIGINT NOT NULL,
    failing_since BIGINT,
    disabled_at BIGINT,
    disabled_reason TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhooks_account ON webhooks (account_id);

-- `order_key`: deliveries with the same key go in event order (`n<id>` for a
-- number's events, `a<id>` for an account's); `state`: pending, delivered or
-- failed (gave up). A claim is `lease_owner` until `lease_until`.
CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY,
    webhook_id BIGINT NOT NULL,
    event_id BIGINT NOT NULL,
    order_key TEXT,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    done_at BIGINT,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_at);
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, order_key, event_id);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

CREATE TABLE webhook_attempts (
    id BIGSERIAL PRIMARY KEY,
    delivery_id BIGINT NOT NULL,
    attempt BIGINT NOT NULL,
    at BIGINT NOT NULL,
    status BIGINT,
    latency_ms BIGINT NOT NULL,
    response TEXT NOT NULL,
    error TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempt);

-- A publisher of the outbox (the NATS JetStream one): how far it has
-- published, and which process holds it until when.
CREATE TABLE event_cursors (
    name TEXT PRIMARY KEY,
    cursor BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT NOT NULL
);
