import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import pino from 'pino';
import { expect } from 'vitest';
import { startQueueTicker } from '../../src/modules/queue/queue.ticker.js';
import { bearer, createTestApp, type TestApp } from './harness.js';

/** Debian's Chromium (package `chromium`); the browser tests skip, saying so, without it. */
export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
/** A browser suite's title, saying why it was skipped when it is. */
export const browserSuite = (title: string) =>
  hasChromium ? title : `${title} (skipped: ${CHROMIUM} is absent; apt-get install chromium)`;

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

export interface PageServer {
  t: TestApp;
  url: string;
  close(): Promise<void>;
}

/**
 * The service on the run's database, listening on a free port, with the waiting room's admission
 * ticker running as main.ts runs it, and rate limits at their defaults (the page's polling must stay
 * within them).
 */
export async function startPageServer(env: Record<string, string> = {}): Promise<PageServer> {
  const t = await createTestApp({ RATE_LIMIT_ENABLED: 'true', ...env });
  const url = await t.app.listen({ host: '127.0.0.1', port: 0 });
  const ticker = startQueueTicker({ queue: t.services.queue, intervalMs: 50, databaseReady: async () => true, log: pino({ level: 'silent' }) });
  return {
    t,
    url,
    async close() {
      ticker.stop();
      await t.close();
    },
  };
}

/** expect.poll with the patience of a browser step (the default second is short on a busy machine). */
export const eventually = <T>(read: () => Promise<T> | T, timeout = 8_000) => expect.poll(read, { timeout });

export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 900 };

export interface UserPage {
  page: Page;
  context: BrowserContext;
  /** Script errors and Content-Security-Policy violations seen so far (expect none). */
  problems: string[];
}

export async function openPage(browser: Browser, url: string, viewport = DESKTOP): Promise<UserPage> {
  const context = await browser.newContext({ viewport });
  // A step that cannot happen fails with what it waited for, well before the test's own timeout.
  context.setDefaultTimeout(8_000);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (message) => {
    // Refused API calls (409, 403…) are logged by the browser as failed loads: expected, not a problem.
    if (message.type() === 'error' && !/Failed to load resource/.test(message.text())) problems.push(message.text());
  });
  await page.goto(url);
  return { page, context, problems };
}

/** The signed-in user as the page keeps it: id and bearer token. */
export async function userOf(page: Page): Promise<{ id: string; token: string }> {
  return page.evaluate(() => JSON.parse(localStorage.getItem('ticketing.user') ?? '{}'));
}

/** The user's ledger through the API, newest first: e.g. ['REFUND 50000', 'PAYMENT -50000', 'CHARGE 200000']. */
export async function ledgerOf(t: TestApp, page: Page): Promise<string[]> {
  const res = await t.app.inject({ url: '/users/me/balance/transactions?limit=100', headers: bearer((await userOf(page)).token) });
  return (res.json().items as { type: string; amount: number }[]).map((i) => `${i.type} ${i.amount}`);
}

export async function signUp(page: Page, name: string) {
  await page.getByLabel('Your name').fill(name);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await eventually(() => page.getByTestId('balance').textContent()).toBe('₩0');
}

export async function topUp(page: Page, amount: number) {
  await page.getByLabel('Top up (won)').fill(String(amount));
  await page.getByRole('button', { name: 'Top up' }).click();
  await page.getByRole('status').getByText(/Your balance is/).waitFor();
}

/** Opens the concert by its link, picks its first date and joins the line. */
export async function joinLine(page: Page, url: string, concertId: string) {
  await page.goto(`${url}#concert=${concertId}`);
  await page.locator('.date input:not([disabled])').first().check();
  await page.getByRole('button', { name: 'Join the line' }).click();
}

export const seat = (page: Page, n: number) => page.locator(`.seats [data-seat="${n}"]`);
export const notice = (page: Page) => page.locator('.notices');

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's serious and critical violations on the page as it is now (rule: how many nodes). */
export async function accessibilityViolations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol, which the page's Content-Security-Policy does not govern.
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    type Result = { violations: { id: string; impact: string; nodes: { target: unknown[] }[] }[] };
    const result = await (window as unknown as { axe: { run(): Promise<Result> } }).axe.run();
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => String(n.target[0])) }));
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.join(', ')}`);
}

/**
 * With SCREENSHOTS set (npm run screenshots), saves the page into docs/screenshots/<name>.png: the
 * whole page, or the screen with `middle` scrolled to its centre (as a phone shows it).
 */
export async function screenshot(page: Page, name: string, middle?: string) {
  if (!process.env.SCREENSHOTS) return;
  const dir = resolve(import.meta.dirname, '../../docs/screenshots');
  mkdirSync(dir, { recursive: true });
  if (middle) await page.locator(middle).evaluate((el) => el.scrollIntoView({ block: 'center' }));
  await page.screenshot({ path: resolve(dir, `${name}.png`), fullPage: !middle, animations: 'disabled' });
}

/** A concert with a name a person would read (for the screenshots). */
export const showcase = (title: string) => ({ title, artist: 'Neon Harbour', venue: 'BEXCO, Busan' });
