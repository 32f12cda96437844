//! What the two SQL backends share that is not tied to one of them (compiled
//! once, unlike `sql/`): the records rows decode into (the same Rust types decode
//! from either database), their conversion to the store's rows, error
//! classification, and pool options.
//!
//! Both schemas name their columns alike, and sqlx decodes `BIGINT`/`INTEGER`,
//! `TIMESTAMPTZ`/RFC 3339 `TEXT` and `DATE`/`YYYY-MM-DD` `TEXT` into the same Rust
//! types, so a record derived once with [`sqlx::FromRow`] serves both. A token is
//! the one column that differs: a binary `uuid` on Postgres, text on SQLite
//! ([`TokenRecord`] takes either).

use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use sqlx::error::{DatabaseError, ErrorKind};
use sqlx::pool::PoolOptions;
use uuid::Uuid;

mod reservation;
pub(super) use reservation::{RESERVATION_COLUMNS, ReservationRecord};

use super::{
    ConcertRow, KeyedChargeRow, NewPayment, PaymentRow, PoolSettings, ReservationStatus,
    SessionRow, StoreError, TokenRow, TokenState,
};
use crate::domain::{
    ConcertId, IdempotencyKey, PaymentId, Points, QueueToken, ReservationId, SeatCount, SeatNumber,
    SessionId, UserId,
};

/// Selects a [`PaymentRecord`] (a payment with its seat and date); the caller
/// appends the condition.
pub(super) const PAYMENT_SELECT: &str = "SELECT p.id, p.reservation_id, p.user_id, \
     r.session_id, s.date, r.seat_number, p.amount, p.balance_after, p.idempotency_key, \
     p.paid_with_token, p.paid_at FROM payments p JOIN reservations r ON r.id = p.reservation_id \
     JOIN sessions s ON s.id = r.session_id WHERE ";

/// Instants are stored to the microsecond (Postgres' precision), so every instant
/// is rounded down before it is written and the row handed back equals the row read.
pub(super) fn micros(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

/// A seat number as the `INTEGER` columns take it.
pub(super) fn seat_int(seat: SeatNumber) -> Result<i32, StoreError> {
    i32::try_from(seat.0).map_err(|_| StoreError::NotFound)
}

/// A token as both schemas' text form (lowercase, hyphenated).
pub(super) fn token_text(token: QueueToken) -> String {
    token.0.hyphenated().to_string()
}

/// Pool options from [`PoolSettings`]. No test query runs before each acquire: a
/// broken connection fails its statement and the caller sees `Unavailable`.
pub(super) fn pool_options<DB: sqlx::Database>(settings: &PoolSettings) -> PoolOptions<DB> {
    PoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .idle_timeout(settings.idle_timeout)
        .max_lifetime(settings.max_lifetime)
        .test_before_acquire(false)
}

/// The status an ended hold is written with; a live status is refused.
pub(super) fn ended_status(status: ReservationStatus) -> Result<&'static str, StoreError> {
    match status {
        ReservationStatus::Expired | ReservationStatus::Released => Ok(status.as_str()),
        live => Err(StoreError::Conflict(format!(
            "a hold cannot end as {}",
            live.as_str()
        ))),
    }
}

/// The state an ended token is written with; a live state is refused.
pub(super) fn ended_state(state: TokenState) -> Result<&'static str, StoreError> {
    match state {
        TokenState::Expired | TokenState::Evicted => Ok(state.as_str()),
        live => Err(StoreError::Conflict(format!(
            "a token cannot end as {}",
            live.as_str()
        ))),
    }
}

/// Checks the reservation a payment found (`user_id, status, price`, `None` if
/// missing): it must be `held` by the payer, at the amount paid.
pub(super) fn check_payable(
    found: Option<(String, String, i64)>,
    payment: &NewPayment,
) -> Result<(), StoreError> {
    match found {
        Some((owner, status, price))
            if owner == payment.user_id.as_str() && status == ReservationStatus::Held.as_str() =>
        {
            if price == payment.amount.0 {
                Ok(())
            } else {
                Err(StoreError::Conflict(format!(
                    "amount {} is not the reservation's price {price}",
                    payment.amount.0
                )))
            }
        }
        _ => Err(StoreError::Conflict("reservation not held".into())),
    }
}

// ---- errors ----

/// A new session refused: its concert does not exist.
pub(super) fn session_error(e: sqlx::Error) -> StoreError {
    match violation(&e) {
        Some(ErrorKind::ForeignKeyViolation) => StoreError::NotFound,
        _ => store_error(e),
    }
}

/// A hold refused: the seat has a live reservation, or the session or seat does not exist.
pub(super) fn hold_error(e: sqlx::Error) -> StoreError {
    match violation(&e) {
        Some(ErrorKind::UniqueViolation) => StoreError::SeatTaken,
        Some(ErrorKind::ForeignKeyViolation) => StoreError::NotFound,
        _ => store_error(e),
    }
}

/// New tokens refused: a token, a `seq`, or a user's one live place is taken.
pub(super) fn token_error(e: sqlx::Error) -> StoreError {
    match violation(&e) {
        Some(ErrorKind::UniqueViolation) => StoreError::Conflict(message(&e)),
        _ => store_error(e),
    }
}

/// The constraint kind a failed statement violated, if that is why it failed.
fn violation(err: &sqlx::Error) -> Option<ErrorKind> {
    match err.as_database_error()?.kind() {
        ErrorKind::Other => None,
        kind => Some(kind),
    }
}

/// The database's own message, for [`StoreError::Conflict`].
fn message(err: &sqlx::Error) -> String {
    match err.as_database_error() {
        Some(db) => db.message().to_owned(),
        None => err.to_string(),
    }
}

/// In a payment: a unique violation is a second payment of the reservation or a
/// reused idempotency key; a CHECK on a balance is an overdraft.
pub(super) fn payment_error(e: sqlx::Error) -> StoreError {
    if is_balance_check(&e) {
        return StoreError::InsufficientBalance;
    }
    match violation(&e) {
        Some(ErrorKind::UniqueViolation) => StoreError::Conflict(message(&e)),
        _ => store_error(e),
    }
}

/// Whether the violated CHECK is one on a balance (`balance >= 0`, `balance_after >= 0`).
fn is_balance_check(err: &sqlx::Error) -> bool {
    violation(err) == Some(ErrorKind::CheckViolation)
        && err.as_database_error().is_some_and(|db| {
            db.constraint().is_some_and(|c| c.contains("balance"))
                || db.message().contains("balance")
        })
}

/// The default classification, for failures a call gives no particular meaning:
/// the database refusing the data is a [`StoreError::Conflict`]; anything a retry
/// may cure (connection, pool, lock, timeout, resources) is
/// [`StoreError::Unavailable`]; a row that does not decode is a `Conflict`.
pub(super) fn store_error(err: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    match err {
        E::Database(db) if is_refusal(db.as_ref()) => StoreError::Conflict(db.message().into()),
        E::RowNotFound => StoreError::NotFound,
        E::ColumnDecode { .. }
        | E::Decode(_)
        | E::ColumnNotFound(_)
        | E::ColumnIndexOutOfBounds { .. }
        | E::TypeNotFound { .. }
        | E::Encode(_) => StoreError::Conflict(format!("unreadable row: {err}")),
        other => StoreError::Unavailable(other.to_string()),
    }
}

/// A migration failure: the store cannot be used.
pub(super) fn migrate_error(err: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Unavailable(format!("migration failed: {err}"))
}

/// Whether the database refused the data itself (a constraint, a bad value, the
/// ledger's append-only trigger) rather than failed to run the statement.
fn is_refusal(db: &dyn DatabaseError) -> bool {
    if db.kind() != ErrorKind::Other {
        return true;
    }
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        // 22: data exception, 23: integrity constraint, P0: raised by PL/pgSQL.
        let code = pg.code();
        return code.starts_with("22") || code.starts_with("23") || code.starts_with("P0");
    }
    // SQLite: the primary result code is the low byte of the extended one.
    // 18 TOOBIG, 19 CONSTRAINT (also the ledger trigger's RAISE(ABORT)), 20 MISMATCH, 25 RANGE.
    db.code()
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xff, 18 | 19 | 20 | 25))
}

pub(super) fn invalid(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Conflict(format!("invalid stored {what}: {detail}"))
}

// ---- records ----

#[derive(sqlx::FromRow)]
pub(super) struct ConcertRecord {
    pub(super) id: i64,
    pub(super) title: String,
}

impl TryFrom<ConcertRecord> for ConcertRow {
    type Error = StoreError;
    fn try_from(r: ConcertRecord) -> Result<Self, StoreError> {
        Ok(ConcertRow {
            id: ConcertId::parse(r.id).map_err(|e| invalid("concert id", e))?,
            title: r.title,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct SessionRecord {
    pub(super) id: i64,
    pub(super) concert_id: i64,
    pub(super) date: NaiveDate,
    pub(super) seat_count: i32,
    pub(super) price: i64,
}

impl TryFrom<SessionRecord> for SessionRow {
    type Error = StoreError;
    fn try_from(r: SessionRecord) -> Result<Self, StoreError> {
        Ok(SessionRow {
            id: SessionId::parse(r.id).map_err(|e| invalid("session id", e))?,
            concert_id: ConcertId::parse(r.concert_id).map_err(|e| invalid("concert id", e))?,
            date: r.date,
            seat_count: SeatCount::parse(r.seat_count.into())
                .map_err(|e| invalid("seat count", e))?,
            price: price(r.price)?,
        })
    }
}

/// A payment joined with its reservation and session (for the seat and the date).
#[derive(sqlx::FromRow)]
pub(super) struct PaymentRecord {
    pub(super) id: i64,
    pub(super) reservation_id: i64,
    pub(super) user_id: String,
    pub(super) session_id: i64,
    pub(super) date: NaiveDate,
    pub(super) seat_number: i32,
    pub(super) amount: i64,
    pub(super) balance_after: i64,
    pub(super) idempotency_key: Option<String>,
    pub(super) paid_with_token: Option<String>,
    pub(super) paid_at: DateTime<Utc>,
}

impl TryFrom<PaymentRecord> for PaymentRow {
    type Error = StoreError;
    fn try_from(r: PaymentRecord) -> Result<Self, StoreError> {
        Ok(PaymentRow {
            id: PaymentId::parse(r.id).map_err(|e| invalid("payment id", e))?,
            reservation_id: reservation_id(r.reservation_id)?,
            user_id: user(&r.user_id)?,
            session_id: SessionId::parse(r.session_id).map_err(|e| invalid("session id", e))?,
            date: r.date,
            seat_number: seat(r.seat_number)?,
            amount: price(r.amount)?,
            balance_after: price(r.balance_after)?,
            idempotency_key: r
                .idempotency_key
                .map(|key| IdempotencyKey::parse(&key).map_err(|e| invalid("idempotency key", e)))
                .transpose()?,
            paid_with_token: r
                .paid_with_token
                .map(|token| token_of_text(&token))
                .transpose()?,
            paid_at: r.paid_at,
        })
    }
}

/// A `keyed_charges` row's answer: `(amount, balance_after)`.
pub(super) fn keyed_charge((amount, balance_after): (i64, i64)) -> Result<KeyedChargeRow, StoreError> {
    Ok(KeyedChargeRow {
        amount: price(amount)?,
        balance_after: price(balance_after)?,
    })
}

/// A token row as a store sends it: the token as text (SQLite) or as a binary uuid
/// (Postgres: reading a million tokens as text cost ~0.35 s of a restart).
#[derive(sqlx::FromRow)]
pub(super) struct TokenRecord<T = String> {
    pub(super) token: T,
    pub(super) user_id: String,
    pub(super) room_id: i64,
    pub(super) seq: i64,
    pub(super) state: String,
    pub(super) issued_at: DateTime<Utc>,
    pub(super) admitted_at: Option<DateTime<Utc>>,
}

impl TryFrom<TokenRecord<Uuid>> for TokenRow {
    type Error = StoreError;
    fn try_from(r: TokenRecord<Uuid>) -> Result<Self, StoreError> {
        Ok(TokenRow {
            token: QueueToken(r.token),
            user_id: user(&r.user_id)?,
            room: super::rooms::room_of(r.room_id)?,
            seq: r.seq,
            state: TokenState::from_db(&r.state)?,
            issued_at: r.issued_at,
            admitted_at: r.admitted_at,
        })
    }
}

impl TryFrom<TokenRecord> for TokenRow {
    type Error = StoreError;
    fn try_from(r: TokenRecord) -> Result<Self, StoreError> {
        let token = Uuid::parse_str(&r.token).map_err(|e| invalid("token", e))?;
        TokenRow::try_from(TokenRecord {
            token,
            user_id: r.user_id,
            room_id: r.room_id,
            seq: r.seq,
            state: r.state,
            issued_at: r.issued_at,
            admitted_at: r.admitted_at,
        })
    }
}

/// Converts a batch of records, failing on the first bad one.
pub(super) fn rows<R, T: TryFrom<R, Error = StoreError>>(
    records: Vec<R>,
) -> Result<Vec<T>, StoreError> {
    records.into_iter().map(T::try_from).collect()
}

fn reservation_id(id: i64) -> Result<ReservationId, StoreError> {
    ReservationId::parse(id).map_err(|e| invalid("reservation id", e))
}

fn seat(n: i32) -> Result<SeatNumber, StoreError> {
    SeatNumber::parse(n.into()).map_err(|e| invalid("seat number", e))
}

fn user(id: &str) -> Result<UserId, StoreError> {
    UserId::parse(id).map_err(|e| invalid("user id", e))
}

fn token_of_text(token: &str) -> Result<QueueToken, StoreError> {
    Uuid::parse_str(token)
        .map(QueueToken)
        .map_err(|e| invalid("token", e))
}

fn price(amount: i64) -> Result<Points, StoreError> {
    Points::parse_price(amount).map_err(|e| invalid("amount", e))
}
