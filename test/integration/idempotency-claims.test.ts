import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimKey, claimKeys, findKey } from '../../src/modules/idempotency/idempotency.repository.js';
import { bookingHeaders, charge, createConcert, createTestApp, createUser, invariants, type TestApp, type TestUser } from '../support/harness.js';

/**
 * Idempotency keys that arrive together are claimed in one statement. Claimed many at a time, a key
 * must be claimed exactly as claimKey claims it alone; and keyed payments fired in parallel (many
 * users, duplicates, a key reused for another body) must keep every promise of the contract.
 */
let t: TestApp;
let base: string;
beforeAll(async () => {
  t = await createTestApp({}, { poolSize: 20 });
  base = await t.app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(() => t.close());

const seconds = (s: number, from = Date.now()) => new Date(from + s * 1_000);

describe('claiming keys many to a statement', () => {
  it('claims new keys, and takes over only a retained key whose lease ran out for the same request', async () => {
    const [a, b] = await Promise.all([createUser(t.app), createUser(t.app)]);
    const now = new Date();
    const at = { lease: seconds(60), now, expiredBefore: seconds(-86_400) };
    const keys = [
      { userId: a.id, key: 'claim-key-new-1', fingerprint: 'f1' },
      { userId: b.id, key: 'claim-key-new-1', fingerprint: 'f1' }, // the same key, another user: its own
      { userId: a.id, key: 'claim-key-held', fingerprint: 'f2' },
      { userId: a.id, key: 'claim-key-dead', fingerprint: 'f3' },
      { userId: a.id, key: 'claim-key-dead-other', fingerprint: 'f4' },
      { userId: a.id, key: 'claim-key-done', fingerprint: 'f5' },
      { userId: a.id, key: 'claim-key-old', fingerprint: 'f6' },
    ];
    const alone = (key: string, fingerprint: string, lease: Date, created = now) =>
      claimKey(t.db, { userId: a.id, key, fingerprint, lease, now: created, expiredBefore: seconds(-86_400, created.getTime()) });
    await alone('claim-key-held', 'f2', seconds(30)); // in flight elsewhere
    await alone('claim-key-dead', 'f3', seconds(-1)); // its request died: lease over
    await alone('claim-key-dead-other', 'other', seconds(-1)); // lease over, but another request's
    await alone('claim-key-done', 'f5', seconds(30));
    await sql`UPDATE idempotency_keys SET state = 'DONE', response_status = 201, response_body = '{}'
               WHERE user_id = ${a.id} AND key = 'claim-key-done'`.execute(t.db);
    await alone('claim-key-old', 'other', seconds(30), seconds(-2 * 86_400)); // past retention

    expect(await claimKeys(t.db, keys, at)).toEqual([true, true, false, true, false, false, true]);
    for (const k of keys) {
      const row = await t.db.selectFrom('idempotency_keys').selectAll().where('user_id', '=', k.userId).where('key', '=', k.key).executeTakeFirstOrThrow();
      const claimed = row.locked_until.getTime() === at.lease.getTime();
      expect(claimed ? row : null, k.key).toEqual(claimed ? expect.objectContaining({ fingerprint: k.fingerprint, state: 'IN_PROGRESS' }) : null);
    }
    // Claimed now, they are held: claiming them again claims none.
    expect(await claimKeys(t.db, keys, { ...at, now: seconds(1) })).toEqual(keys.map(() => false));
    expect((await findKey(t.db, a.id, 'claim-key-done'))?.state).toBe('DONE');
  });
});

async function post(user: TestUser, reservationId: string, key: string, headers: Record<string, string>) {
  const res = await fetch(`${base}/payments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers, 'idempotency-key': key },
    body: JSON.stringify({ reservationId }),
  });
  return { user: user.id, reservationId, status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('keyed payments fired in parallel', () => {
  it('pay once per key: a duplicate replays or is told the key is in use, another body under the key is refused, nothing is charged twice', async () => {
    const PRICE = 10_000;
    const USERS = 12;
    const schedule = (await createConcert(t, [{ seatCount: 2 * USERS, price: PRICE }])).schedules[0]!;
    const users = await Promise.all(Array.from({ length: USERS }, () => createUser(t.app)));
    await Promise.all(users.map((u) => charge(t.app, u, 5 * PRICE)));
    // Each user holds two seats, and will fire: the first hold paid twice under one key, the
    // second paid under the same key (another body).
    const holds = await Promise.all(
      users.map(async (u, i) => {
        const hold = async (seatNumber: number) => {
          const res = await fetch(`${base}/reservations`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...(await bookingHeaders(t, u, schedule.id)) },
            body: JSON.stringify({ scheduleId: schedule.id, seatNumber }),
          });
          const id = ((await res.json()) as { id: string }).id;
          t.concertOf.set(id, schedule.concertId);
          return id;
        };
        return { first: await hold(2 * i + 1), second: await hold(2 * i + 2) };
      }),
    );
    const headers = await Promise.all(users.map((u, i) => bookingHeaders(t, u, holds[i]!.first)));
    const results = await Promise.all(
      users.flatMap((u, i) => {
        const key = `parallel-pay-key-${i}`;
        return [post(u, holds[i]!.first, key, headers[i]!), post(u, holds[i]!.first, key, headers[i]!), post(u, holds[i]!.second, key, headers[i]!)];
      }),
    );

    for (const [i, u] of users.entries()) {
      const mine = results.filter((r) => r.user === u.id);
      const paid = mine.filter((r) => r.status === 201);
      // Whichever body claimed the key first was paid; every 201 is that one payment.
      expect(paid.length).toBeGreaterThanOrEqual(1);
      expect(new Set(paid.map((r) => JSON.stringify(r.body))).size).toBe(1);
      const winner = paid[0]!.reservationId;
      for (const r of mine.filter((x) => x.status !== 201)) {
        if (r.reservationId === winner) expect(r.body.code).toBe('IDEMPOTENCY_KEY_IN_USE');
        else expect(r.body.code).toBe('IDEMPOTENCY_KEY_MISMATCH');
      }
      const { rows } = await sql<{ payments: number; balance: number }>`
        SELECT (SELECT count(*)::int FROM payments WHERE user_id = ${u.id}) AS payments,
               (SELECT balance FROM wallets WHERE user_id = ${u.id}) AS balance`.execute(t.db);
      expect(rows[0], `user ${i}`).toEqual({ payments: 1, balance: 4 * PRICE });
      const key = await findKey(t.db, u.id, `parallel-pay-key-${i}`);
      expect(key).toMatchObject({ state: 'DONE', response_status: 201, response_body: paid[0]!.body });
    }
    expect(await invariants.seatsWithTwoActiveReservations(t.db, [schedule.id])).toEqual([]);
    expect(await invariants.seatsDisagreeingWithReservations(t.db, [schedule.id])).toEqual([]);
    expect(await invariants.balancesNotMatchingLedger(t.db, users.map((u) => u.id))).toEqual([]);
  });
});
