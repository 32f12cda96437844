//! What the clients were told: every acknowledged write, for the checks after each
//! restart.

use super::*;

#[derive(Debug, Clone)]
pub(super) struct Hold {
    pub(super) id: i64,
    pub(super) session: i64,
    pub(super) seat: i64,
    pub(super) user: String,
}

#[derive(Debug, Clone)]
pub(super) struct Paid {
    pub(super) user: String,
    pub(super) token: String,
    pub(super) key: String,
    pub(super) reservation: i64,
    pub(super) body: Value,
}

#[derive(Debug, Default)]
pub(super) struct Stats {
    pub(super) requests: u64,
    pub(super) ok: u64,
    pub(super) refused: u64,
    pub(super) unavailable: u64,
    pub(super) lost: u64,
}

/// Every acknowledged write, and every problem the clients saw.
#[derive(Debug, Default)]
pub(super) struct Book {
    pub(super) tokens: Vec<(String, String)>,
    pub(super) admitted: HashSet<String>,
    pub(super) holds: Vec<Hold>,
    pub(super) charges: BTreeMap<String, Vec<i64>>,
    pub(super) payments: Vec<Paid>,
    /// Payments acknowledged since the last restart: replayed after the next one.
    pub(super) to_replay: Vec<Paid>,
    /// Each waiting token's last position seen.
    pub(super) last_position: HashMap<String, i64>,
    pub(super) position_checks: u64,
    pub(super) problems: Vec<String>,
    pub(super) stats: Stats,
}

impl Book {
    pub(super) fn count(&mut self, answer: &Answer) {
        self.stats.requests += 1;
        match answer.status() {
            Some(200..=299) => self.stats.ok += 1,
            Some(503) => self.stats.unavailable += 1,
            Some(_) => self.stats.refused += 1,
            None => self.stats.lost += 1,
        }
    }

    /// Flags an answer outside `allowed` (a 503 and a lost request are always
    /// allowed: the server is being killed), and any error outside the contract's shape.
    pub(super) fn expect(&mut self, what: &str, answer: &Answer, allowed: &[u16]) {
        self.count(answer);
        if let Answer::Lost {
            timed_out: true,
            error,
            ..
        } = answer
        {
            self.problems.push(format!(
                "{what}: no answer within {CLIENT_TIMEOUT:?}: {error}"
            ));
        }
        let Answer::Http { status, body, .. } = answer else {
            return;
        };
        if *status >= 400 && !contract_error(*status, body) {
            self.problems.push(format!(
                "{what}: {status} not in the contract's shape: {body}"
            ));
        }
        if *status != 503 && !allowed.contains(status) {
            self.problems
                .push(format!("{what}: unexpected {status}: {body}"));
        }
    }

    /// A queue answer for `user`: its token is acknowledged; its position must not
    /// have grown since the last one seen.
    pub(super) fn observe(&mut self, user: &str, body: &Value) -> Option<(String, bool)> {
        let token = token_of(body)?;
        if body["userId"] != user {
            self.problems.push(format!(
                "a queue answer for {user} names another user: {body}"
            ));
        }
        let (admitted, position) = queue_state(body);
        if admitted {
            self.admitted.insert(token.clone());
            self.last_position.remove(&token);
        } else {
            self.position_checks += 1;
            if let Some(&last) = self.last_position.get(&token)
                && position > last
            {
                self.problems.push(format!(
                    "{user}'s waiting token went from position {last} to {position}"
                ));
            }
            self.last_position.insert(token.clone(), position);
        }
        Some((token, admitted))
    }
}
