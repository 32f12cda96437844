// A phone-sized screen and no mouse: join, hold, charge and pay with Tab, arrows and Enter.
import { accessible, check, newPage, noProblems, scenario, shot, base, tabTo } from './lib.mjs';

await scenario('keyboard', async (browser) => {
  const page = await newPage(browser, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  await page.goto(`${base}/concerts/1`);
  await page.waitForSelector('#user:focus');
  await page.keyboard.press('Control+A');
  await page.keyboard.type('ThumbFan');
  await shot(page, 'phone-join');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.admitted');
  await page.waitForSelector('button.seat[data-seat="3"]');
  const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(wide <= 0, `no sideways scrolling on a phone (${wide} px too wide)`);
  await shot(page, 'phone-seats');
  await accessible(page, 'phone seat map');

  // One Tab stop for the whole map; the arrows move within it.
  await tabTo(page, 'button.seat');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  check(await page.evaluate(() => document.activeElement.dataset.seat === '3'), 'the arrows reach seat 3');
  await page.keyboard.press('Enter');
  await page.waitForSelector('button.seat[data-seat="3"][data-state="mine"]');

  await tabTo(page, '#amount');
  await page.keyboard.press('Control+A');
  await page.keyboard.type('10000');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#balance:text("10,000 P")');
  await tabTo(page, 'ul.holds button');
  await page.keyboard.press('Enter');
  await page.waitForSelector('.receipt:not([hidden])');
  check(await page.evaluate(() => document.activeElement.closest('.receipt') !== null), 'focus moves to the receipt');
  await shot(page, 'phone-receipt');
  noProblems(page);
});
