/**
 * The capacity plan's arithmetic (load/capacity.model.ts) on a small synthetic sale whose figures
 * can be worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import { firstBottleneck, journeyOf, modelCheck, plan, pollsPerSecond, type ReportFigures, type StepCost, type StepCosts } from '../../load/capacity.model.js';

const cost = (c: Partial<StepCost>): StepCost => ({ redisCommands: 0, redisCpuMs: 0, serviceCpuMs: 0, postgresCpuMs: 0, walBytes: 0, rowsWritten: 0, ...c });

// Every request costs 1 ms of service CPU; the writes cost the database and the WAL, the line costs Redis.
const costs: StepCosts = {
  memory: { bytesPerWaitingUser: 600 },
  idlePerSecond: { serviceCpuMs: 10, postgresCpuMs: 0 },
  steps: {
    signup: cost({ serviceCpuMs: 1, postgresCpuMs: 0.5, walBytes: 700, rowsWritten: 3 }),
    topup: cost({ serviceCpuMs: 1, postgresCpuMs: 0.5, walBytes: 1_600, rowsWritten: 3 }),
    concerts: cost({ serviceCpuMs: 1 }),
    schedules: cost({ serviceCpuMs: 1 }),
    join: cost({ serviceCpuMs: 1, redisCommands: 20, redisCpuMs: 0.1 }),
    'poll (waiting)': cost({ serviceCpuMs: 1, redisCommands: 3, redisCpuMs: 0.01 }),
    seats: cost({ serviceCpuMs: 1 }),
    leave: cost({ serviceCpuMs: 1, redisCommands: 5 }),
    hold: cost({ serviceCpuMs: 1, postgresCpuMs: 0.2, walBytes: 3_000, rowsWritten: 3 }),
    pay: cost({ serviceCpuMs: 1, postgresCpuMs: 1, walBytes: 5_000, rowsWritten: 6 }),
    cancel: cost({ serviceCpuMs: 1, postgresCpuMs: 1, walBytes: 4_000, rowsWritten: 5 }),
  },
};

// 100 users, 40 seats sold: 40 bought (5 of them cancelled and their seats were bought again), 8
// abandoned their hold; 60 holds, 45 payments, 5 cancellations; 100 admitted, active 2 at a time
// for 150 seconds (3 s each on average).
const report: ReportFigures = {
  settings: { users: 100, instances: 1 },
  requests: 0,
  secondsWithGrace: 150,
  steps: {
    signup: { count: 100 }, topup: { count: 100 }, concerts: { count: 100 }, schedules: { count: 300 }, join: { count: 100 },
    seats: { count: 200 }, leave: { count: 100 }, hold: { count: 60 }, pay: { count: 45 }, cancel: { count: 5 }, poll: { count: 400 },
  },
  endings: { bought: 35, 'bought-cancelled': 5, abandoned: 8, 'sold-out': 52 },
  counts: { seatsSold: 40 },
  seats: 40,
  cpu: { serviceSeconds: 2, postgresSeconds: null },
  funnel: { queue_admitted_total: 100 },
  series: { timeline: Array.from({ length: 150 }, () => ({ active: 2 })) },
};

describe('the capacity plan', () => {
  it('reads the journey of a measured sale per user and per seat sold', () => {
    const j = journeyOf(report);
    expect(j.perUser).toEqual({ signup: 1, topup: 1, concerts: 1, schedules: 3, join: 1, seats: 2, leave: 1 });
    expect(j.perSeat).toEqual({ hold: 1.5, pay: 1.125, cancel: 0.125 });
    expect(j.heldPerSeat).toBe(1.2); // (35 + 5 + 8) / 40
    expect(j.activeSecondsPerAdmitted).toBe(3); // 150 × 2 / 100
  });

  it('counts polls by the refresh rule: each second for a wait under 10 s, a tenth of the wait beyond, at most once a minute', () => {
    // Admitting 1 a second: positions 1–10 poll every second, 11–20 every 2 s, 21–30 every 3 s.
    expect(pollsPerSecond(30, 1)).toBeCloseTo(10 + 5 + 10 / 3, 9);
    // Far back, a minute apart: 100 users at positions 601–700 (a wait of over 600 s) add 100/60.
    expect(pollsPerSecond(700, 1) - pollsPerSecond(600, 1)).toBeCloseTo(100 / 60, 9);
    expect(pollsPerSecond(0, 100)).toBe(0);
  });

  it('predicts the measured sale from the step costs and the idle instance, to compare with its measured CPU', () => {
    const check = modelCheck(report, costs);
    // 1,510 requests at 1 ms each (polls at the waiting cost), and one instance idling 150 s at 10 ms a second.
    const predicted = (100 * 4 + 300 + 200 + 100 + 60 + 45 + 5 + 400 + 150 * 10) / 1000;
    expect(check.serviceSeconds.predicted).toBeCloseTo(predicted, 9);
    expect(check.serviceSeconds.measured).toBe(2);
    expect(check.serviceSeconds.ratio).toBeCloseTo(2 / predicted, 9);
    expect(check.postgresSeconds.measured).toBeNull();
    expect(check.postgresSeconds.ratio).toBeNull();
  });

  it('plans the sale at the end of the arrivals: line, polls, requests, cores, WAL, Redis and the admission settings', () => {
    // 3,000 users over 30 s (100 a second) for 50 seats, admitting 10 a second: 60 admissions sell
    // out after 6 s; 2,700 still wait at the end of the arrivals, drained 270 s later.
    const p = plan({ users: 3_000, arrivalSeconds: 30, seats: 50, admitPerSecond: 10, headroom: 0.5 }, journeyOf(report), costs);
    expect(p.sellOutSeconds).toBe(6);
    expect(p.peakWaiting).toBe(2_700);
    expect(p.drainSeconds).toBe(270);
    const polls = pollsPerSecond(2_700, 10);
    // Seats sell at 10 / 1.2 a second while they last: their steps count at that rate, beside the line at its longest.
    const sold = 10 / 1.2;
    expect(p.seatsSoldPerSecond).toBeCloseTo(sold, 9);
    const seatSteps = { hold: sold * 1.5, pay: sold * 1.125, cancel: sold * 0.125 };
    expect(p.rates).toEqual({ signup: 100, topup: 100, concerts: 100, schedules: 300, join: 100, seats: 20, leave: 10, ...seatSteps, 'poll (waiting)': polls });
    const requests = 730 + sold * 2.75 + polls;
    expect(p.requestsPerSecond).toBeCloseTo(requests, 9);
    expect(p.serviceCores).toBeCloseTo(requests / 1000, 9);
    expect(p.instances).toBe(Math.ceil(requests / 1000 / 0.5));
    expect(p.postgresCores).toBeCloseTo((100 * 0.5 + 100 * 0.5 + seatSteps.hold * 0.2 + seatSteps.pay * 1 + seatSteps.cancel * 1) / 1000, 9);
    expect(p.walBytesPerSecond).toBeCloseTo(100 * 700 + 100 * 1_600 + seatSteps.hold * 3_000 + seatSteps.pay * 5_000 + seatSteps.cancel * 4_000, 6);
    expect(p.redisCommandsPerSecond).toBeCloseTo(100 * 20 + 10 * 5 + polls * 3, 9);
    expect(p.redisBytesForLine).toBe(2_700 * 600);
    expect(p.maxActive).toBe(30); // 10 a second × 3 s each
    expect(p.walBytesPerBuyer).toBe(700 + 1_600 + 3_000 + 5_000);
    expect(p.rowsPerBuyer).toBe(3 + 3 + 3 + 6);
  });

  it('a sale that outlasts the arrivals sells out later, at the same rate of seats', () => {
    const p = plan({ users: 3_000, arrivalSeconds: 30, seats: 1_000, admitPerSecond: 10, headroom: 0.5 }, journeyOf(report), costs);
    expect(p.sellOutSeconds).toBe(120); // 1,000 × 1.2 / 10
    expect(p.rates.pay).toBeCloseTo((10 / 1.2) * 1.125, 9);
  });

  it('names the limit nearest to being reached', () => {
    const p = plan({ users: 3_000, arrivalSeconds: 30, seats: 50, admitPerSecond: 10, headroom: 0.5 }, journeyOf(report), costs);
    expect(firstBottleneck(p, { postgresCores: 0.05, redisCoreShare: 1 })).toMatch(/^PostgreSQL/);
    expect(firstBottleneck(p, { postgresCores: 100, redisCoreShare: 1 })).toMatch(/^Redis/);
  });

  it('refuses to plan with a step whose cost was not measured', () => {
    const { pay: _, ...steps } = costs.steps;
    expect(() => plan({ users: 3_000, arrivalSeconds: 30, seats: 1_000, admitPerSecond: 10, headroom: 0.5 }, journeyOf(report), { ...costs, steps })).toThrow(/"pay"/);
  });
});
