import Fastify from 'fastify';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createPaymentService } from '../../src/modules/payments/payments.service.js';
import { systemClock } from '../../src/platform/clock.js';
import type { DB } from '../../src/platform/db.types.js';
import { registerProblemHandlers } from '../../src/platform/problem.js';
import {
  ADMIN_TOKEN,
  bearer,
  charge,
  createConcert,
  createTestApp,
  createUser,
  expectProblem,
  hold,
  queueToken,
  type TestApp,
} from '../support/harness.js';

/**
 * Input no client should send still gets a problem+json 4xx and changes nothing: it never reaches
 * PostgreSQL as something PostgreSQL refuses (which used to answer 500).
 */
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const concertBody = (overrides: Record<string, unknown> = {}, schedule: Record<string, unknown> = {}) => ({
  title: 'Junk Night',
  artist: `artist-${Math.random().toString(36).slice(2)}`,
  venue: 'Hall',
  schedules: [{ startsAt: '2027-06-30T20:00:00Z', seatCount: 3, price: 1_000, ...schedule }],
  ...overrides,
});
const concertsBy = async (artist: string) =>
  (await t.db.selectFrom('concerts').select('id').where('artist', '=', artist).execute()).length;

describe('ids that are not UUIDs', () => {
  it('POST /payments with reservationId "x" answers 404 NOT_FOUND and changes nothing, keyed or not', async () => {
    const c = await createConcert(t);
    const user = await createUser(t.app);
    await charge(t.app, user, 100_000);
    const headers = { ...bearer(user.token), 'queue-token': await queueToken(t.app, user, c.id) };
    for (const key of [undefined, 'junk-payment-key-1']) {
      const res = await t.app.inject({
        method: 'POST',
        url: '/payments',
        headers: { ...headers, ...(key ? { 'idempotency-key': key } : {}) },
        payload: { reservationId: 'x' },
      });
      expectProblem(res, 404, 'NOT_FOUND');
    }
    // the gate still answers first, in its order
    const pay = (h: Record<string, string>) => t.app.inject({ method: 'POST', url: '/payments', headers: h, payload: { reservationId: 'x' } });
    expectProblem(await pay({ ...bearer(user.token), 'queue-token': 'garbage' }), 401, 'QUEUE_TOKEN_INVALID');
    const stranger = await createUser(t.app);
    expectProblem(await pay({ ...bearer(stranger.token), 'queue-token': headers['queue-token'] }), 403, 'QUEUE_TOKEN_MISMATCH');
    const payments = await t.db.selectFrom('payments').innerJoin('reservations', 'reservations.id', 'payments.reservation_id')
      .select('payments.id').where('reservations.user_id', '=', user.id).execute();
    expect(payments).toEqual([]);
    expect((await t.app.inject({ url: '/users/me/balance', headers: bearer(user.token) })).json().balance).toBe(100_000);
  });

  it('a hold named with its id in capitals is not paid: 404, nothing debited; the canonical id pays it', async () => {
    const c = await createConcert(t);
    const user = await createUser(t.app);
    await charge(t.app, user, 100_000);
    const held = (await hold(t, user, c.schedules[0]!.id, 1)).json();
    const headers = { ...bearer(user.token), 'queue-token': await queueToken(t.app, user, c.id) };
    const pay = (reservationId: string) => t.app.inject({ method: 'POST', url: '/payments', headers, payload: { reservationId } });
    expectProblem(await pay(held.id.toUpperCase()), 404, 'NOT_FOUND');
    expect((await t.app.inject({ url: '/users/me/balance', headers: bearer(user.token) })).json().balance).toBe(100_000);
    expect((await t.app.inject({ url: `/reservations/${held.id}`, headers: bearer(user.token) })).json().status).toBe('HELD');
    expect((await pay(held.id)).statusCode).toBe(201);
  });

  it('a non-UUID reservation id never enters a batch of payments: the others of the batch are paid', async () => {
    const queries: unknown[][] = [];
    const db = new Kysely<DB>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: inject('databaseUrl'), max: 4 }) }),
      log: (event) => {
        queries.push([...event.query.parameters]);
      },
    });
    try {
      const { catalog, queue } = t.services;
      const payments = createPaymentService({ clock: systemClock, db, catalog, queue, log: t.app.log, batch: { maxBatch: 16, maxInFlight: 1 } });
      const c = await createConcert(t, [{ seatCount: 5, price: 1_000 }]);
      const users = [await createUser(t.app), await createUser(t.app), await createUser(t.app)];
      const holds = [];
      for (const [i, u] of users.entries()) {
        await charge(t.app, u, 10_000);
        holds.push((await hold(t, u, c.schedules[0]!.id, i + 1)).json().id as string);
      }
      const results = await Promise.allSettled([
        payments.pay(users[0]!.id, holds[0]!, c.id),
        payments.pay(users[1]!.id, 'not-a-uuid', c.id),
        payments.pay(users[2]!.id, holds[2]!, c.id),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'NOT_FOUND' });
      const flat = (values: unknown[]): unknown[] => values.flatMap((v) => (Array.isArray(v) ? flat(v) : [v]));
      expect(queries.flatMap(flat)).not.toContain('not-a-uuid');
    } finally {
      await db.destroy();
    }
  });

  it('every id in a path, body or cursor that names nothing answers a 4xx problem, never a 500', async () => {
    const c = await createConcert(t);
    const user = await createUser(t.app);
    const qt = await queueToken(t.app, user, c.id);
    const auth = bearer(user.token);
    const cases = [
      { method: 'GET', url: '/concerts/x', status: 404 },
      { method: 'GET', url: '/concerts/x/schedules', status: 404 },
      { method: 'POST', url: '/concerts/x/queue', headers: auth, status: 404 },
      { method: 'GET', url: '/schedules/x/seats', headers: { 'queue-token': qt }, status: 404 },
      { method: 'GET', url: '/reservations/x', headers: auth, status: 404 },
      { method: 'DELETE', url: '/reservations/x', headers: auth, status: 404 },
      { method: 'GET', url: `/reservations/${c.id.toUpperCase().replace(/-/g, '')}`, headers: auth, status: 404 },
      // An id in capitals is another spelling of an id, not the id: it names nothing.
      { method: 'GET', url: `/concerts/${c.id.toUpperCase()}`, status: 404 },
      { method: 'POST', url: `/concerts/${c.id.toUpperCase()}/queue`, headers: auth, status: 404 },
      { method: 'GET', url: `/schedules/${c.schedules[0]!.id.toUpperCase()}/seats`, headers: { 'queue-token': qt }, status: 404 },
      { method: 'POST', url: '/reservations', headers: { ...auth, 'queue-token': qt }, payload: { scheduleId: c.schedules[0]!.id.toUpperCase(), seatNumber: 1 }, status: 404 },
      { method: 'POST', url: '/reservations', headers: { ...auth, 'queue-token': qt }, payload: { scheduleId: 'x', seatNumber: 1 }, status: 404 },
      { method: 'GET', url: '/concerts?cursor=eA', status: 400 },
      { method: 'GET', url: '/users/me/reservations?cursor=x', headers: auth, status: 400 },
    ] as const;
    for (const { status, ...request } of cases) {
      const res = await t.app.inject(request);
      expect.soft([request.method, request.url, res.statusCode]).toEqual([request.method, request.url, status]);
      expectProblem(res, status, status === 404 ? 'NOT_FOUND' : 'VALIDATION_FAILED');
    }
  });
});

describe('control characters', () => {
  it('POST /users refuses a name holding NUL or another control character with 400 and errors[]', async () => {
    for (const name of ['a\u0000b', 'bell\u0007', 'two\nlines', 'tab\there', 'del\u007f', 'c1\u0085', 'lone \ud800', 'low \udc00 first']) {
      const body = expectProblem(await t.app.inject({ method: 'POST', url: '/users', payload: { name } }), 400, 'VALIDATION_FAILED');
      expect(body.errors).toEqual([{ path: '/body/name', message: 'must not contain control characters or half a surrogate pair' }]);
    }
    const ok = await t.app.inject({ method: 'POST', url: '/users', payload: { name: 'Mina 김민아 🎫' } });
    expect(ok.statusCode).toBe(201);
    // A whole surrogate pair (the emoji) is stored and answered as sent.
    const stored = await t.db.selectFrom('users').select('name').where('id', '=', ok.json().id).executeTakeFirstOrThrow();
    expect(stored.name).toBe('Mina 김민아 🎫');
  });

  it('an admin concert whose title, artist or venue holds NUL is refused and not created', async () => {
    for (const field of ['title', 'artist', 'venue']) {
      const body = concertBody();
      const res = await t.app.inject({
        method: 'POST',
        url: '/admin/concerts',
        headers: bearer(ADMIN_TOKEN),
        payload: { ...body, [field]: 'x\u0000y' },
      });
      expect(expectProblem(res, 400, 'VALIDATION_FAILED').errors).toEqual([
        { path: `/body/${field}`, message: 'must not contain control characters or half a surrogate pair' },
      ]);
      if (field !== 'artist') expect(await concertsBy(body.artist)).toBe(0);
    }
  });

  it('NUL in a path parameter, a query string or an Idempotency-Key is refused with 400', async () => {
    const user = await createUser(t.app);
    const cases = [
      { method: 'GET', url: '/concerts/%00', path: '/params/concertId' },
      { method: 'GET', url: '/reservations/a%00b', headers: bearer(user.token), path: '/params/reservationId' },
      { method: 'GET', url: '/concerts?cursor=%00', path: '/querystring/cursor' },
      {
        method: 'POST',
        url: '/users/me/balance/charges',
        headers: { ...bearer(user.token), 'idempotency-key': 'abc\u0000defgh' },
        payload: { amount: 1 },
        path: '/headers/idempotency-key',
      },
    ] as const;
    for (const { path, ...request } of cases) {
      const body = expectProblem(await t.app.inject(request), 400, 'VALIDATION_FAILED');
      expect(body.errors).toContainEqual({ path, message: 'must not contain control characters or half a surrogate pair' });
    }
    expect((await t.app.inject({ url: '/users/me/balance', headers: bearer(user.token) })).json().balance).toBe(0);
  });
});

describe('malformed URLs and headers', () => {
  it('a path that is not a valid URL component, or a parameter past its length, answers 400 problem+json', async () => {
    for (const url of ['/reservations/%', '/concerts/%E0%A4%A/schedules', `/concerts/${'x'.repeat(101)}`]) {
      const body = expectProblem(await t.app.inject({ url }), 400, 'VALIDATION_FAILED');
      expect(body.errors).toEqual([{ path: '/url', message: expect.any(String) }]);
    }
  });

  it('an X-Request-Id that is not a plain token is replaced, not echoed (which failed with 500)', async () => {
    for (const id of ['id\u0000x', 'r'.repeat(129), '']) {
      const res = await t.app.inject({ url: '/health/live', headers: { 'x-request-id': id } });
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
    const res = await t.app.inject({ url: '/health/live', headers: { 'x-request-id': 'trace-42.abc' } });
    expect(res.headers['x-request-id']).toBe('trace-42.abc');
  });
});

describe('dates JavaScript cannot read', () => {
  it('a leap second in startsAt or bookingOpensAt is refused with 400 and no concert is created', async () => {
    for (const [field, value] of [
      ['startsAt', '2027-06-30T23:59:60Z'],
      ['bookingOpensAt', '2026-12-31T23:59:60Z'],
    ] as const) {
      const body = concertBody({}, { [field]: value });
      const res = await t.app.inject({ method: 'POST', url: '/admin/concerts', headers: bearer(ADMIN_TOKEN), payload: body });
      expect(expectProblem(res, 400, 'VALIDATION_FAILED').errors).toContainEqual({
        path: `/body/schedules/0/${field}`,
        message: 'must match format "date-time"',
      });
      expect(await concertsBy(body.artist)).toBe(0);
    }
  });
});

describe('values PostgreSQL refuses to read', () => {
  it('are answered 400 VALIDATION_FAILED, should validation ever miss one', async () => {
    const app = Fastify({ logger: false });
    registerProblemHandlers(app);
    const cases: Record<string, () => Promise<unknown>> = {
      '22P02': () => sql`SELECT ${'x'}::uuid`.execute(t.db),
      '22021': () => sql`SELECT ${'a\u0000b'}::text`.execute(t.db),
      '22007': () => sql`SELECT ${'not a date'}::timestamptz`.execute(t.db),
      '22008': () => sql`SELECT ${'2027-06-30 25:00:00+00'}::timestamptz`.execute(t.db),
      '22003': () => sql`SELECT ${'99999999999'}::int4`.execute(t.db),
    };
    for (const [code, run] of Object.entries(cases)) {
      app.get(`/${code}`, async () => run());
    }
    await app.ready();
    for (const code of Object.keys(cases)) {
      const res = await app.inject({ url: `/${code}` });
      expect.soft([code, res.statusCode]).toEqual([code, 400]);
      const body = expectProblem(res, 400, 'VALIDATION_FAILED');
      expect(body.errors).toHaveLength(1);
      expect(res.body).not.toMatch(/SELECT|uuid|syntax/i);
    }
    await app.close();
  });
});
