import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rankingsUpdater } from '../../src/modules/events/consumers.js';
import { toEvent, type OutgoingEvent } from '../../src/modules/events/outbox.relay.js';
import { createRankingsService } from '../../src/modules/rankings/rankings.service.js';
import {
  createMemoryRankingsStore,
  createRedisRankingsStore,
  HOUR,
  MINUTE,
  type RankingsStore,
} from '../../src/modules/rankings/rankings.store.js';
import { manualClock } from '../../src/platform/clock.js';
import { bearer, charge, createConcert, createTestApp, createUser, hold, pay, type TestApp, type TestUser } from '../support/harness.js';

const redisUrl = process.env.REDIS_URL;
const SECOND = 1_000;

// The service's clock stands still unless a test moves it; it starts at the current second so
// that the builders' defaults (a show a week from now) stay ahead of it.
const clock = manualClock(new Date(Math.floor(Date.now() / SECOND) * SECOND));
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({}, { clock });
});
afterAll(() => t.close());

interface Sold {
  id: string;
  user: TestUser;
}

/** Sells one seat (hold, then pay) to a new user. */
async function sellSeat(scheduleId: string, seat: number): Promise<Sold> {
  const user = await createUser(t.app);
  await charge(t.app, user, 10_000_000);
  const held = await hold(t, user, scheduleId, seat);
  expect(held.statusCode).toBe(201);
  expect((await pay(t, user, held.json().id)).statusCode).toBe(201);
  return { id: held.json().id, user };
}

/** Holds one seat for a new user and cancels the hold. */
async function holdAndCancel(scheduleId: string, seat: number): Promise<string> {
  const user = await createUser(t.app);
  const held = await hold(t, user, scheduleId, seat);
  expect(held.statusCode).toBe(201);
  await cancel({ id: held.json().id, user });
  return held.json().id;
}

async function cancel(r: Sold) {
  const res = await t.app.inject({ method: 'DELETE', url: `/reservations/${r.id}`, headers: bearer(r.user.token) });
  expect(res.statusCode).toBe(200);
  expect(res.json().status).toBe('CANCELLED');
}

/** Every event the outbox holds for these reservations, in the order they were written. */
async function eventsOf(reservationIds: string[]): Promise<OutgoingEvent[]> {
  const rows = await t.db
    .selectFrom('outbox')
    .select(['seq', 'id', 'aggregate_id', 'type', 'version', 'payload', 'occurred_at', 'attempts'])
    .where('aggregate_id', 'in', reservationIds)
    .orderBy('seq')
    .execute();
  return rows.map((r) => toEvent({ ...r, seq: Number(r.seq), payload: r.payload as Record<string, unknown> }));
}

/**
 * The rankings consumer as the broker drives it, under a consumer name of its own (so no other
 * test's consumer takes these events' processed_events rows).
 */
const updaterFor = (rankings = t.services.rankings) =>
  rankingsUpdater({ db: t.db, rankings, consumer: `rankings-test-${randomUUID()}` });

async function deliverInOrder(handle: (e: OutgoingEvent) => Promise<void>, events: OutgoingEvent[]) {
  for (const event of events) await handle(event);
}

async function until(check: () => Promise<boolean> | boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** True while a session waits for the rankings' sell-out lock of this schedule (a 64-bit advisory lock). */
const waitingForSelloutLock = async (scheduleId: string) =>
  (
    await sql<{ n: number }>`
      WITH k AS (SELECT hashtextextended(${`rankings-sellout/${scheduleId}`}, 0) AS key)
      SELECT count(*)::int AS n FROM pg_locks l, k
       WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objsubid = 1
         AND l.classid::text::bigint = (k.key >> 32) & 4294967295
         AND l.objid::text::bigint = k.key & 4294967295`.execute(t.db)
  ).rows[0]!.n > 0;

const concertsOver = async (window: string) => (await t.app.inject({ url: `/rankings/concerts?window=${window}&limit=100` })).json().items;
const countOf = async (window: string, concertId: string): Promise<number | undefined> =>
  (await concertsOver(window)).find((i: { concertId: string }) => i.concertId === concertId)?.confirmedReservations;
const selloutOf = async (scheduleId: string): Promise<{ secondsToSellOut: number } | undefined> =>
  (await t.app.inject({ url: '/rankings/sellouts?limit=100' })).json().items.find((s: { scheduleId: string }) => s.scheduleId === scheduleId);

describe('rankings from confirmations and cancellations', () => {
  it('a cancelled confirmation counts in no window; a cancelled hold changes nothing', async () => {
    const handle = updaterFor();
    const busy = await createConcert(t, [{ seatCount: 10 }], { title: 'Busy' });
    const quiet = await createConcert(t, [{ seatCount: 10 }], { title: 'Quiet' });
    const [one, two, three] = [await sellSeat(busy.schedules[0]!.id, 1), await sellSeat(busy.schedules[0]!.id, 2), await sellSeat(busy.schedules[0]!.id, 3)];
    const heldOnly = await holdAndCancel(busy.schedules[0]!.id, 4);
    await cancel(two!); // refunded before the show
    const other = await sellSeat(quiet.schedules[0]!.id, 1);

    const events = await eventsOf([one!.id, two!.id, three!.id, heldOnly, other.id]);
    // The cancellation says what was cancelled (fields added to the payload; nothing renamed).
    expect(events.find((e) => e.aggregateId === two!.id && e.type === 'reservation.cancelled')?.payload).toMatchObject({
      reservationId: two!.id,
      previousStatus: 'CONFIRMED',
      confirmedAt: expect.any(String),
      cancelledAt: expect.any(String),
      refunded: 50_000,
    });
    expect(events.find((e) => e.aggregateId === heldOnly && e.type === 'reservation.cancelled')?.payload).toMatchObject({
      previousStatus: 'HELD',
      refunded: 0,
    });
    await deliverInOrder(handle, events);

    for (const window of ['15m', '1h', '24h', '7d']) {
      expect(await countOf(window, busy.id), window).toBe(2);
      expect(await countOf(window, quiet.id), window).toBe(1);
    }
    const items = await concertsOver('1h');
    expect(items.findIndex((i: { concertId: string }) => i.concertId === busy.id)).toBeLessThan(
      items.findIndex((i: { concertId: string }) => i.concertId === quiet.id),
    );
  });

  it('a schedule that gets a seat back is no longer sold out; sold out again, it is timed to the new sell-out', async () => {
    const handle = updaterFor();
    const concert = await createConcert(t, [{ seatCount: 2 }]); // booking opens now
    const scheduleId = concert.schedules[0]!.id;

    clock.advance(100 * SECOND);
    const first = await sellSeat(scheduleId, 1);
    const second = await sellSeat(scheduleId, 2);
    await deliverInOrder(handle, await eventsOf([first.id, second.id]));
    expect(await selloutOf(scheduleId)).toMatchObject({ secondsToSellOut: 100 });

    clock.advance(100 * SECOND);
    await cancel(first);
    await deliverInOrder(handle, await eventsOf([first.id]));
    expect(await selloutOf(scheduleId)).toBeUndefined();

    clock.advance(300 * SECOND);
    const again = await sellSeat(scheduleId, 1);
    await deliverInOrder(handle, await eventsOf([again.id]));
    expect(await selloutOf(scheduleId)).toMatchObject({ scheduleId, concertId: concert.id, secondsToSellOut: 500 });
    expect(await countOf('1h', concert.id)).toBe(2);
  });

  it('redelivered and reordered events (a cancellation before its confirmation) leave no phantom count or sell-out', async () => {
    const handle = updaterFor();
    const concert = await createConcert(t, [{ seatCount: 2 }]);
    const scheduleId = concert.schedules[0]!.id;
    const first = await sellSeat(scheduleId, 1);
    const second = await sellSeat(scheduleId, 2); // sold out
    await cancel(first); // and a seat back
    const heldOnly = await holdAndCancel(scheduleId, 1);

    const events = await eventsOf([first.id, second.id, heldOnly]);
    await deliverInOrder(handle, [...events].reverse()); // every cancellation before its confirmation
    await deliverInOrder(handle, events); // all of it again
    await Promise.all([...events, ...events].map((e) => handle(e))); // and again, all at once

    expect(await countOf('1h', concert.id)).toBe(1);
    expect(await selloutOf(scheduleId)).toBeUndefined();
  });

  it('a sell-out read before a cancellation committed cannot be written after that cancellation is applied', async () => {
    // The store holds back the first sell-out write until the test lets it go.
    const store = createMemoryRankingsStore();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held = false;
    const gated: RankingsStore = {
      ...store,
      async setSellout(scheduleId, seconds) {
        if (!held) {
          held = true;
          await released;
        }
        return store.setSellout(scheduleId, seconds);
      },
    };
    const handle = updaterFor(createRankingsService({ db: t.db, store: gated, catalog: t.services.catalog, clock }));
    const concert = await createConcert(t, [{ seatCount: 2 }]);
    const scheduleId = concert.schedules[0]!.id;
    const first = await sellSeat(scheduleId, 1);
    const second = await sellSeat(scheduleId, 2);
    const [confirmed] = (await eventsOf([second.id])).filter((e) => e.type === 'reservation.confirmed');

    const sellingOut = handle(confirmed!); // reads "sold out", then waits to write it
    await until(() => held);
    await cancel(first); // a seat comes back …
    const [cancelled] = (await eventsOf([first.id])).filter((e) => e.type === 'reservation.cancelled');
    const givingBack = handle(cancelled!); // … and its event is handled meanwhile
    // Let the stale write go once the cancellation's handler has finished or waits for the date.
    let gaveBack = false;
    void givingBack.then(() => (gaveBack = true));
    await until(async () => gaveBack || (await waitingForSelloutLock(scheduleId)));
    release();
    await Promise.all([sellingOut, givingBack]);

    expect((await store.fastestSellouts(1_000)).find((s) => s.scheduleId === scheduleId)).toBeUndefined();
  });

  it('cancellations written before the payload said previousStatus are decided by the reservation', async () => {
    const handle = updaterFor();
    const concert = await createConcert(t, [{ seatCount: 3 }]);
    const scheduleId = concert.schedules[0]!.id;
    const paid = await sellSeat(scheduleId, 1);
    await cancel(paid);
    const heldOnly = await holdAndCancel(scheduleId, 2);
    const kept = await sellSeat(scheduleId, 3);

    const legacy = (await eventsOf([paid.id, heldOnly, kept.id])).map((e) => {
      const { previousStatus: _status, confirmedAt: _at, ...payload } = e.payload;
      return e.type === 'reservation.cancelled' ? { ...e, payload } : e;
    });
    await deliverInOrder(handle, legacy);
    expect(await countOf('1h', concert.id)).toBe(1);
  });
});

const storeKinds: [string, boolean, () => RankingsStore][] = [
  ['in-process', true, () => createMemoryRankingsStore()],
  [`Redis${redisUrl ? '' : ' (REDIS_URL unset: skipped)'}`, !!redisUrl, () => createRedisRankingsStore(redisClient(), `rank-test-${randomUUID()}`)],
];
let redis: Redis | undefined;
const redisClient = () => (redis ??= new Redis(redisUrl!));
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
  await redis?.quit();
});

describe.each(storeKinds)('rebuild (%s store)', (_name, enabled, makeStore) => {
  it.skipIf(!enabled)('computes from PostgreSQL exactly what the live updates computed', async () => {
    const fresh = () => {
      const store = makeStore();
      cleanups.push(() => store.reset());
      return store;
    };
    const liveStore = fresh();
    const live = createRankingsService({ db: t.db, store: liveStore, catalog: t.services.catalog, clock });
    const handle = updaterFor(live);

    const p = await createConcert(t, [{ seatCount: 3 }]);
    const q = await createConcert(t, [{ seatCount: 2 }, { seatCount: 2 }]);
    const [ps, qs1, qs2] = [p.schedules[0]!.id, q.schedules[0]!.id, q.schedules[1]!.id];
    const ids: string[] = [];
    const sell = async (scheduleId: string, seat: number) => {
      const sold = await sellSeat(scheduleId, seat);
      ids.push(sold.id);
      return sold;
    };

    clock.advance(60 * SECOND);
    await sell(ps, 1);
    const p2 = await sell(ps, 2);
    await sell(ps, 3); // P sold out at 60 s
    clock.advance(60 * SECOND);
    await cancel(p2); // P has a seat again
    clock.advance(480 * SECOND);
    await sell(ps, 2); // P sold out again at 600 s
    clock.advance(100 * SECOND);
    const q1 = await sell(qs1, 1);
    await sell(qs1, 2); // Q's first date sold out at 700 s
    await sell(qs2, 1);
    ids.push(await holdAndCancel(qs2, 2));
    clock.advance(100 * SECOND);
    await cancel(q1); // … and not any more

    // Live: every event delivered twice, cancellations first the second time.
    const events = await eventsOf(ids);
    await deliverInOrder(handle, events);
    await deliverInOrder(handle, [...events].reverse());

    const rebuiltStore = fresh();
    const rebuilt = createRankingsService({ db: t.db, store: rebuiltStore, catalog: t.services.catalog, clock });
    await rebuilt.rebuild();

    // The database holds other tests' reservations too: compare these concerts and dates only.
    const now = clock.now().getTime();
    const mine = async (store: RankingsStore) => {
      const counts: Record<string, unknown> = {};
      for (const windowMs of [15 * MINUTE, HOUR, 24 * HOUR, 7 * 24 * HOUR]) {
        counts[windowMs] = (await store.topConcerts(windowMs, now, 1_000_000)).filter((c) => c.concertId === p.id || c.concertId === q.id);
      }
      const sellouts = (await store.fastestSellouts(1_000_000)).filter((s) => [ps, qs1, qs2].includes(s.scheduleId));
      return { counts, sellouts };
    };
    const expected = {
      counts: Object.fromEntries(
        [15 * MINUTE, HOUR, 24 * HOUR, 7 * 24 * HOUR].map((w) => [
          w,
          [
            { concertId: p.id, count: 3 },
            { concertId: q.id, count: 2 },
          ],
        ]),
      ),
      sellouts: [{ scheduleId: ps, secondsToSellOut: 600 }],
    };
    expect(await mine(liveStore)).toEqual(expected);
    expect(await mine(rebuiltStore)).toEqual(await mine(liveStore));
  });
});
