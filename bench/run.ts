/**
 * Core benchmark: starts the service (embedded PostgreSQL, or DATABASE_URL when set) and a bare
 * Fastify route in their own processes, drives both over loopback with autocannon, prints req/s and
 * p50/p99 with each figure's ratio to the bare route, then checks the invariants with SQL.
 *
 *   npm run bench                      # 10 s per scenario, 100 connections
 *   npm run bench -- --duration 5 --connections 50
 *   REDIS_URL=redis://127.0.0.1:6379 npm run bench   # adds the waiting room on Redis
 *   npm run bench -- --only holds,payments            # some scenario groups only
 *   npm run bench -- --only holds,payments --pairs 3  # payments with and without a key, 3 alternating pairs
 *   npm run bench -- --rate-limits                    # count every request against the rate limits
 *   npm run bench -- --tracing 0.1                     # services traced at 10%, exporting to a local sink
 *   npm run bench -- --rate 200                        # every scenario at 200 req/s: CPU per request at the same load
 *   npm run bench -- --tracing-compare 0.1 --rounds 6 --duration 3   # off and 0.1 interleaved: medians of the ratios
 *
 * The processes are in processes.ts, the shared data in fixtures.ts, one file per scenario group in
 * scenarios/, the SQL checks in invariants.ts and the table and JSON in report.ts.
 */
import { parseArgs } from 'node:util';
import { createFixtures, type Fixtures } from './fixtures.js';
import { checkInvariants } from '../harness/invariants.js';
import { createMeasure, type Measure, type Measured } from './measure.js';
import { samplingRatio } from './otlp-sink.js';
import { startProcesses, type Processes } from './processes.js';
import { createRows, writeReport } from './report.js';
import { chargeScenarios } from './scenarios/charges.js';
import type { ScenarioContext } from './scenarios/context.js';
import { eventLagScenario, type EventLag } from './scenarios/events.js';
import { holdScenarios, type Held } from './scenarios/holds.js';
import { paymentScenarios } from './scenarios/payments.js';
import { queueScenarios } from './scenarios/queue.js';
import { seatMapScenarios } from './scenarios/seat-map.js';
import { compareTracing, writeCompareReport } from './tracing-compare.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '100' },
    users: { type: 'string', default: '1000' },
    out: { type: 'string' },
    // Comma-separated scenario groups to run (default all): seatmap,holds,charges,payments,queue,events
    only: { type: 'string', default: '' },
    // Payments without and with an Idempotency-Key: this many pairs, alternating (each a share of the holds).
    pairs: { type: 'string', default: '1' },
    // Rate limits on, set far above the load: every request is counted, none refused (their cost).
    'rate-limits': { type: 'boolean', default: false },
    // Tracing in the services: off, or on at this sampling ratio (0.1, 1), exporting to a local sink.
    tracing: { type: 'string', default: 'off' },
    // Requests per second in every scenario instead of as fast as the service answers: CPU per
    // request then compares runs at the same load (batch sizes follow the load).
    rate: { type: 'string' },
    // Instead of the scenarios: rounds of holds and payments on an instance with tracing off and one
    // traced at this ratio, interleaved (tracing-compare.ts).
    'tracing-compare': { type: 'string' },
    rounds: { type: 'string', default: '6' },
  },
});
const groups = new Set(args.only.split(',').map((g) => g.trim()).filter(Boolean));
/** Whether a scenario group was asked for (payments and events need the holds of "holds"). */
const want = (group: string) => groups.size === 0 || groups.has(group);
const duration = Number(args.duration);
const connections = Number(args.connections);

const database = process.env.DATABASE_URL ? 'DATABASE_URL' : 'embedded';

console.log(`bench: ${duration} s per scenario, ${connections} connections, ${database === 'embedded' ? 'embedded PostgreSQL' : database}`);
const compareRatio = args['tracing-compare'] === undefined ? undefined : samplingRatio('--tracing-compare', args['tracing-compare']);
// Comparing: the first instance only owns the database; the compared instances relay their own events.
const processes = await startProcesses({ rateLimits: args['rate-limits'], tracing: args.tracing, relay: compareRatio === undefined });
try {
  const fixtures = await createFixtures(processes.service.url, Number(args.users));
  const rate = args.rate ? Number(args.rate) : undefined;
  const measure = createMeasure({ connections, duration, servicePid: processes.service.pid ?? 0, postgresPid: processes.postgresPid, rate });

  console.log('results:');
  const bare = await measure('bare route', processes.bare, {});
  if (compareRatio !== undefined) {
    const runs = await compareTracing({ processes, fixtures, measure, ratio: compareRatio, rounds: Math.max(1, Number(args.rounds)) });
    const bareAfter = await measure('bare route, after', processes.bare, {});
    const out = args.out ?? 'bench/results/tracing-compare.json';
    const meta = { duration, connections, database, ratio: compareRatio, bare: [bare, bareAfter] };
    if (writeCompareReport(out, meta, runs, await checkInvariants(processes.databaseUrl)) > 0) process.exitCode = 1;
  } else {
    await runScenarios(processes, fixtures, measure, bare);
  }
} finally {
  await processes.stop();
}

/** The scenarios of a plain run, and their report. */
async function runScenarios(processes: Processes, fixtures: Fixtures, measure: Measure, bare: Measured) {
  const { rows, add } = createRows(bare);
  const context: ScenarioContext = { processes, fixtures, measure, add };

  if (want('seatmap')) await seatMapScenarios(context);
  const held: Held[] = want('holds') ? await holdScenarios(context) : [];
  if (want('charges')) await chargeScenarios(context);
  // The holds are split between the instance with the outbox relay running and the one without it
  // (and, with Redis, a share for the event-lag run).
  const { redis } = processes;
  const pairs = Math.max(1, Number(args.pairs));
  const share = Math.floor(held.length / (1 + 2 * pairs + (redis && want('events') ? 1 : 0)));
  if (want('payments')) await paymentScenarios(context, held, share, pairs);
  if (want('queue')) await queueScenarios(context);
  let eventLag: EventLag | undefined;
  if (redis && want('events')) {
    eventLag = await eventLagScenario(context, process.env.REDIS_URL!, redis, held.slice((1 + 2 * pairs) * share, (2 + 2 * pairs) * share), duration);
  }

  const violations = writeReport(args.out ?? 'bench/results/core.json', {
    duration,
    connections,
    database,
    rows,
    eventLag,
    invariants: await checkInvariants(processes.databaseUrl),
  });
  if (violations > 0) process.exitCode = 1;
}
