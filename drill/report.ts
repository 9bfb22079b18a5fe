/**
 * The drill's report: one JSON-ready object (the timeline, the recovery figures, failures and
 * latency by phase, the invariants and the targets), the summary printed at the end, and the
 * files: drill.json, drill.md and timeline.svg.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lineChart } from '../harness/svg.js';
import type { Driven } from '../load/drive.js';
import type { SaleCounts, SaleInvariants } from '../load/invariants.js';
import type { MachineInfo } from '../load/machine.js';
import type { Verdict } from '../load/thresholds.js';
import type { SinkCheck, StreamOrder } from './checks.js';
import type { Observer } from './observe.js';
import type { DrillOptions } from './options.js';
import type { AlertSeen } from './prometheus.js';
import { renderDrillMarkdown } from './report-md.js';
import { lineDrain, outboxDrain } from './scenario-targets.js';
import type { DrillReport, TimelineEntry } from './report.types.js';
import { failed, type Analysis, type FaultWindow } from './timeline.js';

const sec = (ms: number | null) => (ms === null ? null : Math.round(ms / 10) / 100);

export function buildDrillReport(r: {
  options: DrillOptions;
  settings: Record<string, string>;
  saleStartMs: number;
  fault: FaultWindow;
  timeline: TimelineEntry[];
  analysis: Analysis;
  observer: Observer;
  alerts: { notEvaluated: string | undefined; seen: AlertSeen[] };
  verdicts: Verdict[];
  reported: Record<string, number>;
  checked: { invariants: SaleInvariants; counts: SaleCounts };
  doubleDebits: number;
  sink: SinkCheck | undefined;
  order: StreamOrder | undefined;
  driven: Driven;
  loadAverage: { before: number[]; after: number[] };
  machine: MachineInfo;
  requests: number;
  sheds: Record<string, number>;
}): DrillReport {
  const { analysis: a, fault, saleStartMs: t0, observer } = r;
  const at = (ms: number) => Math.round((ms - t0) / 100) / 10;
  const derived: TimelineEntry[] = [];
  const after = (base: number, ms: number | null, what: string) => ms !== null && derived.push({ atMs: base + ms, what });
  after(fault.startMs, a.readinessNoticedMs, 'readiness noticed: a /health/ready probe answered other than 200');
  after(fault.endMs, a.readinessBackMs, 'readiness back: every instance answers /health/ready 200');
  after(fault.endMs, a.firstSuccessMs, 'first successful request started after the return');
  after(fault.endMs, a.fullServiceMs, `full service again: every step that failed has succeeded since its last failure${a.lastStepBack ? ` (last back: ${a.lastStepBack})` : ''}`);
  for (const s of r.alerts.seen) derived.push({ atMs: s.atMs, what: `alert ${s.alert} ${s.state}${s.labels.instance ? ` (${s.labels.instance})` : ''}` });
  const timeline = [...r.timeline, ...derived].sort((x, y) => x.atMs - y.atMs).map((e) => ({ second: at(e.atMs), what: e.what }));

  const seconds = Math.ceil((Math.max(...observer.requests.map((q) => q.endMs), t0) - t0) / 1000) + 1;
  const okPerSecond = new Array<number>(seconds).fill(0);
  const failedPerSecond = new Array<number>(seconds).fill(0);
  for (const q of observer.requests) {
    const s = Math.max(0, Math.floor((q.endMs - t0) / 1000));
    if (s >= seconds) continue;
    if (failed(q)) failedPerSecond[s]!++;
    else okPerSecond[s]!++;
  }
  // Per second, the instances whose latest probe answered 200.
  const readyInstances = new Array<number>(seconds).fill(0);
  const latest = new Map<number, number>();
  const probes = [...observer.readiness].sort((x, y) => x.atMs - y.atMs);
  let p = 0;
  for (let s = 0; s < seconds; s++) {
    while (p < probes.length && probes[p]!.atMs < t0 + (s + 1) * 1000) latest.set(probes[p]!.instance, probes[p++]!.status);
    readyInstances[s] = [...latest.values()].filter((v) => v === 200).length;
  }
  const peakRssMb: Record<string, number> = {};
  for (const m of observer.memory) peakRssMb[`instance ${m.instance}`] = Math.max(peakRssMb[`instance ${m.instance}`] ?? 0, m.rssMb);
  const drain = outboxDrain({ observer, fault });
  const { scenario, ...settings } = r.options;
  const { sale, recorder } = r.driven;
  const verdictsOk = r.verdicts.every((v) => v.ok);
  return {
    at: new Date().toISOString(),
    scenario: scenario.name,
    fault: scenario.fault,
    passed: verdictsOk,
    settings,
    serviceSettings: r.settings,
    machine: r.machine,
    loadAverage: { before: r.loadAverage.before.map((v) => Math.round(v * 100) / 100), after: r.loadAverage.after.map((v) => Math.round(v * 100) / 100) },
    faultWindow: { startSecond: at(fault.startMs), endSecond: at(fault.endMs) },
    timeline,
    recovery: {
      readinessNoticedSeconds: sec(a.readinessNoticedMs),
      readinessBackSeconds: sec(a.readinessBackMs),
      firstSuccessSeconds: sec(a.firstSuccessMs),
      fullServiceSeconds: sec(a.fullServiceMs),
      lastStepBack: a.lastStepBack,
      stepsNeverBack: a.stepsNeverBack,
      failedAfterReturn: a.failedAfterReturn,
      alerts: r.alerts.seen.map((s) => ({ alert: s.alert, state: s.state, instance: s.labels.instance, afterFaultSeconds: sec(s.atMs - fault.startMs)! })),
      alertsNotEvaluated: r.alerts.notEvaluated,
    },
    requests: a.requests,
    failures: a.failures,
    refusals: a.refusals,
    fiveXx: a.fiveXx,
    latency: a.latency,
    verdicts: r.verdicts,
    invariants: r.checked.invariants,
    reportedInvariants: r.reported,
    counts: r.checked.counts,
    doubleDebits: r.doubleDebits,
    sink: r.sink,
    streamOrder: r.order,
    outbox: { peak: drain.peak, before: drain.before, drainedSeconds: sec(drain.drainedMs) },
    line: lineDrain({ sale }),
    peakRssMb,
    sheds: r.sheds,
    sale: { requests: recorder.requests, retries: recorder.retries, endings: sale.endings, failures: sale.failures, seconds: Math.round(r.driven.secondsWithGrace) },
    series: {
      okPerSecond,
      failedPerSecond,
      readyInstances,
      outboxUnsent: observer.outbox.map((o) => [at(o.atMs), o.unsent]),
      sinkDelivered: observer.extra.map((o) => [at(o.atMs), o.value]),
    },
  };
}

/** One SVG: requests succeeding and failing per second, instances ready, with the fault's window. */
export function timelineSvg(r: DrillReport): string {
  const perSecond = (v: number[]): [number, number][] => v.map((n, s) => [s, n]);
  const peak = Math.max(1, ...r.series.okPerSecond);
  const scale = peak / Math.max(1, r.series.readyInstances.reduce((m, v) => Math.max(m, v), 0));
  const { startSecond, endSecond } = r.faultWindow;
  return lineChart({
    title: `${r.scenario}: requests per second around the fault`,
    xLabel: 'seconds since the sale opened',
    yLabel: 'requests/s',
    markers: false,
    series: [
      { name: 'succeeded', points: perSecond(r.series.okPerSecond) },
      { name: 'failed', points: perSecond(r.series.failedPerSecond) },
      { name: `fault (${startSecond}–${endSecond} s)`, points: r.series.okPerSecond.map((_, s) => [s, s >= startSecond && s < endSecond ? peak : 0]) },
      { name: `instances ready (x${Math.round(scale)})`, points: r.series.readyInstances.map((n, s) => [s, n * scale]) },
    ],
  });
}

export function printDrill(r: DrillReport) {
  const rec = r.recovery;
  console.log(`\n${r.scenario}: fault ${r.faultWindow.startSecond}–${r.faultWindow.endSecond} s; readiness noticed +${rec.readinessNoticedSeconds ?? '–'} s; ` +
    `after the return: first success +${rec.firstSuccessSeconds ?? '–'} s, readiness +${rec.readinessBackSeconds ?? '–'} s, full service +${rec.fullServiceSeconds ?? '–'} s`);
  console.log(`failures during: ${JSON.stringify(r.failures.during)}; after: ${JSON.stringify(r.failures.after)}`);
  for (const v of r.verdicts) console.log(`${v.ok ? 'ok  ' : 'MISS'} ${v.name}: ${v.observed} (target ${v.limit})`);
  console.log(r.passed ? '\nPASSED' : `\nFAILED: ${r.verdicts.filter((v) => !v.ok).map((v) => v.name).join('; ')}`);
}

export function writeDrill(dir: string, r: DrillReport) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'drill.json'), `${JSON.stringify(r, null, 1)}\n`);
  writeFileSync(join(dir, 'timeline.svg'), timelineSvg(r));
  writeFileSync(join(dir, 'drill.md'), renderDrillMarkdown(r));
  console.log(`report written to ${join(dir, 'drill.md')}`);
}
