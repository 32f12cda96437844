//! [`Store::apply_batch`](crate::store::Store::apply_batch) on Postgres: one
//! transaction, each op under its own savepoint, so a refused op is rolled back
//! alone. (Without a savepoint a failed statement poisons the whole transaction, and
//! a `COMMIT` of a poisoned transaction silently rolls it back.)
//!
//! Every statement is a round trip, and a savepoint costs two more (`SAVEPOINT`,
//! `RELEASE`): measured on this machine, 256 single-row inserts in one transaction
//! took about twice as long with a savepoint around each. So a run of consecutive
//! holds, the on-sale minute's commonest write, goes in as ONE multi-row
//! `INSERT … ON CONFLICT DO NOTHING` under one savepoint: a hold whose seat is taken
//! is simply not inserted, and is answered `SeatTaken`, as `insert_hold` would
//! answer it. Anything else that refuses the statement (a seat that does not
//! exist, say) rolls the run back, and its holds are applied one at a time, so every
//! answer is still the single-op method's. (Only the ids can differ: the rolled-back
//! statement used up sequence values, which Postgres never hands out again. Ids
//! have gaps anyway, after every refused insert.)
//!
//! The same goes for a run of new tokens (the waiting room's burst): their rows go
//! in as one multi-row insert under one savepoint; if that is refused (a second live
//! token for a user, which the waiting room never asks for), each op is retried alone.
//!
//! A batch that *is* one statement (only holds, only new tokens, or one lone
//! single-statement op) skips the transaction altogether: Postgres commits a lone
//! statement as it ends, all of it or none, so `BEGIN`, `SAVEPOINT`, `RELEASE` and
//! `COMMIT` are four round trips it does not need. A profile of `spread` put a third
//! of the server's time in this store's socket writes and transaction set-up, on
//! batches of about six holds. If that statement is refused as a whole, nothing was
//! written, and the batch takes the transaction path above, which answers each op.
//! If its outcome is unknown (the connection broke), the batch fails with
//! `Unavailable`, as when a `COMMIT`'s reply is lost. A fenced store (cluster mode)
//! never skips it: its fence check must share the writes' transaction.
//!
//! That lone insert of holds has no `ON CONFLICT` clause ([`IfTaken::Fail`]): the
//! SessionActor never asks for a seat it knows is taken, so a conflict is rare, and
//! arbitrating one costs every row a probe of both unique indexes before its insert
//! and a WAL record confirming the speculative insertion (~7% of Postgres's CPU per
//! hold in statements of 20, docs/performance.md, "Spread: Postgres's share"). A seat
//! taken after all fails the statement with a unique violation, nothing is written,
//! and the transaction path's insert, which skips taken seats, answers every hold.

// foldhash, not SipHash: `claim` hashes each hold of a batch twice (~400
// instructions per committed hold with SipHash; callgrind, `spread`, issue 16). Its
// keys are the batch's own (session, seat) pairs, at most `max_batch` of them.
use hashbrown::HashMap;

use sqlx::Connection;
use sqlx::postgres::{PgConnection, PgPool};

use super::{PgStore, tokens};
use super::writes::{apply, apply_in, under_savepoint};
use crate::store::common::{RESERVATION_COLUMNS, ReservationRecord, micros, rows, store_error};
use crate::store::{
    BatchResult, NewHold, ReservationRow, StoreError, TokenRow, WriteOp, WriteOutcome,
};

/// See the module docs.
pub(super) async fn apply_batch(store: &PgStore, ops: &[WriteOp]) -> BatchResult {
    if ops.is_empty() {
        return Ok(Vec::new());
    }
    // Fenced, the check must share the writes' transaction: no lone statements.
    if store.fence.is_none()
        && let Some(answers) = as_one_statement(&store.pool, ops).await?
    {
        return Ok(answers);
    }
    let mut tx = store.begin_write().await?;
    if let [op] = ops {
        // A batch of one needs no savepoint (two round trips saved): if the op is
        // refused, the whole transaction is rolled back instead.
        return Ok(vec![apply_in(tx, op).await?]);
    }
    let mut results = Vec::with_capacity(ops.len());
    let mut rest = ops;
    while let Some(first) = rest.first() {
        let holds: Vec<&NewHold> = rest.iter().map_while(hold_of).collect();
        let tokens: Vec<&[TokenRow]> = rest.iter().map_while(token_rows_of).collect();
        if tokens.len() > 1 && tokens_under_savepoint(&mut tx, &tokens).await? {
            results.extend(tokens.iter().map(|_| Ok(WriteOutcome::Done)));
            rest = &rest[tokens.len()..];
            continue;
        }
        let answered = if holds.len() > 1 {
            holds_under_savepoint(&mut tx, &holds).await?
        } else {
            None
        };
        match answered {
            Some(answers) => {
                results.extend(answers.into_iter().map(|a| a.map(WriteOutcome::Hold)));
                rest = &rest[holds.len()..];
            }
            None => {
                results.push(under_savepoint(&mut tx, first).await?);
                rest = &rest[1..];
            }
        }
    }
    tx.commit().await.map_err(store_error)?;
    Ok(results)
}

/// The hold an op inserts, if it is a hold.
fn hold_of(op: &WriteOp) -> Option<&NewHold> {
    match op {
        WriteOp::InsertHold(hold) => Some(hold),
        _ => None,
    }
}

/// The token rows an op inserts, if it inserts tokens.
fn token_rows_of(op: &WriteOp) -> Option<&[TokenRow]> {
    match op {
        WriteOp::InsertTokens(rows) => Some(rows),
        _ => None,
    }
}

/// A batch that is one statement, run without a transaction of its own (see the
/// module docs). `None`: the batch is not one statement, or its statement was
/// refused as a whole and wrote nothing; the transaction path answers it then.
async fn as_one_statement(
    pool: &PgPool,
    ops: &[WriteOp],
) -> Result<Option<Vec<Result<WriteOutcome, StoreError>>>, StoreError> {
    let holds: Option<Vec<&NewHold>> = ops.iter().map(hold_of).collect();
    let tokens: Option<Vec<&[TokenRow]>> = ops.iter().map(token_rows_of).collect();
    if let Some(holds) = holds {
        let mut conn = pool.acquire().await.map_err(store_error)?;
        return match insert_holds(&mut conn, &holds, IfTaken::Fail).await {
            // The rows are committed: answers that cannot be matched to them leave
            // the holds' outcome unknown, which is not a refusal.
            Ok(records) => match claim(&holds, records) {
                Ok(answers) => Ok(Some(
                    answers
                        .into_iter()
                        .map(|answer| answer.map(WriteOutcome::Hold))
                        .collect(),
                )),
                Err(e) => Err(StoreError::Unavailable(format!("committed holds: {e}"))),
            },
            Err(sqlx::Error::Database(_)) => Ok(None),
            // The statement may have committed before the connection broke (or a
            // returned row did not decode after it did).
            Err(e) => Err(StoreError::Unavailable(e.to_string())),
        };
    }
    if let Some(runs) = tokens {
        let rows: Vec<&TokenRow> = runs.iter().flat_map(|rows| rows.iter()).collect();
        let mut conn = pool.acquire().await.map_err(store_error)?;
        return match tokens::insert(&mut conn, &rows).await {
            Ok(()) => Ok(Some(runs.iter().map(|_| Ok(WriteOutcome::Done)).collect())),
            Err(e @ StoreError::Unavailable(_)) => Err(e),
            Err(_) => Ok(None),
        };
    }
    match ops {
        // A lone update of one statement: its answer is the op's own, refusal or
        // not, and `Unavailable` means what it means for any single write. (An
        // admission or an eviction also moves its room's counter: two statements.)
        [op @ (WriteOp::EndHold { .. } | WriteOp::EndTokens { .. })]
            if !crate::store::moves_a_counter(op) =>
        {
            let mut conn = pool.acquire().await.map_err(store_error)?;
            Ok(Some(vec![apply(&mut conn, op).await]))
        }
        _ => Ok(None),
    }
}

/// A run of token inserts as one, under a savepoint: true if it went in; false if it
/// was refused (rolled back: the caller applies the ops one at a time). The `Err` is
/// the savepoint's own failure, as in `writes::under_savepoint`.
async fn tokens_under_savepoint(
    conn: &mut PgConnection,
    runs: &[&[TokenRow]],
) -> Result<bool, StoreError> {
    let rows: Vec<&TokenRow> = runs.iter().flat_map(|rows| rows.iter()).collect();
    let mut savepoint = conn.begin().await.map_err(store_error)?;
    match tokens::insert(&mut savepoint, &rows).await {
        Ok(()) => {
            savepoint.commit().await.map_err(store_error)?;
            Ok(true)
        }
        Err(_) => {
            savepoint.rollback().await.map_err(store_error)?;
            Ok(false)
        }
    }
}

/// A run of holds in one statement, under a savepoint. `None` if the statement was
/// refused as a whole: it is rolled back, and the caller applies the holds one at
/// a time. The outer `Err` is the savepoint's own failure, as in `writes::under_savepoint`.
async fn holds_under_savepoint(
    conn: &mut PgConnection,
    holds: &[&NewHold],
) -> Result<Option<Vec<Result<ReservationRow, StoreError>>>, StoreError> {
    let mut savepoint = conn.begin().await.map_err(store_error)?;
    let answered = insert_holds(&mut savepoint, holds, IfTaken::Skip)
        .await
        .map_err(store_error)
        .and_then(|records| claim(holds, records));
    match answered {
        Ok(answers) => {
            savepoint.commit().await.map_err(store_error)?;
            Ok(Some(answers))
        }
        Err(_) => {
            savepoint.rollback().await.map_err(store_error)?;
            Ok(None)
        }
    }
}

/// What an insert of holds does with a hold whose seat has a live reservation.
#[derive(Debug, Clone, Copy)]
enum IfTaken {
    /// Skips it (`ON CONFLICT DO NOTHING`); [`claim`] answers it `SeatTaken`.
    Skip,
    /// Fails the whole statement (a unique violation): cheaper per row when no seat
    /// is expected to be taken (see the module docs).
    Fail,
}

/// Inserts `holds` with one statement, in their order (ids ascend with it), and
/// returns the rows that went in. With [`IfTaken::Skip`], `ON CONFLICT DO NOTHING`
/// skips exactly the rows the live-seat index refuses (the only unique index a new
/// hold can hit: ids come from the sequence); the seat check (one query over the
/// statement's new rows, `migrations/postgres/0007_…`), a CHECK or anything else
/// fails the whole statement. [`claim`] says which hold each row answers.
async fn insert_holds(
    conn: &mut PgConnection,
    holds: &[&NewHold],
    if_taken: IfTaken,
) -> Result<Vec<ReservationRecord>, sqlx::Error> {
    let seats: Vec<i32> = holds
        .iter()
        // A seat number past i32 is no seat: the seat check refuses it.
        .map(|h| i32::try_from(h.seat_number.0).unwrap_or(i32::MAX))
        .collect();
    let on_conflict = match if_taken {
        IfTaken::Skip => "ON CONFLICT DO NOTHING",
        IfTaken::Fail => "",
    };
    let sql = sqlx::AssertSqlSafe(format!(
        "INSERT INTO reservations \
         (session_id, seat_number, user_id, price, status, held_at, expires_at) \
         SELECT session_id, seat_number, user_id, price, 'held', held_at, expires_at \
         FROM UNNEST($1::int8[], $2::int4[], $3::text[], $4::int8[], \
                     $5::timestamptz[], $6::timestamptz[]) WITH ORDINALITY \
              AS v (session_id, seat_number, user_id, price, held_at, expires_at, ord) \
         ORDER BY ord {on_conflict} RETURNING {RESERVATION_COLUMNS}"
    ));
    sqlx::query_as(sql)
        .bind(holds.iter().map(|h| h.session_id.0).collect::<Vec<_>>())
        .bind(seats)
        .bind(holds.iter().map(|h| h.user_id.as_str()).collect::<Vec<_>>())
        .bind(holds.iter().map(|h| h.price.0).collect::<Vec<_>>())
        .bind(holds.iter().map(|h| micros(h.held_at)).collect::<Vec<_>>())
        .bind(
            holds
                .iter()
                .map(|h| micros(h.expires_at))
                .collect::<Vec<_>>(),
        )
        .fetch_all(&mut *conn)
        .await
}

/// Answers each of `holds` from the rows [`insert_holds`] returned: its row, or
/// `SeatTaken` if the seat had a live reservation, from before or from an earlier
/// hold of the run. At most one row per seat went in (the index says so): each goes
/// to the first hold of that seat whose values it carries. A row no hold claims is
/// never expected; should it happen, this is an `Err`.
fn claim(
    holds: &[&NewHold],
    records: Vec<ReservationRecord>,
) -> Result<Vec<Result<ReservationRow, StoreError>>, StoreError> {
    let inserted: Vec<ReservationRow> = rows(records)?;
    let count = inserted.len();
    let mut by_seat: HashMap<_, _> = inserted
        .into_iter()
        .map(|row| ((row.session_id, row.seat_number), row))
        .collect();
    let unclaimed = || StoreError::Conflict("a batched hold matched no row".into());
    if by_seat.len() != count {
        return Err(unclaimed());
    }
    let answers: Vec<_> = holds
        .iter()
        .map(|hold| {
            let key = (hold.session_id, hold.seat_number);
            match by_seat.remove(&key) {
                Some(row) if is_row_of(&row, hold) => Ok(row),
                Some(row) => {
                    by_seat.insert(key, row);
                    Err(StoreError::SeatTaken)
                }
                None => Err(StoreError::SeatTaken),
            }
        })
        .collect();
    if !by_seat.is_empty() {
        return Err(unclaimed());
    }
    Ok(answers)
}

/// Whether `row` is what inserting `hold` writes.
fn is_row_of(row: &ReservationRow, hold: &NewHold) -> bool {
    row.user_id == hold.user_id
        && row.price == hold.price
        && row.held_at == micros(hold.held_at)
        && row.expires_at == micros(hold.expires_at)
}
