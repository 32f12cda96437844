-- Kept in step with migrations/postgres/0006_owner_epochs.sql, which creates the table
-- of owners' epochs for cluster mode. Cluster mode runs on Postgres only (several nodes
-- cannot share an embedded SQLite file), so SQLite needs no such table; this migration
-- only keeps the two schemas' version numbers the same.
SELECT 1;
