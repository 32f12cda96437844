-- Rooms: the site-wide waiting room (room 0) and one per concert whose operator
-- scheduled one (room N = concert N). Each room has its own line, limits and
-- counters; its settings are written through by its WaitingRoom actor.
-- Instants are RFC 3339 text in UTC, as everywhere in this schema.
CREATE TABLE rooms (
    room_id            INTEGER PRIMARY KEY CHECK (room_id >= 0),
    -- NULL for the site room, which is never scheduled (always open).
    pre_queue_opens_at TEXT,
    opens_at           TEXT,
    -- When the pre-queue was shuffled; NULL before. Written with the drawn seqs.
    drawn_at           TEXT,
    max_active         INTEGER NOT NULL CHECK (max_active >= 1),
    -- NULL: admissions are not rate-limited.
    admission_rate     INTEGER CHECK (admission_rate >= 1),
    paused             INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    -- Incremented in the transaction that admits or evicts, so they survive restarts.
    admitted_total     INTEGER NOT NULL DEFAULT 0 CHECK (admitted_total >= 0),
    evicted_total      INTEGER NOT NULL DEFAULT 0 CHECK (evicted_total >= 0),
    updated_at         TEXT    NOT NULL,
    CHECK (pre_queue_opens_at IS NULL OR opens_at IS NULL OR pre_queue_opens_at <= opens_at)
) STRICT;

-- Every max_active a room has had, one row per change, written with the change:
-- `concert check` judges each room's admissions by the row in force when they were made.
CREATE TABLE room_limits (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id    INTEGER NOT NULL REFERENCES rooms (room_id),
    max_active INTEGER NOT NULL CHECK (max_active >= 1),
    since      TEXT    NOT NULL
) STRICT;
CREATE INDEX room_limits_by_room ON room_limits (room_id, since);

-- queue_tokens gains its room, and its uniqueness becomes per room. SQLite cannot
-- drop a column's UNIQUE, so the table is rebuilt (nothing references it). Tokens
-- issued before rooms were all the site room's (0).
CREATE TABLE queue_tokens_0005 (
    token       TEXT    PRIMARY KEY,
    user_id     TEXT    NOT NULL,
    room_id     INTEGER NOT NULL DEFAULT 0 CHECK (room_id >= 0),
    seq         INTEGER NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('waiting', 'admitted', 'expired', 'evicted')),
    issued_at   TEXT    NOT NULL,
    admitted_at TEXT,
    ended_at    TEXT,
    CHECK (state <> 'admitted' OR admitted_at IS NOT NULL),
    -- Each room numbers its own line: a seq is unique within its room.
    UNIQUE (room_id, seq)
) STRICT;
INSERT INTO queue_tokens_0005
    (token, user_id, room_id, seq, state, issued_at, admitted_at, ended_at)
    SELECT token, user_id, 0, seq, state, issued_at, admitted_at, ended_at FROM queue_tokens;
DROP TABLE queue_tokens;
ALTER TABLE queue_tokens_0005 RENAME TO queue_tokens;
-- One place in line per user PER ROOM (a user may wait in several rooms).
CREATE UNIQUE INDEX queue_tokens_one_live_per_user
    ON queue_tokens (room_id, user_id) WHERE state IN ('waiting', 'admitted');
CREATE INDEX queue_tokens_live_by_seq
    ON queue_tokens (room_id, seq) WHERE state IN ('waiting', 'admitted');
-- As in 0004: finds a batch of ended tokens to prune without a scan.
CREATE INDEX queue_tokens_ended
    ON queue_tokens (ended_at) WHERE state IN ('expired', 'evicted');
