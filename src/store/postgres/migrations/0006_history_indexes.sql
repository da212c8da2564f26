-- The native face reads the history newest first, of one number or of the
-- entries whose target or actor lies in the caller's subtree, a page at a
-- time by id (keyset). These indexes serve each of those in id order; the
-- number's index with its id replaces the plain one.
CREATE INDEX history_number_id ON history (number_id, id) WHERE number_id IS NOT NULL;
DROP INDEX history_number;
CREATE INDEX history_account ON history (account_id, id) WHERE account_id IS NOT NULL;
CREATE INDEX history_actor ON history (actor_id, id) WHERE actor_id IS NOT NULL;
