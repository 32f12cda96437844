//! Seats and sessions: no seat live twice, no session oversold, every reservation on a
//! seat of a session that exists, and every session's seat rows exactly `1..=seat_count`.

use super::CheckError;
use super::db::Db;
use super::report::{Code, Violation};

pub(super) async fn seats(db: &mut Db, out: &mut Vec<Violation>) -> Result<(), CheckError> {
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
