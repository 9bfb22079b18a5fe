/** The report's SVG charts, drawn with the lab's chart code (harness/svg.ts). */
import { barChart, lineChart } from '../harness/svg.js';
import type { LoadReport } from './report.types.js';

const perSecond = (values: number[]): [number, number][] => values.map((v, s) => [s, v]);

/** The steps drawn in the over-time charts: those with requests, the busiest first. */
function busySteps(report: LoadReport): string[] {
  return Object.entries(report.steps)
    .sort((a, b) => b[1].count - a[1].count)
    .map(([step]) => step);
}

function latencyOverTime(report: LoadReport, q: 'p50' | 'p95' | 'p99'): string {
  return lineChart({
    title: `${q} latency per step over time`,
    xLabel: 'seconds since the sale opened (5 s windows)',
    yLabel: `${q} (ms)`,
    markers: false,
    logY: true,
    series: busySteps(report).map((step) => ({
      name: step,
      points: report.series.windows.flatMap((w) => (w.steps[step] ? [[w.startSecond, w.steps[step][q]] as [number, number]] : [])),
    })),
  });
}

/** name → SVG text. */
export function charts(report: LoadReport): Record<string, string> {
  const { series } = report;
  const out: Record<string, string> = {};
  out.timeline = lineChart({
    title: 'Users over time',
    xLabel: 'seconds since the sale opened',
    yLabel: 'users',
    markers: false,
    series: (['arrived', 'waiting', 'active', 'done'] as const).map((k) => ({
      name: k === 'waiting' ? 'in line' : k,
      points: series.timeline.map((p) => [p.second, p[k]] as [number, number]),
    })),
  });
  out.throughput = lineChart({
    title: 'Requests per second',
    xLabel: 'seconds since the sale opened',
    yLabel: 'requests/s',
    markers: false,
    series: [
      { name: 'all', points: perSecond(series.requestsPerSecond) },
      ...busySteps(report).slice(0, 6).map((step) => ({ name: step, points: perSecond(series.requestsPerSecondByStep.map((b) => b[step] ?? 0)) })),
    ],
  });
  out['latency-p50'] = latencyOverTime(report, 'p50');
  out['latency-p95'] = latencyOverTime(report, 'p95');
  out['latency-p99'] = latencyOverTime(report, 'p99');
  const steps = busySteps(report);
  out['latency-steps'] = barChart({
    title: 'Latency per step over the whole run',
    yLabel: 'ms',
    logY: true,
    categories: steps,
    series: (['p50', 'p95', 'p99'] as const).map((q) => ({ name: q, values: steps.map((s) => report.steps[s]![q]) })),
  });
  const inLine = series.timeInLineSeconds;
  // At most ~200 points of the cumulative distribution (every k-th user, and the last).
  const stride = Math.max(1, Math.ceil(inLine.length / 200));
  const cdf = inLine.flatMap((s, i) => (i % stride === 0 || i === inLine.length - 1 ? [[s, (i + 1) / inLine.length] as [number, number]] : []));
  out['time-in-line'] = lineChart({
    title: `Time in line (${inLine.length} admitted users)`,
    xLabel: 'seconds from joining to admission',
    yLabel: 'share of admitted users (cumulative)',
    yDomain: [0, 1],
    markers: false,
    series: [{ name: 'admitted within', points: cdf }],
  });
  out.sales = lineChart({
    title: `Seats sold (${report.seats} on sale) and admissions`,
    xLabel: 'seconds since the sale opened',
    yLabel: 'seats / users',
    markers: false,
    series: [
      { name: 'seats sold', points: perSecond(series.seatsSold) },
      { name: 'admissions/s', points: perSecond(series.admissionsPerSecond) },
    ],
  });
  // Each status and code per second, the most frequent first (at most 8 lines).
  const codes = Object.entries(
    series.errorsPerSecond.reduce<Record<string, number>>((all, b) => {
      for (const [code, n] of Object.entries(b)) all[code] = (all[code] ?? 0) + n;
      return all;
    }, {}),
  ).sort((a, b) => b[1] - a[1]).slice(0, 8).map(([code]) => code);
  if (codes.length > 0) {
    out['errors-over-time'] = lineChart({
      title: 'Non-2xx answers per second, by status and code',
      xLabel: 'seconds since the sale opened',
      yLabel: 'answers/s',
      markers: false,
      series: codes.map((code) => ({ name: code, points: perSecond(series.errorsPerSecond.map((b) => b[code] ?? 0)) })),
    });
  }
  const errors = report.errors.slice(0, 12);
  if (errors.length > 0) {
    out.errors = barChart({
      title: 'Refusals and errors by step and code',
      yLabel: 'answers',
      logY: true,
      valueLabels: true,
      categories: errors.map((e) => `${e.step} ${e.status || ''} ${e.code}`.replace(/\s+/g, ' ')),
      series: [
        { name: 'expected', values: errors.map((e) => (e.outcome === 'expected' ? e.count : null)) },
        { name: 'unexpected', values: errors.map((e) => (e.outcome === 'unexpected' ? e.count : null)) },
      ],
      width: Math.max(760, errors.length * 120),
    });
  }
  return out;
}
