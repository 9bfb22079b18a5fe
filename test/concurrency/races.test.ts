import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookingHeaders, charge, createConcert, createTestApp, createUser, invariants, type TestApp, type TestUser } from '../support/harness.js';

/**
 * Real parallel HTTP requests against a listening server, then invariants checked with SQL.
 */
let t: TestApp;
let base: string;
beforeAll(async () => {
  t = await createTestApp({}, { poolSize: 20 });
  base = await t.app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(() => t.close());

async function post(path: string, user: TestUser, body: Record<string, unknown>, key?: string) {
  // Booking routes need the user's ACTIVE Queue-Token for the concert (taken before the race starts).
  const booked = (body.scheduleId ?? body.reservationId) as string | undefined;
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(booked ? await bookingHeaders(t, user, booked) : { authorization: `Bearer ${user.token}` }),
      ...(key ? { 'idempotency-key': key } : {}),
    },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (path === '/reservations' && res.status === 201) t.concertOf.set(json.id as string, json.concertId as string);
  return { status: res.status, body: json };
}

const users = (n: number) => Promise.all(Array.from({ length: n }, () => createUser(t.app)));
const tally = (results: { status: number; body: Record<string, unknown> }[]) =>
  results.reduce<Record<string, number>>((acc, r) => {
    const k = `${r.status} ${String(r.body.code ?? '')}`.trim();
    acc[k] = (acc[k] ?? 0) + 1;
    return acc;
  }, {});

describe('races, settled by PostgreSQL', () => {
  it('200 users racing for one seat: exactly one hold', async () => {
    const schedule = (await createConcert(t)).schedules[0]!;
    const racers = await users(200);
    const results = await Promise.all(racers.map((u) => post('/reservations', u, { scheduleId: schedule.id, seatNumber: 1 })));
    expect(tally(results)).toEqual({ '201': 1, '409 SEAT_UNAVAILABLE': 199 });
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM reservations WHERE schedule_id = ${schedule.id} AND seat_number = 1`.execute(t.db);
    expect(rows[0]!.n).toBe(1);
    expect(await invariants.seatsWithTwoActiveReservations(t.db, [schedule.id])).toEqual([]);
    expect(await invariants.seatsDisagreeingWithReservations(t.db, [schedule.id])).toEqual([]);
  });

  it('100 parallel charges: the balance is exactly their sum', async () => {
    const [user] = await users(1);
    const amounts = Array.from({ length: 100 }, (_, i) => 1_000 + i);
    const results = await Promise.all(amounts.map((amount) => post('/users/me/balance/charges', user!, { amount })));
    expect(tally(results)).toEqual({ '201': 100 });
    const wallet = await t.db.selectFrom('wallets').select('balance').where('user_id', '=', user!.id).executeTakeFirstOrThrow();
    expect(wallet.balance).toBe(amounts.reduce((a, b) => a + b, 0));
    expect(await invariants.balancesNotMatchingLedger(t.db, [user!.id])).toEqual([]);
  });

  it('50 parallel payments of one hold with different keys: one debit', async () => {
    const schedule = (await createConcert(t, [{ price: 10_000 }])).schedules[0]!;
    const [user] = await users(1);
    await charge(t.app, user!, 1_000_000);
    const held = await post('/reservations', user!, { scheduleId: schedule.id, seatNumber: 3 });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => post('/payments', user!, { reservationId: held.body.id }, `pay-race-key-${i}`)),
    );
    // The winner leaves the waiting room (nothing else held), so late racers may meet the gate instead.
    const t2 = tally(results);
    expect(t2['201']).toBe(1);
    expect((t2['409 RESERVATION_NOT_PAYABLE'] ?? 0) + (t2['403 QUEUE_NOT_ACTIVE'] ?? 0)).toBe(49);
    const { rows } = await sql<{ debits: number; payments: number; balance: number }>`
      SELECT (SELECT count(*)::int FROM ledger_entries WHERE user_id = ${user!.id} AND type = 'PAYMENT') AS debits,
             (SELECT count(*)::int FROM payments WHERE reservation_id = ${held.body.id as string}) AS payments,
             (SELECT balance FROM wallets WHERE user_id = ${user!.id}) AS balance`.execute(t.db);
    expect(rows[0]).toEqual({ debits: 1, payments: 1, balance: 990_000 });
    expect(await invariants.balancesNotMatchingLedger(t.db, [user!.id])).toEqual([]);
  });

  it('two holds paid in parallel with money for one: one succeeds, balance 0', async () => {
    const schedule = (await createConcert(t, [{ price: 30_000 }])).schedules[0]!;
    const [user] = await users(1);
    await charge(t.app, user!, 30_000);
    const h1 = await post('/reservations', user!, { scheduleId: schedule.id, seatNumber: 1 });
    const h2 = await post('/reservations', user!, { scheduleId: schedule.id, seatNumber: 2 });
    const results = await Promise.all([
      post('/payments', user!, { reservationId: h1.body.id }),
      post('/payments', user!, { reservationId: h2.body.id }),
    ]);
    expect(tally(results)).toEqual({ '201': 1, '409 INSUFFICIENT_BALANCE': 1 });
    const wallet = await t.db.selectFrom('wallets').select('balance').where('user_id', '=', user!.id).executeTakeFirstOrThrow();
    expect(wallet.balance).toBe(0);
    const sold = await t.db.selectFrom('seats').select('number').where('schedule_id', '=', schedule.id).where('status', '=', 'SOLD').execute();
    expect(sold).toHaveLength(1);
    expect(await invariants.seatsDisagreeingWithReservations(t.db, [schedule.id])).toEqual([]);
    expect(await invariants.balancesNotMatchingLedger(t.db, [user!.id])).toEqual([]);
  });

  it('same-key requests in parallel: the work happens once', async () => {
    const schedule = (await createConcert(t, [{ price: 5_000 }])).schedules[0]!;
    const [user] = await users(1);
    const charges = await Promise.all(Array.from({ length: 20 }, () => post('/users/me/balance/charges', user!, { amount: 50_000 }, 'same-charge-key')));
    const chargeTally = tally(charges);
    expect(chargeTally['201']).toBeGreaterThanOrEqual(1);
    expect((chargeTally['201'] ?? 0) + (chargeTally['409 IDEMPOTENCY_KEY_IN_USE'] ?? 0)).toBe(20);
    // every 201 is the same charge
    expect(new Set(charges.filter((r) => r.status === 201).map((r) => r.body.id)).size).toBe(1);

    const holds = await Promise.all(Array.from({ length: 20 }, () => post('/reservations', user!, { scheduleId: schedule.id, seatNumber: 8 }, 'same-hold-key')));
    expect(new Set(holds.filter((r) => r.status === 201).map((r) => r.body.id)).size).toBe(1);
    const held = holds.find((r) => r.status === 201)!;
    const pays = await Promise.all(Array.from({ length: 20 }, () => post('/payments', user!, { reservationId: held.body.id }, 'same-pay-key')));
    expect(new Set(pays.filter((r) => r.status === 201).map((r) => r.body.id)).size).toBe(1);
    // Retries with the key get the stored answer even after paying took the user out of the line.
    expect(pays.every((r) => r.status === 201 || r.body.code === 'IDEMPOTENCY_KEY_IN_USE')).toBe(true);

    const { rows } = await sql<{ charges: number; reservations: number; payments: number; balance: number }>`
      SELECT (SELECT count(*)::int FROM ledger_entries WHERE user_id = ${user!.id} AND type = 'CHARGE') AS charges,
             (SELECT count(*)::int FROM reservations WHERE user_id = ${user!.id}) AS reservations,
             (SELECT count(*)::int FROM payments WHERE user_id = ${user!.id}) AS payments,
             (SELECT balance FROM wallets WHERE user_id = ${user!.id}) AS balance`.execute(t.db);
    expect(rows[0]).toEqual({ charges: 1, reservations: 1, payments: 1, balance: 45_000 });
  });

  it('one user firing many holds at once never passes the hold limit', async () => {
    const schedule = (await createConcert(t)).schedules[0]!;
    const [user] = await users(1);
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => post('/reservations', user!, { scheduleId: schedule.id, seatNumber: i + 1 })),
    );
    expect(tally(results)).toEqual({ '201': 4, '409 HOLD_LIMIT_REACHED': 8 });
  });

  it('300 holds over 20 seats, batched and keyed side by side: one hold per seat, no deadlock', async () => {
    const schedule = (await createConcert(t, [{ seatCount: 20 }])).schedules[0]!;
    const crowd = await users(150);
    // Each user tries two seats at once, in opposite directions for odd and even users, half of
    // the requests with an Idempotency-Key (a statement of their own), half without (batched).
    const results = await Promise.all(
      crowd.flatMap((u, i) => {
        const seats = i % 2 === 0 ? [(i % 20) + 1, ((i + 7) % 20) + 1] : [((i + 7) % 20) + 1, (i % 20) + 1];
        return seats.map((seatNumber, j) =>
          post('/reservations', u, { scheduleId: schedule.id, seatNumber }, j === 0 ? `cross-${u.id}-${seatNumber}` : undefined),
        );
      }),
    );
    const counts = tally(results);
    expect(counts['201']).toBe(20);
    expect(counts['201']! + (counts['409 SEAT_UNAVAILABLE'] ?? 0)).toBe(300);
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM seats WHERE schedule_id = ${schedule.id} AND status = 'HELD'`.execute(t.db);
    expect(rows[0]!.n).toBe(20);
    expect(await invariants.seatsWithTwoActiveReservations(t.db, [schedule.id])).toEqual([]);
    expect(await invariants.seatsDisagreeingWithReservations(t.db, [schedule.id])).toEqual([]);
  });

  it('a mixed crowd on a small schedule keeps every invariant', async () => {
    const schedule = (await createConcert(t, [{ seatCount: 10, price: 1_000 }])).schedules[0]!;
    const crowd = await users(40);
    await Promise.all(crowd.map((u) => charge(t.app, u, 2_500)));
    const holds = await Promise.all(crowd.map((u, i) => post('/reservations', u, { scheduleId: schedule.id, seatNumber: (i % 10) + 1 })));
    const won = holds.map((h, i) => ({ h, u: crowd[i]! })).filter(({ h }) => h.status === 201);
    expect(won).toHaveLength(10);
    await Promise.all(
      won.flatMap(({ h, u }, i) => [
        post('/payments', u, { reservationId: h.body.id }),
        i % 2 === 0
          ? fetch(`${base}/reservations/${h.body.id as string}`, { method: 'DELETE', headers: { authorization: `Bearer ${u.token}` } })
          : post('/payments', u, { reservationId: h.body.id }),
      ]),
    );
    expect(await invariants.seatsWithTwoActiveReservations(t.db, [schedule.id])).toEqual([]);
    expect(await invariants.seatsDisagreeingWithReservations(t.db, [schedule.id])).toEqual([]);
    expect(await invariants.balancesNotMatchingLedger(t.db, crowd.map((u) => u.id))).toEqual([]);
  });
});
