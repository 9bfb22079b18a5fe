/** The summary of `npm run bench -- --tracing-compare`: per round ratios, their median and spread. */
import { describe, expect, it } from 'vitest';
import type { Measured } from '../../bench/measure.js';
import { spreadOf, summarize, type CompareRun } from '../../bench/tracing-compare.js';

const measured = (requestsPerSecond: number, serviceCpuMsPerRequest: number): Measured => ({
  scenario: 'x', requestsPerSecond, serviceCpuMsPerRequest, postgresCpuMsPerRequest: 0.5, p50Ms: 1, p99Ms: 2, non2xx: 0, errors: 0,
});
const run = (round: number, setting: CompareRun['setting'], holds: number, cpu: number): CompareRun => ({
  round, setting, holds: measured(holds, cpu), payments: measured(holds / 2, cpu * 2),
});

describe('the tracing comparison summary', () => {
  it('takes the median of an odd count as the middle value and of an even count as the mean of the middle two', () => {
    expect(spreadOf([3, 1, 2]).median).toBe(2);
    expect(spreadOf([4, 1, 3, 2])).toMatchObject({ median: 2.5, min: 1, max: 4, q1: 1, q3: 3, rounds: [4, 1, 3, 2] });
  });

  it("pairs each round's traced run with that round's untraced one, whichever ran first", () => {
    // Round 1 off first, round 2 traced first (listed in the order they ran); the machine slowed in round 2.
    const runs = [run(1, 'off', 1_000, 0.3), run(1, 'traced', 900, 0.36), run(2, 'traced', 400, 0.9), run(2, 'off', 500, 0.6), run(3, 'off', 800, 0.4), run(3, 'traced', 720, 0.44)];
    const s = summarize(runs);
    expect(s.holds.requestsPerSecond.ratio.rounds).toEqual([0.9, 0.8, 0.9]);
    expect(s.holds.requestsPerSecond.ratio.median).toBe(0.9);
    expect(s.holds.requestsPerSecond.off.median).toBe(800);
    expect(s.holds.serviceCpuMsPerRequest.ratio.rounds).toEqual([1.2, 1.5, 1.1]);
    expect(s.payments.requestsPerSecond.ratio.rounds).toEqual([0.9, 0.8, 0.9]);
    expect(s.payments.postgresCpuMsPerRequest.ratio.median).toBe(1);
  });
});
