import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisBus, type InvalidationBus } from '../../src/cache/invalidation.js';
import { createRedisQueueStore } from '../../src/modules/queue/queue.store.redis.js';
import { createTestApp, createConcert, createUser, queueToken, bearer, type TestApp } from '../support/harness.js';

const REDIS_URL = process.env.REDIS_URL;
const suite = REDIS_URL ? describe : describe.skip;

/**
 * Two instances, each with its own L1 cache, sharing PostgreSQL, Redis (L2, queue) and the
 * invalidation channel: a seat taken through one shows as taken through the other within a second.
 */
suite(`hot-read cache across two instances${REDIS_URL ? '' : ' (REDIS_URL unset: skipped)'}`, () => {
  const clients: Redis[] = [];
  const buses: InvalidationBus[] = [];
  let a: TestApp;
  let b: TestApp;

  const instance = async (strategy: string) => {
    const redis = new Redis(REDIS_URL!);
    const subscriber = new Redis(REDIS_URL!);
    clients.push(redis, subscriber);
    const bus = await createRedisBus(redis, subscriber);
    buses.push(bus);
    return createTestApp(
      { CACHE_STRATEGY: strategy, CACHE_SEATS_TTL_MS: '60000' },
      { queueStore: createRedisQueueStore(redis), redis, cacheBus: bus },
    );
  };

  beforeAll(async () => {
    a = await instance('swr');
    b = await instance('lock');
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await Promise.all(buses.map((x) => x.close()));
    await Promise.all(clients.map((c) => c.quit().catch(() => {})));
  });

  it('shows a seat taken through one instance as HELD through the other within a second', async () => {
    const concert = await createConcert(a);
    const schedule = concert.schedules[0]!.id;
    const [viewer, buyer] = [await createUser(a.app), await createUser(a.app)];
    const viewerToken = await queueToken(b.app, viewer, concert.id);
    const seatOn = async (t: TestApp, n: number) =>
      (await t.app.inject({ url: `/schedules/${schedule}/seats`, headers: { 'queue-token': viewerToken } })).json().seats[n - 1].status;

    // Both instances cache the map with seat 5 AVAILABLE (a TTL of a minute: only invalidation can help).
    expect(await seatOn(b, 5)).toBe('AVAILABLE');
    expect(await seatOn(a, 5)).toBe('AVAILABLE');

    const buyerToken = await queueToken(a.app, buyer, concert.id);
    const held = await a.app.inject({
      method: 'POST',
      url: '/reservations',
      headers: { ...bearer(buyer.token), 'queue-token': buyerToken },
      payload: { scheduleId: schedule, seatNumber: 5 },
    });
    expect(held.statusCode).toBe(201);
    const takenAt = Date.now();
    expect(await seatOn(a, 5)).toBe('HELD'); // the writer's own instance at once
    let seenOnB = await seatOn(b, 5);
    while (seenOnB !== 'HELD' && Date.now() - takenAt < 1_000) {
      await new Promise((r) => setTimeout(r, 20));
      seenOnB = await seatOn(b, 5);
    }
    expect(seenOnB).toBe('HELD');

    // Cancelling through b frees it on a as well.
    const cancelled = await b.app.inject({ method: 'DELETE', url: `/reservations/${held.json().id}`, headers: bearer(buyer.token) });
    expect(cancelled.statusCode).toBe(200);
    let seenOnA = await seatOn(a, 5);
    const freedAt = Date.now();
    while (seenOnA !== 'AVAILABLE' && Date.now() - freedAt < 1_000) {
      await new Promise((r) => setTimeout(r, 20));
      seenOnA = await seatOn(a, 5);
    }
    expect(seenOnA).toBe('AVAILABLE');
  });
});
