/**
 * `npm run capacity -- docs/load/1000-users/load.json [more load.json…]`: the capacity plan's table
 * (docs/capacity.md), derived from committed measurements: each load report's journey (requests per
 * user and per seat sold, time active) and the per-step costs of `npm run capacity:measure`
 * (--costs). Prints markdown; the arithmetic is in capacity.model.ts.
 *
 *   --users 1000000 --arrival-seconds 300 --seats 50000     the sale to plan for
 *   --admit-per-second 100,200,500,1000                      the admission rates to compare
 *   --headroom 0.7 --postgres-cores 16                       a service core's usable share; the database's cores
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { firstBottleneck, journeyOf, modelCheck, plan, type ReportFigures, type StepCosts } from './capacity.model.js';

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    costs: { type: 'string', default: 'docs/load/step-cost.json' },
    users: { type: 'string', default: '1000000' },
    'arrival-seconds': { type: 'string', default: '300' },
    seats: { type: 'string', default: '50000' },
    'admit-per-second': { type: 'string', default: '100,200,500,1000' },
    headroom: { type: 'string', default: '0.7' },
    'postgres-cores': { type: 'string', default: '16' },
  },
});
if (positionals.length === 0) {
  console.error('usage: npm run capacity -- <load.json>... [--costs docs/load/step-cost.json]');
  process.exit(2);
}
const read = <T>(path: string) => JSON.parse(readFileSync(path, 'utf8')) as T;
const costs = read<StepCosts & { users: number; at: string }>(args.costs);
const rates = args['admit-per-second'].split(',').map(Number);
const target = { users: Number(args.users), arrivalSeconds: Number(args['arrival-seconds']), seats: Number(args.seats), headroom: Number(args.headroom) };
const postgresCores = Number(args['postgres-cores']);

const n = (v: number, digits = 0) => v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mb = (bytes: number) => `${n(bytes / 1e6, 1)} MB`;

console.log(`Costs: ${args.costs} (${costs.users} users, ${costs.at}); ${n(costs.memory.bytesPerWaitingUser)} bytes of Redis per waiting user.\n`);
console.log('| step | service CPU ms | PostgreSQL CPU ms | Redis commands | Redis CPU ms | WAL bytes | rows written |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const [step, c] of Object.entries(costs.steps)) {
  console.log(`| ${step} | ${c.serviceCpuMs} | ${c.postgresCpuMs} | ${c.redisCommands} | ${c.redisCpuMs} | ${n(c.walBytes)} | ${c.rowsWritten} |`);
}

for (const path of positionals) {
  const report = read<ReportFigures>(path);
  const journey = journeyOf(report);
  const check = modelCheck(report, costs);
  console.log(`\n### From ${path}: ${report.settings.users} users, ${journey.sold} seats sold, ${report.settings.instances} instance(s)\n`);
  console.log(`Per user: ${Object.entries(journey.perUser).map(([s, v]) => `${s} ${n(v, 2)}`).join(', ')}.`);
  console.log(`Per seat sold: ${Object.entries(journey.perSeat).map(([s, v]) => `${s} ${n(v, 2)}`).join(', ')}; ${n(journey.heldPerSeat, 3)} users held a seat per seat sold.`);
  console.log(`An admitted user stayed active ${n(journey.activeSecondsPerAdmitted, 1)} s on average (sum of active users per second / admissions).`);
  const said = (c: typeof check.serviceSeconds) => `${n(c.predicted, 1)} s predicted, ${c.measured === null ? 'not measured' : `${n(c.measured, 1)} s measured (${n(c.ratio!, 2)}× the prediction)`}`;
  console.log(`Model check on this sale (its requests at the step costs, plus ${report.settings.instances} instance(s) idling for ${report.secondsWithGrace} s): service CPU ${said(check.serviceSeconds)}; PostgreSQL CPU ${said(check.postgresSeconds)}.\n`);
  const serviceScale = check.serviceSeconds.ratio ?? 1;
  const postgresScale = check.postgresSeconds.ratio ?? 1;

  const plans = rates.map((admitPerSecond) => ({ admitPerSecond, p: plan({ ...target, admitPerSecond }, journey, costs) }));
  const row = (name: string, cell: (p: (typeof plans)[number]['p']) => string) => console.log(`| ${name} | ${plans.map(({ p }) => cell(p)).join(' | ')} |`);
  console.log(`${n(target.users)} users over ${target.arrivalSeconds} s for ${n(target.seats)} seats, at the peak (the end of the arrivals):\n`);
  console.log(`| QUEUE_ADMIT_PER_SECOND | ${plans.map((x) => n(x.admitPerSecond)).join(' | ')} |`);
  console.log(`| --- | ${plans.map(() => '---:').join(' | ')} |`);
  row('seats sold/s while they last', (p) => n(p.seatsSoldPerSecond));
  row('sold out after', (p) => `${n(p.sellOutSeconds)} s`);
  row('users waiting at the peak', (p) => n(p.peakWaiting));
  row('line drained after the peak', (p) => `${n(p.drainSeconds)} s`);
  row('polls/s (waiting)', (p) => n(p.rates['poll (waiting)']!));
  row('requests/s', (p) => `${n(p.requestsPerSecond)} (${n(p.pollShare * 100)}% polls)`);
  row('service CPU, cores', (p) => n(p.serviceCores, 1));
  row(`instances (${target.headroom} core each)`, (p) => n(p.instances));
  row(`service CPU × ${n(serviceScale, 2)} (model check), cores`, (p) => n(p.serviceCores * serviceScale, 1));
  row(`instances at that CPU`, (p) => n(Math.ceil((p.serviceCores * serviceScale) / target.headroom)));
  row('PostgreSQL CPU, cores', (p) => n(p.postgresCores, 2));
  row(`PostgreSQL CPU × ${n(postgresScale, 2)} (model check), cores`, (p) => n(p.postgresCores * postgresScale, 2));
  row('WAL', (p) => `${mb(p.walBytesPerSecond)}/s`);
  row('rows written/s', (p) => n(p.rowsPerSecond));
  row('Redis commands/s', (p) => n(p.redisCommandsPerSecond));
  row('Redis CPU, share of its core', (p) => `${n(p.redisCoreShare * 100)}%`);
  row('Redis memory for the line', (p) => mb(p.redisBytesForLine));
  row('QUEUE_MAX_ACTIVE (Little)', (p) => n(p.maxActive));
  row('first limit reached', (p) => firstBottleneck(p, { postgresCores, redisCoreShare: 1 }));
  const p0 = plans[0]!.p;
  console.log(`\nPer buyer (sign-up, top-up, join, hold, pay): ${n(p0.walBytesPerBuyer)} bytes of WAL, ${n(p0.rowsPerBuyer, 1)} rows written.`);
}
