import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bearer,
  charge,
  createConcert,
  createTestApp,
  createUser,
  expectProblem,
  hold,
  invariants,
  pay,
  type TestApp,
  seatMap,
  bookingHeaders,
} from '../support/harness.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ HOLD_LIMIT_PER_SCHEDULE: '2' });
});
afterAll(() => t.close());

const seatStatus = async (scheduleId: string, n: number) =>
  (await seatMap(t, scheduleId)).find((s) => s.number === n)!.status;

describe('holding a seat', () => {
  it('holds a free seat for HOLD_TTL_SECONDS and shows it HELD', async () => {
    const concert = await createConcert(t, [{ price: 40_000 }]);
    const schedule = concert.schedules[0]!;
    const user = await createUser(t.app);
    const before = Date.now();
    const res = await hold(t, user, schedule.id, 7);
    expect(res.statusCode).toBe(201);
    const r = res.json();
    expect(r).toMatchObject({
      userId: user.id,
      concertId: concert.id,
      scheduleId: schedule.id,
      seatNumber: 7,
      price: 40_000,
      status: 'HELD',
    });
    expect(r.confirmedAt).toBeUndefined();
    const ttl = new Date(r.heldUntil).getTime() - new Date(r.createdAt).getTime();
    expect(ttl).toBe(300_000);
    expect(new Date(r.createdAt).getTime()).toBeGreaterThanOrEqual(before - 5);
    expect(await seatStatus(schedule.id, 7)).toBe('HELD');

    const got = await t.app.inject({ url: `/reservations/${r.id}`, headers: bearer(user.token) });
    expect(got.json()).toEqual(r);
    const event = await t.db.selectFrom('outbox').selectAll().where('aggregate_id', '=', r.id).executeTakeFirstOrThrow();
    expect(event).toMatchObject({ type: 'reservation.held', payload: { reservationId: r.id, seatNumber: 7 } });
  });

  it('refuses a seat that is held or sold with SEAT_UNAVAILABLE', async () => {
    const schedule = (await createConcert(t)).schedules[0]!;
    const [a, b] = [await createUser(t.app), await createUser(t.app)];
    expect((await hold(t, a, schedule.id, 1)).statusCode).toBe(201);
    expectProblem(await hold(t, b, schedule.id, 1), 409, 'SEAT_UNAVAILABLE');
    expectProblem(await hold(t, a, schedule.id, 1), 409, 'SEAT_UNAVAILABLE');
  });

  it('refuses unknown schedules and seats with 404, bad bodies with 400', async () => {
    const schedule = (await createConcert(t, [{ seatCount: 5 }])).schedules[0]!;
    const user = await createUser(t.app);
    const headers = await bookingHeaders(t, user, schedule.id);
    const unknown = await t.app.inject({ method: 'POST', url: '/reservations', headers, payload: { scheduleId: '01890a5d-ac96-774b-bcce-b302099a8057', seatNumber: 1 } });
    expectProblem(unknown, 404, 'NOT_FOUND');
    expectProblem(await hold(t, user, schedule.id, 6), 404, 'NOT_FOUND');
    expectProblem(await hold(t, user, schedule.id, 0), 400, 'VALIDATION_FAILED');
    const bad = await t.app.inject({ method: 'POST', url: '/reservations', headers, payload: { scheduleId: schedule.id, seatNumber: '2' } });
    expectProblem(bad, 400, 'VALIDATION_FAILED');
    expectProblem(await t.app.inject({ method: 'POST', url: '/reservations', payload: { scheduleId: schedule.id, seatNumber: 2 } }), 401, 'UNAUTHENTICATED');
  });

  it('limits seats per user per schedule, counting held and bought seats', async () => {
    const [s1, s2] = (await createConcert(t, [{}, {}])).schedules;
    const user = await createUser(t.app);
    await charge(t.app, user, 1_000_000);
    const first = (await hold(t, user, s1!.id, 1)).json();
    expect((await pay(t, user, first.id)).statusCode).toBe(201);
    expect((await hold(t, user, s1!.id, 2)).statusCode).toBe(201);
    const body = expectProblem(await hold(t, user, s1!.id, 3), 409, 'HOLD_LIMIT_REACHED');
    expect(body.limit).toBe(2);
    expect(await seatStatus(s1!.id, 3)).toBe('AVAILABLE');
    expect((await hold(t, user, s2!.id, 3)).statusCode).toBe(201); // another date has its own limit
  });

  it('refuses before booking opens and after the show starts', async () => {
    const soon = new Date(Date.now() + 86_400_000).toISOString();
    const later = (await createConcert(t, [{ startsAt: new Date(Date.now() + 2 * 86_400_000).toISOString(), bookingOpensAt: soon }])).schedules[0]!;
    const past = (await createConcert(t, [{ startsAt: new Date(Date.now() - 60_000).toISOString() }])).schedules[0]!;
    const user = await createUser(t.app);
    expectProblem(await hold(t, user, later.id, 1), 409, 'BOOKING_NOT_OPEN');
    expectProblem(await hold(t, user, past.id, 1), 409, 'BOOKING_CLOSED');
  });

  it('replays a hold for the same Idempotency-Key instead of taking a second seat', async () => {
    const schedule = (await createConcert(t)).schedules[0]!;
    const user = await createUser(t.app);
    const first = await hold(t, user, schedule.id, 4, 'hold-key-00001');
    const again = await hold(t, user, schedule.id, 4, 'hold-key-00001');
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    expectProblem(await hold(t, user, schedule.id, 5, 'hold-key-00001'), 422, 'IDEMPOTENCY_KEY_MISMATCH');
    const count = await t.db.selectFrom('reservations').select(sql<number>`count(*)::int`.as('n')).where('user_id', '=', user.id).executeTakeFirstOrThrow();
    expect(count.n).toBe(1);
  });

  it('replays a refused hold with the same problem', async () => {
    const schedule = (await createConcert(t)).schedules[0]!;
    const [a, b] = [await createUser(t.app), await createUser(t.app)];
    await hold(t, a, schedule.id, 1);
    const first = await hold(t, b, schedule.id, 1, 'refused-key-001');
    const again = await hold(t, b, schedule.id, 1, 'refused-key-001');
    expectProblem(first, 409, 'SEAT_UNAVAILABLE');
    expectProblem(again, 409, 'SEAT_UNAVAILABLE');
    expect(again.json()).toEqual(first.json());
  });
});

describe('reading reservations', () => {
  it('shows a reservation only to its owner and lists them newest first', async () => {
    const schedule = (await createConcert(t)).schedules[0]!;
    const [owner, other] = [await createUser(t.app), await createUser(t.app)];
    const r1 = (await hold(t, owner, schedule.id, 1)).json();
    const r2 = (await hold(t, owner, schedule.id, 2)).json();
    expectProblem(await t.app.inject({ url: `/reservations/${r1.id}`, headers: bearer(other.token) }), 404, 'NOT_FOUND');
    expectProblem(await t.app.inject({ url: '/reservations/whatever', headers: bearer(owner.token) }), 404, 'NOT_FOUND');
    const list = (await t.app.inject({ url: '/users/me/reservations?limit=1', headers: bearer(owner.token) })).json();
    expect(list.items.map((r: { id: string }) => r.id)).toEqual([r2.id]);
    const next = (await t.app.inject({ url: `/users/me/reservations?limit=1&cursor=${list.nextCursor}`, headers: bearer(owner.token) })).json();
    expect(next.items.map((r: { id: string }) => r.id)).toEqual([r1.id]);
    expect(next.nextCursor).toBeNull();
    const others = (await t.app.inject({ url: '/users/me/reservations', headers: bearer(other.token) })).json();
    expect(others.items).toEqual([]);
  });
});

describe('cancelling', () => {
  it('releases a held seat so anyone can hold it again', async () => {
    const schedule = (await createConcert(t)).schedules[0]!;
    const [a, b] = [await createUser(t.app), await createUser(t.app)];
    const r = (await hold(t, a, schedule.id, 3)).json();
    const res = await t.app.inject({ method: 'DELETE', url: `/reservations/${r.id}`, headers: bearer(a.token) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: r.id, status: 'CANCELLED' });
    expect(await seatStatus(schedule.id, 3)).toBe('AVAILABLE');
    expect((await hold(t, b, schedule.id, 3)).statusCode).toBe(201);
    expectProblem(await t.app.inject({ method: 'DELETE', url: `/reservations/${r.id}`, headers: bearer(a.token) }), 409, 'RESERVATION_NOT_CANCELLABLE');
    expect(await invariants.seatsDisagreeingWithReservations(t.db, [schedule.id])).toEqual([]);
  });

  it('refunds a confirmed seat before the show, on the ledger', async () => {
    const schedule = (await createConcert(t, [{ price: 60_000 }])).schedules[0]!;
    const user = await createUser(t.app);
    await charge(t.app, user, 100_000);
    const r = (await hold(t, user, schedule.id, 9)).json();
    expect((await pay(t, user, r.id)).json().balance).toBe(40_000);
    const res = await t.app.inject({ method: 'DELETE', url: `/reservations/${r.id}`, headers: bearer(user.token) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'CANCELLED', confirmedAt: expect.any(String) });
    expect((await t.app.inject({ url: '/users/me/balance', headers: bearer(user.token) })).json().balance).toBe(100_000);
    const ledger = (await t.app.inject({ url: '/users/me/balance/transactions', headers: bearer(user.token) })).json();
    expect(ledger.items[0]).toMatchObject({ type: 'REFUND', amount: 60_000, balanceAfter: 100_000, reservationId: r.id });
    expect(await seatStatus(schedule.id, 9)).toBe('AVAILABLE');
    const payment = await t.db.selectFrom('payments').selectAll().where('reservation_id', '=', r.id).executeTakeFirstOrThrow();
    expect(payment.status).toBe('REFUNDED');
    expect(await invariants.balancesNotMatchingLedger(t.db, [user.id])).toEqual([]);
    const events = await t.db.selectFrom('outbox').select('type').where('aggregate_id', '=', r.id).orderBy('seq').execute();
    expect(events.map((e) => e.type)).toEqual(['reservation.held', 'reservation.confirmed', 'reservation.cancelled']);
  });

  it('refuses to refund once the show has started', async () => {
    const schedule = (await createConcert(t, [{ startsAt: new Date(Date.now() + 1_500).toISOString() }])).schedules[0]!;
    const user = await createUser(t.app);
    await charge(t.app, user, 100_000);
    const r = (await hold(t, user, schedule.id, 1)).json();
    expect((await pay(t, user, r.id)).statusCode).toBe(201);
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    expectProblem(await t.app.inject({ method: 'DELETE', url: `/reservations/${r.id}`, headers: bearer(user.token) }), 409, 'RESERVATION_NOT_CANCELLABLE');
    expect((await t.app.inject({ url: '/users/me/balance', headers: bearer(user.token) })).json().balance).toBe(50_000);
  });

  it("hides other users' reservations from cancel", async () => {
    const schedule = (await createConcert(t)).schedules[0]!;
    const [a, b] = [await createUser(t.app), await createUser(t.app)];
    const r = (await hold(t, a, schedule.id, 1)).json();
    expectProblem(await t.app.inject({ method: 'DELETE', url: `/reservations/${r.id}`, headers: bearer(b.token) }), 404, 'NOT_FOUND');
    expect(await seatStatus(schedule.id, 1)).toBe('HELD');
  });
});
