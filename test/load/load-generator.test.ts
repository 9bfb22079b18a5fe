/**
 * The load generator's own logic where a mistake would mislead: the seeded users are the same run
 * after run, thresholds name what they miss, and the sale's invariant SQL finds a planted double sale.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSale } from '../../load/invariants.js';
import { parseOptions } from '../../load/options.js';
import { pickSeat, planUser, thinkMs } from '../../load/plan.js';
import { evaluateThresholds, parseThresholds } from '../../load/thresholds.js';
import { createConcert, createTestApp, type TestApp } from '../support/harness.js';
import { createOwnDatabase } from '../support/own-database.js';
import { cancel, sellSeat } from '../support/sales.js';

const settings = { seed: 7, users: 1000, arrivalSeconds: 60, abandonShare: 0.1, cancelShare: 0.05 };

/** A user's plan and the first draws of its stream, as plain data. */
const drawn = (seed: number, index: number) => {
  const plan = planUser({ ...settings, seed }, index);
  return { arriveAtMs: plan.arriveAtMs, intent: plan.intent, thinks: [1, 2, 3].map(() => thinkMs(plan.random, 1)), seat: pickSeat(plan.random, [3, 4, 9, 12]) };
};

describe('seeded users', () => {
  it('the same seed gives the same arrivals, intents, think times and seat choices', () => {
    for (const i of [0, 1, 499, 999]) expect(drawn(7, i)).toEqual(drawn(7, i));
    expect([0, 1, 2, 3].map((i) => drawn(7, i))).not.toEqual([0, 1, 2, 3].map((i) => drawn(8, i)));
  });

  it('users arrive in order within the window, in the shares asked for', () => {
    const plans = Array.from({ length: settings.users }, (_, i) => planUser(settings, i));
    const arrivals = plans.map((p) => p.arriveAtMs);
    expect(arrivals).toEqual([...arrivals].sort((a, b) => a - b));
    expect(Math.max(...arrivals)).toBeLessThanOrEqual(60_000);
    const abandon = plans.filter((p) => p.intent === 'abandon').length;
    const cancel = plans.filter((p) => p.intent === 'cancel').length;
    expect(abandon).toBeGreaterThan(60);
    expect(abandon).toBeLessThan(140);
    expect(cancel).toBeGreaterThan(20);
    expect(cancel).toBeLessThan(80);
  });

  it('think times stay under four times their mean, and a seat is always a free one', () => {
    const plan = planUser(settings, 3);
    for (let i = 0; i < 1000; i++) expect(thinkMs(plan.random, 0.5)).toBeLessThanOrEqual(2000);
    for (let i = 0; i < 100; i++) expect([5, 6, 40]).toContain(pickSeat(plan.random, [5, 6, 40]));
    expect(pickSeat(plan.random, [])).toBeUndefined();
  });
});

describe('thresholds', () => {
  const observed = {
    requests: 10_000,
    status5xx: 0,
    unexpected: 5,
    unfinished: { failed: 0, cutOff: 0, notArrived: 0 },
    steps: { hold: { p95: 80, p99: 250 }, poll: { p95: 10, p99: 40 } },
  };

  it('a step over its own limit is named; one under the general limit passes', () => {
    const t = parseThresholds({ p95: undefined, p99: '100,hold=200', latency: true, maxUnexpectedRate: 0.001, max5xx: 0, maxUnfinished: 0 });
    const missed = evaluateThresholds(t, observed).filter((v) => !v.ok);
    expect(missed.map((v) => v.name)).toEqual(['hold p99']);
  });

  it('5xx and unexpected errors over their limits are missed; latency limits can be switched off', () => {
    const t = parseThresholds({ p95: '1', p99: '1', latency: false, maxUnexpectedRate: 0.0001, max5xx: 0, maxUnfinished: 0 });
    const missed = evaluateThresholds(t, { ...observed, status5xx: 1 }).filter((v) => !v.ok);
    expect(missed.map((v) => v.name)).toEqual(['5xx answers', 'unexpected errors']);
  });

  it('answers the server shed count as 5xx, and the verdict says how many of them were shed', () => {
    const t = parseThresholds({ p95: undefined, p99: undefined, latency: false, maxUnexpectedRate: 0.001, max5xx: 0, maxUnfinished: 0 });
    expect(evaluateThresholds(t, { ...observed, status5xx: 7, shed: 5 }).find((v) => v.name === '5xx answers')).toEqual({
      name: '5xx answers',
      limit: '<= 0',
      observed: '7 (5 shed: 503 with Retry-After)',
      ok: false,
    });
    expect(evaluateThresholds({ ...t, max5xx: 7 }, { ...observed, status5xx: 7, shed: 5 }).every((v) => v.ok)).toBe(true);
    expect(evaluateThresholds(t, { ...observed, shed: 0 }).find((v) => v.name === '5xx answers')!.observed).toBe('0');
  });

  it('users who did not finish fail the run, each kind named', () => {
    const t = parseThresholds({ p95: undefined, p99: undefined, latency: true, maxUnexpectedRate: 0.001, max5xx: 0, maxUnfinished: 0 });
    const unfinished = { failed: 1, cutOff: 36, notArrived: 59 };
    expect(evaluateThresholds(t, { ...observed, unfinished }).filter((v) => !v.ok)).toEqual([
      { name: 'unfinished users', limit: '<= 0', observed: '96 (failed 1, cut off 36, never arrived 59)', ok: false },
    ]);
    expect(evaluateThresholds({ ...t, maxUnfinished: 96 }, { ...observed, unfinished }).every((v) => v.ok)).toBe(true);
  });

  it('a malformed limit is refused with the flag named', () => {
    expect(() => parseThresholds({ p95: 'hold=fast', p99: undefined, latency: true, maxUnexpectedRate: 0.001, max5xx: 0, maxUnfinished: 0 })).toThrow(/--p95/);
  });
});

describe('the warm-up', () => {
  it('is off unless asked for, and takes a count of users', () => {
    expect(parseOptions([], {}).warmupUsers).toBe(0);
    expect(parseOptions(['--warmup-users', '500'], {}).warmupUsers).toBe(500);
    expect(() => parseOptions(['--warmup-users', 'some'], {})).toThrow(/--warmup-users/);
  });
});

describe('a run against a deployment', () => {
  const target = ['--target', 'http://127.0.0.1:1', '--admin-token', 'a'];

  it('is refused without a database to check the invariants on, unless they are explicitly skipped', () => {
    expect(() => parseOptions(target, {})).toThrow(/--database-url.*--no-invariants/);
    expect(parseOptions([...target, '--no-invariants'], {}).noInvariants).toBe(true);
    expect(parseOptions(target, { DATABASE_URL: 'postgres://db/x' }).databaseUrl).toBe('postgres://db/x');
  });
});

describe('the sale invariants in SQL', () => {
  let t: TestApp;
  let own: Awaited<ReturnType<typeof createOwnDatabase>>;
  beforeAll(async () => {
    own = await createOwnDatabase('load_invariants');
    t = await createTestApp({}, { databaseUrl: own.url });
  });
  afterAll(async () => {
    await t.close();
    await own.drop();
  });

  it('find nothing in a clean sale, then a seat sold twice, a payment the client saw that is missing, a hold that never expired, a cancellation not refunded and a top-up too many', async () => {
    const concert = await createConcert(t, [{ seatCount: 4 }]);
    const scheduleId = concert.schedules[0]!.id;
    const first = await sellSeat(t, scheduleId, 1);
    const second = await sellSeat(t, scheduleId, 2);
    await cancel(t, second);
    const paymentOf = async (reservationId: string) =>
      ({ id: (await t.db.selectFrom('payments').select('id').where('reservation_id', '=', reservationId).executeTakeFirstOrThrow()).id, reservationId });
    const records = {
      concertId: concert.id,
      payments: [await paymentOf(first.id), await paymentOf(second.id)],
      abandonedHolds: [] as string[],
      cancelled: [second.id],
      topUps: new Map([[first.user.id, 1], [second.user.id, 1]]),
    };
    const clean = await checkSale(own.url, records, 0);
    // The outbox is not waited for here (drainSeconds 0): its two figures are left out.
    const { outboxNotDrained: _o, confirmationsNotConsumedOnce: _c, ...sale } = clean.invariants;
    expect(Object.entries(sale).filter(([, n]) => n !== 0)).toEqual([]);
    expect(clean.counts).toMatchObject({ seatsSold: 1, confirmedReservations: 1, paidPayments: 1, refundedPayments: 1 });

    // A broken cancel: the reservation is cancelled and the seat freed, but the payment stays PAID.
    await t.db.updateTable('reservations').set({ status: 'CANCELLED', cancelled_at: new Date() }).where('id', '=', first.id).execute();
    await t.db.updateTable('seats').set({ status: 'AVAILABLE', reservation_id: null, held_until: null }).where('schedule_id', '=', scheduleId).where('number', '=', 1).execute();
    await sellSeat(t, scheduleId, 1);
    const held = await t.db.selectFrom('reservations').select('id').where('schedule_id', '=', scheduleId).where('status', '=', 'CONFIRMED').executeTakeFirstOrThrow();
    const broken = await checkSale(
      own.url,
      {
        ...records,
        payments: [...records.payments, { id: randomUUID(), reservationId: first.id }],
        abandonedHolds: [held.id],
        cancelled: [...records.cancelled, first.id],
        topUps: new Map([[first.user.id, 1], [second.user.id, 2]]),
      },
      0,
    );
    expect(broken.invariants).toMatchObject({
      seatsSoldTwice: 1,
      soldConfirmedPaidMismatch: 1,
      paymentsAnsweredButMissing: 1,
      abandonedHoldsNotExpired: 1,
      cancellationsNotRefunded: 1,
      // PAID in the database: the first (never refunded) and the resale; answered: 3 − 2 cancelled.
      paidNotAsAnswered: 1,
      topUpsNotAsAnswered: 1,
    });
  });
});
