//! The async client: each route's [`Call`] sent over a pooled reqwest client, and a raw
//! escape hatch for requests outside the contract (tests of hostile input need those).

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use http::{Method, StatusCode};
use serde::Serialize;

use crate::call::{Call, Reply, decode};
use crate::error::{ApiError, Error};
use crate::model::{
    Balance, Challenge, ConcertCreated, ConcertList, Health, Hold, NewSession, Payment, Rerate,
    RoomSchedule, RoomStatus, Seats, SessionCreated, Sessions, Stats, Ticket,
};
use crate::routes::{self, Room};

/// A client of one server. Cheap to clone: clones share the connection pool.
#[derive(Debug, Clone)]
pub struct Client {
    base: Arc<str>,
    http: reqwest::Client,
}

impl Client {
    /// A client of the server at `base_url` (`http://127.0.0.1:8080`), with reqwest's defaults.
    pub fn new(base_url: &str) -> Self {
        Self::with_http(base_url, reqwest::Client::new())
    }

    /// A client of `base_url` over `http`, configured by the caller (timeouts, pool size).
    pub fn with_http(base_url: &str, http: reqwest::Client) -> Self {
        Self {
            base: base_url.trim_end_matches('/').into(),
            http,
        }
    }

    /// The server's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends `call` and decodes its answer. An answer that is not JSON is
    /// [`Error::Unexpected`], whatever its status.
    pub async fn send<T: Reply>(&self, call: Call<T>) -> Result<T, Error> {
        self.send_raw(call).await?.decode()
    }

    /// Sends `call` and returns its answer undecoded: for callers that read headers or
    /// keep the body as it came.
    pub async fn send_raw<T: Reply>(&self, call: Call<T>) -> Result<Response, Error> {
        let (parts, body) = call.into_request()?.into_parts();
        let url = format!("{}{}", self.base, parts.uri);
        let request = self
            .http
            .request(parts.method, url)
            .headers(parts.headers)
            .body(body);
        Response::read(request.send().await).await
    }

    /// A request of any shape to `path_and_query`: the escape hatch for what the typed
    /// calls will not send (wrong types, unknown routes, odd headers).
    pub fn raw(&self, method: Method, path_and_query: &str) -> RawRequest {
        let url = format!("{}{path_and_query}", self.base);
        RawRequest(self.http.request(method, url))
    }

    /// `GET /concert/wating` with a token and/or a user id (see [`routes::queue`]).
    pub async fn queue(&self, token: Option<&str>, user_id: Option<&str>) -> Result<Ticket, Error> {
        self.send(routes::queue(token, user_id)).await
    }

    /// `user_id`'s live token, or a new one at the back of the line.
    pub async fn join(&self, user_id: &str) -> Result<Ticket, Error> {
        self.send(routes::join(user_id)).await
    }

    /// The state of `token` (a new token if it is no longer live).
    pub async fn poll(&self, token: &str) -> Result<Ticket, Error> {
        self.send(routes::poll(token)).await
    }

    /// `GET /concert/wating` in `room` (see [`routes::queue_in`]).
    pub async fn queue_in(
        &self,
        room: Room,
        token: Option<&str>,
        user_id: Option<&str>,
    ) -> Result<Ticket, Error> {
        self.send(routes::queue_in(room, token, user_id)).await
    }

    /// `user_id`'s live token in concert `concert_id`'s room, or a new one.
    pub async fn join_room(&self, concert_id: i64, user_id: &str) -> Result<Ticket, Error> {
        self.send(routes::join_room(concert_id, user_id)).await
    }

    /// The state of `token` in concert `concert_id`'s room.
    pub async fn poll_room(&self, concert_id: i64, token: &str) -> Result<Ticket, Error> {
        self.send(routes::poll_room(concert_id, token)).await
    }

    /// Schedules a concert's on-sale (admin).
    pub async fn schedule_room(
        &self,
        admin_key: &str,
        concert_id: i64,
        schedule: &RoomSchedule,
    ) -> Result<RoomStatus, Error> {
        self.send(routes::schedule_room(admin_key, concert_id, schedule))
            .await
    }

    /// A room's status (admin).
    pub async fn room_status(&self, admin_key: &str, room: Room) -> Result<RoomStatus, Error> {
        self.send(routes::room_status(admin_key, room)).await
    }

    /// Changes a room's limits live (admin).
    pub async fn rerate_room(
        &self,
        admin_key: &str,
        room: Room,
        rerate: &Rerate,
    ) -> Result<RoomStatus, Error> {
        self.send(routes::rerate_room(admin_key, room, rerate))
            .await
    }

    /// Pauses a room's admissions (admin).
    pub async fn pause_room(&self, admin_key: &str, room: Room) -> Result<RoomStatus, Error> {
        self.send(routes::pause_room(admin_key, room)).await
    }

    /// Resumes a room's admissions (admin).
    pub async fn resume_room(&self, admin_key: &str, room: Room) -> Result<RoomStatus, Error> {
        self.send(routes::resume_room(admin_key, room)).await
    }

    /// A page of the concert list, by id: after `after`, at most `limit` (500 if `None`).
    pub async fn concerts(
        &self,
        after: Option<i64>,
        limit: Option<u32>,
    ) -> Result<ConcertList, Error> {
        self.send(routes::concerts(after, limit)).await
    }

    /// The site's totals for the dashboard.
    pub async fn stats(&self, admin_key: &str) -> Result<Stats, Error> {
        self.send(routes::stats(admin_key)).await
    }

    /// A concert's sessions.
    pub async fn sessions(&self, concert_id: i64) -> Result<Sessions, Error> {
        self.send(routes::sessions(concert_id)).await
    }

    /// A session's seats.
    pub async fn seats(&self, session_id: i64) -> Result<Seats, Error> {
        self.send(routes::seats(session_id)).await
    }

    /// The token's user's balance.
    pub async fn balance(&self, token: &str) -> Result<Balance, Error> {
        self.send(routes::balance(token)).await
    }

    /// Adds `amount` points to the token's user's balance.
    pub async fn charge(&self, token: &str, amount: i64) -> Result<Balance, Error> {
        self.send(routes::charge(token, amount)).await
    }

    /// Adds `amount` points, with an `Idempotency-Key` if given.
    pub async fn charge_keyed(
        &self,
        token: &str,
        amount: i64,
        idempotency_key: Option<&str>,
    ) -> Result<Balance, Error> {
        self.send(routes::charge_keyed(token, amount, idempotency_key))
            .await
    }

    /// Credits `amount` points to a user (admin), once per `idempotency_key`.
    pub async fn credit(
        &self,
        admin_key: &str,
        user_id: &str,
        amount: i64,
        idempotency_key: Option<&str>,
    ) -> Result<Balance, Error> {
        self.send(routes::credit(admin_key, user_id, amount, idempotency_key))
            .await
    }

    /// Holds a seat.
    pub async fn hold(
        &self,
        token: &str,
        session_id: i64,
        seat_number: i64,
    ) -> Result<Hold, Error> {
        self.send(routes::hold(token, session_id, seat_number))
            .await
    }

    /// Pays a hold, with an `Idempotency-Key` if given.
    pub async fn pay(
        &self,
        token: &str,
        reservation_id: i64,
        idempotency_key: Option<&str>,
    ) -> Result<Payment, Error> {
        self.send(routes::pay(token, reservation_id, idempotency_key))
            .await
    }

    /// Creates a concert (admin).
    pub async fn create_concert(
        &self,
        admin_key: &str,
        title: &str,
    ) -> Result<ConcertCreated, Error> {
        self.send(routes::create_concert(admin_key, title)).await
    }

    /// Creates a session of a concert (admin).
    pub async fn create_session(
        &self,
        admin_key: &str,
        concert_id: i64,
        session: &NewSession,
    ) -> Result<SessionCreated, Error> {
        self.send(routes::create_session(admin_key, concert_id, session))
            .await
    }

    /// `GET /concert/wating/challenge`.
    pub async fn challenge(&self) -> Result<Challenge, Error> {
        self.send(routes::challenge()).await
    }

    /// `GET /health`.
    pub async fn health(&self) -> Result<Health, Error> {
        self.send(routes::health()).await
    }

    /// The server's OpenAPI document.
    pub async fn openapi(&self) -> Result<serde_json::Value, Error> {
        self.send(routes::openapi()).await
    }
}

/// A request being put together by hand (see [`Client::raw`]).
#[must_use = "a request does nothing until sent"]
pub struct RawRequest(reqwest::RequestBuilder);

impl RawRequest {
    /// Adds a header.
    pub fn header<V>(self, name: &str, value: V) -> Self
    where
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        Self(self.0.header(name, value))
    }

    /// Sets the body, as is.
    pub fn body(self, body: impl Into<Bytes>) -> Self {
        Self(self.0.body(body.into()))
    }

    /// Sets a JSON body (and its content type).
    pub fn json(self, body: &impl Serialize) -> Self {
        Self(self.0.json(body))
    }

    /// Sends it and reads the whole answer.
    pub async fn send(self) -> Result<Response, Error> {
        Response::read(self.0.send().await).await
    }
}

/// A whole answer, undecoded.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Response {
    async fn read(sent: reqwest::Result<reqwest::Response>) -> Result<Response, Error> {
        let response = sent.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(transport)?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The answer of a route answered by `T` (see [`decode`]); every answer of the API is
    /// JSON, so one that says otherwise is [`Error::Unexpected`].
    pub fn decode<T: Reply>(&self) -> Result<T, Error> {
        if self.headers.get(CONTENT_TYPE) != Some(&HeaderValue::from_static("application/json")) {
            return Err(Error::Unexpected {
                status: self.status.as_u16(),
                body: format!(
                    "(content type {:?}) {}",
                    self.headers.get(CONTENT_TYPE),
                    self.text()
                ),
            });
        }
        decode(self.status, &self.body)
    }

    /// The refusal, when this answer is an error in the contract's shape.
    pub fn error(&self) -> Option<ApiError> {
        match decode::<serde_json::Value>(self.status, &self.body) {
            Err(Error::Api(refusal)) => Some(refusal),
            _ => None,
        }
    }
}

fn transport(error: reqwest::Error) -> Error {
    // reqwest's Display leaves out the cause ("error sending request"): keep the chain.
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    Error::Transport {
        timed_out: error.is_timeout(),
        message,
    }
}
