//! The door of the waiting room: who may be issued a new token (JWT identities, the
//! join rate per address, the proof of work). Polls of a live token never pass it.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use actors::backend_tests;
use actors::testkit::TestDb;
use concert::http::door::DoorSettings;
use concert::http::door::identity::{JwtKey, JwtSettings, Verifier};
use concert::http::door::limit::parse_proxy;
use concert::http::door::pow::solve;
use concert_client::Response;
use concert_client::http::Method;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::helpers::{AppOptions, TestApp, assert_error_code, json_ok, spawn_app_with};

const SECRET: &str = "test-jwt-secret";
const ISSUER: &str = "https://id.example";
const AUDIENCE: &str = "concert";

backend_tests! {
    jwt_mode_refuses_forged_expired_foreign_and_unsigned_tokens,
    a_verified_users_token_cannot_be_obtained_by_naming_the_user,
    rs256_and_es256_public_keys_from_pem_files_verify_tokens,
    the_join_rate_per_address_answers_429_but_never_limits_polls,
    a_new_token_needs_a_fresh_solved_challenge_when_proofs_are_on,
}

async fn app_with(db: &TestDb, door: DoorSettings) -> TestApp {
    let mut options = AppOptions::default();
    options.http.door = door;
    spawn_app_with(db.store.clone(), &db.url, options).await
}

fn verifier(key: JwtKey) -> Arc<Verifier> {
    Arc::new(
        Verifier::new(&JwtSettings {
            key,
            issuer: Some(ISSUER.to_owned()),
            audience: Some(AUDIENCE.to_owned()),
        })
        .expect("a usable key"),
    )
}

fn jwt_door() -> DoorSettings {
    DoorSettings {
        verifier: Some(verifier(JwtKey::Secret(SECRET.to_owned()))),
        ..DoorSettings::default()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(sub: &str) -> Value {
    json!({"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600})
}

fn hs256(claims: &Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// A queue request with these headers.
async fn queue(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut request = app.request(Method::GET, path);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    request.send().await.expect("an answer")
}

async fn jwt_mode_refuses_forged_expired_foreign_and_unsigned_tokens(db: TestDb) {
    let app = app_with(&db, jwt_door()).await;
    let ok = json_ok(
        queue(
            &app,
            "/concert/wating",
            &[("X-User-Token", &hs256(&claims("alice"), SECRET))],
        )
        .await,
    );
    assert_eq!(ok["userId"], "alice");

    let mut expired = claims("bob");
    expired["exp"] = json!(now() - 3600);
    let mut wrong_audience = claims("bob");
    wrong_audience["aud"] = json!("another-service");
    let mut wrong_issuer = claims("bob");
    wrong_issuer["iss"] = json!("https://evil.example");
    let mut no_audience = claims("bob");
    no_audience.as_object_mut().unwrap().remove("aud");
    let mut bad_sub = claims("bob");
    bad_sub["sub"] = json!("bob smith");
    // `alg: none`: a well-formed token with no signature at all.
    let b64 = |value: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
    };
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims("bob"))
    );
    let refused = [
        ("forged", hs256(&claims("bob"), "not-the-secret")),
        ("expired", hs256(&expired, SECRET)),
        ("wrong audience", hs256(&wrong_audience, SECRET)),
        ("wrong issuer", hs256(&wrong_issuer, SECRET)),
        ("no audience", hs256(&no_audience, SECRET)),
        ("sub outside the user-id rule", hs256(&bad_sub, SECRET)),
        ("alg none", unsigned),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (what, token) in refused {
        let answer = queue(&app, "/concert/wating", &[("X-User-Token", &token)]).await;
        assert_eq!(answer.status.as_u16(), 401, "{what}");
        assert_error_code(answer, 401, "INVALID_USER_TOKEN");
    }
    let missing = queue(&app, "/concert/wating", &[]).await;
    assert_error_code(missing, 401, "INVALID_USER_TOKEN");
    app.stop().await;
}

async fn a_verified_users_token_cannot_be_obtained_by_naming_the_user(db: TestDb) {
    let app = app_with(&db, jwt_door()).await;
    let alice_jwt = hs256(&claims("alice"), SECRET);
    let alice = json_ok(queue(&app, "/concert/wating", &[("X-User-Token", &alice_jwt)]).await);
    let token = alice["token"].as_str().unwrap().to_owned();

    // Naming her, by query or header, is refused outright, with or without a JWT.
    let by_query = queue(&app, "/concert/wating?userId=alice", &[]).await;
    assert_error_code(by_query, 400, "USER_ID_NOT_ALLOWED");
    let by_header = queue(&app, "/concert/wating", &[("X-User-Id", "alice")]).await;
    assert_error_code(by_header, 400, "USER_ID_NOT_ALLOWED");
    let mallory_jwt = hs256(&claims("mallory"), SECRET);
    let both = queue(
        &app,
        "/concert/wating?userId=alice",
        &[("X-User-Token", &mallory_jwt)],
    )
    .await;
    assert_error_code(both, 400, "USER_ID_NOT_ALLOWED");
    // Another verified user gets their own token, never hers.
    let mallory = json_ok(queue(&app, "/concert/wating", &[("X-User-Token", &mallory_jwt)]).await);
    assert_eq!(mallory["userId"], "mallory");
    assert_ne!(mallory["token"], alice["token"]);
    // An unknown token without a JWT does not fall back to anyone.
    let unknown = uuid::Uuid::new_v4().to_string();
    let stranger = queue(&app, "/concert/wating", &[("Authorization", &unknown)]).await;
    assert_error_code(stranger, 401, "INVALID_USER_TOKEN");

    // Alice asking again gets her live token; polling it needs no JWT.
    let again = json_ok(queue(&app, "/concert/wating", &[("X-User-Token", &alice_jwt)]).await);
    assert_eq!(again["token"], alice["token"]);
    let polled = json_ok(queue(&app, "/concert/wating", &[("Authorization", &token)]).await);
    assert_eq!(polled["token"], alice["token"]);
    app.stop().await;
}

async fn rs256_and_es256_public_keys_from_pem_files_verify_tokens(db: TestDb) {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwt");
    let read = |name: &str| std::fs::read(format!("{fixtures}/{name}")).expect("a fixture");
    for (algorithm, public, private) in [
        (Algorithm::RS256, "rs256-public.pem", "rs256-private.pem"),
        (Algorithm::ES256, "es256-public.pem", "es256-private.pem"),
    ] {
        let key =
            JwtKey::from_pem_file(std::path::Path::new(&format!("{fixtures}/{public}"))).unwrap();
        let door = DoorSettings {
            verifier: Some(verifier(key)),
            ..DoorSettings::default()
        };
        let app = app_with(&db, door).await;
        let signing = match algorithm {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&read(private)).unwrap(),
            _ => EncodingKey::from_ec_pem(&read(private)).unwrap(),
        };
        let sub = format!("user-{algorithm:?}");
        let jwt = encode(&Header::new(algorithm), &claims(&sub), &signing).unwrap();
        let ticket = json_ok(queue(&app, "/concert/wating", &[("X-User-Token", &jwt)]).await);
        assert_eq!(ticket["userId"], sub.as_str(), "{algorithm:?}");
        // The shared-secret algorithm is refused when a public key is configured.
        let hs = hs256(&claims(&sub), "anything");
        let refused = queue(&app, "/concert/wating", &[("X-User-Token", &hs)]).await;
        assert_error_code(refused, 401, "INVALID_USER_TOKEN");
        app.stop().await;
    }
}

async fn the_join_rate_per_address_answers_429_but_never_limits_polls(db: TestDb) {
    let door = DoorSettings {
        // One new token a second, two at once.
        join_rate_per_ip: NonZeroU32::new(1),
        join_burst_per_ip: NonZeroU32::new(2),
        trusted_proxies: vec![parse_proxy("127.0.0.1").unwrap()],
        ..DoorSettings::default()
    };
    let app = app_with(&db, door).await;
    let first = json_ok(
        queue(
            &app,
            "/concert/wating?userId=u1",
            &[("X-Forwarded-For", "203.0.113.1")],
        )
        .await,
    );
    json_ok(
        queue(
            &app,
            "/concert/wating?userId=u2",
            &[("X-Forwarded-For", "203.0.113.1")],
        )
        .await,
    );
    let refused = queue(
        &app,
        "/concert/wating?userId=u3",
        &[("X-Forwarded-For", "203.0.113.1")],
    )
    .await;
    let retry_after: u64 = refused
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    assert_error_code(refused, 429, "TOO_MANY_REQUESTS");
    // Polls of a live token never pass the door.
    let token = first["token"].as_str().unwrap();
    for _ in 0..20 {
        json_ok(
            queue(
                &app,
                "/concert/wating",
                &[("Authorization", token), ("X-Forwarded-For", "203.0.113.1")],
            )
            .await,
        );
    }
    // Another client behind the trusted proxy has its own bucket; the part of the
    // header a client wrote itself (left of the proxy's entry) is not believed.
    json_ok(
        queue(
            &app,
            "/concert/wating?userId=u4",
            &[("X-Forwarded-For", "203.0.113.1, 198.51.100.7")],
        )
        .await,
    );
    app.stop().await;
}

async fn a_new_token_needs_a_fresh_solved_challenge_when_proofs_are_on(db: TestDb) {
    let door = DoorSettings {
        pow_bits: 8,
        ..DoorSettings::default()
    };
    let app = app_with(&db, door).await;
    let challenge = app.api.challenge().await.expect("a challenge");
    assert_eq!(challenge.bits, 8);
    assert!(challenge.expires_in_seconds > 0);

    let missing = queue(&app, "/concert/wating?userId=cat", &[]).await;
    assert_error_code(missing, 428, "POW_REQUIRED");
    let unsolved = format!(
        "{}:{}",
        challenge.challenge,
        unsolved_nonce(&challenge.challenge, 8)
    );
    let wrong = queue(&app, "/concert/wating?userId=cat", &[("X-Pow", &unsolved)]).await;
    assert_error_code(wrong, 400, "POW_INVALID");

    let proof = format!("{}:{}", challenge.challenge, solve(&challenge.challenge, 8));
    let ticket = json_ok(queue(&app, "/concert/wating?userId=cat", &[("X-Pow", &proof)]).await);
    let replayed = queue(&app, "/concert/wating?userId=dog", &[("X-Pow", &proof)]).await;
    assert_error_code(replayed, 400, "POW_INVALID");
    // A live token's poll needs no proof.
    let token = ticket["token"].as_str().unwrap();
    json_ok(queue(&app, "/concert/wating", &[("Authorization", token)]).await);
    app.stop().await;
}

fn unsolved_nonce(challenge: &str, bits: u32) -> u64 {
    use sha2::{Digest, Sha256};
    (0u64..)
        .find(|n| {
            concert::http::door::pow::leading_zero_bits(&Sha256::digest(format!("{challenge}:{n}")))
                < bits
        })
        .unwrap()
}
