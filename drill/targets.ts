/**
 * A drill's targets, with no I/O: recovery within the limit once the dependency is back, nothing
 * committed lost, no double debit, no seat sold twice, no 5xx but 503 UNAVAILABLE with Retry-After,
 * no process that needed a hand, the load test's invariants, and the scenario's own.
 */
import type { SaleInvariants } from '../load/invariants.js';
import type { Verdict } from '../load/thresholds.js';
import { bad5xx, type Analysis } from './timeline.js';

/** Full service again within this after the dependency is back. */
export const FULL_SERVICE_LIMIT_MS = 10_000;

/** Invariants a lost answer can explain (the user was not told; the database is still right): reported, not targets. */
export const AS_ANSWERED: (keyof SaleInvariants)[] = ['paidNotAsAnswered', 'topUpsNotAsAnswered', 'cancellationsNotRefunded'];
/** Invariants of event delivery: a target where the scenario says so, else reported. */
export const EVENTS: (keyof SaleInvariants)[] = ['outboxNotDrained', 'confirmationsNotConsumedOnce'];

export interface TargetInputs {
  analysis: Analysis;
  invariants: SaleInvariants | null;
  doubleDebits: number;
  /** Instances that exited without being killed on purpose, or were not serving at the end. */
  notRecovered: string[];
  /** Lines of the instances' output that report an unhandled rejection or an uncaught exception. */
  unhandled: number;
  /** Whether the events' invariants are targets here. */
  eventsAreTargets: boolean;
  /** The scenario's own verdicts. */
  extra: Verdict[];
}

const ms = (v: number | null) => (v === null ? 'never' : `${(v / 1000).toFixed(2)} s`);

export function evaluateTargets(t: TargetInputs): Verdict[] {
  const a = t.analysis;
  const verdicts: Verdict[] = [
    {
      name: 'full service again after the dependency is back',
      limit: `<= ${FULL_SERVICE_LIMIT_MS / 1000} s`,
      observed: a.fullServiceMs === null
        ? `never (${a.stepsNeverBack.length > 0 ? `no success since for: ${a.stepsNeverBack.join(', ')}` : 'no request after'})`
        : ms(a.fullServiceMs),
      ok: a.fullServiceMs !== null && a.fullServiceMs <= FULL_SERVICE_LIMIT_MS,
    },
    {
      name: '5xx other than 503 UNAVAILABLE with Retry-After',
      limit: '0',
      observed: String(bad5xx(a)) + (bad5xx(a) > 0 ? ` (${a.fiveXx.filter((e) => !(e.label === '503 UNAVAILABLE' && e.retryAfter)).map((e) => `${e.step} ${e.label}${e.retryAfter ? '' : ' without Retry-After'} x${e.count}`).join(', ')})` : ''),
      ok: bad5xx(a) === 0,
    },
    {
      name: 'processes that needed a hand (exited, or not serving at the end)',
      limit: 'none',
      observed: t.notRecovered.length === 0 ? 'none' : t.notRecovered.join('; '),
      ok: t.notRecovered.length === 0,
    },
    { name: 'unhandled rejections or uncaught exceptions logged', limit: '0', observed: String(t.unhandled), ok: t.unhandled === 0 },
    { name: 'double debits (a reservation with two PAYMENT entries)', limit: '0', observed: String(t.doubleDebits), ok: t.doubleDebits === 0 },
  ];
  const inv = t.invariants;
  if (!inv) {
    verdicts.push({ name: 'invariants', limit: 'checked in SQL', observed: 'not checked', ok: false });
    return [...verdicts, ...t.extra];
  }
  verdicts.push(
    { name: 'committed payments lost (answered 201, not in the database)', limit: '0', observed: String(inv.paymentsAnsweredButMissing), ok: inv.paymentsAnsweredButMissing === 0 },
    { name: 'seats sold twice', limit: '0', observed: String(inv.seatsSoldTwice), ok: inv.seatsSoldTwice === 0 },
  );
  const skip = new Set<keyof SaleInvariants>(['paymentsAnsweredButMissing', 'seatsSoldTwice', ...AS_ANSWERED, ...(t.eventsAreTargets ? [] : EVENTS)]);
  for (const [name, n] of Object.entries(inv) as [keyof SaleInvariants, number][]) {
    if (skip.has(name)) continue;
    verdicts.push({ name: `invariant ${name}`, limit: '0', observed: String(n), ok: n === 0 });
  }
  return [...verdicts, ...t.extra];
}

/** The invariants reported but not judged here, with their counts (lost answers; events where not a target). */
export function reportedInvariants(inv: SaleInvariants | null, eventsAreTargets: boolean): Record<string, number> {
  if (!inv) return {};
  const names = [...AS_ANSWERED, ...(eventsAreTargets ? [] : EVENTS)];
  return Object.fromEntries(names.map((n) => [n, inv[n]]));
}
