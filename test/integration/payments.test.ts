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
  t = await createTestApp();
});
afterAll(() => t.close());

async function heldSeat(price = 70_000, balance = 100_000) {
  const schedule = (await createConcert(t, [{ price }])).schedules[0]!;
  const user = await createUser(t.app);
  if (balance > 0) await charge(t.app, user, balance);
  const reservation = (await hold(t, user, schedule.id, 5)).json();
  return { schedule, user, reservation };
}

describe('paying a hold', () => {
  it('debits the balance, confirms the reservation and sells the seat in one go', async () => {
    const { schedule, user, reservation } = await heldSeat();
    const res = await pay(t, user, reservation.id);
    expect(res.statusCode).toBe(201);
    expect(res.json()).toEqual({
      id: expect.any(String),
      reservationId: reservation.id,
      amount: 70_000,
      balance: 30_000,
      status: 'PAID',
      paidAt: expect.any(String),
    });
    const r = (await t.app.inject({ url: `/reservations/${reservation.id}`, headers: bearer(user.token) })).json();
    expect(r).toMatchObject({ status: 'CONFIRMED', confirmedAt: res.json().paidAt });
    const seats = (await seatMap(t, schedule.id));
    expect(seats[4]).toMatchObject({ number: 5, status: 'SOLD' });
    const ledger = (await t.app.inject({ url: '/users/me/balance/transactions', headers: bearer(user.token) })).json();
    expect(ledger.items[0]).toMatchObject({ type: 'PAYMENT', amount: -70_000, balanceAfter: 30_000, reservationId: reservation.id });
    const event = await t.db.selectFrom('outbox').selectAll().where('aggregate_id', '=', reservation.id).where('type', '=', 'reservation.confirmed').executeTakeFirstOrThrow();
    expect(event.payload).toMatchObject({
      reservationId: reservation.id,
      userId: user.id,
      concertId: reservation.concertId,
      scheduleId: schedule.id,
      seatNumber: 5,
      price: 70_000,
      confirmedAt: res.json().paidAt,
    });
    expect(await invariants.seatsDisagreeingWithReservations(t.db, [schedule.id])).toEqual([]);
  });

  it('refuses when the balance is short and changes nothing', async () => {
    const { schedule, user, reservation } = await heldSeat(70_000, 69_999);
    const body = expectProblem(await pay(t, user, reservation.id), 409, 'INSUFFICIENT_BALANCE');
    expect(body.detail).toMatch(/70000/);
    expect((await t.app.inject({ url: '/users/me/balance', headers: bearer(user.token) })).json().balance).toBe(69_999);
    const r = (await t.app.inject({ url: `/reservations/${reservation.id}`, headers: bearer(user.token) })).json();
    expect(r.status).toBe('HELD');
    expect((await seatMap(t, schedule.id))[4]!.status).toBe('HELD');
    // after topping up, the same hold can be paid
    await charge(t.app, user, 1);
    expect((await pay(t, user, reservation.id)).json().balance).toBe(0);
  });

  it('refuses paying twice or paying a cancelled reservation', async () => {
    const { user, reservation } = await heldSeat();
    expect((await pay(t, user, reservation.id)).statusCode).toBe(201);
    expectProblem(await pay(t, user, reservation.id), 409, 'RESERVATION_NOT_PAYABLE');

    const other = await heldSeat();
    await t.app.inject({ method: 'DELETE', url: `/reservations/${other.reservation.id}`, headers: bearer(other.user.token) });
    expectProblem(await pay(t, other.user, other.reservation.id), 409, 'RESERVATION_NOT_PAYABLE');
  });

  it("treats someone else's or an unknown reservation as not found", async () => {
    const { reservation } = await heldSeat();
    const stranger = await createUser(t.app);
    await charge(t.app, stranger, 500_000);
    // the stranger is admitted to the same concert, so only the reservation's owner stands in the way
    const headers = await bookingHeaders(t, stranger, reservation.id);
    const payAs = (reservationId: string) => t.app.inject({ method: 'POST', url: '/payments', headers, payload: { reservationId } });
    expectProblem(await payAs(reservation.id), 404, 'NOT_FOUND');
    expectProblem(await payAs('01890a5d-ac96-774b-bcce-b302099a8057'), 404, 'NOT_FOUND');
    expectProblem(await t.app.inject({ method: 'POST', url: '/payments', headers, payload: {} }), 400, 'VALIDATION_FAILED');
  });

  it('is free for a zero-price seat and leaves the ledger alone', async () => {
    const { user, reservation } = await heldSeat(0, 0);
    const res = await pay(t, user, reservation.id);
    expect(res.json()).toMatchObject({ amount: 0, balance: 0, status: 'PAID' });
    expect(await invariants.balancesNotMatchingLedger(t.db, [user.id])).toEqual([]);
  });

  it('replays a payment for the same key and refuses the key on another route', async () => {
    const { user, reservation } = await heldSeat();
    const first = await pay(t, user, reservation.id, 'pay-key-000001');
    const again = await pay(t, user, reservation.id, 'pay-key-000001');
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    expect((await t.app.inject({ url: '/users/me/balance', headers: bearer(user.token) })).json().balance).toBe(30_000);
    expectProblem(await charge(t.app, user, 5, 'pay-key-000001'), 422, 'IDEMPOTENCY_KEY_MISMATCH');
  });

  it('answers IDEMPOTENCY_KEY_IN_USE while the first request with a key is running', async () => {
    const { user, reservation } = await heldSeat();
    // A row claimed by a request still in flight (its lease has not run out).
    await t.db
      .insertInto('idempotency_keys')
      .values({
        user_id: user.id,
        key: 'in-flight-key-01',
        fingerprint: 'whatever',
        state: 'IN_PROGRESS',
        response_status: null,
        response_body: null,
        locked_until: new Date(Date.now() + 60_000),
        created_at: new Date(),
      })
      .execute();
    const res = await pay(t, user, reservation.id, 'in-flight-key-01');
    expect([409, 422]).toContain(res.statusCode);
    // same fingerprint as the real request: it is a duplicate in flight
    const { requestFingerprint } = await import('../../src/modules/idempotency/idempotency.service.js');
    await t.db
      .updateTable('idempotency_keys')
      .set({ fingerprint: requestFingerprint('POST', '/payments', { reservationId: reservation.id }) })
      .where('key', '=', 'in-flight-key-01')
      .execute();
    expectProblem(await pay(t, user, reservation.id, 'in-flight-key-01'), 409, 'IDEMPOTENCY_KEY_IN_USE');
    // a lease that ran out (its request died) is taken over and the work runs once
    await t.db.updateTable('idempotency_keys').set({ locked_until: new Date(Date.now() - 1) }).where('key', '=', 'in-flight-key-01').execute();
    expect((await pay(t, user, reservation.id, 'in-flight-key-01')).statusCode).toBe(201);
  });
});

describe('with batching off (BOOKING_BATCH_SIZE=1)', () => {
  it('holds and pays one statement at a time, keyed requests in their own transaction, replays alike', async () => {
    const solo = await createTestApp({ BOOKING_BATCH_SIZE: '1' });
    try {
      const schedule = (await createConcert(solo, [{ price: 10_000 }])).schedules[0]!;
      const user = await createUser(solo.app);
      await charge(solo.app, user, 25_000);
      const held = await hold(solo, user, schedule.id, 2, 'solo-hold-key-1');
      expect(held.statusCode).toBe(201);
      const heldAgain = await hold(solo, user, schedule.id, 2, 'solo-hold-key-1');
      expect(heldAgain.json()).toEqual(held.json());
      const paid = await pay(solo, user, held.json().id, 'solo-pay-key-01');
      expect(paid.statusCode).toBe(201);
      expect(paid.json()).toMatchObject({ amount: 10_000, balance: 15_000, status: 'PAID' });
      expect((await pay(solo, user, held.json().id, 'solo-pay-key-01')).json()).toEqual(paid.json());
      const unkeyed = await hold(solo, user, schedule.id, 3);
      expect(unkeyed.statusCode).toBe(201);
      expect((await pay(solo, user, unkeyed.json().id)).json()).toMatchObject({ balance: 5_000 });
      expect(await invariants.balancesNotMatchingLedger(solo.db, [user.id])).toEqual([]);
    } finally {
      await solo.close();
    }
  });
});
