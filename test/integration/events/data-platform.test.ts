import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Subscription } from '../../../src/modules/events/broker.js';
import { createMemoryBroker, type MemoryBroker } from '../../../src/modules/events/broker.memory.js';
import { CircuitBreaker, dataPlatformExporter, rankingsUpdater, startConsumers } from '../../../src/modules/events/consumers.js';
import type { OutgoingEvent } from '../../../src/modules/events/outbox.event.js';
import type { RelayOptions } from '../../../src/modules/events/outbox.relay.js';
import { manualClock } from '../../../src/platform/clock.js';
import { createConcert, type TestApp } from '../../support/harness.js';
import { drain, log, passes, recorder, rowsOf, sellSeatId } from '../../support/outbox.js';
import { sleep, until } from '../../support/wait.js';
import { createTestAppOnOwnDatabase } from '../../support/own-database.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestAppOnOwnDatabase('events_platform');
});
afterAll(() => t.close());

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
    for (let seat = 1; seat <= 5; seat++) sold.push(await sellSeatId(t, concert.schedules[0]!.id, seat));
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
    for (let seat = 1; seat <= 6; seat++) sold.push(await sellSeatId(t, concert.schedules[0]!.id, seat));
    let mostRetained = 0;
    for (let step = 0; step < 20; step++) {
      await passes(relay);
      mostRetained = Math.max(mostRetained, broker.stats().retained);
      clock.advance(5_000);
      await sleep(20);
    }
    expect(mostRetained).toBeLessThanOrEqual(3); // the backlog bound
    const waiting = await rowsOf(t, sold);
    expect(waiting.filter((r) => r.published_at === null).length).toBeGreaterThan(6);
    expect(waiting.every((r) => r.parked_at === null)).toBe(true);

    up = true;
    await until(async () => {
      clock.advance(1_000);
      await passes(relay);
      return (await rowsOf(t, sold)).every((r) => r.published_at !== null);
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
    const confirmedIds = async (reservations: string[]) => (await rowsOf(t, reservations)).filter((r) => r.type === 'reservation.confirmed').map((r) => r.id);
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
      sold.push(await sellSeatId(t, scheduleId, seat));
      await passes(first.relay);
      watch(first.broker);
    }
    const events = await rowsOf(t, sold);
    expect(events.length).toBeGreaterThanOrEqual(5 * bound);
    const confirmed = await confirmedIds(sold);
    expect(confirmed).toHaveLength(10);
    // Delivery and the rankings' commit are not one step: wait for both, then check nothing came twice.
    await until(async () => {
      await passes(first.relay);
      watch(first.broker);
      return events.every((e) => first.rec.deliveries.get(e.id) !== undefined) && (await processedBy('rankings', confirmed)).length === 10;
    });
    expect(events.every((e) => first.rec.deliveries.get(e.id) === 1)).toBe(true);
    expect(await processedBy('data-platform', confirmed)).toEqual([]);
    expect(mostHeld).toBeLessThanOrEqual(bound); // no group ever held more than the bound
    expect(mostRetained).toBeLessThanOrEqual(bound * 3);
    const waiting = await rowsOf(t, sold);
    expect(waiting.filter((r) => r.published_at === null).length).toBeGreaterThan(bound); // the platform still needs them

    // The platform recovers: it gets every confirmation, once, and every row counts as delivered.
    up = true;
    await until(async () => {
      clock.advance(1_000);
      await passes(first.relay);
      watch(first.broker);
      return (await rowsOf(t, sold)).every((r) => r.published_at !== null);
    }, 20_000);
    expect((await processedBy('data-platform', confirmed)).sort()).toEqual([...confirmed].sort());
    const posted = (ids: string[]) => received.filter((e) => ids.includes(e.id)).map((e) => e.id);
    expect(posted(confirmed).sort()).toEqual([...confirmed].sort()); // each exactly once
    expect(mostHeld).toBeLessThanOrEqual(bound);

    // Down again, more sales, then the process restarts (new broker, relay and consumers) with the platform back.
    up = false;
    const more: string[] = [];
    for (let seat = 11; seat <= 20; seat++) {
      more.push(await sellSeatId(t, scheduleId, seat));
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
    expect((await rowsOf(t, more)).some((r) => r.published_at === null)).toBe(true);

    up = true;
    const second = await start('two');
    clock.advance(61_000); // the first process's claims run out
    await until(async () => {
      clock.advance(1_000);
      await passes(second.relay);
      watch(second.broker);
      return (await rowsOf(t, more)).every((r) => r.published_at !== null);
    }, 20_000);
    expect((await processedBy('data-platform', moreConfirmed)).sort()).toEqual([...moreConfirmed].sort());
    expect(posted(moreConfirmed).sort()).toEqual([...moreConfirmed].sort()); // each exactly once
    expect(posted(confirmed)).toHaveLength(10); // nothing sent twice
    expect(mostHeld).toBeLessThanOrEqual(bound);
    await Promise.all(second.subs.map((s) => s.close()));
    await second.broker.close();
  });
});
