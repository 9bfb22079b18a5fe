import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConfigSchema } from '../../src/config.js';
import { createDb, type Database } from '../../src/platform/db.js';
import { redisServerAvailable, redisServerBinary, startOwnRedis, type OwnRedis } from '../support/dependencies.js';
import { invariants } from '../support/harness.js';
import { call, expectStatus, type HttpAnswer } from '../support/http-client.js';
import { startServiceProcess, type ServiceProcess } from '../support/service-process.js';
import { sleep, until } from '../support/wait.js';

/**
 * The kill-instance fault: two service processes share PostgreSQL and a redis-server of the test's
 * own. One is killed (SIGKILL) while payments are in flight on it; clients retry them on the other
 * with the same Idempotency-Key. Each is charged once, and the holds made on it stay held.
 */
const ADMIN = 'fault-admin-token-0123456789';
const PAYERS = 12;
const HOLDERS = 4;
const PRICE = 1_000;
const DEFAULT_LEASE_MS = ConfigSchema.properties.IDEMPOTENCY_LEASE_MS.default as number;
const reason = redisServerAvailable ? '' : ` (skipped: ${redisServerBinary} is not installed)`;

interface Buyer {
  id: string;
  token: string;
  queueToken: string;
  reservationId: string;
  key: string;
}

describe.skipIf(!redisServerAvailable)(`an instance killed mid-sale${reason}`, () => {
  let redis: OwnRedis;
  let db: Database;
  const instances: ServiceProcess[] = [];

  beforeAll(async () => {
    redis = await startOwnRedis();
    db = createDb({ connectionString: inject('databaseUrl'), poolSize: 2 });
    const env = {
      DATABASE_URL: inject('databaseUrl'),
      DATABASE_POOL_SIZE: '8',
      REDIS_URL: redis.url,
      ADMIN_TOKEN: ADMIN,
      TOKEN_SECRET: 'fault-token-secret-0123456789-0123456789',
      QUEUE_MAX_ACTIVE: '1000',
      QUEUE_ADMIT_PER_SECOND: '1000',
      HOLD_TTL_SECONDS: '600',
      // IDEMPOTENCY_LEASE_MS as by default: a key held by the killed instance is free one lease after.
    };
    instances.push(...(await Promise.all([startServiceProcess(env), startServiceProcess(env)])));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(instances.map((i) => i.kill('SIGKILL')));
    await db?.destroy();
    await redis?.kill();
  });

  it('charges each payment retried on another instance once, and keeps the seats held on the killed one', { timeout: 90_000 }, async () => {
    const [doomed, survivor] = instances.map((i) => i.base) as [string, string];
    const concert = expectStatus(
      await call(survivor, 'POST', '/admin/concerts', {
        token: ADMIN,
        body: { title: 'Kill', artist: 'A', venue: 'V', schedules: [{ startsAt: new Date(Date.now() + 86_400_000).toISOString(), seatCount: PAYERS + HOLDERS, price: PRICE }] },
      }),
      201,
      'create concert',
    );
    const scheduleId: string = concert.schedules[0].id;
    // Everyone books on the instance about to die.
    const buyers: Buyer[] = await Promise.all(
      Array.from({ length: PAYERS + HOLDERS }, async (_, i) => {
        const user = expectStatus(await call(doomed, 'POST', '/users', { body: { name: `buyer-${i}` } }), 201, 'sign up');
        expectStatus(await call(doomed, 'POST', '/users/me/balance/charges', { token: user.token, body: { amount: 10_000 } }), 201, 'charge');
        const queue = expectStatus(await call(doomed, 'POST', `/concerts/${concert.id}/queue`, { token: user.token }), 201, 'join');
        const held = expectStatus(
          await call(doomed, 'POST', '/reservations', { token: user.token, queueToken: queue.token, body: { scheduleId, seatNumber: i + 1 } }),
          201,
          'hold',
        );
        return { id: user.id, token: user.token, queueToken: queue.token, reservationId: held.id, key: `pay-${randomUUID()}` };
      }),
    );
    const payers = buyers.slice(0, PAYERS);
    const holders = buyers.slice(PAYERS);

    const payOn = (base: string, b: Buyer) =>
      call(base, 'POST', '/payments', { token: b.token, queueToken: b.queueToken, idempotencyKey: b.key, body: { reservationId: b.reservationId } });
    const inFlight = payers.map((b) => payOn(doomed, b).catch((err: unknown) => err as Error));
    // Killed as soon as the first of them has claimed its key: the others are somewhere in flight.
    const keys = payers.map((b) => b.key);
    await until(async () => {
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM idempotency_keys WHERE key = ANY(${keys})`.execute(db);
      return rows[0]!.n > 0;
    }, 10_000, 2);
    await instances[0]!.kill('SIGKILL');
    const killedAt = Date.now();
    const first = await Promise.all(inFlight);
    const answeredOnDoomed = first.filter((r): r is HttpAnswer => !(r instanceof Error));
    for (const answer of answeredOnDoomed) expect(answer.status).toBe(201);
    const ids = payers.map((b) => b.reservationId);
    const confirmedCount = async () =>
      (await sql<{ n: number }>`SELECT count(*)::int AS n FROM reservations WHERE id = ANY(${ids}::uuid[]) AND status = 'CONFIRMED'`.execute(db))
        .rows[0]!.n;
    const committedBeforeTheKill = await confirmedCount();
    // What the killed instance still held, it held at most one default lease past its death: it
    // renewed its claims while it lived, and nobody renews them now.
    const { rows: held } = await sql<{ locked_until: Date }>`
      SELECT locked_until FROM idempotency_keys WHERE key = ANY(${keys}) AND state = 'IN_PROGRESS'`.execute(db);
    for (const row of held) expect(row.locked_until.getTime()).toBeLessThanOrEqual(killedAt + DEFAULT_LEASE_MS);

    // Every client retries on the survivor with the same key until it has an answer.
    const retried = await Promise.all(
      payers.map(async (b, i) => {
        let inUse = 0;
        for (;;) {
          const answer = await payOn(survivor, b);
          if (answer.status !== 409 || answer.body.code !== 'IDEMPOTENCY_KEY_IN_USE') return { answer, inUse, first: first[i] };
          inUse++;
          await sleep(1_000); // a client's back-off; 30 payments a minute per user are allowed
        }
      }),
    );
    const recoveredAfterMs = Date.now() - killedAt;
    for (const { answer, first: before } of retried) {
      expect(answer.status).toBe(201);
      expect(answer.body.status).toBe('PAID');
      if (before && !(before instanceof Error)) expect(answer.body.id).toBe(before.body.id); // the same payment, replayed
    }

    const { rows: debits } = await sql<{ reservation_id: string; n: number }>`
      SELECT reservation_id, count(*)::int AS n FROM ledger_entries
       WHERE type = 'PAYMENT' AND reservation_id = ANY(${ids}::uuid[]) GROUP BY reservation_id`.execute(db);
    expect(debits.map((d) => d.n)).toEqual(ids.map(() => 1));
    expect(await confirmedCount()).toBe(PAYERS);
    expect(await invariants.balancesNotMatchingLedger(db, buyers.map((b) => b.id))).toEqual([]);
    expect(await invariants.seatsWithTwoActiveReservations(db, [scheduleId])).toEqual([]);
    expect(await invariants.seatsDisagreeingWithReservations(db, [scheduleId])).toEqual([]);

    // The holds made on the killed instance stay held, and are paid on the survivor.
    const map = expectStatus(
      await call(survivor, 'GET', `/schedules/${scheduleId}/seats`, { token: holders[0]!.token, queueToken: holders[0]!.queueToken }),
      200,
      'seat map',
    );
    expect(map.seats.slice(PAYERS).map((s: { status: string }) => s.status)).toEqual(holders.map(() => 'HELD'));
    expect(map.seats.slice(0, PAYERS).map((s: { status: string }) => s.status)).toEqual(payers.map(() => 'SOLD'));
    expectStatus(await payOn(survivor, holders[0]!), 201, 'pay a hold made on the killed instance');

    const inUseAnswers = retried.reduce((n, r) => n + r.inUse, 0);
    console.info(
      `kill-instance: ${answeredOnDoomed.length}/${PAYERS} payments answered before the kill (${committedBeforeTheKill} committed), ` +
        `${PAYERS - answeredOnDoomed.length} failed in flight; ` +
        `${held.length} keys left claimed by it; retries on the survivor met ${inUseAnswers} IDEMPOTENCY_KEY_IN_USE answers ` +
        `(default IDEMPOTENCY_LEASE_MS=${DEFAULT_LEASE_MS}), every retry paid ${(recoveredAfterMs / 1000).toFixed(1)} s after the kill; every payment charged once`,
    );
  });
});
