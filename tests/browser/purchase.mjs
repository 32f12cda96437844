// A visitor waits behind others, is admitted, holds a seat, charges, pays and sees the
// receipt; a second browser watching the same session sees the seat turn taken, no reload.
// The app runs with max_active = 2: a buyer (over the API) and the watcher take both places.
import { admitted, api, accessible, check, newPage, noProblems, scenario, shot, base } from './lib.mjs';

await scenario('purchase', async (browser) => {
  const buyer = await admitted('EarlyBuyer');

  const watcher = await newPage(browser);
  await watcher.goto(`${base}/concerts/1`);
  await watcher.fill('#user', 'Watcher');
  await watcher.click('text=Join the line');
  await watcher.waitForSelector('.admitted');
  await watcher.waitForSelector('button.seat[data-seat="7"][data-state="free"]');

  const page = await newPage(browser);
  await page.goto(base);
  await page.waitForSelector('a.card');
  check(await page.textContent('a.card strong') === 'Demo concert', 'the card shows the title');
  check((await page.textContent('a.card')).includes('6 dates'), 'and its number of dates');
  await shot(page, 'concerts');
  await accessible(page, 'concert list');
  await page.click('a.card');
  await page.waitForSelector('#user');
  await page.waitForSelector('#concert-title:text("Demo concert")');
  await page.fill('#user', 'HappyCat');
  await shot(page, 'join');
  await page.click('text=Join the line');
  await page.waitForSelector('#place:text("#1")');
  await shot(page, 'waiting');
  await accessible(page, 'waiting');

  // The buyer pays: the payment ends its admission, and the next in line is let in.
  await api('PATCH', '/concert/balance', { token: buyer, body: { amount: 10000 } });
  const hold = await api('POST', '/concert/reservation', { token: buyer, body: { sessionId: 1, seatNumber: 50 } });
  await api('POST', '/concert/payment', { token: buyer, body: { reservationId: hold.reservationId }, headers: { 'Idempotency-Key': 'buyer-1' } });
  await page.waitForSelector('.admitted', { timeout: 5000 });
  await page.waitForSelector('button.seat[data-seat="50"][data-state="taken"]');
  await shot(page, 'admitted');
  await accessible(page, 'seat map');

  // Hold seats 7, 8 and 9; the watcher sees each taken without a reload. Each hold starts
  // just after the watcher's last update, so the worst phase of its polling is measured.
  // Polled once a second (no seat stream on this server): a second plus one request, with
  // room for a loaded CI machine running two browsers.
  for (const seat of [7, 8, 9]) {
    await page.click(`button.seat[data-seat="${seat}"]`);
    await page.waitForSelector(`button.seat[data-seat="${seat}"][data-state="mine"]`);
    const held = Date.now();
    await watcher.waitForSelector(`button.seat[data-seat="${seat}"][data-state="taken"]`, { timeout: 5000 });
    const seenMs = Date.now() - held;
    console.log(`the watcher saw seat ${seat} taken ${seenMs} ms after the hold`);
    check(seenMs <= 2000, `seat ${seat} seen within about a second (${seenMs} ms)`);
  }
  await shot(watcher, 'watcher-sees-taken');
  check(/\d:\d\d/.test(await page.textContent('.countdown')), 'the hold shows a countdown');
  await shot(page, 'held');

  // Paying without points is refused in words, Korean and English.
  await page.click('ul.holds button');
  await page.waitForSelector('.error[data-code="INSUFFICIENT_BALANCE"]');
  check((await page.textContent('.error')).includes('잔액이 부족합니다'), 'the Korean message');
  check((await page.textContent('.error')).includes('Not enough points'), 'the English line');
  await shot(page, 'insufficient-balance');

  await page.fill('#amount', '20000');
  await page.click('text=Charge · 충전하기');
  await page.waitForSelector('#balance:text("20,000 P")');
  await page.click('ul.holds button');
  await page.waitForSelector('.receipt:not([hidden])');
  const receipt = await page.textContent('.receipt');
  check(receipt.includes('10,000 P') && receipt.includes('2024-07-03'), `the receipt: ${receipt}`);
  check(await page.isHidden('.error'), 'no error after paying');
  await shot(page, 'receipt');
  await accessible(page, 'receipt');
  noProblems(page);
  noProblems(watcher);
});
