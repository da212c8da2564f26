-- Issue 15: the outbox without a lock on the write path.
--
-- A transaction that makes a change writes its events here, as its last
-- statements (after every row lock it takes), with no lock of its own: so
-- concurrent changes commit together (group commit) instead of one at a
-- time. `seq` is only an arrival order. The sequencer (`PgTx::sequence_events`,
-- one transaction at a time under an advisory lock, on any instance) moves
-- the committed rows to `events` in `seq` order, and that move is where an
-- event gets its id: ids therefore follow commit order. Every reader of the
-- outbox sequences before it reads (the feed, the webhook fan-out, the NATS
-- publisher, a new endpoint's cursor), and the sweeper does on each round,
-- so this table stays short even when nothing reads.
--
-- Why that order is right, per number: two changes of one number are
-- serialized by the number's row lock (every change of a number reads it
-- `FOR UPDATE` first, the sweeper's included), so the later one writes its staged
-- row after the earlier one committed, with a greater `seq`; and a
-- sequencer that sees the later row sees the earlier (it committed first),
-- so it moves it in the same pass or an earlier one. Across passes, ids
-- are taken one sequencer transaction at a time, so a reader that has seen
-- id N never later finds a smaller id commit.
CREATE TABLE event_staging (
    seq BIGSERIAL PRIMARY KEY,
    history_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    type TEXT NOT NULL,
    actor_id BIGINT,
    request_id TEXT NOT NULL,
    number_id BIGINT,
    account_id BIGINT,
    data TEXT NOT NULL
);
