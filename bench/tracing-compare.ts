/**
 * `npm run bench -- --tracing-compare 0.1 --rounds 6`: what tracing at a sampling ratio costs,
 * measured so that the machine's drift cannot pass for it. Each round starts one instance with
 * tracing off and one traced at the ratio (exporting to a local sink), one after the other on the
 * same database, each on a fresh concert: holds spread over its seats for the run's duration, then
 * the payment of every hold made. Rounds alternate which setting goes first. A round gives the
 * traced instance's throughput and service CPU per request as ratios to the untraced one's in the
 * same minute; the summary is the median of each ratio over the rounds and its spread. Each run
 * ends when its instance's outbox is drained, so none inherits another's events.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { countViolations, type Invariants } from '../harness/invariants.js';
import { percentile } from '../harness/percentile.js';
import type { Fixtures } from './fixtures.js';
import type { Measure, Measured } from './measure.js';
import { reportingSink, tracedEnv } from './otlp-sink.js';
import { ADMIN_TOKEN, type Processes } from './processes.js';
import { spreadHolds, type Held } from './scenarios/holds.js';
import { payOn } from './scenarios/payments.js';

/** Seats per run: 40 schedules of 1,000, more holds than a few seconds at full speed make here. */
const SCHEDULES_PER_RUN = 40;

export interface CompareRun {
  round: number;
  setting: 'off' | 'traced';
  holds: Measured;
  payments: Measured;
}

/** One figure's traced/off ratio over the rounds: median, middle half and extremes (nearest rank). */
export interface Spread {
  median: number;
  q1: number;
  q3: number;
  min: number;
  max: number;
  rounds: number[];
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** The median (mean of the middle two for an even count), quartiles and extremes of `values`. */
export function spreadOf(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const median = n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
  return {
    median: round3(median),
    q1: round3(percentile(sorted, 0.25)),
    q3: round3(percentile(sorted, 0.75)),
    min: round3(sorted[0]!),
    max: round3(sorted[n - 1]!),
    rounds: values.map(round3),
  };
}

type Figure = 'requestsPerSecond' | 'serviceCpuMsPerRequest' | 'postgresCpuMsPerRequest';
const FIGURES: Figure[] = ['requestsPerSecond', 'serviceCpuMsPerRequest', 'postgresCpuMsPerRequest'];

export type Summary = Record<'holds' | 'payments', Record<Figure, { off: Spread; traced: Spread; ratio: Spread }>>;

/** Per scenario and figure: each setting's values over the rounds and the traced/off ratio of each round. */
export function summarize(runs: CompareRun[]): Summary {
  const rounds = [...new Set(runs.map((r) => r.round))].sort((a, b) => a - b);
  const pick = (round: number, setting: CompareRun['setting']) => runs.find((r) => r.round === round && r.setting === setting)!;
  const summary = {} as Summary;
  for (const scenario of ['holds', 'payments'] as const) {
    summary[scenario] = {} as Summary['holds'];
    for (const figure of FIGURES) {
      const off = rounds.map((r) => pick(r, 'off')[scenario][figure]);
      const traced = rounds.map((r) => pick(r, 'traced')[scenario][figure]);
      summary[scenario][figure] = {
        off: spreadOf(off),
        traced: spreadOf(traced),
        ratio: spreadOf(traced.map((t, i) => t / Math.max(1e-9, off[i]!))),
      };
    }
  }
  return summary;
}

/** The summary as a markdown table: per scenario and figure, the medians and the ratio's median and spread. */
export function summaryTable(summary: Summary, ratio: number): string {
  const names: Record<Figure, string> = {
    requestsPerSecond: 'req/s',
    serviceCpuMsPerRequest: 'service CPU ms/req',
    postgresCpuMsPerRequest: 'PostgreSQL CPU ms/req',
  };
  const lines = [
    `| scenario | figure | off, median | ${ratio}, median | ${ratio} / off, median | middle half | min–max | per round |`,
    '| --- | --- | ---: | ---: | ---: | --- | --- | --- |',
  ];
  for (const scenario of ['holds', 'payments'] as const) {
    for (const figure of FIGURES) {
      const s = summary[scenario][figure];
      lines.push(
        `| ${scenario} | ${names[figure]} | ${s.off.median} | ${s.traced.median} | ${s.ratio.median} | ${s.ratio.q1}–${s.ratio.q3} | ${s.ratio.min}–${s.ratio.max} | ${s.ratio.rounds.join(', ')} |`,
      );
    }
  }
  return lines.join('\n');
}

/**
 * Waits until the instance's relay has published every event (up to a minute), so that no run
 * leaves its events to the next one's relay and consumers; says how long that took.
 */
async function drained(base: string) {
  const started = Date.now();
  for (;;) {
    const res = await fetch(`${base}/admin/outbox`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const { unsent } = (await res.json()) as { unsent: number };
    if (unsent === 0 || Date.now() - started > 60_000) {
      console.log(`  outbox: ${unsent} unsent after ${((Date.now() - started) / 1000).toFixed(1)} s of draining`);
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Runs `rounds` rounds of off and `ratio`, alternating which goes first, and answers every run. */
export async function compareTracing(
  opts: { processes: Processes; fixtures: Fixtures; measure: Measure; ratio: number; rounds: number },
): Promise<CompareRun[]> {
  const { processes, fixtures, measure, ratio } = opts;
  const sinkUrl = await reportingSink();
  const envs = { off: {}, traced: tracedEnv(sinkUrl, ratio) };
  const runs: CompareRun[] = [];
  for (let round = 1; round <= opts.rounds; round++) {
    const order: CompareRun['setting'][] = round % 2 === 1 ? ['off', 'traced'] : ['traced', 'off'];
    for (const setting of order) {
      const label = `round ${round}, ${setting === 'off' ? 'off' : ratio}`;
      const concert = await fixtures.concert(1_000, SCHEDULES_PER_RUN);
      const instance = await processes.startInstance(envs[setting]);
      try {
        await fixtures.joinAll(instance.url, concert.id);
        const held: Held[] = [];
        const holds = (await spreadHolds({ fixtures, measure }, `${label}: holds`, { instance, concert, held })).measured;
        const payments = await payOn({ fixtures, measure }, `${label}: payments (${held.length})`, instance, held, { concertId: concert.id });
        runs.push({ round, setting, holds, payments });
        await drained(instance.url);
      } finally {
        await instance.stop();
      }
    }
  }
  return runs;
}

/** Prints the summary and the invariants, writes everything to `out` as JSON; returns the number of violations. */
export function writeCompareReport(out: string, meta: { ratio: number } & Record<string, unknown>, runs: CompareRun[], invariants: Invariants): number {
  const summary = summarize(runs);
  console.log(`\n${summaryTable(summary, meta.ratio)}`);
  const violations = countViolations(invariants);
  console.log(`\ninvariants: ${JSON.stringify(invariants)} -> ${violations === 0 ? 'no violations' : `${violations} VIOLATIONS`}`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ at: new Date().toISOString(), node: process.version, ...meta, summary, runs, invariants }, null, 2)}\n`);
  return violations;
}
