//! A restart on the same database: what clients were told before still holds after.

use actors::backend_tests;
use actors::testkit::{self, TestDb};
use concert_client::http::Method;
use serde_json::json;

use crate::helpers::{AppOptions, TestApp, assert_error, json_ok, msg, spawn_app_with, token_of};

fn options() -> AppOptions {
    let mut options = AppOptions::default();
    options.engine.max_active = 2;
    options
}

async fn balance(app: &TestApp, token: &str) -> serde_json::Value {
    let response = app
        .request(Method::GET, "/concert/balance")
        .header("Authorization", token)
        .send()
        .await
        .unwrap();
    json_ok(response)["balance"].clone()
}

backend_tests! {
    a_restart_keeps_holds_sales_balances_admissions_and_the_line,
}

async fn a_restart_keeps_holds_sales_balances_admissions_and_the_line(db: TestDb) {
    let app = spawn_app_with(db.store.clone(), &db.url, options()).await;
    let alice = app.admitted("Alice").await;
    let bob = app.admitted("Bob").await;
    let carol = token_of(&app.join("Carol").await);
    let dave = token_of(&app.join("Dave").await);
    let erin = token_of(&app.join("Erin").await);
    app.api.charge(&alice, 30_000).await.unwrap();
    let alices = app.hold_ok(&alice, 1, 1).await;
    app.api.charge(&bob, 20_000).await.unwrap();
    let bobs = app.hold_ok(&bob, 1, 2).await;
    let sale = json_ok(app.api.pay(&bob, bobs, Some("bob-1")).await);
    // Bob's payment admitted Carol; Dave and Erin wait at 1 and 2.
    assert!(app.poll(&carol).await.is_processing);
    assert_eq!(app.poll(&dave).await.waiting_number, Some(1));
    let db_url = app.db_url.clone();
    app.stop().await;

    // A new process on the same database.
    assert_eq!(db_url, db.url);
    let app = spawn_app_with(testkit::reopen(&db).await, &db_url, options()).await;
    for (token, admitted, place) in [
        (&alice, true, 0),
        (&carol, true, 0),
        (&dave, false, 1),
        (&erin, false, 2),
    ] {
        let ticket = app.poll(token).await;
        assert_eq!(&token_of(&ticket), token, "the same token");
        assert_eq!(
            (ticket.is_processing, ticket.waiting_number),
            (admitted, Some(place)),
            "{ticket:?}"
        );
    }
    let seats = app.seats(1).await;
    assert!(
        seats[0] && seats[1] && !seats[2],
        "Alice's hold and Bob's sale remain"
    );
    assert_eq!(app.available(1).await, 48);
    assert_error(
        app.get("/concert/session/2").await,
        404,
        "CONCERT_NOT_FOUND",
        msg::CONCERT_NOT_FOUND,
    );
    // Bob's sale replays with his ended token, and that token is still known as expired.
    assert_eq!(json_ok(app.api.pay(&bob, bobs, Some("bob-1")).await), sale);
    assert_error(
        app.api.hold(&bob, 1, 3).await,
        401,
        "TOKEN_EXPIRED",
        msg::TOKEN_EXPIRED,
    );
    // Alice's hold is still hers to pay, from her kept balance.
    assert_eq!(balance(&app, &alice).await, 30_000);
    let paid = json_ok(app.api.pay(&alice, alices, None).await);
    assert_eq!(
        (paid["seatNumber"].clone(), paid["balance"].clone()),
        (json!(1), json!(20_000))
    );
    let bob_again = token_of(&app.join("Bob").await);
    assert_eq!(balance(&app, &bob_again).await, 10_000);
    app.stop().await;
}
