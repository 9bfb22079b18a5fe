import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueStoreMetrics } from '../../src/app.metrics.js';
import { createRedisQueueStore } from '../../src/modules/queue/queue.store.redis.js';
import type { QueueStore } from '../../src/modules/queue/queue.store.js';
import { manualClock } from '../../src/platform/clock.js';
import { createMetrics, type Metrics } from '../../src/platform/metrics.js';
import { bearer, createConcert, createTestApp, createUser, type TestApp } from '../support/harness.js';
import { scrape } from '../support/metrics.js';
import { join } from '../support/queue-requests.js';
import { deleteKeys } from '../support/redis-keys.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** The waiting-room gauges are read at most once a second; a scrape after this sees the line anew. */
const GAUGE_CACHE_MS = 1_100;

/** The same metrics over the in-process store (the default) and, when REDIS_URL is set, the Redis one. */
function describeWaitingRoomMetrics(name: string, makeStore?: (metrics: Metrics) => { store: QueueStore; cleanup(): Promise<void> }) {
  describe(name, () => {
    const clock = manualClock(new Date());
    let t: TestApp;
    let cleanup: (() => Promise<void>) | undefined;
    beforeAll(async () => {
      const metrics = createMetrics();
      const made = makeStore?.(metrics);
      cleanup = made?.cleanup;
      // One user active at a time: the second waits.
      t = await createTestApp({ QUEUE_MAX_ACTIVE: '1' }, { clock, metrics, queueStore: made?.store });
    });
    afterAll(async () => {
      await t.close();
      await cleanup?.();
    });

    it('counts joins and admissions, and shows the line per concert only while it has one', async () => {
      const concert = await createConcert(t);
      const quiet = await createConcert(t);
      const [first, second] = [await createUser(t.app), await createUser(t.app)];
      const before = await scrape(t.app);

      const firstJoin = await join(t, first, concert.id);
      expect(firstJoin.json().status).toBe('ACTIVE');
      expect((await join(t, second, concert.id)).json().status).toBe('WAITING');
      expect((await join(t, second, concert.id)).statusCode).toBe(200); // already in line: no new join
      clock.advance(5_000);

      await sleep(GAUGE_CACHE_MS); // past the read the first scrape cached
      const during = await scrape(t.app);
      expect((during.value('queue_joins_total') ?? 0) - (before.value('queue_joins_total') ?? 0)).toBe(2);
      expect((during.value('queue_admitted_total') ?? 0) - (before.value('queue_admitted_total') ?? 0)).toBe(1);
      expect(during.value('queue_waiting_users', { concert_id: concert.id })).toBe(1);
      expect(during.value('queue_active_users', { concert_id: concert.id })).toBe(1);
      expect(during.value('queue_head_wait_seconds', { concert_id: concert.id })).toBe(5);
      // A concert nobody is in line for has no series.
      for (const name of ['queue_waiting_users', 'queue_active_users', 'queue_head_wait_seconds']) {
        expect(during.series(name).some((labels) => labels.concert_id === quiet.id)).toBe(false);
      }

      // The first leaves; the admission pass lets the second in.
      const left = await t.app.inject({
        method: 'DELETE',
        url: `/concerts/${concert.id}/queue`,
        headers: { ...bearer(first.token), 'queue-token': firstJoin.json().token },
      });
      expect(left.statusCode).toBe(204);
      expect(await t.services.queue.tick()).toBe(1);
      await sleep(GAUGE_CACHE_MS);
      const after = await scrape(t.app);
      expect((after.value('queue_admitted_total') ?? 0) - (before.value('queue_admitted_total') ?? 0)).toBe(2);
      expect(after.value('queue_waiting_users', { concert_id: concert.id })).toBe(0);
      expect(after.value('queue_active_users', { concert_id: concert.id })).toBe(1);
      expect(after.value('queue_head_wait_seconds', { concert_id: concert.id })).toBe(0);

      // Once the second's active period has passed, the concert has no line and no series.
      clock.advance(t.config.QUEUE_ACTIVE_TTL_SECONDS * 1000 + 1);
      await sleep(GAUGE_CACHE_MS);
      const ended = await scrape(t.app);
      expect(ended.series('queue_active_users').some((labels) => labels.concert_id === concert.id)).toBe(false);
      expect(ended.series('queue_waiting_users').some((labels) => labels.concert_id === concert.id)).toBe(false);
    });
  });
}

describeWaitingRoomMetrics('waiting-room metrics, in-process store');

const redisUrl = process.env.REDIS_URL;
if (redisUrl) {
  describeWaitingRoomMetrics('waiting-room metrics, Redis store', (metrics) => {
    const redis = new Redis(redisUrl);
    const keyPrefix = `test-queue-metrics-${randomUUID()}`;
    return {
      store: createRedisQueueStore(redis, { keyPrefix, ...queueStoreMetrics(metrics) }),
      async cleanup() {
        await deleteKeys(redis, keyPrefix);
        await redis.quit();
      },
    };
  });
}
