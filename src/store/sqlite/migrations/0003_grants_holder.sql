-- The numbers list reads a holder's grants in number order, with their
-- permissions. Carrying send and gets in the index answers that from the
-- index alone: the grants arm of a page no longer reads the grant rows (a
-- b-tree seek per listed grant). It serves every query the plain index
-- served, which it replaces.
CREATE INDEX grants_holder ON grants (account_id, number_id, send, gets);
DROP INDEX grants_account;
