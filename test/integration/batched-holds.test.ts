import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../harness/random.js';
import { keyClaim } from '../../src/modules/idempotency/idempotency.service.js';
import { holdSeat, holdSeats, type HoldRequest } from '../../src/modules/reservations/holds.repository.js';
import { newId } from '../../src/platform/ids.js';
import { createConcert, createTestApp, createUser, invariants, type TestApp, type TestUser } from '../support/harness.js';

/**
 * Holds written many to a statement must come out exactly as if each had been written alone, in
 * order: the single-hold statement is the reference. Each round builds two identical schedules,
 * runs a random batch on one with holdSeats and the same requests one by one with holdSeat on the
 * other, and compares every outcome, the seats, the reservations and the events.
 */
let t: TestApp;
let users: TestUser[];
const LIMIT = 2;
const SEATS = 12;
beforeAll(async () => {
  t = await createTestApp({}, { poolSize: 10 });
  users = await Promise.all(Array.from({ length: 6 }, () => createUser(t.app)));
});
afterAll(() => t.close());

type Schedule = { id: string; concertId: string; price: number };
const minutes = (m: number, from = Date.now()) => new Date(from + m * 60_000);

async function twinSchedules(): Promise<[Schedule, Schedule]> {
  const c = await createConcert(t, [{ seatCount: SEATS, price: 7_000 }, { seatCount: SEATS, price: 7_000 }]);
  const [a, b] = c.schedules.map((s) => ({ id: s.id, concertId: c.id, price: s.price }));
  return [a!, b!];
}

const request = (s: Schedule, userId: string, seatNumber: number): HoldRequest => ({
  id: newId(),
  userId,
  concertId: s.concertId,
  scheduleId: s.id,
  seatNumber,
  price: s.price,
});

/** What a schedule looks like, in terms that do not depend on ids or on which schedule it is. */
async function snapshot(scheduleId: string) {
  const { rows: seats } = await sql<{ number: number; status: string; user_id: string | null }>`
    SELECT s.number, s.status, r.user_id FROM seats s LEFT JOIN reservations r ON r.id = s.reservation_id
     WHERE s.schedule_id = ${scheduleId} ORDER BY s.number`.execute(t.db);
  const { rows: reservations } = await sql<{ seat_number: number; user_id: string; status: string; events: string }>`
    SELECT r.seat_number, r.user_id, r.status,
           (SELECT string_agg(o.type, ',' ORDER BY o.seq) FROM outbox o WHERE o.aggregate_id = r.id::text) AS events
      FROM reservations r WHERE r.schedule_id = ${scheduleId}
     ORDER BY r.seat_number, r.created_at, r.status`.execute(t.db);
  return { seats, reservations };
}

describe('batched holds against one-by-one holds', () => {
  it('give the same outcomes, seats, reservations and events in 25 random rounds', async () => {
    const rand = mulberry32(20261121);
    const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
    for (let round = 0; round < 25; round++) {
      const twins = await twinSchedules();
      // The same history on both: live holds, and holds whose time has passed (not yet swept).
      const history: { user: string; seat: number; live: boolean }[] = [];
      for (let i = 0; i < 6; i++) history.push({ user: pick(users).id, seat: 1 + Math.floor(rand() * SEATS), live: rand() < 0.5 });
      for (const s of twins) {
        for (const h of history) {
          const now = h.live ? new Date() : minutes(-10);
          await holdSeat(t.db, { ...request(s, h.user, h.seat), limit: LIMIT, now, heldUntil: minutes(h.live ? 5 : 2, now.getTime()) });
        }
      }
      // A batch as the batcher forms them: distinct seats, distinct users (one schedule).
      const seats = [...Array(SEATS).keys()].map((i) => i + 1).sort(() => rand() - 0.5);
      const batch = users.filter(() => rand() < 0.8).map((u, i) => ({ user: u.id, seat: seats[i]! }));
      const now = new Date();
      const heldUntil = minutes(5, now.getTime());
      const batched = await holdSeats(t.db, batch.map((b) => request(twins[0], b.user, b.seat)), { limit: LIMIT, now, heldUntil });
      const single = [];
      for (const b of batch) single.push(await holdSeat(t.db, { ...request(twins[1], b.user, b.seat), limit: LIMIT, now, heldUntil }));

      const outcome = (a: { active: number; held: unknown }) => ({ active: a.active, held: a.held !== null });
      expect(batched.map(outcome), `round ${round}`).toEqual(single.map(outcome));
      expect(await snapshot(twins[0].id), `round ${round}`).toEqual(await snapshot(twins[1].id));
      expect(await invariants.seatsDisagreeingWithReservations(t.db, twins.map((s) => s.id))).toEqual([]);
    }
  });

  it('returns the new reservations in request order, with one held event each', async () => {
    const [s] = await twinSchedules();
    const requests = users.slice(0, 4).map((u, i) => request(s, u.id, 10 - i));
    const now = new Date();
    const attempts = await holdSeats(t.db, requests, { limit: LIMIT, now, heldUntil: minutes(5, now.getTime()) });
    expect(attempts.map((a) => [a.held?.id, a.held?.seat_number, a.held?.status, a.active])).toEqual(
      requests.map((r) => [r.id, r.seatNumber, 'HELD', 0]),
    );
    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM outbox WHERE type = 'reservation.held' AND aggregate_id = ANY(${requests.map((r) => r.id)})`.execute(t.db);
    expect(rows[0]!.n).toBe(4);
  });

  it('two requests for one seat in a statement still give the seat to one of them only', async () => {
    const [s] = await twinSchedules();
    const [a, b] = [request(s, users[0]!.id, 3), request(s, users[1]!.id, 3)];
    const attempts = await holdSeats(t.db, [a, b], { limit: LIMIT, now: new Date(), heldUntil: minutes(5) });
    expect(attempts.filter((x) => x.held !== null)).toHaveLength(1);
    expect(await invariants.seatsWithTwoActiveReservations(t.db, [s.id])).toEqual([]);
    expect(await invariants.seatsDisagreeingWithReservations(t.db, [s.id])).toEqual([]);
  });

  it('a batch that fails as a whole is run again one hold at a time: only the bad request fails', async () => {
    const [s] = await twinSchedules();
    const good = request(s, users[0]!.id, 4);
    const bad = { ...request(s, users[1]!.id, 5), concertId: newId() }; // no such concert: a foreign key refuses it
    await expect(holdSeats(t.db, [good, bad], { limit: LIMIT, now: new Date(), heldUntil: minutes(5) })).rejects.toMatchObject({ code: '23503' });
    const [ok, failed] = await t.services.reservations.holdBatch([good, bad]);
    expect(ok).toMatchObject({ status: 'fulfilled', value: { id: good.id, status: 'HELD' } });
    expect(failed).toMatchObject({ status: 'rejected', reason: { code: '23503' } });
    expect(await invariants.seatsDisagreeingWithReservations(t.db, [s.id])).toEqual([]);
  });

  it('stores a keyed hold\'s answer with it, and refuses the whole statement when its claim was lost', async () => {
    const [s] = await twinSchedules();
    const user = users[2]!;
    const claimedAt = minutes(-1);
    const key = `batch-key-${newId()}`;
    await sql`INSERT INTO idempotency_keys (user_id, key, fingerprint, state, locked_until, created_at)
              VALUES (${user.id}, ${key}, 'f', 'IN_PROGRESS', ${minutes(1)}, ${claimedAt})`.execute(t.db);
    const plain = request(s, users[3]!.id, 8);
    const keyed = { ...request(s, user.id, 9), claim: { key, claimedAt: minutes(-2), status: 201 } };
    // A claim that is not the key's (another request took the key over): nothing at all is done.
    await expect(holdSeats(t.db, [plain, keyed], { limit: LIMIT, now: new Date(), heldUntil: minutes(5) })).rejects.toThrow(/IDEMPOTENCY_LEASE_LOST/);
    expect(await t.db.selectFrom('reservations').select('id').where('id', 'in', [plain.id, keyed.id]).execute()).toEqual([]);
    // Under its own claim the answer is stored with the hold, as the response will show it.
    const now = new Date();
    const [, held] = await holdSeats(t.db, [plain, { ...keyed, claim: { key, claimedAt, status: 201 } }], { limit: LIMIT, now, heldUntil: minutes(5, now.getTime()) });
    const row = await t.db.selectFrom('idempotency_keys').select(['state', 'response_status', 'response_body']).where('key', '=', key).executeTakeFirstOrThrow();
    expect(row).toEqual({
      state: 'DONE',
      response_status: 201,
      response_body: {
        id: keyed.id,
        userId: user.id,
        concertId: s.concertId,
        scheduleId: s.id,
        seatNumber: 9,
        price: 7_000,
        status: 'HELD',
        heldUntil: held!.held!.held_until.toISOString(),
        createdAt: now.toISOString(),
      },
    });
  });

  it('runs a keyed hold of a batch that failed in its own transaction, with its answer', async () => {
    const [s] = await twinSchedules();
    const user = users[0]!;
    const key = `batch-key-${newId()}`;
    const claimedAt = new Date();
    await sql`INSERT INTO idempotency_keys (user_id, key, fingerprint, state, locked_until, created_at)
              VALUES (${user.id}, ${key}, 'f', 'IN_PROGRESS', ${minutes(1)}, ${claimedAt})`.execute(t.db);
    const keyed = { ...request(s, user.id, 6), claim: keyClaim({ userId: user.id, key, claimedAt, status: 201 }) };
    const bad = { ...request(s, users[1]!.id, 7), concertId: newId() };
    const [sent, failed] = await t.services.reservations.holdBatch([keyed, bad]);
    expect(sent).toMatchObject({ status: 'fulfilled', value: { id: keyed.id, status: 'HELD' } });
    expect(failed).toMatchObject({ status: 'rejected', reason: { code: '23503' } });
    const row = await t.db.selectFrom('idempotency_keys').select(['state', 'response_status', 'response_body']).where('key', '=', key).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ state: 'DONE', response_status: 201, response_body: { id: keyed.id, status: 'HELD', seatNumber: 6 } });
  });
});
