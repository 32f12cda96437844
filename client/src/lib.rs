//! A typed client of the concert reservation API (`docs/api.md`).
//!
//! Two layers, so that every user speaks the API through one description of it:
//!
//! - The **sans-IO core** ([`routes`], [`Call`], [`decode`]): a route's request as an
//!   [`http::Request`] with a relative URI, and its answer decoded into a typed value or
//!   an [`Error`] carrying the contract's [`ErrorCode`]. No I/O, no runtime: the load
//!   generator sends these on its own keep-alive connections (one per worker, no pool).
//! - The **async client** ([`Client`], feature `reqwest`, on by default): one method per
//!   route over a pooled reqwest client, plus a raw escape hatch ([`Client::raw`]) for
//!   requests the contract forbids, which tests of hostile input need.
//!
//! ```no_run
//! # async fn demo() -> Result<(), concert_client::Error> {
//! use concert_client::{Client, ErrorCode};
//!
//! let api = Client::new("http://127.0.0.1:8080");
//! let ticket = api.join("HappyCat").await?;
//! if ticket.is_processing {
//!     api.charge(&ticket.token, 20_000).await?;
//!     match api.hold(&ticket.token, 1, 4).await {
//!         Ok(hold) => println!("{}", api.pay(&ticket.token, hold.reservation_id, None).await?.balance),
//!         Err(e) if e.code() == Some(&ErrorCode::SeatAlreadyReserved) => println!("taken"),
//!         Err(e) => return Err(e),
//!     }
//! }
//! # Ok(()) }
//! ```

mod call;
#[cfg(feature = "reqwest")]
mod client;
mod error;
mod model;
pub mod routes;

pub use call::{Call, Reply, decode};
#[cfg(feature = "reqwest")]
pub use client::{Client, RawRequest, Response};
pub use error::{ApiError, Error, ErrorCode};
pub use model::{
    Balance, Challenge, ConcertCreated, ConcertList, ConcertListItem, ConcertRoom, Health, Hold,
    NewSession, Payment, Rerate, RoomSchedule, RoomStatus, SeatItem, Seats, SessionCreated,
    SessionItem, Sessions, Stats, Ticket,
};
pub use routes::Room;

/// The HTTP types the core speaks in.
pub use bytes::Bytes;
pub use http;
