//! The sans-IO core: a route's request, built without sending it, and its answer decoded
//! without having received it here. Any transport (the async [`crate::Client`], the load
//! generator's own connections) sends the one and feeds back the other.

use std::marker::PhantomData;

use bytes::Bytes;
use http::{Request, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, Error};
use crate::model::{
    Balance, Challenge, ConcertCreated, ConcertList, Health, Hold, Payment, RoomStatus, Seats,
    SessionCreated, Sessions, Stats, Ticket,
};

/// A body some route answers with, and the status that route answers on success.
pub trait Reply: DeserializeOwned {
    /// The route's success status: 200 unless it creates something.
    const SUCCESS: StatusCode = StatusCode::OK;
}

impl Reply for Ticket {}
impl Reply for Sessions {}
impl Reply for Seats {}
impl Reply for Balance {}
impl Reply for Payment {}
impl Reply for Health {}
impl Reply for Challenge {}
impl Reply for RoomStatus {}
impl Reply for ConcertList {}
impl Reply for Stats {}
/// `GET /openapi.json`.
impl Reply for serde_json::Value {}
impl Reply for Hold {
    const SUCCESS: StatusCode = StatusCode::CREATED;
}
impl Reply for ConcertCreated {
    const SUCCESS: StatusCode = StatusCode::CREATED;
}
impl Reply for SessionCreated {
    const SUCCESS: StatusCode = StatusCode::CREATED;
}

/// One request to one route, answered by a `T`. Its URI is relative (path and query):
/// the transport names the server (an absolute URI, or a `Host` header).
#[must_use = "a call does nothing until a transport sends it"]
#[derive(Debug)]
pub struct Call<T> {
    request: Result<Request<Bytes>, http::Error>,
    reply: PhantomData<fn() -> T>,
}

impl<T: Reply> Call<T> {
    pub(crate) fn new(request: Result<Request<Bytes>, http::Error>) -> Self {
        Self {
            request,
            reply: PhantomData,
        }
    }

    /// The request to send; an error if a caller-supplied value (a token, a key) cannot
    /// be written into a header.
    pub fn into_request(self) -> Result<Request<Bytes>, Error> {
        Ok(self.request?)
    }

    /// Decodes this route's answer (see [`decode`]).
    pub fn decode(&self, status: StatusCode, body: &[u8]) -> Result<T, Error> {
        decode(status, body)
    }
}

/// Decodes an answer to a route answered by `T`: the route's success status gives a `T`;
/// an error in the contract's shape (`errorCode` equal to the status) gives
/// [`Error::Api`]; anything else [`Error::Unexpected`].
pub fn decode<T: Reply>(status: StatusCode, body: &[u8]) -> Result<T, Error> {
    if status == T::SUCCESS {
        return serde_json::from_slice(body).map_err(|source| Error::Decode {
            status: status.as_u16(),
            source,
        });
    }
    match serde_json::from_slice::<ApiError>(body) {
        Ok(refusal) if refusal.status == status.as_u16() => Err(Error::Api(refusal)),
        _ => Err(Error::Unexpected {
            status: status.as_u16(),
            body: String::from_utf8_lossy(body).into_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn the_success_status_decodes_the_body() {
        let body = br#"{"reservationId":23,"sessionId":1,"seatNumber":4,"price":10000,"expiresAt":"2024-07-03T10:00:00Z"}"#;
        let hold: Hold = decode(StatusCode::CREATED, body).unwrap();
        assert_eq!((hold.reservation_id, hold.seat_number), (23, 4));
        // A hold answered 200 is not the contract's hold.
        assert!(matches!(
            decode::<Hold>(StatusCode::OK, body),
            Err(Error::Unexpected { status: 200, .. })
        ));
    }

    #[test]
    fn a_contract_error_becomes_its_code() {
        let body =
            r#"{"errorCode":409,"msg":"이미 예약된 좌석입니다.","error":"SEAT_ALREADY_RESERVED"}"#;
        let error = decode::<Hold>(StatusCode::CONFLICT, body.as_bytes()).unwrap_err();
        assert_eq!(error.code(), Some(&ErrorCode::SeatAlreadyReserved));
        assert_eq!(error.status(), Some(409));
        assert_eq!(error.api().unwrap().msg, "이미 예약된 좌석입니다.");
    }

    #[test]
    fn anything_else_is_unexpected() {
        // errorCode disagreeing with the status, and a body that is not the error shape.
        let mismatched = br#"{"errorCode":404,"msg":"m","error":"SEAT_NOT_FOUND"}"#;
        for (status, body) in [(409, &mismatched[..]), (502, b"Bad Gateway")] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(matches!(
                decode::<Ticket>(status, body),
                Err(Error::Unexpected { .. })
            ));
        }
        assert!(matches!(
            decode::<Ticket>(StatusCode::OK, b"{}"),
            Err(Error::Decode { status: 200, .. })
        ));
    }
}
