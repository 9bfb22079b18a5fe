/**
 * What the load test counts: which answers are errors and which are designed refusals, the
 * per-step percentiles and per-second buckets, and the server's funnel counters summed and diffed.
 */
import { describe, expect, it } from 'vitest';
import { outcomeOf } from '../../load/client.js';
import { Recorder } from '../../load/recorder.js';
import { diffFunnel, parseFunnel } from '../../load/server-metrics.js';

describe('answers', () => {
  it('2xx is ok, an expected problem code is a refusal, anything else (5xx and network errors too) is unexpected', () => {
    expect(outcomeOf(201, undefined)).toBe('ok');
    expect(outcomeOf(409, 'SEAT_UNAVAILABLE', ['SEAT_UNAVAILABLE'])).toBe('expected');
    expect(outcomeOf(409, 'SEAT_UNAVAILABLE')).toBe('unexpected');
    expect(outcomeOf(409, 'HOLD_EXPIRED', ['SEAT_UNAVAILABLE'])).toBe('unexpected');
    expect(outcomeOf(503, 'UNAVAILABLE', ['UNAVAILABLE'])).toBe('unexpected');
    expect(outcomeOf(0, undefined, ['SEAT_UNAVAILABLE'])).toBe('unexpected');
  });
});

describe('the recorder', () => {
  it('counts a 503 the server shed as a 5xx, and apart as shed; other 5xx are not shed', () => {
    const rec = new Recorder(0);
    rec.record('signup', 100, 3, 503, 'UNAVAILABLE', 'unexpected', true);
    rec.record('signup', 100, 3, 503, 'UNAVAILABLE', 'unexpected');
    rec.record('signup', 100, 3, 500, 'INTERNAL', 'unexpected', true);
    expect({ status5xx: rec.status5xx, shed: rec.shed, unexpected: rec.unexpected }).toEqual({ status5xx: 3, shed: 1, unexpected: 3 });
  });

  it('keeps percentiles per step, requests and errors per second, and the 5xx and unexpected counts', () => {
    const start = 1_000_000;
    const rec = new Recorder(start);
    for (let i = 1; i <= 100; i++) rec.record('hold', start + 500, i, 201, undefined, 'ok');
    rec.record('hold', start + 1500, 5, 409, 'SEAT_UNAVAILABLE', 'expected');
    rec.record('pay', start + 1500, 7, 503, 'UNAVAILABLE', 'unexpected');
    rec.record('pay', start + 2500, 30_000, 0, undefined, 'unexpected');
    const hold = rec.stepFigures().hold!;
    expect(hold.count).toBe(101);
    expect(hold.p50).toBeCloseTo(50, 0);
    expect(hold.p99).toBeCloseTo(99, 0);
    expect(rec.seconds.map((b) => b.requests)).toEqual([100, 2, 1]);
    expect(rec.seconds[1]!.errors).toEqual({ '409 SEAT_UNAVAILABLE': 1, '503 UNAVAILABLE': 1 });
    expect(rec.seconds[2]!.errors).toEqual({ network: 1 });
    expect({ requests: rec.requests, status5xx: rec.status5xx, unexpected: rec.unexpected }).toEqual({ requests: 103, status5xx: 1, unexpected: 2 });
    // A journey that ended on a 200 saying EXPIRED: one more unexpected error, not one more request.
    rec.recordFailure('poll', start + 2500, 200, 'EXPIRED');
    expect({ requests: rec.requests, unexpected: rec.unexpected }).toEqual({ requests: 103, unexpected: 3 });
    expect(rec.seconds[2]!.errors).toEqual({ network: 1, '200 EXPIRED': 1 });
    expect([...rec.errors.values()].map((e) => [e.step, e.code, e.outcome, e.count])).toEqual([
      ['hold', 'SEAT_UNAVAILABLE', 'expected', 1],
      ['pay', 'UNAVAILABLE', 'unexpected', 1],
      ['pay', 'NETWORK', 'unexpected', 1],
      ['poll', 'EXPIRED', 'unexpected', 1],
    ]);
  });
});

describe('the server funnel', () => {
  const scrape = (paid: number) => `# HELP payments_total Payments by outcome
# TYPE payments_total counter
payments_total{outcome="paid"} ${paid}
payments_total{outcome="HOLD_EXPIRED"} 2
http_requests_total{method="GET",route="/metrics",status="200"} 9
queue_joins_total 4
`;

  it('keeps only the funnel counters, and the difference is what changed', () => {
    const before = parseFunnel(scrape(10));
    expect(before).toEqual({ 'payments_total{outcome="paid"}': 10, 'payments_total{outcome="HOLD_EXPIRED"}': 2, queue_joins_total: 4 });
    expect(diffFunnel(before, parseFunnel(scrape(25)))).toEqual({ 'payments_total{outcome="paid"}': 15 });
  });
});
