import { randomInt, randomUUID } from 'node:crypto';
import { connect, type AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { describe, expect, inject, it } from 'vitest';
import { createRedisQueueStore } from '../../src/modules/queue/queue.store.redis.js';
import { createDb } from '../../src/platform/db.js';
import { createRedis } from '../../src/platform/redis.js';
import { bearer, createConcert, createTestApp, createUser, expectProblem } from '../support/harness.js';
import { stallableProxy } from '../support/stallable-proxy.js';

const redisUrl = process.env.REDIS_URL;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Promise.withResolvers, which Node 20 lacks. */
function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Resolves with `what` once `promise` settles, or rejects when it has not within `ms` (the thing hangs). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still waiting after ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

describe.skipIf(!redisUrl)(`a stalled Redis${redisUrl ? '' : ' (skipped: REDIS_URL is unset)'}`, () => {
  it('answers a gated request 503 UNAVAILABLE with Retry-After instead of hanging, and recovers', async () => {
    const proxy = await stallableProxy(new URL(redisUrl!));
    const redis = createRedis(proxy.url, { commandTimeoutMs: 300 });
    const keyPrefix = `test-stall-${randomUUID()}`;
    const t = await createTestApp({}, { queueStore: createRedisQueueStore(redis, { keyPrefix }) });
    try {
      const user = await createUser(t.app);
      const concert = await createConcert(t);
      const url = `/concerts/${concert.id}/queue`;
      const joined = await t.app.inject({ method: 'POST', url, headers: bearer(user.token) });
      expect(joined.statusCode).toBeLessThan(300);
      const headers = { ...bearer(user.token), 'queue-token': joined.json().token as string };

      proxy.stall();
      const res = await within(t.app.inject({ url, headers }), 10_000, 'GET queue status with Redis stalled');
      expectProblem(res, 503, 'UNAVAILABLE');
      expect(res.headers['retry-after']).toBeDefined();

      proxy.resume();
      const again = await t.app.inject({ url, headers });
      expect(again.statusCode).toBe(200);
      expect(again.json().status).toBe('ACTIVE');
    } finally {
      proxy.resume();
      await t.close();
      const keys = await redis.keys(`${keyPrefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
      await proxy.close();
    }
  });
});

describe('a transaction left open', () => {
  it('is ended by PostgreSQL after DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS, releasing its locks', async () => {
    const connectionString = inject('databaseUrl');
    const db = createDb({ connectionString, poolSize: 1, idleInTransactionTimeoutMs: 200 });
    const other = createDb({ connectionString, poolSize: 1 });
    const lock = randomInt(1, 2 ** 31);
    const lockTaken = deferred();
    const goOn = deferred();
    try {
      // A process that stalls between two statements of its transaction, holding a lock.
      const stalled = db.transaction().execute(async (trx) => {
        await sql`SELECT pg_advisory_xact_lock(${lock})`.execute(trx);
        lockTaken.resolve();
        await goOn.promise;
        await sql`SELECT 1`.execute(trx);
      });
      stalled.catch(() => {});
      await lockTaken.promise;
      await sleep(1_000);
      const { rows } = await other
        .transaction()
        .execute((trx) => sql<{ got: boolean }>`SELECT pg_try_advisory_xact_lock(${lock}) AS got`.execute(trx));
      expect(rows[0]!.got).toBe(true);
      goOn.resolve();
      await expect(stalled).rejects.toThrow();
    } finally {
      goOn.resolve();
      await Promise.all([db.destroy(), other.destroy()]);
    }
  });
});

/** Opens a raw connection, writes `text` and then nothing; resolves with what the server sent before closing it. */
function stallingClient(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(text));
    let received = '';
    socket.on('data', (d) => (received += d.toString()));
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
  });
}

describe('the HTTP server', () => {
  it('answers 408 and closes a request whose body never finishes within HTTP_REQUEST_TIMEOUT_MS', async () => {
    const t = await createTestApp({ HTTP_REQUEST_TIMEOUT_MS: '1000' });
    try {
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = t.app.server.address() as AddressInfo;
      const partial = 'POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"na';
      const answer = await within(stallingClient(port, partial), 10_000, 'slow request');
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(await t.db.selectFrom('users').select('id').where('name', 'like', 'na%').execute()).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('closes a connection that falls silent for HTTP_CONNECTION_TIMEOUT_MS', async () => {
    const t = await createTestApp({ HTTP_CONNECTION_TIMEOUT_MS: '1000' });
    try {
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = t.app.server.address() as AddressInfo;
      const answer = await within(stallingClient(port, 'GET /health/live HTTP/1.1\r\nHost: x\r\n'), 10_000, 'silent client');
      expect(answer).not.toMatch(/^HTTP\/1\.1 200/);
    } finally {
      await t.close();
    }
  });
});
