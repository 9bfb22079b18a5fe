/**
 * What the virtual users observed, as it happened: a latency histogram per step (HdrHistogram, in
 * microseconds), requests and errors per second, per-step percentiles per window of seconds, and
 * the counts the thresholds are checked against.
 */
import * as hdr from 'hdr-histogram-js';

/** ok: the step did what it asked; expected: a designed refusal (SEAT_UNAVAILABLE, ...); unexpected: anything else. */
export type Outcome = 'ok' | 'expected' | 'unexpected';

/** Width of the windows the per-step percentiles over time are computed on. */
export const WINDOW_SECONDS = 5;

export interface SecondBucket {
  requests: number;
  byStep: Record<string, number>;
  /** `status CODE` → count, refusals and failures alike. */
  errors: Record<string, number>;
}

export interface ErrorCount {
  step: string;
  status: number;
  code: string;
  outcome: Outcome;
  count: number;
}

export interface StepFigures {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

const newHistogram = (digits: 2 | 3) => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: digits });
const ms = (us: number) => Math.round(us / 10) / 100;

export class Recorder {
  readonly steps = new Map<string, hdr.Histogram>();
  readonly windows: Map<string, hdr.Histogram>[] = [];
  readonly seconds: SecondBucket[] = [];
  readonly errors = new Map<string, ErrorCount>();
  requests = 0;
  status5xx = 0;
  /** Of the 5xx: answers `503` the server marked `shed` (refused at the door while overloaded, with Retry-After; nothing done). */
  shed = 0;
  unexpected = 0;
  retries = 0;

  constructor(readonly startMs: number) {}

  /** The second since the start that `atMs` falls in. */
  secondOf(atMs: number): number {
    return Math.max(0, Math.floor((atMs - this.startMs) / 1000));
  }

  private bucket(second: number): SecondBucket {
    while (this.seconds.length <= second) this.seconds.push({ requests: 0, byStep: {}, errors: {} });
    return this.seconds[second]!;
  }

  /**
   * One request of `step` that ended at `endMs` after `durationMs`, with its status and problem
   * code; `shed`: the answer was a 503 the server marked shed.
   */
  record(step: string, endMs: number, durationMs: number, status: number, code: string | undefined, outcome: Outcome, shed = false) {
    const us = Math.max(1, Math.round(durationMs * 1000));
    let h = this.steps.get(step);
    if (!h) this.steps.set(step, (h = newHistogram(3)));
    h.recordValue(us);
    const second = this.secondOf(endMs);
    const w = Math.floor(second / WINDOW_SECONDS);
    while (this.windows.length <= w) this.windows.push(new Map());
    let wh = this.windows[w]!.get(step);
    if (!wh) this.windows[w]!.set(step, (wh = newHistogram(2)));
    wh.recordValue(us);
    const b = this.bucket(second);
    b.requests++;
    b.byStep[step] = (b.byStep[step] ?? 0) + 1;
    this.requests++;
    if (status >= 500) this.status5xx++;
    if (status === 503 && shed) this.shed++;
    if (outcome === 'unexpected') this.unexpected++;
    if (status >= 400 || status === 0) this.countError(b, step, status, code ?? (status === 0 ? 'NETWORK' : ''), outcome);
  }

  private countError(b: SecondBucket, step: string, status: number, code: string, outcome: Outcome) {
    const label = `${status || 'network'} ${code === 'NETWORK' ? '' : code}`.trim();
    b.errors[label] = (b.errors[label] ?? 0) + 1;
    const key = `${step} ${label} ${outcome}`;
    const e = this.errors.get(key) ?? { step, status, code, outcome, count: 0 };
    e.count++;
    this.errors.set(key, e);
  }

  /**
   * A journey ended on an answer the recorder counted as ok or expected (a line poll answered
   * EXPIRED, say): one more unexpected error, under `status CODE`.
   */
  recordFailure(step: string, endMs: number, status: number, code: string) {
    this.unexpected++;
    this.countError(this.bucket(this.secondOf(endMs)), step, status, code, 'unexpected');
  }

  /** Per step: count and p50/p95/p99/max/mean in ms. */
  stepFigures(): Record<string, StepFigures> {
    return Object.fromEntries(
      [...this.steps].map(([step, h]) => [
        step,
        {
          count: h.totalCount,
          p50: ms(h.getValueAtPercentile(50)),
          p95: ms(h.getValueAtPercentile(95)),
          p99: ms(h.getValueAtPercentile(99)),
          max: ms(h.maxValue),
          mean: ms(h.mean),
        },
      ]),
    );
  }

  /** Per window of WINDOW_SECONDS: each step's p50/p95/p99 in ms. */
  windowFigures(): { startSecond: number; steps: Record<string, { p50: number; p95: number; p99: number; count: number }> }[] {
    return this.windows.map((steps, w) => ({
      startSecond: w * WINDOW_SECONDS,
      steps: Object.fromEntries(
        [...steps].map(([step, h]) => [
          step,
          { count: h.totalCount, p50: ms(h.getValueAtPercentile(50)), p95: ms(h.getValueAtPercentile(95)), p99: ms(h.getValueAtPercentile(99)) },
        ]),
      ),
    }));
  }
}
