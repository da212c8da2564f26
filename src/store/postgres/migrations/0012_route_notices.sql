-- The routing lookup's table in every process (`core::routing`) is kept
-- true by hearing of every change to what it reads, whichever process or
-- path makes it: a number's row (owner, state), its grants, an account's
-- username. Each is announced on the revocation listener's channel,
-- delivered when (and only if) the transaction commits; PostgreSQL sends
-- one notice for equal payloads within a transaction. A number's creation
-- needs none: no process keeps an answer for a number it has not read.
CREATE FUNCTION linekeeper_number_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'grants' THEN
        IF TG_OP <> 'INSERT' THEN
            PERFORM pg_notify('linekeeper_revoked', 'n:' || OLD.number_id);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            PERFORM pg_notify('linekeeper_revoked', 'n:' || NEW.number_id);
        END IF;
    ELSE
        PERFORM pg_notify('linekeeper_revoked', 'n:' || OLD.id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER linekeeper_grant_changed AFTER INSERT OR UPDATE OR DELETE ON grants
    FOR EACH ROW EXECUTE FUNCTION linekeeper_number_changed();
CREATE TRIGGER linekeeper_number_changed AFTER UPDATE OR DELETE ON numbers
    FOR EACH ROW EXECUTE FUNCTION linekeeper_number_changed();

CREATE FUNCTION linekeeper_account_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('linekeeper_revoked', 'a:' || OLD.id);
    RETURN NULL;
END $$;

CREATE TRIGGER linekeeper_account_renamed AFTER UPDATE OF username ON accounts
    FOR EACH ROW WHEN (OLD.username IS DISTINCT FROM NEW.username)
    EXECUTE FUNCTION linekeeper_account_renamed();
