import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisQueueStore } from '../../src/modules/queue/queue.store.redis.js';
import { describeQueueStoreContract } from './queue-store.contract.js';
import { deleteKeys, scanKeys } from '../support/redis-keys.js';

const redisUrl = process.env.REDIS_URL;

const T0 = Date.parse('2030-05-01T12:00:00.000Z');
const limits = { maxActive: 10, perSecond: 7, activeTtlMs: 30_000 };

function redisSuite(url: string) {
  describeQueueStoreContract('contract', async (opts) => {
    const redis = new Redis(url);
    const keyPrefix = `test-queue-${randomUUID()}`;
    const store = createRedisQueueStore(redis, { ...opts, keyPrefix });
    return {
      store,
      async lose(concertId) {
        await deleteKeys(redis, `${keyPrefix}:{${concertId}}`);
        await redis.srem(`${keyPrefix}:concerts`, concertId);
        return store;
      },
      async cleanup() {
        await deleteKeys(redis, keyPrefix);
        await redis.quit();
      },
    };
  });

  describe('Redis specifics', () => {
    const keyPrefix = `test-queue-${randomUUID()}`;
    let a: Redis;
    let b: Redis;

    beforeAll(() => {
      a = new Redis(url);
      b = new Redis(url);
    });
    afterAll(async () => {
      await deleteKeys(a, keyPrefix);
      await Promise.all([a.quit(), b.quit()]);
    });

    it('shares one queue between instances on separate connections', async () => {
      const one = createRedisQueueStore(a, { keyPrefix });
      const two = createRedisQueueStore(b, { keyPrefix });
      const c = randomUUID();
      const closed = { ...limits, maxActive: 0 };
      const joins = await Promise.all(
        Array.from({ length: 100 }, (_, i) => (i % 2 ? one : two).join(c, `u${i}`, randomUUID(), T0, closed)),
      );
      expect(joins.map((j) => j.position).sort((x, y) => x! - y!)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      expect(await one.status(c, 'u1', joins[1]!.entryId, T0)).toEqual(await two.status(c, 'u1', joins[1]!.entryId, T0));

      const admitted = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? one : two).admit(c, T0 + 1_000, limits)));
      expect(admitted.reduce((x, y) => x + y, 0)).toBe(7);
      expect(await two.activeConcerts()).toContain(c);
      await one.close();
      expect(await b.ping()).toBe('PONG'); // close() leaves the caller's client alone
    });

    it('keeps one concert in one Cluster slot and trims the admission log', async () => {
      const store = createRedisQueueStore(a, { keyPrefix });
      const c = randomUUID();
      for (let i = 0; i < 5; i++) await store.join(c, `u${i}`, randomUUID(), T0, { ...limits, activeTtlMs: 1_000 });

      const keys = await scanKeys(a, `${keyPrefix}:{${c}}:*`);
      expect(keys.sort()).toEqual(
        ['active', 'admitted', 'entries', 'epoch', 'orders', 'seq'].map((k) => `${keyPrefix}:{${c}}:${k}`), // nobody waits: no waiting key
      );

      expect(await a.zcard(`${keyPrefix}:{${c}}:admitted`)).toBe(5);
      await store.admit(c, T0 + 60_000, limits);
      expect(await a.zcard(`${keyPrefix}:{${c}}:admitted`)).toBe(0);
      expect(await store.stats(c, T0, 60_000)).toEqual({ admittedInWindow: 0, waiting: 0, active: 0, headOrder: null });
    });

    it('refuses a key prefix that would break the hash tag', () => {
      expect(() => createRedisQueueStore(a, { keyPrefix: 'q{x}' })).toThrow(/must not contain/);
    });
  });
}

// Skipped, with the reason in its title, where no Redis is configured.
describe.skipIf(!redisUrl)(`Redis queue store${redisUrl ? '' : ' (REDIS_URL unset: skipped)'}`, () =>
  redisSuite(redisUrl ?? 'redis://unused'),
);
