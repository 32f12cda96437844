-- Issue 16 (spread): a new reservation's seat is checked once per INSERT statement,
-- over all its rows, instead of once per row.
--
-- The foreign key to `seats` ran, for every row, a query of its own that also locked
-- the seat's row (`SELECT … FOR KEY SHARE`: a dirtied page and a WAL record per hold)
-- so that the seat could not be deleted before the reservation committed; in
-- `spread` that was about a quarter of Postgres's time. Here seats are permanent
-- (never deleted, never changed: the engine has no such write, and a trigger refuses
-- it), so a seat seen once stays, and the check needs no lock: one query per
-- statement over its new rows (a batch of holds is one statement,
-- `store/postgres/batch.rs`). The guarantee is the foreign key's: no reservation,
-- however written, names a seat that does not exist; refusals keep its error code
-- (23503, foreign_key_violation), which the store answers `NotFound` as before.
ALTER TABLE reservations DROP CONSTRAINT reservations_session_id_seat_number_fkey;

CREATE FUNCTION reservations_check_seats() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_reservations r
               WHERE NOT EXISTS (SELECT 1 FROM seats s
                                 WHERE s.session_id = r.session_id
                                   AND s.seat_number = r.seat_number)) THEN
        RAISE EXCEPTION 'a reservation names a seat that does not exist'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;
-- Rows that `ON CONFLICT DO NOTHING` skipped are not among the new rows: only what
-- went in is checked.
CREATE TRIGGER reservations_seat_exists AFTER INSERT ON reservations
    REFERENCING NEW TABLE AS new_reservations
    FOR EACH STATEMENT EXECUTE FUNCTION reservations_check_seats();

-- A reservation moved to another seat is checked row by row, as the foreign key did;
-- the engine never moves one, so this never runs on its writes (an UPDATE that does
-- not set these columns does not fire it).
CREATE FUNCTION reservations_check_moved_seat() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM seats s
                   WHERE s.session_id = NEW.session_id AND s.seat_number = NEW.seat_number) THEN
        RAISE EXCEPTION 'a reservation names a seat that does not exist'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER reservations_moved_seat_exists BEFORE UPDATE OF session_id, seat_number
    ON reservations FOR EACH ROW
    WHEN (OLD.session_id IS DISTINCT FROM NEW.session_id
          OR OLD.seat_number IS DISTINCT FROM NEW.seat_number)
    EXECUTE FUNCTION reservations_check_moved_seat();

-- What the check relies on: a seat, once there, stays.
CREATE FUNCTION seats_are_permanent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'seats are permanent: a reservation''s seat check relies on it'
        USING ERRCODE = 'foreign_key_violation';
END
$$;
CREATE TRIGGER seats_are_permanent BEFORE UPDATE OR DELETE ON seats
    FOR EACH ROW EXECUTE FUNCTION seats_are_permanent();
CREATE TRIGGER seats_are_not_truncated BEFORE TRUNCATE ON seats
    FOR EACH STATEMENT EXECUTE FUNCTION seats_are_permanent();
