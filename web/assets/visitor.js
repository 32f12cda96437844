// The visitor's page: choose a concert, wait in line, pick a date and a seat, hold it
// (with a countdown), charge points, pay and see the receipt.
import { call } from './api.js';
import { Queue } from './queue.js';
import { SeatMap } from './seatmap.js';
import { SeatWatch } from './seats.js';
import { h, fill, showError, points, clock } from './ui.js';

const PAGE_SIZE = 500;

const app = document.getElementById('app');
const errorBox = h('div', { class: 'error', role: 'alert', hidden: true });
const live = h('p', { class: 'sr-only', 'aria-live': 'polite' });
const state = { concertId: null, concert: null, queue: null, token: null, session: null, watch: null, holds: new Map(), seats: [] };

function fail(error) {
  showError(errorBox, error);
}
function say(text) {
  live.textContent = text;
}

// ---- choosing a concert -------------------------------------------------------------

// What a concert's own room says to a fan: when it opens (in their time zone), or that it
// sells now. A concert without a room of its own sells through the site-wide line.
function onSale(room) {
  if (!room) return 'On sale now · 예매 중';
  const opens = room.opensAt ? new Date(room.opensAt) : null;
  const when = opens ? opens.toLocaleString('ko-KR', { dateStyle: 'medium', timeStyle: 'short' }) : '';
  switch (room.state) {
    case 'scheduled': return `Opens ${when} · 오픈 예정`;
    case 'prequeue': return `Line open, draw at ${when} · ${when} 추첨`;
    case 'paused': return 'Sales paused · 일시 중지';
    default: return 'On sale now · 예매 중';
  }
}

function concertCard(concert) {
  const dates = concert.sessionCount === 1 ? '1 date · 1회' : `${concert.sessionCount} dates · ${concert.sessionCount}회`;
  return h('li', {}, h('a', { href: `/concerts/${concert.concertId}`, class: 'card', 'data-concert': concert.concertId },
    h('strong', {}, concert.title),
    h('span', {}, dates),
    h('span', { class: `on-sale ${concert.room?.state ?? 'open'}` }, onSale(concert.room))));
}

// The list comes a page (500) at a time; a fan asks for the next page, the page never
// fetches the whole catalogue on its own.
async function listConcerts() {
  const list = h('ul', { class: 'concerts' });
  const more = h('button', { type: 'button', hidden: true }, 'More concerts · 더 보기');
  let after = null;
  async function page() {
    more.hidden = true;
    try {
      const concerts = await call('GET', after === null ? '/concert/list' : `/concert/list?after=${after}`);
      list.append(...concerts.map(concertCard));
      if (concerts.length) after = concerts[concerts.length - 1].concertId;
      more.hidden = concerts.length < PAGE_SIZE;
    } catch (error) {
      fail(error);
    }
    if (!list.children.length) list.append(h('li', {}, 'No concerts on sale. · 판매 중인 공연이 없습니다.'));
  }
  more.addEventListener('click', page);
  fill(app, h('h2', {}, 'Choose a concert · 공연 선택'), list, more);
  await page();
}

/** The concert the page is about, from the list (one entry after its predecessor's id). */
async function loadConcert(id) {
  try {
    const [concert] = await call('GET', `/concert/list?after=${id - 1}&limit=1`);
    return concert?.concertId === id ? concert : null;
  } catch {
    return null;
  }
}

// ---- the line -----------------------------------------------------------------------

function joinForm() {
  const name = h('input', { id: 'user', name: 'user', autocomplete: 'nickname', required: true,
    pattern: '[A-Za-z0-9_\\-]{1,64}', maxlength: '64', value: `fan-${Math.random().toString(36).slice(2, 8)}` });
  const form = h('form', { class: 'join', onsubmit: (event) => { event.preventDefault(); join(name.value); } },
    h('label', { for: 'user' }, 'Your name · 이름 (letters, digits, _ -)'), name,
    h('button', { type: 'submit', class: 'primary' }, 'Join the line · 대기열 참여'));
  const title = h('h2', { id: 'concert-title' }, state.concert?.title ?? `Concert ${state.concertId} · 공연 ${state.concertId}`);
  const when = h('p', { class: 'on-sale', id: 'concert-on-sale' }, state.concert ? onSale(state.concert.room) : '');
  fill(app, title, when, form);
  name.focus();
  // The form comes first (a keyboard user types at once); the title follows.
  if (!state.concert) {
    loadConcert(state.concertId).then((concert) => {
      if (!concert) return;
      state.concert = concert;
      title.textContent = concert.title;
      when.textContent = onSale(concert.room);
    });
  }
}

function join(userId) {
  state.admitted = false;
  fail(null);
  const place = h('p', { class: 'place', id: 'place' }, '…');
  const detail = h('p', { id: 'place-detail' });
  fill(app, h('h2', {}, state.concert ? `${state.concert.title}: waiting in line · 대기 중` : 'Waiting in line · 대기 중'),
    h('section', { class: 'line', 'aria-live': 'polite', 'aria-labelledby': 'place' }, place, detail));
  state.queue?.stop();
  state.queue = new Queue(state.concertId, {
    onError: fail,
    onTicket: (ticket) => {
      state.token = ticket.token;
      if (ticket.isProcessing) return admitted();
      if (ticket.watingNumber === null) {
        place.textContent = 'In the pre-queue · 사전 대기';
        const opens = new Date(ticket.opensAt);
        const left = (opens.getTime() - Date.now()) / 1000;
        detail.textContent = `Places are drawn at random in ${clock(left)} (at ${opens.toLocaleTimeString()}): arriving early or late before then makes no difference. · 오픈 시각에 순번을 추첨합니다.`;
      } else {
        place.textContent = `#${ticket.watingNumber}`;
        const wait = ticket.estimatedWaitSeconds;
        detail.textContent = `Your place in line · 대기 순번${wait === null ? '' : ` — about ${clock(wait)} left`}`;
      }
    },
  });
  state.queue.join(userId);
}

// ---- admitted: dates, seats, wallet, holds ------------------------------------------

const dates = h('div', { class: 'dates', role: 'group', 'aria-label': 'Dates · 공연 날짜' });
const seatMap = new SeatMap((seat) => hold(seat));
const seatTitle = h('h3', { id: 'seat-title' }, 'Seats · 좌석');
const balance = h('output', { id: 'balance', 'aria-live': 'polite' }, '…');
const holdsList = h('ul', { class: 'holds', 'aria-label': 'Your holds · 선점한 좌석' });
const receipt = h('section', { class: 'receipt', role: 'status', hidden: true });

async function admitted() {
  state.admitted = true;
  fail(null);
  say('You are in. 입장했습니다.');
  const amount = h('input', { id: 'amount', type: 'number', min: '1', step: '1', value: '20000', required: true });
  const seatNumber = h('input', { id: 'seat-number', type: 'number', min: '1', required: true });
  fill(app,
    state.concert ? h('h2', { class: 'concert-name' }, state.concert.title) : null,
    h('p', { class: 'admitted' }, 'It is your turn: pick a date and a seat. · 입장했습니다: 날짜와 좌석을 고르세요.'),
    h('h2', {}, 'Dates · 공연 날짜'), dates,
    h('section', { class: 'seats', 'aria-labelledby': 'seat-title' }, seatTitle,
      h('p', { class: 'legend' }, h('span', { class: 'key free' }, 'free · 가능'),
        h('span', { class: 'key taken' }, 'taken · 예매됨'), h('span', { class: 'key mine' }, 'yours · 내 좌석')),
      h('form', { class: 'inline', onsubmit: (event) => { event.preventDefault(); hold(Number(seatNumber.value)); } },
        h('label', { for: 'seat-number' }, 'Seat number · 좌석 번호'), seatNumber,
        h('button', { type: 'submit' }, 'Hold · 선점')),
      seatMap.element),
    h('section', { class: 'wallet', 'aria-labelledby': 'wallet-title' },
      h('h2', { id: 'wallet-title' }, 'Points · 포인트'),
      h('p', {}, 'Balance · 잔액: ', balance),
      h('form', { class: 'inline', onsubmit: (event) => { event.preventDefault(); charge(Number(amount.value)); } },
        h('label', { for: 'amount' }, 'Charge · 충전'), amount,
        h('button', { type: 'submit' }, 'Charge · 충전하기'))),
    h('section', { 'aria-labelledby': 'holds-title' }, h('h2', { id: 'holds-title' }, 'Your holds · 선점한 좌석'), holdsList),
    receipt);
  renderHolds();
  refreshBalance();
  try {
    const answer = await call('GET', `/concert/session/${state.concertId}`);
    fill(dates, answer.sessions.map((s) => h('button', {
      type: 'button', class: 'date', 'aria-pressed': 'false', 'data-session': s.sessionId,
      onclick: () => chooseSession(s),
    }, h('strong', {}, s.date), h('span', {}, `${s.abailable} left · 잔여`))));
    if (answer.sessions.length) chooseSession(answer.sessions[0]);
  } catch (error) {
    fail(error);
  }
}

function mine() {
  return new Set([...state.holds.values()].filter((x) => x.sessionId === state.session?.sessionId).map((x) => x.seatNumber));
}

function chooseSession(session) {
  state.session = session;
  for (const button of dates.querySelectorAll('button')) {
    button.setAttribute('aria-pressed', String(Number(button.dataset.session) === session.sessionId));
  }
  seatTitle.textContent = `Seats on ${session.date} · ${session.date} 좌석`;
  state.watch?.stop();
  state.watch = new SeatWatch(session.sessionId, {
    onSeats: (seats) => { state.seats = seats; seatMap.render(seats, mine()); },
    onSeat: (seat) => seatMap.mark(seat.seatNumber, seat.isReservation, mine()),
    onError: fail,
  });
  state.watch.start();
}

// An admission that makes no request for CONCERT_ADMITTED_IDLE (2 min) ends, so that an
// abandoned tab frees its place; seat lists carry no token. Someone still choosing (a key,
// a tap) keeps it: at most one balance read per 30 s of activity.
const KEEPALIVE_MS = 30000;
let lastTokenRequest = 0;
for (const kind of ['keydown', 'pointerdown']) {
  document.addEventListener(kind, () => {
    if (state.admitted && Date.now() - lastTokenRequest > KEEPALIVE_MS) refreshBalance();
  });
}

async function refreshBalance() {
  lastTokenRequest = Date.now();
  try {
    balance.textContent = `${points((await call('GET', '/concert/balance', { token: state.token })).balance)} P`;
  } catch (error) {
    fail(error);
  }
}

async function charge(amount) {
  fail(null);
  try {
    const answer = await call('PATCH', '/concert/balance', { token: state.token, body: { amount } });
    balance.textContent = `${points(answer.balance)} P`;
    say(`Balance ${points(answer.balance)} points.`);
  } catch (error) {
    fail(error);
  }
}

async function hold(seatNumber) {
  fail(null);
  if (!state.session) return;
  try {
    const answer = await call('POST', '/concert/reservation', {
      token: state.token, body: { sessionId: state.session.sessionId, seatNumber },
    });
    // The key makes a retried payment of this hold safe: the same key, never a second charge.
    const item = { ...answer, date: state.session.date, key: crypto.randomUUID() };
    state.holds.set(answer.reservationId, item);
    renderHolds();
    seatMap.mark(seatNumber, true, mine());
    say(`Seat ${seatNumber} held for you. 좌석을 선점했습니다.`);
  } catch (error) {
    fail(error);
    state.watch?.refresh();
  }
}

function renderHolds() {
  if (state.holds.size === 0) {
    fill(holdsList, h('li', { class: 'empty' }, 'None yet: pick a free seat above. · 선점한 좌석이 없습니다.'));
    return;
  }
  fill(holdsList, [...state.holds.values()].map((x) => {
    const left = h('span', { class: 'countdown', 'data-expires': x.expiresAt, 'aria-label': 'time left' });
    return h('li', { 'data-reservation': x.reservationId },
      h('span', {}, `${x.date} · seat ${x.seatNumber} · ${points(x.price)} P`), left,
      h('button', { type: 'button', class: 'primary', onclick: () => pay(x) }, `Pay ${points(x.price)} P · 결제`));
  }));
  tick();
}

// One clock for every countdown; a hold whose time is up is gone, and its seat free again.
function tick() {
  const now = Date.now();
  for (const [id, x] of state.holds) {
    const left = (Date.parse(x.expiresAt) - now) / 1000;
    const label = holdsList.querySelector(`[data-reservation="${id}"] .countdown`);
    if (left <= 0) {
      state.holds.delete(id);
      renderHolds();
      say(`Your hold on seat ${x.seatNumber} expired. 선점이 만료되었습니다.`);
      showError(errorBox, { code: 'RESERVATION_EXPIRED', msg: '만료된 예약입니다.' });
      state.watch?.refresh();
      return;
    }
    if (label) label.textContent = clock(left);
  }
}
setInterval(tick, 250);

async function pay(x) {
  fail(null);
  try {
    const paid = await call('POST', '/concert/payment', {
      token: state.token, body: { reservationId: x.reservationId }, headers: { 'Idempotency-Key': x.key },
    });
    state.holds.delete(x.reservationId);
    // The payment may have ended this admission (CONCERT_EXPIRE_TOKEN_ON_PAYMENT).
    state.admitted = false;
    renderHolds();
    balance.textContent = `${points(paid.balance)} P`;
    fill(receipt,
      h('h2', {}, 'Receipt · 영수증'),
      h('dl', {},
        h('dt', {}, 'Date · 날짜'), h('dd', {}, paid.date),
        h('dt', {}, 'Seat · 좌석'), h('dd', {}, String(paid.seatNumber)),
        h('dt', {}, 'Paid · 결제 금액'), h('dd', {}, `${points(paid.amount)} P`),
        h('dt', {}, 'Payment · 결제 번호'), h('dd', {}, String(paid.paymentId)),
        h('dt', {}, 'Balance · 잔액'), h('dd', {}, `${points(paid.balance)} P`)),
      h('button', { type: 'button', onclick: () => joinForm() }, 'Buy another ticket · 추가 예매'));
    receipt.hidden = false;
    receipt.querySelector('button').focus();
    state.watch?.refresh();
  } catch (error) {
    fail(error);
  }
}

// ---- start --------------------------------------------------------------------------

document.body.prepend(h('header', {}, h('h1', {}, h('a', { href: '/' }, 'Concert tickets · 공연 예매'))), errorBox, live);
const match = location.pathname.match(/^\/concerts\/(\d+)$/);
if (match) {
  state.concertId = Number(match[1]);
  joinForm();
} else {
  listConcerts();
}
