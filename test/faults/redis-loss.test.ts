import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisQueueStore } from '../../src/modules/queue/queue.store.redis.js';
import { RANKINGS_BUILT_KEY, startRankingsGuard } from '../../src/modules/rankings/rankings.guard.js';
import { createRedisRankingsStore } from '../../src/modules/rankings/rankings.store.redis.js';
import { createRedis } from '../../src/platform/redis.js';
import { redisServerAvailable, redisServerBinary, startOwnRedis, type OwnRedis } from '../support/dependencies.js';
import { bearer, charge, createConcert, createUser, expectProblem, type TestApp, type TestUser } from '../support/harness.js';
import { createTestAppOnOwnDatabase } from '../support/own-database.js';
import { log } from '../support/outbox.js';
import { sellSeat } from '../support/sales.js';
import { until } from '../support/wait.js';

/**
 * The redis-loss fault: the waiting room, the L2 cache and the rate limits live in a redis-server of
 * the test's own, which is killed and started again empty. Users who were in line come back in
 * their original order when they next poll, an active user stays active, and bookings go on.
 */
const reason = redisServerAvailable ? '' : ` (skipped: ${redisServerBinary} is not installed)`;

describe.skipIf(!redisServerAvailable)(`Redis lost and started again empty${reason}`, () => {
  let server: OwnRedis;
  let redis: Redis;
  let t: TestApp;

  beforeAll(async () => {
    server = await startOwnRedis();
    redis = createRedis(server.url, { onError: () => {} }); // the outage is the point: no log of it
    // A database of its own: the rankings rebuilt from it are this file's sales alone.
    t = await createTestAppOnOwnDatabase(
      'faults_redis',
      { QUEUE_MAX_ACTIVE: '1', QUEUE_ADMIT_PER_SECOND: '100', REDIS_URL: server.url },
      { redis, queueStore: createRedisQueueStore(redis), rankingsStore: createRedisRankingsStore(redis) },
    );
  });

  afterAll(async () => {
    await t?.close();
    redis?.disconnect();
    await server?.kill();
  });

  const queuePath = (concertId: string) => `/concerts/${concertId}/queue`;
  const join = async (user: TestUser, concertId: string) =>
    (await t.app.inject({ method: 'POST', url: queuePath(concertId), headers: bearer(user.token) })).json();
  const poll = (user: TestUser, concertId: string, token: string) =>
    t.app.inject({ url: queuePath(concertId), headers: { ...bearer(user.token), 'queue-token': token } });

  it('puts users back in their original order when they poll, keeps the active user active, and bookings go on', async () => {
    const concert = await createConcert(t, [{ seatCount: 5, price: 1_000 }]);
    const scheduleId = concert.schedules[0]!.id;
    const [a, b, c, d, e] = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((n) => createUser(t.app, n)));
    await charge(t.app, a!, 10_000);

    expect((await join(a!, concert.id)).status).toBe('ACTIVE');
    const tokens = new Map<TestUser, string>();
    for (const [user, position] of [[b!, 1], [c!, 2], [d!, 3]] as const) {
      const joined = await join(user, concert.id);
      expect([joined.status, joined.position]).toEqual(['WAITING', position]);
      tokens.set(user, joined.token);
    }
    // An active user's poll re-issues the token with the active period it knows of.
    const activeToken: string = (await poll(a!, concert.id, (await join(a!, concert.id)).token)).json().token;
    const gated = { ...bearer(a!.token), 'queue-token': activeToken };
    const held = await t.app.inject({ method: 'POST', url: '/reservations', headers: gated, payload: { scheduleId, seatNumber: 1 } });
    expect(held.statusCode).toBe(201);

    await server.kill();
    const down = await t.app.inject({ url: `/schedules/${scheduleId}/seats`, headers: gated });
    expectProblem(down, 503, 'UNAVAILABLE');
    expect(Number(down.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expectProblem(await poll(b!, concert.id, tokens.get(b!)!), 503, 'UNAVAILABLE');
    expect((await t.app.inject({ url: '/health/ready' })).statusCode).toBe(503);
    // What needs no Redis goes on: the balance, a reservation, the catalog (its L2 cache fails open).
    expect((await t.app.inject({ url: '/users/me/balance', headers: bearer(a!.token) })).statusCode).toBe(200);
    expect((await t.app.inject({ url: `/reservations/${held.json().id}`, headers: bearer(a!.token) })).json().status).toBe('HELD');
    expect((await t.app.inject({ url: `/concerts/${concert.id}` })).statusCode).toBe(200);

    await server.start();
    const started = performance.now();
    await until(async () => (await t.app.inject({ url: '/health/ready' })).statusCode === 200, 10_000, 20);
    const readyAfterMs = performance.now() - started;

    // The active user comes back ACTIVE, then the waiting ones in any order of polling: each lands
    // at their original place, ahead of a user who joins only now.
    expect((await poll(a!, concert.id, activeToken)).json().status).toBe('ACTIVE');
    const placeOf = async (user: TestUser) => (await poll(user, concert.id, tokens.get(user)!)).json();
    expect(await placeOf(d!)).toMatchObject({ status: 'WAITING', position: 1 });
    expect(await placeOf(b!)).toMatchObject({ status: 'WAITING', position: 1 });
    expect((await join(e!, concert.id)).position).toBe(3);
    expect(await placeOf(c!)).toMatchObject({ status: 'WAITING', position: 2 });
    expect([(await placeOf(b!)).position, (await placeOf(c!)).position, (await placeOf(d!)).position]).toEqual([1, 2, 3]);
    // The limit holds: one active user.
    expect((await t.services.queue.lines()).find((l) => l.concertId === concert.id)).toMatchObject({ active: 1, waiting: 4 });

    // The hold made before the loss is paid with the same token; the seat map (L2 cache empty) shows it sold.
    const paid = await t.app.inject({ method: 'POST', url: '/payments', headers: gated, payload: { reservationId: held.json().id } });
    expect(paid.statusCode).toBe(201);
    // Paying left the line: the next admission step admits the head, the first to have joined.
    await t.services.queue.tick();
    expect(await placeOf(b!)).toMatchObject({ status: 'ACTIVE' });
    expect(await placeOf(c!)).toMatchObject({ status: 'WAITING', position: 1 });
    const map = await t.app.inject({ url: `/schedules/${scheduleId}/seats`, headers: { ...bearer(b!.token), 'queue-token': tokens.get(b!)! } });
    expect(map.json().seats[0]).toMatchObject({ number: 1, status: 'SOLD' });
    console.info(`redis-loss: ready ${Math.round(readyAfterMs)} ms after the empty redis-server accepted connections`);
  });

  it('rebuilds the rankings by itself once Redis is back empty', async () => {
    const guard = startRankingsGuard({ redis, rankings: t.services.rankings, intervalMs: 50, log });
    try {
      const concert = await createConcert(t, [{ seatCount: 5, price: 1_000 }]);
      const confirmed = async () =>
        (await t.services.rankings.concerts('1h', 100)).items.find((i) => i.concertId === concert.id)?.confirmedReservations ?? 0;
      // The guard found the rankings whole (it marked them in its first pass) before these sales;
      // no consumer runs here, so only a rebuild counts them.
      await until(async () => (await redis.exists(RANKINGS_BUILT_KEY)) === 1, 5_000);
      for (let seat = 1; seat <= 3; seat++) await sellSeat(t, concert.schedules[0]!.id, seat);
      expect(await confirmed()).toBe(0);

      await server.kill();
      await server.start();
      await until(async () => (await confirmed().catch(() => 0)) === 3, 15_000, 50);
    } finally {
      await guard.stop();
    }
  });
});
