import type { Tracer } from '@opentelemetry/api';
import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger, FastifyInstance, LightMyRequestResponse } from 'fastify';
import { sql } from 'kysely';
import { inject } from 'vitest';
import { buildApp, createServices, type Services } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import type { Clock } from '../../src/platform/clock.js';
import type { QueueStore } from '../../src/modules/queue/queue.store.js';
import type { InvalidationBus } from '../../src/cache/invalidation.js';
import type { Redis } from 'ioredis';
import { createDb, type Database } from '../../src/platform/db.js';
import type { Metrics } from '../../src/platform/metrics.js';
import type { Broker } from '../../src/modules/events/broker.js';
import type { RankingsStore } from '../../src/modules/rankings/rankings.store.js';

export const ADMIN_TOKEN = 'adm_test_token_0123456789';
export const TOKEN_SECRET = 'test-token-secret-0123456789-0123456789';

/**
 * Unless a test says otherwise, the waiting room admits everyone at once, and nothing is rate-limited
 * (tests fire hundreds of requests from one address; test/integration/rate-limit.test.ts turns limits on)
 * or shed (every app of a test file shares one event loop with the tests' own work;
 * test/integration/shedding.test.ts turns shedding on).
 */
const TEST_ENV = {
  DEMO_DATA: 'false',
  LOG_LEVEL: 'silent',
  QUEUE_MAX_ACTIVE: '1000000',
  QUEUE_ADMIT_PER_SECOND: '1000000',
  RATE_LIMIT_ENABLED: 'false',
  OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
  OVERLOAD_MAX_DATABASE_WAIT_MS: '0',
  OVERLOAD_MAX_ARRIVALS_IN_FLIGHT: '0',
};

export interface TestApp {
  app: FastifyInstance;
  db: Database;
  config: Config;
  services: Services;
  /** Which concert a schedule or reservation belongs to, as this app's builders and helpers saw them. */
  concertOf: Map<string, string>;
  /** The user seat maps are read as, made on first use. */
  viewer(): Promise<TestUser>;
  close(): Promise<void>;
}

/** A full application on the run's database; env overrides are config variables. */
export async function createTestApp(
  env: Record<string, string> = {},
  opts: {
    clock?: Clock;
    poolSize?: number;
    queueStore?: QueueStore;
    redis?: Redis;
    cacheBus?: InvalidationBus;
    logger?: FastifyBaseLogger;
    /** Traces every request (test/tracing). */
    tracer?: Tracer;
    /** A registry to count in (read it at GET /metrics); the app makes one of its own otherwise. */
    metrics?: Metrics;
    broker?: Broker;
    rankingsStore?: RankingsStore;
    /** Another database than the run's (one a test made for itself). */
    databaseUrl?: string;
  } = {},
): Promise<TestApp> {
  const config = loadConfig({ ...TEST_ENV, ...env });
  const db = createDb({
    connectionString: opts.databaseUrl ?? inject('databaseUrl'),
    poolSize: opts.poolSize ?? 10,
    connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
  });
  // As in main.ts: lease renewals use connections apart from the requests' pool.
  const backgroundDb = createDb({
    connectionString: opts.databaseUrl ?? inject('databaseUrl'),
    poolSize: 2,
    connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
  });
  const deps = {
    config,
    db,
    backgroundDb,
    adminToken: ADMIN_TOKEN,
    tokenSecret: TOKEN_SECRET,
    clock: opts.clock,
    queueStore: opts.queueStore,
    redis: opts.redis,
    cacheBus: opts.cacheBus,
    logger: opts.logger,
    tracer: opts.tracer,
    metrics: opts.metrics,
    broker: opts.broker,
    rankingsStore: opts.rankingsStore,
  };
  const services = createServices(deps);
  const app = await buildApp(deps, services);
  await app.ready();
  let viewer: Promise<TestUser> | undefined;
  return {
    app,
    db,
    config,
    services,
    concertOf: new Map(),
    viewer: () => (viewer ??= createUser(app, 'viewer')),
    async close() {
      await app.close();
      await db.destroy();
      await backgroundDb.destroy();
    },
  };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export interface TestUser {
  id: string;
  name: string;
  token: string;
}

export async function createUser(app: FastifyInstance, name = `user-${randomUUID().slice(0, 8)}`): Promise<TestUser> {
  const res = await app.inject({ method: 'POST', url: '/users', payload: { name } });
  if (res.statusCode !== 201) throw new Error(`createUser: ${res.statusCode} ${res.body}`);
  return res.json();
}

export async function charge(app: FastifyInstance, user: TestUser, amount: number, key?: string) {
  return app.inject({
    method: 'POST',
    url: '/users/me/balance/charges',
    headers: { ...bearer(user.token), ...(key ? { 'idempotency-key': key } : {}) },
    payload: { amount },
  });
}

export interface ScheduleInput {
  startsAt?: string;
  bookingOpensAt?: string;
  seatCount?: number;
  price?: number;
}

export interface TestConcert {
  id: string;
  title: string;
  schedules: { id: string; concertId: string; startsAt: string; seatCount: number; price: number; availableSeats: number }[];
}

/** A concert through the admin API; by default one schedule a week ahead, booking open, 20 seats. */
export async function createConcert(
  { app, concertOf }: TestApp,
  schedules: ScheduleInput[] = [{}],
  overrides: Partial<{ title: string; artist: string; venue: string }> = {},
): Promise<TestConcert> {
  const res = await app.inject({
    method: 'POST',
    url: '/admin/concerts',
    headers: bearer(ADMIN_TOKEN),
    payload: {
      title: overrides.title ?? `Concert ${randomUUID().slice(0, 8)}`,
      artist: overrides.artist ?? 'Test Artist',
      venue: overrides.venue ?? 'Test Hall',
      schedules: schedules.map((s) => ({
        startsAt: s.startsAt ?? new Date(Date.now() + 7 * 86_400_000).toISOString(),
        ...(s.bookingOpensAt ? { bookingOpensAt: s.bookingOpensAt } : {}),
        seatCount: s.seatCount ?? 20,
        price: s.price ?? 50_000,
      })),
    },
  });
  if (res.statusCode !== 201) throw new Error(`createConcert: ${res.statusCode} ${res.body}`);
  const concert: TestConcert = res.json();
  for (const s of concert.schedules) concertOf.set(s.id, concert.id);
  return concert;
}

/** Joins the waiting room (admitted at once under the test limits) and returns the Queue-Token. */
export async function queueToken(app: FastifyInstance, user: TestUser, concertId: string): Promise<string> {
  const res = await app.inject({ method: 'POST', url: `/concerts/${concertId}/queue`, headers: bearer(user.token) });
  if (res.statusCode >= 300) throw new Error(`join queue: ${res.statusCode} ${res.body}`);
  const body = res.json();
  if (body.status !== 'ACTIVE') throw new Error(`join queue: not admitted at once: ${res.body}`);
  return body.token;
}

/** Bearer and Queue-Token headers for a user booking a schedule or paying a reservation. */
export async function bookingHeaders({ app, concertOf }: TestApp, user: TestUser, scheduleOrReservationId: string) {
  const concertId = concertOf.get(scheduleOrReservationId);
  if (!concertId) throw new Error(`unknown schedule or reservation ${scheduleOrReservationId}`);
  return { ...bearer(user.token), 'queue-token': await queueToken(app, user, concertId) };
}

export async function hold(t: TestApp, user: TestUser, scheduleId: string, seatNumber: number, key?: string) {
  const res = await t.app.inject({
    method: 'POST',
    url: '/reservations',
    headers: { ...(await bookingHeaders(t, user, scheduleId)), ...(key ? { 'idempotency-key': key } : {}) },
    payload: { scheduleId, seatNumber },
  });
  if (res.statusCode === 201) t.concertOf.set(res.json().id, res.json().concertId);
  return res;
}

export async function pay(t: TestApp, user: TestUser, reservationId: string, key?: string) {
  return t.app.inject({
    method: 'POST',
    url: '/payments',
    headers: {
      ...(t.concertOf.has(reservationId) ? await bookingHeaders(t, user, reservationId) : bearer(user.token)),
      ...(key ? { 'idempotency-key': key } : {}),
    },
    payload: { reservationId },
  });
}

/** The seat map as a user admitted to the schedule's concert sees it. */
export async function seatMap(t: TestApp, scheduleId: string): Promise<{ number: number; status: string; price: number }[]> {
  const viewer = await t.viewer();
  const res = await t.app.inject({ url: `/schedules/${scheduleId}/seats`, headers: await bookingHeaders(t, viewer, scheduleId) });
  if (res.statusCode !== 200) throw new Error(`seat map: ${res.statusCode} ${res.body}`);
  return res.json().seats;
}

export function expectProblem(res: LightMyRequestResponse, status: number, code: string) {
  const body = res.json();
  if (res.statusCode !== status || body.code !== code) {
    throw new Error(`expected ${status} ${code}, got ${res.statusCode} ${res.body}`);
  }
  if (!String(res.headers['content-type']).startsWith('application/problem+json')) {
    throw new Error(`expected problem+json, got ${String(res.headers['content-type'])}`);
  }
  return body;
}

/** Invariants that must hold after any mix of requests; each returns offending rows (expect none). */
export const invariants = {
  async seatsWithTwoActiveReservations(db: Database, scheduleIds: string[]) {
    const { rows } = await sql<{ schedule_id: string; seat_number: number; n: number }>`
      SELECT schedule_id, seat_number, count(*)::int AS n FROM reservations
       WHERE schedule_id = ANY(${scheduleIds}::uuid[]) AND status IN ('HELD', 'CONFIRMED')
       GROUP BY schedule_id, seat_number HAVING count(*) > 1`.execute(db);
    return rows;
  },
  async balancesNotMatchingLedger(db: Database, userIds: string[]) {
    const { rows } = await sql<{ user_id: string; balance: number; ledger: number }>`
      SELECT w.user_id, w.balance, COALESCE(sum(l.amount), 0)::bigint AS ledger
        FROM wallets w LEFT JOIN ledger_entries l ON l.user_id = w.user_id
       WHERE w.user_id = ANY(${userIds}::uuid[])
       GROUP BY w.user_id, w.balance
      HAVING w.balance <> COALESCE(sum(l.amount), 0) OR w.balance < 0`.execute(db);
    return rows;
  },
  async seatsDisagreeingWithReservations(db: Database, scheduleIds: string[]) {
    const { rows } = await sql<{ schedule_id: string; number: number }>`
      SELECT s.schedule_id, s.number FROM seats s
        LEFT JOIN reservations r ON r.id = s.reservation_id
       WHERE s.schedule_id = ANY(${scheduleIds}::uuid[])
         AND NOT ((s.status = 'AVAILABLE' AND r.id IS NULL)
               OR (s.status = 'HELD' AND r.status = 'HELD' AND r.held_until = s.held_until)
               OR (s.status = 'SOLD' AND r.status = 'CONFIRMED'))`.execute(db);
    return rows;
  },
};
