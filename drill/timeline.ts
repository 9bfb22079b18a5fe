/**
 * What a drill's records say, with no I/O: every request the users made (when it started and
 * ended, its status and problem code), every readiness probe, and the fault's window, turned into
 * the recovery figures (readiness noticed, first success after, full service again), the failures
 * by phase and the latency of each step before, during and after the fault.
 */
import { percentile } from '../harness/percentile.js';
import type { Outcome } from '../load/recorder.js';

export interface RequestRecord {
  step: string;
  startMs: number;
  endMs: number;
  /** 0: no HTTP answer (refused, reset, timed out). */
  status: number;
  code: string | undefined;
  retryAfter: boolean;
  outcome: Outcome;
}

export interface ReadinessSample {
  atMs: number;
  instance: number;
  /** 0: no HTTP answer. */
  status: number;
}

/** When the fault began and when the broken dependency was back (accepting connections again). */
export interface FaultWindow {
  startMs: number;
  endMs: number;
}

/**
 * Failures started this long after the return still count against recovery; later ones are listed
 * (failedAfterReturn) but are another matter than the fault (a keep-alive connection the server
 * closed as the client reused it, say).
 */
export const RECOVERY_WINDOW_MS = 60_000;

export type Phase = 'before' | 'during' | 'after';
export const PHASES: Phase[] = ['before', 'during', 'after'];

export interface LatencyFigures {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface Analysis {
  /** ms from the fault's start to the first readiness probe that was not 200; null if none. */
  readinessNoticedMs: number | null;
  /** ms from the dependency's return until every instance's readiness answered 200 again; null if never. */
  readinessBackMs: number | null;
  /** ms from the dependency's return to the end of the first successful request started after it. */
  firstSuccessMs: number | null;
  /**
   * ms from the dependency's return until every step that failed from the fault's start on (up to
   * RECOVERY_WINDOW_MS after the return) had succeeded again after its last failure (0: no step
   * failed; null: some step never did).
   */
  fullServiceMs: number | null;
  /** The step whose return set fullServiceMs (the last to succeed again), if any failed. */
  lastStepBack: string | undefined;
  /** Steps with no success after their last failure (why fullServiceMs is null). */
  stepsNeverBack: string[];
  /** Failed requests started after the return (they set fullServiceMs): `step status CODE` → count. */
  failedAfterReturn: Record<string, number>;
  /** Requests per phase, and failures per phase by `status CODE` (designed refusals left out). */
  requests: Record<Phase, number>;
  failures: Record<Phase, Record<string, number>>;
  /** Designed refusals per phase by `status CODE` (SEAT_UNAVAILABLE; IDEMPOTENCY_KEY_IN_USE on a retry, ...). */
  refusals: Record<Phase, Record<string, number>>;
  /** Every 5xx by step, `status CODE` and whether it carried Retry-After. */
  fiveXx: { step: string; label: string; retryAfter: boolean; count: number }[];
  /** Per step, the latency of its requests in each phase (ms). */
  latency: Record<string, Partial<Record<Phase, LatencyFigures>>>;
}

/** A failed request: no answer, a 5xx, or an answer the journey did not expect. */
export const failed = (r: RequestRecord) => r.outcome === 'unexpected' || r.status === 0 || r.status >= 500;

export const phaseOf = (atMs: number, fault: FaultWindow): Phase => (atMs < fault.startMs ? 'before' : atMs < fault.endMs ? 'during' : 'after');

const label = (r: RequestRecord) => `${r.status || 'network'} ${r.code ?? ''}`.trim();

function figures(durations: number[]): LatencyFigures {
  const sorted = [...durations].sort((a, b) => a - b);
  const q = (p: number) => Math.round(percentile(sorted, p) * 10) / 10;
  return { count: sorted.length, p50: q(0.5), p95: q(0.95), p99: q(0.99), max: Math.round(sorted[sorted.length - 1]! * 10) / 10 };
}

/** When every instance's latest probe answered 200 again, at or after `fromMs`. */
function allReadyAt(samples: ReadinessSample[], fromMs: number): number | null {
  const latest = new Map<number, number>();
  const sorted = [...samples].sort((a, b) => a.atMs - b.atMs);
  for (const s of sorted) {
    latest.set(s.instance, s.status);
    if (s.atMs >= fromMs && [...latest.values()].every((status) => status === 200)) return s.atMs;
  }
  return null;
}

export function analyse(records: RequestRecord[], readiness: ReadinessSample[], fault: FaultWindow): Analysis {
  const noticed = readiness.filter((s) => s.atMs >= fault.startMs && s.status !== 200).reduce<number | null>((m, s) => (m === null || s.atMs < m ? s.atMs : m), null);
  const readyAt = allReadyAt(readiness, fault.endMs);

  const after = records.filter((r) => r.startMs >= fault.endMs);
  const firstSuccess = after.filter((r) => !failed(r)).reduce<number | null>((m, r) => (m === null || r.endMs < m ? r.endMs : m), null);
  const failedAfterReturn: Record<string, number> = {};
  for (const r of after.filter(failed)) failedAfterReturn[`${r.step} ${label(r)}`] = (failedAfterReturn[`${r.step} ${label(r)}`] ?? 0) + 1;
  // A step is back once a request of it, started after the return and after its last failure,
  // succeeded: the step was broken by the fault (or after) and serves again. Full service: every
  // step that failed from the fault's start on is back.
  const lastFailure = new Map<string, number>();
  const counted = (r: RequestRecord) => r.endMs >= fault.startMs && r.startMs < fault.endMs + RECOVERY_WINDOW_MS && failed(r);
  for (const r of records) if (counted(r)) lastFailure.set(r.step, Math.max(lastFailure.get(r.step) ?? 0, r.startMs));
  const stepsNeverBack: string[] = [];
  let fullService: number | null = fault.endMs;
  let lastStepBack: string | undefined;
  for (const [step, last] of lastFailure) {
    const since = Math.max(last + 1, fault.endMs);
    const back = after.filter((r) => r.step === step && r.startMs >= since && !failed(r)).reduce((m, r) => Math.min(m, r.endMs), Infinity);
    if (back === Infinity) stepsNeverBack.push(step);
    else if (fullService !== null && back > fullService) {
      fullService = back;
      lastStepBack = step;
    }
  }
  stepsNeverBack.sort();
  if (stepsNeverBack.length > 0) fullService = null;

  const requests: Record<Phase, number> = { before: 0, during: 0, after: 0 };
  const failures: Record<Phase, Record<string, number>> = { before: {}, during: {}, after: {} };
  const refusals: Record<Phase, Record<string, number>> = { before: {}, during: {}, after: {} };
  const fiveXx = new Map<string, Analysis['fiveXx'][number]>();
  const durations = new Map<string, Record<Phase, number[]>>();
  for (const r of records) {
    const phase = phaseOf(r.startMs, fault);
    requests[phase]++;
    const counts = r.outcome === 'unexpected' ? failures : r.outcome === 'expected' ? refusals : undefined;
    if (counts) counts[phase][label(r)] = (counts[phase][label(r)] ?? 0) + 1;
    if (r.status >= 500) {
      const key = `${r.step} ${label(r)} ${r.retryAfter}`;
      const e = fiveXx.get(key) ?? { step: r.step, label: label(r), retryAfter: r.retryAfter, count: 0 };
      e.count++;
      fiveXx.set(key, e);
    }
    if (r.status === 0) continue; // no answer: no latency of the server's to speak of
    let d = durations.get(r.step);
    if (!d) durations.set(r.step, (d = { before: [], during: [], after: [] }));
    d[phase].push(r.endMs - r.startMs);
  }
  const latency: Analysis['latency'] = {};
  for (const [step, d] of durations) {
    latency[step] = {};
    for (const p of PHASES) if (d[p].length > 0) latency[step][p] = figures(d[p]);
  }
  const since = (at: number | null, from: number) => (at === null ? null : Math.max(0, at - from));
  return {
    readinessNoticedMs: since(noticed, fault.startMs),
    readinessBackMs: since(readyAt, fault.endMs),
    firstSuccessMs: since(firstSuccess, fault.endMs),
    fullServiceMs: since(fullService, fault.endMs),
    lastStepBack,
    stepsNeverBack,
    failedAfterReturn,
    requests,
    failures,
    refusals,
    fiveXx: [...fiveXx.values()].sort((a, b) => b.count - a.count),
    latency,
  };
}

/** 5xx answers that are not 503 UNAVAILABLE with Retry-After: each is a broken promise. */
export function bad5xx(a: Analysis): number {
  return a.fiveXx.filter((e) => !(e.label === '503 UNAVAILABLE' && e.retryAfter)).reduce((n, e) => n + e.count, 0);
}
