import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { charge, createConcert, createUser, queueToken } from '../support/harness.js';
import { holdWith, payWith } from '../support/queue-requests.js';
import { browserSuite, eventually, hasChromium, joinLine, launchChromium, openPage, PHONE, seat, signUp, startPageServer, type PageServer } from '../support/browser.js';

const title = browserSuite('the booking page and an idle turn');

describe.skipIf(!hasChromium)(title, { timeout: 60_000 }, () => {
  let browser: Browser;
  /** One active fan per concert, whose turn ends after three idle seconds. */
  let brief: PageServer;

  beforeAll(async () => {
    [browser, brief] = await Promise.all([launchChromium(), startPageServer({ QUEUE_MAX_ACTIVE: '1', QUEUE_ACTIVE_TTL_SECONDS: '3' })]);
  });
  afterAll(async () => {
    await browser?.close();
    await brief?.close();
  });

  it('a tab left open on the seat map does not keep its turn: the turn ends, the page says so, and the next fan is admitted on theirs', async () => {
    const concert = await createConcert(brief.t, [{ seatCount: 10 }]);
    const first = await openPage(browser, brief.url);
    await signUp(first.page, 'Idle');
    await joinLine(first.page, brief.url, concert.id);
    const firstStatus = first.page.getByTestId('queue-status');
    await seat(first.page, 1).waitFor();
    expect(await firstStatus.textContent()).toMatch(/^It is your turn: pick a date and a seat\. It ends at .+ if you do nothing; holding or paying for a seat keeps it\.$/);

    const second = await openPage(browser, brief.url, PHONE);
    await signUp(second.page, 'Next');
    await joinLine(second.page, brief.url, concert.id);
    await eventually(() => second.page.getByTestId('queue-status').textContent()).toContain('It is your turn');
    await seat(second.page, 1).waitFor();
    await eventually(() => firstStatus.textContent()).toBe('Your turn to book has ended. Join the line again to pick seats.');
    expect(await seat(first.page, 1).count()).toBe(0);
    expect([...first.problems, ...second.problems]).toEqual([]);
    await Promise.all([first.context.close(), second.context.close()]);
  });

  it('a fan waiting in the line of a concert that sells out is told so at once, and can leave', async () => {
    const concert = await createConcert(brief.t, [{ seatCount: 1 }]);
    const buyer = await createUser(brief.t.app);
    await charge(brief.t.app, buyer, 1_000_000);
    const buyerToken = await queueToken(brief.t.app, buyer, concert.id);
    // Paused behind the buyer, so the fan stays in line while the last seat sells.
    await brief.t.services.queue.setPaused(concert.id, true);
    const fan = await openPage(browser, brief.url, PHONE);
    await signUp(fan.page, 'Late');
    await joinLine(fan.page, brief.url, concert.id);
    await eventually(() => fan.page.getByTestId('queue-status').textContent()).toMatch(/^You are number 1 in line\./);
    const held = await holdWith(brief.t, buyer, buyerToken, concert.schedules[0]!.id, 1);
    expect(held.statusCode).toBe(201);
    expect((await payWith(brief.t, buyer, buyerToken, held.json().id)).statusCode).toBe(201);
    const status = fan.page.getByTestId('queue-status');
    await eventually(() => status.textContent()).toBe(
      'This concert is sold out: every seat is taken. You are number 1 in line in case a seat comes back, or you can leave the line.',
    );
    await fan.page.getByRole('button', { name: 'Leave the line' }).click();
    await eventually(() => status.textContent()).toBe('You left the line.');
    expect(await brief.t.services.queue.lines()).not.toContainEqual(expect.objectContaining({ concertId: concert.id }));
    expect(fan.problems).toEqual([]);
    await fan.context.close();
  });
});
