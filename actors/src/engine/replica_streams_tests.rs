//! Queue streams from a replica: the owner's events, woken by the changes applied, an
//! end only from a whole picture, every look reported, the cap and the close.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::SeenHook;
use crate::domain::{QueueToken, RoomId, UserId};
use crate::engine::{EngineConfig, QueueEvent};
use crate::error::EngineError;
use crate::waiting_room::{LineChange, LineReplicas, RoomSettings, Totals};

fn reset() -> LineChange {
    LineChange::Reset {
        settings: RoomSettings::always_open(RoomId::Site, 1, None),
        totals: Totals::default(),
    }
}

/// Joined and stored, as the owner records a join.
fn joined(token: QueueToken, n: usize) -> [LineChange; 2] {
    let user_id = UserId::parse(&format!("u{n}")).unwrap();
    [
        LineChange::Joined { token, user_id },
        LineChange::Confirmed { token },
    ]
}

/// A replica pictured whole with `count` waiters, front first.
fn line(config: &EngineConfig, count: usize) -> (LineReplicas, Vec<QueueToken>) {
    let replicas = config.line_replicas();
    let tokens: Vec<QueueToken> = (0..count).map(|_| QueueToken::generate()).collect();
    let mut changes = vec![reset()];
    for (n, token) in tokens.iter().enumerate() {
        changes.extend(joined(*token, n));
    }
    replicas.apply(RoomId::Site, &changes, Instant::now());
    (replicas, tokens)
}

fn counting() -> (SeenHook, Arc<AtomicUsize>) {
    let looks = Arc::new(AtomicUsize::new(0));
    let counted = looks.clone();
    let hook: SeenHook = Arc::new(move |_| {
        counted.fetch_add(1, Ordering::Relaxed);
    });
    (hook, looks)
}

fn position(event: Option<QueueEvent>) -> (Option<usize>, bool) {
    match event {
        Some(QueueEvent::Ticket(ticket)) => (ticket.position, ticket.admitted),
        other => panic!("a ticket expected, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_replica_stream_says_the_place_as_it_moves_then_the_admission_last() {
    let config = EngineConfig::default();
    let streams = config.replica_streams();
    let (replicas, tokens) = line(&config, 3);
    let (seen, looks) = counting();
    let mut watch = streams
        .open(&replicas, tokens[2], seen)
        .expect("the replica holds it")
        .expect("under the cap");
    assert_eq!(position(watch.next().await), (Some(3), false));
    let admit = |tokens: &[QueueToken]| LineChange::Admitted {
        tokens: tokens.to_vec(),
    };
    replicas.apply(RoomId::Site, &[admit(&tokens[..1])], Instant::now());
    let before = Instant::now();
    assert_eq!(position(watch.next().await), (Some(2), false));
    assert!(
        before.elapsed() <= Duration::from_secs(1),
        "within its second"
    );
    replicas.apply(RoomId::Site, &[admit(&tokens[1..])], Instant::now());
    assert_eq!(position(watch.next().await), (Some(0), true));
    assert_eq!(watch.next().await, None, "the admission is the last event");
    assert!(
        looks.load(Ordering::Relaxed) >= 3,
        "the opening and each look reported"
    );
}

#[tokio::test(start_paused = true)]
async fn a_picture_in_parts_ends_no_stream_until_whole_then_an_eviction_does() {
    let config = EngineConfig::default();
    let streams = config.replica_streams();
    let (replicas, tokens) = line(&config, 2);
    let (seen, _) = counting();
    let mut watch = streams.open(&replicas, tokens[1], seen).unwrap().unwrap();
    assert_eq!(position(watch.next().await), (Some(2), false));
    // A new picture starts: until it is whole, a token it does not hold yet has not
    // ended (nothing but keep-alives).
    replicas.apply(RoomId::Site, &[reset()], Instant::now());
    let quiet = tokio::time::timeout(config.stream_keep_alive / 2, watch.next()).await;
    assert!(quiet.is_err(), "nothing said mid-picture: {quiet:?}");
    // The rest of the picture, then another change: whole.
    let user_id = UserId::parse("u1").unwrap();
    let waiters = vec![(
        tokens[1],
        user_id,
        crate::waiting_room::WaiterStage::Waiting,
    )];
    replicas.apply(
        RoomId::Site,
        &[LineChange::Waiters { waiters }],
        Instant::now(),
    );
    replicas.apply(
        RoomId::Site,
        &joined(QueueToken::generate(), 9),
        Instant::now(),
    );
    assert_eq!(position(watch.next().await), (Some(1), false));
    // Its eviction, as the owner writes it: leaving, then evicted.
    let evicted = vec![tokens[1]];
    let leaving = LineChange::Leaving {
        tokens: evicted.clone(),
    };
    replicas.apply(RoomId::Site, &[leaving], Instant::now());
    let evicted = LineChange::Evicted { tokens: evicted };
    replicas.apply(RoomId::Site, &[evicted], Instant::now());
    assert_eq!(
        watch.next().await,
        Some(QueueEvent::Expired(EngineError::TokenExpired))
    );
    assert_eq!(watch.next().await, None);
}

#[tokio::test(start_paused = true)]
async fn replica_streams_are_capped_not_opened_for_unknown_tokens_and_closed() {
    let config = EngineConfig {
        max_streams: 1,
        ..EngineConfig::default()
    };
    let streams = config.replica_streams();
    let (replicas, tokens) = line(&config, 2);
    let (seen, _) = counting();
    assert!(
        streams
            .open(&replicas, QueueToken::generate(), seen.clone())
            .is_none(),
        "a token the replica does not hold is not served here"
    );
    let mut watch = streams
        .open(&replicas, tokens[0], seen.clone())
        .unwrap()
        .unwrap();
    assert!(matches!(
        streams.open(&replicas, tokens[1], seen.clone()),
        Some(Err(EngineError::Overloaded))
    ));
    assert_eq!(streams.open_streams().get(), 1);
    watch.next().await.expect("its first ticket");
    streams.close();
    assert_eq!(watch.next().await, None, "closed");
    drop(watch);
    assert!(
        streams.open(&replicas, tokens[1], seen).unwrap().is_ok(),
        "a slot given back"
    );
}
