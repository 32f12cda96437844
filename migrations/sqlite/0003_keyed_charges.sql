-- Which token paid: a replay of the payment (same Idempotency-Key) ends that token's
-- admission, not the admission of the token the retry came with. NULL for payments
-- made before this column (their replay ends no admission).
ALTER TABLE payments ADD COLUMN paid_with_token TEXT;

-- A charge (`PATCH /concert/balance`) or an operator's credit
-- (`POST /admin/users/{userId}/credits`) made with an Idempotency-Key: the key names
-- one ledger charge of one user (the primary key refuses a second, also when two
-- requests race), and keeps the answer a replay repeats. A user's keys and the
-- operator's are apart (`source`), so a user cannot take a key the operator will use.
CREATE TABLE keyed_charges (
    user_id         TEXT    NOT NULL REFERENCES wallets (user_id),
    source          TEXT    NOT NULL CHECK (source IN ('charge', 'credit')),
    idempotency_key TEXT    NOT NULL,
    ledger_id       INTEGER NOT NULL UNIQUE REFERENCES ledger (id),
    amount          INTEGER NOT NULL CHECK (amount > 0),
    balance_after   INTEGER NOT NULL CHECK (balance_after >= 0),
    PRIMARY KEY (user_id, source, idempotency_key)
) STRICT, WITHOUT ROWID;
