// The operator signs in, creates a concert and a session, schedules its room, pauses it
// (visitors stop being admitted), resumes it and re-rates it; the counters and charts move,
// the site's totals too (holds, sales, HTTP p99). Then the visitor's list shows the titles
// and a scheduled room's opening.
import { accessible, api, check, newPage, noProblems, scenario, shot, base } from './lib.mjs';

const counter = (page, name) => page.textContent(`[data-counter="${name}"] b`);
/** Waits until a chart's last drawn sample (its `data-last`) is `expected`. */
async function waitChart(page, name, expected) {
  await page.waitForFunction(([n, e]) => document.querySelector(`svg.chart[data-chart="${n}"]`)?.dataset.last === e,
    [name, expected], { timeout: 5000 });
}
async function waitCounter(page, name, expected) {
  await page.waitForFunction(([n, e]) => document.querySelector(`.panel [data-counter="${n}"] b`)?.textContent === e,
    [name, expected], { timeout: 5000 });
}

await scenario('dashboard', async (browser) => {
  const page = await newPage(browser);
  await page.goto(`${base}/admin`);
  await page.fill('#admin-key', 'wrong-key');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.error[data-code="ADMIN_KEY_INVALID"]');
  await shot(page, 'wrong-key');
  await page.fill('#admin-key', process.env.ADMIN_KEY);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#title');
  check(await page.evaluate(() => localStorage.length === 0 && sessionStorage.length === 1), 'the key is in session storage only');

  await page.fill('#title', 'IU 2024');
  await page.click('text=Create concert');
  await page.waitForSelector('.notice:text("Concert 2 created")');
  await page.fill('#session-date', '2024-09-01');
  await page.fill('#seat-count', '1000');
  await page.click('text=Add session');
  await page.waitForSelector('.notice:text("added")');
  await page.fill('#max-active', '1');
  await page.click('text=Schedule · 일정 등록');
  await page.waitForSelector('.notice:text("Scheduled: concert-2 is open")');
  await shot(page, 'scheduled');
  await accessible(page, 'dashboard');

  // Three visitors: the first is admitted, two wait.
  const join = (user) => api('GET', `/concert/wating?userId=${user}&concertId=2`);
  const first = await join('First');
  await join('Second');
  await join('Third');
  check(first.isProcessing, 'the first is admitted');
  await waitCounter(page, 'waiting', '2');
  await waitCounter(page, 'admitted', '1');
  const chartBefore = await page.getAttribute('svg.chart polyline.s0', 'points');

  await page.click('text=Pause · 일시정지');
  await waitCounter(page, 'state', 'paused');
  // The first pays, which ends its admission: while paused nobody takes the place.
  const session = (await api('GET', '/concert/session/2')).sessions[0].sessionId;
  await api('PATCH', '/concert/balance', { token: first.token, body: { amount: 10000 } });
  await waitChart(page, 'holds-sales', '0 0');
  const hold = await api('POST', '/concert/reservation', { token: first.token, body: { sessionId: session, seatNumber: 1 } });
  // The site's totals chart the hold, then its sale.
  await waitChart(page, 'holds-sales', '1 0');
  await waitCounter(page, 'holds', '1');
  await api('POST', '/concert/payment', { token: first.token, body: { reservationId: hold.reservationId }, headers: { 'Idempotency-Key': 'first' } });
  await waitChart(page, 'holds-sales', '0 1');
  await waitCounter(page, 'sales', '1');
  check(await counter(page, 'soldOutSessions') === '0 / 7', 'no session sold out (the demo\'s six and this one)');
  const p99 = Number(await page.getAttribute('svg.chart[data-chart="p99"]', 'data-last'));
  check(p99 > 0, `the p99 chart draws the answered requests (${p99} ms)`);
  check(/ms$/.test(await counter(page, 'httpP99Ms')), 'the p99 counter shows milliseconds');
  const salesLine = await page.getAttribute('svg.chart[data-chart="holds-sales"] polyline.s1', 'points');
  check(salesLine.split(' ').length >= 3, 'the sales line has points');
  await page.locator('#totals-title').scrollIntoViewIfNeeded();
  await shot(page, 'totals-after-a-sale');
  await waitCounter(page, 'admitted', '0');
  await waitCounter(page, 'seatsLeft', '999');
  check(await counter(page, 'soldOut') === '0 / 1', 'no date sold out');
  await new Promise((resolve) => setTimeout(resolve, 1500));
  check(await counter(page, 'waiting') === '2', 'nobody is admitted while paused');
  check(!(await join('Second')).isProcessing, 'the second still waits');
  await shot(page, 'paused');

  await page.click('text=Resume · 재개');
  await waitCounter(page, 'admitted', '1');
  await waitCounter(page, 'waiting', '1');
  check((await join('Second')).isProcessing, 'the second is admitted after the resume');
  await page.fill('#max-active', '5');
  await page.click('text=Re-rate');
  await waitCounter(page, 'waiting', '0');
  await waitCounter(page, 'admittedTotal', '3');
  const chartAfter = await page.getAttribute('svg.chart polyline.s0', 'points');
  check(chartAfter !== chartBefore && chartAfter.split(' ').length >= 4, 'the chart moved');
  await shot(page, 'resumed-and-re-rated');
  noProblems(page);

  // The new concert's 1,000 seats, on the visitor's page: one Tab stop, End reaches the last.
  const visitor = await newPage(browser);
  await visitor.goto(`${base}/concerts/2`);
  await visitor.fill('#user', 'Fourth');
  await visitor.click('text=Join the line');
  await visitor.waitForSelector('button.seat[data-seat="1000"]');
  check(await visitor.locator('button.seat').count() === 1000, 'a button per seat');
  check(await visitor.locator('button.seat[tabindex="0"]').count() === 1, 'one Tab stop in the map');
  await visitor.focus('button.seat[tabindex="0"]');
  await visitor.keyboard.press('End');
  await visitor.keyboard.press('Enter');
  await visitor.waitForSelector('button.seat[data-seat="1000"][data-state="mine"]');
  await shot(visitor, 'thousand-seats');
  await accessible(visitor, '1,000 seats');
  check(await visitor.textContent('h2.concert-name') === 'IU 2024', 'the admitted page names the concert');
  noProblems(visitor);

  // A concert whose on-sale opens in an hour: the list says when, in the fan's time.
  const admin = { 'X-Admin-Key': process.env.ADMIN_KEY };
  const later = await api('POST', '/admin/concerts', { headers: admin, body: { title: '아이유 HEREH 월드투어 — 서울' } });
  const opensAt = new Date(Date.now() + 3600 * 1000).toISOString();
  await api('PUT', `/admin/concerts/${later.concertId}/room`, { headers: admin, body: { opensAt, preQueueOpensAt: opensAt } });
  const list = await newPage(browser);
  await list.goto(base);
  await list.waitForSelector(`a.card[data-concert="${later.concertId}"]`);
  const titles = await list.locator('a.card strong').allTextContents();
  check(JSON.stringify(titles) === JSON.stringify(['Demo concert', 'IU 2024', '아이유 HEREH 월드투어 — 서울']), `the titles by id: ${titles}`);
  const card = await list.textContent(`a.card[data-concert="${later.concertId}"] .on-sale`);
  check(card.startsWith('Opens ') && card.includes('오픈 예정'), `the scheduled opening: ${card}`);
  await shot(list, 'concert-list');
  await accessible(list, 'concert list with a scheduled room');
  await list.click(`a.card[data-concert="${later.concertId}"]`);
  await list.waitForSelector('#concert-title:text("아이유 HEREH 월드투어 — 서울")');
  check((await list.textContent('#concert-on-sale')).startsWith('Opens '), 'the join page says when it opens');
  await shot(list, 'scheduled-concert');
  noProblems(list);
});
