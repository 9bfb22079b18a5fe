/**
 * `npm run load`: a whole sale day against the service. Starts its own system (or drives --target),
 * creates a concert and lets virtual users buy it out, then checks the invariants in SQL, the
 * thresholds, and writes the report. Exits non-zero when a threshold or an invariant fails.
 */
import { createConcert } from '../harness/concerts.js';
import { cpuSeconds, postmasterPid } from '../harness/cpu.js';
import { drive } from './drive.js';
import { checkSale } from './invariants.js';
import { machineInfo } from './machine.js';
import { parseOptions, type Options } from './options.js';
import { buildReport, printSummary, writeReport } from './report.js';
import { diffFunnel, scrapeFunnel } from './server-metrics.js';
import { startSystem, type System } from './system.js';
import { evaluateThresholds } from './thresholds.js';

const PRICE = 50_000;
/** A concert of the load test's own, to create through the admin API. */
const concertOf = (title: string, schedules: number, seatCount: number) => ({ title, artist: 'Load test', venue: 'Loopback Arena', schedules, seatCount, price: PRICE });
/** The warm-up's users arrive over this many seconds, and it ends by WARMUP_MAX_SECONDS. */
const WARMUP_ARRIVAL_SECONDS = 10;
const WARMUP_MAX_SECONDS = 60;

/**
 * Before the sale: `users` buy out a small concert of their own (one date, a seat for half of
 * them; nobody abandons a hold, so it ends without waiting for holds to lapse). Nothing of it is
 * measured: it warms the instances (compiled code paths, database and Redis connections), as
 * instances that served traffic before the sale opens are. Its users and concert are not the
 * sale's, so the invariants and the figures leave them out.
 */
async function warmUp(o: Options, targets: string[], adminToken: string) {
  const concertId = (await createConcert(targets[0]!, adminToken, concertOf('Warm-up', 1, Math.max(1, Math.ceil(o.warmupUsers / 2))))).id;
  const started = Date.now();
  const { sale } = await drive({
    ...o,
    targets,
    concertId,
    price: PRICE,
    users: o.warmupUsers,
    arrivalSeconds: WARMUP_ARRIVAL_SECONDS,
    maxSeconds: WARMUP_MAX_SECONDS,
    seed: o.seed + 1,
    abandonShare: 0,
    progressSeconds: WARMUP_MAX_SECONDS * 10,
  });
  console.log(`warm-up: ${o.warmupUsers} users on a concert of their own, unmeasured, done in ${((Date.now() - started) / 1000).toFixed(1)} s (${JSON.stringify(sale.endings)})`);
}

/** Ctrl-C: stop the started processes and remove their data directory, then exit. */
function stopOnInterrupt(): (stop: () => Promise<void>) => void {
  let stopSystem: (() => Promise<void>) | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    console.error(`\n${signal}: stopping the service`);
    void (stopSystem?.() ?? Promise.resolve())
      .catch((error) => console.error(`stopping: ${error instanceof Error ? error.message : error}`))
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return (stop) => (stopSystem = stop);
}

async function main(): Promise<number> {
  const o = parseOptions(process.argv.slice(2));
  let system: System | undefined;
  if (o.targets.length === 0) {
    console.log(`starting ${o.instances} instance(s) on ${o.databaseUrl ? 'DATABASE_URL' : 'embedded PostgreSQL'}${o.redisUrl ? ' and REDIS_URL' : ''}`);
    system = await startSystem({ ...o, databaseUrl: o.databaseUrl }, stopOnInterrupt());
  }
  try {
    const targets = system?.urls ?? o.targets;
    const adminToken = system?.adminToken ?? o.adminToken!;
    const databaseUrl = system?.databaseUrl ?? o.databaseUrl;
    if (o.warmupUsers > 0) await warmUp(o, targets, adminToken);
    const seats = o.schedules * o.seatsPerSchedule;
    const concertId = (await createConcert(targets[0]!, adminToken, concertOf('Sale day', o.schedules, o.seatsPerSchedule))).id;
    console.log(`sale: ${o.users} users over ${o.arrivalSeconds} s for ${seats} seats (${o.schedules} x ${o.seatsPerSchedule}), seed ${o.seed}, ${targets.length} instance(s)`);

    const funnelBefore = await scrapeFunnel(targets);
    // PostgreSQL's CPU is its own server's processes (on a shared server, other clients' work too).
    const postmaster = system ? await postmasterPid(system.databaseUrl) : undefined;
    const cpuBefore = cpuSeconds(system?.pids ?? [], postmaster);
    const generatorBefore = process.cpuUsage();
    const { sale, recorder, seconds, secondsWithGrace, loopDelayMs } = await drive({ ...o, targets, concertId, price: PRICE });
    const generatorCpu = process.cpuUsage(generatorBefore);
    const cpuAfter = cpuSeconds(system?.pids ?? [], postmaster);

    // Abandoned holds must have lapsed, and the sweeper passed, before they are checked.
    const lapse = sale.lastAbandonedUntilMs + 2_000 - Date.now();
    if (lapse > 0) await new Promise((r) => setTimeout(r, Math.min(lapse, 60_000)));
    const funnel = diffFunnel(funnelBefore, await scrapeFunnel(targets));
    const checked = databaseUrl && !o.noInvariants
      ? await checkSale(databaseUrl, { concertId, payments: sale.payments, abandonedHolds: sale.abandonedHolds, cancelled: sale.cancelled, topUps: sale.topUps })
      : undefined;

    const steps = recorder.stepFigures();
    const verdicts = evaluateThresholds(o.thresholds, {
      requests: recorder.requests,
      status5xx: recorder.status5xx,
      shed: recorder.shed,
      unexpected: recorder.unexpected,
      unfinished: sale.unfinished(),
      steps,
    });
    if (!checked) verdicts.push({ name: 'invariants', limit: 'checked in SQL', observed: 'not checked (--no-invariants)', ok: true, skipped: true });
    const report = buildReport({
      options: o,
      seats,
      seconds,
      secondsWithGrace,
      sale,
      recorder,
      verdicts,
      checked,
      funnel,
      loopDelayMs,
      cpu: {
        generatorSeconds: (generatorCpu.user + generatorCpu.system) / 1e6,
        serviceSeconds: system ? cpuAfter.service - cpuBefore.service : null,
        postgresSeconds: postmaster ? cpuAfter.postgres - cpuBefore.postgres : null,
      },
      serviceSettings: system?.settings ?? {},
      machine: await machineInfo(
        databaseUrl,
        system ? (o.databaseUrl ? 'DATABASE_URL' : 'embedded') : 'the deployment\'s',
        system ? o.redisUrl !== undefined : false,
        targets.length,
      ),
    });
    printSummary(report);
    if (o.out) writeReport(o.out, report);
    return report.passed ? 0 : 1;
  } finally {
    await system?.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(2);
  },
);
