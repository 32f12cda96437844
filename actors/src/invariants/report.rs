//! What the check answers: the kinds of violation ([`Code`], stable names scripts
//! may match on), each [`Violation`] found, and the [`Tally`] of what was read.

use std::collections::BTreeSet;
use std::fmt;

use super::CheckError;
use super::db::Db;

/// What kind of invariant a [`Violation`] breaks. [`Code::as_str`] is stable: scripts
/// may match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// A seat has two or more live (held or paid) reservations. (Schema: unique partial index.)
    SeatDoubleBooked,
    /// A session has more live reservations than seats.
    SessionOversold,
    /// A reservation names a seat outside `1..=seat_count`. (Schema: seat check against `seats`.)
    SeatOutOfRange,
    /// A reservation names a session that does not exist. (Schema: the same seat check.)
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
    /// A charge's idempotency key does not name one charge of its user: its ledger row
    /// is not a charge of that user and amount, or its replayed `balance_after` is not
    /// the ledger's sum through that row. (Schema: one row per user, source and key;
    /// one per ledger row.)
    ChargeKeyMismatch,
    /// More tokens are admitted in a room than its `max_active`.
    AdmittedOverLimit,
    /// A user has two or more live (waiting or admitted) tokens in one room. (Schema:
    /// unique partial index.)
    TokenLiveTwice,
    /// A token's timestamps disagree with its state (an admitted token without
    /// `admitted_at`, a waiting one with it, an ended one without `ended_at`, …).
    TokenLifecycle,
    /// A waiting token is before a token of its room that has been admitted: the line
    /// was not served first in, first out.
    QueueOrder,
}

impl Code {
    /// Every code, in report order.
    pub const ALL: [Code; 27] = [
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
        Code::ChargeKeyMismatch,
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
            Code::ChargeKeyMismatch => "CHARGE_KEY_MISMATCH",
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
    pub(super) fn new(code: Code, message: impl Into<String>) -> Self {
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

/// What [`check`](super::check) found.
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

pub(super) async fn tally(db: &mut Db) -> Result<Tally, CheckError> {
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
