import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryQueueStore } from '../../src/modules/queue/queue.store.memory.js';
import { createRedisQueueStore } from '../../src/modules/queue/queue.store.redis.js';
import type { QueueStore } from '../../src/modules/queue/queue.store.js';
import { charge, createConcert, createTestApp, createUser, hold, pay, type TestApp, type TestUser } from '../support/harness.js';
import { deleteKeys } from '../support/redis-keys.js';
import { join, status } from '../support/queue-requests.js';
import { cancel, type Sold } from '../support/sales.js';
import { sleep } from '../support/wait.js';

/** A waiting user is told when every seat of the concert is sold (the `soldOut` field of a line poll). */

const redisUrl = process.env.REDIS_URL;

/** A concert of `seats` seats, buyers already admitted, and then one user left WAITING (the line is paused behind the buyers). */
async function lineBehindBuyers(t: TestApp, seats: number) {
  const concert = await createConcert(t, [{ seatCount: seats }]);
  const buyers = await Promise.all(Array.from({ length: seats }, () => createUser(t.app)));
  for (const b of buyers) {
    await charge(t.app, b, 10_000_000);
    expect((await join(t, b, concert.id)).json().status).toBe('ACTIVE');
  }
  await t.services.queue.setPaused(concert.id, true);
  const waiter = await createUser(t.app);
  const joined = (await join(t, waiter, concert.id)).json();
  expect(joined).toMatchObject({ status: 'WAITING', soldOut: false });
  return { concert, scheduleId: concert.schedules[0]!.id, buyers, waiter, token: joined.token as string };
}

async function buy(t: TestApp, user: TestUser, scheduleId: string, seat: number): Promise<Sold> {
  const held = await hold(t, user, scheduleId, seat);
  expect(held.statusCode).toBe(201);
  expect((await pay(t, user, held.json().id)).statusCode).toBe(201);
  return { id: held.json().id, user };
}

/** Runs admission passes on `ticking` and polls `polled` until the poll reads `soldOut` as wanted (bounded: about 5 s). */
async function pollUntil(ticking: TestApp[], polled: TestApp, user: TestUser, concertId: string, token: string, soldOut: boolean) {
  let body: Record<string, unknown> = {};
  for (let i = 0; i < 50; i++) {
    for (const t of ticking) await t.services.queue.tick();
    body = (await status(polled, user, concertId, token)).json();
    if (body.soldOut === soldOut) break;
    await sleep(100);
  }
  return body;
}

const stores: Array<[string, (() => { store: QueueStore; done: () => Promise<void> }) | null]> = [
  ['in-process', () => ({ store: createMemoryQueueStore(), done: async () => {} })],
  [
    'Redis',
    redisUrl
      ? () => {
          const redis = new Redis(redisUrl);
          const keyPrefix = `soldout-${randomUUID().slice(0, 8)}`;
          return { store: createRedisQueueStore(redis, { keyPrefix }), done: async () => (await deleteKeys(redis, keyPrefix), redis.disconnect()) };
        }
      : null,
  ],
];

for (const [name, makeStore] of stores) {
  (makeStore ? describe : describe.skip)(`sold out, told to the line (${name} store)`, () => {
    let t: TestApp;
    let done: () => Promise<void>;
    beforeAll(async () => {
      const made = makeStore!();
      done = made.done;
      t = await createTestApp({ QUEUE_MAX_ACTIVE: '100' }, { queueStore: made.store });
    });
    afterAll(async () => {
      await t.close();
      await done();
    });

    it('a waiting user reads soldOut once every seat is sold, and false again when a paid seat is cancelled', async () => {
      const { concert, scheduleId, buyers, waiter, token } = await lineBehindBuyers(t, 2);
      const first = await buy(t, buyers[0]!, scheduleId, 1);
      // The other seat held, not paid: it may lapse and come back, so the line keeps waiting.
      const held = await hold(t, buyers[1]!, scheduleId, 2);
      expect(held.statusCode).toBe(201);
      await sleep(1_100); // past one check interval, so the pass below asks again
      await t.services.queue.tick();
      expect((await status(t, waiter, concert.id, token)).json()).toMatchObject({ status: 'WAITING', soldOut: false });

      expect((await pay(t, buyers[1]!, held.json().id)).statusCode).toBe(201);
      expect(await pollUntil([t], t, waiter, concert.id, token, true)).toMatchObject({ status: 'WAITING', position: 1, soldOut: true });

      await cancel(t, first);
      expect(await pollUntil([t], t, waiter, concert.id, token, false)).toMatchObject({ status: 'WAITING', soldOut: false });
    });

    it('a held poll is answered when the concert turns sold out, and a later one is not held', async () => {
      const { concert, scheduleId, buyers, waiter, token } = await lineBehindBuyers(t, 1);
      const watch = () => t.app.inject({ url: `/concerts/${concert.id}/queue?wait=30`, headers: { authorization: `Bearer ${waiter.token}`, 'queue-token': token } });
      const polled = watch();
      for (let i = 0; i < 400 && t.services.longPolls.held() === 0; i++) await sleep(5);
      expect(t.services.longPolls.held()).toBe(1);
      await buy(t, buyers[0]!, scheduleId, 1);
      let answered = false;
      void polled.then(() => (answered = true));
      for (let i = 0; i < 50 && !answered; i++) {
        await t.services.queue.tick();
        await sleep(100);
      }
      const res = await polled;
      expect(res.json()).toMatchObject({ status: 'WAITING', soldOut: true });
      expect(t.services.longPolls.held()).toBe(0);
      const again = await watch();
      expect(again.json()).toMatchObject({ status: 'WAITING', soldOut: true });
      expect(again.headers['server-timing']).toBeUndefined();
    });
  });
}

(redisUrl ? describe : describe.skip)('sold out across two instances on one Redis', () => {
  let a: TestApp;
  let b: TestApp;
  let redis: Redis;
  const keyPrefix = `soldout-two-${randomUUID().slice(0, 8)}`;
  beforeAll(async () => {
    redis = new Redis(redisUrl!);
    a = await createTestApp({ QUEUE_MAX_ACTIVE: '100' }, { queueStore: createRedisQueueStore(redis, { keyPrefix }) });
    b = await createTestApp({ QUEUE_MAX_ACTIVE: '100' }, { queueStore: createRedisQueueStore(redis, { keyPrefix }) });
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
    await deleteKeys(redis, keyPrefix);
    redis.disconnect();
  });

  it('a user polling the instance that sold nothing reads soldOut too', async () => {
    const { concert, scheduleId, buyers, waiter, token } = await lineBehindBuyers(a, 1);
    expect((await status(b, waiter, concert.id, token)).json()).toMatchObject({ status: 'WAITING', soldOut: false });
    await buy(a, buyers[0]!, scheduleId, 1);
    expect(await pollUntil([a, b], b, waiter, concert.id, token, true)).toMatchObject({ status: 'WAITING', soldOut: true });
  });
});
