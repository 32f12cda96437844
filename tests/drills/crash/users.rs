//! The simulated users: each loops on join, poll, charge, hold and pay, and writes
//! down every 2xx.

use super::*;

pub(super) struct User {
    pub(super) name: String,
    pub(super) rng: Rng,
    pub(super) token: Option<String>,
    /// A payment whose answer was lost: (reservation, key, token), retried with the key.
    pub(super) pending: Option<(i64, String, String)>,
    pub(super) charges: i64,
    pub(super) keys: u64,
    pub(super) balance: i64,
}

pub(super) struct Ctx {
    pub(super) api: Api,
    pub(super) book: Arc<Mutex<Book>>,
    pub(super) sessions: Vec<i64>,
    pub(super) stop: Arc<AtomicBool>,
}

impl Ctx {
    pub(super) fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().expect("the book")
    }
}

pub(super) async fn run_user(mut user: User, ctx: Arc<Ctx>) -> User {
    while !ctx.stop.load(Ordering::SeqCst) {
        step(&mut user, &ctx).await;
        let pause = user.rng.between(5, 40);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    user
}

pub(super) async fn step(user: &mut User, ctx: &Ctx) {
    if let Some((reservation, key, token)) = user.pending.clone() {
        let answer = ctx.api.pay(&token, reservation, &key).await;
        let mut book = ctx.book();
        // A retry with the key: the first payment's answer if it committed, else a
        // payment now, or a refusal of this token or hold. Never a second payment.
        book.expect("payment retry", &answer, &[200, 401, 402, 403, 410]);
        match answer.status() {
            Some(200) => {
                let body = answer.ok().cloned().unwrap_or_default();
                user.balance = body["balance"].as_i64().unwrap_or(0);
                record_payment(&mut book, &user.name, &token, &key, reservation, body);
                user.pending = None;
            }
            Some(503) | None => {}
            Some(_) => user.pending = None,
        }
        return;
    }

    let Some(token) = user.token.clone() else {
        let answer = ctx.api.join(&user.name).await;
        let mut book = ctx.book();
        book.expect("join", &answer, &[200]);
        if let Some(body) = answer.ok()
            && let Some((token, _)) = book.observe(&user.name, body)
        {
            book.tokens.push((user.name.clone(), token.clone()));
            user.token = Some(token);
        }
        return;
    };

    let answer = ctx.api.poll(&token).await;
    let admitted = {
        let mut book = ctx.book();
        book.expect("poll", &answer, &[200]);
        let Some(body) = answer.ok() else { return };
        let Some((current, admitted)) = book.observe(&user.name, body) else {
            return;
        };
        if current != token {
            // The old token ended (admission over): a new one was issued at the back.
            book.tokens.push((user.name.clone(), current.clone()));
            user.token = Some(current);
        }
        admitted
    };
    let token = user.token.clone().unwrap_or(token);
    if admitted {
        admitted_step(user, ctx, &token).await;
    } else if user.rng.chance(0.15) {
        charge(user, ctx, &token).await;
    }
}

pub(super) async fn charge(user: &mut User, ctx: &Ctx, token: &str) {
    // Unique per user, so that each acknowledged charge can be found in the ledger.
    user.charges += 1;
    let amount = 3000 + user.charges;
    let answer = ctx.api.charge(token, amount).await;
    let mut book = ctx.book();
    book.expect("charge", &answer, &[200, 403]);
    if let Some(body) = answer.ok() {
        user.balance = body["balance"].as_i64().unwrap_or(0);
        book.charges
            .entry(user.name.clone())
            .or_default()
            .push(amount);
    }
}

pub(super) async fn admitted_step(user: &mut User, ctx: &Ctx, token: &str) {
    if user.balance < PRICE {
        charge(user, ctx, token).await;
        return;
    }
    let session = ctx.sessions[user.rng.between(0, ctx.sessions.len() as u64 - 1) as usize];
    let seat = user.rng.between(1, SEATS.into()) as i64;
    let answer = ctx.api.hold(token, session, seat).await;
    let reservation = {
        let mut book = ctx.book();
        // 401: the admission ran out meanwhile; 409: taken, or the hold limit.
        book.expect("hold", &answer, &[201, 401, 409]);
        let Some(body) = answer.ok() else { return };
        let Some(id) = body["reservationId"].as_i64() else {
            book.problems.push(format!("a hold without an id: {body}"));
            return;
        };
        book.holds.push(Hold {
            id,
            session,
            seat,
            user: user.name.clone(),
        });
        id
    };
    if !user.rng.chance(0.7) {
        return; // left to expire
    }
    user.keys += 1;
    let key = format!("{}-pay-{}", user.name, user.keys);
    let answer = ctx.api.pay(token, reservation, &key).await;
    let mut book = ctx.book();
    book.expect("payment", &answer, &[200, 401, 402, 410]);
    match answer.status() {
        Some(200) => {
            let body = answer.ok().cloned().unwrap_or_default();
            user.balance = body["balance"].as_i64().unwrap_or(0);
            record_payment(&mut book, &user.name, token, &key, reservation, body);
        }
        Some(402) => user.balance = 0,
        Some(503) | None => user.pending = Some((reservation, key, token.to_owned())),
        _ => {}
    }
}

pub(super) fn record_payment(
    book: &mut Book,
    user: &str,
    token: &str,
    key: &str,
    reservation: i64,
    body: Value,
) {
    if body["reservationId"] != reservation {
        book.problems.push(format!(
            "payment of {reservation} answered for another: {body}"
        ));
    }
    let paid = Paid {
        user: user.to_owned(),
        token: token.to_owned(),
        key: key.to_owned(),
        reservation,
        body,
    };
    book.payments.push(paid.clone());
    book.to_replay.push(paid);
}
