import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { parseWindow, secondsToSellOut } from '../../src/modules/rankings/rankings.service.js';
import {
  bucketsFor,
  createMemoryRankingsStore,
  createRedisRankingsStore,
  HOUR,
  MINUTE,
  type RankingsStore,
} from '../../src/modules/rankings/rankings.store.js';
import { DomainError } from '../../src/platform/errors.js';

const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);

describe('ranking windows', () => {
  it('parse minutes, hours and days up to seven days', () => {
    expect(parseWindow('15m')).toBe(15 * MINUTE);
    expect(parseWindow('1h')).toBe(HOUR);
    expect(parseWindow('7d')).toBe(7 * 24 * HOUR);
    for (const bad of ['', '1', 'h', '0h', '8d', '1w', '-1h', '1.5h']) expect(() => parseWindow(bad), bad).toThrow(DomainError);
  });

  it('cover the window with minute buckets up to two hours, hour buckets beyond', () => {
    const oneHour = bucketsFor(HOUR, T0 + 30 * 1000);
    expect(oneHour.size).toBe(MINUTE);
    expect(oneHour.starts).toHaveLength(60);
    expect(oneHour.starts.at(-1)).toBe(T0);
    expect(oneHour.starts[0]).toBe(T0 - 59 * MINUTE);
    const day = bucketsFor(24 * HOUR, T0);
    expect(day.size).toBe(HOUR);
    expect(day.starts).toHaveLength(24);
  });

  it('measure sell-out speed from booking opening', () => {
    expect(secondsToSellOut(new Date(T0), new Date(T0 + 93_400))).toBe(93);
    expect(secondsToSellOut(new Date(T0), new Date(T0 - 5))).toBe(0);
  });
});

const stores: [string, () => Promise<RankingsStore>][] = [['in-process', async () => createMemoryRankingsStore()]];
const redisClients: Redis[] = [];
if (process.env.REDIS_URL) {
  stores.push([
    'Redis',
    async () => {
      const redis = new Redis(process.env.REDIS_URL!);
      redisClients.push(redis);
      return createRedisRankingsStore(redis, `rank-test-${randomUUID()}`);
    },
  ]);
}
afterAll(async () => {
  await Promise.all(redisClients.map((r) => r.quit()));
});

describe.each(stores)('%s rankings store', (_name, makeStore) => {
  it('counts confirmations per concert inside the window, once per event', async () => {
    const store = await makeStore();
    await store.recordConfirmation('e1', 'A', T0 - 2 * HOUR); // outside a 1h window
    await store.recordConfirmation('e2', 'A', T0 - 10 * MINUTE);
    await store.recordConfirmation('e3', 'B', T0 - 5 * MINUTE);
    await store.recordConfirmation('e4', 'B', T0 - 1 * MINUTE);
    await store.recordConfirmation('e4', 'B', T0 - 1 * MINUTE); // redelivered: no effect
    await store.recordConfirmation('e5', 'C', T0);
    expect(await store.topConcerts(HOUR, T0, 10)).toEqual([
      { concertId: 'B', count: 2 },
      { concertId: 'A', count: 1 },
      { concertId: 'C', count: 1 },
    ]);
    expect(await store.topConcerts(HOUR, T0, 1)).toEqual([{ concertId: 'B', count: 2 }]);
    expect((await store.topConcerts(24 * HOUR, T0, 10))[0]).toEqual({ concertId: 'A', count: 2 });
    await store.reset();
    expect(await store.topConcerts(24 * HOUR, T0, 10)).toEqual([]);
  });

  it('keeps the first sell-out of a schedule and ranks fastest first', async () => {
    const store = await makeStore();
    await store.recordSellout('s1', 300);
    await store.recordSellout('s2', 45);
    await store.recordSellout('s1', 10); // sold out again after a cancel: the first time stands
    expect(await store.fastestSellouts(10)).toEqual([
      { scheduleId: 's2', secondsToSellOut: 45 },
      { scheduleId: 's1', secondsToSellOut: 300 },
    ]);
    await store.reset();
    expect(await store.fastestSellouts(10)).toEqual([]);
  });
});
