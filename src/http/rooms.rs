//! The operator's controls of the waiting rooms: scheduling a concert's on-sale, pausing
//! and resuming admissions, re-rating them live, and the room's status — under
//! `/admin/concerts/{concertId}/room` for a concert's room and `/admin/room` for the
//! site-wide one (which is never scheduled: it has no `PUT`). Behind `X-Admin-Key` like
//! every admin route. Each call writes through before it answers, so what it answers
//! survives a restart.

mod bodies;

use actors::Engine;
use actors::domain::{ConcertId, RoomId};
use actors::engine::{RoomSchedule, RoomStatus};
use axum::Json;
use axum::extract::State;

pub use self::bodies::{
    MAX_ROOM_LIMIT, Rerate, RerateRequest, RoomStatusResponse, ScheduleRequest,
};
use super::error::{ApiResult, ErrorBody};
use super::extract::{JsonBody, PathId};

type StatusAnswer = ApiResult<Json<RoomStatusResponse>>;

fn answer(status: RoomStatus) -> StatusAnswer {
    Ok(Json(status.into()))
}

/// Schedules a concert's on-sale, creating its room: from then on only this room's
/// tokens may hold and pay the concert's sessions. May be sent again to reschedule until
/// the room has opened (its pre-queue drawn), then 409.
#[utoipa::path(
    put,
    path = "/admin/concerts/{concertId}/room",
    tag = "rooms",
    params(
        ("concertId" = i64, Path, description = "The concert", minimum = 1),
        ("X-Admin-Key" = String, Header, description = "The configured CONCERT_ADMIN_KEY"),
    ),
    request_body = ScheduleRequest,
    responses(
        (status = 200, description = "The room, as scheduled", body = RoomStatusResponse),
        (status = 400, description = "A missing or invalid time, preQueueOpensAt after opensAt, or a limit out of range", body = ErrorBody),
        (status = 401, description = "Missing or wrong key (ADMIN_KEY_INVALID)", body = ErrorBody),
        (status = 403, description = "No key configured (ADMIN_DISABLED)", body = ErrorBody),
        (status = 404, description = "존재하지 않는 콘서트 입니다. (CONCERT_NOT_FOUND)", body = ErrorBody),
        (status = 409, description = "The room has opened already (ROOM_ALREADY_OPEN)", body = ErrorBody),
        (status = 503, description = "Overloaded or unavailable", body = ErrorBody),
    )
)]
pub async fn schedule(
    State(engine): State<Engine>,
    PathId(concert): PathId<ConcertId>,
    body: JsonBody<RoomSchedule>,
) -> StatusAnswer {
    let schedule = body.parse()?;
    answer(engine.schedule_room(concert, schedule).await?)
}

/// A concert's room: its state, line, admissions and limits.
#[utoipa::path(
    get,
    path = "/admin/concerts/{concertId}/room",
    tag = "rooms",
    params(
        ("concertId" = i64, Path, description = "The concert", minimum = 1),
        ("X-Admin-Key" = String, Header, description = "The configured CONCERT_ADMIN_KEY"),
    ),
    responses(
        (status = 200, description = "The room", body = RoomStatusResponse),
        (status = 400, description = "Invalid concertId (INVALID_PATH_ID)", body = ErrorBody),
        (status = 401, description = "Missing or wrong key (ADMIN_KEY_INVALID)", body = ErrorBody),
        (status = 403, description = "No key configured (ADMIN_DISABLED)", body = ErrorBody),
        (status = 404, description = "No such concert (CONCERT_NOT_FOUND) or no room scheduled for it (ROOM_NOT_FOUND)", body = ErrorBody),
        (status = 503, description = "Overloaded or unavailable", body = ErrorBody),
    )
)]
pub async fn status(
    State(engine): State<Engine>,
    PathId(concert): PathId<ConcertId>,
) -> StatusAnswer {
    answer(engine.room_status(RoomId::Concert(concert)).await?)
}

/// Changes a concert's room's limits live; a raise admits at once as many as fit.
#[utoipa::path(
    patch,
    path = "/admin/concerts/{concertId}/room",
    tag = "rooms",
    params(
        ("concertId" = i64, Path, description = "The concert", minimum = 1),
        ("X-Admin-Key" = String, Header, description = "The configured CONCERT_ADMIN_KEY"),
    ),
    request_body = RerateRequest,
    responses(
        (status = 200, description = "The room, re-rated", body = RoomStatusResponse),
        (status = 400, description = "No field, or a limit out of range", body = ErrorBody),
        (status = 401, description = "Missing or wrong key (ADMIN_KEY_INVALID)", body = ErrorBody),
        (status = 403, description = "No key configured (ADMIN_DISABLED)", body = ErrorBody),
        (status = 404, description = "No such concert (CONCERT_NOT_FOUND) or no room scheduled for it (ROOM_NOT_FOUND)", body = ErrorBody),
        (status = 503, description = "Overloaded or unavailable", body = ErrorBody),
    )
)]
pub async fn rerate(
    State(engine): State<Engine>,
    PathId(concert): PathId<ConcertId>,
    body: JsonBody<Rerate>,
) -> StatusAnswer {
    let Rerate {
        max_active,
        admission_rate,
    } = body.parse()?;
    let room = RoomId::Concert(concert);
    answer(engine.rerate_room(room, max_active, admission_rate).await?)
}

/// Stops a concert's room's admissions (never its line: joins, polls and the draw go on).
#[utoipa::path(
    post,
    path = "/admin/concerts/{concertId}/room/pause",
    tag = "rooms",
    params(
        ("concertId" = i64, Path, description = "The concert", minimum = 1),
        ("X-Admin-Key" = String, Header, description = "The configured CONCERT_ADMIN_KEY"),
    ),
    responses(
        (status = 200, description = "The room, paused", body = RoomStatusResponse),
        (status = 400, description = "Invalid concertId (INVALID_PATH_ID)", body = ErrorBody),
        (status = 401, description = "Missing or wrong key (ADMIN_KEY_INVALID)", body = ErrorBody),
        (status = 403, description = "No key configured (ADMIN_DISABLED)", body = ErrorBody),
        (status = 404, description = "No such concert (CONCERT_NOT_FOUND) or no room scheduled for it (ROOM_NOT_FOUND)", body = ErrorBody),
        (status = 503, description = "Overloaded or unavailable", body = ErrorBody),
    )
)]
pub async fn pause(
    State(engine): State<Engine>,
    PathId(concert): PathId<ConcertId>,
) -> StatusAnswer {
    answer(engine.pause_room(RoomId::Concert(concert)).await?)
}

/// Resumes a concert's room's admissions, admitting at once as many as fit.
#[utoipa::path(
    post,
    path = "/admin/concerts/{concertId}/room/resume",
    tag = "rooms",
    params(
        ("concertId" = i64, Path, description = "The concert", minimum = 1),
        ("X-Admin-Key" = String, Header, description = "The configured CONCERT_ADMIN_KEY"),
    ),
    responses(
        (status = 200, description = "The room, resumed", body = RoomStatusResponse),
        (status = 400, description = "Invalid concertId (INVALID_PATH_ID)", body = ErrorBody),
        (status = 401, description = "Missing or wrong key (ADMIN_KEY_INVALID)", body = ErrorBody),
        (status = 403, description = "No key configured (ADMIN_DISABLED)", body = ErrorBody),
        (status = 404, description = "No such concert (CONCERT_NOT_FOUND) or no room scheduled for it (ROOM_NOT_FOUND)", body = ErrorBody),
        (status = 503, description = "Overloaded or unavailable", body = ErrorBody),
    )
)]
pub async fn resume(
    State(engine): State<Engine>,
    PathId(concert): PathId<ConcertId>,
) -> StatusAnswer {
    answer(engine.resume_room(RoomId::Concert(concert)).await?)
}

/// The site-wide room (joined without `concertId`): its state, line, admissions and limits.
#[utoipa::path(
    get,
    path = "/admin/room",
    tag = "rooms",
    params(("X-Admin-Key" = String, Header, description = "The configured CONCERT_ADMIN_KEY")),
    responses(
        (status = 200, description = "The site-wide room", body = RoomStatusResponse),
        (status = 401, description = "Missing or wrong key (ADMIN_KEY_INVALID)", body = ErrorBody),
        (status = 403, description = "No key configured (ADMIN_DISABLED)", body = ErrorBody),
        (status = 503, description = "Overloaded or unavailable", body = ErrorBody),
    )
)]
pub async fn site_status(State(engine): State<Engine>) -> StatusAnswer {
    answer(engine.room_status(RoomId::Site).await?)
}

/// Changes the site-wide room's limits live; a raise admits at once as many as fit.
#[utoipa::path(
    patch,
    path = "/admin/room",
    tag = "rooms",
    params(("X-Admin-Key" = String, Header, description = "The configured CONCERT_ADMIN_KEY")),
    request_body = RerateRequest,
    responses(
        (status = 200, description = "The site-wide room, re-rated", body = RoomStatusResponse),
        (status = 400, description = "No field, or a limit out of range", body = ErrorBody),
        (status = 401, description = "Missing or wrong key (ADMIN_KEY_INVALID)", body = ErrorBody),
        (status = 403, description = "No key configured (ADMIN_DISABLED)", body = ErrorBody),
        (status = 503, description = "Overloaded or unavailable", body = ErrorBody),
    )
)]
pub async fn site_rerate(State(engine): State<Engine>, body: JsonBody<Rerate>) -> StatusAnswer {
    let Rerate {
        max_active,
        admission_rate,
    } = body.parse()?;
    answer(
        engine
            .rerate_room(RoomId::Site, max_active, admission_rate)
            .await?,
    )
}

/// Stops the site-wide room's admissions (never its line).
#[utoipa::path(
    post,
    path = "/admin/room/pause",
    tag = "rooms",
    params(("X-Admin-Key" = String, Header, description = "The configured CONCERT_ADMIN_KEY")),
    responses(
        (status = 200, description = "The site-wide room, paused", body = RoomStatusResponse),
        (status = 401, description = "Missing or wrong key (ADMIN_KEY_INVALID)", body = ErrorBody),
        (status = 403, description = "No key configured (ADMIN_DISABLED)", body = ErrorBody),
        (status = 503, description = "Overloaded or unavailable", body = ErrorBody),
    )
)]
pub async fn site_pause(State(engine): State<Engine>) -> StatusAnswer {
    answer(engine.pause_room(RoomId::Site).await?)
}

/// Resumes the site-wide room's admissions, admitting at once as many as fit.
#[utoipa::path(
    post,
    path = "/admin/room/resume",
    tag = "rooms",
    params(("X-Admin-Key" = String, Header, description = "The configured CONCERT_ADMIN_KEY")),
    responses(
        (status = 200, description = "The site-wide room, resumed", body = RoomStatusResponse),
        (status = 401, description = "Missing or wrong key (ADMIN_KEY_INVALID)", body = ErrorBody),
        (status = 403, description = "No key configured (ADMIN_DISABLED)", body = ErrorBody),
        (status = 503, description = "Overloaded or unavailable", body = ErrorBody),
    )
)]
pub async fn site_resume(State(engine): State<Engine>) -> StatusAnswer {
    answer(engine.resume_room(RoomId::Site).await?)
}
