// Shared by the browser scripts: launching Chromium, screenshots, the axe scan, a tiny API
// client for the "other people" of a scenario, and the checks that fail the script.
import { chromium } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

export const base = process.argv[2] ?? 'http://127.0.0.1:8080';
const shots = process.env.SCREENSHOTS ?? 'screenshots';
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
let shotCount = 0;

export function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    // Root in CI: Chromium's sandbox needs user namespaces it may not have there.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}

/** A new page that fails the scenario on an uncaught error or a CSP violation. */
export async function newPage(browser, options = {}) {
  const context = await browser.newContext({ locale: 'ko-KR', ...options });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (error) => page.problems.push(`uncaught: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content.Security.Policy/i.test(message.text())) {
      page.problems.push(`CSP: ${message.text()}`);
    }
  });
  return page;
}

export function noProblems(page) {
  check(page.problems.length === 0, `the page had problems: ${page.problems.join('; ')}`);
}

export async function shot(page, name) {
  shotCount += 1;
  await page.screenshot({ path: `${shots}/${String(shotCount).padStart(2, '0')}-${name}.png`, fullPage: true });
}

/** axe-core over the page; fails on a serious or critical violation. */
export async function accessible(page, label) {
  // Evaluated over the debugging protocol, which the page's CSP does not govern.
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  console.log(`axe ${label}: ${result.violations.length} violations, ${bad.length} serious or critical`);
  check(bad.length === 0, `axe (${label}): ${bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target).join(' ')}`).join('; ')}`);
}

/** The API, for the other people in a scenario. */
export async function api(method, path, { token, body, headers = {} } = {}) {
  const init = { method, headers: { ...headers } };
  if (token) init.headers.Authorization = token;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`${base}${path}`, init);
  const json = await response.json();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

/** An admitted token for `user` (the app must have room for one more). */
export async function admitted(user) {
  const ticket = await api('GET', `/concert/wating?userId=${user}`);
  check(ticket.isProcessing, `${user} is admitted at once: ${JSON.stringify(ticket)}`);
  return ticket.token;
}

/** Presses Tab until the focused element matches `selector` (a keyboard user's path). */
export async function tabTo(page, selector, limit = 60) {
  for (let i = 0; i < limit; i += 1) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((s) => document.activeElement?.matches(s), selector)) return i + 1;
  }
  throw new Error(`${selector} is not reachable with Tab`);
}

/** Runs a scenario: exit 0 with "ok", or 1 with the error. */
export async function scenario(name, body) {
  const browser = await launch();
  const started = Date.now();
  try {
    await body(browser);
    console.log(`${name}: ok in ${Date.now() - started} ms`);
  } catch (error) {
    console.error(`${name}: ${error.stack ?? error}`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}
