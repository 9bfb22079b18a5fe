import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepExpiredHolds } from '../../src/modules/reservations/reservations.sweeper.js';
import { bearer, charge, createConcert, createTestApp, createUser, expectProblem, hold, invariants, pay, type TestApp, seatMap } from '../support/harness.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ HOLD_TTL_SECONDS: '1' });
});
afterAll(() => t.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('hold expiry, end to end with HOLD_TTL_SECONDS=1', () => {
  it('frees the seat at heldUntil for every read and write, before any sweep', async () => {
    const schedule = (await createConcert(t)).schedules[0]!;
    const [a, b] = [await createUser(t.app), await createUser(t.app)];
    await charge(t.app, a, 100_000);
    const r = (await hold(t, a, schedule.id, 2)).json();
    expect(new Date(r.heldUntil).getTime() - new Date(r.createdAt).getTime()).toBe(1_000);
    await sleep(Math.max(0, new Date(r.heldUntil).getTime() - Date.now()) + 20);

    const seats = (await seatMap(t, schedule.id));
    expect(seats[1]!.status).toBe('AVAILABLE');
    const read = (await t.app.inject({ url: `/reservations/${r.id}`, headers: bearer(a.token) })).json();
    expect(read.status).toBe('EXPIRED');
    const detail = (await t.app.inject({ url: `/concerts/${schedule.concertId}` })).json();
    expect(detail.schedules[0].availableSeats).toBe(20);

    expectProblem(await pay(t, a, r.id), 409, 'HOLD_EXPIRED');
    expect((await t.app.inject({ url: '/users/me/balance', headers: bearer(a.token) })).json().balance).toBe(100_000);
    expectProblem(await t.app.inject({ method: 'DELETE', url: `/reservations/${r.id}`, headers: bearer(a.token) }), 409, 'RESERVATION_NOT_CANCELLABLE');

    // another user takes the seat: the old hold is marked EXPIRED in the same transaction
    const taken = await hold(t, b, schedule.id, 2);
    expect(taken.statusCode).toBe(201);
    const old = await t.db.selectFrom('reservations').select('status').where('id', '=', r.id).executeTakeFirstOrThrow();
    expect(old.status).toBe('EXPIRED');
    const events = await t.db.selectFrom('outbox').select('type').where('aggregate_id', '=', r.id).orderBy('seq').execute();
    expect(events.map((e) => e.type)).toEqual(['reservation.held', 'reservation.expired']);
    expect(await invariants.seatsDisagreeingWithReservations(t.db, [schedule.id])).toEqual([]);
  });

  it('the sweeper marks due holds EXPIRED, frees their seats and emits reservation.expired once', async () => {
    const schedule = (await createConcert(t)).schedules[0]!;
    const user = await createUser(t.app);
    const ids = [];
    for (const n of [1, 2, 3]) ids.push((await hold(t, user, schedule.id, n)).json().id);
    await sleep(1_050);
    // two sweepers at once, as in two instances: each hold is expired exactly once
    await Promise.all([sweepExpiredHolds(t.db, t.services.clock), sweepExpiredHolds(t.db, t.services.clock)]);
    const rows = await t.db.selectFrom('reservations').select('status').where('id', 'in', ids).execute();
    expect(rows.map((r) => r.status)).toEqual(['EXPIRED', 'EXPIRED', 'EXPIRED']);
    const seats = await t.db.selectFrom('seats').select(['status', 'reservation_id']).where('schedule_id', '=', schedule.id).where('number', 'in', [1, 2, 3]).execute();
    expect(seats.every((s) => s.status === 'AVAILABLE' && s.reservation_id === null)).toBe(true);
    const expired = await t.db.selectFrom('outbox').select('aggregate_id').where('type', '=', 'reservation.expired').where('aggregate_id', 'in', ids).execute();
    expect(expired.map((e) => e.aggregate_id).sort()).toEqual([...ids].sort());
    // the user's limit is free again
    expect((await hold(t, user, schedule.id, 4)).statusCode).toBe(201);
  });
});

describe('the sweeper loop', () => {
  it('marks due holds EXPIRED on its own within about one interval and reports the freed seats', async () => {
    const { startSweeper } = await import('../../src/modules/reservations/reservations.sweeper.js');
    const pino = (await import('pino')).default;
    const schedule = (await createConcert(t)).schedules[0]!;
    const user = await createUser(t.app);
    const r = (await hold(t, user, schedule.id, 9)).json();
    const freed: { scheduleId: string }[] = [];
    let housekept = 0;
    const sweeper = startSweeper({
      db: t.db,
      clock: t.services.clock,
      intervalMs: 100,
      log: pino({ level: 'silent' }),
      onSeatsFreed: async (seats) => {
        freed.push(...seats);
      },
      housekeeping: async () => {
        housekept++;
      },
    });
    try {
      const deadline = Date.now() + 3_000;
      let status = 'HELD';
      while (status !== 'EXPIRED' && Date.now() < deadline) {
        await sleep(50);
        status = (await t.db.selectFrom('reservations').select('status').where('id', '=', r.id).executeTakeFirstOrThrow()).status;
      }
      expect(status).toBe('EXPIRED');
      expect(freed.some((f) => f.scheduleId === schedule.id)).toBe(true);
      expect(housekept).toBeGreaterThanOrEqual(1);
    } finally {
      await sweeper.stop();
    }
  });
});
