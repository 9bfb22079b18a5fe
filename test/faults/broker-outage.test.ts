import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Subscription } from '../../src/modules/events/broker.js';
import { createRedisBroker, type RedisBroker } from '../../src/modules/events/broker.redis.js';
import { rankingsUpdater, startConsumers } from '../../src/modules/events/consumers.js';
import { EVENTS_TOPIC } from '../../src/modules/events/outbox.event.js';
import { startRelay } from '../../src/modules/events/outbox.relay.js';
import { createRedis } from '../../src/platform/redis.js';
import { redisServerAvailable, redisServerBinary, startOwnRedis, type OwnRedis } from '../support/dependencies.js';
import { createConcert, type TestApp } from '../support/harness.js';
import { log, recorder, rowsOf, sellSeatId } from '../support/outbox.js';
import { createTestAppOnOwnDatabase } from '../support/own-database.js';
import { until } from '../support/wait.js';

/**
 * The broker-outage fault with the Redis Streams broker on a redis-server of the test's own, killed
 * and started again (empty): bookings, which need no broker, go on; their events wait in the outbox
 * and, once Redis is back, are published in commit order and applied once by every consumer group.
 */
const reason = redisServerAvailable ? '' : ` (skipped: ${redisServerBinary} is not installed)`;

describe.skipIf(!redisServerAvailable)(`Redis Streams down while bookings go on${reason}`, () => {
  let server: OwnRedis;
  let redis: Redis;
  let broker: RedisBroker;
  let t: TestApp;
  let relay: { stop(): Promise<void> };
  let consumers: Subscription[];
  const prefix = `events-${randomUUID()}`;
  const rec = recorder();

  beforeAll(async () => {
    server = await startOwnRedis();
    redis = createRedis(server.url, { onError: () => {} }); // the outage is the point: no log of it
    broker = createRedisBroker(redis, { keyPrefix: prefix, onError: () => {} });
    t = await createTestAppOnOwnDatabase('faults_broker');
    relay = startRelay({ db: t.db, broker, clock: t.services.clock, log, maxBackoffMs: 200, idleMs: 20 });
    consumers = await startConsumers({
      broker,
      instanceId: 'faults',
      log,
      redeliverAfterMs: 200,
      consumers: { rankings: rankingsUpdater({ db: t.db, rankings: t.services.rankings }), recorder: rec.handle },
    });
  });

  afterAll(async () => {
    await relay?.stop();
    await Promise.all((consumers ?? []).map((c) => c.close()));
    await broker?.close();
    redis?.disconnect();
    await t?.close();
    await server?.kill();
  });

  it('keeps selling while the broker is down; afterwards the backlog is published in commit order and applied once', { timeout: 60_000 }, async () => {
    const concert = await createConcert(t, [{ seatCount: 10, price: 1_000 }]);
    const scheduleId = concert.schedules[0]!.id;
    const before = await sellSeatId(t, scheduleId, 1);
    await until(async () => (await rowsOf(t, [before])).every((r) => rec.deliveries.get(r.id) === 1), 10_000);

    await server.kill();
    const during: string[] = [];
    for (let seat = 2; seat <= 6; seat++) during.push(await sellSeatId(t, scheduleId, seat)); // each payment answered 201
    // The relay keeps trying (and failing): the events wait in the outbox.
    await until(async () => (await rowsOf(t, during)).some((r) => r.attempts > 1), 10_000);
    const waiting = await rowsOf(t, during);
    expect(waiting).toHaveLength(10); // held and confirmed, per sale
    expect(waiting.every((r) => r.published_at === null && r.parked_at === null)).toBe(true);

    await server.start();
    const started = performance.now();
    await until(async () => (await rowsOf(t, during)).every((r) => r.published_at !== null), 20_000);
    const publishedAfterMs = performance.now() - started;
    await until(async () => waiting.every((r) => rec.deliveries.has(r.id)), 20_000);
    const appliedAfterMs = performance.now() - started;

    // Published in commit order: the stream (empty after the restart) holds the backlog, balance
    // charges included, in the order the outbox numbered it. The relay finds the stream lost before
    // it publishes anything into it, and publishes again what it had published shortly before
    // (the consumers drop what they have seen, by event id): an event may come twice, and the
    // first of each event's entries are in commit order.
    const stream = (await redis.xrange(`${prefix}:${EVENTS_TOPIC}`, '-', '+')).map(([, fields]) => fields[fields.indexOf('id') + 1]!);
    expect(stream).toEqual(expect.arrayContaining(waiting.map((r) => r.id)));
    const inStream = new Set(stream);
    const bySeq = await t.db.selectFrom('outbox').select('id').orderBy('seq').execute();
    const firstEntries = stream.filter((id, i) => stream.indexOf(id) === i);
    expect(firstEntries).toEqual(bySeq.map((r) => r.id).filter((id) => inStream.has(id)));
    // Delivered at least once (the recorder keeps no processed_events; an event published again
    // reaches it again), applied once by each group that does; the rankings count every sale once.
    for (const r of waiting) expect(rec.deliveries.get(r.id)).toBeGreaterThanOrEqual(1);
    const confirmed = waiting.filter((r) => r.type === 'reservation.confirmed').map((r) => r.id);
    const applied = () =>
      t.db.selectFrom('processed_events').select('event_id').where('consumer', '=', 'rankings').where('event_id', 'in', confirmed).execute();
    await until(async () => (await applied()).length === 5, 20_000); // each group reads at its own pace
    await until(async () => (await t.services.rankings.concerts('1h', 100)).items.find((i) => i.concertId === concert.id)?.confirmedReservations === 6);
    console.info(
      `broker-outage: backlog of ${stream.length} events published ${Math.round(publishedAfterMs)} ms and applied ` +
        `${Math.round(appliedAfterMs)} ms after Redis accepted connections again`,
    );
  });
});
