//! Every route of the API as a [`Call`]: the path, the headers and the body the contract
//! asks for, in one place. Path and query only; the transport adds the server.

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, Uri};
use serde::Serialize;

use crate::call::{Call, Reply};
use crate::model::{
    Balance, Challenge, ConcertCreated, ConcertList, Health, Hold, NewSession, Payment, Rerate,
    RoomSchedule, RoomStatus, Seats, SessionCreated, Sessions, Stats, Ticket,
};

/// The queue path, in the contract's spelling (`/concert/waiting` is an alias).
pub const QUEUE_PATH: &str = "/concert/wating";

/// A waiting room: the site-wide one (joined without `concertId`) or a concert's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Room {
    /// The site-wide room.
    Site,
    /// Concert N's room (scheduled by `PUT /admin/concerts/N/room`).
    Concert(i64),
}

impl Room {
    /// The room's admin path: `/admin/room` or `/admin/concerts/N/room`.
    fn admin_path(self) -> String {
        match self {
            Room::Site => "/admin/room".to_owned(),
            Room::Concert(concert_id) => format!("/admin/concerts/{concert_id}/room"),
        }
    }
}

/// `GET /concert/wating`: with a token, its state (or a new token if it is no longer
/// live); with a user id, that user's live token or a new one. In the site-wide room.
pub fn queue(token: Option<&str>, user_id: Option<&str>) -> Call<Ticket> {
    queue_in(Room::Site, token, user_id)
}

/// `GET /concert/wating[?concertId=N]`: [`queue`] in `room`.
pub fn queue_in(room: Room, token: Option<&str>, user_id: Option<&str>) -> Call<Ticket> {
    let mut query = Vec::with_capacity(2);
    if let Some(user) = user_id {
        query.push(format!("userId={}", encode_query_value(user)));
    }
    if let Room::Concert(concert_id) = room {
        query.push(format!("concertId={concert_id}"));
    }
    if query.is_empty() {
        // The hottest call: a fixed path allocates nothing.
        let uri = Uri::from_static(QUEUE_PATH);
        return call(Method::GET, uri, token, &[], None::<&()>);
    }
    let uri = format!("{QUEUE_PATH}?{}", query.join("&"));
    call(Method::GET, uri, token, &[], None::<&()>)
}

/// `user_id`'s live token in concert `concert_id`'s room, or a new one.
pub fn join_room(concert_id: i64, user_id: &str) -> Call<Ticket> {
    queue_in(Room::Concert(concert_id), None, Some(user_id))
}

/// The state of `token` in concert `concert_id`'s room (a token of another room is
/// unknown there: its user gets a new token in this one).
pub fn poll_room(concert_id: i64, token: &str) -> Call<Ticket> {
    queue_in(Room::Concert(concert_id), Some(token), None)
}

/// `PUT /admin/concerts/{concertId}/room`: schedules (or reschedules, until it opens) a
/// concert's on-sale.
pub fn schedule_room(
    admin_key: &str,
    concert_id: i64,
    schedule: &RoomSchedule,
) -> Call<RoomStatus> {
    let uri = Room::Concert(concert_id).admin_path();
    let headers = [("X-Admin-Key", admin_key)];
    call(Method::PUT, uri, None, &headers, Some(schedule))
}

/// `GET /admin/room` or `GET /admin/concerts/{concertId}/room`: the room's status.
pub fn room_status(admin_key: &str, room: Room) -> Call<RoomStatus> {
    let headers = [("X-Admin-Key", admin_key)];
    call(Method::GET, room.admin_path(), None, &headers, None::<&()>)
}

/// `PATCH …/room`: changes the room's limits live.
pub fn rerate_room(admin_key: &str, room: Room, rerate: &Rerate) -> Call<RoomStatus> {
    let headers = [("X-Admin-Key", admin_key)];
    call(
        Method::PATCH,
        room.admin_path(),
        None,
        &headers,
        Some(rerate),
    )
}

/// `POST …/room/pause`: stops the room's admissions (never its line).
pub fn pause_room(admin_key: &str, room: Room) -> Call<RoomStatus> {
    let uri = format!("{}/pause", room.admin_path());
    let headers = [("X-Admin-Key", admin_key)];
    call(Method::POST, uri, None, &headers, None::<&()>)
}

/// `POST …/room/resume`: resumes the room's admissions.
pub fn resume_room(admin_key: &str, room: Room) -> Call<RoomStatus> {
    let uri = format!("{}/resume", room.admin_path());
    let headers = [("X-Admin-Key", admin_key)];
    call(Method::POST, uri, None, &headers, None::<&()>)
}

/// A token for `user_id`: the live one, or a new one at the back of the line.
pub fn join(user_id: &str) -> Call<Ticket> {
    queue(None, Some(user_id))
}

/// The state of `token` (a new token if it is no longer live).
pub fn poll(token: &str) -> Call<Ticket> {
    queue(Some(token), None)
}

/// `GET /concert/list[?after=N][&limit=M]`: a page of concerts by id, after the cursor
/// `after` (the last id of the previous page); `limit` 1 to 500, 500 if `None`.
pub fn concerts(after: Option<i64>, limit: Option<u32>) -> Call<ConcertList> {
    let mut query = Vec::with_capacity(2);
    if let Some(after) = after {
        query.push(format!("after={after}"));
    }
    if let Some(limit) = limit {
        query.push(format!("limit={limit}"));
    }
    let uri = if query.is_empty() {
        "/concert/list".to_owned()
    } else {
        format!("/concert/list?{}", query.join("&"))
    };
    call(Method::GET, uri, None, &[], None::<&()>)
}

/// `GET /admin/stats`: holds, sales, sold-out sessions, the HTTP p99 and rate.
pub fn stats(admin_key: &str) -> Call<Stats> {
    let headers = [("X-Admin-Key", admin_key)];
    call(
        Method::GET,
        Uri::from_static("/admin/stats"),
        None,
        &headers,
        None::<&()>,
    )
}

/// `GET /concert/session/{concertId}`.
pub fn sessions(concert_id: i64) -> Call<Sessions> {
    let uri = format!("/concert/session/{concert_id}");
    call(Method::GET, uri, None, &[], None::<&()>)
}

/// `GET /concert/seat/{sessionId}`.
pub fn seats(session_id: i64) -> Call<Seats> {
    let uri = format!("/concert/seat/{session_id}");
    call(Method::GET, uri, None, &[], None::<&()>)
}

/// `GET /concert/balance`.
pub fn balance(token: &str) -> Call<Balance> {
    call(
        Method::GET,
        Uri::from_static("/concert/balance"),
        Some(token),
        &[],
        None::<&()>,
    )
}

/// `PATCH /concert/balance`: adds `amount` points (1 to 10,000,000).
pub fn charge(token: &str, amount: i64) -> Call<Balance> {
    charge_keyed(token, amount, None)
}

/// `PATCH /concert/balance` with an `Idempotency-Key` if given: a retry with the same
/// key and amount answers the first charge's balance and never charges twice.
pub fn charge_keyed(token: &str, amount: i64, idempotency_key: Option<&str>) -> Call<Balance> {
    let headers = key_header(idempotency_key);
    call(
        Method::PATCH,
        Uri::from_static("/concert/balance"),
        Some(token),
        &headers,
        Some(&Amount { amount }),
    )
}

/// `POST /admin/users/{userId}/credits`: the operator credits `amount` points, once per
/// `idempotency_key` (required by the server: `None` is for testing its refusal).
pub fn credit(
    admin_key: &str,
    user_id: &str,
    amount: i64,
    idempotency_key: Option<&str>,
) -> Call<Balance> {
    let uri = format!("/admin/users/{user_id}/credits");
    let mut headers = key_header(idempotency_key);
    headers.push(("X-Admin-Key", admin_key));
    call(Method::POST, uri, None, &headers, Some(&Amount { amount }))
}

/// The body of a charge and a credit.
#[derive(Serialize)]
struct Amount {
    amount: i64,
}

/// The `Idempotency-Key` header, if there is a key.
fn key_header(idempotency_key: Option<&str>) -> Vec<(&'static str, &str)> {
    idempotency_key
        .map(|key| ("Idempotency-Key", key))
        .into_iter()
        .collect()
}

/// `POST /concert/reservation`: holds a seat for the hold TTL.
pub fn hold(token: &str, session_id: i64, seat_number: i64) -> Call<Hold> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        session_id: i64,
        seat_number: i64,
    }
    let body = Body {
        session_id,
        seat_number,
    };
    call(
        Method::POST,
        Uri::from_static("/concert/reservation"),
        Some(token),
        &[],
        Some(&body),
    )
}

/// `POST /concert/payment`; a retry with the same `idempotency_key` never charges twice.
pub fn pay(token: &str, reservation_id: i64, idempotency_key: Option<&str>) -> Call<Payment> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        reservation_id: i64,
    }
    let body = Body { reservation_id };
    call(
        Method::POST,
        Uri::from_static("/concert/payment"),
        Some(token),
        &key_header(idempotency_key),
        Some(&body),
    )
}

/// `POST /admin/concerts`.
pub fn create_concert(admin_key: &str, title: &str) -> Call<ConcertCreated> {
    #[derive(Serialize)]
    struct Body<'a> {
        title: &'a str,
    }
    let headers = [("X-Admin-Key", admin_key)];
    call(
        Method::POST,
        Uri::from_static("/admin/concerts"),
        None,
        &headers,
        Some(&Body { title }),
    )
}

/// `POST /admin/concerts/{concertId}/sessions`.
pub fn create_session(
    admin_key: &str,
    concert_id: i64,
    session: &NewSession,
) -> Call<SessionCreated> {
    let uri = format!("/admin/concerts/{concert_id}/sessions");
    let headers = [("X-Admin-Key", admin_key)];
    call(Method::POST, uri, None, &headers, Some(session))
}

/// `GET /concert/wating/challenge`: a proof-of-work challenge for a new token.
pub fn challenge() -> Call<Challenge> {
    call(
        Method::GET,
        Uri::from_static("/concert/wating/challenge"),
        None,
        &[],
        None::<&()>,
    )
}

/// `GET /health`.
pub fn health() -> Call<Health> {
    call(
        Method::GET,
        Uri::from_static("/health"),
        None,
        &[],
        None::<&()>,
    )
}

/// `GET /openapi.json`: the API's OpenAPI document.
pub fn openapi() -> Call<serde_json::Value> {
    call(
        Method::GET,
        Uri::from_static("/openapi.json"),
        None,
        &[],
        None::<&()>,
    )
}

/// The one place a request is put together: the token as `Authorization`, a JSON body
/// with its content type. A fixed path comes as `Uri::from_static`, which allocates
/// nothing (the load generator builds tens of thousands a second); others as a `String`.
fn call<T: Reply, B: Serialize + ?Sized, U>(
    method: Method,
    uri: U,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&B>,
) -> Call<T>
where
    Uri: TryFrom<U>,
    <Uri as TryFrom<U>>::Error: Into<http::Error>,
{
    let mut builder = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        builder = builder.header(AUTHORIZATION, token);
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let body = match body {
        Some(body) => {
            builder = builder.header(CONTENT_TYPE, "application/json");
            // Serializing these plain structs cannot fail.
            Bytes::from(serde_json::to_vec(body).expect("a JSON body"))
        }
        None => Bytes::new(),
    };
    Call::new(builder.body(body))
}

/// Percent-encodes everything but RFC 3986's unreserved characters, so any user id
/// reaches the server as written (and an invalid one is refused there, not here).
fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts<T: Reply>(call: Call<T>) -> (String, String, Vec<(String, String)>, String) {
        let request = call.into_request().unwrap();
        let headers = request
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        (
            request.method().to_string(),
            request.uri().to_string(),
            headers,
            String::from_utf8(request.body().to_vec()).unwrap(),
        )
    }

    #[test]
    fn the_queue_takes_a_token_or_an_encoded_user_id() {
        let (method, uri, headers, body) = parts(poll("tok"));
        assert_eq!(
            (method.as_str(), uri.as_str(), body.as_str()),
            ("GET", QUEUE_PATH, "")
        );
        assert_eq!(headers, [("authorization".into(), "tok".into())]);
        let (_, uri, headers, _) = parts(join("a b&c"));
        assert_eq!(uri, "/concert/wating?userId=a%20b%26c");
        assert!(headers.is_empty());
    }

    #[test]
    fn writes_carry_json_and_their_headers() {
        let (method, uri, headers, body) = parts(pay("tok", 23, Some("order-1")));
        assert_eq!(
            (method.as_str(), uri.as_str()),
            ("POST", "/concert/payment")
        );
        assert_eq!(body, r#"{"reservationId":23}"#);
        for header in ["authorization", "idempotency-key", "content-type"] {
            assert!(headers.iter().any(|(k, _)| k == header), "{header}");
        }
        let (_, _, _, body) = parts(hold("tok", 1, 4));
        assert_eq!(body, r#"{"sessionId":1,"seatNumber":4}"#);
        let session = NewSession {
            date: "2024-07-03".into(),
            seat_count: 50,
            price: 0,
        };
        let (_, uri, headers, body) = parts(create_session("k", 7, &session));
        assert_eq!(uri, "/admin/concerts/7/sessions");
        assert!(headers.contains(&("x-admin-key".into(), "k".into())));
        assert_eq!(body, r#"{"date":"2024-07-03","seatCount":50,"price":0}"#);
    }

    #[test]
    fn room_calls_name_the_room_and_send_only_what_changes() {
        let (_, uri, _, _) = parts(join_room(7, "Cat"));
        assert_eq!(uri, "/concert/wating?userId=Cat&concertId=7");
        let (_, uri, headers, _) = parts(poll_room(7, "tok"));
        assert_eq!(uri, "/concert/wating?concertId=7");
        assert_eq!(headers, [("authorization".into(), "tok".into())]);
        let schedule = RoomSchedule {
            opens_at: "2030-01-01T12:00:00Z".into(),
            max_active: Some(5),
            ..RoomSchedule::default()
        };
        let (method, uri, _, body) = parts(schedule_room("k", 7, &schedule));
        assert_eq!(
            (method.as_str(), uri.as_str()),
            ("PUT", "/admin/concerts/7/room")
        );
        assert_eq!(body, r#"{"opensAt":"2030-01-01T12:00:00Z","maxActive":5}"#);
        let unlimited = Rerate {
            max_active: None,
            admission_rate: Some(None),
        };
        let (method, uri, _, body) = parts(rerate_room("k", Room::Site, &unlimited));
        assert_eq!((method.as_str(), uri.as_str()), ("PATCH", "/admin/room"));
        assert_eq!(body, r#"{"admissionRate":null}"#);
        let (method, uri, headers, body) = parts(pause_room("k", Room::Concert(3)));
        assert_eq!(
            (method.as_str(), uri.as_str()),
            ("POST", "/admin/concerts/3/room/pause")
        );
        assert_eq!((headers.len(), body.as_str()), (1, ""));
        let (_, uri, _, _) = parts(resume_room("k", Room::Site));
        assert_eq!(uri, "/admin/room/resume");
        let (method, uri, _, _) = parts(room_status("k", Room::Site));
        assert_eq!((method.as_str(), uri.as_str()), ("GET", "/admin/room"));
    }

    #[test]
    fn the_concert_list_sends_only_the_cursor_and_limit_given() {
        assert_eq!(parts(concerts(None, None)).1, "/concert/list");
        assert_eq!(
            parts(concerts(Some(500), None)).1,
            "/concert/list?after=500"
        );
        assert_eq!(
            parts(concerts(Some(2), Some(10))).1,
            "/concert/list?after=2&limit=10"
        );
        let (method, uri, headers, _) = parts(stats("k"));
        assert_eq!((method.as_str(), uri.as_str()), ("GET", "/admin/stats"));
        assert_eq!(headers, [("x-admin-key".into(), "k".into())]);
    }

    #[test]
    fn an_unwritable_header_is_an_error_not_a_panic() {
        assert!(poll("line\nbreak").into_request().is_err());
    }
}
