import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisQueueStore } from '../../src/modules/queue/queue.store.redis.js';
import { LINE_RETENTION_MS } from '../../src/modules/queue/queue.store.js';
import { sleep } from '../support/wait.js';
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

    it('keeps the set of entries put back for as long as the line: a join renews it, so an entry put back and ended is not put back again', async () => {
      const store = createRedisQueueStore(a, { keyPrefix });
      const c = randomUUID();
      const closed = { ...limits, maxActive: 0 };
      const key = (name: string) => `${keyPrefix}:{${c}}:${name}`;
      const u0 = await store.join(c, 'u0', randomUUID(), T0, closed);
      const lost = { entryId: u0.entryId, ...u0.place!, issuedAt: T0, activeUntil: null, newEpoch: randomUUID() };
      await deleteKeys(a, `${keyPrefix}:{${c}}`); // the line is lost
      expect(await store.restore(c, 'u0', lost, T0 + 1, closed)).toMatchObject({ state: 'WAITING', position: 1 });
      await store.leave(c, 'u0', u0.entryId);
      await store.join(c, 'n0', randomUUID(), T0 + 2, closed); // someone stays: the purge visits the line
      await store.purgeEnded(T0 + 3);
      // Days of joins later, nobody put back since: the set is as old as the last put-back.
      for (const name of ['restored', 'seq']) await a.pexpire(key(name), 1_500);
      await store.join(c, 'n1', randomUUID(), T0 + 4, closed);
      await sleep(1_600);
      expect(await a.pttl(key('restored'))).toBeGreaterThan(LINE_RETENTION_MS - 60_000);
      expect(await store.restore(c, 'u0', lost, T0 + 5, closed)).toBeNull();
      // And a put-back renews the last join's order as a join does.
      await a.pexpire(key('seq'), 1_500);
      const u1 = await store.join(c, 'u1', randomUUID(), T0 + 6, closed);
      await deleteKeys(a, `${keyPrefix}:{${c}}`);
      await store.join(c, 'n2', randomUUID(), T0 + 7, closed);
      await a.pexpire(key('seq'), 1_500);
      await store.restore(c, 'u1', { entryId: u1.entryId, ...u1.place!, issuedAt: T0 + 6, activeUntil: null, newEpoch: randomUUID() }, T0 + 8, closed);
      expect(await a.pttl(key('seq'))).toBeGreaterThan(LINE_RETENTION_MS - 60_000);
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
