/**
 * The drill's judgement on synthetic records, where a mistake would make a drill pass that should
 * fail: when readiness noticed, when service was full again, which 5xx break the promise, and
 * which targets a run misses.
 */
import { describe, expect, it } from 'vitest';
import type { SaleInvariants } from '../../load/invariants.js';
import { addSheds } from '../../drill/checks.js';
import { parseDrillOptions } from '../../drill/options.js';
import { lineDrain, outboxDrain, scenarioVerdicts, type ScenarioFacts } from '../../drill/scenario-targets.js';
import { evaluateTargets } from '../../drill/targets.js';
import { analyse, bad5xx, type FaultWindow, type ReadinessSample, type RequestRecord } from '../../drill/timeline.js';

const T0 = 1_000_000;
const fault: FaultWindow = { startMs: T0 + 10_000, endMs: T0 + 25_000 };

/** A request of `step` started at `s` seconds after T0 that took `ms`. */
function req(step: string, s: number, status: number, o: { ms?: number; code?: string; retryAfter?: boolean; expected?: boolean } = {}): RequestRecord {
  const startMs = T0 + s * 1000;
  const outcome = status >= 200 && status < 300 ? 'ok' : o.expected ? 'expected' : 'unexpected';
  return { step, startMs, endMs: startMs + (o.ms ?? 10), status, code: o.code, retryAfter: o.retryAfter ?? false, outcome };
}

const probes = (instance: number, from: number, to: number, status: number): ReadinessSample[] =>
  Array.from({ length: (to - from) * 4 }, (_, i) => ({ atMs: T0 + from * 1000 + i * 250, instance, status }));

const ZERO: SaleInvariants = {
  seatsSoldTwice: 0, soldConfirmedPaidMismatch: 0, balancesNotMatchingLedger: 0, negativeBalances: 0, seatsDisagreeingWithReservations: 0,
  paymentsWithoutConfirmedReservation: 0, abandonedHoldsNotExpired: 0, paymentsAnsweredButMissing: 0, cancellationsNotRefunded: 0,
  paidNotAsAnswered: 0, topUpsNotAsAnswered: 0, outboxNotDrained: 0, confirmationsNotConsumedOnce: 0,
};

/** A PostgreSQL restart as the users saw it: fine, 503s while down, a slow return for payments. */
const records: RequestRecord[] = [
  req('pay', 2, 201), req('hold', 3, 201), req('seats', 4, 200), req('hold', 5, 409, { code: 'SEAT_UNAVAILABLE', expected: true }),
  req('pay', 11, 503, { code: 'UNAVAILABLE', retryAfter: true, ms: 40 }), req('hold', 12, 503, { code: 'UNAVAILABLE', retryAfter: true }),
  req('seats', 20, 0), req('seats', 24.9, 503, { code: 'UNAVAILABLE', retryAfter: true, ms: 400 }),
  req('seats', 25.2, 200), req('hold', 25.5, 201), req('pay', 26, 503, { code: 'UNAVAILABLE', retryAfter: true }), req('pay', 28, 201, { ms: 30 }),
  req('seats', 30, 200), req('hold', 31, 201),
];
// Instance 0 answers 503 from 10.5 s to 26 s; instance 1 answers nothing from 11 s to 27 s.
const readiness = [...probes(0, 0, 10.5, 200), ...probes(0, 10.5, 26, 503), ...probes(0, 26, 40, 200), ...probes(1, 0, 11, 200), ...probes(1, 11, 27, 0), ...probes(1, 27, 40, 200)];

describe('the recovery timeline', () => {
  const a = analyse(records, readiness, fault);

  it('times readiness noticing the fault and coming back on every instance', () => {
    expect(a.readinessNoticedMs).toBe(500);
    // instance 1 answers nothing until 27 s: every instance ready only from then
    expect(a.readinessBackMs).toBe(2_000);
  });

  it('full service waits until every step that failed has succeeded after its last failure', () => {
    expect(a.firstSuccessMs).toBe(210); // seats started at 25.2 s, 10 ms long
    expect(a.fullServiceMs).toBe(3_030); // pay: failed at 26 s, succeeded at 28 s (30 ms)
    expect(a.lastStepBack).toBe('pay');
    expect(a.failedAfterReturn).toEqual({ 'pay 503 UNAVAILABLE': 1 });
  });

  it('a failure long after the return is listed, not counted against recovery', () => {
    const late = analyse([...records, req('seats', 25 + 61, 0), req('seats', 87, 200)], readiness, fault);
    expect(late.fullServiceMs).toBe(3_030);
    expect(late.failedAfterReturn).toEqual({ 'pay 503 UNAVAILABLE': 1, 'seats network': 1 });
  });

  it('a step that never succeeds again means no full service', () => {
    const stuck = analyse([...records, req('cancel', 29, 500, { code: 'INTERNAL' })], readiness, fault);
    expect(stuck.fullServiceMs).toBeNull();
    expect(stuck.stepsNeverBack).toEqual(['cancel']);
  });

  it('counts failures by phase of the request start, designed refusals left out', () => {
    expect(a.requests).toEqual({ before: 4, during: 4, after: 6 });
    expect(a.failures.before).toEqual({});
    expect(a.failures.during).toEqual({ '503 UNAVAILABLE': 3, network: 1 });
    expect(a.failures.after).toEqual({ '503 UNAVAILABLE': 1 });
    expect(a.refusals).toEqual({ before: { '409 SEAT_UNAVAILABLE': 1 }, during: {}, after: {} });
    expect(a.latency.pay).toMatchObject({ before: { count: 1 }, during: { count: 1, max: 40 }, after: { count: 2 } });
    expect(a.latency.seats!.during).toMatchObject({ count: 1, max: 400 }); // the network failure has no latency
  });

  it('only 503 UNAVAILABLE with Retry-After is an allowed 5xx', () => {
    expect(bad5xx(a)).toBe(0);
    const broken = analyse([...records, req('pay', 12, 503, { code: 'UNAVAILABLE' }), req('hold', 13, 500, { code: 'INTERNAL', retryAfter: true })], readiness, fault);
    expect(bad5xx(broken)).toBe(2);
  });
});

describe('targets', () => {
  const a = analyse(records, readiness, fault);
  const base = { analysis: a, invariants: ZERO, doubleDebits: 0, notRecovered: [], unhandled: 0, eventsAreTargets: false, extra: [] };
  const missed = (t: Parameters<typeof evaluateTargets>[0]) => evaluateTargets(t).filter((v) => !v.ok).map((v) => v.name);

  it('a clean run meets every target', () => {
    expect(missed(base)).toEqual([]);
  });

  it('names each missed target: slow recovery, lost payment, double debit, a crash, a bad 5xx', () => {
    const slow = analyse([...records, req('seats', 40, 503, { code: 'UNAVAILABLE', retryAfter: true }), req('seats', 41, 200)], readiness, fault);
    expect(missed({ ...base, analysis: slow })).toEqual(['full service again after the dependency is back']);
    expect(missed({ ...base, invariants: { ...ZERO, paymentsAnsweredButMissing: 1 } })).toEqual(['committed payments lost (answered 201, not in the database)']);
    expect(missed({ ...base, doubleDebits: 2, notRecovered: ['instance 2 exited (code 1, signal null)'] })).toEqual([
      'processes that needed a hand (exited, or not serving at the end)',
      'double debits (a reservation with two PAYMENT entries)',
    ]);
    const bad = analyse([...records, req('hold', 13, 500, { code: 'INTERNAL' })], readiness, fault);
    expect(missed({ ...base, analysis: bad })).toEqual(['5xx other than 503 UNAVAILABLE with Retry-After']);
  });

  it('a lost answer is reported, not missed; events are targets only where the drill says so', () => {
    const inv = { ...ZERO, paidNotAsAnswered: 1, confirmationsNotConsumedOnce: 3 };
    expect(missed({ ...base, invariants: inv })).toEqual([]);
    expect(missed({ ...base, invariants: inv, eventsAreTargets: true })).toEqual(['invariant confirmationsNotConsumedOnce']);
  });
});

describe("the scenarios' own targets", () => {
  const facts = (over: Partial<ScenarioFacts> = {}): ScenarioFacts => ({
    analysis: analyse(records, readiness, fault),
    observer: { requests: records, readiness, memory: [], outbox: [], extra: [] },
    fault, sink: undefined, order: undefined, saleStartMs: T0,
    sale: { timeline: [] },
    ...over,
  });

  it('postgres-restart misses when a request hung longer than the connect timeout', () => {
    expect(scenarioVerdicts('postgres-restart', facts()).every((v) => v.ok)).toBe(true);
    const hung = [...records, req('seats', 15, 503, { code: 'UNAVAILABLE', retryAfter: true, ms: 9_000 })];
    expect(scenarioVerdicts('postgres-restart', facts({ observer: { requests: hung, readiness, memory: [], outbox: [], extra: [] } }))[0]!.ok).toBe(false);
  });

  it('broker-outage wants payments through the outage, the outbox grown and drained, each reservation\'s events in order', () => {
    const outbox = [{ atMs: T0 + 5_000, unsent: 2 }, { atMs: T0 + 20_000, unsent: 40 }, { atMs: T0 + 26_000, unsent: 9 }, { atMs: T0 + 27_500, unsent: 0 }];
    const pays = [...records.filter((r) => r.step !== 'pay' || r.startMs < fault.startMs || r.startMs >= fault.endMs), req('pay', 15, 201)];
    expect(outboxDrain({ observer: { outbox }, fault } as ScenarioFacts)).toEqual({ peak: 40, before: 2, drainedMs: 2_500 });
    const f = facts({ observer: { requests: pays, readiness, memory: [], outbox, extra: [] }, order: { entries: 50, inversions: 3, aggregateInversions: 0 } });
    expect(scenarioVerdicts('broker-outage', f).filter((v) => !v.ok)).toEqual([]);
    expect(scenarioVerdicts('broker-outage', { ...f, order: { entries: 50, inversions: 3, aggregateInversions: 1 } }).filter((v) => !v.ok).map((v) => v.name)).toEqual([
      'events in the stream before an earlier-committed event of the same reservation or user',
    ]);
    // the 503 on a payment during the fault: payments did not go on
    expect(scenarioVerdicts('broker-outage', facts({ observer: { requests: records, readiness, memory: [], outbox, extra: [] } }))[0]!.ok).toBe(false);
  });

  it('overload finds the line drained after its peak', () => {
    const timeline = [0, 50, 300, 120, 0, 0].map((waiting, second) => ({ second, arrived: 0, waiting, active: 0, done: 0 }));
    expect(lineDrain({ sale: { timeline } })).toEqual({ peak: 300, peakSecond: 2, drainedSecond: 4 });
  });
});

describe('shed requests', () => {
  it('sums each instance\'s http_requests_shed_total by reason, method and route', () => {
    const scrape = (n: number) =>
      '# TYPE http_requests_shed_total counter\n' +
      `http_requests_shed_total{method="POST",route="/users",reason="databaseWait"} ${n}\n` +
      'http_requests_shed_total{method="GET",route="/concerts",reason="eventLoopDelay"} 2\n' +
      'http_requests_total{method="POST",route="/users",status="503"} 99\n';
    expect(addSheds(addSheds({}, scrape(3)), scrape(4))).toEqual({ 'databaseWait POST /users': 7, 'eventLoopDelay GET /concerts': 4 });
    expect(addSheds({}, '')).toEqual({});
  });
});

describe('options', () => {
  it('sizes overload from the admission limit and refuses a fault after the arrivals', () => {
    const o = parseDrillOptions(['overload', '--max-active', '40']);
    expect([o.users, o.arrivalSeconds, o.out]).toEqual([200, 3, 'docs/drills/overload']);
    expect(() => parseDrillOptions(['postgres-restart', '--arrival-seconds', '20', '--fault-at', '30'])).toThrow(/mid-sale/);
    expect(() => parseDrillOptions(['no-such-drill'])).toThrow(/name one scenario/);
  });
});
