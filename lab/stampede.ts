/**
 * Stampede lab: what each stampede strategy of src/cache does to the origin and to client
 * latency when hot keys expire under load.
 *
 *   npm run lab -- stampede [--quick] [--out DIR]
 *
 * The orchestrator (this process) runs the origin, an HTTP server whose latency grows with its
 * concurrency, and for every strategy × instances × clients starts the service instances as
 * separate processes (lab/stampede-worker.ts) sharing one Redis. Each instance runs its share of
 * closed-loop clients reading Zipf-distributed keys through `createCache`. The origin logs every
 * load; the workers report every request; rows, a Markdown report and SVG charts go to `--out`.
 *
 * Seeded: key choices, think times and XFetch's random draws come from per-client / per-instance
 * mulberry32 streams. Timing (and so the exact counts) still depends on the OS scheduler.
 *
 * For development, STAMPEDE_STRATEGIES, STAMPEDE_INSTANCES and STAMPEDE_CLIENTS (comma-separated)
 * restrict the grid. Worker processes are killed when the lab ends, fails or is interrupted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { STAMPEDE_STRATEGIES, type CacheStats, type StampedeStrategy } from '../src/cache/cache.types.js';
import {
  FLAG_ERROR,
  FLAG_LOADED,
  startBackend,
  type Backend,
  type FromWorker,
  type ToWorker,
  type WorkerConfig,
  type WorkerResult,
} from './stampede-backend.js';
import { barChart, lineChart } from './svg.js';

export interface StampedeLabOptions {
  quick: boolean;
  out: string;
}

export interface StampedeRow {
  strategy: StampedeStrategy;
  instances: number;
  clients: number;
  /** Bursts of loads of one key (see Settings.burstGapMs) that started during the measurement. */
  expiries: number;
  /** Origin loads that started during the measurement. */
  recomputes: number;
  recomputesPerExpiry: number;
  /** Loads in the largest single burst. */
  maxRecomputesPerExpiry: number;
  /** recomputesPerExpiry over the HOT_KEYS most popular keys only. */
  hotRecomputesPerExpiry: number;
  peakBackendConcurrency: number;
  /** Most loads started in one 100 ms bucket, × 10 (per second). */
  peakBackendQps100ms: number;
  requests: number;
  throughputRps: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  steadyP99Ms: number;
  expiryWindowP99Ms: number;
  /** Share of all requests that fall in an expiry window. */
  expiryWindowShare: number;
  /** Share of expiry-window requests whose own loader ran (each waited for an origin load). */
  expiryWindowLoaderShare: number;
  /** The same two p99s over the HOT_KEYS most popular keys only. */
  hotSteadyP99Ms: number;
  hotExpiryWindowP99Ms: number;
  staleServed: number;
  errors: number;
  hits: number;
  misses: number;
  earlyRecomputes: number;
  /** The machine's 1-minute load average when the run ended (other work competes for the CPUs). */
  loadAvg1m: number;
}

export interface Settings {
  instances: number[];
  clients: number[];
  warmupMs: number;
  measureMs: number;
  keys: number;
  zipfS: number;
  seed: number;
  ttlMs: number;
  staleMs: number;
  leaseMs: number;
  lockWaitMs: number;
  beta: number;
  l1Capacity: number;
  thinkMs: number;
  timeoutMs: number;
  backendBaseMs: number;
  backendK: number;
  /** A load of K less than this after the start of K's current burst belongs to that burst. */
  burstGapMs: number;
  /** Requests for K in flight during [burst start − preWindowMs, burst start + windowMs) are in the expiry window. */
  windowMs: number;
  /**
   * The key went stale a little before its reload reached the origin (the first reader's L2 read,
   * lease and HTTP round trips): reads in that gap belong to the expiry too.
   */
  preWindowMs: number;
}

const COMMON = {
  keys: 1_000,
  zipfS: 1.0,
  seed: 20_240_417,
  ttlMs: 1_000,
  staleMs: 1_000,
  leaseMs: 2_000,
  lockWaitMs: 1_000,
  beta: 1,
  l1Capacity: 2_000,
  thinkMs: 100,
  timeoutMs: 2_000,
  backendBaseMs: 20,
  backendK: 50,
  burstGapMs: 500,
  windowMs: 250,
  preWindowMs: 50,
};
export const FULL: Settings = { ...COMMON, instances: [1, 3], clients: [100, 300, 1_000], warmupMs: 4_000, measureMs: 12_000 };
export const QUICK: Settings = { ...COMMON, instances: [1, 3], clients: [100, 1_000], warmupMs: 2_500, measureMs: 5_000 };

/** The configuration the targets and the recommended default are judged on. */
const TARGET_INSTANCES = 3;
const TARGET_CLIENTS = 1_000;
const MAX_RECOMPUTES_PER_EXPIRY = 1.5;
/** Keys of Zipf rank below this are "hot" (about 40% of all requests with Zipf 1.0 over 1,000 keys). */
const HOT_KEYS = 10;

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const WORKER = fileURLToPath(new URL('./stampede-worker.ts', import.meta.url));
const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

// ---------------------------------------------------------------------------------------------
// Workers
// ---------------------------------------------------------------------------------------------

const children = new Set<ChildProcess>();

function killAll(): void {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
}
process.on('exit', killAll);

function spawnWorker(config: WorkerConfig): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER], {
    cwd: ROOT,
    env: { ...process.env, STAMPEDE_WORKER_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** Resolves with one message of the given type from every child, or rejects on failure/timeout. */
function collect<T extends FromWorker['type']>(
  workers: ChildProcess[],
  type: T,
  timeoutMs: number,
): Promise<Extract<FromWorker, { type: T }>[]> {
  return new Promise((resolvePromise, reject) => {
    const got = new Map<ChildProcess, Extract<FromWorker, { type: T }>>();
    const cleanups: (() => void)[] = [];
    const done = (error?: Error) => {
      clearTimeout(timer);
      for (const cleanup of cleanups) cleanup();
      if (error) reject(error);
      else resolvePromise(workers.map((w) => got.get(w)!));
    };
    const timer = setTimeout(() => done(new Error(`workers sent no "${type}" within ${timeoutMs} ms`)), timeoutMs);
    for (const worker of workers) {
      const onMessage = (message: FromWorker) => {
        if (message.type === 'failed') done(new Error(`worker ${message.instance} failed: ${message.message}`));
        else if (message.type === type) {
          got.set(worker, message as Extract<FromWorker, { type: T }>);
          if (got.size === workers.length) done();
        }
      };
      const onExit = (code: number | null) => {
        if (!got.has(worker)) done(new Error(`a worker exited (code ${code}) before sending "${type}"`));
      };
      worker.on('message', onMessage);
      worker.on('exit', onExit);
      cleanups.push(() => {
        worker.off('message', onMessage);
        worker.off('exit', onExit);
      });
    }
  });
}

async function stopWorkers(workers: ChildProcess[]): Promise<void> {
  await Promise.all(
    workers.map(
      (worker) =>
        new Promise<void>((resolvePromise) => {
          if (worker.exitCode !== null || worker.signalCode !== null) return resolvePromise();
          const timer = setTimeout(() => {
            worker.kill('SIGKILL');
            resolvePromise();
          }, 3_000);
          worker.once('exit', () => {
            clearTimeout(timer);
            resolvePromise();
          });
          if (worker.connected) worker.send({ type: 'shutdown' } satisfies ToWorker);
          else worker.kill('SIGKILL');
        }),
    ),
  );
}

async function deleteKeys(redis: Redis, cacheName: string): Promise<number> {
  let deleted = 0;
  for (const pattern of [`cache:${cacheName}:*`, `cache-lease:${cacheName}:*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  }
  return deleted;
}

// ---------------------------------------------------------------------------------------------
// One run
// ---------------------------------------------------------------------------------------------

interface RunSpec {
  strategy: StampedeStrategy;
  instances: number;
  clients: number;
}

export interface RunData {
  spec: RunSpec;
  measureFrom: number;
  measureTo: number;
  loads: { t: Float64Array; key: Int32Array; inFlight: Int32Array };
  results: WorkerResult[];
}

export async function runOne(spec: RunSpec, settings: Settings, backend: Backend, redis: Redis): Promise<RunData> {
  const { strategy, instances, clients } = spec;
  const cacheName = `lab-stampede-${randomBytes(4).toString('hex')}-${strategy}-${instances}x${clients}`;
  backend.reset();
  const workers: ChildProcess[] = [];
  try {
    let first = 0;
    for (let instance = 0; instance < instances; instance++) {
      const share = Math.floor(clients / instances) + (instance < clients % instances ? 1 : 0);
      workers.push(
        spawnWorker({
          instance,
          strategy,
          clients: share,
          firstClient: first,
          keys: settings.keys,
          zipfS: settings.zipfS,
          seed: settings.seed,
          cacheName,
          redisUrl: REDIS_URL,
          backendUrl: backend.url,
          ttlMs: settings.ttlMs,
          staleMs: settings.staleMs,
          leaseMs: settings.leaseMs,
          lockWaitMs: settings.lockWaitMs,
          beta: settings.beta,
          l1Capacity: settings.l1Capacity,
          thinkMs: settings.thinkMs,
          timeoutMs: settings.timeoutMs,
        }),
      );
      first += share;
    }
    await collect(workers, 'ready', 60_000);
    const startAt = Date.now() + 250;
    const measureFrom = startAt + settings.warmupMs;
    const measureTo = measureFrom + settings.measureMs;
    for (const worker of workers) worker.send({ type: 'start', startAt, measureFrom, measureTo } satisfies ToWorker);
    const results = await collect(workers, 'result', measureTo - Date.now() + settings.timeoutMs + 30_000);
    await stopWorkers(workers);
    // Let the origin finish loads whose clients gave up, so the next run starts on an idle origin.
    const idleBy = Date.now() + 10_000;
    while (backend.inFlight() > 0 && Date.now() < idleBy) await new Promise((r) => setTimeout(r, 20));
    const log = backend.log;
    return {
      spec,
      measureFrom,
      measureTo,
      loads: { t: Float64Array.from(log.t), key: Int32Array.from(log.key), inFlight: Int32Array.from(log.inFlight) },
      results,
    };
  } finally {
    for (const worker of workers) if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    await deleteKeys(redis, cacheName).catch(() => 0);
  }
}

// ---------------------------------------------------------------------------------------------
// Analysis
// ---------------------------------------------------------------------------------------------

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

const round = (v: number, digits = 1) => (Number.isFinite(v) ? Number(v.toFixed(digits)) : v);

export function analyze(data: RunData, settings: Settings): StampedeRow {
  const { spec, measureFrom, measureTo, loads, results } = data;
  const inMeasure = (t: number) => t >= measureFrom && t < measureTo;

  // Bursts: per key, loads in time order; a load less than burstGapMs after the start of the
  // key's current burst joins it, otherwise it starts a new burst (one expiry).
  const order = Array.from(loads.t.keys()).sort((a, b) => loads.t[a]! - loads.t[b]!);
  const burstStarts = new Map<number, number[]>();
  const burstSizes: number[] = [];
  let hotBursts = 0;
  let hotLoads = 0;
  const openBurst = new Map<number, { start: number; index: number }>();
  let recomputes = 0;
  let peakBackendConcurrency = 0;
  const buckets = new Map<number, number>();
  for (const i of order) {
    const t = loads.t[i]!;
    const key = loads.key[i]!;
    const open = openBurst.get(key);
    if (open && t - open.start < settings.burstGapMs) {
      if (open.index >= 0) burstSizes[open.index]!++;
    } else {
      const index = inMeasure(t) ? burstSizes.push(1) - 1 : -1;
      if (index >= 0 && key < HOT_KEYS) hotBursts++;
      openBurst.set(key, { start: t, index });
      let starts = burstStarts.get(key);
      if (!starts) burstStarts.set(key, (starts = []));
      starts.push(t);
    }
    if (inMeasure(t)) {
      recomputes++;
      if (key < HOT_KEYS) hotLoads++;
      peakBackendConcurrency = Math.max(peakBackendConcurrency, loads.inFlight[i]!);
      const bucket = Math.floor((t - measureFrom) / 100);
      buckets.set(bucket, (buckets.get(bucket) ?? 0) + 1);
    }
  }
  const expiries = burstSizes.length;

  // Requests: all, and split into expiry window (in flight at some time during the first
  // windowMs of a burst of their key) and steady (the rest).
  let n = 0;
  for (const r of results) n += r.latencyMs.length;
  const all = new Float64Array(n);
  const windowLat: number[] = [];
  const steadyLat: number[] = [];
  const hotWindowLat: number[] = [];
  const hotSteadyLat: number[] = [];
  let windowLoaders = 0;
  let errors = 0;
  let i = 0;
  for (const r of results) {
    for (let j = 0; j < r.latencyMs.length; j++) {
      const latency = r.latencyMs[j]!;
      const issued = r.issuedAt[j]!;
      const completed = issued + latency;
      all[i++] = latency;
      if (r.flags[j]! & FLAG_ERROR) errors++;
      const starts = burstStarts.get(r.key[j]!) ?? [];
      // First burst start b with b > issued − windowMs; the request overlaps [b − preWindowMs,
      // b + windowMs) iff b − preWindowMs < completed (later bursts start later still).
      let lo = 0;
      let hi = starts.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (starts[mid]! <= issued - settings.windowMs) lo = mid + 1;
        else hi = mid;
      }
      const inWindow = lo < starts.length && starts[lo]! - settings.preWindowMs < completed;
      const loaded = (r.flags[j]! & FLAG_LOADED) !== 0;
      const hot = r.key[j]! < HOT_KEYS;
      if (inWindow || loaded) {
        windowLat.push(latency);
        if (hot) hotWindowLat.push(latency);
        if (loaded) windowLoaders++;
      } else {
        steadyLat.push(latency);
        if (hot) hotSteadyLat.push(latency);
      }
    }
  }
  all.sort();
  const windowSorted = Float64Array.from(windowLat).sort();
  const steadySorted = Float64Array.from(steadyLat).sort();
  const p99Of = (xs: number[]) => round(percentile(Float64Array.from(xs).sort(), 0.99), 2);
  const stats = results.reduce<CacheStats>(
    (sum, r) => {
      for (const name of Object.keys(sum) as (keyof CacheStats)[]) sum[name] += r.stats[name];
      return sum;
    },
    { hits: 0, misses: 0, staleServed: 0, recomputes: 0, earlyRecomputes: 0, errors: 0, l2Errors: 0 },
  );
  return {
    strategy: spec.strategy,
    instances: spec.instances,
    clients: spec.clients,
    expiries,
    recomputes,
    recomputesPerExpiry: round(expiries ? recomputes / expiries : 0, 2),
    maxRecomputesPerExpiry: Math.max(0, ...burstSizes),
    hotRecomputesPerExpiry: round(hotBursts ? hotLoads / hotBursts : 0, 2),
    peakBackendConcurrency,
    peakBackendQps100ms: Math.max(0, ...buckets.values()) * 10,
    requests: n,
    throughputRps: Math.round(n / (settings.measureMs / 1000)),
    p50Ms: round(percentile(all, 0.5), 2),
    p99Ms: round(percentile(all, 0.99), 2),
    p999Ms: round(percentile(all, 0.999), 2),
    steadyP99Ms: round(percentile(steadySorted, 0.99), 2),
    expiryWindowP99Ms: round(percentile(windowSorted, 0.99), 2),
    expiryWindowShare: round(n ? windowLat.length / n : 0, 3),
    expiryWindowLoaderShare: round(windowLat.length ? windowLoaders / windowLat.length : 0, 3),
    hotSteadyP99Ms: p99Of(hotSteadyLat),
    hotExpiryWindowP99Ms: p99Of(hotWindowLat),
    staleServed: stats.staleServed,
    errors,
    hits: stats.hits,
    misses: stats.misses,
    earlyRecomputes: stats.earlyRecomputes,
    loadAvg1m: round(loadavg()[0]!, 2),
  };
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

interface Verdict {
  text: string;
  ok: boolean;
}

function pick(rows: StampedeRow[], strategy: StampedeStrategy, instances = TARGET_INSTANCES, clients = TARGET_CLIENTS) {
  return rows.find((r) => r.strategy === strategy && r.instances === instances && r.clients === clients);
}

/** A run counts as healthy if at most 0.1% of its requests failed. */
const healthy = (r: StampedeRow) => r.errors <= r.requests * 0.001;

/**
 * The default: at TARGET_INSTANCES instances and TARGET_CLIENTS clients, the lowest expiry-window
 * p99 among healthy strategies with recomputes per expiry ≤ MAX_RECOMPUTES_PER_EXPIRY, over all keys
 * and over the HOT_KEYS hottest. If none
 * qualifies, among those whose hot keys see at most MAX_RECOMPUTES_PER_EXPIRY × instances loads per
 * expiry (no crowd-driven stampede).
 */
export function recommend(rows: StampedeRow[]): { strategy: StampedeStrategy | undefined; reason: string } {
  const at = rows.filter((r) => r.instances === TARGET_INSTANCES && r.clients === TARGET_CLIENTS && healthy(r));
  const where = `${TARGET_INSTANCES} instances / ${fmt(TARGET_CLIENTS)} clients`;
  const best = (list: StampedeRow[]) => [...list].sort((x, y) => x.expiryWindowP99Ms - y.expiryWindowP99Ms || x.p99Ms - y.p99Ms)[0];
  const list = (xs: StampedeRow[]) =>
    xs.map((r) => `${r.strategy} ${r.recomputesPerExpiry}, hot ${r.hotRecomputesPerExpiry}`).join('; ');
  // The mean over all keys is diluted by the many single-reader expiries of the Zipf tail (it
  // admits even `none`), so the bound must hold on the hot keys too.
  const eligible = at.filter(
    (r) => r.recomputesPerExpiry <= MAX_RECOMPUTES_PER_EXPIRY && r.hotRecomputesPerExpiry <= MAX_RECOMPUTES_PER_EXPIRY,
  );
  const chosen = best(eligible);
  if (chosen) {
    const others = eligible.filter((r) => r !== chosen).map((r) => `${r.strategy} ${r.expiryWindowP99Ms} ms`);
    return {
      strategy: chosen.strategy,
      reason:
        `at ${where} it has the lowest expiry-window p99 (${chosen.expiryWindowP99Ms} ms${others.length ? `; ${others.join(', ')}` : ''}) ` +
        `among the strategies that keep recomputes per expiry ≤ ${MAX_RECOMPUTES_PER_EXPIRY} over all keys and over the ` +
        `${HOT_KEYS} hottest (${list(eligible)}; the others: ${list(at.filter((r) => !eligible.includes(r))) || 'none'})`,
    };
  }
  if (at.length === 0) return { strategy: undefined, reason: `no healthy run at ${where}` };
  // Nobody meets the bound: keep the strategies whose origin load does not grow with the crowd,
  // i.e. at most about one load per instance per expiry of a hot key.
  const bounded = at.filter((r) => r.hotRecomputesPerExpiry <= MAX_RECOMPUTES_PER_EXPIRY * r.instances);
  const fallback = best(bounded);
  if (!fallback) return { strategy: undefined, reason: `every strategy stampedes at ${where} (${list(at)})` };
  return {
    strategy: fallback.strategy,
    reason:
      `no strategy keeps recomputes per expiry ≤ ${MAX_RECOMPUTES_PER_EXPIRY} at ${where} (${list(at)}), so the bound falls ` +
      `back to "hot-key recomputes per expiry ≤ ${MAX_RECOMPUTES_PER_EXPIRY} × instances" (no crowd-driven stampede: ` +
      `${bounded.map((r) => `${r.strategy} ${r.hotRecomputesPerExpiry}`).join(', ')}); among those it has the lowest ` +
      `expiry-window p99 (${fallback.expiryWindowP99Ms} ms; ${bounded
        .filter((r) => r !== fallback)
        .map((r) => `${r.strategy} ${r.expiryWindowP99Ms} ms`)
        .join(', ')})`,
  };
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

const ratio = (a: number, b: number) => round(a / Math.max(b, 0.01), 1);

function targets(rows: StampedeRow[]): Verdict[] {
  const out: Verdict[] = [];
  const none = pick(rows, 'none');
  const lock = pick(rows, 'lock');
  if (lock) {
    out.push({
      ok: lock.recomputesPerExpiry <= 1.05,
      text:
        `\`lock\` keeps recomputes per expiry at 1: **${lock.recomputesPerExpiry}** (hot keys ${lock.hotRecomputesPerExpiry}, ` +
        `largest burst ${lock.maxRecomputesPerExpiry} loads).`,
    });
  }
  if (none && lock) {
    out.push({
      ok: none.hotRecomputesPerExpiry >= 3 * Math.max(1, lock.hotRecomputesPerExpiry),
      text:
        `\`none\` shows the stampede: hot keys ${none.hotRecomputesPerExpiry} loads per expiry (lock ${lock.hotRecomputesPerExpiry}), ` +
        `largest burst ${none.maxRecomputesPerExpiry} loads (lock ${lock.maxRecomputesPerExpiry}), ${none.recomputesPerExpiry} over all keys; ` +
        `origin peak ${none.peakBackendConcurrency} in flight (lock ${lock.peakBackendConcurrency}); p99 ${none.p99Ms} ms (lock ${lock.p99Ms} ms).`,
    });
  }
  for (const strategy of ['xfetch', 'swr'] as const) {
    const r = pick(rows, strategy);
    if (!r) continue;
    out.push({
      ok: r.expiryWindowP99Ms <= 2 * r.steadyP99Ms,
      text:
        `\`${strategy}\` expiry-window p99 ${r.expiryWindowP99Ms} ms vs steady p99 ${r.steadyP99Ms} ms: ` +
        `**${ratio(r.expiryWindowP99Ms, r.steadyP99Ms)}×** (target ≤ 2×). Hot keys only: ${r.hotExpiryWindowP99Ms} ms vs ` +
        `${r.hotSteadyP99Ms} ms.`,
    });
  }
  return out;
}

const MAIN_COLUMNS: (keyof StampedeRow)[] = [
  'strategy',
  'instances',
  'clients',
  'expiries',
  'recomputes',
  'recomputesPerExpiry',
  'peakBackendConcurrency',
  'peakBackendQps100ms',
  'p50Ms',
  'p99Ms',
  'p999Ms',
  'steadyP99Ms',
  'expiryWindowP99Ms',
  'staleServed',
  'errors',
];
const DIAGNOSTIC_COLUMNS: (keyof StampedeRow)[] = [
  'strategy',
  'instances',
  'clients',
  'requests',
  'throughputRps',
  'hotRecomputesPerExpiry',
  'maxRecomputesPerExpiry',
  'expiryWindowShare',
  'expiryWindowLoaderShare',
  'hotSteadyP99Ms',
  'hotExpiryWindowP99Ms',
  'hits',
  'misses',
  'earlyRecomputes',
  'loadAvg1m',
];

function table(rows: StampedeRow[], cols: (keyof StampedeRow)[]): string {
  const head = `| ${cols.join(' | ')} |\n|${cols.map((c) => (c === 'strategy' ? ' --- ' : ' ---: ')).join('|')}|`;
  const body = rows.map((r) => `| ${cols.map((c) => String(r[c])).join(' | ')} |`).join('\n');
  return `${head}\n${body}`;
}

function findings(rows: StampedeRow[], settings: Settings): string[] {
  const out: string[] = [];
  const at = (s: StampedeStrategy, instances = TARGET_INSTANCES) => pick(rows, s, instances);
  const none = at('none');
  const lock = at('lock');
  const lock1 = at('lock', 1);
  const where = `${TARGET_INSTANCES} instances, ${fmt(TARGET_CLIENTS)} clients`;
  if (none && lock) {
    out.push(
      `**The stampede** (${where}): without protection a hot key's expiry sends every reader that arrives during the ` +
        `reload to the origin — ${none.hotRecomputesPerExpiry} loads per expiry on the ${HOT_KEYS} hottest keys, up to ` +
        `${none.maxRecomputesPerExpiry} for one expiry — versus ${lock.hotRecomputesPerExpiry} (at most ${lock.maxRecomputesPerExpiry}) ` +
        `with \`lock\`. Origin peak concurrency ${none.peakBackendConcurrency} vs ${lock.peakBackendConcurrency}, peak rate ` +
        `${fmt(none.peakBackendQps100ms)} vs ${fmt(lock.peakBackendQps100ms)} loads/s, and p99 ${none.p99Ms} ms vs ${lock.p99Ms} ms. ` +
        `Over all keys the mean is ${none.recomputesPerExpiry} vs ${lock.recomputesPerExpiry}: most of the ${fmt(settings.keys)} ` +
        'Zipf keys are read only a few times per TTL, so most expiries have a single reader and dilute the mean.',
    );
  }
  if (lock && lock1) {
    const perInstance = lock.hotRecomputesPerExpiry > 1.2 && lock1.hotRecomputesPerExpiry <= 1.1;
    out.push(
      `**\`lock\` across instances**: ${lock1.recomputesPerExpiry} recomputes per expiry with 1 instance (hot keys ` +
        `${lock1.hotRecomputesPerExpiry}), ${lock.recomputesPerExpiry} with ${TARGET_INSTANCES} (hot keys ${lock.hotRecomputesPerExpiry}, ` +
        `largest burst ${lock.maxRecomputesPerExpiry}).` +
        (perInstance
          ? ' The extra loads come from the cache, not from the lab: an instance whose L1 copy has gone stale never ' +
            "looks at L2 again; while another instance holds the lease it serves stale, and as soon as that lease is released it " +
            'takes the lease itself and reloads, although L2 already holds the fresh value. So each instance recomputes once ' +
            'per expiry (≈ instances loads per expiry on hot keys). `swr` has the same pattern (its background refresh takes ' +
            'the same lease) and `xfetch`/`singleflight` are per instance by design.'
          : ''),
    );
  }
  for (const strategy of ['xfetch', 'swr'] as const) {
    const r = at(strategy);
    if (!r) continue;
    const met = r.expiryWindowP99Ms <= 2 * r.steadyP99Ms;
    const hotMet = r.hotExpiryWindowP99Ms <= 2 * Math.max(r.hotSteadyP99Ms, 1);
    out.push(
      `**\`${strategy}\` around expiries**: expiry-window p99 ${r.expiryWindowP99Ms} ms vs steady ${r.steadyP99Ms} ms ` +
        `(${ratio(r.expiryWindowP99Ms, r.steadyP99Ms)}×); on the hot keys ${r.hotExpiryWindowP99Ms} vs ${r.hotSteadyP99Ms} ms. ` +
        `${round(r.expiryWindowLoaderShare * 100, 1)}% of its expiry-window requests ran their own load and waited for the origin` +
        (met
          ? '.'
          : r.expiryWindowLoaderShare > 0.01
            ? ` — more than 1%, so the window's p99 is an origin round trip whatever the strategy does about crowds. ` +
              (strategy === 'xfetch'
                ? 'XFetch recomputes synchronously: the reader that draws the early refresh waits for it, and keys read less ' +
                  'often than about once per β·Δ before expiry (the long Zipf tail) are not refreshed early at all and simply miss.'
                : `These are keys nobody read within TTL + staleMs (${settings.ttlMs + settings.staleMs} ms): their value is gone, ` +
                  'so there is nothing stale to serve.') +
              (hotMet ? ' On the hot keys, where stampedes happen, the target holds (their steady p99 taken as at least 1 ms).' : '')
            : '.'),
    );
  }
  const target = rows.filter((r) => r.instances === TARGET_INSTANCES && r.clients === TARGET_CLIENTS);
  const byP99 = [...target].sort((x, y) => x.p99Ms - y.p99Ms);
  const byWindow = [...target].sort((x, y) => x.expiryWindowP99Ms - y.expiryWindowP99Ms);
  if (byP99[0] && byWindow[0]) {
    out.push(
      `**Lowest p99** (${where}): ${byP99.map((r) => `\`${r.strategy}\` ${r.p99Ms} ms`).join(', ')}. ` +
        `Lowest expiry-window p99: ${byWindow.map((r) => `\`${r.strategy}\` ${r.expiryWindowP99Ms} ms`).join(', ')}.`,
    );
  }
  return out;
}

function markdown(
  settings: Settings,
  quick: boolean,
  rows: StampedeRow[],
  seconds: number,
  load: { before: number[]; after: number[] },
): string {
  const rec = recommend(rows);
  const lines: string[] = [];
  const push = (...xs: string[]) => lines.push(...xs);
  push('# Stampede lab', '');
  push(
    `Generated by \`npm run lab -- stampede${quick ? ' --quick' : ''}\` in ${Math.round(seconds)} s on ${availableParallelism()} CPUs, ` +
      `Node ${process.version}, Redis at ${REDIS_URL.replace(/\/\/[^@]*@/, '//')}. Key choices, think times and XFetch's draws ` +
      'come from seeded mulberry32 streams, so every run issues the same request sequences; the timing (and so the exact ' +
      'counts and percentiles) still varies with OS scheduling, more so when other work shares the machine ' +
      `(load average ${load.before.map((x) => x.toFixed(1)).join(' / ')} before the run, ` +
      `${load.after.map((x) => x.toFixed(1)).join(' / ')} after).`,
    '',
  );
  push('## Method', '');
  push(
    `- **Origin** (stands in for PostgreSQL): an HTTP server in the orchestrator process. A load answers after ` +
      `${settings.backendBaseMs} ms × (1 + inFlight / ${settings.backendK}), inFlight counting the load itself at its ` +
      `arrival, so a crowd slows every load down and the origin tops out at ${fmt((settings.backendK / settings.backendBaseMs) * 1000)} ` +
      'loads/s. A load whose client gave up still runs to the end, like a query. It logs every load: time, key, in-flight count.',
    `- **Instances**: ${settings.instances.join(' or ')} worker processes (\`lab/stampede-worker.ts\`) sharing one Redis, each with ` +
      '`createCache` from `src/cache` on its own ioredis connection and a Redis invalidation bus ' +
      `(\`createRedisBus\`): L1 \`lru\` of ${fmt(settings.l1Capacity)} entries (every key fits, so only TTLs expire values), L2 ` +
      `in Redis, TTL ${settings.ttlMs} ms, staleMs ${settings.staleMs} ms, lock leaseMs ${settings.leaseMs} ms and lockWaitMs ` +
      `${settings.lockWaitMs} ms, XFetch β ${settings.beta}. Each run uses a fresh cache name (key prefix) and deletes its keys afterwards.`,
    `- **Clients**: ${settings.clients.map(fmt).join(', ')} closed-loop clients split evenly over the instances. Each draws ` +
      `keys from Zipf(${settings.zipfS}) over ${fmt(settings.keys)} keys with its own seeded stream, calls ` +
      `\`cache.get(key, () => load from origin)\` with a ${fmt(settings.timeoutMs)} ms timeout (a timeout or failed load is an ` +
      `error and counts in the latencies at its duration), then thinks ${settings.thinkMs / 2}–${settings.thinkMs * 1.5} ms.`,
    `- **Runs**: every strategy × instances × clients. Each run starts fresh processes, warms up ${settings.warmupMs / 1000} s ` +
      `(cold start), then measures ${settings.measureMs / 1000} s: only requests issued and loads started in the measurement count.`,
    '',
  );
  push('## Definitions', '');
  push(
    `- **expiries**: bursts in the origin's load log. Per key, in time order, a load less than ${settings.burstGapMs} ms ` +
      "(half the TTL) after the first load of the key's current burst joins that burst; otherwise it starts a new burst. " +
      'One burst = one expiry (a miss after the TTL, an XFetch early refresh and an SWR background refresh all start one).',
    '- **recomputes**: origin loads. **recomputesPerExpiry** = recomputes / expiries. **hotRecomputesPerExpiry**: the same ' +
      `over the ${HOT_KEYS} most popular keys (${round((harmonic(HOT_KEYS, settings.zipfS) / harmonic(settings.keys, settings.zipfS)) * 100, 0)}% ` +
      'of all reads). **maxRecomputesPerExpiry**: loads in the largest burst.',
    '- **peakBackendConcurrency**: most loads in flight at the origin. **peakBackendQps100ms**: most loads started in one ' +
      '100 ms bucket, × 10 (loads/s).',
    `- **expiry window**: a request for key K belongs to it if it was in flight at some moment of [b − ${settings.preWindowMs} ms, ` +
      `b + ${settings.windowMs} ms) for the start b of a burst of K, or if its own loader ran. The interval starts a little ` +
      'before b because the key went stale before its reload reached the origin (the first reader\'s L2, lease and HTTP ' +
      'round trips), and overlap rather than issue time puts the request whose miss started the load, issued just before ' +
      'b, in the window. **steady**: all other requests. ' +
      '**expiryWindowLoaderShare**: share of window requests whose own loader ran.',
    '- **p50/p99/p999** over all measured requests; **staleServed** from the caches\' counters (values served past their ' +
      'soft TTL by `lock` and `swr`); **errors**: timeouts and failed loads.',
    '',
  );
  push('## Results', '');
  push(table(rows, MAIN_COLUMNS), '');
  push('Diagnostics:', '');
  push(table(rows, DIAGNOSTIC_COLUMNS), '');
  push('![p99 vs clients](stampede-p99.svg)', '');
  push('![recomputes per expiry vs clients](stampede-recomputes.svg)', '');
  push('![hot-key recomputes per expiry vs clients](stampede-recomputes-hot.svg)', '');
  push('![origin peak concurrency](stampede-backend.svg)', '');
  push('![steady vs expiry-window p99](stampede-window.svg)', '');
  push('## Findings', '');
  for (const f of findings(rows, settings)) push(`- ${f}`);
  push('');
  push(`### Targets (issue 4 §6, ${TARGET_INSTANCES} instances, ${fmt(TARGET_CLIENTS)} clients)`, '');
  for (const v of targets(rows)) push(`- ${v.ok ? '✅' : '❌'} ${v.text}`);
  push('');
  push(`**Recommended default: ${rec.strategy ? `\`${rec.strategy}\`` : 'none'}** — ${rec.reason}.`, '');
  return `${lines.join('\n')}\n`;
}

function harmonic(n: number, s: number): number {
  let sum = 0;
  for (let i = 1; i <= n; i++) sum += 1 / i ** s;
  return sum;
}

function charts(rows: StampedeRow[], settings: Settings): Record<string, string> {
  const strategies = STAMPEDE_STRATEGIES.filter((s) => rows.some((r) => r.strategy === s));
  const series = (instances: number, field: keyof StampedeRow) =>
    strategies.map((s) => ({
      name: s,
      points: rows
        .filter((r) => r.strategy === s && r.instances === instances)
        .map((r) => [r.clients, Number(r[field])] as [number, number]),
    }));
  const at = rows.filter((r) => r.instances === TARGET_INSTANCES && r.clients === TARGET_CLIENTS);
  const byStrategy = (field: keyof StampedeRow) =>
    strategies.map((s) => {
      const r = at.find((x) => x.strategy === s);
      return r ? Number(r[field]) : null;
    });
  return {
    'stampede-p99.svg': lineChart({
      title: `p99 latency vs clients (${TARGET_INSTANCES} instances)`,
      xLabel: 'clients',
      yLabel: 'p99 (ms)',
      series: series(TARGET_INSTANCES, 'p99Ms'),
      logX: true,
      logY: true,
    }),
    'stampede-recomputes.svg': lineChart({
      title: `Origin loads per expiry vs clients (${TARGET_INSTANCES} instances)`,
      xLabel: 'clients',
      yLabel: 'recomputes per expiry',
      series: series(TARGET_INSTANCES, 'recomputesPerExpiry'),
      logX: true,
    }),
    'stampede-recomputes-hot.svg': lineChart({
      title: `Origin loads per expiry of the ${HOT_KEYS} hottest keys (${TARGET_INSTANCES} instances)`,
      xLabel: 'clients',
      yLabel: 'recomputes per expiry (hot keys)',
      series: series(TARGET_INSTANCES, 'hotRecomputesPerExpiry'),
      logX: true,
    }),
    'stampede-backend.svg': barChart({
      title: `Origin peak concurrency (${TARGET_INSTANCES} instances)`,
      xLabel: 'strategy',
      yLabel: 'loads in flight (peak)',
      categories: strategies,
      series: settings.clients.map((c) => ({
        name: `${fmt(c)} clients`,
        values: strategies.map((s) => {
          const r = rows.find((x) => x.strategy === s && x.instances === TARGET_INSTANCES && x.clients === c);
          return r ? r.peakBackendConcurrency : null;
        }),
      })),
      logY: true,
      valueLabels: true,
    }),
    'stampede-window.svg': barChart({
      title: `Steady vs expiry-window p99 (${TARGET_INSTANCES} instances, ${fmt(TARGET_CLIENTS)} clients)`,
      xLabel: 'strategy',
      yLabel: 'p99 (ms)',
      categories: strategies,
      series: [
        { name: 'steady p99', values: byStrategy('steadyP99Ms') },
        { name: 'expiry-window p99', values: byStrategy('expiryWindowP99Ms') },
      ],
      logY: true,
      valueLabels: true,
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// Entry
// ---------------------------------------------------------------------------------------------

export async function runStampedeLab({ quick, out }: StampedeLabOptions): Promise<StampedeRow[]> {
  const settings = quick ? QUICK : FULL;
  const outDir = resolve(out);
  mkdirSync(outDir, { recursive: true });
  // Development filters (comma-separated): STAMPEDE_STRATEGIES, STAMPEDE_INSTANCES, STAMPEDE_CLIENTS.
  const only = (name: string) => process.env[name]?.split(',').filter(Boolean);
  const strategies = (only('STAMPEDE_STRATEGIES') as StampedeStrategy[] | undefined) ?? [...STAMPEDE_STRATEGIES];
  const instanceCounts = only('STAMPEDE_INSTANCES')?.map(Number) ?? settings.instances;
  const clientCounts = only('STAMPEDE_CLIENTS')?.map(Number) ?? settings.clients;
  const started = performance.now();
  const loadBefore = loadavg();
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const backend = await startBackend({ baseMs: settings.backendBaseMs, k: settings.backendK });
  const onSignal = () => {
    killAll();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const rows: StampedeRow[] = [];
  try {
    await redis.ping().catch((error: unknown) => {
      throw new Error(`stampede lab: Redis is not reachable at ${REDIS_URL} (${error instanceof Error ? error.message : String(error)})`);
    });
    for (const instances of instanceCounts) {
      for (const clients of clientCounts) {
        for (const strategy of strategies) {
          const t0 = performance.now();
          const data = await runOne({ strategy, instances, clients }, settings, backend, redis);
          const row = analyze(data, settings);
          rows.push(row);
          console.log(
            `[stampede] ${strategy.padEnd(12)} ${instances}×${String(clients).padStart(4)} clients: ` +
              `${fmt(row.requests)} req, ${row.expiries} expiries, ${row.recomputesPerExpiry} loads/expiry (hot ${row.hotRecomputesPerExpiry}, max ${row.maxRecomputesPerExpiry}), ` +
              `origin peak ${row.peakBackendConcurrency}, p50 ${row.p50Ms} p99 ${row.p99Ms} ms, steady/window p99 ` +
              `${row.steadyP99Ms}/${row.expiryWindowP99Ms} ms, stale ${row.staleServed}, errors ${row.errors} ` +
              `(${((performance.now() - t0) / 1000).toFixed(1)} s)`,
          );
        }
      }
    }
  } finally {
    killAll();
    await backend.close();
    redis.disconnect();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const seconds = (performance.now() - started) / 1000;
  writeFileSync(join(outDir, 'stampede.json'), `${JSON.stringify(rows, null, 2)}\n`);
  for (const [name, svg] of Object.entries(charts(rows, settings))) writeFileSync(join(outDir, name), svg);
  writeFileSync(join(outDir, 'stampede.md'), markdown(settings, quick, rows, seconds, { before: loadBefore, after: loadavg() }));
  const rec = recommend(rows);
  console.log(`[stampede] recommended default: ${rec.strategy ?? 'none found'} (${rec.reason})`);
  console.log(`[stampede] wrote ${join(outDir, 'stampede.json')}, stampede.md and 5 SVG charts`);
  return rows;
}
