import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { buildApp, createServices } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createDb } from '../../src/platform/db.js';
import { createTestApp, expectProblem, ADMIN_TOKEN, TOKEN_SECRET, type TestApp } from '../support/harness.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

describe('health', () => {
  it('is live and ready with a database', async () => {
    expect((await t.app.inject({ url: '/health/live' })).json()).toEqual({ status: 'ok' });
    const ready = await t.app.inject({ url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({ status: 'ok', checks: { database: 'ok' }, outbox: { parked: expect.any(Number) } });
  });

  it('survives the server ending a connection in the middle of a transaction, and serves on', async () => {
    const db = createDb({ connectionString: inject('databaseUrl'), poolSize: 2 });
    try {
      const outcome = db.transaction().execute(async (trx) => {
        const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(trx);
        // Ended by "an operator" (or a restart) while the transaction waits between statements.
        await sql`SELECT pg_terminate_backend(${rows[0]!.pid})`.execute(t.db);
        await new Promise((r) => setTimeout(r, 100));
        await sql`SELECT 1`.execute(trx);
      });
      await expect(outcome).rejects.toThrow();
      const { rows } = await sql<{ one: number }>`SELECT 1 AS one`.execute(db);
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await db.destroy();
    }
  });

  it('is not ready, and answers 503 UNAVAILABLE, when the database is unreachable', async () => {
    const config = loadConfig({ DEMO_DATA: 'false', LOG_LEVEL: 'silent' });
    const db = createDb({ connectionString: 'postgres://postgres@127.0.0.1:1/none', poolSize: 1 });
    const app = await buildApp({ config, db, adminToken: ADMIN_TOKEN, tokenSecret: TOKEN_SECRET }, createServices({ config, db, adminToken: ADMIN_TOKEN, tokenSecret: TOKEN_SECRET }));
    try {
      expect((await app.inject({ url: '/health/live' })).statusCode).toBe(200);
      const ready = await app.inject({ url: '/health/ready' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toEqual({ status: 'unavailable', checks: { database: 'down' } });
      const res = await app.inject({ method: 'POST', url: '/users', payload: { name: 'x' } });
      const body = expectProblem(res, 503, 'UNAVAILABLE');
      expect(res.headers['retry-after']).toBe('1');
      expect(JSON.stringify(body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
    } finally {
      await app.close();
      await db.destroy();
    }
  });
});

describe('metrics and docs', () => {
  it('exports process metrics and request counts by route', async () => {
    await t.app.inject({ url: '/concerts' });
    const res = await t.app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/plain/);
    expect(res.body).toMatch(/process_cpu_user_seconds_total/);
    expect(res.body).toMatch(/http_requests_total\{method="GET",route="\/concerts",status="200"\} \d+/);
    expect(res.body).toMatch(/http_request_duration_seconds_bucket\{le="0.005",method="GET",route="\/concerts"/);
  });

  it('serves an OpenAPI document covering the public contract, and the explorer', async () => {
    const doc = (await t.app.inject({ url: '/docs/json' })).json();
    expect(doc.openapi).toMatch(/^3\./);
    for (const path of [
      '/users',
      '/users/me',
      '/users/me/balance',
      '/users/me/balance/charges',
      '/users/me/balance/transactions',
      '/concerts',
      '/concerts/{concertId}',
      '/concerts/{concertId}/schedules',
      '/schedules/{scheduleId}/seats',
      '/reservations',
      '/reservations/{reservationId}',
      '/users/me/reservations',
      '/payments',
      '/admin/concerts',
      '/health/live',
      '/health/ready',
      '/concerts/{concertId}/queue',
      '/rankings/sellouts',
      '/rankings/concerts',
    ]) {
      expect(doc.paths, path).toHaveProperty([path]);
    }
    expect(doc.paths['/payments'].post.responses).toHaveProperty('201');
    const ui = await t.app.inject({ url: '/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.body).toMatch(/swagger/i);
  });
});

describe('errors are problem+json', () => {
  it('for unknown routes and methods', async () => {
    expectProblem(await t.app.inject({ url: '/nowhere' }), 404, 'NOT_FOUND');
    expectProblem(await t.app.inject({ method: 'PATCH', url: '/concerts' }), 404, 'NOT_FOUND');
  });

  it('for malformed JSON, empty JSON bodies, text and unknown media types', async () => {
    expectProblem(await t.app.inject({ method: 'POST', url: '/users', headers: { 'content-type': 'text/plain' }, payload: 'x' }), 400, 'VALIDATION_FAILED');
    const bad = await t.app.inject({ method: 'POST', url: '/users', headers: { 'content-type': 'application/json' }, payload: '{"name":' });
    const body = expectProblem(bad, 400, 'VALIDATION_FAILED');
    expect(body.errors).toHaveLength(1);
    expectProblem(await t.app.inject({ method: 'POST', url: '/users', headers: { 'content-type': 'application/json' }, payload: '' }), 400, 'VALIDATION_FAILED');
    expectProblem(await t.app.inject({ method: 'POST', url: '/users', headers: { 'content-type': 'application/xml' }, payload: '<name/>' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('for unexpected failures, without leaking internals, and with the request id', async () => {
    t.app.log.level = 'silent';
    const app = await buildApp(
      { config: t.config, db: t.db, adminToken: ADMIN_TOKEN, tokenSecret: TOKEN_SECRET },
      {
        ...t.services,
        users: {
          ...t.services.users,
          register: async () => {
            throw new Error('relation "secret_table" does not exist at /srv/app.ts:12');
          },
        },
      },
    );
    const res = await app.inject({ method: 'POST', url: '/users', payload: { name: 'x' }, headers: { 'x-request-id': 'req-123' } });
    const body = expectProblem(res, 500, 'INTERNAL_ERROR');
    expect(res.body).not.toMatch(/secret_table|srv|stack/);
    expect(body.detail).toContain('req-123');
    expect(res.headers['x-request-id']).toBe('req-123');
    await app.close();
  });
});

describe('lenient where it costs nothing', () => {
  it('treats an empty JSON body as no body on routes that take none', async () => {
    const { createConcert, createUser, bearer } = await import('../support/harness.js');
    const concert = await createConcert(t);
    const user = await createUser(t.app);
    const res = await t.app.inject({
      method: 'POST',
      url: `/concerts/${concert.id}/queue`,
      headers: { ...bearer(user.token), 'content-type': 'application/json' },
      payload: '',
    });
    expect(res.statusCode).toBe(201);
    const prototypePollution = await t.app.inject({
      method: 'POST',
      url: '/users',
      headers: { 'content-type': 'application/json' },
      payload: '{"name":"x","__proto__":{"admin":true}}',
    });
    expect(prototypePollution.statusCode).toBe(400);
  });
});
