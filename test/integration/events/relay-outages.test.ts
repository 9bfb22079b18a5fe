import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { UnpublishableMessageError, type Broker, type BrokerMessage } from '../../../src/modules/events/broker.js';
import { createMemoryBroker } from '../../../src/modules/events/broker.memory.js';
import { rankingsUpdater, startConsumers } from '../../../src/modules/events/consumers.js';
import { relayOnce, type RelayOptions } from '../../../src/modules/events/outbox.relay.js';
import { manualClock } from '../../../src/platform/clock.js';
import { createConcert, type TestApp } from '../../support/harness.js';
import { insertEvent, log, passes, recorder, rowsOf, sellSeatId } from '../../support/outbox.js';
import { sleep, until } from '../../support/wait.js';
import { createTestAppOnOwnDatabase } from '../../support/own-database.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestAppOnOwnDatabase('events_outages');
});
afterAll(() => t.close());

describe('relay: outages, leases and order', () => {
  it('a broker outage of 3 minutes loses no event: after recovery each reaches every consumer exactly once, none parked', async () => {
    const clock = manualClock(new Date());
    const broker = createMemoryBroker();
    const rec = recorder();
    const subs = await startConsumers({
      broker,
      instanceId: 'test',
      log,
      redeliverAfterMs: 100,
      consumers: { rankings: rankingsUpdater({ db: t.db, rankings: t.services.rankings }), recorder: rec.handle },
    });
    // Backoff capped at 1 s (OUTBOX_RETRY_MAX_MS): the relay probes at every 5 s step of its clock.
    const relay: RelayOptions = { db: t.db, broker, clock, maxBackoffMs: 1_000 };
    const concert = await createConcert(t, [{ seatCount: 10, price: 1_000 }]);
    broker.setAvailable(false);
    // Three minutes of outage in 5 s steps of the relay's clock; holds and payments keep committing.
    const sold: string[] = [];
    for (let second = 0; second < 180; second += 5) {
      if (second % 30 === 0) sold.push(await sellSeatId(t, concert.schedules[0]!.id, sold.length + 1));
      await passes(relay);
      clock.advance(5_000);
    }
    const during = await rowsOf(t, sold);
    expect(during).toHaveLength(12); // held + confirmed for each of 6 sales
    expect(during.every((r) => r.published_at === null && r.parked_at === null)).toBe(true);
    // The relay kept probing with the oldest waiting event: more failures than used to park a row.
    const { rows: probed } = await sql<{ attempts: number; last_error: string }>`
      SELECT attempts, last_error FROM outbox WHERE published_at IS NULL AND parked_at IS NULL ORDER BY attempts DESC LIMIT 1`.execute(t.db);
    expect(probed[0]!.attempts).toBeGreaterThan(10);
    expect(probed[0]!.last_error).toMatch(/unavailable/);
    expect(during[0]!.last_error).toMatch(/unavailable/);

    broker.setAvailable(true);
    clock.advance(1_000); // the largest backoff
    await until(async () => {
      await passes(relay);
      return (await rowsOf(t, sold)).every((r) => r.published_at !== null);
    });
    await sleep(300); // anything more would come now
    const after = await rowsOf(t, sold);
    expect(after.every((r) => r.parked_at === null)).toBe(true);
    for (const r of after) expect(rec.deliveries.get(r.id)).toBe(1);
    const confirmed = after.filter((r) => r.type === 'reservation.confirmed').map((r) => r.id);
    const applied = await t.db.selectFrom('processed_events').select('event_id').where('consumer', '=', 'rankings').where('event_id', 'in', confirmed).execute();
    expect(applied).toHaveLength(6);
    const ranked = (await t.services.rankings.concerts('1h', 100)).items.find((i) => i.concertId === concert.id);
    expect(ranked?.confirmedReservations).toBe(6);
    await Promise.all(subs.map((s) => s.close()));
  });

  it('holds no row lock while the broker is publishing', async () => {
    const inner = createMemoryBroker();
    const probes: string[] = [];
    const probing: Broker = {
      ...inner,
      publish: async (topic: string, messages: BrokerMessage[]) => {
        // Another connection locks the very rows being published: it could not if the relay held them.
        const ids = messages.map((m) => m.id);
        try {
          await sql`SELECT seq FROM outbox WHERE id = ANY(${ids}::uuid[]) FOR UPDATE NOWAIT`.execute(t.db);
          probes.push('free');
        } catch (err) {
          probes.push(String((err as { code?: string }).code));
        }
        return inner.publish(topic, messages);
      },
    };
    const schedule = (await createConcert(t)).schedules[0]!;
    await sellSeatId(t, schedule.id, 1);
    await passes({ db: t.db, broker: probing, clock: t.services.clock });
    expect(probes.length).toBeGreaterThan(0);
    expect(probes.every((p) => p === 'free')).toBe(true);
  });

  it('a relay stuck in a publish loses its claim when the lease runs out; another publishes; the late answer changes nothing', async () => {
    const clock = manualClock(new Date());
    const inner = createMemoryBroker();
    const rec = recorder();
    const subs = await startConsumers({ broker: inner, instanceId: 'test', log, consumers: { recorder: rec.handle } });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // Durable brokers (as Redis and Kafka): a row is marked as soon as the publish is acknowledged.
    const healthy: Broker = { ...inner, durable: true, acknowledged: undefined };
    const stuck: Broker = {
      ...healthy,
      publish: async () => {
        await gate;
        throw new Error('connection reset');
      },
    };
    const id = await insertEvent(t, `lease-${randomUUID()}`);
    const rowOf = () => t.db.selectFrom('outbox').select(['published_at', 'claimed_by', 'attempts']).where('id', '=', id).executeTakeFirstOrThrow();
    const first = relayOnce({ db: t.db, broker: stuck, clock, publishTimeoutMs: 600_000 });
    await until(async () => (await rowOf()).claimed_by !== null);
    await passes({ db: t.db, broker: healthy, clock });
    await sleep(50);
    expect(rec.deliveries.has(id)).toBe(false); // claimed: nobody else takes it

    clock.advance(61_000); // the lease runs out
    await until(async () => {
      await passes({ db: t.db, broker: healthy, clock });
      return rec.deliveries.has(id);
    });
    expect((await rowOf()).published_at).not.toBeNull();
    release();
    await first; // its failure update needs its claim: the row stays published, no attempt counted
    expect(await rowOf()).toMatchObject({ published_at: expect.any(Date), claimed_by: null, attempts: 0 });
    expect(rec.deliveries.get(id)).toBe(1);
    await Promise.all(subs.map((s) => s.close()));
  });

  it('keeps an aggregate’s later event back while an earlier one waits for its retry', async () => {
    const broker = createMemoryBroker();
    const rec = recorder();
    const subs = await startConsumers({ broker, instanceId: 'test', log, consumers: { recorder: rec.handle } });
    const key = `order-${randomUUID()}`;
    const first = await insertEvent(t, key, { n: 1 }, { nextAttemptAt: new Date(Date.now() + 3_600_000) }); // backing off
    const second = await insertEvent(t, key, { n: 2 });
    await passes({ db: t.db, broker, clock: t.services.clock });
    await sleep(100);
    expect(rec.deliveries.has(second)).toBe(false);
    await sql`UPDATE outbox SET next_attempt_at = NULL WHERE id = ${first}::uuid`.execute(t.db);
    await until(async () => {
      await passes({ db: t.db, broker, clock: t.services.clock });
      return rec.deliveries.has(second);
    });
    expect(rec.order.filter((id) => id === first || id === second)).toEqual([first, second]);
    await Promise.all(subs.map((s) => s.close()));
  });

  it('a batch that fails while the broker answers is published one by one: only the refused event is parked', async () => {
    const inner = createMemoryBroker();
    const rec = recorder();
    const subs = await startConsumers({ broker: inner, instanceId: 'test', log, consumers: { recorder: rec.handle } });
    let poison = '';
    // As Kafka does: a batch is refused without naming the message; the message alone is named.
    const picky: Broker = {
      ...inner,
      publish: async (topic: string, messages: BrokerMessage[]) => {
        if (messages.some((m) => m.id === poison)) {
          if (messages.length > 1) throw new Error('the broker refused the batch');
          throw new UnpublishableMessageError([poison], 'MESSAGE_TOO_LARGE');
        }
        return inner.publish(topic, messages);
      },
    };
    const before = await insertEvent(t, `k-${randomUUID()}`);
    poison = await insertEvent(t, `k-${randomUUID()}`);
    const after = await insertEvent(t, `k-${randomUUID()}`);
    await until(async () => {
      await passes({ db: t.db, broker: picky, clock: t.services.clock });
      return rec.deliveries.has(before) && rec.deliveries.has(after);
    });
    const row = await t.db.selectFrom('outbox').select(['parked_at', 'published_at', 'last_error']).where('id', '=', poison).executeTakeFirstOrThrow();
    expect(row.parked_at).not.toBeNull();
    expect(row.published_at).toBeNull();
    expect(row.last_error).toMatch(/MESSAGE_TOO_LARGE/);
    expect(rec.deliveries.has(poison)).toBe(false);
    await Promise.all(subs.map((s) => s.close()));
  });
});
