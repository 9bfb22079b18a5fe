import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../harness/random.js';
import { payHold, payHolds, type PayRequest } from '../../src/modules/payments/payments.repository.js';
import { holdSeat } from '../../src/modules/reservations/holds.repository.js';
import { pgCode } from '../../src/platform/db.js';
import { newId } from '../../src/platform/ids.js';
import { charge, createConcert, createTestApp, createUser, invariants, type TestApp } from '../support/harness.js';

/**
 * Payments written many to a statement must come out exactly as if each had been written alone:
 * the single-payment statement is the reference. Each round builds two identical worlds (a
 * schedule, users with the same balances, the same holds), runs a random batch on one with
 * payHolds and the same requests one by one with payHold on the other, and compares outcomes,
 * seats, reservations, wallets, ledgers and events.
 */
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({}, { poolSize: 10 });
});
afterAll(() => t.close());

const PRICE = 7_000;
const SEATS = 10;
const minutes = (m: number, from = Date.now()) => new Date(from + m * 60_000);

interface World {
  concertId: string;
  scheduleId: string;
  users: string[];
  /** Reservation ids by the index of the hold in the shared history. */
  holds: string[];
}

async function world(balances: number[], history: { user: number; seat: number; live: boolean; paid: boolean }[]): Promise<World> {
  const c = await createConcert(t, [{ seatCount: SEATS, price: PRICE }]);
  const users = [];
  for (const balance of balances) {
    const u = await createUser(t.app);
    if (balance > 0) await charge(t.app, u, balance);
    users.push(u.id);
  }
  const w: World = { concertId: c.id, scheduleId: c.schedules[0]!.id, users, holds: [] };
  for (const h of history) {
    const now = h.live ? new Date() : minutes(-10);
    const id = newId();
    const req = { id, userId: users[h.user]!, concertId: c.id, scheduleId: w.scheduleId, seatNumber: h.seat, price: PRICE };
    await holdSeat(t.db, { ...req, limit: 4, now, heldUntil: minutes(h.live ? 5 : 2, now.getTime()) });
    if (h.paid) await payHold(t.db, { reservationId: id, userId: req.userId, concertId: c.id, paymentId: newId(), ledgerId: newId(), now: new Date() }).catch(() => {});
    w.holds.push(id);
  }
  return w;
}

/** A world in terms that do not depend on ids: users and reservations by their index. */
async function snapshot(w: World) {
  const userIndex = (id: string | null) => (id === null ? null : w.users.indexOf(id));
  const { rows: seats } = await sql<{ number: number; status: string; reservation_id: string | null }>`
    SELECT number, status, reservation_id FROM seats WHERE schedule_id = ${w.scheduleId} ORDER BY number`.execute(t.db);
  const { rows: reservations } = await sql<{ id: string; status: string; payments: number; events: string }>`
    SELECT r.id, r.status, (SELECT count(*)::int FROM payments p WHERE p.reservation_id = r.id) AS payments,
           (SELECT string_agg(o.type, ',' ORDER BY o.seq) FROM outbox o WHERE o.aggregate_id = r.id::text) AS events
      FROM reservations r WHERE r.id = ANY(${w.holds}::uuid[])`.execute(t.db);
  const { rows: wallets } = await sql<{ user_id: string; balance: number; ledger: number }>`
    SELECT w.user_id, w.balance, (SELECT count(*)::int FROM ledger_entries l WHERE l.user_id = w.user_id) AS ledger
      FROM wallets w WHERE w.user_id = ANY(${w.users}::uuid[])`.execute(t.db);
  return {
    seats: seats.map((s) => ({ ...s, reservation_id: s.reservation_id === null ? null : w.holds.indexOf(s.reservation_id) })),
    reservations: reservations.map((r) => ({ ...r, id: w.holds.indexOf(r.id) })).sort((a, b) => a.id - b.id),
    wallets: wallets.map((x) => ({ ...x, user_id: userIndex(x.user_id) })).sort((a, b) => a.user_id! - b.user_id!),
  };
}

describe('batched payments against one-by-one payments', () => {
  it('give the same outcomes, seats, reservations, wallets, ledgers and events in 20 random rounds', async () => {
    const rand = mulberry32(4_2026_11);
    const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
    for (let round = 0; round < 20; round++) {
      const userCount = 6;
      const balances = Array.from({ length: userCount }, () => pick([0, 5_000, PRICE, 20_000]));
      const seats = [...Array(SEATS).keys()].map((i) => i + 1).sort(() => rand() - 0.5);
      const history = seats.slice(0, 8).map((seat) => ({ user: Math.floor(rand() * userCount), seat, live: rand() < 0.8, paid: rand() < 0.15 }));
      const worlds = [await world(balances, history), await world(balances, history)];
      // A batch as the batcher forms them: distinct users, distinct reservations. Some pay their own
      // hold, some another user's, some name the wrong concert.
      const batch = [...Array(userCount).keys()]
        .filter(() => rand() < 0.85)
        .map((user) => {
          const own = [...history.keys()].filter((i) => history[i]!.user === user);
          return { user, hold: own.length > 0 && rand() < 0.75 ? pick(own) : Math.floor(rand() * history.length), wrongConcert: rand() < 0.1 };
        })
        .filter((b, i, all) => all.findIndex((x) => x.hold === b.hold) === i);
      const requests = (w: World): PayRequest[] =>
        batch.map((b) => ({
          reservationId: w.holds[b.hold]!,
          userId: w.users[b.user]!,
          concertId: b.wrongConcert ? newId() : w.concertId,
          paymentId: newId(),
          ledgerId: newId(),
        }));
      const now = new Date();
      const batched = await payHolds(t.db, requests(worlds[0]!), now);
      const single = [];
      for (const r of requests(worlds[1]!)) {
        try {
          single.push({ ...(await payHold(t.db, { ...r, now })), uncoveredPrice: null });
        } catch (err) {
          if (pgCode(err) !== 'TK001') throw err;
          single.push({ payable: true, balance: null, otherHolds: 0, confirmed: null, uncoveredPrice: PRICE });
        }
      }
      const outcome = (a: { payable: boolean; balance: number | null; otherHolds: number; confirmed: unknown; uncoveredPrice: number | null }) => ({
        payable: a.payable,
        paid: a.confirmed !== null,
        balance: a.balance,
        otherHolds: a.confirmed ? a.otherHolds : 0,
        uncoveredPrice: a.uncoveredPrice,
      });
      expect(batched.map(outcome), `round ${round}`).toEqual(single.map(outcome));
      expect(await snapshot(worlds[0]!), `round ${round}`).toEqual(await snapshot(worlds[1]!));
      for (const w of worlds) {
        expect(await invariants.seatsDisagreeingWithReservations(t.db, [w.scheduleId])).toEqual([]);
        expect(await invariants.balancesNotMatchingLedger(t.db, w.users)).toEqual([]);
      }
    }
  });

  it('a batch that fails as a whole is run again one payment at a time: only the bad request fails', async () => {
    const w = await world([20_000, 20_000], [{ user: 0, seat: 1, live: true, paid: false }, { user: 1, seat: 2, live: true, paid: false }]);
    const good: PayRequest = { reservationId: w.holds[0]!, userId: w.users[0]!, concertId: w.concertId, paymentId: newId(), ledgerId: newId() };
    // A payment id already taken: the statement fails on the payments primary key.
    const taken = (await t.db.selectFrom('payments').select('id').limit(1).executeTakeFirstOrThrow()).id;
    const bad: PayRequest = { reservationId: w.holds[1]!, userId: w.users[1]!, concertId: w.concertId, paymentId: taken, ledgerId: newId() };
    await expect(payHolds(t.db, [good, bad], new Date())).rejects.toMatchObject({ code: '23505' });
    const [ok, failed] = await t.services.payments.payBatch([good, bad]);
    expect(ok).toMatchObject({ status: 'fulfilled', value: { payment: { reservationId: good.reservationId, balance: 13_000, status: 'PAID' } } });
    const confirmed = await t.db.selectFrom('reservations').select('status').where('id', '=', good.reservationId).executeTakeFirstOrThrow();
    expect(confirmed.status).toBe('CONFIRMED');
    expect(failed).toMatchObject({ status: 'rejected', reason: { code: '23505' } });
    expect(await invariants.seatsDisagreeingWithReservations(t.db, [w.scheduleId])).toEqual([]);
    expect(await invariants.balancesNotMatchingLedger(t.db, w.users)).toEqual([]);
  });
});
