//! A room's tokens act on its own concert only (403 `WRONG_ROOM`); the site-wide room's
//! act on concerts without a room; the wallet takes any live token.

use actors::backend_tests;
use actors::testkit::TestDb;
use concert_client::Room;

use super::{admitted_in, concert_with_session, open_room, status};
use crate::helpers::{assert_error, assert_error_code, json_ok, msg, spawn_app};

pub const WRONG_ROOM: &str = "이 공연의 대기열 토큰이 아닙니다.";
pub const ROOM_NOT_FOUND: &str = "대기실이 없는 공연입니다. concertId 없이 대기열에 참여하세요.";

backend_tests! {
    a_rooms_token_holds_and_pays_only_its_own_concert,
    a_concert_without_a_room_takes_site_tokens_and_no_concert_id,
    one_user_waits_in_each_room_with_a_token_of_each,
}

async fn a_rooms_token_holds_and_pays_only_its_own_concert(db: TestDb) {
    let app = spawn_app(&db).await;
    let (two, two_session) = concert_with_session(&app, "Two").await;
    let (three, three_session) = concert_with_session(&app, "Three").await;
    open_room(&app, two, 10).await;
    open_room(&app, three, 10).await;
    let site = app.admitted("Cat").await;
    let of_two = admitted_in(&app, two, "Cat").await;
    let of_three = admitted_in(&app, three, "Cat").await;

    // The wallet is the user's, whichever room's token asks.
    app.api.charge(&of_two, 50_000).await.unwrap();
    for token in [&site, &of_two, &of_three] {
        assert_eq!(app.api.balance(token).await.unwrap().balance, 50_000);
    }

    // Holds: each token on its own room's concert only (concert 1 has no room: the site's).
    for (token, session) in [
        (&of_two, 1),
        (&of_two, three_session),
        (&of_three, two_session),
        (&site, two_session),
        (&site, three_session),
    ] {
        let refused = app.api.hold(token, session, 5).await;
        assert_error(refused, 403, "WRONG_ROOM", WRONG_ROOM);
    }
    let in_two = app.hold_ok(&of_two, two_session, 1).await;
    let in_one = app.hold_ok(&site, 1, 1).await;

    // Payments: the same rule, with or without an idempotency key.
    for (token, reservation, key) in [
        (&site, in_two, None),
        (&of_three, in_two, None),
        (&site, in_two, Some("k-site")),
        (&of_two, in_one, None),
        (&of_two, in_one, Some("k-two")),
    ] {
        let refused = app.api.pay(token, reservation, key).await;
        assert_error(refused, 403, "WRONG_ROOM", WRONG_ROOM);
    }
    let paid = json_ok(app.api.pay(&of_two, in_two, Some("k-two-ok")).await);
    assert_eq!(paid["balance"], 49_000, "{paid}");
    let paid = json_ok(app.api.pay(&site, in_one, None).await);
    assert_eq!(paid["balance"], 39_000, "{paid}");
    assert!(app.seats(two_session).await[0], "sold in concert 2");

    // Each admission and its end were counted by its own room.
    assert_eq!(status(&app, Room::Concert(two)).await.admitted_total, 1);
    assert_eq!(status(&app, Room::Concert(three)).await.admitted, 1);
    app.stop().await;
}

async fn a_concert_without_a_room_takes_site_tokens_and_no_concert_id(db: TestDb) {
    let app = spawn_app(&db).await;
    let (two, two_session) = concert_with_session(&app, "Two").await;
    // Before its room is scheduled, concert 2 is the site room's like any other.
    let site = app.admitted("Cat").await;
    app.hold_ok(&site, two_session, 1).await;
    assert_error(
        app.api.join_room(two, "Dog").await,
        404,
        "ROOM_NOT_FOUND",
        ROOM_NOT_FOUND,
    );
    assert_error(
        app.api.join_room(999, "Dog").await,
        404,
        "CONCERT_NOT_FOUND",
        msg::CONCERT_NOT_FOUND,
    );
    for bad in ["0", "-1", "abc", "", "1.5", "+2", "99999999999999999999"] {
        let path = format!("/concert/wating?userId=Dog&concertId={bad}");
        assert_error_code(app.get(&path).await, 400, "INVALID_QUERY");
    }
    // Once it has a room, the site's admitted token no longer reaches it; concert 1
    // (still without a room) takes it as before.
    open_room(&app, two, 10).await;
    let refused = app.api.hold(&site, two_session, 2).await;
    assert_error(refused, 403, "WRONG_ROOM", WRONG_ROOM);
    app.hold_ok(&site, 1, 1).await;
    app.stop().await;
}

async fn one_user_waits_in_each_room_with_a_token_of_each(db: TestDb) {
    let app = spawn_app(&db).await;
    let (two, _) = concert_with_session(&app, "Two").await;
    open_room(&app, two, 10).await;
    let site = app.join("Cat").await;
    // The site token, polled in concert 2's room, is not of that room: Cat gets a token
    // there, and keeps the site one.
    let in_two = app.api.poll_room(two, &site.token).await.unwrap();
    assert_ne!(in_two.token, site.token);
    assert_eq!(in_two.user_id, "Cat");
    assert_eq!(app.poll(&site.token).await.token, site.token, "still live");
    // Each room answers its own token again, with or without concertId.
    assert_eq!(
        app.api.join_room(two, "Cat").await.unwrap().token,
        in_two.token
    );
    assert_eq!(app.poll(&in_two.token).await.token, in_two.token);
    assert_eq!(app.join("Cat").await.token, site.token);
    let two_status = status(&app, Room::Concert(two)).await;
    assert_eq!(two_status.waiting + two_status.admitted, 1);
    app.stop().await;
}
