import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Subscription } from '../../src/modules/events/broker.js';
import { createRedisBroker, type RedisBroker } from '../../src/modules/events/broker.redis.js';
import { applyOnce, startConsumers } from '../../src/modules/events/consumers.js';
import { startRelay } from '../../src/modules/events/outbox.relay.js';
import { createRedis } from '../../src/platform/redis.js';
import { redisServerAvailable, redisServerBinary, startOwnRedis, type OwnRedis } from '../support/dependencies.js';
import { createConcert, type TestApp } from '../support/harness.js';
import { insertEvent, log, rowsOf, sellSeatId } from '../support/outbox.js';
import { createTestAppOnOwnDatabase } from '../support/own-database.js';
import { sleep, until } from '../support/wait.js';

/**
 * Redis lost with the stream: events the relay had published (and marked so) but the consumer
 * groups had not read yet are gone from Redis when it restarts empty. The relay notices the lost
 * epoch of the stream and publishes again what the groups may not have handled, so every event
 * still reaches every group, each group applies it once, and each group first sees each
 * reservation's events in commit order, even when the first relay to publish after the restart is
 * another instance's that was not due to look for a loss yet.
 */
const reason = redisServerAvailable ? '' : ` (skipped: ${redisServerBinary} is not installed)`;
const GROUPS = ['ledger-copy', 'audit'] as const;

describe.skipIf(!redisServerAvailable)(`Redis restarted empty with events unread${reason}`, () => {
  let server: OwnRedis;
  let redis: Redis;
  let broker: RedisBroker;
  let t: TestApp;
  let relay: { stop(): Promise<void> };
  /** Another instance's relay, whose own look for a loss is not due for a minute. */
  let otherBroker: RedisBroker;
  let other: { stop(): Promise<void> };
  let consumers: Subscription[] = [];
  /** Per group, how many times each event was applied (after deduplication by processed_events). */
  const applied = new Map<string, Map<string, number>>(GROUPS.map((g) => [g, new Map()]));
  /** Per group, the events in the order the group was first handed them. */
  const firstSeen = new Map<string, string[]>(GROUPS.map((g) => [g, []]));
  let republished = 0;
  const startMainRelay = () =>
    startRelay({
      db: t.db,
      broker,
      clock: t.services.clock,
      log,
      maxBackoffMs: 200,
      idleMs: 20,
      lossCheckEveryMs: 50,
      handledRecordEveryMs: 50,
      onRepublished: (n) => (republished += n),
    });

  const subscribe = async () => {
    consumers = await startConsumers({
      broker,
      instanceId: `stream-loss-${randomUUID().slice(0, 8)}`,
      log,
      redeliverAfterMs: 200,
      consumers: Object.fromEntries(
        GROUPS.map((group) => [
          group,
          (event: { id: string }) => {
            if (!firstSeen.get(group)!.includes(event.id)) firstSeen.get(group)!.push(event.id);
            return applyOnce(t.db, group, event.id, async () => {
              const counts = applied.get(group)!;
              counts.set(event.id, (counts.get(event.id) ?? 0) + 1);
            });
          },
        ]),
      ),
    });
  };
  const unsubscribe = async () => {
    await Promise.all(consumers.map((c) => c.close()));
    consumers = [];
  };

  beforeAll(async () => {
    server = await startOwnRedis();
    redis = createRedis(server.url, { onError: () => {} }); // the outage is the point: no log of it
    const keyPrefix = `events-${randomUUID()}`;
    broker = createRedisBroker(redis, { keyPrefix, onError: () => {} });
    otherBroker = createRedisBroker(redis, { keyPrefix, onError: () => {} });
    t = await createTestAppOnOwnDatabase('faults_stream_loss');
    relay = startMainRelay();
    other = startRelay({
      db: t.db,
      broker: otherBroker,
      clock: t.services.clock,
      log,
      maxBackoffMs: 200,
      idleMs: 20,
      lossCheckEveryMs: 60_000,
      handledRecordEveryMs: 60_000,
      onRepublished: (n) => (republished += n),
    });
    await subscribe();
  });

  afterAll(async () => {
    await relay?.stop();
    await other?.stop();
    await unsubscribe();
    await broker?.close();
    await otherBroker?.close();
    redis?.disconnect();
    await t?.close();
    await server?.kill();
  });

  it('publishes again what the groups had not read, each group applies every event once, each reservation in commit order', { timeout: 60_000 }, async () => {
    const concert = await createConcert(t, [{ seatCount: 10, price: 1_000 }]);
    const scheduleId = concert.schedules[0]!.id;
    const handledBy = (group: string, ids: string[]) => ids.every((id) => applied.get(group)!.get(id) === 1);
    const first = await rowsOf(t, [await sellSeatId(t, scheduleId, 1)]);
    await until(() => GROUPS.every((g) => handledBy(g, first.map((r) => r.id))), 10_000);

    // The groups stop reading; four sales are published (and marked so) but nobody reads them.
    await unsubscribe();
    const sales: string[] = [];
    for (let seat = 2; seat <= 5; seat++) sales.push(await sellSeatId(t, scheduleId, seat));
    // Held and confirmed, per sale: eight events, all published.
    await until(async () => {
      const rows = await rowsOf(t, sales);
      return rows.length === 8 && rows.every((r) => r.published_at !== null);
    }, 10_000);
    const unread = (await rowsOf(t, sales)).map((r) => r.id);
    await sleep(200); // the relay records how far the groups got (they did not get to these)

    // The relay that looks often stops; while Redis is down, each reservation gets one more event.
    await relay.stop();
    await server.kill();
    const later: string[] = [];
    for (const reservation of sales) later.push(await insertEvent(t, reservation, { after: 'outage' }, { type: 'reservation.noted' }));
    await server.start(); // empty: the stream and its groups are gone
    // The other instance's relay is the first to publish into the new stream.
    await until(async () => (await rowsOf(t, sales)).every((r) => r.published_at !== null), 20_000);
    relay = startMainRelay();
    await subscribe();
    await until(() => GROUPS.every((g) => handledBy(g, [...unread, ...later])), 20_000);

    for (const group of GROUPS) {
      for (const id of [...first.map((r) => r.id), ...unread]) expect(applied.get(group)!.get(id), `${group} ${id}`).toBe(1);
      const rows = await t.db.selectFrom('processed_events').select('event_id').where('consumer', '=', group).where('event_id', 'in', unread).execute();
      expect(rows).toHaveLength(unread.length);
    }
    expect(republished).toBeGreaterThanOrEqual(unread.length);
    // Each group was first handed each reservation's events in commit order.
    const bySale = await rowsOf(t, sales);
    for (const group of GROUPS) {
      const seen = firstSeen.get(group)!;
      for (const reservation of sales) {
        const committed = bySale.filter((r) => r.aggregate_id === reservation).map((r) => r.id);
        expect(seen.filter((id) => committed.includes(id)), `${group} ${reservation}`).toEqual(committed);
      }
    }
    expect((await rowsOf(t, sales)).every((r) => r.published_at !== null)).toBe(true);
    console.info(`stream-loss: ${republished} published events marked to publish again after the loss; each of ${GROUPS.length} groups applied all ${unread.length} unread events once`);
  });
});
