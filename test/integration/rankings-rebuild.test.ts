import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRankingsService } from '../../src/modules/rankings/rankings.service.js';
import { HOUR, MINUTE, type RankingsStore } from '../../src/modules/rankings/rankings.store.js';
import { createMemoryRankingsStore } from '../../src/modules/rankings/rankings.store.memory.js';
import { createRedisRankingsStore } from '../../src/modules/rankings/rankings.store.redis.js';
import { createConcert, createTestApp, type TestApp } from '../support/harness.js';
import { deliverInOrder, eventsOf, SECOND, standingClock, updaterFor } from '../support/rankings.js';
import { cancel, holdAndCancel, sellSeat } from '../support/sales.js';

const redisUrl = process.env.REDIS_URL;
const clock = standingClock();
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({}, { clock });
});
afterAll(() => t.close());

const storeKinds: [string, boolean, () => RankingsStore][] = [
  ['in-process', true, () => createMemoryRankingsStore()],
  [`Redis${redisUrl ? '' : ' (REDIS_URL unset: skipped)'}`, !!redisUrl, () => createRedisRankingsStore(redisClient(), `rank-test-${randomUUID()}`)],
];
let redis: Redis | undefined;
const redisClient = () => (redis ??= new Redis(redisUrl!));
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
  await redis?.quit();
});

describe.each(storeKinds)('rebuild (%s store)', (_name, enabled, makeStore) => {
  it.skipIf(!enabled)('computes from PostgreSQL exactly what the live updates computed', async () => {
    const fresh = () => {
      const store = makeStore();
      cleanups.push(() => store.reset());
      return store;
    };
    const liveStore = fresh();
    const live = createRankingsService({ db: t.db, store: liveStore, catalog: t.services.catalog, clock });
    const handle = updaterFor(t, live);

    const p = await createConcert(t, [{ seatCount: 3 }]);
    const q = await createConcert(t, [{ seatCount: 2 }, { seatCount: 2 }]);
    const [ps, qs1, qs2] = [p.schedules[0]!.id, q.schedules[0]!.id, q.schedules[1]!.id];
    const ids: string[] = [];
    const sell = async (scheduleId: string, seat: number) => {
      const sold = await sellSeat(t, scheduleId, seat);
      ids.push(sold.id);
      return sold;
    };

    clock.advance(60 * SECOND);
    await sell(ps, 1);
    const p2 = await sell(ps, 2);
    await sell(ps, 3); // P sold out at 60 s
    clock.advance(60 * SECOND);
    await cancel(t, p2); // P has a seat again
    clock.advance(480 * SECOND);
    await sell(ps, 2); // P sold out again at 600 s
    clock.advance(100 * SECOND);
    const q1 = await sell(qs1, 1);
    await sell(qs1, 2); // Q's first date sold out at 700 s
    await sell(qs2, 1);
    ids.push(await holdAndCancel(t, qs2, 2));
    clock.advance(100 * SECOND);
    await cancel(t, q1); // … and not any more

    // Live: every event delivered twice, cancellations first the second time.
    const events = await eventsOf(t, ids);
    await deliverInOrder(handle, events);
    await deliverInOrder(handle, [...events].reverse());

    const rebuiltStore = fresh();
    const rebuilt = createRankingsService({ db: t.db, store: rebuiltStore, catalog: t.services.catalog, clock });
    await rebuilt.rebuild();

    // The database holds other tests' reservations too: compare these concerts and dates only.
    const now = clock.now().getTime();
    const mine = async (store: RankingsStore) => {
      const counts: Record<string, unknown> = {};
      for (const windowMs of [15 * MINUTE, HOUR, 24 * HOUR, 7 * 24 * HOUR]) {
        counts[windowMs] = (await store.topConcerts(windowMs, now, 1_000_000)).filter((c) => c.concertId === p.id || c.concertId === q.id);
      }
      const sellouts = (await store.fastestSellouts(1_000_000)).filter((s) => [ps, qs1, qs2].includes(s.scheduleId));
      return { counts, sellouts };
    };
    const expected = {
      counts: Object.fromEntries(
        [15 * MINUTE, HOUR, 24 * HOUR, 7 * 24 * HOUR].map((w) => [
          w,
          [
            { concertId: p.id, count: 3 },
            { concertId: q.id, count: 2 },
          ],
        ]),
      ),
      sellouts: [{ scheduleId: ps, secondsToSellOut: 600 }],
    };
    expect(await mine(liveStore)).toEqual(expected);
    expect(await mine(rebuiltStore)).toEqual(await mine(liveStore));
  });
});
