import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker, BrokerMessage } from '../../../src/modules/events/broker.js';
import { createMemoryBroker, type MemoryBroker } from '../../../src/modules/events/broker.memory.js';
import { rankingsUpdater, startConsumers } from '../../../src/modules/events/consumers.js';
import { EVENTS_TOPIC, type OutgoingEvent } from '../../../src/modules/events/outbox.event.js';
import { relayOnce } from '../../../src/modules/events/outbox.relay.js';
import { manualClock, type Clock } from '../../../src/platform/clock.js';
import { createConcert, createUser, hold, type TestApp } from '../../support/harness.js';
import { drain, log, passes, recorder, rowsOf, sellSeatId } from '../../support/outbox.js';
import { sleep, until } from '../../support/wait.js';
import { createTestAppOnOwnDatabase } from '../../support/own-database.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestAppOnOwnDatabase('events_relay');
});
afterAll(() => t.close());

describe('outbox relay', () => {
  it('publishes committed events in order, marks them only after the broker acknowledged', async () => {
    const broker = createMemoryBroker();
    const seen: OutgoingEvent[] = [];
    const withHeaders: BrokerMessage[] = [];
    const sub = await broker.subscribe(EVENTS_TOPIC, { group: 'g', consumer: 'c' }, async (m) => {
      seen.push(JSON.parse(m.value));
      if (m.headers) withHeaders.push(m);
    });
    const schedule = (await createConcert(t, [{ price: 1_000 }])).schedules[0]!;
    const reservationId = await sellSeatId(t, schedule.id, 1);
    await drain(t, broker);
    await until(() => seen.some((e) => e.aggregateId === reservationId && e.type === 'reservation.confirmed'));
    const mine = seen.filter((e) => e.aggregateId === reservationId);
    expect(mine.map((e) => e.type)).toEqual(['reservation.held', 'reservation.confirmed']);
    // Tracing is off in this process: no trace context is stored or sent.
    const stored = await t.db.selectFrom('outbox').select('trace_context').where('aggregate_id', '=', reservationId).execute();
    expect(stored).toEqual([{ trace_context: null }, { trace_context: null }]);
    expect(withHeaders).toEqual([]);
    expect(mine[1]).toMatchObject({
      version: 1,
      occurredAt: expect.any(String),
      payload: { reservationId, scheduleId: schedule.id, seatNumber: 1, price: 1_000, confirmedAt: expect.any(String) },
    });
    // In-process broker: a row counts as delivered once every group handled it, marked by a later pass.
    await until(async () => {
      await drain(t, broker);
      const unsent = await t.db.selectFrom('outbox').select('seq').where('aggregate_id', '=', reservationId).where('published_at', 'is', null).execute();
      return unsent.length === 0;
    });
    await sub.close();
  });

  it('two relays at once publish each event once', async () => {
    const published = new Map<string, number>();
    const inner = createMemoryBroker();
    const counting: Broker = {
      ...inner,
      kind: 'memory',
      publish: async (topic: string, messages: BrokerMessage[]) => {
        await sleep(5);
        for (const m of messages) published.set(m.id, (published.get(m.id) ?? 0) + 1);
        return inner.publish(topic, messages);
      },
    };
    const schedule = (await createConcert(t, [{ seatCount: 40 }])).schedules[0]!;
    const user = await createUser(t.app);
    const ids: string[] = [];
    for (let i = 1; i <= 4; i++) ids.push((await hold(t, user, schedule.id, i)).json().id);
    const relay = async () => {
      while ((await relayOnce({ db: t.db, broker: counting, clock: t.services.clock, batchSize: 3 })) > 0) {
        // keep going
      }
    };
    await Promise.all([relay(), relay()]);
    const events = await t.db.selectFrom('outbox').select('id').where('aggregate_id', 'in', ids).execute();
    expect(events).toHaveLength(4);
    for (const e of events) expect(published.get(e.id)).toBe(1);
  });

  it('a crash between publish and mark publishes again, and consumers apply the event once', async () => {
    const inner = createMemoryBroker();
    let crashes = 1;
    const crashing: Broker = {
      ...inner,
      kind: 'memory',
      publish: async (topic: string, messages: BrokerMessage[]) => {
        await inner.publish(topic, messages);
        if (crashes-- > 0) throw new Error('process died before marking the rows sent');
      },
    };
    const deliveries = new Map<string, number>();
    const sub = await inner.subscribe(EVENTS_TOPIC, { group: 'count', consumer: 'c' }, async (m) => {
      deliveries.set(m.id, (deliveries.get(m.id) ?? 0) + 1);
    });
    const [rankingsSub] = await startConsumers({
      broker: inner,
      instanceId: 'test',
      log,
      consumers: { rankings: rankingsUpdater({ db: t.db, rankings: t.services.rankings }) },
    });
    const concert = await createConcert(t, [{ seatCount: 5 }]);
    const reservationId = await sellSeatId(t, concert.schedules[0]!.id, 1);
    const confirmed = await t.db
      .selectFrom('outbox')
      .select('id')
      .where('aggregate_id', '=', reservationId)
      .where('type', '=', 'reservation.confirmed')
      .executeTakeFirstOrThrow();
    await relayOnce({ db: t.db, broker: crashing, clock: t.services.clock }); // published, then "crashed"
    await sql`UPDATE outbox SET next_attempt_at = NULL WHERE next_attempt_at IS NOT NULL`.execute(t.db);
    await drain(t, crashing); // published again
    await until(() => (deliveries.get(confirmed.id) ?? 0) >= 2);
    await until(async () => (await t.services.rankings.concerts('1h', 100)).items.some((i) => i.concertId === concert.id));
    await sleep(100);
    const ranked = (await t.services.rankings.concerts('1h', 100)).items.find((i) => i.concertId === concert.id);
    expect(ranked?.confirmedReservations).toBe(1);
    const processed = await t.db.selectFrom('processed_events').select('consumer').where('event_id', '=', confirmed.id).execute();
    expect(processed).toEqual([{ consumer: 'rankings' }]);
    await Promise.all([sub.close(), rankingsSub!.close()]);
  });

  it('a broker outage does not stop payments, and events flow once it is back', async () => {
    const broker: MemoryBroker = createMemoryBroker();
    broker.setAvailable(false);
    const schedule = (await createConcert(t)).schedules[0]!;
    const reservationId = await sellSeatId(t, schedule.id, 2); // paid while the broker is down
    expect(await relayOnce({ db: t.db, broker, clock: t.services.clock })).toBe(0);
    const waiting = await t.db.selectFrom('outbox').select(['attempts', 'next_attempt_at']).where('aggregate_id', '=', reservationId).execute();
    expect(waiting.every((r) => r.attempts >= 1 && r.next_attempt_at !== null)).toBe(true);
    const health = (await t.app.inject({ url: '/health/ready' })).json();
    expect(health.outbox.unsent).toBeGreaterThan(0);

    broker.setAvailable(true);
    const seen: string[] = [];
    const sub = await broker.subscribe(EVENTS_TOPIC, { group: 'after', consumer: 'c' }, async (m) => {
      seen.push(m.id);
    });
    await sql`UPDATE outbox SET next_attempt_at = NULL WHERE aggregate_id = ${reservationId}`.execute(t.db);
    const ids = (await t.db.selectFrom('outbox').select('id').where('aggregate_id', '=', reservationId).execute()).map((r) => r.id);
    // The relay found the broker down: it probes again within its backoff.
    await until(async () => {
      await drain(t, broker);
      return ids.every((id) => seen.includes(id));
    });
    await sub.close();
  });
});

describe('in-process broker: the outbox is the durable log', () => {
  it('events handed over but not handled by every consumer survive a restart', async () => {
    const clock: Clock & { advance(ms: number): void } = manualClock(new Date());
    // The first process: its consumers fail (say the process is going down), nothing is handled.
    const first = createMemoryBroker();
    const failing = async () => {
      throw new Error('about to die');
    };
    const subs1 = await startConsumers({ broker: first, instanceId: 'one', log, redeliverAfterMs: 50, consumers: { rankings: failing, recorder: failing } });
    const concert = await createConcert(t, [{ seatCount: 5, price: 1_000 }]);
    const reservationId = await sellSeatId(t, concert.schedules[0]!.id, 1);
    await passes({ db: t.db, broker: first, clock });
    await sleep(100);
    await relayOnce({ db: t.db, broker: first, clock });
    const handedOver = await rowsOf(t, [reservationId]);
    expect(handedOver).toHaveLength(2);
    expect(handedOver.every((r) => r.published_at === null)).toBe(true); // in memory only: not delivered
    expect(first.stats().unacknowledged).toBeGreaterThanOrEqual(2);
    await Promise.all(subs1.map((s) => s.close()));
    await first.close();

    // The restarted process: a new broker, working consumers; the old claims run out.
    const second = createMemoryBroker();
    const rec = recorder();
    const subs2 = await startConsumers({
      broker: second,
      instanceId: 'two',
      log,
      consumers: { rankings: rankingsUpdater({ db: t.db, rankings: t.services.rankings }), recorder: rec.handle },
    });
    clock.advance(61_000);
    await until(async () => {
      await passes({ db: t.db, broker: second, clock });
      return (await rowsOf(t, [reservationId])).every((r) => r.published_at !== null);
    });
    for (const r of handedOver) expect(rec.deliveries.get(r.id)).toBe(1);
    const ranked = (await t.services.rankings.concerts('1h', 100)).items.find((i) => i.concertId === concert.id);
    expect(ranked?.confirmedReservations).toBe(1);
    await Promise.all(subs2.map((s) => s.close()));
  });
});
