//! The vocabulary every layer shares: ids and values that validate themselves.
//!
//! A value of one of these types has already been checked, so code that receives
//! one never checks again. Each `parse` names the rule it enforces, and the rule
//! is the API's (`docs/api.md`), not a guess.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a value was refused by a `parse`: the message is meant for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            /// Accepts a database id: a positive 64-bit integer.
            pub fn parse(value: i64) -> Result<Self, InvalidValue> {
                if value >= 1 {
                    Ok(Self(value))
                } else {
                    Err(InvalidValue(format!("{} must be a positive integer", stringify!($name))))
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A concert: a title with dated sessions.
    ConcertId
);
id_type!(
    /// One dated performance of a concert, with its own seat map.
    SessionId
);
id_type!(
    /// A hold on a seat, which a payment turns into a sale.
    ReservationId
);
id_type!(
    /// A committed payment of one reservation.
    PaymentId
);

/// A waiting room: the site-wide one, or a concert's own (`docs/operations.md`).
///
/// Stored as one integer, `room_id`: 0 for the site-wide room, the concert's id for a
/// concert's room (concert ids start at 1, so the two never meet), and so on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "i64", try_from = "i64")]
pub enum RoomId {
    /// The site-wide room: the seed's `GET /concert/wating` without `concertId`. Its
    /// tokens act on concerts without a room of their own.
    Site,
    /// Concert N's room: its tokens act on that concert's sessions only.
    Concert(ConcertId),
}

impl RoomId {
    /// The room's `room_id` column.
    pub fn as_i64(self) -> i64 {
        match self {
            RoomId::Site => 0,
            RoomId::Concert(concert) => concert.0,
        }
    }

    /// The room of a stored `room_id`; `None` for a negative one.
    pub fn from_i64(value: i64) -> Option<Self> {
        match value {
            0 => Some(RoomId::Site),
            1.. => Some(RoomId::Concert(ConcertId(value))),
            _ => None,
        }
    }

    /// The concert whose room this is, if it is a concert's.
    pub fn concert(self) -> Option<ConcertId> {
        match self {
            RoomId::Site => None,
            RoomId::Concert(concert) => Some(concert),
        }
    }
}

impl From<RoomId> for i64 {
    fn from(room: RoomId) -> i64 {
        room.as_i64()
    }
}

impl TryFrom<i64> for RoomId {
    type Error = InvalidValue;

    fn try_from(value: i64) -> Result<Self, InvalidValue> {
        RoomId::from_i64(value).ok_or_else(|| InvalidValue("a room id is 0 or more".into()))
    }
}

/// `site` or `concert-N`: the room's name in logs, metrics and the admin API.
impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoomId::Site => f.write_str("site"),
            RoomId::Concert(concert) => write!(f, "concert-{concert}"),
        }
    }
}

/// The highest seat count a session may have (the contract's `1..1000`).
pub const MAX_SEAT_COUNT: u32 = 1000;

/// A seat number within a session: `1..=seat_count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SeatNumber(pub u32);

impl SeatNumber {
    /// Accepts any number a seat of some session could have (`1..=MAX_SEAT_COUNT`);
    /// whether this session has it is the SessionActor's question.
    pub fn parse(value: i64) -> Result<Self, InvalidValue> {
        match u32::try_from(value) {
            Ok(n) if (1..=MAX_SEAT_COUNT).contains(&n) => Ok(Self(n)),
            _ => Err(InvalidValue("seatNumber must be an integer from 1".into())),
        }
    }

    /// The zero-based index of this seat in a seat map (`None` for seat 0, which
    /// `parse` never makes but the public field can).
    pub fn index(self) -> Option<usize> {
        (self.0 as usize).checked_sub(1)
    }
}

impl fmt::Display for SeatNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// How many seats a session has: `1..=1000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SeatCount(pub u32);

impl SeatCount {
    /// Accepts `1..=MAX_SEAT_COUNT`.
    pub fn parse(value: i64) -> Result<Self, InvalidValue> {
        match u32::try_from(value) {
            Ok(n) if (1..=MAX_SEAT_COUNT).contains(&n) => Ok(Self(n)),
            _ => Err(InvalidValue(format!(
                "seatCount must be an integer from 1 to {MAX_SEAT_COUNT}"
            ))),
        }
    }
}

/// An amount of points (the wallet's currency). Never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Points(pub i64);

impl Points {
    /// Accepts a price: any non-negative amount.
    pub fn parse_price(value: i64) -> Result<Self, InvalidValue> {
        if value >= 0 {
            Ok(Self(value))
        } else {
            Err(InvalidValue(
                "price must be an integer of at least 0".into(),
            ))
        }
    }
}

/// The most one charge may add to a wallet.
pub const MAX_CHARGE_POINTS: i64 = 10_000_000;

/// The amount of one charge: `1..=10,000,000` points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChargeAmount(pub i64);

impl ChargeAmount {
    /// Accepts `1..=MAX_CHARGE_POINTS`.
    pub fn parse(value: i64) -> Result<Self, InvalidValue> {
        if (1..=MAX_CHARGE_POINTS).contains(&value) {
            Ok(Self(value))
        } else {
            Err(InvalidValue(format!(
                "amount must be an integer from 1 to {MAX_CHARGE_POINTS}"
            )))
        }
    }
}

/// Who a token, a wallet and a reservation belong to: 1 to 64 of `A-Z a-z 0-9 _ -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(Box<str>);

impl UserId {
    /// The longest user id accepted.
    pub const MAX_LEN: usize = 64;

    /// Accepts 1 to 64 characters of `A-Z a-z 0-9 _ -`.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if (1..=Self::MAX_LEN).contains(&value.len()) && value.chars().all(allowed) {
            Ok(Self(value.into()))
        } else {
            Err(InvalidValue(
                "userId must be 1 to 64 characters of A-Z a-z 0-9 _ -".into(),
            ))
        }
    }

    /// A fresh user id for a client that named none: `user-` and 12 hex digits.
    pub fn generate() -> Self {
        let hex = Uuid::new_v4().simple().to_string();
        Self(format!("user-{}", &hex[..12]).into_boxed_str())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an owned string, without a copy.
    pub fn into_string(self) -> String {
        self.0.into_string()
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A place in the waiting room: an unguessable UUID v4 (122 random bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QueueToken(pub Uuid);

impl QueueToken {
    /// A new random token.
    pub fn generate() -> Self {
        Self(Uuid::new_v4())
    }

    /// Accepts the text of an `Authorization` header: the token itself or
    /// `Bearer <token>`. Only version-4 UUIDs are tokens this server could have made.
    pub fn parse(header: &str) -> Result<Self, InvalidValue> {
        let text = header.trim();
        let text = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .unwrap_or(text)
            .trim();
        match Uuid::parse_str(text) {
            Ok(uuid) if uuid.get_version_num() == 4 => Ok(Self(uuid)),
            _ => Err(InvalidValue("malformed token".into())),
        }
    }
}

impl fmt::Display for QueueToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A client's key that makes a payment safe to retry: 1 to 128 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The longest key accepted.
    pub const MAX_LEN: usize = 128;

    /// Accepts 1 to 128 characters from `!` to `~`.
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        if (1..=Self::MAX_LEN).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic())
        {
            Ok(Self(value.to_owned()))
        } else {
            Err(InvalidValue(
                "Idempotency-Key must be 1 to 128 visible ASCII characters".into(),
            ))
        }
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The title of a concert: 1 to 200 characters, not blank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConcertTitle(String);

impl ConcertTitle {
    /// Accepts 1 to 200 characters that are not all whitespace and include no
    /// control character (Postgres cannot store a NUL in text, and no title needs one).
    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let count = value.chars().count();
        if (1..=200).contains(&count)
            && !value.trim().is_empty()
            && !value.chars().any(char::is_control)
        {
            Ok(Self(value.to_owned()))
        } else {
            Err(InvalidValue(
                "title must be 1 to 200 characters, without control characters".into(),
            ))
        }
    }

    /// The title as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Parses a session date written `YYYY-MM-DD`.
pub fn parse_session_date(value: &str) -> Result<NaiveDate, InvalidValue> {
    if value.len() != 10 {
        return Err(InvalidValue("date must be YYYY-MM-DD".into()));
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| InvalidValue("date must be YYYY-MM-DD".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_id_accepts_the_contract_alphabet_only() {
        assert!(UserId::parse("HappyCat_01-x").is_ok());
        assert!(UserId::parse(&"a".repeat(64)).is_ok());
        for bad in ["", "a b", "é", "x'; DROP TABLE", &"a".repeat(65)] {
            assert!(UserId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn token_parse_accepts_bearer_and_rejects_non_v4() {
        let token = QueueToken::generate();
        assert_eq!(QueueToken::parse(&token.to_string()), Ok(token));
        assert_eq!(QueueToken::parse(&format!("Bearer {token}")), Ok(token));
        assert!(QueueToken::parse("not-a-token").is_err());
        assert!(QueueToken::parse("00000000-0000-0000-0000-000000000000").is_err());
    }

    #[test]
    fn amounts_and_counts_enforce_their_ranges() {
        assert!(ChargeAmount::parse(0).is_err());
        assert!(ChargeAmount::parse(1).is_ok());
        assert!(ChargeAmount::parse(MAX_CHARGE_POINTS).is_ok());
        assert!(ChargeAmount::parse(MAX_CHARGE_POINTS + 1).is_err());
        assert!(SeatCount::parse(0).is_err());
        assert!(SeatCount::parse(1000).is_ok());
        assert!(SeatCount::parse(1001).is_err());
        assert!(SeatNumber::parse(-1).is_err());
        assert!(Points::parse_price(-1).is_err());
        assert!(SessionId::parse(0).is_err());
    }

    #[test]
    fn titles_refuse_blanks_and_control_characters() {
        assert!(ConcertTitle::parse("봄 콘서트 2024").is_ok());
        for bad in ["", "   ", "a\u{0}b", "tab\there", &"x".repeat(201)] {
            assert!(
                ConcertTitle::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn session_dates_are_strict() {
        assert!(parse_session_date("2024-07-03").is_ok());
        assert!(parse_session_date("2024-7-3").is_err());
        assert!(parse_session_date("2024-02-30").is_err());
    }
}
