-- The limits each engine started with, one row per start, written before it serves:
-- `concert check` judges each hold and admission by the row in force when it was made
-- (the latest at or before it), not by the flags the check itself is run with.
CREATE TABLE engine_limits (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    max_active         INTEGER NOT NULL CHECK (max_active >= 1),
    max_holds_per_user INTEGER NOT NULL CHECK (max_holds_per_user >= 1),
    started_at         TEXT    NOT NULL
) STRICT;
