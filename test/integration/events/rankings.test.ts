import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBroker } from '../../../src/modules/events/broker.memory.js';
import { rankingsUpdater, startConsumers } from '../../../src/modules/events/consumers.js';
import { createConcert, type TestApp } from '../../support/harness.js';
import { drain, log, sellSeatId } from '../../support/outbox.js';
import { until } from '../../support/wait.js';
import { createTestAppOnOwnDatabase } from '../../support/own-database.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestAppOnOwnDatabase('events_rankings');
});
afterAll(() => t.close());

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
    for (const seat of [1, 2, 3]) await sellSeatId(t, busy.schedules[0]!.id, seat); // sells out
    await sellSeatId(t, quiet.schedules[0]!.id, 1);
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
