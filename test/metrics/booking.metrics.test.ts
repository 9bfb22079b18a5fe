import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweeperMetrics } from '../../src/app.metrics.js';
import { startSweeper } from '../../src/modules/reservations/reservations.sweeper.js';
import { manualClock } from '../../src/platform/clock.js';
import { createMetrics } from '../../src/platform/metrics.js';
import { bearer, charge, createConcert, createTestApp, createUser, expectProblem, hold, pay, type TestApp } from '../support/harness.js';
import { scrape } from '../support/metrics.js';

const clock = manualClock(new Date());
const metrics = createMetrics();
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ HOLD_LIMIT_PER_SCHEDULE: '2', HOLD_TTL_SECONDS: '60' }, { clock, metrics });
});
afterAll(() => t.close());

/** How much each series moved while `work` ran. */
async function deltas(work: () => Promise<unknown>) {
  const before = await scrape(t.app);
  await work();
  const after = await scrape(t.app);
  return (name: string, labels: Record<string, string> = {}) => (after.value(name, labels) ?? 0) - (before.value(name, labels) ?? 0);
}

describe('booking funnel metrics', () => {
  it('counts holds by outcome: created, SEAT_UNAVAILABLE, HOLD_LIMIT_REACHED, NOT_FOUND', async () => {
    const schedule = (await createConcert(t)).schedules[0]!;
    const [a, b] = [await createUser(t.app), await createUser(t.app)];
    const moved = await deltas(async () => {
      expect((await hold(t, a, schedule.id, 1)).statusCode).toBe(201);
      expect((await hold(t, a, schedule.id, 2)).statusCode).toBe(201);
      expectProblem(await hold(t, a, schedule.id, 3), 409, 'HOLD_LIMIT_REACHED');
      expectProblem(await hold(t, b, schedule.id, 1), 409, 'SEAT_UNAVAILABLE');
      expectProblem(await hold(t, b, schedule.id, 999), 404, 'NOT_FOUND');
    });
    expect(moved('reservation_holds_total', { outcome: 'created' })).toBe(2);
    expect(moved('reservation_holds_total', { outcome: 'HOLD_LIMIT_REACHED' })).toBe(1);
    expect(moved('reservation_holds_total', { outcome: 'SEAT_UNAVAILABLE' })).toBe(1);
    expect(moved('reservation_holds_total', { outcome: 'NOT_FOUND' })).toBe(1);
  });

  it('counts payments by outcome: paid and INSUFFICIENT_BALANCE', async () => {
    const schedule = (await createConcert(t, [{ price: 30_000 }])).schedules[0]!;
    const [rich, poor] = [await createUser(t.app), await createUser(t.app)];
    await charge(t.app, rich, 100_000);
    const moved = await deltas(async () => {
      expect((await pay(t, rich, (await hold(t, rich, schedule.id, 1)).json().id)).statusCode).toBe(201);
      expectProblem(await pay(t, poor, (await hold(t, poor, schedule.id, 2)).json().id), 409, 'INSUFFICIENT_BALANCE');
    });
    expect(moved('payments_total', { outcome: 'paid' })).toBe(1);
    expect(moved('payments_total', { outcome: 'INSUFFICIENT_BALANCE' })).toBe(1);
  });

  it('counts a released hold and a refunded seat, and the amount refunded', async () => {
    const schedule = (await createConcert(t, [{ price: 12_000 }])).schedules[0]!;
    const user = await createUser(t.app);
    await charge(t.app, user, 50_000);
    const held = (await hold(t, user, schedule.id, 1)).json();
    const paid = (await hold(t, user, schedule.id, 2)).json();
    expect((await pay(t, user, paid.id)).statusCode).toBe(201);
    const moved = await deltas(async () => {
      for (const id of [held.id, paid.id]) {
        const res = await t.app.inject({ method: 'DELETE', url: `/reservations/${id}`, headers: bearer(user.token) });
        expect(res.statusCode).toBe(200);
      }
    });
    expect(moved('reservation_cancellations_total', { kind: 'released' })).toBe(1);
    expect(moved('reservation_cancellations_total', { kind: 'refunded' })).toBe(1);
    expect(moved('refunded_amount_won_total')).toBe(12_000);
  });

  it('counts a payment of an expired hold, then the sweeper runs and the hold it expired', async () => {
    const schedule = (await createConcert(t)).schedules[0]!;
    const user = await createUser(t.app);
    await charge(t.app, user, 100_000);
    const r = (await hold(t, user, schedule.id, 5)).json();
    clock.advance(61_000);
    const sweeper = startSweeper({ db: t.db, clock, intervalMs: 50, log: pino({ level: 'silent' }), ...sweeperMetrics(metrics) });
    const moved = await deltas(async () => {
      expectProblem(await pay(t, user, r.id), 409, 'HOLD_EXPIRED');
      const deadline = Date.now() + 5_000;
      while ((await t.db.selectFrom('reservations').select('status').where('id', '=', r.id).executeTakeFirstOrThrow()).status !== 'EXPIRED') {
        if (Date.now() > deadline) throw new Error('the sweeper did not expire the hold');
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      await sweeper.stop();
    });
    expect(moved('payments_total', { outcome: 'HOLD_EXPIRED' })).toBe(1);
    expect(moved('hold_sweeper_runs_total')).toBeGreaterThanOrEqual(1);
    // Other tests' holds in this file may be due too: at least this one.
    expect(moved('reservations_expired_total')).toBeGreaterThanOrEqual(1);
  });

  it('counts an answer replayed from an Idempotency-Key by route, and the hold once', async () => {
    const schedule = (await createConcert(t)).schedules[0]!;
    const user = await createUser(t.app);
    const moved = await deltas(async () => {
      const first = await hold(t, user, schedule.id, 7, 'metrics-replay-key-1');
      const again = await hold(t, user, schedule.id, 7, 'metrics-replay-key-1');
      expect(first.statusCode).toBe(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
    });
    expect(moved('idempotent_replays_total', { route: '/reservations' })).toBe(1);
    expect(moved('reservation_holds_total', { outcome: 'created' })).toBe(1);
  });

  it('observes the batched statements: requests per statement and their time', async () => {
    const schedule = (await createConcert(t, [{ seatCount: 30 }])).schedules[0]!;
    const users = await Promise.all(Array.from({ length: 12 }, () => createUser(t.app)));
    const moved = await deltas(async () => {
      const results = await Promise.all(users.map((u, i) => hold(t, u, schedule.id, i + 1)));
      expect(results.every((r) => r.statusCode === 201)).toBe(true);
    });
    // Every hold went through one statement or another; together they carried all twelve.
    expect(moved('booking_batch_size_sum', { statement: 'hold' })).toBe(12);
    const statements = moved('booking_batch_size_count', { statement: 'hold' });
    expect(statements).toBeGreaterThanOrEqual(1);
    expect(statements).toBeLessThanOrEqual(12);
    expect(moved('booking_batch_duration_seconds_count', { statement: 'hold' })).toBe(statements);
    expect(moved('booking_batch_duration_seconds_sum', { statement: 'hold' })).toBeGreaterThan(0);
    const after = await scrape(t.app);
    expect(after.value('booking_batch_size_count', { statement: 'payment' })).toBeGreaterThanOrEqual(1);
  });
});
