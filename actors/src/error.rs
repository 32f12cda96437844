//! The errors the engine answers with, one variant per outcome a client can see.
//!
//! Domain refusals (a seat already taken, a balance too low) and infrastructure
//! failures (a store that is down, an actor that crashed, a full mailbox) share
//! one enum because the HTTP layer maps each to exactly one status and message.

use crate::domain::InvalidValue;
use crate::store::StoreError;

/// Everything an engine call can answer instead of success.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// Token missing, malformed or never issued.
    #[error("invalid token")]
    InvalidToken,
    /// Token known, but its admission ended or it was evicted from the line.
    #[error("token expired")]
    TokenExpired,
    /// Token still waiting in line: it may not hold or pay yet.
    #[error("still waiting in line")]
    StillWaiting,
    /// No concert with this id.
    #[error("concert not found")]
    ConcertNotFound,
    /// The concert has no waiting room of its own (`concertId` names a room to join).
    #[error("room not found")]
    RoomNotFound,
    /// The room's on-sale is scheduled and its pre-queue is not open yet.
    #[error("room not open until {opens_at}")]
    RoomNotOpen {
        /// When the room opens (the pre-queue may open before).
        opens_at: chrono::DateTime<chrono::Utc>,
    },
    /// The room has opened (its pre-queue was drawn): its schedule can no longer change.
    #[error("room already open")]
    RoomAlreadyOpen,
    /// The token was admitted by another room than the one of the concert acted on.
    #[error("token of another room")]
    WrongRoom,
    /// No session with this id.
    #[error("session not found")]
    SessionNotFound,
    /// The session has no seat with this number.
    #[error("seat not found")]
    SeatNotFound,
    /// The seat is held or sold.
    #[error("seat already reserved")]
    SeatAlreadyReserved,
    /// The user already has the most live holds allowed in this session.
    #[error("hold limit reached")]
    HoldLimitExceeded,
    /// No reservation with this id belongs to the caller.
    #[error("reservation not found")]
    ReservationNotFound,
    /// The reservation has been paid already.
    #[error("reservation already paid")]
    AlreadyPaid,
    /// The hold expired (or was released) before it was paid.
    #[error("reservation expired")]
    ReservationExpired,
    /// The wallet holds less than the price.
    #[error("insufficient balance")]
    InsufficientBalance,
    /// The idempotency key was used by this user for another reservation.
    #[error("idempotency key reused")]
    IdempotencyKeyReused,
    /// A value the client sent was refused.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// An actor's mailbox is full: the engine sheds load rather than queueing without end.
    #[error("overloaded")]
    Overloaded,
    /// The database could not be reached or did not answer in time.
    #[error("storage unavailable")]
    StorageUnavailable,
    /// The actor handling the request failed; it is being restarted.
    #[error("actor failed while handling the request")]
    ActorFailed,
    /// The actor stopped before the request reached it: nothing was done, a retry is safe.
    #[error("actor unreachable")]
    Unreachable,
    /// The actor did not answer within the engine's call timeout.
    #[error("timed out")]
    Timeout,
    /// The engine is shutting down.
    #[error("shutting down")]
    ShuttingDown,
}

impl From<InvalidValue> for EngineError {
    fn from(value: InvalidValue) -> Self {
        EngineError::InvalidInput(value.0)
    }
}

impl From<StoreError> for EngineError {
    fn from(value: StoreError) -> Self {
        match value {
            StoreError::Unavailable(_) => EngineError::StorageUnavailable,
            StoreError::InsufficientBalance => EngineError::InsufficientBalance,
            StoreError::SeatTaken => EngineError::SeatAlreadyReserved,
            StoreError::NotFound => EngineError::SessionNotFound,
            StoreError::Conflict(_) => EngineError::StorageUnavailable,
        }
    }
}

/// The result of every engine call.
pub type EngineResult<T> = Result<T, EngineError>;
