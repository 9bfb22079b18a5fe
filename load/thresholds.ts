/**
 * Thresholds in the manner of k6: each is a named limit on one figure of the run; a run that misses
 * any exits non-zero and names it.
 */

/** Latency limits in ms: one for every step, and any step's own. */
export interface LatencyLimit {
  all: number | undefined;
  steps: Record<string, number>;
}

export interface Thresholds {
  p95: LatencyLimit;
  p99: LatencyLimit;
  latency: boolean;
  maxUnexpectedRate: number;
  max5xx: number;
  /** Users who did not finish their journey (failed, cut off, never arrived) allowed. */
  maxUnfinished: number;
}

/** Parses `100` (every step) or `hold=300,pay=300` or both (`100,hold=300`). */
export function parseLatencyLimit(flag: string, text: string | undefined): LatencyLimit {
  const limit: LatencyLimit = { all: undefined, steps: {} };
  for (const part of (text ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    const [step, ms] = part.includes('=') ? part.split('=', 2) as [string, string] : [undefined, part];
    const n = Number(ms);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${flag}: '${part}' is not MS or STEP=MS with MS > 0`);
    if (step === undefined) limit.all = n;
    else limit.steps[step.trim()] = n;
  }
  return limit;
}

export function parseThresholds(o: {
  p95: string | undefined;
  p99: string | undefined;
  latency: boolean;
  maxUnexpectedRate: number;
  max5xx: number;
  maxUnfinished: number;
}): Thresholds {
  return {
    p95: parseLatencyLimit('p95', o.p95),
    p99: parseLatencyLimit('p99', o.p99),
    latency: o.latency,
    maxUnexpectedRate: o.maxUnexpectedRate,
    max5xx: o.max5xx,
    maxUnfinished: o.maxUnfinished,
  };
}

/** The figures thresholds are checked against. */
export interface Observed {
  requests: number;
  status5xx: number;
  /**
   * Of the 5xx, answers the server shed (503 with Retry-After while overloaded). They count as 5xx:
   * a user turned away is not served, however politely; the verdict says how many they were.
   */
  shed?: number;
  unexpected: number;
  /** Users whose journey failed, was cut off at the deadline, or who never arrived. */
  unfinished: { failed: number; cutOff: number; notArrived: number };
  /** Per step: p95 and p99 in ms. */
  steps: Record<string, { p95: number; p99: number }>;
}

export interface Verdict {
  name: string;
  limit: string;
  observed: string;
  ok: boolean;
  /** Not judged, by request (invariants with --no-invariants): shown as "not checked". */
  skipped?: boolean;
}

const limitOf = (limit: LatencyLimit, step: string) => limit.steps[step] ?? limit.all;

/** Every threshold with what was observed and whether it holds. */
export function evaluateThresholds(t: Thresholds, o: Observed): Verdict[] {
  const rate = o.requests === 0 ? 0 : o.unexpected / o.requests;
  const u = o.unfinished;
  const unfinished = u.failed + u.cutOff + u.notArrived;
  const verdicts: Verdict[] = [
    {
      name: 'unfinished users',
      limit: `<= ${t.maxUnfinished}`,
      observed: `${unfinished} (failed ${u.failed}, cut off ${u.cutOff}, never arrived ${u.notArrived})`,
      ok: unfinished <= t.maxUnfinished,
    },
    {
      name: '5xx answers',
      limit: `<= ${t.max5xx}`,
      observed: o.shed ? `${o.status5xx} (${o.shed} shed: 503 with Retry-After)` : String(o.status5xx),
      ok: o.status5xx <= t.max5xx,
    },
    {
      name: 'unexpected errors',
      limit: `< ${(t.maxUnexpectedRate * 100).toFixed(2)}%`,
      observed: `${(rate * 100).toFixed(3)}% (${o.unexpected} of ${o.requests})`,
      ok: o.unexpected === 0 || rate < t.maxUnexpectedRate,
    },
  ];
  if (!t.latency) return verdicts;
  for (const [step, figures] of Object.entries(o.steps)) {
    for (const q of ['p95', 'p99'] as const) {
      const limit = limitOf(t[q], step);
      if (limit === undefined) continue;
      verdicts.push({ name: `${step} ${q}`, limit: `<= ${limit} ms`, observed: `${figures[q]} ms`, ok: figures[q] <= limit });
    }
  }
  return verdicts;
}
