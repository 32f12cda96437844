//! Every write statement of the SQL stores, and the one dispatch of a [`WriteOp`]
//! to them. Compiled once per backend (see the store's module docs): `super` is
//! `postgres` or `sqlite`, and `Db` its `sqlx::Database`.
//!
//! The writes are functions on a connection, so that a single write (its own
//! transaction, `sql/impl_store.rs`) and a batch (one transaction, a savepoint each,
//! the backend's `batch.rs`) run the same statements and map errors alike. A write
//! of several statements (`charge`, `commit_payment`, admissions and evictions with
//! their room's counter, and new tokens on SQLite) must run inside a transaction the
//! caller opened with `begin_write`: it relies on the transaction to undo its first
//! statements when a later one is refused. The tokens' updates are in
//! `sql/token_writes.rs`.

use chrono::{DateTime, Utc};
use sqlx::{Connection, Transaction};

use super::{Db, LOCK_FOR_PAYMENT, token_writes, tokens};
use crate::domain::{ChargeAmount, IdempotencyKey, Points, ReservationId, UserId};
use crate::store::common::{
    PAYMENT_SELECT, PaymentRecord, RESERVATION_COLUMNS, ReservationRecord, check_payable,
    ended_status, hold_error, micros, payment_error, seat_int, store_error, token_text,
};
use crate::store::{
    ChargeKey, NewHold, NewPayment, PaymentRow, ReservationRow, ReservationStatus, StoreError,
    TokenRow, WriteOp, WriteOutcome,
};

/// A connection of this backend (a transaction or a savepoint derefs to one).
type Conn = <Db as sqlx::Database>::Connection;

/// One op, inside whatever transaction the caller has open (or none, for an op of
/// one statement): the only `match` from a [`WriteOp`] to its statements.
pub(super) async fn apply(conn: &mut Conn, op: &WriteOp) -> Result<WriteOutcome, StoreError> {
    match op {
        WriteOp::InsertHold(hold) => insert_hold(conn, hold).await.map(WriteOutcome::Hold),
        WriteOp::EndHold { id, status, at } => end_hold(conn, *id, *status, *at)
            .await
            .map(WriteOutcome::HoldEnded),
        WriteOp::Charge {
            user,
            amount,
            at,
            key,
        } => charge(conn, user, *amount, *at, key.as_ref())
            .await
            .map(WriteOutcome::Balance),
        WriteOp::CommitPayment(payment) => commit_payment(conn, payment)
            .await
            .map(WriteOutcome::Payment),
        WriteOp::InsertTokens(rows) => {
            let rows: Vec<&TokenRow> = rows.iter().collect();
            tokens::insert(conn, &rows)
                .await
                .map(|()| WriteOutcome::Done)
        }
        WriteOp::AdmitTokens { room, tokens, at } => token_writes::admit(conn, *room, tokens, *at)
            .await
            .map(|()| WriteOutcome::Done),
        WriteOp::EndTokens {
            room,
            tokens,
            state,
            at,
        } => token_writes::end(conn, *room, tokens, *state, *at)
            .await
            .map(|()| WriteOutcome::Done),
        WriteOp::PruneTokens {
            ended_before,
            limit,
        } => token_writes::prune(conn, *ended_before, *limit)
            .await
            .map(WriteOutcome::Pruned),
    }
}

/// Applies one op under a savepoint. The inner result is the op's own answer; the
/// outer `Err` means the savepoint itself could not be set, released or rolled back
/// (for example SQLite rolled the whole transaction back on a full disk), so the
/// transaction is in an unknown state and must not be committed.
pub(super) async fn under_savepoint(
    conn: &mut Conn,
    op: &WriteOp,
) -> Result<Result<WriteOutcome, StoreError>, StoreError> {
    apply_in(conn.begin().await.map_err(store_error)?, op).await
}

/// Applies one op in `tx` (a transaction, or a savepoint inside one), committing it
/// if the op succeeded and rolling it back if not. The outer `Err` is the commit's or
/// rollback's own failure.
pub(super) async fn apply_in(
    mut tx: Transaction<'_, Db>,
    op: &WriteOp,
) -> Result<Result<WriteOutcome, StoreError>, StoreError> {
    let result = apply(&mut tx, op).await;
    match result {
        Ok(_) => tx.commit().await.map_err(store_error)?,
        Err(_) => tx.rollback().await.map_err(store_error)?,
    }
    Ok(result)
}

/// [`Store::insert_hold`](crate::store::Store::insert_hold): one statement.
async fn insert_hold(conn: &mut Conn, hold: &NewHold) -> Result<ReservationRow, StoreError> {
    let sql = sqlx::AssertSqlSafe(format!(
        "INSERT INTO reservations \
         (session_id, seat_number, user_id, price, status, held_at, expires_at) \
         VALUES ($1, $2, $3, $4, 'held', $5, $6) RETURNING {RESERVATION_COLUMNS}"
    ));
    let record: ReservationRecord = sqlx::query_as(sql)
        .bind(hold.session_id.0)
        .bind(seat_int(hold.seat_number)?)
        .bind(hold.user_id.as_str())
        .bind(hold.price.0)
        .bind(micros(hold.held_at))
        .bind(micros(hold.expires_at))
        .fetch_one(&mut *conn)
        .await
        .map_err(hold_error)?;
    record.try_into()
}

/// [`Store::end_hold`](crate::store::Store::end_hold): one statement.
async fn end_hold(
    conn: &mut Conn,
    id: ReservationId,
    status: ReservationStatus,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let status = ended_status(status)?;
    let done = sqlx::query(
        "UPDATE reservations SET status = $2, ended_at = $3 WHERE id = $1 AND status = 'held'",
    )
    .bind(id.0)
    .bind(status)
    .bind(micros(at))
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    Ok(done.rows_affected() == 1)
}

/// [`Store::keyed_charge`](crate::store::Store::keyed_charge): two statements (three
/// with a key), inside the caller's transaction.
async fn charge(
    conn: &mut Conn,
    user: &UserId,
    amount: ChargeAmount,
    at: DateTime<Utc>,
    key: Option<&ChargeKey>,
) -> Result<Points, StoreError> {
    let balance: i64 = sqlx::query_scalar(
        "INSERT INTO wallets (user_id, balance) VALUES ($1, $2) \
         ON CONFLICT (user_id) DO UPDATE SET balance = wallets.balance + excluded.balance \
         RETURNING balance",
    )
    .bind(user.as_str())
    .bind(amount.0)
    .fetch_one(&mut *conn)
    .await
    .map_err(store_error)?;
    let ledger_id: i64 = sqlx::query_scalar(
        "INSERT INTO ledger (user_id, kind, amount, created_at) VALUES ($1, 'charge', $2, $3) \
         RETURNING id",
    )
    .bind(user.as_str())
    .bind(amount.0)
    .bind(micros(at))
    .fetch_one(&mut *conn)
    .await
    .map_err(store_error)?;
    if let Some(key) = key {
        // A key that names a charge already is refused here (a unique violation: a
        // `Conflict`), and the caller's transaction undoes the two rows above.
        sqlx::query(
            "INSERT INTO keyed_charges \
             (user_id, source, idempotency_key, ledger_id, amount, balance_after) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(user.as_str())
        .bind(key.source.as_str())
        .bind(key.key.as_str())
        .bind(ledger_id)
        .bind(amount.0)
        .bind(balance)
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    }
    Ok(Points(balance))
}

/// [`Store::commit_payment`](crate::store::Store::commit_payment): debit, payment row,
/// ledger row and sale, inside the caller's transaction (which undoes the wallet
/// row and the debit if a later statement is refused).
async fn commit_payment(conn: &mut Conn, payment: &NewPayment) -> Result<PaymentRow, StoreError> {
    let user = payment.user_id.as_str();
    let amount = payment.amount.0;

    // A concurrent payment of the reservation waits here, then sees `paid`: on
    // Postgres for the row lock `LOCK_FOR_PAYMENT` takes, on SQLite for the
    // database's write lock the caller's `BEGIN IMMEDIATE` holds.
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT user_id, status, price FROM reservations WHERE id = $1{LOCK_FOR_PAYMENT}"
    ));
    let held: Option<(String, String, i64)> = sqlx::query_as(sql)
        .bind(payment.reservation_id.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(store_error)?;
    check_payable(held, payment)?;

    // A user who never charged has a balance of 0: enough for a free seat.
    sqlx::query("INSERT INTO wallets (user_id, balance) VALUES ($1, 0) ON CONFLICT DO NOTHING")
        .bind(user)
        .execute(&mut *conn)
        .await
        .map_err(store_error)?;
    let balance_after: Option<i64> = sqlx::query_scalar(
        "UPDATE wallets SET balance = balance - $2 WHERE user_id = $1 AND balance >= $2 \
         RETURNING balance",
    )
    .bind(user)
    .bind(amount)
    .fetch_optional(&mut *conn)
    .await
    .map_err(payment_error)?;
    let Some(balance_after) = balance_after else {
        return Err(StoreError::InsufficientBalance);
    };

    let paid_at = micros(payment.paid_at);
    let payment_id: i64 = sqlx::query_scalar(
        "INSERT INTO payments (reservation_id, user_id, amount, balance_after, \
         idempotency_key, paid_with_token, paid_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         RETURNING id",
    )
    .bind(payment.reservation_id.0)
    .bind(user)
    .bind(amount)
    .bind(balance_after)
    .bind(payment.idempotency_key.as_ref().map(IdempotencyKey::as_str))
    .bind(payment.paid_with_token.map(token_text))
    .bind(paid_at)
    .fetch_one(&mut *conn)
    .await
    .map_err(payment_error)?;
    sqlx::query(
        "INSERT INTO ledger (user_id, kind, amount, payment_id, created_at) \
         VALUES ($1, 'payment', $2, $3, $4)",
    )
    .bind(user)
    .bind(-amount)
    .bind(payment_id)
    .bind(paid_at)
    .execute(&mut *conn)
    .await
    .map_err(payment_error)?;
    sqlx::query("UPDATE reservations SET status = 'paid' WHERE id = $1 AND status = 'held'")
        .bind(payment.reservation_id.0)
        .execute(&mut *conn)
        .await
        .map_err(payment_error)?;

    let sql = sqlx::AssertSqlSafe(format!("{PAYMENT_SELECT}p.id = $1"));
    let record: PaymentRecord = sqlx::query_as(sql)
        .bind(payment_id)
        .fetch_one(&mut *conn)
        .await
        .map_err(store_error)?;
    record.try_into()
}
