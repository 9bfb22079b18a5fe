/** drill.md: the drill's report for people, with the timeline chart beside it. */
import { fmt } from '../harness/format.js';
import type { DrillReport } from './report.types.js';
import { PHASES } from './timeline.js';

/** A Markdown table; `right` lists the columns aligned right (numbers). */
const table = (head: string[], rows: (string | number)[][], right: number[] = []) =>
  [`| ${head.join(' | ')} |`, `| ${head.map((_, i) => (right.includes(i) ? '---:' : '---')).join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
const signed = (v: number) => (v < 0 ? `${-v} s before it` : `+${v} s`);
const s = (v: number | null) => (v === null ? 'never' : `${v} s`);
const codes = (c: Record<string, number>) => (Object.keys(c).length === 0 ? 'none' : Object.entries(c).sort((a, b) => b[1] - a[1]).map(([k, v]) => `\`${k}\` ${fmt(v)}`).join(', '));

/** Why an invariant is reported rather than judged. */
const WHY: Record<string, string> = {
  paidNotAsAnswered: 'a payment that committed while its answer was lost (a killed instance, a dropped connection) is PAID without a 201 the user saw',
  topUpsNotAsAnswered: 'likewise a top-up whose answer was lost',
  cancellationsNotRefunded: 'likewise a cancellation whose answer was lost',
  outboxNotDrained: 'events still unsent at the end (a target only where events are the point of the drill)',
  confirmationsNotConsumedOnce: 'confirmations the rankings consumer did not apply exactly once (a target only where events are the point of the drill)',
};

export function renderDrillMarkdown(r: DrillReport): string {
  const st = r.settings as Record<string, unknown>;
  const m = r.machine;
  const rec = r.recovery;
  const out: string[] = [];
  out.push(`# Failure drill: ${r.scenario}`, '');
  out.push(`Run at ${r.at}: **${r.passed ? 'every target met' : 'MISSED: ' + r.verdicts.filter((v) => !v.ok).map((v) => v.name).join('; ')}**.`, '');
  out.push(`**The fault.** ${r.fault}. It started ${r.faultWindow.startSecond} s into the sale and the dependency was back at ${r.faultWindow.endSecond} s (${st.faultSeconds} s of fault time). ` +
    `${fmt(Number(st.users))} users arrived over ${st.arrivalSeconds} s; ${m.instances} instances on a PostgreSQL ${m.postgres}${m.redis ? ' and a redis-server' : ''} of the drill's own.`, '');
  out.push(`**The machine is shared** (${m.cores} cores, other work running): load average ${r.loadAverage.before.join(' / ')} before the sale and ` +
    `${r.loadAverage.after.join(' / ')} after (1, 5, 15 min). Latencies are noisy; the recovery times are what this report is for.`, '');
  out.push('## Recovery', '');
  out.push(table(['measure', 'value'], [
    ['readiness noticed the fault (first /health/ready not 200, probes every 250 ms)', rec.readinessNoticedSeconds === null ? 'never' : `+${rec.readinessNoticedSeconds} s after it started`],
    ['first successful request after the dependency was back', s(rec.firstSuccessSeconds)],
    ['every instance ready again', s(rec.readinessBackSeconds)],
    ['**full service again** (every step that failed has succeeded since its last failure)', `**${s(rec.fullServiceSeconds)}**${rec.lastStepBack ? ` (last back: ${rec.lastStepBack})` : ''}`],
    ['failed requests started after the return', codes(rec.failedAfterReturn)],
    ['alerts (Prometheus, rules of ops/, 1 s scrapes and evaluation)', rec.alertsNotEvaluated ? `not evaluated: ${rec.alertsNotEvaluated}` : rec.alerts.length === 0 ? 'none went pending' : rec.alerts.map((a) => `${a.alert} ${a.state} ${signed(a.afterFaultSeconds)}${a.instance ? ` (${a.instance})` : ''}`).join('; ')],
  ]), '');
  out.push('![timeline](timeline.svg)', '', 'Requests that succeeded and failed per second, the fault\'s window, and how many instances answered readiness 200.', '');
  out.push('## Timeline (seconds since the sale opened)', '');
  out.push(table(['s', 'what'], r.timeline.map((e) => [e.second, e.what]), [0]), '');
  out.push('## Targets', '');
  out.push(table(['target', 'limit', 'observed', ''], r.verdicts.map((v) => [v.name, v.limit, v.observed, v.ok ? 'ok' : '**missed**'])), '');
  out.push('## Requests and failures by phase', '');
  out.push('Before the fault, during it (started while broken), and after the dependency was back. Failures are answers the users did not expect (designed refusals such as `SEAT_UNAVAILABLE` left out), by status and problem code; `network` is no HTTP answer.', '');
  out.push(table(['phase', 'requests', 'failed, by status and code', 'designed refusals'], PHASES.map((p) => [p, fmt(r.requests[p]), codes(r.failures[p]), codes(r.refusals?.[p] ?? {})]), [1]), '');
  out.push(r.fiveXx.length === 0 ? 'No 5xx answer.' : `5xx answers: ${r.fiveXx.map((e) => `${e.step} \`${e.label}\` ${fmt(e.count)} ${e.retryAfter ? 'with' : '**without**'} Retry-After`).join(', ')}.`, '');
  out.push(`Journeys: ${Object.entries(r.sale.endings).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}; ${fmt(r.sale.requests)} requests, ${fmt(r.sale.retries)} retried. ` +
    (Object.keys(r.sale.failures).length > 0 ? `Journeys that stopped on an answer: ${codes(r.sale.failures)}.` : ''), '');
  out.push('## Latency per step and phase (ms, p50 / p95 / p99, requests)', '');
  out.push(table(['step', ...PHASES], Object.entries(r.latency).map(([step, ph]) => [step, ...PHASES.map((p) => {
    const f = ph[p];
    return f ? `${f.p50} / ${f.p95} / ${f.p99} (${fmt(f.count)})` : '–';
  })])), '');
  out.push('## Invariants (SQL, after the sale)', '');
  out.push(table(['invariant', 'violations'], Object.entries(r.invariants).map(([k, v]) => [k, v]), [1]), '');
  const reported = Object.entries(r.reportedInvariants).filter(([, v]) => v > 0);
  if (reported.length > 0) out.push('Reported, not a target of this drill: ' + reported.map(([k, v]) => `\`${k}\` ${v} (${WHY[k] ?? ''})`).join('; ') + '.', '');
  const c = r.counts;
  out.push(`Seats sold ${fmt(c.seatsSold)}, confirmed reservations ${fmt(c.confirmedReservations)}, paid ${fmt(c.paidPayments)}, refunded ${fmt(c.refundedPayments)}, expired holds ${fmt(c.expiredReservations)}; double debits ${r.doubleDebits}.`, '');
  out.push('## Events, memory, the line', '');
  const rows: (string | number)[][] = [
    ['outbox unsent: most before the fault / peak from it on / drained after the return', `${r.outbox.before} / ${r.outbox.peak} / ${s(r.outbox.drainedSeconds)}`],
    ['waiting line: peak (at) / empty again at', `${r.line.peak} (${r.line.peakSecond} s) / ${r.line.drainedSecond === null ? 'never' : `${r.line.drainedSecond} s`}`],
    ['peak RSS per instance', Object.entries(r.peakRssMb).map(([k, v]) => `${k} ${v} MB`).join(', ')],
    ['requests shed (`503`, `shed: true`) by reason and route, as the instances counted them', shedList(r.sheds)],
  ];
  if (r.sink) rows.push(['data platform: confirmations / delivered / missing / ids received twice / answered 500 / left hanging', [r.sink.confirmations, r.sink.delivered, r.sink.missing, r.sink.duplicatedIds, r.sink.refused, r.sink.hung].join(' / ')]);
  if (r.streamOrder) rows.push(['event stream entries / adjacent pairs out of commit order / out of order within their aggregate', `${r.streamOrder.entries} / ${r.streamOrder.inversions} / ${r.streamOrder.aggregateInversions ?? '–'}`]);
  out.push(table(['figure', 'value'], rows), '');
  out.push('## Settings and machine', '');
  out.push(table(['setting', 'value'], [
    ...Object.entries(st).map(([k, v]) => [k, String(v)]),
    ...Object.entries(r.serviceSettings).map(([k, v]) => [`service ${k}`, v]),
    ['machine', `${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB, ${m.os}, Node ${m.node}`],
  ]), '');
  return `${out.join('\n')}\n`;
}

/** `reason method route` counts, the most first, with their total; `none` when nothing was shed. */
function shedList(sheds: Record<string, number>): string {
  const entries = Object.entries(sheds).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return 'none';
  return `${entries.reduce((n, [, v]) => n + v, 0)}: ${entries.map(([k, v]) => `\`${k}\` ${v}`).join(', ')}`;
}
