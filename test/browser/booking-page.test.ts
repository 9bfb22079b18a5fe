import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createConcert, invariants } from '../support/harness.js';
import {
  accessibilityViolations,
  browserSuite,
  eventually,
  hasChromium,
  joinLine,
  launchChromium,
  ledgerOf,
  notice,
  openPage,
  PHONE,
  screenshot,
  seat,
  showcase,
  signUp,
  startPageServer,
  topUp,
  userOf,
  type PageServer,
} from '../support/browser.js';

const title = browserSuite('the booking page in Chromium');

// A browser step waits on polls and countdowns: more time than a plain test's 30 s on a busy machine.
describe.skipIf(!hasChromium)(title, { timeout: 60_000 }, () => {
  let browser: Browser;
  /** Default limits: everyone admitted at once, holds of five minutes. */
  let open: PageServer;
  /** One active fan per concert, holds of four seconds. */
  let narrow: PageServer;

  beforeAll(async () => {
    [browser, open, narrow] = await Promise.all([
      launchChromium(),
      startPageServer(),
      startPageServer({ QUEUE_MAX_ACTIVE: '1', HOLD_TTL_SECONDS: '4' }),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    await Promise.all([open?.close(), narrow?.close()]);
  });

  it('books a seat end to end: sign up, top up, join, hold by keyboard, reload, pay (a double click sends one payment), see it, cancel (a double click sends one), refund', async () => {
    const { page, problems } = await openPage(browser, open.url);
    const concert = await createConcert(open.t, [{ seatCount: 30, price: 50_000 }], showcase('Neon Harbour Live'));
    expect(await accessibilityViolations(page)).toEqual([]);
    await screenshot(page, 'sign-up-desktop');

    await signUp(page, 'Mina');
    await topUp(page, 200_000);
    await eventually(() => page.getByTestId('balance').textContent()).toBe('₩200,000');
    await joinLine(page, open.url, concert.id);
    await eventually(() => page.getByTestId('queue-status').textContent()).toContain('It is your turn');

    // Keyboard only: the seat grid is one tab stop; arrows move, Enter holds (1 → 2 → 3 → 13).
    await seat(page, 1).waitFor();
    await seat(page, 1).focus();
    for (const key of ['ArrowRight', 'ArrowRight', 'ArrowDown']) await page.keyboard.press(key);
    await expect(page.evaluate(() => document.activeElement?.getAttribute('data-seat'))).resolves.toBe('13');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Held for you: seat 13, ₩50,000' }).waitFor();
    await eventually(() => seat(page, 13).getAttribute('data-status')).toBe('MINE');
    expect(await seat(page, 13).getAttribute('aria-label')).toBe('Seat 13, ₩50,000, held by you');
    expect(await page.getByTestId('countdown').textContent()).toMatch(/^[45]:\d\d$/);
    expect(await accessibilityViolations(page)).toEqual([]);
    await screenshot(page, 'seat-map-desktop');

    // A reload keeps the place in line, the date (in the address) and the hold with its countdown.
    await page.reload();
    await page.getByRole('heading', { name: 'Held for you: seat 13, ₩50,000' }).waitFor();
    // (Up to a second longer than before: the server's Date header has whole seconds, and a hold never ends early.)
    expect(await page.getByTestId('countdown').textContent()).toMatch(/^(5:0\d|4:\d\d)$/);
    await eventually(() => seat(page, 13).getAttribute('data-status')).toBe('MINE');

    // What the page sends, not only what the ledger shows: one POST /payments and one DELETE.
    const sent: string[] = [];
    page.on('request', (r) => {
      const path = new URL(r.url()).pathname;
      if (r.method() === 'POST' && path === '/payments') sent.push(`pay ${r.headers()['idempotency-key']}`);
      if (r.method() === 'DELETE' && path.startsWith('/reservations/')) sent.push('cancel');
    });
    await page.getByRole('button', { name: 'Pay ₩50,000' }).dblclick();
    await page.getByRole('heading', { name: 'Booked: seat 13' }).waitFor();
    expect(sent).toEqual([expect.stringMatching(/^pay [0-9a-f]{32}$/)]);
    await eventually(() => page.getByTestId('balance').textContent()).toBe('₩150,000');
    expect(await ledgerOf(open.t, page)).toEqual(['PAYMENT -50000', 'CHARGE 200000']);
    const mine = page.locator('.my-reservations');
    await mine.getByText('Confirmed').waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);
    await screenshot(page, 'paid-desktop');

    await mine.getByRole('button', { name: 'Cancel…' }).click();
    await mine.getByText('Cancel and refund ₩50,000?').waitFor();
    await mine.getByRole('button', { name: 'Yes, cancel' }).dblclick();
    await notice(page).getByText('Cancelled seat 13. ₩50,000 was refunded to your balance.').waitFor();
    expect(sent.slice(1)).toEqual(['cancel']);
    await mine.getByText('₩50,000 refunded').waitFor();
    await eventually(() => page.getByTestId('balance').textContent()).toBe('₩200,000');
    expect(await ledgerOf(open.t, page)).toEqual(['REFUND 50000', 'PAYMENT -50000', 'CHARGE 200000']);
    expect(await invariants.balancesNotMatchingLedger(open.t.db, [(await userOf(page)).id])).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('two fans race for one seat: one holds it, the other is told it was taken and sees it taken', async () => {
    const concert = await createConcert(open.t, [{ seatCount: 10, price: 30_000 }], showcase('Harbour Lights Encore'));
    const fans = await Promise.all([openPage(browser, open.url), openPage(browser, open.url, PHONE)]);
    for (const [i, { page }] of fans.entries()) {
      await signUp(page, `Racer ${i + 1}`);
      await joinLine(page, open.url, concert.id);
      await seat(page, 3).waitFor();
    }
    await Promise.all(fans.map(({ page }) => seat(page, 3).click()));

    const outcomes = await Promise.all(
      fans.map(async ({ page }) => {
        await page.locator('.notices').getByText(/Seat 3 is held for you|Seat 3 was just taken by someone else/).waitFor();
        return (await notice(page).textContent())!.includes('held for you') ? 'won' : 'lost';
      }),
    );
    expect([...outcomes].sort()).toEqual(['lost', 'won']);
    const loser = fans[outcomes.indexOf('lost')]!.page;
    // Told in words, never in JSON; and the map shows the seat taken within 2 s.
    expect(await notice(loser).textContent()).toContain('Pick another seat.');
    expect(await notice(loser).textContent()).not.toMatch(/[{}]|SEAT_UNAVAILABLE/);
    await eventually(() => seat(loser, 3).getAttribute('data-status'), 2_000).toBe('HELD');
    expect(await seat(loser, 3).getAttribute('aria-label')).toBe('Seat 3, ₩30,000, held by someone');
    const phone = fans[1]!.page;
    expect(await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await screenshot(phone, 'seat-map-phone', '.seatmap');
    expect(await invariants.seatsWithTwoActiveReservations(open.t.db, [concert.schedules[0]!.id])).toEqual([]);
    for (const { problems, context } of fans) {
      expect(problems).toEqual([]);
      await context.close();
    }
  });

  it('insufficient balance says so and charges nothing; after a top-up the same hold is paid', async () => {
    const concert = await createConcert(open.t, [{ seatCount: 10, price: 70_000 }], showcase('Midnight Orbit'));
    const { page, problems, context } = await openPage(browser, open.url, PHONE);
    await signUp(page, 'Short');
    await joinLine(page, open.url, concert.id);
    await seat(page, 5).click();
    await page.getByRole('button', { name: 'Pay ₩70,000' }).click();
    await notice(page).getByText('Your balance is too low for this seat (₩70,000). Nothing was charged: top up, then pay again.').waitFor();
    expect(await page.getByTestId('balance').textContent()).toBe('₩0');
    expect(await ledgerOf(open.t, page)).toEqual([]);
    expect(await accessibilityViolations(page)).toEqual([]);
    await screenshot(page, 'insufficient-balance-phone', '.holds');

    await topUp(page, 100_000);
    await page.getByRole('button', { name: 'Pay ₩70,000' }).click();
    await page.getByRole('heading', { name: 'Booked: seat 5' }).waitFor();
    expect(await ledgerOf(open.t, page)).toEqual(['PAYMENT -70000', 'CHARGE 100000']);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('with one active fan per concert, the second waits as number 1 and is admitted on the page when the first leaves; signing out leaves the line and releases the hold', async () => {
    const concert = await createConcert(narrow.t, [{ seatCount: 10 }], showcase('Strings at Dusk'));
    const first = await openPage(browser, narrow.url);
    await signUp(first.page, 'First');
    await joinLine(first.page, narrow.url, concert.id);
    await eventually(() => first.page.getByTestId('queue-status').textContent()).toContain('It is your turn');

    const second = await openPage(browser, narrow.url, PHONE);
    await signUp(second.page, 'Second');
    await joinLine(second.page, narrow.url, concert.id);
    const status = second.page.getByTestId('queue-status');
    await eventually(() => status.textContent()).toMatch(/^You are number 1 in line\. Estimated wait: about \d+ (s|min)\.$/);
    expect(await status.getAttribute('aria-live')).toBe('polite');
    await second.page.getByRole('progressbar').waitFor();
    expect(await accessibilityViolations(second.page)).toEqual([]);
    await screenshot(second.page, 'waiting-room-phone', '.queue');

    await first.page.getByRole('button', { name: 'Leave the line' }).click();
    await eventually(() => first.page.getByTestId('queue-status').textContent()).toBe('You left the line.');
    await eventually(() => status.textContent(), 5_000).toContain('It is your turn');
    const user = await userOf(second.page);
    const queueToken = await second.page.evaluate((key) => JSON.parse(localStorage.getItem(key)!).token as string, `ticketing.queue.${user.id}.${concert.id}`);
    await seat(second.page, 1).click();
    await second.page.getByRole('heading', { name: /^Held for you: seat 1,/ }).waitFor();

    // Signing out forgets the user, gives the place in line up at once and releases the seat held
    // (released: CANCELLED, well before the four-second hold would have ended as EXPIRED).
    await second.page.getByRole('button', { name: 'Sign out' }).click();
    await second.page.getByLabel('Your name').waitFor();
    expect(await second.page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('ticketing.')))).toEqual([]);
    const place = () => narrow.t.app.inject({ url: `/concerts/${concert.id}/queue`, headers: { ...bearer(user.token), 'queue-token': queueToken } });
    await eventually(async () => (await place()).json().status).toBe('EXPIRED');
    const reservations = () => narrow.t.app.inject({ url: '/users/me/reservations', headers: bearer(user.token) });
    await eventually(async () => (await reservations()).json().items.map((r: { status: string }) => r.status)).toEqual(['CANCELLED']);
    expect([...first.problems, ...second.problems]).toEqual([]);
    await Promise.all([first.context.close(), second.context.close()]);
  });

  it('a hold counts down to zero, then the page says it expired and shows the seat free again', async () => {
    const concert = await createConcert(narrow.t, [{ seatCount: 10 }]);
    const { page, problems, context } = await openPage(browser, narrow.url);
    await signUp(page, 'Slow');
    await joinLine(page, narrow.url, concert.id);
    await seat(page, 4).click();
    await page.getByTestId('countdown').waitFor();
    expect(await page.getByTestId('countdown').textContent()).toMatch(/^0:0[1-4]$/);
    await eventually(() => seat(page, 4).getAttribute('data-status')).toBe('MINE');

    await page.getByText('Your hold on seat 4 expired. The seat is free again.').waitFor({ timeout: 10_000 });
    await eventually(() => seat(page, 4).getAttribute('data-status'), 2_000).toBe('AVAILABLE');
    expect(await ledgerOf(narrow.t, page)).toEqual([]);
    expect(problems).toEqual([]);
    await context.close();
  });
});
