//! Extractors that refuse in the contract's error shape, never in axum's plain text.
//!
//! axum's own `Json`, `Path` and `Query` answer a malformed request with a plain-text
//! body, and `Json` also refuses the body before the handler has checked the token.
//! These replacements answer every refusal with an [`ApiError`], and [`JsonBody`] only
//! buffers the body: the handler parses it when it is ready, after the token check.

use std::marker::PhantomData;

use actors::domain::{ConcertId, SessionId, UserId};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::HeaderValue;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::error::ApiError;
use super::intake::read_all;

/// The `Authorization` header as text, if present and readable. Never fails: a missing
/// token is the engine's to judge (403, or a new token for the queue).
/// (A `HeaderValue` shares the request's buffer: a poll copies nothing.)
#[derive(Debug, Clone, Default)]
pub struct Authorization(Option<HeaderValue>);

impl Authorization {
    /// The header's text.
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_ref().and_then(|v| v.to_str().ok())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Authorization {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Self(parts.headers.get(AUTHORIZATION).cloned()))
    }
}

/// The raw `X-User-Id` header: who a new queue token is for, validated by [`user_id`].
#[derive(Debug, Clone, Default)]
pub struct UserIdHeader(Option<HeaderValue>);

impl UserIdHeader {
    /// The header's bytes.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        self.0.as_ref().map(HeaderValue::as_bytes)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for UserIdHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(Self(parts.headers.get("x-user-id").cloned()))
    }
}

/// An id type that a path segment can name.
pub trait PathIdType: Sized {
    /// Accepts a positive id.
    fn from_positive(value: i64) -> Option<Self>;
}

impl PathIdType for ConcertId {
    fn from_positive(value: i64) -> Option<Self> {
        Self::parse(value).ok()
    }
}

impl PathIdType for SessionId {
    fn from_positive(value: i64) -> Option<Self> {
        Self::parse(value).ok()
    }
}

/// A single `{id}` path segment: decimal digits naming an id from 1 to 2^63-1, else 400
/// (`INVALID_PATH_ID`), as the contract asks of non-numeric and out-of-range path ids.
#[derive(Debug, Clone, Copy)]
pub struct PathId<T>(pub T);

impl<S: Send + Sync, T: PathIdType> FromRequestParts<S> for PathId<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::invalid_path_id())?;
        // Digits only: `+5`, ` 5` and `5.0` are not ids, though `i64::from_str` takes `+5`.
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ApiError::invalid_path_id());
        }
        raw.parse::<i64>()
            .ok()
            .and_then(T::from_positive)
            .map(PathId)
            .ok_or_else(ApiError::invalid_path_id)
    }
}

/// The `{userId}` path segment: the user id rule, else 400 (`INVALID_USER_ID`).
#[derive(Debug, Clone)]
pub struct PathUserId(pub UserId);

impl<S: Send + Sync> FromRequestParts<S> for PathUserId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| ApiError::invalid_user_id())?;
        UserId::parse(&raw)
            .map(PathUserId)
            .map_err(|_| ApiError::invalid_user_id())
    }
}

/// A query string decoded into `T`; a query that does not decode is 400 (`INVALID_QUERY`).
/// Unknown parameters are ignored, so cache-busting parameters do no harm.
#[derive(Debug, Clone, Default)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // The common poll has no query at all: nothing to decode.
        if parts.uri.query().is_none() {
            return Ok(Query(T::default()));
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(|_| ApiError::invalid_query())
    }
}

/// The user id a new queue token is for: the query's `userId`, else the `X-User-Id`
/// header, else none (the engine makes one). Either one invalid is 400.
pub fn user_id(query: Option<&str>, header: Option<&[u8]>) -> Result<Option<UserId>, ApiError> {
    let text = match (query, header) {
        (Some(query), _) => query,
        (None, Some(header)) => {
            std::str::from_utf8(header).map_err(|_| ApiError::invalid_user_id())?
        }
        (None, None) => return Ok(None),
    };
    UserId::parse(text)
        .map(Some)
        .map_err(|_| ApiError::invalid_user_id())
}

/// A request body whose parsing waits for the handler: buffered by the extractor (only a
/// body over the limit is refused here, 413), parsed by [`JsonBody::parse`].
///
/// The contract checks the token before the body, and an extractor that parsed the body
/// would answer 400 before the handler could look at the token.
#[derive(Debug, Clone)]
pub struct JsonBody<T> {
    bytes: Bytes,
    _into: PhantomData<fn() -> T>,
}

/// A request type read field by field from a JSON object, with the contract's strictness
/// (integers are JSON integers: `300.0`, `"300"`, `true` and `null` are refused).
pub trait FromJson: Sized {
    /// Reads the request from the body's fields.
    fn from_json(fields: &Fields) -> Result<Self, ApiError>;

    /// The request straight from the body when it is exactly what clients send (see
    /// [`exact`]): what `from_json` would read, without a map of the fields. `None`
    /// (the default) reads every body field by field.
    fn from_exact(_body: &[u8]) -> Option<Self> {
        None
    }
}

/// `body` as `E` when it is a JSON object of exactly `E`'s fields, each of `E`'s type,
/// and `E` denies unknown fields; `None` for anything else (any other field, one missing,
/// repeated, of another type, or not an object), which [`JsonBody::parse`] then reads
/// field by field to say what is wrong. Only a body both ways read alike passes, so the
/// answer is the same either way (a test compares them); serde into a struct skips the
/// `serde_json::Value` and its map (~2,400 instructions of a hold's ~36,000, issue 16).
pub fn exact<E: DeserializeOwned>(body: &[u8]) -> Option<E> {
    // serde reads a struct from a JSON array too: only objects here.
    if body.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    serde_json::from_slice(body).ok()
}

impl<T> JsonBody<T> {
    /// A body as if received, for unit tests of a request type's parsing.
    #[cfg(test)]
    pub(crate) fn from_bytes(bytes: impl Into<Bytes>) -> Self {
        Self {
            bytes: bytes.into(),
            _into: PhantomData,
        }
    }
}

impl<T: FromJson> JsonBody<T> {
    /// Parses the body: 400 `MALFORMED_JSON` if it is not JSON, `INVALID_BODY` if not an
    /// object, then whatever `T` says of its fields. Content-Type is not required: the
    /// seed's curl examples send none, and every body of this API is JSON.
    pub fn parse(&self) -> Result<T, ApiError> {
        if let Some(request) = T::from_exact(&self.bytes) {
            return Ok(request);
        }
        self.parse_fields()
    }

    /// [`parse`](Self::parse) field by field, whatever the body.
    fn parse_fields(&self) -> Result<T, ApiError> {
        let value: Value =
            serde_json::from_slice(&self.bytes).map_err(|_| ApiError::malformed_json())?;
        match value {
            Value::Object(map) => T::from_json(&Fields(map)),
            _ => Err(ApiError::body_not_object()),
        }
    }
}

/// The body as the router's `observe` left it: in memory, within the body limit (it
/// refuses a larger one with 413 before any extractor runs). Taken as it is, without
/// axum's own default limit, so the router needs no `DefaultBodyLimit` layer, and
/// without a copy (`intake::read_all`: the one frame `observe` left).
impl<S: Send + Sync, T> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, ApiError> {
        let bytes = read_all(request.into_body())
            .await
            .map_err(|_| ApiError::body_unreadable())?;
        Ok(Self {
            bytes,
            _into: PhantomData,
        })
    }
}

/// The fields of a JSON object body. Fields a request type does not read are ignored.
#[derive(Debug, Clone)]
pub struct Fields(Map<String, Value>);

impl Fields {
    fn get(&self, field: &str) -> Result<&Value, ApiError> {
        self.0
            .get(field)
            .ok_or_else(|| ApiError::missing_field(field))
    }

    /// A field that may be absent: `None` when it is, else its value (`null` included,
    /// which some fields take to mean "unlimited" or "the default").
    pub fn optional(&self, field: &str) -> Option<&Value> {
        self.0.get(field)
    }

    /// A JSON integer that fits in 64 signed bits; anything else is 400 (`rule` explains).
    pub fn integer(&self, field: &str, rule: &str) -> Result<i64, ApiError> {
        match self.get(field)? {
            // `as_i64` is `None` for floats (`300.0`, `3e2`), so only integers pass.
            Value::Number(number) => number
                .as_i64()
                .ok_or_else(|| ApiError::invalid_field(field, rule)),
            _ => Err(ApiError::invalid_field(field, rule)),
        }
    }

    /// A JSON string; anything else is 400 (`rule` explains).
    pub fn string(&self, field: &str, rule: &str) -> Result<&str, ApiError> {
        match self.get(field)? {
            Value::String(text) => Ok(text),
            _ => Err(ApiError::invalid_field(field, rule)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(json: &str) -> Fields {
        match serde_json::from_str(json).unwrap() {
            Value::Object(map) => Fields(map),
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn integers_must_be_json_integers() {
        let rule = "정수";
        assert_eq!(fields(r#"{"a": 300}"#).integer("a", rule), Ok(300));
        for bad in [
            r#"{"a": 300.0}"#,
            r#"{"a": "300"}"#,
            r#"{"a": true}"#,
            r#"{"a": null}"#,
            r#"{"a": 3e2}"#,
        ] {
            assert_eq!(
                fields(bad).integer("a", rule).unwrap_err().code(),
                "INVALID_FIELD",
                "{bad}"
            );
        }
        assert_eq!(
            fields("{}").integer("a", rule).unwrap_err().code(),
            "MISSING_FIELD"
        );
        let huge = r#"{"a": 18446744073709551615}"#;
        assert_eq!(
            fields(huge).integer("a", rule).unwrap_err().code(),
            "INVALID_FIELD"
        );
    }

    /// A body of any shape a client might send: the request's own fields and others,
    /// repeated or missing, of every JSON type; objects mostly, arrays and broken ones too.
    fn any_body(rng: &mut rand::rngs::StdRng, names: &[&str]) -> String {
        use rand::RngExt;
        const VALUES: &[&str] = &[
            "1",
            "4",
            "-7",
            "0",
            "-0",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "18446744073709551615",
            "1.0",
            "3e2",
            "300.5",
            "\"1\"",
            "null",
            "true",
            "{}",
            "[]",
            "{\"a\":1}",
            "1e400",
        ];
        let mut keys: Vec<&str> = names.to_vec();
        keys.extend(["other", "SessionId", "seat_number"]);
        let space = |rng: &mut rand::rngs::StdRng| [" ", "", "\n", "\t "][rng.random_range(0..4)];
        let mut fields = Vec::new();
        // Mostly each of the request's fields once, in any order, of the right type.
        if rng.random_range(0..3) == 0 {
            for _ in 0..rng.random_range(0..5) {
                let key = keys[rng.random_range(0..keys.len())];
                let value = VALUES[rng.random_range(0..VALUES.len())];
                fields.push(format!("\"{key}\"{}:{}{value}", space(rng), space(rng)));
            }
        } else {
            for name in names {
                let value = ["1", "42", "-3", "0"][rng.random_range(0..4)];
                fields.push(format!("\"{name}\":{}{value}", space(rng)));
            }
            if rng.random_range(0..2) == 0 {
                fields.reverse();
            }
        }
        let inner = fields.join(&format!(",{}", space(rng)));
        match rng.random_range(0..20) {
            0 => format!("[{inner}]"),
            1 => format!("{{{inner}}}x"),
            2 => format!("\u{feff}{{{inner}}}"),
            3 => format!("{{{inner}"),
            _ => format!("{}{{{inner}}}{}", space(rng), space(rng)),
        }
    }

    /// Whenever the exact way reads a body, the field-by-field way reads it alike.
    fn exact_reads_as_the_fields_do<T: FromJson + PartialEq + std::fmt::Debug>(names: &[&str]) {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(16);
        let mut exact = 0;
        for _ in 0..20_000 {
            let body = any_body(&mut rng, names);
            if let Some(read) = T::from_exact(body.as_bytes()) {
                exact += 1;
                let fields_way = JsonBody::<T>::from_bytes(body.clone()).parse_fields();
                assert_eq!(fields_way.ok(), Some(read), "{body}");
            }
        }
        assert!(exact > 5_000, "only {exact} bodies read the exact way");
    }

    #[test]
    fn a_hold_or_payment_read_the_exact_way_is_what_its_fields_say() {
        use super::super::reservations::{HoldRequest, PayRequest};
        exact_reads_as_the_fields_do::<HoldRequest>(&["sessionId", "seatNumber"]);
        exact_reads_as_the_fields_do::<PayRequest>(&["reservationId"]);
        // Not objects, or not exactly the fields: the field-by-field way says why.
        for body in [
            r#"[1, 4]"#,
            r#"{"sessionId": 1}"#,
            r#"{"sessionId": 1, "seatNumber": 4, "x": 1e400}"#,
            r#"{"sessionId": 1, "seatNumber": 4.0}"#,
            r#"{"sessionId": 1, "sessionId": 2, "seatNumber": 4}"#,
        ] {
            assert_eq!(HoldRequest::from_exact(body.as_bytes()), None, "{body}");
        }
        let exact = br#" {"seatNumber": 4, "sessionId": 1} "#;
        assert_eq!(
            HoldRequest::from_exact(exact),
            Some(HoldRequest {
                session_id: 1,
                seat_number: 4
            })
        );
    }

    #[test]
    fn user_id_prefers_the_query_and_refuses_bad_ones() {
        assert_eq!(user_id(None, None), Ok(None));
        let from_header = user_id(None, Some(b"Cat")).unwrap().unwrap();
        assert_eq!(from_header.as_str(), "Cat");
        let from_query = user_id(Some("Dog"), Some(b"Cat")).unwrap().unwrap();
        assert_eq!(from_query.as_str(), "Dog");
        assert!(user_id(Some("a b"), None).is_err());
        assert!(user_id(None, Some(&[0xff])).is_err());
    }
}
