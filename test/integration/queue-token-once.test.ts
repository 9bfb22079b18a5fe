import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { bearer, charge, createConcert, createTestApp, createUser, expectProblem, queueToken, type TestApp, type TestUser } from '../support/harness.js';
import { pressure } from '../support/pressure.js';
import { sleep, until } from '../support/wait.js';

/**
 * Load shedding, the rate limits, the bearer voucher, the gate and the line's routes all need a
 * gated request's Queue-Token: its signature is checked once per request, and every answer stays
 * what the contract says (401 QUEUE_TOKEN_INVALID, 403 QUEUE_TOKEN_MISMATCH, 403 QUEUE_NOT_ACTIVE).
 */

/** Shedding on (at the default threshold unless `env` says otherwise) and rate limits on. */
const guardedApp = (env: Record<string, string> = {}) =>
  createTestApp({ RATE_LIMIT_ENABLED: 'true', OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '200', ...env });

/** `token` with its payload changed to name `userId`, its signature kept. */
function forged(token: string, userId: string): string {
  const [v, kid, payload, signature] = token.split('.') as [string, string, string, string];
  const changed = { ...JSON.parse(Buffer.from(payload, 'base64url').toString()), u: userId };
  return `${v}.${kid}.${Buffer.from(JSON.stringify(changed)).toString('base64url')}.${signature}`;
}

/** The answer to `send`, and how many times a Queue-Token's signature was checked for it. */
async function counted(t: TestApp, send: () => Promise<LightMyRequestResponse>) {
  const verify = vi.spyOn(t.services.queueTokens, 'verify');
  try {
    const res = await send();
    return { res, checks: verify.mock.calls.length };
  } finally {
    verify.mockRestore();
  }
}

/** Every request a Queue-Token is sent with, for one concert, one schedule of it and one reservation. */
function gatedRequests(t: TestApp, ids: { concertId: string; scheduleId: string; reservationId: string }) {
  const headers = (user: TestUser | undefined, token: string | undefined) => ({
    ...(user ? bearer(user.token) : {}),
    ...(token === undefined ? {} : { 'queue-token': token }),
  });
  const line = `/concerts/${ids.concertId}/queue`;
  return {
    poll: (user: TestUser, token?: string) => t.app.inject({ url: line, headers: headers(user, token) }),
    leave: (user: TestUser, token?: string) => t.app.inject({ method: 'DELETE', url: line, headers: headers(user, token) }),
    seatMap: (user: TestUser, token?: string) => t.app.inject({ url: `/schedules/${ids.scheduleId}/seats`, headers: headers(user, token) }),
    seatMapTokenOnly: (_user: TestUser, token?: string) => t.app.inject({ url: `/schedules/${ids.scheduleId}/seats`, headers: headers(undefined, token) }),
    hold: (user: TestUser, token?: string, seatNumber = 2) =>
      t.app.inject({ method: 'POST', url: '/reservations', headers: headers(user, token), payload: { scheduleId: ids.scheduleId, seatNumber } }),
    pay: (user: TestUser, token?: string) =>
      t.app.inject({ method: 'POST', url: '/payments', headers: { ...headers(user, token), 'idempotency-key': randomUUID() }, payload: { reservationId: ids.reservationId } }),
  };
}

/** A concert, a fan admitted to it with 1,000,000 won and a queue token, and a seat the fan holds. */
async function fanWithHold(t: TestApp) {
  const concert = await createConcert(t);
  const scheduleId = concert.schedules[0]!.id;
  const fan = await createUser(t.app);
  expect((await charge(t.app, fan, 1_000_000)).statusCode).toBe(201);
  const token = await queueToken(t.app, fan, concert.id);
  const held = await gatedRequests(t, { concertId: concert.id, scheduleId, reservationId: '' }).hold(fan, token, 1);
  expect(held.statusCode, held.body).toBe(201);
  return { concert, scheduleId, fan, token, requests: gatedRequests(t, { concertId: concert.id, scheduleId, reservationId: held.json().id }) };
}

describe('a gated request, shedding and rate limits on', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await guardedApp();
  });
  afterAll(() => t.close());

  it('with a genuine Queue-Token has its signature checked once: line poll, seat map (with and without the bearer), hold, payment, leaving', async () => {
    const { fan, token, requests } = await fanWithHold(t);
    const answers = [
      await counted(t, () => requests.poll(fan, token)),
      await counted(t, () => requests.seatMap(fan, token)),
      await counted(t, () => requests.seatMapTokenOnly(fan, token)),
      await counted(t, () => requests.hold(fan, token)),
      await counted(t, () => requests.pay(fan, token)),
      await counted(t, () => requests.leave(fan, token)),
    ];
    expect(answers.map(({ res }) => res.statusCode)).toEqual([200, 200, 200, 201, 201, 204]);
    expect(answers.map(({ checks }) => checks)).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('refused for its Queue-Token gets the same answer as ever at every place, its token checked once', async () => {
    const { concert, fan, token, requests } = await fanWithHold(t);
    const other = await createConcert(t);
    const [friend, gone] = [await createUser(t.app), await createUser(t.app)];
    const [v, , payload, signature] = token.split('.') as [string, string, string, string];
    const goneToken = await queueToken(t.app, gone, concert.id);
    expect((await requests.leave(gone, goneToken)).statusCode).toBe(204);
    const tokens: Array<[string, TestUser, string | undefined]> = [
      ['missing', fan, undefined],
      ['malformed', fan, 'nonsense'],
      ['forged', fan, forged(token, friend.id)],
      ['unknown key', fan, `${v}.ffffffff.${payload}.${signature}`],
      ['another concert', fan, await queueToken(t.app, fan, other.id)],
      ["another user's", fan, await queueToken(t.app, friend, concert.id)],
      ['ended', gone, goneToken],
    ];
    const answers: Record<string, string[]> = {};
    for (const [kind, user, sent] of tokens) {
      const here: string[] = [];
      for (const [place, send] of Object.entries(requests)) {
        const { res, checks } = await counted(t, () => send(user, sent));
        expect(checks, `${kind} token, ${place}`).toBe(1);
        here.push(`${place} ${res.statusCode} ${res.statusCode < 300 ? '' : res.json().code}`.trim());
      }
      answers[kind] = here;
    }
    const everywhere = (answer: string) => Object.keys(requests).map((place) => `${place} ${answer}`);
    expect(answers).toEqual({
      missing: everywhere('401 QUEUE_TOKEN_INVALID'),
      malformed: everywhere('401 QUEUE_TOKEN_INVALID'),
      forged: everywhere('401 QUEUE_TOKEN_INVALID'),
      'unknown key': everywhere('401 QUEUE_TOKEN_INVALID'),
      'another concert': everywhere('403 QUEUE_TOKEN_MISMATCH'),
      // the seat map read with a token alone checks the token, not who sends it
      "another user's": everywhere('403 QUEUE_TOKEN_MISMATCH').map((a) => (a.startsWith('seatMapTokenOnly') ? 'seatMapTokenOnly 200' : a)),
      ended: ['poll 200', 'leave 204', ...everywhere('403 QUEUE_NOT_ACTIVE').slice(2)],
    });
    // nothing was changed: the fan still holds one seat, and pays it with their own token
    const paid = await requests.pay(fan, token);
    expect(paid.statusCode, paid.body).toBe(201);
  });
});

describe('a gated request on an instance under pressure', () => {
  let t: TestApp;
  let release: (() => void) | undefined;
  beforeAll(async () => {
    t = await guardedApp({ OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '50', OVERLOAD_SAMPLE_INTERVAL_MS: '100' });
    await sleep(300);
    await until(() => !t.app.isUnderPressure(), 10_000, 20);
  });
  afterEach(() => release?.());
  afterAll(() => t.close());

  it('has its signature checked once, by the shedding that lets it through, and a forged one is shed', async () => {
    const { fan, token, requests } = await fanWithHold(t);
    release = pressure();
    await until(() => t.app.isUnderPressure(), 10_000, 20);

    const answers = [
      await counted(t, () => requests.poll(fan, token)),
      await counted(t, () => requests.seatMap(fan, token)),
      await counted(t, () => requests.hold(fan, token)),
      await counted(t, () => requests.pay(fan, token)),
    ];
    expect(answers.map(({ res }) => res.statusCode)).toEqual([200, 200, 201, 201]);
    expect(answers.map(({ checks }) => checks)).toEqual([1, 1, 1, 1]);
    const shed = await counted(t, () => requests.hold(fan, forged(token, randomUUID())));
    expectProblem(shed.res, 503, 'UNAVAILABLE');
    expect(shed.checks).toBe(1);
  });
});
