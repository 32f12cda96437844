//! Reservations over time: each one's timestamps agree with its status, no hold
//! expired before its deadline or paid after it, and no user over the hold limit in
//! force at the moment of any hold. These compare instants, so they read the
//! reservations and compare in Rust: Postgres' `TIMESTAMPTZ` and SQLite's RFC 3339
//! text need no dialect.

use chrono::{DateTime, Utc};

use super::db::Db;
use super::limits::LimitsInForce;
use super::report::{Code, Violation};
use super::{CheckError, PAYMENT_DEADLINE_SLACK};

pub(super) async fn holds(
    db: &mut Db,
    limits: &LimitsInForce,
    out: &mut Vec<Violation>,
) -> Result<(), CheckError> {
    let rows: Vec<FactsRow> = db.rows(RESERVATION_FACTS).await?;
    let facts: Vec<ReservationFacts> = rows.into_iter().map(ReservationFacts::from).collect();
    reservation_times(&facts, limits, out);
    Ok(())
}

const RESERVATION_FACTS: &str = "SELECT CAST(r.id AS BIGINT), CAST(r.session_id AS BIGINT), \
        r.user_id, r.status, r.held_at, r.expires_at, r.ended_at, p.paid_at \
     FROM reservations r LEFT JOIN payments p ON p.reservation_id = r.id \
     ORDER BY r.session_id, r.user_id, r.held_at, r.id";

/// A reservation with its payment's time, for the checks that compare instants.
#[derive(Debug, Clone)]
struct ReservationFacts {
    id: i64,
    session_id: i64,
    user_id: String,
    status: String,
    held_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
    paid_at: Option<DateTime<Utc>>,
}

/// A row of [`RESERVATION_FACTS`], positionally.
type FactsRow = (
    i64,
    i64,
    String,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

impl From<FactsRow> for ReservationFacts {
    fn from(row: FactsRow) -> Self {
        let (id, session_id, user_id, status, held_at, expires_at, ended_at, paid_at) = row;
        Self {
            id,
            session_id,
            user_id,
            status,
            held_at,
            expires_at,
            ended_at,
            paid_at,
        }
    }
}

impl ReservationFacts {
    /// When the hold stopped counting against its user's limit: its deadline, or
    /// earlier if it was released, ended or paid before (a sold seat does not count).
    fn hold_ends(&self) -> DateTime<Utc> {
        [Some(self.expires_at), self.ended_at, self.paid_at]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(self.expires_at)
    }
}

fn reservation_times(rows: &[ReservationFacts], limits: &LimitsInForce, out: &mut Vec<Violation>) {
    // A reservation with two payments appears twice; keep its first payment (the
    // duplicate is reported by the payment checks).
    let mut facts: Vec<&ReservationFacts> = Vec::with_capacity(rows.len());
    for row in rows {
        if facts.last().is_none_or(|last| last.id != row.id) {
            facts.push(row);
        }
    }

    for r in &facts {
        let status = r.status.as_str();
        let consistent = match status {
            "held" | "paid" => r.ended_at.is_none(),
            "expired" | "released" => r.ended_at.is_some(),
            _ => false,
        };
        if !consistent || r.expires_at < r.held_at {
            let ended = r
                .ended_at
                .map_or_else(|| "no ended_at".to_owned(), |at| format!("ended_at {at}"));
            out.push(Violation::new(
                Code::ReservationLifecycle,
                format!(
                    "reservation {} is {status} with held_at {}, expires_at {}, {ended}",
                    r.id, r.held_at, r.expires_at
                ),
            ));
        }
        if status == "expired"
            && let Some(ended) = r.ended_at
            && ended < r.expires_at
        {
            out.push(Violation::new(
                Code::HoldExpiredEarly,
                format!(
                    "reservation {} was expired at {ended}, before its deadline {}",
                    r.id, r.expires_at
                ),
            ));
        }
        let slack = chrono::Duration::from_std(PAYMENT_DEADLINE_SLACK).unwrap_or_default();
        if let Some(paid) = r.paid_at
            && paid > r.expires_at + slack
        {
            out.push(Violation::new(
                Code::PaidAfterExpiry,
                format!(
                    "reservation {} was paid at {paid}, after its deadline {}",
                    r.id, r.expires_at
                ),
            ));
        }
    }

    // The hold limit in force at the moment of each hold: the holds of the same user
    // in the same session that were taken by then and had not yet ended (rows are
    // sorted by session, user, held_at).
    for group in facts.chunk_by(|a, b| a.session_id == b.session_id && a.user_id == b.user_id) {
        for (i, r) in group.iter().enumerate() {
            let t = r.held_at;
            let live: Vec<i64> = group[..=i]
                .iter()
                .filter(|q| q.held_at <= t && q.hold_ends() > t)
                .map(|q| q.id)
                .collect();
            let limit = limits.at(t).max_holds_per_user;
            if live.len() as u64 > limit {
                out.push(Violation::new(
                    Code::HoldLimitExceeded,
                    format!(
                        "user {} had {} live holds in session {} when reservation {} was \
                         held at {t} (limit {}; live: {live:?})",
                        r.user_id,
                        live.len(),
                        r.session_id,
                        r.id,
                        limit
                    ),
                ));
            }
        }
    }
}
