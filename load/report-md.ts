/** load.md: the run's report for people, with the charts beside it. */
import { fmt } from '../harness/format.js';
import type { LoadReport } from './report.types.js';

const table = (head: string[], rows: (string | number)[][]) =>
  [`| ${head.join(' | ')} |`, `| ${head.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

const CAPTIONS: Record<string, string> = {
  timeline: 'Users arrived, in line, admitted and booking (active), and done, second by second.',
  throughput: 'Requests per second, all and per step.',
  'latency-p50': 'Median latency per step, per 5-second window (log scale).',
  'latency-p95': 'p95 latency per step, per 5-second window (log scale).',
  'latency-p99': 'p99 latency per step, per 5-second window (log scale).',
  'latency-steps': 'p50, p95 and p99 per step over the whole run (log scale).',
  'time-in-line': 'How long admitted users waited in line: the share admitted within x seconds.',
  sales: 'Seats sold (paid minus refunded) and admissions per second.',
  errors: 'Every non-2xx answer by step and code: designed refusals (expected) and the rest.',
  'errors-over-time': 'Non-2xx answers per second by status and code (refusals and errors alike): when in the sale they came.',
};

export function renderMarkdown(r: LoadReport, chartNames: string[]): string {
  const s = r.settings as Record<string, unknown>;
  const m = r.machine;
  const lines: string[] = [];
  lines.push(`# Sale-day load test: ${fmt(Number(s.users))} users`, '');
  lines.push(`Run at ${r.at}: **${r.passed ? 'passed' : 'FAILED'}**. ${fmt(Number(s.users))} users arriving over ${s.arrivalSeconds} s for ${fmt(r.seats)} seats, seed ${s.seed}; ` +
    `${m.instances} instance(s), PostgreSQL ${m.postgres}, ${m.redis ? 'Redis' : 'no Redis (in-process stores)'}.`, '');
  lines.push('## Summary', '');
  lines.push(table(['figure', 'value'], [
    ['duration (until every user was done, or the deadline)', `${r.seconds} s`],
    ['requests', fmt(r.requests)],
    ['requests/s (mean, until the last request ended)', `${fmt(r.requestsPerSecond)} (over ${r.secondsWithGrace} s)`],
    ['peak requests/s (one second)', fmt(Math.max(0, ...r.series.requestsPerSecond))],
    ['retried requests', fmt(r.retries)],
    ['every seat sold (paid, not refunded)', r.sellOutSeconds === null ? 'never' : `${r.sellOutSeconds} s`],
    ['first user told sold out (by the seat maps or the line)', r.firstToldSoldOutSeconds === null ? 'never' : `${r.firstToldSoldOutSeconds} s`],
    ['time in line p50 / p95 / max', `${r.timeInLine.p50} / ${r.timeInLine.p95} / ${r.timeInLine.max} s (${fmt(r.timeInLine.users)} admitted, ${fmt(r.neverAdmitted)} never)`],
    ['endings', Object.entries(r.endings).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')],
    ['CPU: generator / service / PostgreSQL', `${r.cpu.generatorSeconds} / ${r.cpu.serviceSeconds ?? '–'} / ${r.cpu.postgresSeconds ?? '–'} s`],
    ['generator event-loop delay p50 / p99 / max', `${r.loopDelayMs.p50} / ${r.loopDelayMs.p99} / ${r.loopDelayMs.max} ms`],
    ['CPU per request: generator / service / PostgreSQL', [r.cpu.generatorSeconds, r.cpu.serviceSeconds, r.cpu.postgresSeconds].map((c) => (c === null ? '–' : (c * 1000 / Math.max(1, r.requests)).toFixed(2))).join(' / ') + ' ms'],
  ]), '');
  if (Object.keys(r.failures).length > 0) {
    lines.push('Journeys that stopped on an unexpected answer: ' + Object.entries(r.failures).map(([k, v]) => `\`${k}\` ${v}`).join(', ') + '.', '');
  }
  lines.push('## Latency per step (ms)', '');
  lines.push(table(['step', 'requests', 'p50', 'p95', 'p99', 'max'], Object.entries(r.steps).map(([k, f]) => [k, fmt(f.count), f.p50, f.p95, f.p99, f.max])), '');
  lines.push('## Thresholds', '');
  lines.push(table(['threshold', 'limit', 'observed', ''], r.verdicts.map((v) => [v.name, v.limit, v.observed, v.skipped ? 'not checked' : v.ok ? 'ok' : '**missed**'])), '');
  lines.push('## Invariants (SQL, after the sale)', '');
  if (r.invariants) {
    const rows: (string | number)[][] = Object.entries(r.invariants).map(([k, v]) => [k, v, v === 0 ? 'ok' : '**violated**']);
    rows.push(['abandoned holds paid after expiry (client side)', r.expiredHoldsPaid, r.expiredHoldsPaid === 0 ? 'ok' : '**violated**']);
    lines.push(table(['invariant', 'violations', ''], rows), '');
    const c = r.counts!;
    lines.push(`Seats sold ${fmt(c.seatsSold)}, confirmed reservations ${fmt(c.confirmedReservations)}, paid payments ${fmt(c.paidPayments)}, refunded ${fmt(c.refundedPayments)}, expired holds ${fmt(c.expiredReservations)}.`, '');
  } else {
    lines.push('**Not checked** (--no-invariants): nothing here says the sale kept them.', '');
  }
  lines.push('## Errors by step and code', '');
  lines.push(r.errors.length === 0 ? 'None.' : table(['step', 'status', 'code', 'kind', 'count'], r.errors.map((e) => [e.step, e.status || 'network', e.code, e.outcome, fmt(e.count)])), '');
  lines.push('## The server\'s counters (sum over instances, after − before)', '');
  lines.push(table(['counter', 'change'], Object.entries(r.funnel).map(([k, v]) => [`\`${k}\``, fmt(v)])), '');
  lines.push('## Charts', '');
  for (const name of chartNames) lines.push(`![${name}](${name}.svg)`, '', CAPTIONS[name] ?? '', '');
  lines.push('## Settings and machine', '');
  lines.push(table(['setting', 'value'], [
    ...Object.entries(s).filter(([k, v]) => v !== undefined && k !== 'thresholds').map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)]),
    ...Object.entries(r.serviceSettings).map(([k, v]) => [`service ${k}`, v]),
    ['machine', `${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB, ${m.os}, Node ${m.node}`],
  ]), '');
  return `${lines.join('\n')}\n`;
}
