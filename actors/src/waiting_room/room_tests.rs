//! The room's unit tests.

use super::*;
use crate::domain::ConcertId;
use crate::waiting_room::pace::ESTIMATE_WINDOW;
use crate::waiting_room::schedule::RoomSchedule;
use crate::waiting_room::status::RoomState;

fn config() -> RoomConfig {
    RoomConfig {
        max_active: 100,
        active_ttl: Duration::from_secs(600),
        waiting_idle: Duration::from_secs(60),
        admitted_idle: Duration::from_secs(120),
        token_retention: Duration::from_secs(7 * 86_400),
        admission_rate_per_sec: None,
    }
}

fn room(max_active: u32) -> Room {
    let settings = RoomSettings::always_open(RoomId::Site, max_active, None);
    let restored = (settings, Totals::default());
    Room::restore(config(), restored, Vec::new(), 0, Instant::now(), |_| Instant::now()).0
}

fn user(n: usize) -> UserId {
    UserId::parse(&format!("u{n}")).unwrap()
}

#[test]
fn a_joining_token_holds_its_place_but_blocks_admission_behind_it() {
    let mut room = room(5);
    let now = Instant::now();
    let tokens: Vec<_> = (0..3).map(|_| QueueToken::generate()).collect();
    for (n, token) in tokens.iter().enumerate() {
        room.join(*token, user(n));
    }
    room.confirm(tokens[1], now);
    room.confirm(tokens[2], now);
    assert!(
        room.admission_candidates(now).is_empty(),
        "the first is still joining"
    );
    assert_eq!(
        room.ticket(tokens[0], now),
        None,
        "not answered before it is stored"
    );
    assert_eq!(room.ticket(tokens[2], now).unwrap().position, Some(3));

    room.abandon(tokens[0]);
    assert_eq!(
        room.ticket(tokens[2], now).unwrap().position,
        Some(2),
        "positions shrink"
    );
    assert_eq!(room.live_token_of(&user(0)), None);
    assert_eq!(room.admission_candidates(now), vec![tokens[1], tokens[2]]);
}

#[test]
fn admission_respects_max_active_and_ends_free_places() {
    let mut room = room(2);
    let now = Instant::now();
    let tokens: Vec<_> = (0..4).map(|_| QueueToken::generate()).collect();
    for (n, token) in tokens.iter().enumerate() {
        room.join(*token, user(n));
        room.confirm(*token, now);
    }
    let first = room.admission_candidates(now);
    assert_eq!(first, tokens[..2].to_vec());
    room.admit(&first, now);
    assert_eq!(room.free_places(now), 0);
    assert_eq!(room.ticket(tokens[3], now).unwrap().position, Some(2));
    room.end_admission(tokens[0]);
    assert_eq!(room.admission_candidates(now), vec![tokens[2]]);
    assert_eq!(
        room.identify(tokens[0]),
        None,
        "an ended admission is no longer live"
    );
}

#[test]
fn the_wait_estimate_follows_the_recent_admission_rate() {
    let mut room = room(100);
    let start = Instant::now();
    let tokens: Vec<_> = (0..15).map(|_| QueueToken::generate()).collect();
    for (n, token) in tokens.iter().enumerate() {
        room.join(*token, user(n));
        room.confirm(*token, start);
    }
    assert_eq!(
        room.ticket(tokens[14], start)
            .unwrap()
            .estimated_wait_seconds,
        None
    );
    // Ten admissions over ten seconds: one a second.
    for (n, token) in tokens.iter().take(10).enumerate() {
        room.admit(&[*token], start + Duration::from_secs(n as u64 + 1));
    }
    let now = start + Duration::from_secs(11);
    let ticket = room.ticket(tokens[14], now).unwrap();
    assert_eq!(ticket.position, Some(5));
    assert_eq!(ticket.estimated_wait_seconds, Some(5));
    // Long after, the old admissions fall out of the window: unknown again.
    let much_later = now + ESTIMATE_WINDOW + Duration::from_secs(10);
    assert_eq!(
        room.ticket(tokens[14], much_later)
            .unwrap()
            .estimated_wait_seconds,
        None
    );
}

/// A room with three stored waiters who joined at `start`, in line order.
fn three_waiting(start: Instant) -> (Room, Vec<QueueToken>) {
    let mut room = room(0);
    let tokens: Vec<_> = (0..3).map(|_| QueueToken::generate()).collect();
    for (n, token) in tokens.iter().enumerate() {
        room.join(*token, user(n));
        room.confirm(*token, start);
    }
    (room, tokens)
}

#[test]
fn idle_waiters_are_found_front_first_and_polls_keep_them() {
    let start = Instant::now();
    let (mut room, tokens) = three_waiting(start);
    let later = start + Duration::from_secs(61);
    let polled = room.poll(tokens[1], start + Duration::from_secs(30));
    assert_eq!(polled.map(|t| (t.token, t.position)), Some((tokens[1], Some(2))));
    assert_eq!(room.idle_waiting(later, 10), vec![tokens[0], tokens[2]]);
    let leaving = room.start_leaving(&[tokens[0], tokens[2]], later);
    room.evict(&leaving);
    assert_eq!(room.ticket(tokens[1], later).unwrap().position, Some(1));
    assert_eq!(room.waiting(), 1);
}

/// The sweep finds idle waiters with a read, while polls go on; one polled
/// between that read and `start_leaving` stays, and a leaving one is not
/// answered by a poll (nor kept by it) until its eviction is decided.
#[test]
fn a_waiter_polled_after_the_scan_stays_and_a_leaving_one_is_not_answered() {
    let start = Instant::now();
    let (mut room, tokens) = three_waiting(start);
    let later = start + Duration::from_secs(61);
    let idle = room.idle_waiting(later, 10);
    assert_eq!(idle, tokens);
    assert!(
        room.poll(tokens[1], later).is_some(),
        "polled after the scan"
    );
    let leaving = room.start_leaving(&idle, later);
    assert_eq!(leaving, vec![tokens[0], tokens[2]]);

    assert_eq!(
        room.poll(tokens[0], later),
        None,
        "leaving: the actor answers"
    );
    assert_eq!(room.identify(tokens[0]), None);
    assert_eq!(
        room.ticket(tokens[1], later).unwrap().position,
        Some(2),
        "still behind it"
    );

    // The eviction of one is stored, the other's write failed: it waits again,
    // and its failed eviction did not cost it its place.
    room.evict(&leaving[..1]);
    room.stay(&leaving[1..]);
    assert_eq!(room.poll(tokens[2], later).map(|t| t.position), Some(Some(2)));
    assert_eq!(room.poll(tokens[0], later), None);
    assert_eq!(room.waiting(), 2);
}

// ---- rooms with a schedule: the pre-queue, the draw, pause, re-rate, counters ----

fn utc(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
}

/// Concert 7's room, its pre-queue open since `utc(0)`, drawing at `utc(60)`.
fn pre_queue_room(max_active: u32) -> Room {
    let schedule = RoomSchedule::parse(None, utc(60), Some(i64::from(max_active)), None).unwrap();
    let room = RoomId::Concert(ConcertId(7));
    let settings = RoomSettings::scheduled(room, &schedule, (1, None), utc(0)).unwrap();
    let restored = (settings, Totals::default());
    Room::restore(config(), restored, Vec::new(), 0, Instant::now(), |_| Instant::now()).0
}

/// `n` stored waiters, joined in order.
fn stored_waiters(room: &mut Room, n: usize, now: Instant) -> Vec<QueueToken> {
    let first_user = room.waiting() + room.admitted();
    (0..n)
        .map(|i| {
            let token = QueueToken::generate();
            room.join(token, user(first_user + i));
            room.confirm(token, now);
            token
        })
        .collect()
}

fn position(room: &Room, token: QueueToken, now: Instant) -> Option<usize> {
    room.ticket(token, now).and_then(|ticket| ticket.position)
}

#[test]
fn a_pre_queue_token_has_no_place_and_nobody_is_admitted_before_the_draw() {
    let now = Instant::now();
    let mut room = pre_queue_room(5);
    let tokens = stored_waiters(&mut room, 3, now);
    let ticket = room.poll(tokens[2], now).unwrap();
    assert_eq!(ticket.position, None);
    assert_eq!(ticket.opens_at, Some(utc(60)));
    assert_eq!(ticket.room, RoomId::Concert(ConcertId(7)));
    assert_eq!(ticket.estimated_wait_seconds, None);
    assert_eq!(room.free_places(now), 0);
    assert!(room.admission_candidates(now).is_empty());
    assert_eq!(room.status(now, utc(30)).state, RoomState::PreQueue);
    assert_eq!(room.status(now, utc(90)).state, RoomState::PreQueue, "until drawn");
}

#[test]
fn the_draw_orders_the_line_and_later_joins_stand_behind_every_drawn_token() {
    let now = Instant::now();
    let mut room = pre_queue_room(2);
    let pre_queue = stored_waiters(&mut room, 5, now);
    // One joined just before the draw and is still being written: not drawn.
    let joining = QueueToken::generate();
    room.join(joining, user(100));
    assert_eq!(room.pre_queue(), pre_queue);

    let drawn: Vec<_> = pre_queue.iter().rev().copied().collect();
    room.apply_draw(&drawn, utc(60));
    room.confirm(joining, now);
    let after = stored_waiters(&mut room, 2, now);
    for (place, token) in drawn.iter().chain([&joining]).chain(&after).enumerate() {
        assert_eq!(position(&room, *token, now), Some(place + 1), "place {place}");
    }
    assert_eq!(room.live_token_of(&user(0)), Some(pre_queue[0]), "indexes rebuilt");
    assert_eq!(room.status(now, utc(61)).state, RoomState::Open);
    assert_eq!(room.admission_candidates(now), drawn[..2].to_vec());
}

/// The whole path (the pre-queue read, the CSPRNG draw, the line rebuilt): over many
/// draws of a line of 6, each token's place is uniform. Chi-square per token with 5
/// degrees of freedom below 42: P(chi2_5 > 42) ≈ 6e-8, < 4e-7 over the 6 tokens.
#[test]
fn every_pre_queue_token_is_equally_likely_at_every_place() {
    const N: usize = 6;
    const DRAWS: usize = 12_000;
    let now = Instant::now();
    let mut counts = [[0u64; N]; N];
    for _ in 0..DRAWS {
        let mut room = pre_queue_room(1);
        let tokens = stored_waiters(&mut room, N, now);
        room.apply_draw(&crate::waiting_room::draw::draw(room.pre_queue()), utc(60));
        for (joined, token) in tokens.iter().enumerate() {
            counts[joined][position(&room, *token, now).unwrap() - 1] += 1;
        }
    }
    let expected = (DRAWS / N) as f64;
    for (joined, row) in counts.iter().enumerate() {
        let chi2: f64 = row
            .iter()
            .map(|n| (*n as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 42.0, "token {joined}: chi-square {chi2:.1}, places {row:?}");
    }
}

#[test]
fn a_restored_room_keeps_its_order_drawn_or_not() {
    let now = Instant::now();
    let rows: Vec<TokenRow> = (0..3)
        .map(|n| TokenRow {
            token: QueueToken::generate(),
            user_id: user(n),
            room: RoomId::Concert(ConcertId(7)),
            seq: 10 + n as i64,
            state: TokenState::Waiting,
            issued_at: utc(1),
            admitted_at: None,
        })
        .collect();
    let settings = pre_queue_room(1).settings().clone();
    let restore = |settings: RoomSettings| {
        let restored = (settings, Totals { admitted: 4, evicted: 2 });
        Room::restore(config(), restored, rows.clone(), 12, now, |_| now).0
    };
    let not_drawn = restore(settings.clone());
    assert_eq!(position(&not_drawn, rows[0].token, now), None, "still a pre-queue");
    assert_eq!(not_drawn.pre_queue(), rows.iter().map(|r| r.token).collect::<Vec<_>>());

    let drawn = restore(RoomSettings { drawn_at: Some(utc(60)), ..settings });
    for (place, row) in rows.iter().enumerate() {
        assert_eq!(position(&drawn, row.token, now), Some(place + 1));
    }
    let status = drawn.status(now, utc(61));
    assert_eq!((status.admitted_total, status.evicted_total), (4, 2));
}

#[test]
fn a_paused_room_admits_nobody_and_a_resumed_one_admits_at_once() {
    let now = Instant::now();
    let mut room = room(3);
    let tokens = stored_waiters(&mut room, 4, now);
    let paused = RoomSettings { paused: true, ..room.settings().clone() };
    room.set_settings(paused.clone());
    assert_eq!(room.free_places(now), 0);
    assert!(room.admission_candidates(now).is_empty());
    assert_eq!(room.status(now, utc(0)).state, RoomState::Paused);
    assert_eq!(position(&room, tokens[3], now), Some(4), "still in line");

    room.set_settings(RoomSettings { paused: false, ..paused });
    assert_eq!(room.admission_candidates(now), tokens[..3].to_vec());
}

#[test]
fn re_rating_changes_the_places_and_the_rate_and_honours_admissions_past_a_lowered_cap() {
    let now = Instant::now();
    let mut room = room(3);
    let tokens = stored_waiters(&mut room, 6, now);
    room.admit(&tokens[..3], now);
    let lowered = RoomSettings { max_active: 1, ..room.settings().clone() };
    room.set_settings(lowered.clone());
    assert_eq!(room.admitted(), 3, "admissions are honoured");
    room.end_admission(tokens[0]);
    assert_eq!(room.free_places(now), 0, "2 admitted, 1 allowed");

    let raised = RoomSettings {
        max_active: 10,
        admission_rate: NonZeroU32::new(1),
        ..lowered
    };
    room.set_settings(raised);
    assert!(room.admission_candidates(now).is_empty(), "3 admitted this second");
    let later = now + Duration::from_secs(2);
    assert_eq!(room.admission_candidates(later), vec![tokens[3]], "one a second");
    room.admit(&[tokens[3]], later);
    assert_eq!(room.rate_cap_reopens_at(), Some(later + Duration::from_secs(1)));
}

#[test]
fn admissions_and_evictions_add_to_the_counters_and_the_pace() {
    let now = Instant::now();
    let mut room = room(10);
    let tokens = stored_waiters(&mut room, 5, now);
    room.admit(&tokens[..2], now);
    let later = now + Duration::from_secs(61);
    let leaving = room.start_leaving(&tokens[2..4], later);
    room.evict(&leaving);
    let status = room.status(later, utc(61));
    assert_eq!((status.admitted_total, status.evicted_total), (2, 2));
    assert_eq!((status.waiting, status.admitted), (1, 2));
    assert_eq!(room.status(now, utc(0)).admissions_per_second, 0.2);
    assert_eq!(status.admissions_per_second, 0.0, "a minute on");
}
