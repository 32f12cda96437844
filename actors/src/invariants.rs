//! `concert check`: reads a database and verifies every invariant the engine and the
//! schema promise, independent of any running actor.
//!
//! [`check`] opens its own connection to the `DATABASE_URL` (Postgres or SQLite),
//! reads everything in one read-only snapshot (`REPEATABLE READ` on Postgres, one
//! read transaction on SQLite), so it may run beside a live server, and answers a
//! [`Report`]: every [`Violation`] found, each with a stable [`Code`] and a message
//! for people, and a tally of what was read for the one-line summary.
//!
//! Most checks are one standard-SQL query that runs unchanged on both backends and
//! returns only the offending rows. Those that compare instants (the hold limit at
//! the moment of each hold, a hold expired early, a payment after expiry) read the
//! reservations and compare in Rust, so that Postgres' `TIMESTAMPTZ` and SQLite's
//! RFC 3339 text need no dialect.
//!
//! Several of these invariants are also constraints of the schema (a unique index,
//! a `CHECK`, a foreign key): the check verifies them anyway, because a database
//! restored from elsewhere, or a future migration, may not carry them.
//!
//! Tokens and idempotency keys are secrets of their users and never appear in a
//! message: tokens are named by their `seq` (their place in the order of issue).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{ConnectOptions, Connection, FromRow};

/// The configured limits the check holds the data to: pass what the server runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `CONCERT_MAX_ACTIVE`: admitted tokens at once.
    pub max_active: u64,
    /// `CONCERT_MAX_HOLDS_PER_USER`: live holds per user per session.
    pub max_holds_per_user: u64,
}

impl Default for Limits {
    /// The contract's defaults (100 admitted, 4 holds).
    fn default() -> Self {
        Self {
            max_active: 100,
            max_holds_per_user: 4,
        }
    }
}

/// How late a payment may be timestamped after its hold's deadline. The engine
/// checks the deadline and reads the clock for `paid_at` with no await in between,
/// so a real gap is microseconds; a second leaves room for a descheduled thread.
pub const PAYMENT_DEADLINE_SLACK: Duration = Duration::from_secs(1);

/// What kind of invariant a [`Violation`] breaks. [`Code::as_str`] is stable: scripts
/// may match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// A seat has two or more live (held or paid) reservations. (Schema: unique partial index.)
    SeatDoubleBooked,
    /// A session has more live reservations than seats.
    SessionOversold,
    /// A reservation names a seat outside `1..=seat_count`. (Schema: foreign key to `seats`.)
    SeatOutOfRange,
    /// A reservation names a session that does not exist. (Schema: foreign key.)
    UnknownSession,
    /// A session's seat rows are not exactly `1..=seat_count`.
    SeatRowsMismatch,
    /// A reservation's timestamps disagree with its status (an ended hold without
    /// `ended_at`, a live one with it, an expiry before the hold).
    ReservationLifecycle,
    /// A hold was expired before its deadline.
    HoldExpiredEarly,
    /// A user had more live holds in one session than `max_holds_per_user`.
    HoldLimitExceeded,
    /// A paid reservation has no payment.
    PaidWithoutPayment,
    /// A reservation has two or more payments. (Schema: `payments.reservation_id UNIQUE`.)
    PaymentDuplicated,
    /// A payment's reservation is not paid (or does not exist).
    PaymentForUnpaid,
    /// A payment's user or amount differs from its reservation's holder or price.
    PaymentMismatch,
    /// A payment was made after its hold's deadline.
    PaidAfterExpiry,
    /// A payment has no ledger debit.
    DebitMissing,
    /// A payment has two or more ledger debits. (Schema: `ledger.payment_id UNIQUE`.)
    DebitDuplicated,
    /// A payment's debit is not minus the reservation's price.
    DebitWrongAmount,
    /// A ledger row is malformed: a debit of no payment (or of another user's), a
    /// charge that is not positive or names a payment. (Schema: `CHECK`, foreign key.)
    LedgerEntryInvalid,
    /// A wallet's balance is not the sum of its ledger rows (or ledger rows have no wallet).
    WalletLedgerMismatch,
    /// A wallet's balance is negative. (Schema: `CHECK (balance >= 0)`.)
    WalletNegative,
    /// A user's ledger, summed in order, went below zero at some row.
    BalanceWentNegative,
    /// A payment's `balance_after` is not the user's ledger sum through its debit.
    BalanceAfterMismatch,
    /// One user used one idempotency key for two payments. (Schema: unique partial index.)
    IdempotencyKeyTwice,
    /// More tokens are admitted than `max_active`.
    AdmittedOverLimit,
    /// A user has two or more live (waiting or admitted) tokens. (Schema: unique partial index.)
    TokenLiveTwice,
    /// A token's timestamps disagree with its state (an admitted token without
    /// `admitted_at`, a waiting one with it, an ended one without `ended_at`, …).
    TokenLifecycle,
    /// A waiting token was issued before a token that has been admitted: the line
    /// was not served first in, first out.
    QueueOrder,
}

impl Code {
    /// Every code, in report order.
    pub const ALL: [Code; 26] = [
        Code::SeatDoubleBooked,
        Code::SessionOversold,
        Code::SeatOutOfRange,
        Code::UnknownSession,
        Code::SeatRowsMismatch,
        Code::ReservationLifecycle,
        Code::HoldExpiredEarly,
        Code::HoldLimitExceeded,
        Code::PaidWithoutPayment,
        Code::PaymentDuplicated,
        Code::PaymentForUnpaid,
        Code::PaymentMismatch,
        Code::PaidAfterExpiry,
        Code::DebitMissing,
        Code::DebitDuplicated,
        Code::DebitWrongAmount,
        Code::LedgerEntryInvalid,
        Code::WalletLedgerMismatch,
        Code::WalletNegative,
        Code::BalanceWentNegative,
        Code::BalanceAfterMismatch,
        Code::IdempotencyKeyTwice,
        Code::AdmittedOverLimit,
        Code::TokenLiveTwice,
        Code::TokenLifecycle,
        Code::QueueOrder,
    ];

    /// The stable machine-readable name (SCREAMING_SNAKE_CASE).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::SeatDoubleBooked => "SEAT_DOUBLE_BOOKED",
            Code::SessionOversold => "SESSION_OVERSOLD",
            Code::SeatOutOfRange => "SEAT_OUT_OF_RANGE",
            Code::UnknownSession => "UNKNOWN_SESSION",
            Code::SeatRowsMismatch => "SEAT_ROWS_MISMATCH",
            Code::ReservationLifecycle => "RESERVATION_LIFECYCLE",
            Code::HoldExpiredEarly => "HOLD_EXPIRED_EARLY",
            Code::HoldLimitExceeded => "HOLD_LIMIT_EXCEEDED",
            Code::PaidWithoutPayment => "PAID_WITHOUT_PAYMENT",
            Code::PaymentDuplicated => "PAYMENT_DUPLICATED",
            Code::PaymentForUnpaid => "PAYMENT_FOR_UNPAID",
            Code::PaymentMismatch => "PAYMENT_MISMATCH",
            Code::PaidAfterExpiry => "PAID_AFTER_EXPIRY",
            Code::DebitMissing => "DEBIT_MISSING",
            Code::DebitDuplicated => "DEBIT_DUPLICATED",
            Code::DebitWrongAmount => "DEBIT_WRONG_AMOUNT",
            Code::LedgerEntryInvalid => "LEDGER_ENTRY_INVALID",
            Code::WalletLedgerMismatch => "WALLET_LEDGER_MISMATCH",
            Code::WalletNegative => "WALLET_NEGATIVE",
            Code::BalanceWentNegative => "BALANCE_WENT_NEGATIVE",
            Code::BalanceAfterMismatch => "BALANCE_AFTER_MISMATCH",
            Code::IdempotencyKeyTwice => "IDEMPOTENCY_KEY_TWICE",
            Code::AdmittedOverLimit => "ADMITTED_OVER_LIMIT",
            Code::TokenLiveTwice => "TOKEN_LIVE_TWICE",
            Code::TokenLifecycle => "TOKEN_LIFECYCLE",
            Code::QueueOrder => "QUEUE_ORDER",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One broken invariant: what kind, and where, for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The kind (stable).
    pub code: Code,
    /// What exactly is wrong, naming the rows (ids, seat numbers, users, token `seq`s).
    pub message: String,
}

impl Violation {
    fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// How much was read: the summary of a clean check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Sessions.
    pub sessions: i64,
    /// Reservations, whatever their status.
    pub reservations: i64,
    /// Of which held.
    pub held: i64,
    /// Of which paid.
    pub paid: i64,
    /// Payments.
    pub payments: i64,
    /// Wallets.
    pub wallets: i64,
    /// Ledger rows.
    pub ledger_rows: i64,
    /// Queue tokens, whatever their state.
    pub tokens: i64,
    /// Of which waiting.
    pub waiting: i64,
    /// Of which admitted.
    pub admitted: i64,
}

/// What [`check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Every violation, grouped by check in [`Code::ALL`] order.
    pub violations: Vec<Violation>,
    /// What was read.
    pub tally: Tally,
}

impl Report {
    /// No violation.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// The distinct codes found.
    pub fn codes(&self) -> BTreeSet<Code> {
        self.violations.iter().map(|v| v.code).collect()
    }

    /// One line: what was checked, and whether every invariant holds.
    pub fn summary(&self) -> String {
        let t = &self.tally;
        let verdict = match self.violations.len() {
            0 => "every invariant holds".to_owned(),
            1 => "1 violation".to_owned(),
            n => format!("{n} violations"),
        };
        format!(
            "{} sessions, {} reservations ({} held, {} paid), {} payments, {} wallets, \
             {} ledger rows, {} tokens ({} waiting, {} admitted): {verdict}",
            t.sessions,
            t.reservations,
            t.held,
            t.paid,
            t.payments,
            t.wallets,
            t.ledger_rows,
            t.tokens,
            t.waiting,
            t.admitted,
        )
    }
}

/// Why the check could not run (as opposed to finding violations).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The URL names neither Postgres nor SQLite.
    #[error("DATABASE_URL must start with postgres://, postgresql:// or sqlite: (got {0:?})")]
    Url(String),
    /// The database could not be opened or read (missing file, no schema, …).
    #[error("database: {0}")]
    Database(String),
}

impl From<sqlx::Error> for CheckError {
    fn from(error: sqlx::Error) -> Self {
        CheckError::Database(error.to_string())
    }
}

/// Reads the database at `url` in one snapshot and verifies every invariant.
/// Nothing is written; a SQLite file that does not exist is an error, not created.
pub async fn check(url: &str, limits: &Limits) -> Result<Report, CheckError> {
    let mut db = Db::open(url).await?;
    db.begin_snapshot().await?;
    let result = run_checks(&mut db, limits).await;
    // Read-only: ending the snapshot cannot lose anything, and a failure to end it
    // does not change what was read.
    let _ = db.end_snapshot().await;
    db.close().await;
    result
}

async fn run_checks(db: &mut Db, limits: &Limits) -> Result<Report, CheckError> {
    let mut out = Vec::new();
    seats(db, &mut out).await?;
    let reservations: Vec<ReservationFacts> = db
        .rows::<FactsRow>(RESERVATION_FACTS)
        .await?
        .into_iter()
        .map(ReservationFacts::from)
        .collect();
    reservation_times(&reservations, limits, &mut out);
    payments(db, &mut out).await?;
    ledger(db, &mut out).await?;
    tokens(db, limits, &mut out).await?;
    out.sort_by_key(|v| v.code);
    Ok(Report {
        violations: out,
        tally: tally(db).await?,
    })
}

// ---- seats and sessions ----

async fn seats(db: &mut Db, out: &mut Vec<Violation>) -> Result<(), CheckError> {
    let rows: Vec<(i64, i64, i64, i64, i64)> = db
        .rows(
            "SELECT CAST(session_id AS BIGINT), CAST(seat_number AS BIGINT), COUNT(*), \
                    CAST(MIN(id) AS BIGINT), CAST(MAX(id) AS BIGINT) \
             FROM reservations WHERE status IN ('held', 'paid') \
             GROUP BY session_id, seat_number HAVING COUNT(*) > 1 ORDER BY 1, 2",
        )
        .await?;
    for (session, seat, count, first, last) in rows {
        out.push(Violation::new(
            Code::SeatDoubleBooked,
            format!(
                "session {session} seat {seat} has {count} live (held or paid) reservations \
                 (ids {first}..={last})"
            ),
        ));
    }

    let rows: Vec<(i64, i64, i64, i64)> = db
        .rows(
            "SELECT CAST(s.id AS BIGINT), CAST(s.seat_count AS BIGINT), COUNT(*), \
                    CAST(SUM(CASE WHEN r.status = 'held' THEN 1 ELSE 0 END) AS BIGINT) \
             FROM sessions s JOIN reservations r \
               ON r.session_id = s.id AND r.status IN ('held', 'paid') \
             GROUP BY s.id, s.seat_count HAVING COUNT(*) > s.seat_count ORDER BY 1",
        )
        .await?;
    for (session, seat_count, live, held) in rows {
        out.push(Violation::new(
            Code::SessionOversold,
            format!(
                "session {session} has {live} live reservations ({held} held, {} sold) \
                 for {seat_count} seats",
                live - held
            ),
        ));
    }

    let rows: Vec<(i64, i64, i64, i64, String)> = db
        .rows(
            "SELECT CAST(r.id AS BIGINT), CAST(r.session_id AS BIGINT), \
                    CAST(r.seat_number AS BIGINT), CAST(s.seat_count AS BIGINT), r.status \
             FROM reservations r JOIN sessions s ON s.id = r.session_id \
             WHERE r.seat_number < 1 OR r.seat_number > s.seat_count ORDER BY 1",
        )
        .await?;
    for (id, session, seat, seat_count, status) in rows {
        out.push(Violation::new(
            Code::SeatOutOfRange,
            format!(
                "reservation {id} ({status}) is for seat {seat} of session {session}, \
                 which has seats 1..={seat_count}"
            ),
        ));
    }

    let rows: Vec<(i64, i64, String)> = db
        .rows(
            "SELECT CAST(r.id AS BIGINT), CAST(r.session_id AS BIGINT), r.status \
             FROM reservations r LEFT JOIN sessions s ON s.id = r.session_id \
             WHERE s.id IS NULL ORDER BY 1",
        )
        .await?;
    for (id, session, status) in rows {
        out.push(Violation::new(
            Code::UnknownSession,
            format!("reservation {id} ({status}) names session {session}, which does not exist"),
        ));
    }

    let rows: Vec<(i64, i64, i64, i64, i64)> = db
        .rows(
            "SELECT CAST(s.id AS BIGINT), CAST(s.seat_count AS BIGINT), COUNT(t.seat_number), \
                    CAST(COALESCE(MIN(t.seat_number), 0) AS BIGINT), \
                    CAST(COALESCE(MAX(t.seat_number), 0) AS BIGINT) \
             FROM sessions s LEFT JOIN seats t ON t.session_id = s.id \
             GROUP BY s.id, s.seat_count \
             HAVING COUNT(t.seat_number) <> s.seat_count \
                 OR MIN(t.seat_number) <> 1 OR MAX(t.seat_number) <> s.seat_count \
             ORDER BY 1",
        )
        .await?;
    for (session, seat_count, count, min, max) in rows {
        out.push(Violation::new(
            Code::SeatRowsMismatch,
            format!(
                "session {session} has seat_count {seat_count} but {count} seat rows \
                 (numbered {min}..={max})"
            ),
        ));
    }
    Ok(())
}

// ---- reservations over time ----

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

fn reservation_times(rows: &[ReservationFacts], limits: &Limits, out: &mut Vec<Violation>) {
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

    // The hold limit, at the moment of each hold: the holds of the same user in the
    // same session that were taken by then and had not yet ended (rows are sorted by
    // session, user, held_at).
    for group in facts.chunk_by(|a, b| a.session_id == b.session_id && a.user_id == b.user_id) {
        for (i, r) in group.iter().enumerate() {
            let t = r.held_at;
            let live: Vec<i64> = group[..=i]
                .iter()
                .filter(|q| q.held_at <= t && q.hold_ends() > t)
                .map(|q| q.id)
                .collect();
            if live.len() as u64 > limits.max_holds_per_user {
                out.push(Violation::new(
                    Code::HoldLimitExceeded,
                    format!(
                        "user {} had {} live holds in session {} when reservation {} was \
                         held at {t} (limit {}; live: {live:?})",
                        r.user_id,
                        live.len(),
                        r.session_id,
                        r.id,
                        limits.max_holds_per_user
                    ),
                ));
            }
        }
    }
}

// ---- payments ----

/// A payment at odds with its reservation: id, reservation, its status, payer, holder,
/// amount, price.
type PaymentFacts = (
    i64,
    i64,
    Option<String>,
    String,
    Option<String>,
    i64,
    Option<i64>,
);

async fn payments(db: &mut Db, out: &mut Vec<Violation>) -> Result<(), CheckError> {
    let rows: Vec<(i64, i64)> = db
        .rows(
            "SELECT CAST(r.id AS BIGINT), COUNT(p.id) \
             FROM reservations r LEFT JOIN payments p ON p.reservation_id = r.id \
             WHERE r.status = 'paid' GROUP BY r.id HAVING COUNT(p.id) <> 1 ORDER BY 1",
        )
        .await?;
    for (id, count) in rows {
        out.push(if count == 0 {
            Violation::new(
                Code::PaidWithoutPayment,
                format!("reservation {id} is paid but has no payment"),
            )
        } else {
            Violation::new(
                Code::PaymentDuplicated,
                format!("reservation {id} has {count} payments"),
            )
        });
    }

    let rows: Vec<PaymentFacts> = db
        .rows(
            "SELECT CAST(p.id AS BIGINT), CAST(p.reservation_id AS BIGINT), r.status, \
                    p.user_id, r.user_id, CAST(p.amount AS BIGINT), CAST(r.price AS BIGINT) \
             FROM payments p LEFT JOIN reservations r ON r.id = p.reservation_id \
             WHERE r.id IS NULL OR r.status <> 'paid' \
                OR r.user_id <> p.user_id OR r.price <> p.amount \
             ORDER BY 1",
        )
        .await?;
    for (id, reservation, status, payer, holder, amount, price) in rows {
        match (status, holder, price) {
            (Some(status), Some(holder), Some(price)) if status == "paid" => {
                out.push(Violation::new(
                    Code::PaymentMismatch,
                    format!(
                        "payment {id} by {payer} of {amount} points is for reservation \
                         {reservation}, held by {holder} at {price} points"
                    ),
                ));
            }
            (Some(status), _, _) => out.push(Violation::new(
                Code::PaymentForUnpaid,
                format!("payment {id} is for reservation {reservation}, which is {status}"),
            )),
            (None, _, _) => out.push(Violation::new(
                Code::PaymentForUnpaid,
                format!("payment {id} is for reservation {reservation}, which does not exist"),
            )),
        }
    }

    let rows: Vec<(i64, i64, i64, i64, i64)> = db
        .rows(
            "SELECT CAST(p.id AS BIGINT), CAST(r.id AS BIGINT), CAST(r.price AS BIGINT), \
                    COUNT(l.id), CAST(COALESCE(SUM(l.amount), 0) AS BIGINT) \
             FROM payments p JOIN reservations r ON r.id = p.reservation_id \
             LEFT JOIN ledger l ON l.payment_id = p.id \
             GROUP BY p.id, r.id, r.price \
             HAVING COUNT(l.id) <> 1 OR COALESCE(SUM(l.amount), 0) <> -r.price \
             ORDER BY 1",
        )
        .await?;
    for (payment, reservation, price, debits, total) in rows {
        out.push(match debits {
            0 => Violation::new(
                Code::DebitMissing,
                format!("payment {payment} (reservation {reservation}) has no ledger debit"),
            ),
            1 => Violation::new(
                Code::DebitWrongAmount,
                format!(
                    "payment {payment} (reservation {reservation}) is debited {total}, \
                     not -{price}"
                ),
            ),
            n => Violation::new(
                Code::DebitDuplicated,
                format!(
                    "payment {payment} (reservation {reservation}) has {n} ledger debits \
                     totalling {total}"
                ),
            ),
        });
    }

    let rows: Vec<(String, i64, i64, i64)> = db
        .rows(
            "SELECT user_id, COUNT(*), CAST(MIN(id) AS BIGINT), CAST(MAX(id) AS BIGINT) \
             FROM payments WHERE idempotency_key IS NOT NULL \
             GROUP BY user_id, idempotency_key HAVING COUNT(*) > 1 ORDER BY 1, 3",
        )
        .await?;
    for (user, count, first, last) in rows {
        out.push(Violation::new(
            Code::IdempotencyKeyTwice,
            format!(
                "user {user} has {count} payments under one idempotency key \
                 (payment ids {first}..={last})"
            ),
        ));
    }
    Ok(())
}

// ---- wallets and the ledger ----

/// A malformed ledger row: id, user, kind, amount, payment id, that payment's payer.
type LedgerFacts = (i64, String, String, i64, Option<i64>, Option<String>);

/// A ledger row where the running sum is off: id, user, running sum, payment id,
/// that payment's `balance_after`.
type RunningFacts = (i64, String, i64, Option<i64>, Option<i64>);

async fn ledger(db: &mut Db, out: &mut Vec<Violation>) -> Result<(), CheckError> {
    let rows: Vec<LedgerFacts> = db
        .rows(
            "SELECT CAST(l.id AS BIGINT), l.user_id, l.kind, CAST(l.amount AS BIGINT), \
                    CAST(l.payment_id AS BIGINT), p.user_id \
             FROM ledger l LEFT JOIN payments p ON p.id = l.payment_id \
             WHERE (l.kind = 'payment' AND (p.id IS NULL OR p.user_id <> l.user_id \
                                            OR l.amount > 0)) \
                OR (l.kind = 'charge' AND (l.payment_id IS NOT NULL OR l.amount <= 0)) \
                OR l.kind NOT IN ('charge', 'payment') \
             ORDER BY 1",
        )
        .await?;
    for (id, user, kind, amount, payment, payer) in rows {
        let what = match (kind.as_str(), payment, payer) {
            ("payment", None, _) => "a debit that names no payment".to_owned(),
            ("payment", Some(p), None) => format!("a debit of payment {p}, which does not exist"),
            ("payment", Some(p), Some(payer)) if payer != user => {
                format!("a debit of payment {p}, which {payer} made")
            }
            ("payment", _, _) => "a debit that credits".to_owned(),
            ("charge", Some(p), _) => format!("a charge that names payment {p}"),
            ("charge", None, _) => "a charge that is not positive".to_owned(),
            (other, _, _) => format!("of unknown kind {other:?}"),
        };
        out.push(Violation::new(
            Code::LedgerEntryInvalid,
            format!("ledger row {id} of {user} ({amount} points) is {what}"),
        ));
    }

    let rows: Vec<(String, i64, i64)> = db
        .rows(
            "SELECT w.user_id, CAST(w.balance AS BIGINT), CAST(COALESCE(l.total, 0) AS BIGINT) \
             FROM wallets w LEFT JOIN \
                  (SELECT user_id, SUM(amount) AS total FROM ledger GROUP BY user_id) l \
               ON l.user_id = w.user_id \
             WHERE w.balance <> COALESCE(l.total, 0) OR w.balance < 0 \
             ORDER BY 1",
        )
        .await?;
    for (user, balance, total) in rows {
        if balance != total {
            out.push(Violation::new(
                Code::WalletLedgerMismatch,
                format!("wallet of {user} holds {balance} but its ledger sums to {total}"),
            ));
        }
        if balance < 0 {
            out.push(Violation::new(
                Code::WalletNegative,
                format!("wallet of {user} holds {balance}"),
            ));
        }
    }

    let rows: Vec<(String, i64, i64)> = db
        .rows(
            "SELECT l.user_id, COUNT(*), CAST(SUM(l.amount) AS BIGINT) \
             FROM ledger l LEFT JOIN wallets w ON w.user_id = l.user_id \
             WHERE w.user_id IS NULL GROUP BY l.user_id ORDER BY 1",
        )
        .await?;
    for (user, count, total) in rows {
        out.push(Violation::new(
            Code::WalletLedgerMismatch,
            format!("{user} has {count} ledger rows summing to {total} but no wallet"),
        ));
    }

    // Each user's ledger in id order is the order of their writes: every write locks
    // the wallet row before it inserts its ledger row (Postgres), or holds the
    // database's write lock (SQLite).
    let rows: Vec<RunningFacts> = db
        .rows(
            "SELECT CAST(t.id AS BIGINT), t.user_id, CAST(t.running AS BIGINT), \
                    CAST(p.id AS BIGINT), CAST(p.balance_after AS BIGINT) \
             FROM (SELECT id, user_id, payment_id, \
                          SUM(amount) OVER (PARTITION BY user_id ORDER BY id) AS running \
                   FROM ledger) t \
             LEFT JOIN payments p ON p.id = t.payment_id \
             WHERE t.running < 0 OR (p.id IS NOT NULL AND p.balance_after <> t.running) \
             ORDER BY 2, 1",
        )
        .await?;
    for (id, user, running, payment, balance_after) in rows {
        if running < 0 {
            out.push(Violation::new(
                Code::BalanceWentNegative,
                format!("the ledger of {user} sums to {running} through row {id}"),
            ));
        }
        if let (Some(payment), Some(after)) = (payment, balance_after)
            && after != running
        {
            out.push(Violation::new(
                Code::BalanceAfterMismatch,
                format!(
                    "payment {payment} of {user} says balance_after {after}, but the ledger \
                     sums to {running} through its debit (row {id})"
                ),
            ));
        }
    }
    Ok(())
}

// ---- the waiting room ----

async fn tokens(db: &mut Db, limits: &Limits, out: &mut Vec<Violation>) -> Result<(), CheckError> {
    let admitted: i64 = db
        .scalar("SELECT COUNT(*) FROM queue_tokens WHERE state = 'admitted'")
        .await?;
    if u64::try_from(admitted).unwrap_or(0) > limits.max_active {
        out.push(Violation::new(
            Code::AdmittedOverLimit,
            format!(
                "{admitted} tokens are admitted; at most {} may be",
                limits.max_active
            ),
        ));
    }

    let rows: Vec<(String, i64, i64, i64)> = db
        .rows(
            "SELECT user_id, COUNT(*), CAST(MIN(seq) AS BIGINT), CAST(MAX(seq) AS BIGINT) \
             FROM queue_tokens WHERE state IN ('waiting', 'admitted') \
             GROUP BY user_id HAVING COUNT(*) > 1 ORDER BY 1",
        )
        .await?;
    for (user, count, first, last) in rows {
        out.push(Violation::new(
            Code::TokenLiveTwice,
            format!("user {user} has {count} live tokens (seq {first}..={last})"),
        ));
    }

    let rows: Vec<(i64, String, String, i64, i64)> = db
        .rows(
            "SELECT CAST(seq AS BIGINT), user_id, state, \
                    CAST(CASE WHEN admitted_at IS NULL THEN 0 ELSE 1 END AS BIGINT), \
                    CAST(CASE WHEN ended_at IS NULL THEN 0 ELSE 1 END AS BIGINT) \
             FROM queue_tokens WHERE NOT ( \
                (state = 'waiting' AND admitted_at IS NULL AND ended_at IS NULL) \
             OR (state = 'admitted' AND admitted_at IS NOT NULL AND ended_at IS NULL) \
             OR (state = 'expired' AND admitted_at IS NOT NULL AND ended_at IS NOT NULL) \
             OR (state = 'evicted' AND admitted_at IS NULL AND ended_at IS NOT NULL)) \
             ORDER BY 1",
        )
        .await?;
    for (seq, user, state, admitted_at, ended_at) in rows {
        let has = |flag: i64| if flag == 1 { "with" } else { "without" };
        out.push(Violation::new(
            Code::TokenLifecycle,
            format!(
                "token #{seq} of {user} is {state} {} admitted_at and {} ended_at",
                has(admitted_at),
                has(ended_at)
            ),
        ));
    }

    let rows: Vec<(i64, String, i64)> = db
        .rows(
            "SELECT CAST(w.seq AS BIGINT), w.user_id, CAST(a.last AS BIGINT) \
             FROM queue_tokens w, \
                  (SELECT MAX(seq) AS last FROM queue_tokens WHERE admitted_at IS NOT NULL) a \
             WHERE w.state = 'waiting' AND w.seq < a.last ORDER BY 1",
        )
        .await?;
    for (seq, user, last) in rows {
        out.push(Violation::new(
            Code::QueueOrder,
            format!(
                "token #{seq} of {user} is still waiting, but token #{last}, issued after it, \
                 has been admitted"
            ),
        ));
    }
    Ok(())
}

async fn tally(db: &mut Db) -> Result<Tally, CheckError> {
    let (sessions, reservations, held, paid): (i64, i64, i64, i64) = db
        .row(
            "SELECT (SELECT COUNT(*) FROM sessions), (SELECT COUNT(*) FROM reservations), \
                    (SELECT COUNT(*) FROM reservations WHERE status = 'held'), \
                    (SELECT COUNT(*) FROM reservations WHERE status = 'paid')",
        )
        .await?;
    let (payments, wallets, ledger_rows): (i64, i64, i64) = db
        .row(
            "SELECT (SELECT COUNT(*) FROM payments), (SELECT COUNT(*) FROM wallets), \
                    (SELECT COUNT(*) FROM ledger)",
        )
        .await?;
    let (tokens, waiting, admitted): (i64, i64, i64) = db
        .row(
            "SELECT (SELECT COUNT(*) FROM queue_tokens), \
                    (SELECT COUNT(*) FROM queue_tokens WHERE state = 'waiting'), \
                    (SELECT COUNT(*) FROM queue_tokens WHERE state = 'admitted')",
        )
        .await?;
    Ok(Tally {
        sessions,
        reservations,
        held,
        paid,
        payments,
        wallets,
        ledger_rows,
        tokens,
        waiting,
        admitted,
    })
}

// ---- one connection, either backend ----

/// The check's own connection: the same standard SQL runs on either.
enum Db {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl Db {
    async fn open(url: &str) -> Result<Self, CheckError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Db::Postgres(PgConnection::connect(url).await?))
        } else if url.starts_with("sqlite:") {
            // Never create a file: checking a database that is not there is an error.
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(false)
                .busy_timeout(Duration::from_secs(5));
            Ok(Db::Sqlite(options.connect().await?))
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            Err(CheckError::Url(scheme.to_owned()))
        }
    }

    /// One snapshot for every query, so a live server's writes cannot make the
    /// check see half of a transaction.
    async fn begin_snapshot(&mut self) -> Result<(), CheckError> {
        match self {
            Db::Postgres(conn) => {
                sqlx::raw_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .execute(conn)
                    .await?;
            }
            Db::Sqlite(conn) => {
                sqlx::raw_sql("BEGIN").execute(conn).await?;
            }
        }
        Ok(())
    }

    async fn end_snapshot(&mut self) -> Result<(), CheckError> {
        match self {
            Db::Postgres(conn) => {
                sqlx::raw_sql("ROLLBACK").execute(conn).await?;
            }
            Db::Sqlite(conn) => {
                sqlx::raw_sql("ROLLBACK").execute(conn).await?;
            }
        }
        Ok(())
    }

    async fn close(self) {
        let _ = match self {
            Db::Postgres(conn) => conn.close().await,
            Db::Sqlite(conn) => conn.close().await,
        };
    }

    async fn rows<T>(&mut self, sql: &'static str) -> Result<Vec<T>, CheckError>
    where
        T: Send + Unpin + for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow>,
    {
        Ok(match self {
            Db::Postgres(conn) => sqlx::query_as(sql).fetch_all(conn).await?,
            Db::Sqlite(conn) => sqlx::query_as(sql).fetch_all(conn).await?,
        })
    }

    async fn row<T>(&mut self, sql: &'static str) -> Result<T, CheckError>
    where
        T: Send + Unpin + for<'r> FromRow<'r, PgRow> + for<'r> FromRow<'r, SqliteRow>,
    {
        Ok(match self {
            Db::Postgres(conn) => sqlx::query_as(sql).fetch_one(conn).await?,
            Db::Sqlite(conn) => sqlx::query_as(sql).fetch_one(conn).await?,
        })
    }

    async fn scalar(&mut self, sql: &'static str) -> Result<i64, CheckError> {
        let (value,): (i64,) = self.row(sql).await?;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_screaming_snake_case() {
        let names: BTreeSet<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), Code::ALL.len());
        for name in names {
            assert!(
                name.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{name}"
            );
        }
    }

    #[test]
    fn a_url_of_another_database_is_refused() {
        let error = block_on(check("mysql://x", &Limits::default()));
        assert_eq!(error, Err(CheckError::Url("mysql".to_owned())));
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(future)
    }
}
