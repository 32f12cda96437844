//! Every write of the Postgres store, as a function on a connection, so that the
//! single-op methods (one transaction each) and `batch.rs` (many ops in one
//! transaction, a savepoint each) run the same statements and map errors alike.
//!
//! A write of several statements (`charge`, `commit_payment`) must run inside a
//! transaction the caller opened: it relies on the transaction to undo its first
//! statements when a later one is refused.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnection;

use crate::domain::{ChargeAmount, IdempotencyKey, Points, ReservationId, UserId};
use crate::store::common::{
    PAYMENT_SELECT, PaymentRecord, RESERVATION_COLUMNS, ReservationRecord, check_payable,
    ended_status, hold_error, micros, payment_error, seat_int, store_error,
};
use crate::store::{
    NewHold, NewPayment, PaymentRow, ReservationRow, ReservationStatus, StoreError,
};

/// [`Store::insert_hold`](crate::store::Store::insert_hold): one statement.
pub(super) async fn insert_hold(
    conn: &mut PgConnection,
    hold: &NewHold,
) -> Result<ReservationRow, StoreError> {
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
pub(super) async fn end_hold(
    conn: &mut PgConnection,
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

/// [`Store::charge`](crate::store::Store::charge): two statements, inside the caller's
/// transaction.
pub(super) async fn charge(
    conn: &mut PgConnection,
    user: &UserId,
    amount: ChargeAmount,
    at: DateTime<Utc>,
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
    sqlx::query(
        "INSERT INTO ledger (user_id, kind, amount, created_at) VALUES ($1, 'charge', $2, $3)",
    )
    .bind(user.as_str())
    .bind(amount.0)
    .bind(micros(at))
    .execute(&mut *conn)
    .await
    .map_err(store_error)?;
    Ok(Points(balance))
}

/// [`Store::commit_payment`](crate::store::Store::commit_payment): debit, payment row,
/// ledger row and sale, inside the caller's transaction (which undoes the wallet
/// row and the debit if a later statement is refused).
pub(super) async fn commit_payment(
    conn: &mut PgConnection,
    payment: &NewPayment,
) -> Result<PaymentRow, StoreError> {
    let user = payment.user_id.as_str();
    let amount = payment.amount.0;

    // Lock the reservation: a concurrent payment of it waits here, then sees `paid`.
    let held: Option<(String, String, i64)> =
        sqlx::query_as("SELECT user_id, status, price FROM reservations WHERE id = $1 FOR UPDATE")
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
        "INSERT INTO payments \
         (reservation_id, user_id, amount, balance_after, idempotency_key, paid_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(payment.reservation_id.0)
    .bind(user)
    .bind(amount)
    .bind(balance_after)
    .bind(payment.idempotency_key.as_ref().map(IdempotencyKey::as_str))
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
