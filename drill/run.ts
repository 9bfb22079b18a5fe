/**
 * `npm run drill -- <scenario>`: a failure drill during a live sale. Starts what it will break (its
 * own PostgreSQL, redis-server, data platform) and three service instances on them, runs the
 * sale-day load (load/drive.ts) through a balancer, breaks one thing on a schedule and restores it,
 * then checks the load test's invariants in SQL and the drill's targets, and writes the report.
 * Exits 1 on a missed target (the summary names it), 2 when the drill itself could not run.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConcert } from '../harness/concerts.js';
import { drive, type Driven } from '../load/drive.js';
import { checkSale } from '../load/invariants.js';
import { machineInfo } from '../load/machine.js';
import { serviceEnvironment } from '../load/system.js';
import { redisServerAvailable, redisServerBinary, startOwnPostgres, startOwnRedis, type OwnPostgres, type OwnRedis } from '../test/support/dependencies.js';
import { checkSink, doubleDebits, shedCounts, streamOrder, watchStream, type SinkCheck, type StreamOrder, type StreamWatch } from './checks.js';
import { startInstances, type Exit, type Instance } from './instances.js';
import { Observer } from './observe.js';
import { parseDrillOptions, type DrillOptions } from './options.js';
import { startPrometheus, type Alerts } from './prometheus.js';
import { buildDrillReport, printDrill, writeDrill } from './report.js';
import type { TimelineEntry } from './report.types.js';
import type { DrillContext } from './scenarios.js';
import { scenarioVerdicts } from './scenario-targets.js';
import { startSink, type Sink } from './sink.js';
import { evaluateTargets, reportedInvariants } from './targets.js';
import { analyse } from './timeline.js';

const PRICE = 50_000;
/** What the drills run with beyond the defaults: the settings for a crowd beyond capacity. */
const SALE_DAY_SHEDDING = { OVERLOAD_MAX_DATABASE_WAIT_MS: '100', OVERLOAD_MAX_ARRIVALS_IN_FLIGHT: '8' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Owned {
  pg?: OwnPostgres;
  redis?: OwnRedis;
  eventsRedis?: OwnRedis;
  eventsDir?: string;
  sink?: Sink;
  instances: Instance[];
  prometheus?: Alerts;
  observer?: Observer;
}

async function stopAll(o: Owned) {
  await o.observer?.stop();
  await o.prometheus?.stop().catch(() => {});
  await Promise.all(o.instances.map((i) => i.kill('SIGTERM', true).catch(() => {})));
  await o.sink?.close();
  await o.redis?.kill().catch(() => {});
  await o.eventsRedis?.kill().catch(() => {});
  if (o.eventsDir) rmSync(o.eventsDir, { recursive: true, force: true });
  await o.pg?.destroy().catch(() => {});
}

async function main(): Promise<number> {
  const o: DrillOptions = parseDrillOptions(process.argv.slice(2));
  const sc = o.scenario;
  if ((sc.redis || sc.eventsRedis) && !redisServerAvailable) throw new Error(`${sc.name} needs ${redisServerBinary} (REDIS_SERVER to point elsewhere)`);
  const owned: Owned = { instances: [] };
  const onSignal = (signal: string) => {
    console.error(`\n${signal}: stopping what the drill started`);
    void stopAll(owned).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const timeline: TimelineEntry[] = [];
  const mark = (what: string, atMs = Date.now()) => {
    timeline.push({ atMs, what });
    console.log(`[drill] ${new Date(atMs).toISOString().slice(11, 23)} ${what}`);
  };
  const exits: Exit[] = [];
  try {
    console.log(`drill ${sc.name}: ${sc.fault}`);
    owned.pg = await startOwnPostgres();
    if (sc.redis) owned.redis = await startOwnRedis();
    if (sc.eventsRedis) {
      owned.eventsDir = mkdtempSync(join(tmpdir(), 'ticketing-drill-events-'));
      owned.eventsRedis = await startOwnRedis({ appendOnlyDir: owned.eventsDir });
    }
    if (sc.sink) owned.sink = await startSink();
    const adminToken = `drill-${randomBytes(16).toString('hex')}`;
    const settings: Record<string, string> = {
      HOLD_TTL_SECONDS: String(o.holdTtlSeconds),
      QUEUE_ADMIT_PER_SECOND: String(o.admitPerSecond),
      QUEUE_MAX_ACTIVE: String(o.maxActive),
      DATABASE_POOL_SIZE: String(o.poolSize),
      RATE_LIMIT_ENABLED: 'false',
      // A sale-day deployment braced for a crowd: shedding on the request pool's wait and the
      // arrivals' lane on (off by default; docs/operations.md, load shedding).
      ...SALE_DAY_SHEDDING,
      ...sc.env,
    };
    const env = {
      ...serviceEnvironment(settings, adminToken),
      DATABASE_URL: owned.pg.url,
      ...(owned.redis ? { REDIS_URL: owned.redis.url } : {}),
      ...(owned.eventsRedis ? { EVENTS_REDIS_URL: owned.eventsRedis.url } : {}),
      ...(owned.sink ? { DATA_PLATFORM_URL: owned.sink.url } : {}),
    };
    const logDir = mkdtempSync(join(tmpdir(), `ticketing-drill-${sc.name}-logs-`));
    console.log(`the instances' output goes to ${logDir}`);
    owned.instances = await startInstances(sc.instances, env, (e) => {
      exits.push(e);
      if (!e.deliberate) mark(`instance ${e.instance} exited by itself (code ${e.code}, signal ${e.signal})`, e.atMs);
    }, logDir);
    const instances = owned.instances;
    owned.prometheus = o.prometheus ? await startPrometheus(instances.map((i) => i.url)) : undefined;
    const observer = (owned.observer = new Observer(instances, owned.pg.url));
    const stream: StreamWatch | undefined = owned.eventsRedis ? watchStream(owned.eventsRedis.url) : undefined;
    const sinkDeliveries = owned.sink;
    observer.start(sinkDeliveries ? () => sinkDeliveries.deliveries.size : undefined);
    const concert = await createConcert(instances[0]!.url, adminToken, {
      title: `Drill ${sc.name}`, artist: 'Failure drill', venue: 'Loopback Arena', schedules: 2, seatCount: Math.max(1, Math.round(o.users / 4)), price: PRICE,
    });
    const ctx: DrillContext = { instances, pg: owned.pg, redis: owned.redis, eventsRedis: owned.eventsRedis, sink: owned.sink, faultSeconds: o.faultSeconds, mark };
    const loadBefore = os.loadavg();
    const fault = { startMs: 0, endMs: 0 };
    let faultDone: Promise<void> = Promise.resolve();
    const saleStartMs = Date.now();
    mark(`sale opened: ${o.users} users over ${o.arrivalSeconds} s, ${instances.length} instances`);
    const faultTimer = setTimeout(() => {
      faultDone = (async () => {
        fault.startMs = Date.now();
        mark(`fault started: ${sc.fault}`);
        await sc.inflict(ctx);
        await sleep(Math.max(0, fault.startMs + o.faultSeconds * 1000 - Date.now()));
        mark('restoring');
        await sc.restore(ctx);
        fault.endMs = Date.now();
        mark('fault ended: the dependency accepts connections again');
      })();
    }, o.faultAtSeconds * 1000);

    const driven: Driven = await drive({
      targets: instances.map((i) => i.url), concertId: concert.id, price: PRICE, users: o.users, arrivalSeconds: o.arrivalSeconds,
      maxSeconds: o.maxSeconds, seed: o.seed, abandonShare: 0.1, cancelShare: 0.05, thinkSeconds: 1, holdAttempts: 10, progressSeconds: 10,
      client: observer.client,
    });
    clearTimeout(faultTimer);
    await faultDone;
    mark('sale over');
    const sheds = await shedCounts(instances.filter((i) => i.running).map((i) => i.url));
    const { sale, recorder } = driven;
    const loadAfter = os.loadavg();
    // Abandoned holds must have lapsed, and the sweeper passed, before they are checked.
    const lapse = sale.lastAbandonedUntilMs + 2_000 - Date.now();
    if (lapse > 0) await sleep(Math.min(lapse, 60_000));
    const checked = await checkSale(owned.pg.url, { concertId: concert.id, payments: sale.payments, abandonedHolds: sale.abandonedHolds, cancelled: sale.cancelled, topUps: sale.topUps }, 60);
    const debits = await doubleDebits(owned.pg.url, concert.id);
    const sink: SinkCheck | undefined = owned.sink ? await checkSink(owned.pg.url, concert.id, owned.sink) : undefined;
    await stream?.stop();
    const order: StreamOrder | undefined = stream ? await streamOrder(stream.ids, owned.pg.url) : undefined;
    await observer.stop();
    const alerts = owned.prometheus;
    await alerts?.stop();
    owned.prometheus = undefined;

    if (fault.endMs === 0) throw new Error('the sale ended before the fault did: lengthen --arrival-seconds or --max-seconds');
    const analysis = analyse(observer.requests, observer.readiness, fault);
    const notRecovered = [
      ...exits.filter((e) => !e.deliberate).map((e) => `instance ${e.instance} exited (code ${e.code}, signal ${e.signal})`),
      ...instances.filter((i) => !i.running).map((i) => `instance ${i.index} not running at the end`),
    ];
    const extra = scenarioVerdicts(sc.name, { analysis, observer, fault, sink, order, saleStartMs, sale });
    const verdicts = evaluateTargets({
      analysis, invariants: checked.invariants, doubleDebits: debits, notRecovered,
      unhandled: instances.reduce((n, i) => n + i.unhandled, 0), eventsAreTargets: sc.eventsAreTargets, extra,
    });
    const report = buildDrillReport({
      options: o, settings, saleStartMs, fault, timeline, analysis, observer, alerts: alerts ? { notEvaluated: alerts.notEvaluated, seen: alerts.seen } : { notEvaluated: 'not started (--no-prometheus)', seen: [] },
      verdicts, reported: reportedInvariants(checked.invariants, sc.eventsAreTargets), checked, doubleDebits: debits, sink, order, driven, sheds,
      loadAverage: { before: loadBefore, after: loadAfter },
      machine: await machineInfo(owned.pg.url, 'embedded, the drill\'s own', sc.redis, instances.length),
      requests: recorder.requests,
    });
    printDrill(report);
    writeDrill(o.out, report);
    return report.passed ? 0 : 1;
  } finally {
    await stopAll(owned);
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error instanceof Error ? error.stack ?? error.message : error);
    process.exit(2);
  },
);
