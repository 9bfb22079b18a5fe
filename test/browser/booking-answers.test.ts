import type { Browser, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConcert, createUser, hold } from '../support/harness.js';
import {
  browserSuite,
  eventually,
  hasChromium,
  joinLine,
  launchChromium,
  ledgerOf,
  notice,
  openPage,
  seat,
  signUp,
  startPageServer,
  type PageServer,
} from '../support/browser.js';

const title = browserSuite('the booking page keeps to the server: lost answers, holds changed elsewhere');

describe.skipIf(!hasChromium)(title, { timeout: 60_000 }, () => {
  let browser: Browser;
  let open: PageServer;

  beforeAll(async () => {
    [browser, open] = await Promise.all([launchChromium(), startPageServer()]);
  });
  afterAll(async () => {
    await browser?.close();
    await open?.close();
  });

  it('a lost answer is asked for again under the same Idempotency-Key: one top-up, one payment, and the page says Booked', async () => {
    const concert = await createConcert(open.t, [{ seatCount: 10, price: 40_000 }]);
    const { page, problems, context } = await openPage(browser, open.url);
    const keys: Record<string, string[]> = { '/users/me/balance/charges': [], '/payments': [] };
    page.on('request', (r) => {
      const sent = keys[new URL(r.url()).pathname];
      if (r.method() === 'POST' && sent) sent.push(r.headers()['idempotency-key'] ?? 'none');
    });
    // Every request reaches the server; while `losing`, its answer never reaches the page.
    let losing = false;
    const lose = async (route: Route) => {
      const response = await route.fetch();
      return losing ? route.abort('connectionreset') : route.fulfill({ response });
    };
    await page.route('**/users/me/balance/charges', lose);
    await page.route('**/payments', lose);
    await signUp(page, 'Lossy');

    losing = true;
    await page.getByLabel('Top up (won)').fill('100000');
    await page.getByRole('button', { name: 'Top up' }).click();
    await notice(page).getByText('The ticket service cannot be reached.', { exact: false }).waitFor();
    losing = false;
    await page.getByRole('button', { name: 'Top up' }).click();
    await page.getByRole('status').getByText('Added ₩100,000. Your balance is ₩100,000.').waitFor();
    expect(new Set(keys['/users/me/balance/charges'])).toHaveProperty('size', 1);
    expect(await ledgerOf(open.t, page)).toEqual(['CHARGE 100000']);

    await joinLine(page, open.url, concert.id);
    await seat(page, 2).click();
    await page.getByRole('heading', { name: 'Held for you: seat 2, ₩40,000' }).waitFor();
    losing = true;
    await page.getByRole('button', { name: 'Pay ₩40,000' }).click();
    // Paying… until the retries give up (meanwhile the map may say the turn ended: it was paid).
    await page.getByRole('button', { name: 'Paying…' }).waitFor();
    await page.getByRole('button', { name: 'Pay ₩40,000' }).waitFor();
    losing = false;
    // The first payment went through and ended the turn; the page learns that only now.
    await page.getByRole('button', { name: 'Pay ₩40,000' }).click();
    await page.getByRole('heading', { name: 'Booked: seat 2' }).waitFor();
    expect(keys['/payments']!.length).toBeGreaterThan(1);
    expect(new Set(keys['/payments'])).toHaveProperty('size', 1);
    expect(await ledgerOf(open.t, page)).toEqual(['PAYMENT -40000', 'CHARGE 100000']);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('a seat map that keeps failing says so once: a dismissed alert stays dismissed while the map is retried, and the map comes back', async () => {
    const concert = await createConcert(open.t, [{ seatCount: 10 }]);
    const { page, problems, context } = await openPage(browser, open.url);
    await signUp(page, 'Patient');
    await joinLine(page, open.url, concert.id);
    await seat(page, 1).waitFor();
    let failing = true;
    const unavailable = { status: 503, contentType: 'application/problem+json', headers: { 'retry-after': '1' }, body: JSON.stringify({ code: 'UNAVAILABLE', status: 503 }) };
    await page.route('**/schedules/*/seats', (route) => (failing ? route.fulfill(unavailable) : route.continue()));
    const alert = page.getByRole('alert');
    await alert.getByText('The ticket service is briefly unavailable.', { exact: false }).waitFor();
    await alert.getByRole('button', { name: 'Dismiss' }).click();
    // Two more failed reads: the same problem is not said again.
    for (let i = 0; i < 2; i++) await page.waitForRequest((r) => new URL(r.url()).pathname.endsWith('/seats'), { timeout: 10_000 });
    expect(await alert.textContent()).toBe('');
    failing = false;
    await page.waitForResponse((r) => new URL(r.url()).pathname.endsWith('/seats') && r.status() === 200, { timeout: 10_000 });
    expect(await seat(page, 1).getAttribute('data-status')).toBe('AVAILABLE');
    expect(problems).toEqual([]);
    await context.close();
  });

  it('a hold released under My reservations is no longer shown as yours; a seat someone else holds shows within 2 s, the page untouched', async () => {
    const concert = await createConcert(open.t, [{ seatCount: 10, price: 20_000 }]);
    const { page, problems, context } = await openPage(browser, open.url);
    await signUp(page, 'Changer');
    await joinLine(page, open.url, concert.id);
    await seat(page, 6).click();
    await eventually(() => seat(page, 6).getAttribute('data-status')).toBe('MINE');

    const mine = page.locator('.my-reservations');
    await mine.getByRole('button', { name: 'Cancel…' }).click();
    await mine.getByRole('button', { name: 'Yes, cancel' }).click();
    await notice(page).getByText('Released your hold on seat 6.').waitFor();
    await page.locator('.holds').getByText('You released seat 6.').waitFor();
    await eventually(() => seat(page, 6).getAttribute('data-status'), 2_000).toBe('AVAILABLE');
    expect(await seat(page, 6).getAttribute('aria-label')).toBe('Seat 6, ₩20,000, free');
    expect(await page.getByRole('button', { name: 'Pay ₩20,000' }).count()).toBe(0);

    const other = await createUser(open.t.app);
    expect((await hold(open.t, other, concert.schedules[0]!.id, 7)).statusCode).toBe(201);
    await eventually(() => seat(page, 7).getAttribute('data-status'), 2_000).toBe('HELD');
    expect(problems).toEqual([]);
    await context.close();
  });
});
