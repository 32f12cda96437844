-- The schema repeats the engine's invariants so that a wrong actor still cannot
-- sell a seat twice, overdraw a wallet or pay a reservation twice.
-- Instants are RFC 3339 text in UTC; dates are YYYY-MM-DD text.

CREATE TABLE concerts (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200)
) STRICT;

CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    concert_id INTEGER NOT NULL REFERENCES concerts (id),
    date       TEXT    NOT NULL CHECK (date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    seat_count INTEGER NOT NULL CHECK (seat_count BETWEEN 1 AND 1000),
    price      INTEGER NOT NULL CHECK (price >= 0)
) STRICT;
CREATE INDEX sessions_by_concert ON sessions (concert_id, date, id);

-- One row per seat, so that a reservation of a seat the session lacks is refused by a foreign key.
CREATE TABLE seats (
    session_id  INTEGER NOT NULL REFERENCES sessions (id),
    seat_number INTEGER NOT NULL CHECK (seat_number >= 1),
    PRIMARY KEY (session_id, seat_number)
) STRICT, WITHOUT ROWID;

CREATE TABLE reservations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  INTEGER NOT NULL,
    seat_number INTEGER NOT NULL,
    user_id     TEXT    NOT NULL,
    price       INTEGER NOT NULL CHECK (price >= 0),
    status      TEXT    NOT NULL CHECK (status IN ('held', 'paid', 'expired', 'released')),
    held_at     TEXT    NOT NULL,
    expires_at  TEXT    NOT NULL,
    ended_at    TEXT,
    FOREIGN KEY (session_id, seat_number) REFERENCES seats (session_id, seat_number)
) STRICT;
-- No double sale: a seat has at most one live (held or paid) reservation.
CREATE UNIQUE INDEX reservations_one_live_per_seat
    ON reservations (session_id, seat_number) WHERE status IN ('held', 'paid');
CREATE INDEX reservations_by_user ON reservations (user_id);

-- No negative balance.
CREATE TABLE wallets (
    user_id TEXT PRIMARY KEY,
    balance INTEGER NOT NULL CHECK (balance >= 0)
) STRICT;

CREATE TABLE payments (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    -- No reservation paid twice.
    reservation_id  INTEGER NOT NULL UNIQUE REFERENCES reservations (id),
    user_id         TEXT    NOT NULL REFERENCES wallets (user_id),
    amount          INTEGER NOT NULL CHECK (amount >= 0),
    balance_after   INTEGER NOT NULL CHECK (balance_after >= 0),
    idempotency_key TEXT,
    paid_at         TEXT    NOT NULL
) STRICT;
-- An idempotency key names one payment of one user.
CREATE UNIQUE INDEX payments_one_per_key
    ON payments (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- The append-only ledger: the balance is the sum of these rows.
CREATE TABLE ledger (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    TEXT    NOT NULL REFERENCES wallets (user_id),
    kind       TEXT    NOT NULL CHECK (kind IN ('charge', 'payment')),
    amount     INTEGER NOT NULL,
    -- A payment has exactly one debit.
    payment_id INTEGER UNIQUE REFERENCES payments (id),
    created_at TEXT    NOT NULL,
    CHECK ((kind = 'charge' AND amount > 0 AND payment_id IS NULL)
        OR (kind = 'payment' AND amount <= 0 AND payment_id IS NOT NULL))
) STRICT;
CREATE INDEX ledger_by_user ON ledger (user_id);

CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only');
END;

CREATE TABLE queue_tokens (
    token       TEXT    PRIMARY KEY,
    user_id     TEXT    NOT NULL,
    seq         INTEGER NOT NULL UNIQUE,
    state       TEXT    NOT NULL CHECK (state IN ('waiting', 'admitted', 'expired', 'evicted')),
    issued_at   TEXT    NOT NULL,
    admitted_at TEXT,
    ended_at    TEXT,
    CHECK (state <> 'admitted' OR admitted_at IS NOT NULL)
) STRICT;
-- One place in line per user.
CREATE UNIQUE INDEX queue_tokens_one_live_per_user
    ON queue_tokens (user_id) WHERE state IN ('waiting', 'admitted');
CREATE INDEX queue_tokens_live_by_seq
    ON queue_tokens (seq) WHERE state IN ('waiting', 'admitted');
