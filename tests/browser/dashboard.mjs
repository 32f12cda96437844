// The operator signs in, creates a concert and a session, schedules its room, pauses it
// (visitors stop being admitted), resumes it and re-rates it; the counters and charts move.
import { accessible, api, check, newPage, noProblems, scenario, shot, base } from './lib.mjs';

const counter = (page, name) => page.textContent(`[data-counter="${name}"] b`);
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
  const hold = await api('POST', '/concert/reservation', { token: first.token, body: { sessionId: session, seatNumber: 1 } });
  await api('POST', '/concert/payment', { token: first.token, body: { reservationId: hold.reservationId }, headers: { 'Idempotency-Key': 'first' } });
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
  noProblems(visitor);
});
