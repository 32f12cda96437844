-- The schema repeats the engine's invariants so that a wrong actor still cannot
-- sell a seat twice, overdraw a wallet or pay a reservation twice.

CREATE TABLE concerts (
    id    BIGSERIAL PRIMARY KEY,
    title TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200)
);

CREATE TABLE sessions (
    id         BIGSERIAL PRIMARY KEY,
    concert_id BIGINT  NOT NULL REFERENCES concerts (id),
    date       DATE    NOT NULL,
    seat_count INTEGER NOT NULL CHECK (seat_count BETWEEN 1 AND 1000),
    price      BIGINT  NOT NULL CHECK (price >= 0)
);
CREATE INDEX sessions_by_concert ON sessions (concert_id, date, id);

-- One row per seat, so that a reservation of a seat the session lacks is refused by a foreign key.
CREATE TABLE seats (
    session_id  BIGINT  NOT NULL REFERENCES sessions (id),
    seat_number INTEGER NOT NULL CHECK (seat_number >= 1),
    PRIMARY KEY (session_id, seat_number)
);

CREATE TABLE reservations (
    id          BIGSERIAL PRIMARY KEY,
    session_id  BIGINT      NOT NULL,
    seat_number INTEGER     NOT NULL,
    user_id     TEXT        NOT NULL,
    price       BIGINT      NOT NULL CHECK (price >= 0),
    status      TEXT        NOT NULL CHECK (status IN ('held', 'paid', 'expired', 'released')),
    held_at     TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    ended_at    TIMESTAMPTZ,
    FOREIGN KEY (session_id, seat_number) REFERENCES seats (session_id, seat_number)
);
-- No double sale: a seat has at most one live (held or paid) reservation.
CREATE UNIQUE INDEX reservations_one_live_per_seat
    ON reservations (session_id, seat_number) WHERE status IN ('held', 'paid');
CREATE INDEX reservations_by_user ON reservations (user_id);

-- No negative balance.
CREATE TABLE wallets (
    user_id TEXT PRIMARY KEY,
    balance BIGINT NOT NULL CHECK (balance >= 0)
);

CREATE TABLE payments (
    id              BIGSERIAL PRIMARY KEY,
    -- No reservation paid twice.
    reservation_id  BIGINT      NOT NULL UNIQUE REFERENCES reservations (id),
    user_id         TEXT        NOT NULL REFERENCES wallets (user_id),
    amount          BIGINT      NOT NULL CHECK (amount >= 0),
    balance_after   BIGINT      NOT NULL CHECK (balance_after >= 0),
    idempotency_key TEXT,
    paid_at         TIMESTAMPTZ NOT NULL
);
-- An idempotency key names one payment of one user.
CREATE UNIQUE INDEX payments_one_per_key
    ON payments (user_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- The append-only ledger: the balance is the sum of these rows.
CREATE TABLE ledger (
    id         BIGSERIAL PRIMARY KEY,
    user_id    TEXT        NOT NULL REFERENCES wallets (user_id),
    kind       TEXT        NOT NULL CHECK (kind IN ('charge', 'payment')),
    amount     BIGINT      NOT NULL,
    -- A payment has exactly one debit.
    payment_id BIGINT UNIQUE REFERENCES payments (id),
    created_at TIMESTAMPTZ NOT NULL,
    CHECK ((kind = 'charge' AND amount > 0 AND payment_id IS NULL)
        OR (kind = 'payment' AND amount <= 0 AND payment_id IS NOT NULL))
);
CREATE INDEX ledger_by_user ON ledger (user_id);

CREATE FUNCTION ledger_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only';
END
$$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger
    FOR EACH ROW EXECUTE FUNCTION ledger_is_append_only();

CREATE TABLE queue_tokens (
    token       UUID        PRIMARY KEY,
    user_id     TEXT        NOT NULL,
    seq         BIGINT      NOT NULL UNIQUE,
    state       TEXT        NOT NULL CHECK (state IN ('waiting', 'admitted', 'expired', 'evicted')),
    issued_at   TIMESTAMPTZ NOT NULL,
    admitted_at TIMESTAMPTZ,
    ended_at    TIMESTAMPTZ,
    CHECK (state <> 'admitted' OR admitted_at IS NOT NULL)
);
-- One place in line per user.
CREATE UNIQUE INDEX queue_tokens_one_live_per_user
    ON queue_tokens (user_id) WHERE state IN ('waiting', 'admitted');
CREATE INDEX queue_tokens_live_by_seq
    ON queue_tokens (seq) WHERE state IN ('waiting', 'admitted');
