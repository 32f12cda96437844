//! Wallets and the ledger: every ledger row well formed, every balance the sum of its
//! ledger and never negative, at any row of it, every payment's `balance_after`
//! the ledger's sum through its debit, and every charge key naming one charge.

use super::CheckError;
use super::db::Db;
use super::report::{Code, Violation};

/// A malformed ledger row: id, user, kind, amount, payment id, that payment's payer.
type LedgerFacts = (i64, String, String, i64, Option<i64>, Option<String>);

/// A keyed charge that does not match its ledger row: user, source, key, amount,
/// `balance_after`, ledger id, that row's kind, user and amount, the running sum there.
type KeyFacts = (
    String,
    String,
    String,
    i64,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

/// A ledger row where the running sum is off: id, user, running sum, payment id,
/// that payment's `balance_after`.
type RunningFacts = (i64, String, i64, Option<i64>, Option<i64>);

pub(super) async fn ledger(db: &mut Db, out: &mut Vec<Violation>) -> Result<(), CheckError> {
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
    keyed_charges(db, out).await
}

/// Each charge key names one charge: a ledger charge of its user and amount, after
/// which the ledger summed to the `balance_after` a replay answers.
async fn keyed_charges(db: &mut Db, out: &mut Vec<Violation>) -> Result<(), CheckError> {
    let rows: Vec<KeyFacts> = db
        .rows(
            "SELECT k.user_id, k.source, k.idempotency_key, CAST(k.amount AS BIGINT), \
                    CAST(k.balance_after AS BIGINT), CAST(k.ledger_id AS BIGINT), \
                    t.kind, t.user_id, CAST(t.amount AS BIGINT), CAST(t.running AS BIGINT) \
             FROM keyed_charges k LEFT JOIN \
                  (SELECT id, kind, user_id, amount, \
                          SUM(amount) OVER (PARTITION BY user_id ORDER BY id) AS running \
                   FROM ledger) t ON t.id = k.ledger_id \
             WHERE t.id IS NULL OR t.kind <> 'charge' OR t.user_id <> k.user_id \
                OR t.amount <> k.amount OR t.running <> k.balance_after \
             ORDER BY 1, 2, 3",
        )
        .await?;
    for (user, source, key, amount, after, ledger, kind, owner, entry, running) in rows {
        let what = match (kind, owner, entry, running) {
            (Some(kind), Some(owner), Some(entry), Some(running)) => format!(
                "row {ledger}, a {kind} of {entry} points to {owner} after which the ledger \
                 sums to {running}"
            ),
            _ => format!("row {ledger}, which does not exist"),
        };
        out.push(Violation::new(
            Code::ChargeKeyMismatch,
            format!(
                "{source} key {key:?} of {user} ({amount} points, balance {after}) names \
                 ledger {what}"
            ),
        ));
    }
    Ok(())
}
