import { createServer, type Server } from 'node:http';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker, BrokerMessage, Subscription } from '../../src/modules/events/broker.js';
import { createMemoryBroker, type MemoryBroker } from '../../src/modules/events/broker.memory.js';
import { CircuitBreaker, dataPlatformExporter, rankingsUpdater, startConsumers } from '../../src/modules/events/consumers.js';
import { EVENTS_TOPIC, relayOnce, type OutgoingEvent } from '../../src/modules/events/outbox.relay.js';
import { charge, createConcert, createTestApp, createUser, hold, pay, type TestApp } from '../support/harness.js';

const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => Promise<boolean> | boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(25);
  }
}

/** Drains the outbox (the relay would do this every 50 ms). */
async function drain(t: TestApp, broker: Broker) {
  while ((await relayOnce({ db: t.db, broker, clock: t.services.clock })) > 0) {
    // more
  }
}

/** Sells one seat and returns its reservation id. */
async function sellSeat(t: TestApp, scheduleId: string, seat: number) {
  const user = await createUser(t.app);
  await charge(t.app, user, 10_000_000);
  const r = (await hold(t.app, user, scheduleId, seat)).json();
  expect((await pay(t.app, user, r.id)).statusCode).toBe(201);
  return r.id as string;
}

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

describe('outbox relay', () => {
  it('publishes committed events in order, marks them only after the broker acknowledged', async () => {
    const broker = createMemoryBroker();
    const seen: OutgoingEvent[] = [];
    const sub = await broker.subscribe(EVENTS_TOPIC, { group: 'g', consumer: 'c' }, async (m) => {
      seen.push(JSON.parse(m.value));
    });
    const schedule = (await createConcert(t.app, [{ price: 1_000 }])).schedules[0]!;
    const reservationId = await sellSeat(t, schedule.id, 1);
    await drain(t, broker);
    await until(() => seen.some((e) => e.aggregateId === reservationId && e.type === 'reservation.confirmed'));
    const mine = seen.filter((e) => e.aggregateId === reservationId);
    expect(mine.map((e) => e.type)).toEqual(['reservation.held', 'reservation.confirmed']);
    expect(mine[1]).toMatchObject({
      version: 1,
      occurredAt: expect.any(String),
      payload: { reservationId, scheduleId: schedule.id, seatNumber: 1, price: 1_000, confirmedAt: expect.any(String) },
    });
    const unsent = await t.db.selectFrom('outbox').select('seq').where('aggregate_id', '=', reservationId).where('published_at', 'is', null).execute();
    expect(unsent).toEqual([]);
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
    const schedule = (await createConcert(t.app, [{ seatCount: 40 }])).schedules[0]!;
    const user = await createUser(t.app);
    const ids: string[] = [];
    for (let i = 1; i <= 4; i++) ids.push((await hold(t.app, user, schedule.id, i)).json().id);
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
    const concert = await createConcert(t.app, [{ seatCount: 5 }]);
    const reservationId = await sellSeat(t, concert.schedules[0]!.id, 1);
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
    const schedule = (await createConcert(t.app)).schedules[0]!;
    const reservationId = await sellSeat(t, schedule.id, 2); // paid while the broker is down
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
    await drain(t, broker);
    const ids = (await t.db.selectFrom('outbox').select('id').where('aggregate_id', '=', reservationId).execute()).map((r) => r.id);
    await until(() => ids.every((id) => seen.includes(id)));
    await sub.close();
  });
});

describe('data platform export', () => {
  let server: Server;
  let url: string;
  let up = true;
  const received: OutgoingEvent[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        if (!up) {
          res.writeHead(503).end();
          return;
        }
        received.push(JSON.parse(body));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/events`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('survives an outage of the platform: nothing is lost, the backlog drains after, no duplicates', async () => {
    const broker = createMemoryBroker();
    const subs: Subscription[] = await startConsumers({
      broker,
      instanceId: 'test',
      log,
      redeliverAfterMs: 200,
      consumers: {
        'data-platform': dataPlatformExporter({ db: t.db, url, retries: 1, breaker: new CircuitBreaker(3, 300), timeoutMs: 500 }),
      },
    });
    const concert = await createConcert(t.app, [{ seatCount: 10, price: 1_000 }]);
    up = false;
    const sold: string[] = [];
    for (let seat = 1; seat <= 5; seat++) sold.push(await sellSeat(t, concert.schedules[0]!.id, seat));
    await drain(t, broker);
    await sleep(1_500); // the platform stays down; deliveries keep failing and are kept
    expect(received.filter((e) => e.payload.concertId === concert.id)).toEqual([]);
    up = true;
    await until(() => received.filter((e) => e.payload.concertId === concert.id).length >= 5, 15_000);
    await sleep(500);
    const mine = received.filter((e) => e.payload.concertId === concert.id);
    expect(mine.map((e) => e.payload.reservationId).sort()).toEqual([...sold].sort());
    expect(mine.every((e) => e.type === 'reservation.confirmed')).toBe(true);
    expect(mine[0]!.payload).toEqual({
      reservationId: expect.any(String),
      userId: expect.any(String),
      concertId: concert.id,
      scheduleId: concert.schedules[0]!.id,
      seatNumber: expect.any(Number),
      price: 1_000,
      confirmedAt: expect.any(String),
    });
    await Promise.all(subs.map((s) => s.close()));
  });
});

describe('rankings over HTTP', () => {
  it('ranks concerts by confirmations in the window and sell-outs by speed', async () => {
    const broker = createMemoryBroker();
    const subs = await startConsumers({
      broker,
      instanceId: 'test',
      log,
      consumers: { rankings: rankingsUpdater({ db: t.db, rankings: t.services.rankings }) },
    });
    const busy = await createConcert(t.app, [{ seatCount: 3 }], { title: 'Busy' });
    const quiet = await createConcert(t.app, [{ seatCount: 10 }], { title: 'Quiet' });
    for (const seat of [1, 2, 3]) await sellSeat(t, busy.schedules[0]!.id, seat); // sells out
    await sellSeat(t, quiet.schedules[0]!.id, 1);
    await drain(t, broker);
    // Consumers run asynchronously: wait until both rankings have seen the last confirmation.
    await until(async () => {
      const { items } = (await t.app.inject({ url: '/rankings/concerts?window=1h&limit=100' })).json();
      const sold = (await t.app.inject({ url: '/rankings/sellouts?limit=100' })).json().items;
      return (
        items.some((i: { concertId: string; confirmedReservations: number }) => i.concertId === busy.id && i.confirmedReservations === 3) &&
        sold.some((s: { scheduleId: string }) => s.scheduleId === busy.schedules[0]!.id)
      );
    });
    const concerts = (await t.app.inject({ url: '/rankings/concerts?window=1h&limit=100' })).json().items;
    const busyAt = concerts.findIndex((i: { concertId: string }) => i.concertId === busy.id);
    const quietAt = concerts.findIndex((i: { concertId: string }) => i.concertId === quiet.id);
    expect(concerts[busyAt]).toEqual({ concertId: busy.id, title: 'Busy', confirmedReservations: 3 });
    expect(concerts[quietAt]).toEqual({ concertId: quiet.id, title: 'Quiet', confirmedReservations: 1 });
    expect(busyAt).toBeLessThan(quietAt);

    const sellouts = (await t.app.inject({ url: '/rankings/sellouts?limit=100' })).json().items;
    const entry = sellouts.find((s: { scheduleId: string }) => s.scheduleId === busy.schedules[0]!.id);
    expect(entry).toMatchObject({ concertId: busy.id, title: 'Busy', startsAt: busy.schedules[0]!.startsAt, secondsToSellOut: expect.any(Number) });
    expect(sellouts.some((s: { scheduleId: string }) => s.scheduleId === quiet.schedules[0]!.id)).toBe(false);

    expect((await t.app.inject({ url: '/rankings/concerts?window=1y' })).statusCode).toBe(400);
    expect((await t.app.inject({ url: '/rankings/sellouts?limit=0' })).statusCode).toBe(400);

    // The rankings rebuild from PostgreSQL to the same answer.
    await t.services.rankings.rebuild();
    const rebuilt = (await t.app.inject({ url: '/rankings/concerts?window=1h&limit=100' })).json().items;
    expect(rebuilt.find((i: { concertId: string }) => i.concertId === busy.id)?.confirmedReservations).toBe(3);
    expect((await t.app.inject({ url: '/rankings/sellouts?limit=100' })).json().items.some((s: { scheduleId: string }) => s.scheduleId === busy.schedules[0]!.id)).toBe(true);
    await Promise.all(subs.map((s) => s.close()));
  });
});
