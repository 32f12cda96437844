//! A replica fed its owner's changes answers every poll as the owner does.

use std::collections::HashMap;
use std::time::Duration;

use proptest::prelude::*;
use tokio::time::Instant;

use super::LineReplicas;
use crate::domain::{QueueToken, RoomId, UserId};
use crate::waiting_room::changes::LineChange;
use crate::waiting_room::room::{Room, RoomConfig, Ticket};
use crate::waiting_room::schedule::{RoomSettings, Totals};

fn config() -> RoomConfig {
    RoomConfig {
        max_active: 5,
        active_ttl: Duration::from_secs(600),
        waiting_idle: Duration::from_secs(60),
        admitted_idle: Duration::from_secs(120),
        token_retention: Duration::from_secs(7 * 86_400),
        admission_rate_per_sec: None,
    }
}

fn owner(max_active: u32, now: Instant) -> Room {
    let settings = RoomSettings::always_open(RoomId::Site, max_active, None);
    let mut room = Room::empty(config(), settings, Totals::default(), now);
    room.record_changes();
    room
}

/// What the owner does to its line, as the actor would.
#[derive(Debug, Clone)]
enum Op {
    Join,
    Confirm(usize),
    Abandon(usize),
    Admit,
    End(usize),
    StartLeaving(usize),
    Evict,
    Stay,
    Pause(bool),
    Rerate(u32),
    Draw,
    /// The sink was full: the next batch is a whole picture.
    Lost,
    Tick,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Join),
        4 => any::<usize>().prop_map(Op::Confirm),
        1 => any::<usize>().prop_map(Op::Abandon),
        2 => Just(Op::Admit),
        1 => any::<usize>().prop_map(Op::End),
        1 => any::<usize>().prop_map(Op::StartLeaving),
        1 => Just(Op::Evict),
        1 => Just(Op::Stay),
        1 => any::<bool>().prop_map(Op::Pause),
        1 => (1u32..8).prop_map(Op::Rerate),
        1 => Just(Op::Draw),
        1 => Just(Op::Lost),
        1 => Just(Op::Tick),
    ]
}

fn pick<T: Copy>(items: &[T], n: usize) -> Option<T> {
    (!items.is_empty()).then(|| items[n % items.len()])
}

/// The owner's changes cross as the cluster sends them: JSON.
fn over_the_wire(changes: Vec<LineChange>) -> Vec<LineChange> {
    let json = serde_json::to_vec(&changes).expect("changes serialize");
    serde_json::from_slice(&json).expect("changes deserialize")
}

/// The answer without the wait estimate, which rests on the replica's own clock of
/// recent admissions (the same as the owner's only between whole pictures).
fn answer(ticket: Option<Ticket>) -> Option<Ticket> {
    ticket.map(|ticket| Ticket {
        estimated_wait_seconds: None,
        ..ticket
    })
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut now = Instant::now();
    let mut owner = owner(3, now);
    let replicas = LineReplicas::new(config());
    let mut tokens: Vec<QueueToken> = Vec::new();
    let mut joining: Vec<QueueToken> = Vec::new();
    let mut leaving: Vec<QueueToken> = Vec::new();
    let mut last_position: HashMap<QueueToken, usize> = HashMap::new();
    for (n, op) in ops.into_iter().enumerate() {
        match op {
            Op::Join => {
                let token = QueueToken::generate();
                owner.join(token, UserId::parse(&format!("u{n}")).unwrap());
                owner.take_seq();
                tokens.push(token);
                joining.push(token);
            }
            Op::Confirm(i) => {
                if let Some(token) = pick(&joining, i) {
                    owner.confirm(token, now);
                    joining.retain(|t| *t != token);
                }
            }
            Op::Abandon(i) => {
                if let Some(token) = pick(&joining, i) {
                    owner.abandon(token);
                    joining.retain(|t| *t != token);
                }
            }
            Op::Admit => {
                let candidates = owner.admission_candidates(now);
                owner.admit(&candidates, now);
            }
            Op::End(i) => {
                let admitted: Vec<_> = owner.admissions().map(|(t, _, _)| t).collect();
                if let Some(token) = pick(&admitted, i) {
                    owner.end_admission(token);
                }
            }
            Op::StartLeaving(i) => {
                // Idle by then: everyone is, an hour on.
                let idle = owner.idle_waiting(now + Duration::from_secs(3600), 1 + i % 3);
                leaving.extend(owner.start_leaving(&idle, now + Duration::from_secs(3600)));
            }
            Op::Evict => owner.evict(&std::mem::take(&mut leaving)),
            Op::Stay => owner.stay(&std::mem::take(&mut leaving)),
            Op::Pause(paused) => {
                let settings = RoomSettings {
                    paused,
                    ..owner.settings().clone()
                };
                owner.set_settings(settings);
            }
            Op::Rerate(max_active) => {
                let settings = RoomSettings {
                    max_active,
                    ..owner.settings().clone()
                };
                owner.set_settings(settings);
            }
            Op::Draw => {
                if leaving.is_empty() {
                    let mut drawn = owner.pre_queue();
                    drawn.reverse();
                    owner.apply_draw(&drawn, chrono::Utc::now());
                    last_position.clear();
                }
            }
            Op::Lost => {
                owner.take_changes();
                owner.want_whole_picture();
            }
            Op::Tick => now += Duration::from_millis(700),
        }
        if matches!(op, Op::Lost) {
            continue;
        }
        let changes = over_the_wire(owner.take_changes());
        replicas.apply(RoomId::Site, &changes, now);
        prop_assert!(replicas.is_ready(RoomId::Site));
        for token in &tokens {
            let theirs = replicas.poll(Some(RoomId::Site), *token, now);
            prop_assert_eq!(answer(theirs.clone()), answer(owner.poll(*token, now)));
            if let Some(position) = theirs.and_then(|t| t.position)
                && let Some(before) = last_position.insert(*token, position)
            {
                prop_assert!(position <= before, "a position grew: {before} -> {position}");
            }
        }
    }
    Ok(())
}

proptest! {
    /// Random joins, writes decided either way, admissions, ends, evictions, pauses,
    /// re-rates, draws and lost batches: the replica answers each poll as the owner.
    #[test]
    fn a_replica_answers_every_poll_as_its_owner(ops in proptest::collection::vec(op(), 1..120)) {
        run(ops)?;
    }
}

#[test]
fn the_wait_estimate_agrees_between_whole_pictures() {
    let mut now = Instant::now();
    let mut owner = owner(1, now);
    let replicas = LineReplicas::new(config());
    replicas.apply(RoomId::Site, &owner.take_changes(), now);
    let tokens: Vec<_> = (0..4).map(|_| QueueToken::generate()).collect();
    for (n, token) in tokens.iter().enumerate() {
        owner.join(*token, UserId::parse(&format!("u{n}")).unwrap());
        owner.confirm(*token, now);
    }
    for _ in 0..2 {
        let candidates = owner.admission_candidates(now);
        owner.admit(&candidates, now);
        replicas.apply(RoomId::Site, &owner.take_changes(), now);
        owner.end_admission(candidates[0]);
        now += Duration::from_secs(2);
    }
    replicas.apply(RoomId::Site, &owner.take_changes(), now);
    let last = tokens[3];
    let theirs = replicas.poll(None, last, now).unwrap();
    assert_eq!(Some(theirs.clone()), owner.poll(last, now));
    assert!(theirs.estimated_wait_seconds.is_some());
}

#[test]
fn a_replica_answers_nothing_before_its_first_whole_picture_nor_unknown_tokens() {
    let now = Instant::now();
    let mut owner = owner(1, now);
    let first = owner.take_changes();
    let token = QueueToken::generate();
    owner.join(token, UserId::parse("late").unwrap());
    owner.confirm(token, now);
    let replicas = LineReplicas::new(config());
    replicas.apply(RoomId::Site, &owner.take_changes(), now);
    assert!(!replicas.is_ready(RoomId::Site), "deltas alone picture nothing");
    assert_eq!(replicas.poll(None, token, now), None);
    replicas.apply(RoomId::Site, &first, now);
    assert_eq!(replicas.poll(None, token, now), None, "joined after the picture it has");
    owner.want_whole_picture();
    replicas.apply(RoomId::Site, &owner.take_changes(), now);
    assert_eq!(replicas.poll(None, token, now).unwrap().position, Some(1));
    assert_eq!(replicas.poll(None, QueueToken::generate(), now), None);
    let concert = RoomId::Concert(crate::domain::ConcertId::parse(1).unwrap());
    assert_eq!(replicas.poll(Some(concert), token, now), None, "another room's");
    assert!(replicas.all_ready());
    replicas.forget();
    assert!(!replicas.all_ready(), "a forgotten room wants a picture");
    assert_eq!(replicas.poll(None, token, now), None);
}
