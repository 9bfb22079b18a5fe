import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRankingsService } from '../../src/modules/rankings/rankings.service.js';
import type { RankingsStore } from '../../src/modules/rankings/rankings.store.js';
import { createMemoryRankingsStore } from '../../src/modules/rankings/rankings.store.memory.js';
import { createConcert, createTestApp, type TestApp } from '../support/harness.js';
import { deliverInOrder, eventsOf, SECOND, standingClock, updaterFor } from '../support/rankings.js';
import { cancel, holdAndCancel, sellSeat } from '../support/sales.js';
import { until } from '../support/wait.js';

const clock = standingClock();
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({}, { clock });
});
afterAll(() => t.close());

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
    const handle = updaterFor(t);
    const busy = await createConcert(t, [{ seatCount: 10 }], { title: 'Busy' });
    const quiet = await createConcert(t, [{ seatCount: 10 }], { title: 'Quiet' });
    const [one, two, three] = [await sellSeat(t, busy.schedules[0]!.id, 1), await sellSeat(t, busy.schedules[0]!.id, 2), await sellSeat(t, busy.schedules[0]!.id, 3)];
    const heldOnly = await holdAndCancel(t, busy.schedules[0]!.id, 4);
    await cancel(t, two!); // refunded before the show
    const other = await sellSeat(t, quiet.schedules[0]!.id, 1);

    const events = await eventsOf(t, [one!.id, two!.id, three!.id, heldOnly, other.id]);
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
    const handle = updaterFor(t);
    const concert = await createConcert(t, [{ seatCount: 2 }]); // booking opens now
    const scheduleId = concert.schedules[0]!.id;

    clock.advance(100 * SECOND);
    const first = await sellSeat(t, scheduleId, 1);
    const second = await sellSeat(t, scheduleId, 2);
    await deliverInOrder(handle, await eventsOf(t, [first.id, second.id]));
    expect(await selloutOf(scheduleId)).toMatchObject({ secondsToSellOut: 100 });

    clock.advance(100 * SECOND);
    await cancel(t, first);
    await deliverInOrder(handle, await eventsOf(t, [first.id]));
    expect(await selloutOf(scheduleId)).toBeUndefined();

    clock.advance(300 * SECOND);
    const again = await sellSeat(t, scheduleId, 1);
    await deliverInOrder(handle, await eventsOf(t, [again.id]));
    expect(await selloutOf(scheduleId)).toMatchObject({ scheduleId, concertId: concert.id, secondsToSellOut: 500 });
    expect(await countOf('1h', concert.id)).toBe(2);
  });

  it('redelivered and reordered events (a cancellation before its confirmation) leave no phantom count or sell-out', async () => {
    const handle = updaterFor(t);
    const concert = await createConcert(t, [{ seatCount: 2 }]);
    const scheduleId = concert.schedules[0]!.id;
    const first = await sellSeat(t, scheduleId, 1);
    const second = await sellSeat(t, scheduleId, 2); // sold out
    await cancel(t, first); // and a seat back
    const heldOnly = await holdAndCancel(t, scheduleId, 1);

    const events = await eventsOf(t, [first.id, second.id, heldOnly]);
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
    const handle = updaterFor(t, createRankingsService({ db: t.db, store: gated, catalog: t.services.catalog, clock }));
    const concert = await createConcert(t, [{ seatCount: 2 }]);
    const scheduleId = concert.schedules[0]!.id;
    const first = await sellSeat(t, scheduleId, 1);
    const second = await sellSeat(t, scheduleId, 2);
    const [confirmed] = (await eventsOf(t, [second.id])).filter((e) => e.type === 'reservation.confirmed');

    const sellingOut = handle(confirmed!); // reads "sold out", then waits to write it
    await until(() => held, 10_000, 10);
    await cancel(t, first); // a seat comes back …
    const [cancelled] = (await eventsOf(t, [first.id])).filter((e) => e.type === 'reservation.cancelled');
    const givingBack = handle(cancelled!); // … and its event is handled meanwhile
    // Let the stale write go once the cancellation's handler has finished or waits for the date.
    let gaveBack = false;
    void givingBack.then(() => (gaveBack = true));
    await until(async () => gaveBack || (await waitingForSelloutLock(scheduleId)), 10_000, 10);
    release();
    await Promise.all([sellingOut, givingBack]);

    expect((await store.fastestSellouts(1_000)).find((s) => s.scheduleId === scheduleId)).toBeUndefined();
  });

  it('cancellations written before the payload said previousStatus are decided by the reservation', async () => {
    const handle = updaterFor(t);
    const concert = await createConcert(t, [{ seatCount: 3 }]);
    const scheduleId = concert.schedules[0]!.id;
    const paid = await sellSeat(t, scheduleId, 1);
    await cancel(t, paid);
    const heldOnly = await holdAndCancel(t, scheduleId, 2);
    const kept = await sellSeat(t, scheduleId, 3);

    const legacy = (await eventsOf(t, [paid.id, heldOnly, kept.id])).map((e) => {
      const { previousStatus: _status, confirmedAt: _at, ...payload } = e.payload;
      return e.type === 'reservation.cancelled' ? { ...e, payload } : e;
    });
    await deliverInOrder(handle, legacy);
    expect(await countOf('1h', concert.id)).toBe(1);
  });
});
