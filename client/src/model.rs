//! The bodies of the API, as Rust types. Field names follow Rust; the wire names (the
//! contract's, typos included: `watingNumber`, `abailable`) are in the serde renames.

use serde::{Deserialize, Serialize};

/// `GET /concert/wating`: a token's place in line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    /// 1-based place among waiting tokens (1 = admitted next); 0 once admitted; `None`
    /// in a room's pre-queue (places are drawn at `opens_at`).
    #[serde(rename = "watingNumber")]
    pub waiting_number: Option<u64>,
    /// The token, sent back as `Authorization`.
    pub token: String,
    /// True once admitted.
    pub is_processing: bool,
    /// The token's user.
    pub user_id: String,
    /// Seconds until admission at the recent rate; `None` when unknown.
    pub estimated_wait_seconds: Option<u64>,
    /// In a room's pre-queue only: when the room opens and places are drawn (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opens_at: Option<String>,
}

/// One concert of `GET /concert/list` (the route answers a page of them, by id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConcertListItem {
    /// The concert.
    pub concert_id: i64,
    /// Its title.
    pub title: String,
    /// How many dated sessions it has.
    pub session_count: u64,
    /// Its own waiting room; `None` when it has none (or while it is being restarted).
    pub room: Option<ConcertRoom>,
}

/// A concert's own room in the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConcertRoom {
    /// `scheduled`, `prequeue`, `open` or `paused`.
    pub state: String,
    /// When the room draws and opens (RFC 3339).
    pub opens_at: Option<String>,
}

/// A page of `GET /concert/list`: at most 500 concerts, by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConcertList(pub Vec<ConcertListItem>);

/// `GET /admin/stats`: the site's totals for the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Seats held now, over every session.
    pub holds: u64,
    /// Seats sold, over every session.
    pub sales: u64,
    /// Sessions in the catalog.
    pub sessions: u64,
    /// Sessions whose every seat is sold.
    pub sold_out_sessions: u64,
    /// HTTP p99 over the window, in ms (a bucket's upper bound); `None` without requests.
    pub http_p99_ms: Option<f64>,
    /// Requests answered per second over the window.
    pub requests_per_second: f64,
    /// The window's length, in seconds.
    pub window_seconds: u64,
}

/// `GET /concert/session/{concertId}`: a concert's sessions, by date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sessions {
    /// The concert.
    pub concert_id: i64,
    /// Its sessions, ordered by date, then id.
    pub sessions: Vec<SessionItem>,
}

/// One session of a concert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionItem {
    /// The session.
    pub session_id: i64,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Seats neither held nor sold.
    #[serde(rename = "abailable")]
    pub available: u64,
}

/// `GET /concert/seat/{sessionId}`: every seat of a session, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seats {
    /// The session.
    pub session_id: i64,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Seats 1 to the session's seat count.
    pub seat_list: Vec<SeatItem>,
}

/// One seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatItem {
    /// 1-based.
    pub seat_number: u32,
    /// True while held or sold.
    pub is_reservation: bool,
}

/// `GET` and `PATCH /concert/balance`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Balance {
    /// The token's user.
    pub user_id: String,
    /// Points.
    pub balance: i64,
}

/// `POST /concert/reservation` (201): a temporary hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hold {
    /// The reservation to pay.
    pub reservation_id: i64,
    /// The session.
    pub session_id: i64,
    /// The seat.
    pub seat_number: u32,
    /// What paying costs.
    pub price: i64,
    /// RFC 3339, UTC: unpaid by then, the seat is free again.
    pub expires_at: String,
}

/// `POST /concert/payment`: the seat is sold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// The session.
    pub session_id: i64,
    /// The session's date.
    pub date: String,
    /// The seat.
    pub seat_number: u32,
    /// The reservation paid.
    pub reservation_id: i64,
    /// The payment.
    pub payment_id: i64,
    /// Points debited.
    pub amount: i64,
    /// Points left.
    pub balance: i64,
}

/// `POST /admin/concerts` (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConcertCreated {
    /// The new concert.
    pub concert_id: i64,
}

/// The body of `POST /admin/concerts/{concertId}/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewSession {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// 1 to 1000.
    pub seat_count: i64,
    /// Points, at least 0.
    pub price: i64,
}

/// `POST /admin/concerts/{concertId}/sessions` (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionCreated {
    /// The new session.
    pub session_id: i64,
}

/// `GET /concert/wating/challenge`: a proof-of-work challenge for a new token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Challenge {
    /// Send `X-Pow: <challenge>:<nonce>` with the new-token request.
    pub challenge: String,
    /// Leading zero bits `SHA-256("<challenge>:<nonce>")` needs (0: no proof asked).
    pub bits: u8,
    /// Seconds the challenge may be answered in.
    pub expires_in_seconds: u64,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `"ok"`.
    pub status: String,
}

/// The body of `PUT /admin/concerts/{concertId}/room`: a concert's on-sale.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomSchedule {
    /// When joins start to enter the pre-queue (RFC 3339); `None`: at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_queue_opens_at: Option<String>,
    /// When the pre-queue is drawn and admissions start (RFC 3339).
    pub opens_at: String,
    /// Tokens admitted at once; `None`: the server's `--max-active`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_active: Option<u32>,
    /// Admissions per second; `None`: the server's `--admission-rate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admission_rate: Option<u32>,
}

/// The body of `PATCH …/room`: the limits to change (at least one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rerate {
    /// The new `maxActive`; `None`: unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_active: Option<u32>,
    /// The new `admissionRate`: `None` unchanged, `Some(None)` unlimited (sent as `null`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub admission_rate: Option<Option<u32>>,
}

/// A field that is present is `Some`, even when `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(Some)
}

/// The admin routes' answer: a room's state and counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoomStatus {
    /// `site` or `concert-N`.
    pub room: String,
    /// The concert; `None` for the site-wide room.
    pub concert_id: Option<i64>,
    /// `scheduled`, `prequeue`, `open` or `paused`.
    pub state: String,
    /// Tokens in line (the pre-queue included).
    pub waiting: u64,
    /// Tokens admitted now.
    pub admitted: u64,
    /// Admissions ever (durable).
    pub admitted_total: u64,
    /// Idle waiters evicted ever (durable).
    pub evicted_total: u64,
    /// Admissions per second over the last 10 seconds.
    pub admissions_per_second: f64,
    /// When the pre-queue opens (RFC 3339); `None` for the site-wide room.
    pub pre_queue_opens_at: Option<String>,
    /// When the room opens (RFC 3339); `None` for the site-wide room.
    pub opens_at: Option<String>,
    /// Tokens admitted at once.
    pub max_active: u32,
    /// Admissions per second; `None`: unlimited.
    pub admission_rate: Option<u32>,
}
