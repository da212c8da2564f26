-- The numbers list, the hottest read, pages through what one account holds
-- in number order. Read through the plain indexes, each listed number cost a
-- seek into `numbers` (and each grant one into `grants`) on pages scattered
-- across the table: at a million numbers a page touched about fifty pages
-- the cache did not hold, and the list ran at less than half its speed at
-- 100,000 numbers. These indexes hold everything a page shows, in the
-- order it is shown, so a page is one short range of one or two indexes,
-- whatever the size of the data.
--
-- A grant therefore carries a copy of its number's listed columns, written
-- with the grant. Nothing changes those columns once a number exists; a
-- change that ever does must update the copies in the same transaction.
ALTER TABLE grants ADD COLUMN number TEXT NOT NULL DEFAULT '';
ALTER TABLE grants ADD COLUMN operator_id INTEGER;
ALTER TABLE grants ADD COLUMN alias TEXT;
ALTER TABLE grants ADD COLUMN is_66_char INTEGER NOT NULL DEFAULT 0;
UPDATE grants SET (number, operator_id, alias, is_66_char) =
    (SELECT n.number, n.operator_id, n.alias, n.is_66_char FROM numbers n WHERE n.id = grants.number_id);

CREATE INDEX grants_holder
    ON grants (account_id, number_id, send, gets, number, operator_id, alias, is_66_char);
DROP INDEX grants_account;
CREATE INDEX numbers_holder ON numbers (owner_id, id, number, operator_id, alias, is_66_char);
DROP INDEX numbers_owner;
