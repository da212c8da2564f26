-- The number's life after the seeds (DOMAIN.md): quarantine after
-- unsubscribe, reservations before subscribe, grants with an end. Every end
-- is a due time in the database, so any instance's sweeper finds it and a
-- restart loses none; reads compare it with the clock, so an item is over
-- at its instant whether or not it has been swept.
--
-- A quarantined number has no owner and a former owner; a reserved one has
-- no owner and a holder. Either pair is present whole or not at all.
ALTER TABLE numbers ADD COLUMN former_owner_id INTEGER REFERENCES accounts (id);
ALTER TABLE numbers ADD COLUMN quarantine_until INTEGER;
ALTER TABLE numbers ADD COLUMN reserved_by INTEGER REFERENCES accounts (id);
ALTER TABLE numbers ADD COLUMN reserved_until INTEGER;
ALTER TABLE grants ADD COLUMN expires_at INTEGER;

-- The sweeper's queues: due items, soonest first.
CREATE INDEX numbers_quarantine_due ON numbers (quarantine_until) WHERE quarantine_until IS NOT NULL;
CREATE INDEX numbers_reservation_due ON numbers (reserved_until) WHERE reserved_until IS NOT NULL;
CREATE INDEX numbers_reserved_by ON numbers (reserved_by, reserved_until) WHERE reserved_by IS NOT NULL;
CREATE INDEX grants_due ON grants (expires_at) WHERE expires_at IS NOT NULL;
-- The numbers list leaves out grants past their end, so its covering index
-- carries the end too; and its total (the `holdings` counter, which counts
-- them until they are swept) subtracts those of one account, a short range
-- of this index.
DROP INDEX grants_holder;
CREATE INDEX grants_holder
    ON grants (account_id, number_id, send, gets, number, operator_id, alias, is_66_char, expires_at);
CREATE INDEX grants_ending ON grants (account_id, expires_at) WHERE expires_at IS NOT NULL;
