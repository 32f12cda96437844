// An unpaid hold counts down to its expiresAt; then it is gone and the seat is free again.
// The app runs with a 4-second hold TTL.
import { check, newPage, noProblems, scenario, shot, base } from './lib.mjs';

await scenario('expiry', async (browser) => {
  const page = await newPage(browser);
  await page.goto(`${base}/concerts/1`);
  await page.click('text=Join the line');
  await page.waitForSelector('button.seat[data-seat="5"][data-state="free"]');
  await page.click('button.seat[data-seat="5"]');
  await page.waitForSelector('button.seat[data-seat="5"][data-state="mine"]');
  const first = await page.textContent('.countdown');
  check(/^0:0[1-4]$/.test(first), `a countdown of a few seconds: ${first}`);
  await shot(page, 'counting-down');
  await page.waitForSelector('ul.holds li[data-reservation]', { state: 'detached', timeout: 8000 });
  await page.waitForSelector('.error[data-code="RESERVATION_EXPIRED"]');
  await page.waitForSelector('button.seat[data-seat="5"][data-state="free"]', { timeout: 5000 });
  await shot(page, 'expired-and-free');
  noProblems(page);
});
