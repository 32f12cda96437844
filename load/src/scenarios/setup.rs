//! Setup phases shared by the scenarios: issuing tokens (the burst machinery), waiting
//! until users are admitted, and creating sessions through the admin routes.
//!
//! Each is a bounded load phase like the measured ones (count and time), so a slow or
//! misconfigured server makes setup stop with what it has rather than hang.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use concert_client::{ConcertCreated, Error, NewSession, SessionCreated, Ticket, decode, routes};
use hyper::StatusCode;

use crate::client::{Req, Requests};
use crate::driver::{Bounds, Driver, Outcome, Workload};

/// Issues one token per request for users `{prefix}-{index}`.
pub struct IssueTokens {
    /// Request builder.
    pub requests: Requests,
    /// User id prefix (distinct per run and purpose).
    pub prefix: String,
}

impl Workload for IssueTokens {
    type Local = Vec<(u64, Ticket)>;

    fn request(&self, index: u64, _rng: &mut fastrand::Rng) -> Req {
        self.requests
            .of(routes::join(&format!("{}-{index}", self.prefix)))
    }

    fn observe(&self, local: &mut Self::Local, index: u64, status: StatusCode, body: &Bytes) {
        if let Ok(t) = decode::<Ticket>(status, body) {
            local.push((index, t));
        }
    }
}

/// Tokens in request order, with the phase's outcome (locals emptied).
pub struct Issued {
    /// The tickets answered 200, ordered by request index.
    pub tickets: Vec<Ticket>,
    /// The phase's counts and interval.
    pub outcome: Outcome<()>,
}

/// Issues up to `count` tokens for users `{prefix}-0..count` within `time`.
pub async fn issue_tokens(
    driver: &Driver,
    label: &str,
    prefix: &str,
    count: u64,
    time: Duration,
) -> Result<Issued> {
    let work = Arc::new(IssueTokens {
        requests: driver.requests.clone(),
        prefix: prefix.to_string(),
    });
    let bounds = Bounds {
        requests: count,
        duration: time,
    };
    let outcome = driver.run(label, bounds, work).await?;
    let (tickets, outcome) = ordered(outcome);
    Ok(Issued { tickets, outcome })
}

/// Merges per-worker `(index, item)` lists into one list in index order.
pub fn ordered<T>(outcome: Outcome<Vec<(u64, T)>>) -> (Vec<T>, Outcome<()>) {
    let Outcome {
        recorder,
        elapsed,
        locals,
        reconnects,
        nodes,
    } = outcome;
    let mut all: Vec<(u64, T)> = locals.into_iter().flatten().collect();
    all.sort_unstable_by_key(|(i, _)| *i);
    let rest = Outcome {
        recorder,
        elapsed,
        locals: Vec::new(),
        reconnects,
        nodes,
    };
    (all.into_iter().map(|(_, t)| t).collect(), rest)
}

/// Polls a fixed list of tokens, each once, keeping each answer's ticket.
struct PollEach {
    requests: Requests,
    tokens: Arc<Vec<String>>,
}

impl Workload for PollEach {
    type Local = Vec<(u64, Ticket)>;

    fn request(&self, index: u64, _rng: &mut fastrand::Rng) -> Req {
        self.requests.of(routes::poll(&self.tokens[index as usize]))
    }

    fn observe(&self, local: &mut Self::Local, index: u64, status: StatusCode, body: &Bytes) {
        if let Ok(t) = decode::<Ticket>(status, body) {
            local.push((index, t));
        }
    }
}

/// Issues `count` tokens for users `{prefix}-…` and polls them until admitted, within
/// `time`. Returns the admitted tokens (fewer than `count` if the server admits fewer)
/// and, if some are still waiting, the nearest place in line among them.
pub async fn admitted_users(
    driver: &Driver,
    prefix: &str,
    count: u64,
    time: Duration,
) -> Result<(Vec<String>, Option<u64>)> {
    let deadline = Instant::now() + time;
    let issued = issue_tokens(driver, "users", prefix, count, time).await?;
    let (mut admitted, mut waiting): (Vec<Ticket>, Vec<Ticket>) =
        issued.tickets.into_iter().partition(|t| t.is_processing);
    // Admission is event-driven, but a batch of joins may still be settling: poll the rest
    // in rounds until they are in, the time is up, or the line stops moving (the server
    // admits fewer than we need: waiting longer would not help).
    let mut stalled_rounds = 0;
    while !waiting.is_empty() && Instant::now() < deadline && stalled_rounds < 8 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let tokens: Arc<Vec<String>> = Arc::new(waiting.iter().map(|t| t.token.clone()).collect());
        let work = Arc::new(PollEach {
            requests: driver.requests.clone(),
            tokens: tokens.clone(),
        });
        let left = deadline.saturating_duration_since(Instant::now());
        let bounds = Bounds {
            requests: tokens.len() as u64,
            duration: left,
        };
        let (answers, _) = ordered(driver.run("admission", bounds, work).await?);
        let (now_in, still): (Vec<Ticket>, Vec<Ticket>) =
            answers.into_iter().partition(|t| t.is_processing);
        stalled_rounds = if now_in.is_empty() {
            stalled_rounds + 1
        } else {
            0
        };
        admitted.extend(now_in);
        waiting = still;
    }
    let nearest = waiting.iter().filter_map(|t| t.waiting_number).min();
    Ok((admitted.into_iter().map(|t| t.token).collect(), nearest))
}

/// Creates sessions of one concert through the admin routes.
struct CreateSessions {
    requests: Requests,
    admin_key: String,
    concert_id: i64,
    session: NewSession,
}

impl Workload for CreateSessions {
    type Local = Vec<(u64, Result<i64, u16>)>;

    fn request(&self, _index: u64, _rng: &mut fastrand::Rng) -> Req {
        self.requests.of(routes::create_session(
            &self.admin_key,
            self.concert_id,
            &self.session,
        ))
    }

    fn observe(&self, local: &mut Self::Local, index: u64, status: StatusCode, body: &Bytes) {
        let created = decode::<SessionCreated>(status, body);
        local.push((
            index,
            created.map(|c| c.session_id).map_err(|_| status.as_u16()),
        ));
    }
}

/// Creates a concert titled `title` with `count` sessions of `seats` seats; returns the
/// session ids. Fails unless every session was created.
pub async fn create_sessions(
    driver: &Driver,
    admin_key: Option<&str>,
    title: &str,
    count: u64,
    seats: u32,
    time: Duration,
) -> Result<Vec<i64>> {
    let key = admin_key
        .filter(|k| !k.is_empty())
        .context("this scenario creates sessions: pass --admin-key (or CONCERT_ADMIN_KEY) equal to the server's CONCERT_ADMIN_KEY")?;
    let concert = driver.requests.of(routes::create_concert(key, title));
    let (status, body) = driver.send_one(concert, time).await?;
    let concert = match decode::<ConcertCreated>(status, &body) {
        Ok(concert) => concert,
        Err(Error::Api(refusal)) if matches!(refusal.status, 401 | 403) => bail!(
            "admin routes refused ({status}): start the server with CONCERT_ADMIN_KEY equal to --admin-key"
        ),
        Err(e) => return Err(e).context("POST /admin/concerts"),
    };
    let work = Arc::new(CreateSessions {
        requests: driver.requests.clone(),
        admin_key: key.to_string(),
        concert_id: concert.concert_id,
        session: NewSession {
            date: "2030-07-03".to_owned(),
            seat_count: i64::from(seats),
            price: 10000,
        },
    });
    let bounds = Bounds {
        requests: count,
        duration: time,
    };
    let (results, outcome) = ordered(driver.run("sessions", bounds, work).await?);
    let ids: Vec<i64> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    if ids.len() as u64 != count {
        let refused: Vec<u16> = results.iter().filter_map(|r| r.err()).take(5).collect();
        bail!(
            "created {} of {count} sessions in {:.1}s (failed statuses, first few: {refused:?}; errors {:?})",
            ids.len(),
            outcome.elapsed.as_secs_f64(),
            outcome.summary().error_kinds
        );
    }
    Ok(ids)
}

/// Every (session index, seat number) pair once, shuffled by `seed`: the order in which
/// spread and classic hold seats, so both designs do exactly the same holds.
pub fn seat_order(sessions: u64, seats: u32, seed: u64) -> Vec<(u32, u32)> {
    let mut order: Vec<(u32, u32)> = (0..sessions as u32)
        .flat_map(|s| (1..=seats).map(move |k| (s, k)))
        .collect();
    fastrand::Rng::with_seed(seed).shuffle(&mut order);
    order
}

/// The user who holds seat `seat` of session `session`: spreading a session's seats
/// over consecutive users gives a user at most ⌈seats / users⌉ holds per session, under
/// the server's per-user limit (4) whenever there are at least 13 users for 50 seats.
pub fn holder(session: u32, seat: u32, users: usize) -> usize {
    (seat as usize - 1 + session as usize * 7) % users
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[test]
    fn seat_order_is_a_reproducible_permutation() {
        let a = seat_order(30, 50, 7);
        assert_eq!(a.len(), 1500);
        assert_eq!(a.iter().collect::<HashSet<_>>().len(), 1500);
        assert!(a.iter().all(|&(s, k)| s < 30 && (1..=50).contains(&k)));
        assert_eq!(a, seat_order(30, 50, 7));
        assert_ne!(a, seat_order(30, 50, 8));
    }

    #[test]
    fn holders_stay_under_the_per_user_limit() {
        for users in [13, 50, 1000] {
            let mut per: HashMap<(u32, usize), u32> = HashMap::new();
            for (s, k) in seat_order(40, 50, 1) {
                *per.entry((s, holder(s, k, users))).or_default() += 1;
            }
            assert!(per.values().all(|&n| n <= 4), "users={users}");
        }
    }
}
