-- Issue 16 (spread): every hold wrote an entry into `reservations_by_user`, an index no
-- query of the engine uses (reservations are looked up by id, and by session for a
-- SessionActor's start; the invariant checks read whole tables). An operator who wants
-- a user's reservations can still ask for them (a scan), or create the index for an
-- investigation: docs/operations.md says so.
DROP INDEX reservations_by_user;
