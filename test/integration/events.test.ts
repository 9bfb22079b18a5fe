import { createServer, type Server } from 'node:http';
import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { UnpublishableMessageError, type Broker, type BrokerMessage, type Subscription } from '../../src/modules/events/broker.js';
import { createMemoryBroker, type MemoryBroker } from '../../src/modules/events/broker.memory.js';
import { CircuitBreaker, dataPlatformExporter, rankingsUpdater, startConsumers } from '../../src/modules/events/consumers.js';
import { EVENTS_TOPIC, relayOnce, startRelay, type OutgoingEvent, type RelayOptions } from '../../src/modules/events/outbox.relay.js';
import { purgeProcessedEvents, purgePublishedOutbox } from '../../src/modules/events/outbox.purge.js';
import { manualClock, type Clock } from '../../src/platform/clock.js';
import { ADMIN_TOKEN, bearer, charge, createConcert, createTestApp, createUser, expectProblem, hold, pay, type TestApp } from '../support/harness.js';

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

/** Runs relay passes until nothing more is handed over (with the given clock and broker). */
async function passes(opts: RelayOptions) {
  while ((await relayOnce(opts)) > 0) {
    // more
  }
}

/** The outbox rows of these aggregates, in order. */
const rowsOf = (aggregateIds: string[]) =>
  t.db
    .selectFrom('outbox')
    .select(['seq', 'id', 'type', 'aggregate_id', 'published_at', 'parked_at', 'attempts', 'last_error'])
    .where('aggregate_id', 'in', aggregateIds)
    .orderBy('seq')
    .execute();

/** Writes an event straight into the outbox (as the domain statements do) and returns its id. */
async function insertEvent(aggregateId: string, payload: Record<string, unknown> = { n: 1 }, extra: { type?: string; nextAttemptAt?: Date } = {}) {
  const { rows } = await sql<{ id: string }>`
    INSERT INTO outbox (aggregate_id, type, payload, occurred_at, next_attempt_at)
    VALUES (${aggregateId}, ${extra.type ?? 'test.event'}, ${JSON.stringify(payload)}::jsonb, now(), ${extra.nextAttemptAt ?? null})
    RETURNING id`.execute(t.db);
  return rows[0]!.id;
}

/** A consumer group that records how often each event reached it. */
function recorder() {
  const deliveries = new Map<string, number>();
  const order: string[] = [];
  return {
    deliveries,
    order,
    handle: async (event: OutgoingEvent) => {
      deliveries.set(event.id, (deliveries.get(event.id) ?? 0) + 1);
      order.push(event.id);
    },
  };
}

/** Sells one seat and returns its reservation id. */
async function sellSeat(t: TestApp, scheduleId: string, seat: number) {
  const user = await createUser(t.app);
  await charge(t.app, user, 10_000_000);
  const r = (await hold(t, user, scheduleId, seat)).json();
  expect((await pay(t, user, r.id)).statusCode).toBe(201);
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
    const schedule = (await createConcert(t, [{ price: 1_000 }])).schedules[0]!;
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
    const schedule = (await createConcert(t)).schedules[0]!;
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
    const ids = (await t.db.selectFrom('outbox').select('id').where('aggregate_id', '=', reservationId).execute()).map((r) => r.id);
    // The relay found the broker down: it probes again within its backoff.
    await until(async () => {
      await drain(t, broker);
      return ids.every((id) => seen.includes(id));
    });
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
    const concert = await createConcert(t, [{ seatCount: 10, price: 1_000 }]);
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

  it('with the in-process broker, a platform outage keeps memory bounded: events wait in the outbox and all arrive after', async () => {
    const clock = manualClock(new Date());
    const broker = createMemoryBroker({ maxBacklog: 3 });
    const subs = await startConsumers({
      broker,
      instanceId: 'test',
      log,
      redeliverAfterMs: 100,
      consumers: { 'data-platform': dataPlatformExporter({ db: t.db, url, retries: 0, breaker: new CircuitBreaker(100, 100), timeoutMs: 500 }) },
    });
    const relay: RelayOptions = { db: t.db, broker, clock, maxBackoffMs: 1_000, batchSize: 2 };
    const concert = await createConcert(t, [{ seatCount: 10, price: 1_000 }]);
    up = false;
    const sold: string[] = [];
    for (let seat = 1; seat <= 6; seat++) sold.push(await sellSeat(t, concert.schedules[0]!.id, seat));
    let mostRetained = 0;
    for (let step = 0; step < 20; step++) {
      await passes(relay);
      mostRetained = Math.max(mostRetained, broker.stats().retained);
      clock.advance(5_000);
      await sleep(20);
    }
    expect(mostRetained).toBeLessThanOrEqual(3); // the backlog bound
    const waiting = await rowsOf(sold);
    expect(waiting.filter((r) => r.published_at === null).length).toBeGreaterThan(6);
    expect(waiting.every((r) => r.parked_at === null)).toBe(true);

    up = true;
    await until(async () => {
      clock.advance(1_000);
      await passes(relay);
      return (await rowsOf(sold)).every((r) => r.published_at !== null);
    }, 20_000);
    const mine = received.filter((e) => e.payload.concertId === concert.id);
    expect(mine.map((e) => e.payload.reservationId).sort()).toEqual([...sold].sort());
    await Promise.all(subs.map((s) => s.close()));
  });

  it('with the in-process broker, a platform outage delays only the platform: the other groups get every event at once, memory stays bounded, the platform gets each once after recovery and after a restart', async () => {
    const bound = 4;
    const clock = manualClock(new Date());
    const processedBy = async (consumer: string, ids: string[]) =>
      (await t.db.selectFrom('processed_events').select('event_id').where('consumer', '=', consumer).where('event_id', 'in', ids).execute()).map((r) => r.event_id);
    const confirmedIds = async (reservations: string[]) => (await rowsOf(reservations)).filter((r) => r.type === 'reservation.confirmed').map((r) => r.id);
    async function start(instanceId: string) {
      const broker = createMemoryBroker({ maxBacklog: bound });
      const rec = recorder();
      const subs = await startConsumers({
        broker,
        instanceId,
        log,
        redeliverAfterMs: 50,
        consumers: {
          'data-platform': dataPlatformExporter({ db: t.db, url, retries: 0, breaker: new CircuitBreaker(100, 100), timeoutMs: 500 }),
          rankings: rankingsUpdater({ db: t.db, rankings: t.services.rankings }),
          recorder: rec.handle,
        },
      });
      const relay: RelayOptions = { db: t.db, broker, clock, maxBackoffMs: 1_000, batchSize: 2 };
      return { broker, rec, subs, relay };
    }
    const concert = await createConcert(t, [{ seatCount: 30, price: 1_000 }]);
    const scheduleId = concert.schedules[0]!.id;
    const first = await start('one');
    let mostHeld = 0;
    let mostRetained = 0;
    const watch = (broker: MemoryBroker) => {
      const stats = broker.stats();
      mostHeld = Math.max(mostHeld, ...Object.values(stats.groups ?? {}));
      mostRetained = Math.max(mostRetained, stats.retained);
    };

    // The platform is down for good while 5 × the bound of events go out; the other groups keep up.
    up = false;
    const sold: string[] = [];
    for (let seat = 1; seat <= 10; seat++) {
      sold.push(await sellSeat(t, scheduleId, seat));
      await passes(first.relay);
      watch(first.broker);
    }
    const events = await rowsOf(sold);
    expect(events.length).toBeGreaterThanOrEqual(5 * bound);
    await until(async () => {
      await passes(first.relay);
      watch(first.broker);
      return events.every((e) => first.rec.deliveries.get(e.id) === 1);
    });
    const confirmed = await confirmedIds(sold);
    expect(await processedBy('rankings', confirmed)).toHaveLength(10);
    expect(await processedBy('data-platform', confirmed)).toEqual([]);
    expect(mostHeld).toBeLessThanOrEqual(bound); // no group ever held more than the bound
    expect(mostRetained).toBeLessThanOrEqual(bound * 3);
    const waiting = await rowsOf(sold);
    expect(waiting.filter((r) => r.published_at === null).length).toBeGreaterThan(bound); // the platform still needs them

    // The platform recovers: it gets every confirmation, once, and every row counts as delivered.
    up = true;
    await until(async () => {
      clock.advance(1_000);
      await passes(first.relay);
      watch(first.broker);
      return (await rowsOf(sold)).every((r) => r.published_at !== null);
    }, 20_000);
    expect((await processedBy('data-platform', confirmed)).sort()).toEqual([...confirmed].sort());
    const posted = (ids: string[]) => received.filter((e) => ids.includes(e.id)).map((e) => e.id);
    expect(posted(confirmed).sort()).toEqual([...confirmed].sort()); // each exactly once
    expect(mostHeld).toBeLessThanOrEqual(bound);

    // Down again, more sales, then the process restarts (new broker, relay and consumers) with the platform back.
    up = false;
    const more: string[] = [];
    for (let seat = 11; seat <= 20; seat++) {
      more.push(await sellSeat(t, scheduleId, seat));
      await passes(first.relay);
      watch(first.broker);
    }
    const moreConfirmed = await confirmedIds(more);
    await until(async () => {
      await passes(first.relay);
      return (await processedBy('rankings', moreConfirmed)).length === 10;
    });
    await Promise.all(first.subs.map((s) => s.close()));
    await first.broker.close();
    expect((await rowsOf(more)).some((r) => r.published_at === null)).toBe(true);

    up = true;
    const second = await start('two');
    clock.advance(61_000); // the first process's claims run out
    await until(async () => {
      clock.advance(1_000);
      await passes(second.relay);
      watch(second.broker);
      return (await rowsOf(more)).every((r) => r.published_at !== null);
    }, 20_000);
    expect((await processedBy('data-platform', moreConfirmed)).sort()).toEqual([...moreConfirmed].sort());
    expect(posted(moreConfirmed).sort()).toEqual([...moreConfirmed].sort()); // each exactly once
    expect(posted(confirmed)).toHaveLength(10); // nothing sent twice
    expect(mostHeld).toBeLessThanOrEqual(bound);
    await Promise.all(second.subs.map((s) => s.close()));
    await second.broker.close();
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
    const busy = await createConcert(t, [{ seatCount: 3 }], { title: 'Busy' });
    const quiet = await createConcert(t, [{ seatCount: 10 }], { title: 'Quiet' });
    for (const seat of [1, 2, 3]) await sellSeat(t, busy.schedules[0]!.id, seat); // sells out
    await sellSeat(t, quiet.schedules[0]!.id, 1);
    await drain(t, broker);
    // Consumers run asynchronously: wait until both rankings have seen every confirmation.
    await until(async () => {
      const { items } = (await t.app.inject({ url: '/rankings/concerts?window=1h&limit=100' })).json();
      const sold = (await t.app.inject({ url: '/rankings/sellouts?limit=100' })).json().items;
      return (
        items.some((i: { concertId: string; confirmedReservations: number }) => i.concertId === busy.id && i.confirmedReservations === 3) &&
        items.some((i: { concertId: string; confirmedReservations: number }) => i.concertId === quiet.id && i.confirmedReservations === 1) &&
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
      if (second % 30 === 0) sold.push(await sellSeat(t, concert.schedules[0]!.id, sold.length + 1));
      await passes(relay);
      clock.advance(5_000);
    }
    const during = await rowsOf(sold);
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
      return (await rowsOf(sold)).every((r) => r.published_at !== null);
    });
    await sleep(300); // anything more would come now
    const after = await rowsOf(sold);
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
    await sellSeat(t, schedule.id, 1);
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
    const id = await insertEvent(`lease-${randomUUID()}`);
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
    const first = await insertEvent(key, { n: 1 }, { nextAttemptAt: new Date(Date.now() + 3_600_000) }); // backing off
    const second = await insertEvent(key, { n: 2 });
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
    const before = await insertEvent(`k-${randomUUID()}`);
    poison = await insertEvent(`k-${randomUUID()}`);
    const after = await insertEvent(`k-${randomUUID()}`);
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
    const reservationId = await sellSeat(t, concert.schedules[0]!.id, 1);
    await passes({ db: t.db, broker: first, clock });
    await sleep(100);
    await relayOnce({ db: t.db, broker: first, clock });
    const handedOver = await rowsOf([reservationId]);
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
      return (await rowsOf([reservationId])).every((r) => r.published_at !== null);
    });
    for (const r of handedOver) expect(rec.deliveries.get(r.id)).toBe(1);
    const ranked = (await t.services.rankings.concerts('1h', 100)).items.find((i) => i.concertId === concert.id);
    expect(ranked?.confirmedReservations).toBe(1);
    await Promise.all(subs2.map((s) => s.close()));
  });
});

describe('parked events: list and replay', () => {
  const admin = bearer(ADMIN_TOKEN);

  type ParkedItem = { id: string; type: string; aggregateId: string; attempts: number; lastError: string | null; parkedAt: string; occurredAt: string };
  async function listAll(): Promise<ParkedItem[]> {
    const all: ParkedItem[] = [];
    let cursor: string | null = null;
    do {
      const res: { statusCode: number; json(): { items: ParkedItem[]; nextCursor: string | null } } = await t.app.inject({
        url: `/admin/outbox/parked?limit=1${cursor ? `&cursor=${cursor}` : ''}`,
        headers: admin,
      });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      all.push(...body.items);
      cursor = body.nextCursor;
    } while (cursor);
    return all;
  }

  it('parks an event the broker refuses for good, lists it, and delivers it once replayed after the cause is gone', async () => {
    const small = createMemoryBroker({ maxMessageBytes: 2_000 });
    const rec = recorder();
    const subs = await startConsumers({ broker: small, instanceId: 'test', log, consumers: { recorder: rec.handle } });
    const key = `big-${randomUUID()}`;
    const big1 = await insertEvent(key, { blob: 'x'.repeat(3_000) });
    const after = await insertEvent(key, { n: 2 }); // same aggregate, after the refused one
    const big2 = await insertEvent(`big-${randomUUID()}`, { blob: 'y'.repeat(3_000) });
    await until(async () => {
      await passes({ db: t.db, broker: small, clock: t.services.clock });
      return rec.deliveries.has(after);
    });
    const parked = await listAll();
    const mine = parked.filter((p) => p.id === big1 || p.id === big2);
    expect(mine.map((p) => p.id)).toEqual([big1, big2]);
    expect(mine[0]).toEqual({
      id: big1,
      type: 'test.event',
      aggregateId: key,
      occurredAt: expect.any(String),
      attempts: 1,
      lastError: expect.stringMatching(/larger than/),
      parkedAt: expect.any(String),
    });
    const counts = (await t.app.inject({ url: '/admin/outbox', headers: admin })).json();
    expect(counts.parked).toBeGreaterThanOrEqual(2);

    // Refusals: no credential, a user's credential, bad ids, a bad cursor. Nothing changes.
    const user = await createUser(t.app);
    expectProblem(await t.app.inject({ method: 'POST', url: '/admin/outbox/parked/replay', payload: {} }), 401, 'UNAUTHENTICATED');
    expectProblem(await t.app.inject({ method: 'POST', url: '/admin/outbox/parked/replay', headers: bearer(user.token), payload: {} }), 403, 'FORBIDDEN');
    expectProblem(await t.app.inject({ url: '/admin/outbox/parked', headers: bearer(user.token) }), 403, 'FORBIDDEN');
    expectProblem(await t.app.inject({ method: 'POST', url: '/admin/outbox/parked/replay', headers: admin, payload: { ids: ['x'] } }), 400, 'VALIDATION_FAILED');
    expectProblem(await t.app.inject({ method: 'POST', url: '/admin/outbox/parked/replay', headers: admin, payload: { ids: [] } }), 400, 'VALIDATION_FAILED');
    expectProblem(await t.app.inject({ url: '/admin/outbox/parked?cursor=bm9wZQ', headers: admin }), 400, 'VALIDATION_FAILED');
    expect((await listAll()).filter((p) => p.id === big1 || p.id === big2)).toHaveLength(2);

    // The cause goes (a broker with a larger limit); the operator replays one, then the rest.
    const large = createMemoryBroker();
    const subsLarge = await startConsumers({ broker: large, instanceId: 'test', log, consumers: { recorder: rec.handle } });
    const one = await t.app.inject({ method: 'POST', url: '/admin/outbox/parked/replay', headers: admin, payload: { ids: [big1, randomUUID()] } });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toEqual({ replayed: 1 });
    expect((await listAll()).map((p) => p.id)).not.toContain(big1);
    await until(async () => {
      await passes({ db: t.db, broker: large, clock: t.services.clock });
      return rec.deliveries.has(big1);
    });
    expect(rec.deliveries.has(big2)).toBe(false);
    const rest = await t.app.inject({ method: 'POST', url: '/admin/outbox/parked/replay', headers: admin, payload: {} });
    expect(rest.json().replayed).toBeGreaterThanOrEqual(1);
    await until(async () => {
      await passes({ db: t.db, broker: large, clock: t.services.clock });
      return rec.deliveries.has(big2);
    });
    for (const id of [big1, after, big2]) expect(rec.deliveries.get(id)).toBe(1);
    expect((await listAll()).filter((p) => p.id === big1 || p.id === big2)).toEqual([]);
    await Promise.all([...subs, ...subsLarge].map((s) => s.close()));
  });

  it('documents the operator endpoints in the OpenAPI document', async () => {
    const doc = (await t.app.inject({ url: '/docs/json' })).json();
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/admin/outbox', '/admin/outbox/parked', '/admin/outbox/parked/replay']));
  });
});

describe('purge', () => {
  async function insertAged(aggregateId: string, fields: { publishedHoursAgo?: number; parked?: boolean; occurredHoursAgo: number }) {
    const hours = (h: number) => new Date(Date.now() - h * 3_600_000);
    const { rows } = await sql<{ id: string }>`
      INSERT INTO outbox (aggregate_id, type, payload, occurred_at, published_at, parked_at, next_attempt_at)
      VALUES (${aggregateId}, 'test.event', '{}'::jsonb, ${hours(fields.occurredHoursAgo)},
              ${fields.publishedHoursAgo === undefined ? null : hours(fields.publishedHoursAgo)},
              ${fields.parked ? hours(fields.occurredHoursAgo) : null}, ${new Date(Date.now() + 86_400_000)})
      RETURNING id`.execute(t.db);
    return rows[0]!.id;
  }

  it('deletes published rows past retention in bounded batches, never unsent or parked ones; and old deduplication records', async () => {
    const key = `purge-${randomUUID()}`;
    for (let i = 0; i < 5; i++) await insertAged(key, { occurredHoursAgo: 49, publishedHoursAgo: 48 });
    const recent = await insertAged(key, { occurredHoursAgo: 2, publishedHoursAgo: 1 });
    const unsent = await insertAged(key, { occurredHoursAgo: 72 });
    const parked = await insertAged(key, { occurredHoursAgo: 72, parked: true });

    const consumer = `purge-test-${randomUUID().slice(0, 8)}`;
    const old = [randomUUID(), randomUUID(), randomUUID()];
    const fresh = randomUUID();
    for (const id of old) await sql`INSERT INTO processed_events (consumer, event_id, processed_at) VALUES (${consumer}, ${id}::uuid, now() - interval '20 days')`.execute(t.db);
    await sql`INSERT INTO processed_events (consumer, event_id) VALUES (${consumer}, ${fresh}::uuid)`.execute(t.db);

    const clock = manualClock(new Date());
    const cutoff = new Date(clock.now().getTime() - 24 * 3_600_000);
    expect(await purgePublishedOutbox(t.db, cutoff, 2)).toBeGreaterThanOrEqual(5);
    const left = await rowsOf([key]);
    expect(left.map((r) => r.id).sort()).toEqual([recent, unsent, parked].sort());

    expect(await purgeProcessedEvents(t.db, new Date(clock.now().getTime() - 14 * 86_400_000), 2)).toBeGreaterThanOrEqual(3);
    const kept = await t.db.selectFrom('processed_events').select('event_id').where('consumer', '=', consumer).execute();
    expect(kept).toEqual([{ event_id: fresh }]);
  });

  it('runs from the relay loop on its schedule', async () => {
    const key = `purge-loop-${randomUUID()}`;
    await insertAged(key, { occurredHoursAgo: 30, publishedHoursAgo: 25 });
    const keep = await insertAged(key, { occurredHoursAgo: 30 });
    const relay = startRelay({
      db: t.db,
      broker: createMemoryBroker(),
      clock: t.services.clock,
      log,
      idleMs: 20,
      purge: { outboxRetentionMs: 24 * 3_600_000, processedEventsRetentionMs: 14 * 86_400_000 },
    });
    try {
      await until(async () => (await rowsOf([key])).length === 1);
      expect((await rowsOf([key])).map((r) => r.id)).toEqual([keep]);
    } finally {
      await relay.stop();
    }
  });
});
