//! Access: tokens that cannot be guessed, reservations that only their owner can pay
//! (or even learn exist), an admin key that opens only when exactly right, and logs that
//! never carry a token or a key.

use std::collections::HashSet;

use actors::backend_tests;
use actors::testkit::TestDb;
use concert_client::http::Method;
use serde_json::json;
use uuid::{Uuid, Variant};

use crate::binary::Server;
use concert_client::{NewSession, routes};

use crate::helpers::{ADMIN_KEY, json_ok, msg, spawn_app};
use crate::invariants::{self, count};
use crate::support::{self, Answer, error_body, token_in};

const TOKENS: usize = 1_000;

backend_tests! {
    tokens_are_uuid_v4_with_122_random_bits_and_never_collide,
    a_user_can_neither_pay_nor_learn_of_another_users_reservation,
    the_admin_key_opens_only_when_exactly_equal,
    no_token_or_admin_key_is_ever_written_to_the_logs,
}

async fn tokens_are_uuid_v4_with_122_random_bits_and_never_collide(db: TestDb) {
    let app = spawn_app(&db).await;
    let client = support::client(&app.address, 32);
    let join = |n: usize| {
        let client = &client;
        async move { Answer::call(client, routes::join(&format!("user{n}"))).await }
    };
    let tickets = support::concurrently(32, (0..TOKENS).map(join)).await;
    let mut seen = HashSet::new();
    let mut ones = [0usize; 128];
    for ticket in &tickets {
        assert_eq!(ticket.status, 200, "{:?}", ticket.body);
        let text = token_in(ticket);
        let token = Uuid::parse_str(&text).expect("a UUID");
        assert_eq!(text, token.hyphenated().to_string(), "the canonical form");
        assert_eq!(token.get_version_num(), 4, "{text}");
        assert_eq!(token.get_variant(), Variant::RFC4122, "{text}");
        assert!(seen.insert(token), "two tokens collide: {text}");
        let bits = token.as_u128();
        for (bit, count) in ones.iter_mut().enumerate() {
            *count += ((bits >> bit) & 1) as usize;
        }
    }
    // The 122 bits outside version (bits 76..80) and variant (bits 62..64) are
    // random: each is set in about half of the tokens. For a fair bit the share stays
    // within 0.5 ± 0.1 with probability 1 - 2e-10 (6.3 standard deviations at 1,000).
    let fixed: Vec<usize> = (62..64).chain(76..80).collect();
    let random: Vec<usize> = (0..128).filter(|bit| !fixed.contains(bit)).collect();
    assert_eq!(random.len(), 122);
    for bit in random {
        let share = ones[bit] as f64 / TOKENS as f64;
        assert!(
            (0.4..=0.6).contains(&share),
            "bit {bit} is set in {share:.3} of the tokens"
        );
    }
    app.stop().await;
}

async fn a_user_can_neither_pay_nor_learn_of_another_users_reservation(db: TestDb) {
    let app = spawn_app(&db).await;
    let cat = app.admitted("Cat").await;
    let dog = app.admitted("Dog").await;
    json_ok(app.api.charge(&cat, 10_000).await);
    json_ok(app.api.charge(&dog, 20_000).await);
    let cats = app.hold_ok(&cat, 1, 5).await;
    let unknown = Answer::call(&app.api, routes::pay(&dog, cats + 1_000, None)).await;
    assert_eq!(
        (unknown.status, &unknown.body),
        (
            404,
            &error_body(404, "RESERVATION_NOT_FOUND", msg::RESERVATION_NOT_FOUND)
        )
    );
    // Another's reservation answers exactly as one that does not exist, with or without a key.
    for key in [None, Some("dog-1")] {
        let answer = Answer::call(&app.api, routes::pay(&dog, cats, key)).await;
        assert_eq!(answer, unknown, "key {key:?}");
    }
    let status = format!(
        "SELECT COUNT(*) FROM reservations WHERE id = {cats} AND status = 'held' AND user_id = 'Cat'"
    );
    assert_eq!(count(&db, &status).await, 1, "Cat's hold is untouched");
    assert_eq!(count(&db, "SELECT COUNT(*) FROM payments").await, 0);

    // Cat pays with a key; Dog sending the same key for Cat's reservation is not
    // answered Cat's payment: keys belong to one user.
    let paid = json_ok(app.api.pay(&cat, cats, Some("order-1")).await);
    let answer = Answer::call(&app.api, routes::pay(&dog, cats, Some("order-1"))).await;
    assert_eq!(answer, unknown, "Dog does not get Cat's receipt");
    let balance = Answer::of(
        app.request(Method::GET, "/concert/balance")
            .header("Authorization", &dog),
    )
    .await;
    assert_eq!(
        balance.body,
        json!({"userId": "Dog", "balance": 20_000}),
        "nothing debited from Dog"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM ledger WHERE user_id = 'Dog' AND kind = 'payment'"
        )
        .await,
        0
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM payments").await, 1);
    assert_eq!(paid["balance"], 0);
    invariants::assert_holds(&db, app.engine.config()).await;
    app.stop().await;
}

async fn the_admin_key_opens_only_when_exactly_equal(db: TestDb) {
    // The comparison is `subtle::ConstantTimeEq` (src/http/admin.rs): its time does not
    // depend on where the first wrong byte is. What a test can see is the outcome.
    let app = spawn_app(&db).await;
    let create = |key: Option<&str>| {
        let mut request = app
            .request(Method::POST, "/admin/concerts")
            .json(&json!({"title": "Night"}));
        if let Some(key) = key {
            request = request.header("X-Admin-Key", key);
        }
        Answer::of(request)
    };
    let mut same_length = ADMIN_KEY.to_owned().into_bytes();
    same_length[ADMIN_KEY.len() - 1] ^= 1;
    let same_length = String::from_utf8(same_length).unwrap();
    let first_byte_wrong = format!("X{}", &ADMIN_KEY[1..]);
    let longer = format!("{ADMIN_KEY}x");
    let upper = ADMIN_KEY.to_uppercase();
    let invalid = error_body(401, "ADMIN_KEY_INVALID", "관리자 키가 올바르지 않습니다.");
    let wrong = [
        Some(same_length.as_str()),
        Some(first_byte_wrong.as_str()),
        Some(&ADMIN_KEY[..ADMIN_KEY.len() - 1]),
        Some(longer.as_str()),
        Some(upper.as_str()),
        Some(""),
        Some(" "),
        None,
    ];
    for key in wrong {
        let answer = create(key).await;
        assert_eq!(
            (answer.status, &answer.body),
            (401, &invalid),
            "key {key:?}"
        );
    }
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM concerts").await,
        1,
        "no wrong key created anything"
    );
    let answer = create(Some(ADMIN_KEY)).await;
    assert_eq!(
        (answer.status, answer.body["concertId"].as_i64()),
        (201, Some(2))
    );
    app.stop().await;
}

async fn no_token_or_admin_key_is_ever_written_to_the_logs(db: TestDb) {
    const KEY: &str = "s3cret-admin-key-0123456789";
    const WRONG_KEY: &str = "s3cret-admin-key-0123456780";
    let server = Server::start(&db.url, "trace", &["--admin-key", KEY, "--max-active", "2"]).await;
    let client = support::client(&server.address, 4);
    // Every route, with every way a token or key travels.
    let cat = token_in(&Answer::call(&client, routes::join("Cat")).await);
    let by_header = client
        .raw(Method::GET, routes::QUEUE_PATH)
        .header("X-User-Id", "Dog");
    let dog = token_in(&Answer::of(by_header).await);
    let alias = client.raw(Method::GET, "/concert/waiting?userId=Eve");
    let waiting = token_in(&Answer::of(alias).await);
    let unknown = Uuid::new_v4().to_string();
    let renewed = token_in(&Answer::call(&client, routes::poll(&unknown)).await);
    let mut tokens = vec![cat.clone(), dog.clone(), waiting.clone(), unknown, renewed];
    for (token, prefix) in [(&cat, ""), (&dog, "Bearer "), (&waiting, "")] {
        let auth = format!("{prefix}{token}");
        Answer::call(&client, routes::poll(&auth)).await;
        Answer::call(&client, routes::balance(&auth)).await;
        Answer::call(&client, routes::charge(&auth, 20_000)).await;
    }
    Answer::call(&client, routes::sessions(1)).await;
    Answer::call(&client, routes::seats(1)).await;
    let hold = Answer::call(&client, routes::hold(&cat, 1, 1)).await;
    assert_eq!(hold.status, 201, "{:?}", hold.body);
    let reservation = hold.body["reservationId"].as_i64().unwrap();
    Answer::call(&client, routes::hold(&waiting, 1, 2)).await;
    for _ in 0..2 {
        let paid = Answer::call(&client, routes::pay(&cat, reservation, Some("order-1"))).await;
        assert_eq!(paid.status, 200, "{:?}", paid.body);
    }
    // The payment ended Cat's admission: refusals for an expired token are logged too.
    Answer::call(&client, routes::hold(&cat, 1, 3)).await;
    Answer::call(&client, routes::pay(&dog, reservation, None)).await;
    let concert = Answer::call(&client, routes::create_concert(KEY, "Night")).await;
    assert_eq!(concert.status, 201, "{:?}", concert.body);
    let night = NewSession {
        date: "2024-09-01".into(),
        seat_count: 10,
        price: 0,
    };
    let session = Answer::call(&client, routes::create_session(KEY, 2, &night)).await;
    assert_eq!(session.status, 201, "{:?}", session.body);
    Answer::call(&client, routes::create_concert(WRONG_KEY, "Night")).await;
    Answer::call(&client, routes::health()).await;
    Answer::call(&client, routes::openapi()).await;
    Answer::of(client.raw(Method::GET, "/nope")).await;
    let delete = client
        .raw(Method::DELETE, "/concert/balance")
        .header("Authorization", &dog);
    Answer::of(delete).await;
    tokens.sort();
    tokens.dedup();
    let log = server.stop().await;

    assert!(
        log.contains("TRACE") && log.contains("DEBUG"),
        "the log ran at trace level:\n{log}"
    );
    assert!(
        log.contains("/concert/payment"),
        "requests are logged:\n{log}"
    );
    let mut secrets: Vec<String> = vec![KEY.to_owned(), WRONG_KEY.to_owned()];
    for token in &tokens {
        // A UUID may also be printed without dashes.
        secrets.push(token.clone());
        secrets.push(token.replace('-', ""));
    }
    eprintln!(
        "logs[{}]: {} lines at trace, searched for {} secrets",
        db.store.backend(),
        log.lines().count(),
        secrets.len()
    );
    for secret in &secrets {
        let line = log.lines().find(|line| line.contains(secret.as_str()));
        assert!(
            line.is_none(),
            "a secret is in the log: {}",
            line.unwrap_or_default()
        );
    }
}
