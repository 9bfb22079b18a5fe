import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createMemoryQueueStore } from '../../src/modules/queue/queue.store.memory.js';
import { countingProxy } from '../support/counting-proxy.js';
import { bearer, createConcert, createTestApp, createUser, expectProblem, type TestApp, type TestUser } from '../support/harness.js';
import { holdWith, join, status } from '../support/queue-requests.js';
import { sellSeat } from '../support/sales.js';

/**
 * Two instances behind a balancer, sharing the database and the waiting room: users join through
 * `front`; `back` has never seen them and reaches PostgreSQL through a proxy that counts every
 * statement it sends. A request made with the Queue-Token the user joined with is authenticated by
 * that signed token, with no lookup of the bearer: a line poll touches no PostgreSQL at all.
 */
let front: TestApp;
let back: TestApp;
let proxy: Awaited<ReturnType<typeof countingProxy>>;
let concertId: string;
let scheduleId: string;

beforeAll(async () => {
  const queueStore = createMemoryQueueStore();
  proxy = await countingProxy(inject('databaseUrl'));
  front = await createTestApp({}, { queueStore });
  back = await createTestApp({}, { queueStore, databaseUrl: proxy.url });
  const concert = await createConcert(front, [{ seatCount: 10 }]);
  concertId = concert.id;
  scheduleId = concert.schedules[0]!.id;
});
afterAll(async () => {
  await back?.close();
  await front?.close();
  await proxy?.close();
});

async function joined(): Promise<{ user: TestUser; token: string }> {
  const user = await createUser(front.app);
  const res = await join(front, user, concertId);
  expect(res.statusCode).toBe(201);
  return { user, token: res.json().token };
}

/** Runs `requests` on `back` and returns the statements it sent PostgreSQL meanwhile. */
async function sentDuring(requests: () => Promise<void>): Promise<readonly string[]> {
  const before = proxy.statements().length;
  await requests();
  return proxy.statements().slice(before);
}

const userLookups = (statements: readonly string[]) => statements.filter((text) => /from "users"/i.test(text));

describe('a line poll', () => {
  it('touches no PostgreSQL, even on an instance that never saw the user', async () => {
    const users = await Promise.all(Array.from({ length: 5 }, joined));
    const sent = await sentDuring(async () => {
      for (let round = 0; round < 3; round++) {
        for (const entry of users) {
          const res = await status(back, entry.user, concertId, entry.token);
          expect(res.statusCode).toBe(200);
          expect(res.json()).toMatchObject({ status: 'ACTIVE' });
          entry.token = res.json().token; // an ACTIVE answer re-issues the token: it still vouches for the bearer
        }
      }
    });
    expect(sent).toEqual([]);
  });

  it('answers soldOut from memory: the admission pass asks PostgreSQL once, the polls after it never', async () => {
    const concert = await createConcert(front, [{ seatCount: 1 }]);
    await sellSeat(front, concert.schedules[0]!.id, 1);
    const user = await createUser(front.app);
    const token = (await join(front, user, concert.id)).json().token as string;
    const pass = await sentDuring(async () => void (await back.services.queue.tick()));
    // One sold-out check per concert with a line (this one and the suite's).
    expect(pass.filter((text) => /status <> 'SOLD'/.test(text))).toHaveLength((await back.services.queue.lines()).length);
    const sent = await sentDuring(async () => {
      for (let round = 0; round < 3; round++) {
        const res = await status(back, user, concert.id, token);
        expect(res.json()).toMatchObject({ soldOut: true });
      }
    });
    expect(sent).toEqual([]);
  });

  it('leaves the line without touching PostgreSQL', async () => {
    const { user, token } = await joined();
    const sent = await sentDuring(async () => {
      const res = await back.app.inject({ method: 'DELETE', url: `/concerts/${concertId}/queue`, headers: { ...bearer(user.token), 'queue-token': token } });
      expect(res.statusCode).toBe(204);
    });
    expect(sent).toEqual([]);
  });
});

describe('a request with a Queue-Token', () => {
  it('never looks its bearer up: a hold runs only its own statements', async () => {
    const { user, token } = await joined();
    const sent = await sentDuring(async () => {
      expect((await holdWith(back, user, token, scheduleId, 1)).statusCode).toBe(201);
    });
    expect(sent.length).toBeGreaterThan(0);
    expect(userLookups(sent)).toEqual([]);
  });

  it('with a bearer the token was not issued for, looks the bearer up and answers as before', async () => {
    const { token } = await joined();
    const other = await createUser(front.app);
    // Someone else's bearer: known, so authenticated by lookup, then the token is not theirs.
    const mismatch = await sentDuring(async () => {
      expectProblem(await status(back, other, concertId, token), 403, 'QUEUE_TOKEN_MISMATCH');
    });
    expect(mismatch).toHaveLength(1);
    expect(userLookups(mismatch)).toHaveLength(1);
    // An unknown bearer with a genuine token: 401 UNAUTHENTICATED, looked up every time (an unknown
    // token is never remembered, so a flood of made-up tokens fills no memory).
    const stranger = { id: other.id, name: 'x', token: 'tk_made-up-token-that-no-user-has' };
    const unknown = await sentDuring(async () => {
      for (let i = 0; i < 2; i++) expectProblem(await status(back, stranger, concertId, token), 401, 'UNAUTHENTICATED');
    });
    expect(userLookups(unknown)).toHaveLength(2);
  });

  it('that is tampered with vouches for nobody: the bearer is looked up, then the token refused', async () => {
    const { user, token } = await joined();
    const [version, kid, payload, signature] = token.split('.') as [string, string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    const forged = [version, kid, Buffer.from(JSON.stringify({ ...claims, u: '00000000-0000-4000-8000-000000000000' })).toString('base64url'), signature].join('.');
    const stranger = { id: user.id, name: 'x', token: 'tk_made-up-token-that-no-user-has' };
    expectProblem(await status(back, stranger, concertId, forged), 401, 'UNAUTHENTICATED');
    expectProblem(await status(back, user, concertId, forged), 401, 'QUEUE_TOKEN_INVALID');
  });
});
