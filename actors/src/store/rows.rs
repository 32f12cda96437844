//! The rows the store reads and writes, in the engine's own types.

use chrono::{DateTime, NaiveDate, Utc};

use super::StoreError;
use crate::domain::{
    ConcertId, IdempotencyKey, PaymentId, Points, QueueToken, ReservationId, RoomId, SeatCount,
    SeatNumber, SessionId, UserId,
};

/// A concert as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcertRow {
    /// Its id.
    pub id: ConcertId,
    /// Its title.
    pub title: String,
}

/// What the admin route asks for when it adds a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// The concert it belongs to (must exist).
    pub concert_id: ConcertId,
    /// The day of the performance.
    pub date: NaiveDate,
    /// Seats numbered `1..=seat_count`.
    pub seat_count: SeatCount,
    /// The price of every seat of this session.
    pub price: Points,
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// Its id.
    pub id: SessionId,
    /// The concert it belongs to.
    pub concert_id: ConcertId,
    /// The day of the performance.
    pub date: NaiveDate,
    /// Seats numbered `1..=seat_count`.
    pub seat_count: SeatCount,
    /// The price of every seat of this session.
    pub price: Points,
}

/// Every concert and session, read once at start-up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// All concerts, by id.
    pub concerts: Vec<ConcertRow>,
    /// All sessions, by id.
    pub sessions: Vec<SessionRow>,
}

/// Where a reservation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReservationStatus {
    /// A live hold: the seat is taken until `expires_at` unless paid.
    Held,
    /// Paid: the seat is sold.
    Paid,
    /// The hold ran out unpaid; the seat is free again.
    Expired,
    /// The hold was given up; the seat is free again.
    Released,
}

impl ReservationStatus {
    /// The text stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Paid => "paid",
            Self::Expired => "expired",
            Self::Released => "released",
        }
    }

    /// Reads the `status` column.
    pub fn from_db(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "held" => Self::Held,
            "paid" => Self::Paid,
            "expired" => Self::Expired,
            "released" => Self::Released,
            other => return Err(StoreError::Conflict(format!("unknown status {other}"))),
        })
    }
}

/// A hold about to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHold {
    /// The session.
    pub session_id: SessionId,
    /// The seat (within the session's seat count: the schema checks it against `seats`).
    pub seat_number: SeatNumber,
    /// Who holds it.
    pub user_id: UserId,
    /// The session's price, copied so that a paid reservation keeps what it cost.
    pub price: Points,
    /// When the hold was taken.
    pub held_at: DateTime<Utc>,
    /// When the hold ends unless paid.
    pub expires_at: DateTime<Utc>,
}

/// A reservation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationRow {
    /// Its id.
    pub id: ReservationId,
    /// The session.
    pub session_id: SessionId,
    /// The seat.
    pub seat_number: SeatNumber,
    /// Who holds or bought it.
    pub user_id: UserId,
    /// What it costs.
    pub price: Points,
    /// Where it is in its life.
    pub status: ReservationStatus,
    /// When the hold was taken.
    pub held_at: DateTime<Utc>,
    /// When the hold ends unless paid.
    pub expires_at: DateTime<Utc>,
}

/// A payment about to be committed: debit, payment row and sale in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    /// The reservation being paid; it must be `held` by `user_id`.
    pub reservation_id: ReservationId,
    /// The payer.
    pub user_id: UserId,
    /// The price debited (the reservation's price).
    pub amount: Points,
    /// The client's retry key, if it sent one.
    pub idempotency_key: Option<IdempotencyKey>,
    /// The token that paid: the admission a replay of this payment ends.
    pub paid_with_token: Option<QueueToken>,
    /// When.
    pub paid_at: DateTime<Utc>,
}

/// A committed payment, with what the client is told about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRow {
    /// Its id.
    pub id: PaymentId,
    /// The reservation it paid.
    pub reservation_id: ReservationId,
    /// The payer.
    pub user_id: UserId,
    /// The session of the seat.
    pub session_id: SessionId,
    /// The date of that session.
    pub date: NaiveDate,
    /// The seat sold.
    pub seat_number: SeatNumber,
    /// The amount debited.
    pub amount: Points,
    /// The payer's balance right after the debit.
    pub balance_after: Points,
    /// The client's retry key, if it sent one.
    pub idempotency_key: Option<IdempotencyKey>,
    /// The token that paid (`None` for payments made before it was recorded).
    pub paid_with_token: Option<QueueToken>,
    /// When.
    pub paid_at: DateTime<Utc>,
}

/// Who added points with an idempotency key: the keys of each are apart, so that a
/// user cannot take a key the operator's payment provider will send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChargeSource {
    /// The user, through `PATCH /concert/balance`.
    Charge,
    /// The operator, through `POST /admin/users/{userId}/credits`.
    Credit,
}

impl ChargeSource {
    /// As the `keyed_charges.source` column stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeSource::Charge => "charge",
            ChargeSource::Credit => "credit",
        }
    }
}

/// The retry key of a charge: whose namespace, and the key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChargeKey {
    /// The user's or the operator's.
    pub source: ChargeSource,
    /// The client's `Idempotency-Key`.
    pub key: IdempotencyKey,
}

/// A charge made with a key, as a replay answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyedChargeRow {
    /// The points added.
    pub amount: Points,
    /// The balance right after.
    pub balance_after: Points,
}

/// Where a queue token is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenState {
    /// In line.
    Waiting,
    /// Let in: may hold and pay until its admission ends.
    Admitted,
    /// Its admission ended (active TTL passed, or a payment ended it).
    Expired,
    /// It lost its place in line for not polling.
    Evicted,
}

impl TokenState {
    /// Waiting or admitted: the token holds a place in its room.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Waiting | Self::Admitted)
    }

    /// The text stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Admitted => "admitted",
            Self::Expired => "expired",
            Self::Evicted => "evicted",
        }
    }

    /// Reads the `state` column.
    pub fn from_db(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "waiting" => Self::Waiting,
            "admitted" => Self::Admitted,
            "expired" => Self::Expired,
            "evicted" => Self::Evicted,
            other => return Err(StoreError::Conflict(format!("unknown token state {other}"))),
        })
    }
}

/// A queue token as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// The token.
    pub token: QueueToken,
    /// Its user.
    pub user_id: UserId,
    /// The room whose line it is in (one live token per user per room).
    pub room: RoomId,
    /// Its place in its room's line: FIFO is by this number, unique within the room.
    /// A drawn pre-queue token is renumbered ([`Store::draw_room`](super::Store::draw_room)).
    pub seq: i64,
    /// Where it is in its life.
    pub state: TokenState,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
    /// When it was admitted, if it was.
    pub admitted_at: Option<DateTime<Utc>>,
}
