import { sql } from 'kysely';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { createMemoryQueueStore } from '../../src/modules/queue/queue.store.memory.js';
import { createDb, type Database } from '../../src/platform/db.js';
import { bookingHeaders, charge, createConcert, createTestApp, createUser, hold, type TestApp } from '../support/harness.js';
import { sleep, until } from '../support/wait.js';

/**
 * A payment that waits on a row lock holds the only connection of its instance's request pool. Its
 * key's lease must still be renewed (on connections apart from that pool), so a client retry on
 * another instance after the lease would have run out is told the key is in use, and the first
 * request answers the payment it made instead of 409.
 */
const LEASE_MS = 4_000; // the least the config allows with a 2 s connect timeout
const env = { IDEMPOTENCY_LEASE_MS: String(LEASE_MS), DATABASE_CONNECT_TIMEOUT_MS: '2000' };
let a: TestApp;
let b: TestApp;
let locker: Database;
beforeAll(async () => {
  const queueStore = createMemoryQueueStore();
  a = await createTestApp(env, { poolSize: 1, queueStore });
  b = await createTestApp(env, { queueStore });
  locker = createDb({ connectionString: inject('databaseUrl'), poolSize: 1 });
});
afterAll(async () => {
  await locker?.destroy();
  await b?.close();
  await a?.close();
});

it('keeps the key of a payment whose request pool is exhausted past one lease', async () => {
  const schedule = (await createConcert(a, [{ price: 4_000 }])).schedules[0]!;
  const user = await createUser(a.app);
  await charge(a.app, user, 10_000);
  const reservation = (await hold(a, user, schedule.id, 1)).json();
  const key = `busy-pool-${reservation.id}`;
  const headers = { ...(await bookingHeaders(a, user, reservation.id)), 'idempotency-key': key };
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const locking = locker.transaction().execute(async (trx) => {
    await sql`SELECT id FROM reservations WHERE id = ${reservation.id} FOR UPDATE`.execute(trx);
    await released;
  });
  const row = () =>
    b.db.selectFrom('idempotency_keys').select(['state', 'locked_until']).where('user_id', '=', user.id).where('key', '=', key).executeTakeFirst();
  const first = a.app.inject({ method: 'POST', url: '/payments', headers, payload: { reservationId: reservation.id } });
  await until(async () => (await row()) !== undefined, 5_000, 10);
  const claimed = (await row())!;
  // Past the claim's lease: only renewals keep the key.
  await sleep(LEASE_MS + 700);
  const renewed = (await row())!;
  expect(renewed.locked_until.getTime()).toBeGreaterThan(claimed.locked_until.getTime());
  const retry = await b.app.inject({ method: 'POST', url: '/payments', headers, payload: { reservationId: reservation.id } });
  expect(retry.statusCode).toBe(409);
  expect(retry.json().code).toBe('IDEMPOTENCY_KEY_IN_USE');
  release();
  await locking;
  const answer = await first;
  expect(answer.statusCode).toBe(201);
  expect(answer.json().status).toBe('PAID');
  const { rows } = await sql<{ n: number }>`SELECT count(*)::int n FROM ledger_entries WHERE type='PAYMENT' AND reservation_id=${reservation.id}`.execute(b.db);
  expect(rows[0]!.n).toBe(1);
  // The replay on the other instance gives the same answer.
  const replay = await b.app.inject({ method: 'POST', url: '/payments', headers, payload: { reservationId: reservation.id } });
  expect(replay.statusCode).toBe(201);
});
