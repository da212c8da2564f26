-- The routing lookup's table in every process (`core::routing`) is kept
-- true by hearing of every change to what it reads, whichever process or
-- path makes it: a number's row (owner, state) and its grants. Each is
-- announced on its own channel, `linekeeper_routes` (an instance that
-- listens only on `linekeeper_revoked` never hears them), delivered when
-- (and only if) the transaction commits; PostgreSQL sends one notice for
-- equal payloads within a transaction. A number's creation needs none: no
-- process keeps an answer for a number it has not read. Accounts need none
-- either: a routing names them by id and username, and no statement
-- changes a username.
CREATE FUNCTION linekeeper_route_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'grants' THEN
        IF TG_OP = 'INSERT' THEN
            PERFORM pg_notify('linekeeper_routes', NEW.number_id::text);
        ELSIF TG_OP = 'DELETE' THEN
            PERFORM pg_notify('linekeeper_routes', OLD.number_id::text);
        ELSE
            PERFORM pg_notify('linekeeper_routes', OLD.number_id::text);
            IF NEW.number_id <> OLD.number_id THEN
                PERFORM pg_notify('linekeeper_routes', NEW.number_id::text);
            END IF;
        END IF;
    ELSE
        PERFORM pg_notify('linekeeper_routes', OLD.id::text);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER linekeeper_grant_changed AFTER INSERT OR UPDATE OR DELETE ON grants
    FOR EACH ROW EXECUTE FUNCTION linekeeper_route_changed();
CREATE TRIGGER linekeeper_number_changed AFTER UPDATE OR DELETE ON numbers
    FOR EACH ROW EXECUTE FUNCTION linekeeper_route_changed();
