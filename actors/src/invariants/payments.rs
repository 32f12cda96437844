//! Payments: each paid reservation has exactly one payment of its holder and price,
//! each payment exactly one debit of minus that price, and an idempotency key names
//! one payment of one user.

use super::CheckError;
use super::db::Db;
use super::report::{Code, Violation};

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

pub(super) async fn payments(db: &mut Db, out: &mut Vec<Violation>) -> Result<(), CheckError> {
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
