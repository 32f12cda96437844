//! What a call can end in besides its answer: the server's refusal in the contract's
//! shape (`{"errorCode", "msg", "error"}`, with `error` as an [`ErrorCode`]), an answer
//! outside the contract, or no answer at all.

use std::fmt;

use serde::Deserialize;

/// Declares the codes once: the variant and the wire string, both ways.
macro_rules! codes {
    ($($(#[$doc:meta])* $variant:ident => $wire:literal,)*) => {
        /// The `error` field of an error answer: the API's stable machine-readable codes
        /// (`docs/api.md`). A code this client does not know yet arrives as [`ErrorCode::Other`].
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
            /// A code newer than this client.
            Other(String),
        }

        impl ErrorCode {
            /// The code as it travels (`"SEAT_ALREADY_RESERVED"`).
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)*
                    Self::Other(code) => code,
                }
            }

            /// The code named by `wire`.
            pub fn parse(wire: &str) -> Self {
                match wire {
                    $($wire => Self::$variant,)*
                    other => Self::Other(other.to_owned()),
                }
            }
        }
    };
}

codes! {
    /// 403: token missing, malformed or unknown.
    InvalidToken => "INVALID_TOKEN",
    /// 401: the token's admission ended, or it was evicted from the line.
    TokenExpired => "TOKEN_EXPIRED",
    /// 403: the token is still waiting in line.
    StillWaiting => "STILL_WAITING",
    /// 404: no such concert.
    ConcertNotFound => "CONCERT_NOT_FOUND",
    /// 404: no such session.
    SessionNotFound => "SESSION_NOT_FOUND",
    /// 404: `concertId` names a concert without a room of its own (join without it).
    RoomNotFound => "ROOM_NOT_FOUND",
    /// 403: the concert's room is scheduled and its pre-queue not open yet; see
    /// [`ApiError::opens_at`].
    RoomNotOpen => "ROOM_NOT_OPEN",
    /// 409: the room has opened (its pre-queue drawn): its schedule is fixed.
    RoomAlreadyOpen => "ROOM_ALREADY_OPEN",
    /// 403: the token was admitted by another room than the concert's.
    WrongRoom => "WRONG_ROOM",
    /// 404: no such seat in the session.
    SeatNotFound => "SEAT_NOT_FOUND",
    /// 409: the seat is held or sold.
    SeatAlreadyReserved => "SEAT_ALREADY_RESERVED",
    /// 409: the user has the most live holds allowed in the session.
    HoldLimitExceeded => "HOLD_LIMIT_EXCEEDED",
    /// 404: no such reservation of the caller's.
    ReservationNotFound => "RESERVATION_NOT_FOUND",
    /// 409: the reservation is paid already.
    AlreadyPaid => "ALREADY_PAID",
    /// 410: the hold ended before it was paid.
    ReservationExpired => "RESERVATION_EXPIRED",
    /// 402: the balance is below the price.
    InsufficientBalance => "INSUFFICIENT_BALANCE",
    /// 409: the `Idempotency-Key` paid another reservation.
    IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
    /// 400: the body is not JSON.
    MalformedJson => "MALFORMED_JSON",
    /// 400: the body is JSON but not an object, or unreadable.
    InvalidBody => "INVALID_BODY",
    /// 400: a required field is missing.
    MissingField => "MISSING_FIELD",
    /// 400: a field has the wrong type or is out of range.
    InvalidField => "INVALID_FIELD",
    /// 400: a path id that is not a positive 64-bit integer.
    InvalidPathId => "INVALID_PATH_ID",
    /// 400: a query string that does not decode.
    InvalidQuery => "INVALID_QUERY",
    /// 400: a `userId` outside `A-Z a-z 0-9 _ -` or 1 to 64 long.
    InvalidUserId => "INVALID_USER_ID",
    /// 400: an `Idempotency-Key` that is empty, too long or not visible ASCII.
    InvalidIdempotencyKey => "INVALID_IDEMPOTENCY_KEY",
    /// 400: a value the engine refused.
    InvalidInput => "INVALID_INPUT",
    /// 400: any other bad request.
    BadRequest => "BAD_REQUEST",
    /// 401: JWT mode: a new token without a valid `X-User-Token`.
    InvalidUserToken => "INVALID_USER_TOKEN",
    /// 400: JWT mode: a `userId` or `X-User-Id` was sent (the user is the JWT's `sub`).
    UserIdNotAllowed => "USER_ID_NOT_ALLOWED",
    /// 429: too many new tokens from this address; retry after `Retry-After`.
    TooManyRequests => "TOO_MANY_REQUESTS",
    /// 428: a new token needs a proof of work (`X-Pow`).
    PowRequired => "POW_REQUIRED",
    /// 400: the proof of work is malformed, foreign, expired, too weak or used.
    PowInvalid => "POW_INVALID",
    /// 401: `X-Admin-Key` missing or wrong.
    AdminKeyInvalid => "ADMIN_KEY_INVALID",
    /// 403: the server has no admin key configured.
    AdminDisabled => "ADMIN_DISABLED",
    /// 404: no route has this path.
    RouteNotFound => "ROUTE_NOT_FOUND",
    /// 405: the path exists, the method does not.
    MethodNotAllowed => "METHOD_NOT_ALLOWED",
    /// 413: the body is over the server's limit.
    PayloadTooLarge => "PAYLOAD_TOO_LARGE",
    /// 500: a bug in the server.
    InternalError => "INTERNAL_ERROR",
    /// 503: the server sheds load; retry after `Retry-After`.
    Overloaded => "OVERLOADED",
    /// 503: the database is unreachable or too slow.
    StorageUnavailable => "STORAGE_UNAVAILABLE",
    /// 503: the actor handling the request failed and is restarting.
    ActorFailed => "ACTOR_FAILED",
    /// 503: the actor stopped before the request reached it: nothing was done.
    ActorUnreachable => "ACTOR_UNREACHABLE",
    /// 503: the request took too long; it may still complete.
    Timeout => "TIMEOUT",
    /// 503: the server is shutting down.
    ShuttingDown => "SHUTTING_DOWN",
    /// 503, cluster mode: no node owns the engine right now (a failover).
    NoOwner => "NO_OWNER",
    /// 503, cluster mode: the owner did not answer a forwarded request in time; it may still complete.
    OwnerUnreachable => "OWNER_UNREACHABLE",
    /// 503, cluster mode: streams are served by the engine's owner only; poll instead.
    StreamNotHere => "STREAM_NOT_HERE",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Self::parse(&wire))
    }
}

/// The server's refusal, as the contract shapes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiError {
    /// The HTTP status, equal to the body's `errorCode`.
    #[serde(rename = "errorCode")]
    pub status: u16,
    /// The stable code.
    #[serde(rename = "error")]
    pub code: ErrorCode,
    /// The human message (the contract's Korean wording).
    pub msg: String,
    /// `ROOM_NOT_OPEN` only: when the room opens (RFC 3339).
    #[serde(rename = "opensAt", default)]
    pub opens_at: Option<String>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.msg)
    }
}

/// Why a call did not give its typed answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server refused, in the contract's error shape.
    #[error("the server refused: {0}")]
    Api(ApiError),
    /// An answer outside the contract: another status than the route's success, without
    /// the error shape, or not JSON.
    #[error("unexpected answer {status}: {body}")]
    Unexpected {
        /// Its status.
        status: u16,
        /// Its body, as text.
        body: String,
    },
    /// A success whose body does not have the route's shape.
    #[error("a {status} answer that does not decode: {source}")]
    Decode {
        /// Its status.
        status: u16,
        /// serde's account.
        source: serde_json::Error,
    },
    /// A request that cannot be written (a header value with control characters).
    #[error("cannot build the request: {0}")]
    Build(#[from] http::Error),
    /// No answer: connection refused or cut, or the client's timeout.
    #[error("no answer: {message}")]
    Transport {
        /// The transport's account.
        message: String,
        /// The client's own timeout fired.
        timed_out: bool,
    },
}

impl Error {
    /// The contract's code, when the server refused.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Error::Api(e) => Some(&e.code),
            _ => None,
        }
    }

    /// The HTTP status, when there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(e) => Some(e.status),
            Error::Unexpected { status, .. } | Error::Decode { status, .. } => Some(*status),
            Error::Build(_) | Error::Transport { .. } => None,
        }
    }

    /// The refusal, when the server refused.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_ones_survive() {
        for code in [ErrorCode::SeatAlreadyReserved, ErrorCode::TokenExpired] {
            assert_eq!(ErrorCode::parse(code.as_str()), code);
        }
        let newer = ErrorCode::parse("SOMETHING_NEW");
        assert_eq!(newer, ErrorCode::Other("SOMETHING_NEW".into()));
        assert_eq!(newer.as_str(), "SOMETHING_NEW");
    }
}
