-- Kept in step with migrations/postgres/0007_seat_check_per_statement.sql, which
-- replaces Postgres's row-by-row foreign key from reservations to seats with one
-- check per INSERT statement (the cost it removes is Postgres's row lock per hold).
-- SQLite's foreign key takes no lock and stays as it is; this migration only keeps
-- the two schemas' version numbers the same.
SELECT 1;
