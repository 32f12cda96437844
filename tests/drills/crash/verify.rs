//! After each restart: every acknowledged write is in the store, replays answer the
//! same, and the seat map and the line agree with it.

use super::*;

/// Everything a restarted server must still know; the problems found.
pub(super) async fn verify(
    db: &TestDb,
    api: &Api,
    book: &Mutex<Book>,
    users: &[User],
    (concert, sessions): (i64, &[i64]),
    previous_snapshot: &mut Vec<String>,
    figures: &mut Figures,
) -> Vec<String> {
    let (tokens, admitted, holds, charges, payments, replays) = {
        let mut book = book.lock().unwrap();
        let replays = std::mem::take(&mut book.to_replay);
        (
            book.tokens.clone(),
            book.admitted.clone(),
            book.holds.clone(),
            book.charges.clone(),
            book.payments.clone(),
            replays,
        )
    };
    let store = &db.store;
    let mut problems = Vec::new();

    // Tokens, and the admissions clients were told of.
    for (user, token) in &tokens {
        let parsed = QueueToken::parse(token).expect("a token the server issued");
        match store.token(parsed).await.expect("read a token") {
            None => problems.push(format!("token of {user} acknowledged but not stored")),
            Some(row) => {
                if row.user_id.as_str() != user {
                    problems.push(format!("token of {user} stored for {}", row.user_id));
                }
                if row.state == TokenState::Evicted {
                    problems.push(format!("token #{} of {user} was evicted", row.seq));
                }
                let ever_admitted = matches!(row.state, TokenState::Admitted | TokenState::Expired);
                if admitted.contains(token) && !(ever_admitted && row.admitted_at.is_some()) {
                    problems.push(format!(
                        "token #{} of {user} was answered admitted but is stored {:?}",
                        row.seq, row.state
                    ));
                }
            }
        }
    }

    // Holds, whatever became of them.
    for hold in &holds {
        match store
            .reservation(ReservationId(hold.id))
            .await
            .expect("read a reservation")
        {
            Some(row)
                if row.session_id.0 == hold.session
                    && i64::from(row.seat_number.0) == hold.seat
                    && row.user_id.as_str() == hold.user => {}
            other => problems.push(format!("hold {hold:?} acknowledged; stored: {other:?}")),
        }
    }

    // Payments: the same payment, and the reservation sold.
    for paid in &payments {
        let reservation = ReservationId(paid.reservation);
        let row = store
            .payment_for_reservation(reservation)
            .await
            .expect("read a payment");
        let same = row.as_ref().is_some_and(|row| {
            paid.body["paymentId"] == row.id.0
                && paid.body["amount"] == row.amount.0
                && paid.body["balance"] == row.balance_after.0
                && row.idempotency_key.as_ref().map(|k| k.as_str()) == Some(paid.key.as_str())
        });
        if !same {
            problems.push(format!(
                "payment {} acknowledged; stored: {row:?}",
                paid.body
            ));
        }
        let status = store
            .reservation(reservation)
            .await
            .expect("read a reservation")
            .map(|r| r.status);
        if status != Some(ReservationStatus::Paid) {
            problems.push(format!(
                "reservation {} paid but stored {status:?}",
                paid.reservation
            ));
        }
    }

    // Charges: each acknowledged amount once in the user's ledger (amounts are unique).
    problems.extend(charges_missing_from_the_ledger(db, &charges).await);
    figures.verified += (tokens.len()
        + holds.len()
        + payments.len()
        + charges.values().map(Vec::len).sum::<usize>()) as u64;

    // A payment acknowledged before the crash, retried with its key: the same answer.
    for paid in &replays {
        let answer = api.pay(&paid.token, paid.reservation, &paid.key).await;
        figures.replays += 1;
        if answer.ok() != Some(&paid.body) {
            problems.push(format!(
                "replay of {}'s payment with key {}: {answer:?}, first answer {}",
                paid.user, paid.key, paid.body
            ));
        }
    }

    // The concert and sessions the admin routes created (answered 201).
    let listed = api.sessions(concert).await;
    let ids: Vec<i64> = listed
        .ok()
        .and_then(|b| b["sessions"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s["sessionId"].as_i64())
        .collect();
    if ids != sessions {
        problems.push(format!(
            "concert {concert} lists {listed:?}, created {sessions:?}"
        ));
    }

    // The seat maps agree with the store.
    for &session in sessions {
        let live = store
            .live_reservations(SessionId(session))
            .await
            .expect("read live reservations");
        let answer = api.seats(session).await;
        let Some(list) = answer.ok().and_then(|b| b["seatList"].as_array().cloned()) else {
            problems.push(format!("seats of {session}: {answer:?}"));
            continue;
        };
        let taken: Vec<bool> = list
            .iter()
            .map(|s| s["isReservation"].as_bool().unwrap_or(false))
            .collect();
        let soon = chrono::Utc::now() + chrono::Duration::seconds(1);
        let mut live_seats = HashSet::new();
        for row in &live {
            let seat = row.seat_number.0 as usize;
            live_seats.insert(seat);
            let must_be_taken = row.status == ReservationStatus::Paid || row.expires_at > soon;
            if must_be_taken && !taken.get(seat - 1).copied().unwrap_or(false) {
                problems.push(format!(
                    "session {session} seat {seat} is {:?} in the store but shown free",
                    row.status
                ));
            }
        }
        for (index, &is_taken) in taken.iter().enumerate() {
            if is_taken && !live_seats.contains(&(index + 1)) {
                problems.push(format!(
                    "session {session} seat {} is shown taken but has no live reservation",
                    index + 1
                ));
            }
        }
    }

    // Balances: what a user is shown is the store's ledger sum.
    for user in users {
        let Some(token) = &user.token else { continue };
        let answer = api.balance(token).await;
        let Some(shown) = answer.ok().and_then(|b| b["balance"].as_i64()) else {
            continue; // the token's admission ended: no balance for it
        };
        let stored = query_i64(
            db,
            &format!(
                "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger \
                 WHERE user_id = '{}'",
                user.name
            ),
        )
        .await
        .expect("sum a ledger");
        if shown != stored {
            problems.push(format!(
                "{} is shown {shown} points; the ledger holds {stored}",
                user.name
            ));
        }
    }

    problems.extend(snapshot(db, api, book, users, previous_snapshot, figures).await);
    problems
}

/// Polls every waiting user's token twice in a row until both passes agree (nothing
/// was admitted meanwhile), then checks the line: positions distinct, in the order
/// of issue (`seq`), and in the same relative order as the previous snapshot.
pub(super) async fn snapshot(
    db: &TestDb,
    api: &Api,
    book: &Mutex<Book>,
    users: &[User],
    previous: &mut Vec<String>,
    figures: &mut Figures,
) -> Vec<String> {
    let waiting: Vec<(&str, String)> = {
        let book = book.lock().unwrap();
        users
            .iter()
            .filter_map(|u| Some((u.name.as_str(), u.token.clone()?)))
            .filter(|(_, token)| book.last_position.contains_key(token))
            .collect()
    };
    let mut problems = Vec::new();
    let mut agreed = None;
    for _ in 0..10 {
        let mut passes = Vec::new();
        for _ in 0..2 {
            let mut pass = Vec::new();
            for (user, token) in &waiting {
                let answer = api.poll(token).await;
                let mut book = book.lock().unwrap();
                book.expect("snapshot poll", &answer, &[200]);
                if let Some(body) = answer.ok()
                    && let Some((current, admitted)) = book.observe(user, body)
                {
                    if current != *token {
                        book.tokens.push(((*user).to_owned(), current.clone()));
                    }
                    pass.push((
                        token.clone(),
                        current == *token && !admitted,
                        queue_state(body).1,
                    ));
                }
            }
            passes.push(pass);
        }
        if passes[0] == passes[1] {
            agreed = passes.pop();
            break;
        }
        figures.snapshot_retries += 1;
    }
    problems.extend(std::mem::take(&mut book.lock().unwrap().problems));
    let Some(pass) = agreed else {
        return problems; // the line kept moving; the per-poll checks still ran
    };
    let mut line: Vec<(i64, String)> = pass
        .into_iter()
        .filter(|(_, still_waiting, _)| *still_waiting)
        .map(|(token, _, position)| (position, token))
        .collect();
    line.sort();
    figures.snapshots += 1;
    figures.snapshot_tokens += line.len() as u64;
    if line.windows(2).any(|w| w[0].0 == w[1].0) {
        problems.push(format!("two waiting tokens share a position: {line:?}"));
    }
    let mut last_seq = i64::MIN;
    for (position, token) in &line {
        let row = db
            .store
            .token(QueueToken::parse(token).unwrap())
            .await
            .expect("read a token");
        let seq = row.map_or(i64::MAX, |r| r.seq);
        if seq <= last_seq {
            problems.push(format!(
                "the line is not in issue order: the token at position {position} has seq \
                 {seq}, the one before it {last_seq}"
            ));
        }
        last_seq = seq;
    }
    let now: Vec<String> = line.into_iter().map(|(_, token)| token).collect();
    let kept: Vec<&String> = previous.iter().filter(|t| now.contains(t)).collect();
    let in_now: Vec<&String> = now.iter().filter(|t| previous.contains(t)).collect();
    if kept != in_now {
        problems.push("waiting tokens changed their relative order across the restart".into());
    }
    *previous = now;
    problems
}

pub(super) fn report(
    drill: &str,
    seed: u64,
    book: &Book,
    f: &Figures,
    took: Duration,
    check: &str,
) {
    let max = |v: &[Duration]| v.iter().max().copied().unwrap_or_default();
    let avg = |v: &[Duration]| v.iter().sum::<Duration>() / (v.len().max(1) as u32);
    let s = &book.stats;
    let charges: usize = book.charges.values().map(Vec::len).sum();
    say(format!(
        "{drill}: seed {seed}: {KILLS} SIGKILLs in {:.1} s; {} requests: {} 2xx, {} 4xx, \
         {} 503, {} lost to kills; acknowledged: {} tokens, {} admissions, {} holds, {charges} \
         charges, {} payments; {} acknowledged writes re-verified after restarts, {} payments \
         replayed by key; {} positions checked, {} line snapshots ({} tokens, {} retried); \
         restart to /health avg {} max {}; load before kill avg {}; concert check avg {} max {}; \
         final check: {check}",
        took.as_secs_f64(),
        s.requests,
        s.ok,
        s.refused,
        s.unavailable,
        s.lost,
        book.tokens.len(),
        book.admitted.len(),
        book.holds.len(),
        book.payments.len(),
        f.verified,
        f.replays,
        book.position_checks,
        f.snapshots,
        f.snapshot_tokens,
        f.snapshot_retries,
        ms(avg(&f.startups)),
        ms(max(&f.startups)),
        ms(avg(&f.loads)),
        ms(avg(&f.checks)),
        ms(max(&f.checks)),
    ));
}
