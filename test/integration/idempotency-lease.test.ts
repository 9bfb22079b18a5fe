import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb, type Database } from '../../src/platform/db.js';
import { charge, createConcert, createTestApp, createUser, expectProblem, hold, invariants, pay, type TestApp } from '../support/harness.js';
import { sleep, until } from '../support/wait.js';

/**
 * A slow request keeps its Idempotency-Key however long it works: it renews the key's lease while
 * it runs, so a retry with the key meanwhile is told the key is in use, never runs the work a
 * second time, and the payment is charged once.
 */
const LEASE_MS = 1_000;
let t: TestApp;
let locker: Database;
beforeAll(async () => {
  t = await createTestApp({ IDEMPOTENCY_LEASE_MS: String(LEASE_MS), DATABASE_CONNECT_TIMEOUT_MS: String(LEASE_MS / 2) });
  locker = createDb({ connectionString: inject('databaseUrl'), poolSize: 1 });
});
afterAll(async () => {
  await locker?.destroy();
  await t?.close();
});

describe('a keyed payment slower than its lease', () => {
  it('keeps its key while it works: a retry meanwhile answers IDEMPOTENCY_KEY_IN_USE, and the seat is paid once', async () => {
    const schedule = (await createConcert(t, [{ price: 4_000 }])).schedules[0]!;
    const user = await createUser(t.app);
    await charge(t.app, user, 10_000);
    const reservation = (await hold(t, user, schedule.id, 1)).json();
    const key = `slow-pay-${reservation.id}`;

    // Another transaction holds the reservation's row: the payment waits for it, alive but slow.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const lockHeld = new Promise<void>((resolve) => (locked = resolve));
    const locking = locker.transaction().execute(async (trx) => {
      await sql`SELECT id FROM reservations WHERE id = ${reservation.id} FOR UPDATE`.execute(trx);
      locked();
      await released;
    });
    // The payment must find the row locked: paying before the lock is taken would race it.
    await Promise.race([lockHeld, locking]);
    const keyRow = () =>
      t.db.selectFrom('idempotency_keys').select(['state', 'locked_until', 'created_at']).where('user_id', '=', user.id).where('key', '=', key).executeTakeFirst();
    try {
      const first = pay(t, user, reservation.id, key);
      await until(async () => (await keyRow()) !== undefined, 5_000, 10);
      await sleep(2.5 * LEASE_MS); // the lease taken by the claim has run out twice over

      const claimed = (await keyRow())!;
      expect(claimed.state).toBe('IN_PROGRESS');
      // Renewed while the request works: held well past the claim's first lease.
      expect(claimed.locked_until.getTime()).toBeGreaterThan(claimed.created_at.getTime() + 2 * LEASE_MS);
      // Retried meanwhile (same key, same body): refused at once, the work not run again.
      const retry = pay(t, user, reservation.id, key);
      const retried = await Promise.race([retry, sleep(5_000).then(() => undefined)]);
      release();
      expect(retried, 'the retry answered while the first request still worked').toBeDefined();
      expectProblem(retried!, 409, 'IDEMPOTENCY_KEY_IN_USE');

      const paid = await first;
      expect(paid.statusCode).toBe(201);
      await retry;
      const replayed = await pay(t, user, reservation.id, key);
      expect(replayed.statusCode).toBe(201);
      expect(replayed.json()).toEqual(paid.json());
      expect(replayed.headers['idempotent-replayed']).toBe('true');
    } finally {
      release();
      await locking;
    }

    const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM ledger_entries WHERE type = 'PAYMENT' AND reservation_id = ${reservation.id}`.execute(t.db);
    expect(rows[0]!.n).toBe(1);
    expect((await keyRow())!.state).toBe('DONE');
    expect(await invariants.balancesNotMatchingLedger(t.db, [user.id])).toEqual([]);
    expect((await t.app.inject({ url: '/users/me/balance', headers: { authorization: `Bearer ${user.token}` } })).json().balance).toBe(6_000);
  });
});
