-- The numbers list, the hottest read, pages through what one account holds
-- in number order. Read through the plain indexes, each listed number cost a
-- fetch from `numbers` (and each grant one from `grants`) on pages scattered
-- across the table. These indexes hold everything a page shows, in the order
-- it is shown, so a page is one short range of one or two indexes (an
-- index-only scan where the pages are all-visible), whatever the size of the
-- data.
--
-- A grant therefore carries a copy of its number's listed columns, written
-- with the grant. Nothing changes those columns once a number exists; a
-- change that ever does must update the copies in the same transaction.
ALTER TABLE grants ADD COLUMN number TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN operator_id BIGINT;
ALTER TABLE grants ADD COLUMN alias TEXT;
ALTER TABLE grants ADD COLUMN is_66_char BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE grants g SET number = n.number, operator_id = n.operator_id, alias = n.alias,
    is_66_char = n.is_66_char
  FROM numbers n WHERE n.id = g.number_id;

CREATE INDEX grants_holder ON grants (account_id, number_id)
    INCLUDE (send, gets, number, operator_id, alias, is_66_char);
DROP INDEX grants_account;
CREATE INDEX numbers_holder ON numbers (owner_id, id)
    INCLUDE (number, operator_id, alias, is_66_char);
DROP INDEX numbers_owner;
