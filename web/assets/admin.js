// The operator's dashboard: the admin key (kept in this tab's session storage only),
// concerts and sessions, a room's schedule and live controls, its counters and the
// site's totals (GET /admin/stats: holds, sales, sold-out sessions, HTTP p99) charted
// over the last five minutes (polled once a second).
import { call } from './api.js';
import { LineChart } from './chart.js';
import { h, fill, showError } from './ui.js';

const KEY_STORAGE = 'concert.adminKey';
const POLL_MS = 1000;
const app = document.getElementById('app');
const errorBox = h('div', { class: 'error', role: 'alert', hidden: true });
const notice = h('p', { class: 'notice', role: 'status' });
let watched = null; // a concert id, or null for the site-wide room
let timer = null;

const key = () => sessionStorage.getItem(KEY_STORAGE);
const admin = (method, path, body) => call(method, path, { body, headers: { 'X-Admin-Key': key() } });
const roomPath = (id) => (id === null ? '/admin/room' : `/admin/concerts/${id}/room`);

async function act(work, done) {
  showError(errorBox, null);
  try {
    const answer = await work();
    if (done) notice.textContent = done(answer);
    return answer;
  } catch (error) {
    showError(errorBox, error);
    if (error.code === 'ADMIN_KEY_INVALID') askKey();
    return null;
  }
}

function field(id, text, attributes = {}) {
  return [h('label', { for: id }, text), h('input', { id, name: id, ...attributes })];
}
const value = (id) => document.getElementById(id).value.trim();
const optionalNumber = (id) => (value(id) === '' ? undefined : Number(value(id)));

// ---- the key ------------------------------------------------------------------------

function askKey() {
  clearInterval(timer);
  fill(app, h('h2', {}, 'Sign in · 로그인'),
    h('form', { class: 'join', onsubmit: async (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY_STORAGE, value('admin-key'));
      if (await act(() => admin('GET', '/admin/room'))) dashboard();
    } }, ...field('admin-key', 'Admin key · 관리자 키', { type: 'password', required: true, autocomplete: 'current-password' }),
    h('button', { type: 'submit', class: 'primary' }, 'Open the dashboard · 대시보드 열기')));
  document.getElementById('admin-key').focus();
}

// ---- the dashboard ------------------------------------------------------------------

const people = new LineChart('Waiting and admitted', ['waiting', 'admitted'], 'people');
const rate = new LineChart('Admissions per second', ['admissions/s'], 'admissions');
const left = new LineChart('Seats left (not held, not sold)', ['seats left'], 'seats-left');
const seats = new LineChart('Holds and sales', ['holds', 'sales'], 'holds-sales');
const soldOut = new LineChart('Sold-out sessions', ['sold out'], 'sold-out');
const latency = new LineChart('HTTP p99 (ms)', ['p99 ms'], 'p99');
const totals = h('div', { class: 'counters' });
const counters = h('div', { class: 'counters', 'aria-live': 'off' });
const siteCounters = h('div', { class: 'counters' });
const watchTitle = h('h2', { id: 'watch-title' }, 'Site-wide room · 전체 대기실');

/** A chart under its heading, with its key. */
function chartBox(heading, chart) {
  return h('div', {}, h('h3', {}, heading), chart.element, chart.key());
}

function counter(name, text, number) {
  return h('div', { class: 'counter', 'data-counter': name }, text, h('b', {}, number ?? '—'));
}

function showStatus(box, s) {
  fill(box,
    counter('state', 'State · 상태', s.state),
    counter('waiting', 'Waiting · 대기', s.waiting),
    counter('admitted', 'Admitted · 입장', s.admitted),
    counter('admittedTotal', 'Admitted total · 누적 입장', s.admittedTotal),
    counter('admissionsPerSecond', 'Admissions/s · 초당 입장', s.admissionsPerSecond),
    counter('maxActive', 'Max active · 최대 입장', s.maxActive),
    counter('admissionRate', 'Rate limit · 입장 속도', s.admissionRate ?? 'unlimited'));
}

function showTotals(t) {
  fill(totals,
    counter('holds', 'Holds · 선점', t.holds),
    counter('sales', 'Sales · 판매', t.sales),
    counter('soldOutSessions', 'Sold-out sessions · 매진 회차', `${t.soldOutSessions} / ${t.sessions}`),
    counter('httpP99Ms', `HTTP p99 (${t.windowSeconds} s) · 응답 p99`, t.httpP99Ms === null ? '—' : `${t.httpP99Ms} ms`),
    counter('requestsPerSecond', 'Requests/s · 초당 요청', t.requestsPerSecond));
  seats.push([t.holds, t.sales]);
  soldOut.push([t.soldOutSessions]);
  // No request in the window: nothing was slow.
  latency.push([t.httpP99Ms ?? 0]);
}

async function sample() {
  const headers = { 'X-Admin-Key': key() };
  const [room, site, stats] = await Promise.allSettled([
    call('GET', roomPath(watched), { headers }),
    call('GET', '/admin/room', { headers }),
    call('GET', '/admin/stats', { headers }),
  ]);
  if (site.status === 'fulfilled') showStatus(siteCounters, site.value);
  if (stats.status === 'fulfilled') showTotals(stats.value);
  if (room.status === 'fulfilled') {
    const s = room.value;
    showStatus(counters, s);
    people.push([s.waiting, s.admitted]);
    rate.push([s.admissionsPerSecond]);
  } else if (room.reason?.code === 'ADMIN_KEY_INVALID') {
    askKey();
  }
  if (watched !== null) await sampleSeats(watched);
}

// Holds and sales as the public sessions list shows them: the seats still free and the
// sessions with none left. (The server keeps no per-room sales counter to ask.)
async function sampleSeats(concertId) {
  try {
    const { sessions } = await call('GET', `/concert/session/${concertId}`);
    const free = sessions.reduce((sum, x) => sum + x.abailable, 0);
    const soldOut = sessions.filter((x) => x.abailable === 0).length;
    // Samples may overlap on a slow server: never two of these counters.
    for (const old of counters.querySelectorAll('[data-counter="seatsLeft"], [data-counter="soldOut"]')) old.remove();
    counters.append(counter('seatsLeft', 'Seats left · 잔여석', free),
      counter('soldOut', 'Sold-out dates · 매진 회차', `${soldOut} / ${sessions.length}`));
    left.push([free]);
  } catch {
    // A concert without sessions yet, or a blip: the next second tries again.
  }
}

function watch(id) {
  // Another room's history is not this one's: start its charts afresh.
  if (id !== watched) {
    for (const chart of [people, rate, left]) chart.samples.length = 0;
  }
  watched = id;
  watchTitle.textContent = id === null ? 'Site-wide room · 전체 대기실' : `Concert ${id}'s room · 공연 ${id} 대기실`;
  sample();
}

function inFuture(minutes) {
  const t = new Date(Date.now() + minutes * 60000);
  return t.toISOString().slice(0, 19) + 'Z';
}

function dashboard() {
  const roomId = () => optionalNumber('room-concert') ?? null;
  fill(app,
    notice,
    h('div', { class: 'panels' },
      h('section', { class: 'panel', 'aria-labelledby': 'new-concert' }, h('h2', { id: 'new-concert' }, 'New concert · 공연 등록'),
        h('form', { onsubmit: (event) => { event.preventDefault();
          act(() => admin('POST', '/admin/concerts', { title: value('title') }), (a) => {
            for (const id of ['session-concert', 'room-concert']) document.getElementById(id).value = a.concertId;
            return `Concert ${a.concertId} created. · 공연 ${a.concertId} 등록됨`;
          }); } },
        ...field('title', 'Title · 제목', { required: true, maxlength: '200' }),
        h('button', { type: 'submit', class: 'primary' }, 'Create concert · 공연 만들기'))),
      h('section', { class: 'panel', 'aria-labelledby': 'new-session' }, h('h2', { id: 'new-session' }, 'New session · 회차 등록'),
        h('form', { onsubmit: (event) => { event.preventDefault();
          act(() => admin('POST', `/admin/concerts/${value('session-concert')}/sessions`, {
            date: value('session-date'), seatCount: Number(value('seat-count')), price: Number(value('price')),
          }), (a) => `Session ${a.sessionId ?? ''} added. · 회차 등록됨`); } },
        ...field('session-concert', 'Concert id · 공연 번호', { type: 'number', min: '1', required: true }),
        ...field('session-date', 'Date · 날짜', { type: 'date', required: true }),
        ...field('seat-count', 'Seats (1–1000) · 좌석 수', { type: 'number', min: '1', max: '1000', value: '50', required: true }),
        ...field('price', 'Price · 가격', { type: 'number', min: '0', value: '10000', required: true }),
        h('button', { type: 'submit', class: 'primary' }, 'Add session · 회차 추가'))),
      h('section', { class: 'panel', 'aria-labelledby': 'room' }, h('h2', { id: 'room' }, 'Room · 대기실'),
        h('form', { onsubmit: (event) => { event.preventDefault();
          const body = { opensAt: value('opens-at') || inFuture(0), maxActive: optionalNumber('max-active'), admissionRate: optionalNumber('admission-rate') };
          if (value('prequeue-at')) body.preQueueOpensAt = value('prequeue-at');
          act(() => admin('PUT', roomPath(roomId()), body), (s) => { watch(roomId()); return `Scheduled: ${s.room} is ${s.state}. · 일정 등록됨`; }); } },
        ...field('room-concert', 'Concert id (empty: site-wide) · 공연 번호', { type: 'number', min: '1' }),
        ...field('opens-at', 'Opens at (RFC 3339; empty: now) · 오픈 시각', { placeholder: inFuture(2) }),
        ...field('prequeue-at', 'Pre-queue opens at (optional) · 사전 대기 시작', {}),
        ...field('max-active', 'Max active · 최대 입장', { type: 'number', min: '1' }),
        ...field('admission-rate', 'Admissions per second · 초당 입장', { type: 'number', min: '1' }),
        h('button', { type: 'submit', class: 'primary' }, 'Schedule · 일정 등록'),
        h('div', { class: 'dates' },
          h('button', { type: 'button', onclick: () => act(() => admin('POST', `${roomPath(roomId())}/pause`), (s) => { watch(roomId()); return `Paused: ${s.room}. · 일시정지`; }) }, 'Pause · 일시정지'),
          h('button', { type: 'button', onclick: () => act(() => admin('POST', `${roomPath(roomId())}/resume`), (s) => { watch(roomId()); return `Resumed: ${s.room}. · 재개`; }) }, 'Resume · 재개'),
          h('button', { type: 'button', onclick: () => act(() => admin('PATCH', roomPath(roomId()), {
            maxActive: optionalNumber('max-active') ?? null, admissionRate: optionalNumber('admission-rate') ?? null,
          }), (s) => `Re-rated: ${s.room} admits ${s.maxActive} at once, ${s.admissionRate ?? 'unlimited'}/s. · 변경됨`) }, 'Re-rate · 속도 변경'),
          h('button', { type: 'button', onclick: () => watch(roomId()) }, 'Watch · 보기'))))),
    h('section', { class: 'panel', 'aria-labelledby': 'watch-title' }, watchTitle, counters,
      h('div', { class: 'charts' },
        chartBox('Waiting and admitted · 대기와 입장', people),
        chartBox('Admissions per second · 초당 입장', rate),
        chartBox('Seats left (a concert\'s room) · 잔여석', left))),
    h('section', { class: 'panel', 'aria-labelledby': 'totals-title' }, h('h2', { id: 'totals-title' }, 'All concerts · 전체 현황'), totals,
      h('div', { class: 'charts' },
        chartBox('Holds and sales · 선점과 판매', seats),
        chartBox('Sold-out sessions · 매진 회차', soldOut),
        chartBox('HTTP p99 latency, ms · 응답 시간', latency))),
    h('section', { class: 'panel', 'aria-labelledby': 'site-title' }, h('h2', { id: 'site-title' }, 'Site-wide room · 전체 대기실'), siteCounters,
      h('button', { type: 'button', onclick: () => { sessionStorage.removeItem(KEY_STORAGE); askKey(); } }, 'Sign out · 로그아웃')));
  watch(watched);
  clearInterval(timer);
  timer = setInterval(sample, POLL_MS);
}

document.body.prepend(h('header', {}, h('h1', {}, h('a', { href: '/admin' }, 'Operator dashboard · 운영 대시보드'))), errorBox);
if (key()) dashboard();
else askKey();
