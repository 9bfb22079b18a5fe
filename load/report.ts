/**
 * The run's report: every figure in one JSON-ready object, the summary printed at the end, and
 * with --out the files (load.json, load.md and the charts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { percentile } from '../harness/percentile.js';
import { charts } from './charts.js';
import type { SaleCounts, SaleInvariants } from './invariants.js';
import type { MachineInfo } from './machine.js';
import type { Options } from './options.js';
import { renderMarkdown } from './report-md.js';
import type { Recorder } from './recorder.js';
import type { Sale } from './sale.js';
import type { Samples } from './server-metrics.js';
import type { LoadReport } from './report.types.js';
import type { Verdict } from './thresholds.js';

const quantile = (sorted: number[], q: number) => (sorted.length === 0 ? 0 : percentile(sorted, q));
const round1 = (v: number) => Math.round(v * 10) / 10;

export function buildReport(r: {
  options: Options;
  seats: number;
  seconds: number;
  secondsWithGrace: number;
  sale: Sale;
  recorder: Recorder;
  verdicts: Verdict[];
  checked: { invariants: SaleInvariants; counts: SaleCounts } | undefined;
  funnel: Samples;
  cpu: LoadReport['cpu'];
  loopDelayMs: LoadReport['loopDelayMs'];
  serviceSettings: Record<string, string>;
  machine: MachineInfo;
}): LoadReport {
  const { options: o, sale, recorder } = r;
  const inLine = [...sale.timeInLineMs].sort((a, b) => a - b).map((ms) => ms / 1000);
  let sold = 0;
  const seatsSold = sale.salesPerSecond.map((n) => (sold += n));
  const violations = r.checked ? Object.values(r.checked.invariants).reduce((a, b) => a + b, 0) + sale.expiredHoldsPaid : 0;
  const { thresholds, ...settings } = o;
  return {
    at: new Date().toISOString(),
    passed: r.verdicts.every((v) => v.ok) && violations === 0,
    settings: { ...settings, thresholds, databaseUrl: undefined, redisUrl: undefined, adminToken: undefined },
    serviceSettings: r.serviceSettings,
    machine: r.machine,
    seconds: round1(r.seconds),
    secondsWithGrace: round1(r.secondsWithGrace),
    requests: recorder.requests,
    requestsPerSecond: Math.round(recorder.requests / r.secondsWithGrace),
    retries: recorder.retries,
    seats: r.seats,
    sellOutSeconds: sale.sellOutSecond(r.seats),
    firstToldSoldOutSeconds: sale.firstToldSoldOutSecond,
    endings: sale.endings,
    failures: sale.failures,
    steps: recorder.stepFigures(),
    verdicts: r.verdicts,
    invariants: r.checked?.invariants ?? null,
    counts: r.checked?.counts ?? null,
    expiredHoldsPaid: sale.expiredHoldsPaid,
    errors: [...recorder.errors.values()].sort((a, b) => b.count - a.count),
    funnel: r.funnel,
    cpu: {
      generatorSeconds: round1(r.cpu.generatorSeconds),
      serviceSeconds: r.cpu.serviceSeconds === null ? null : round1(r.cpu.serviceSeconds),
      postgresSeconds: r.cpu.postgresSeconds === null ? null : round1(r.cpu.postgresSeconds),
    },
    loopDelayMs: r.loopDelayMs,
    neverAdmitted: sale.joined - sale.timeInLineMs.length,
    timeInLine: {
      users: inLine.length,
      p50: round1(quantile(inLine, 0.5)),
      p95: round1(quantile(inLine, 0.95)),
      p99: round1(quantile(inLine, 0.99)),
      max: round1(inLine[inLine.length - 1] ?? 0),
    },
    series: {
      timeline: sale.timeline,
      requestsPerSecond: recorder.seconds.map((b) => b.requests),
      requestsPerSecondByStep: recorder.seconds.map((b) => b.byStep),
      errorsPerSecond: recorder.seconds.map((b) => b.errors),
      admissionsPerSecond: sale.admissionsPerSecond,
      seatsSold,
      windows: recorder.windowFigures(),
      timeInLineSeconds: inLine.map(round1),
    },
  };
}

/** Prints the per-step table, the thresholds and the invariants. */
export function printSummary(report: LoadReport) {
  console.log(`\n${report.requests} requests in ${report.secondsWithGrace} s (${report.requestsPerSecond} req/s), ${report.retries} retries`);
  console.log(`endings: ${JSON.stringify(report.endings)}; ${report.neverAdmitted} never admitted; every seat sold after ${report.sellOutSeconds ?? '–'} s`);
  console.log('step        count      p50 ms   p95 ms   p99 ms   max ms');
  for (const [step, f] of Object.entries(report.steps)) {
    console.log(`${step.padEnd(10)} ${String(f.count).padStart(7)} ${[f.p50, f.p95, f.p99, f.max].map((v) => String(v).padStart(8)).join(' ')}`);
  }
  for (const v of report.verdicts) console.log(`${v.skipped ? 'SKIP' : v.ok ? 'ok  ' : 'MISS'} ${v.name}: ${v.observed} (limit ${v.limit})`);
  if (report.invariants) {
    for (const [name, n] of Object.entries(report.invariants)) console.log(`${n === 0 ? 'ok  ' : 'FAIL'} invariant ${name}: ${n}`);
  }
  if (report.expiredHoldsPaid > 0) console.log(`FAIL ${report.expiredHoldsPaid} abandoned holds were paid after they expired`);
  console.log(report.passed ? '\nPASSED' : '\nFAILED');
}

/** Writes load.json, load.md and the SVG charts into `dir`. */
export function writeReport(dir: string, report: LoadReport) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'load.json'), `${JSON.stringify(report, null, 1)}\n`);
  const svgs = charts(report);
  for (const [name, svg] of Object.entries(svgs)) writeFileSync(join(dir, `${name}.svg`), svg);
  writeFileSync(join(dir, 'load.md'), renderMarkdown(report, Object.keys(svgs)));
  console.log(`report written to ${join(dir, 'load.md')}`);
}
