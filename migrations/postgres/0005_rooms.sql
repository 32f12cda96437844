-- Rooms: the site-wide waiting room (room 0) and one per concert whose operator
-- scheduled one (room N = concert N). Each room has its own line, limits and
-- counters; its settings are written through by its WaitingRoom actor.
CREATE TABLE rooms (
    room_id            BIGINT      PRIMARY KEY CHECK (room_id >= 0),
    -- NULL for the site room, which is never scheduled (always open).
    pre_queue_opens_at TIMESTAMPTZ,
    opens_at           TIMESTAMPTZ,
    -- When the pre-queue was shuffled; NULL before. Written with the drawn seqs.
    drawn_at           TIMESTAMPTZ,
    max_active         BIGINT      NOT NULL CHECK (max_active >= 1),
    -- NULL: admissions are not rate-limited.
    admission_rate     BIGINT      CHECK (admission_rate >= 1),
    paused             BOOLEAN     NOT NULL DEFAULT FALSE,
    -- Incremented in the transaction that admits or evicts, so they survive restarts.
    admitted_total     BIGINT      NOT NULL DEFAULT 0 CHECK (admitted_total >= 0),
    evicted_total      BIGINT      NOT NULL DEFAULT 0 CHECK (evicted_total >= 0),
    updated_at         TIMESTAMPTZ NOT NULL,
    CHECK (pre_queue_opens_at IS NULL OR opens_at IS NULL OR pre_queue_opens_at <= opens_at)
);

-- Every max_active a room has had, one row per change, written with the change:
-- `concert check` judges each room's admissions by the row in force when they were made.
CREATE TABLE room_limits (
    id         BIGSERIAL   PRIMARY KEY,
    room_id    BIGINT      NOT NULL REFERENCES rooms (room_id),
    max_active BIGINT      NOT NULL CHECK (max_active >= 1),
    since      TIMESTAMPTZ NOT NULL
);
CREATE INDEX room_limits_by_room ON room_limits (room_id, since);

-- Tokens issued before rooms were all the site room's (0). The constant default
-- makes this a catalogue change: no rewrite of the table.
ALTER TABLE queue_tokens ADD COLUMN room_id BIGINT NOT NULL DEFAULT 0 CHECK (room_id >= 0);
-- Each room numbers its own line: a seq is unique within its room.
ALTER TABLE queue_tokens DROP CONSTRAINT queue_tokens_seq_key;
ALTER TABLE queue_tokens ADD CONSTRAINT queue_tokens_room_seq_key UNIQUE (room_id, seq);
-- One place in line per user PER ROOM (a user may wait in several rooms).
DROP INDEX queue_tokens_one_live_per_user;
CREATE UNIQUE INDEX queue_tokens_one_live_per_user
    ON queue_tokens (room_id, user_id) WHERE state IN ('waiting', 'admitted');
DROP INDEX queue_tokens_live_by_seq;
CREATE INDEX queue_tokens_live_by_seq
    ON queue_tokens (room_id, seq) WHERE state IN ('waiting', 'admitted');
