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
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
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
  /** Bursts of loads of one key (see BURST_GAP) that started during the measurement. */
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
  expiryWindowShare: number;
  staleServed: number;
  errors: number;
  hits: number;
  misses: number;
  earlyRecomputes: number;
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
  /** Requests for K in flight during [burst start, burst start + this) are in the expiry window. */
  windowMs: number;
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
  thinkMs: 50,
  timeoutMs: 2_000,
  backendBaseMs: 20,
  backendK: 100,
  burstGapMs: 500,
  windowMs: 250,
};
export const FULL: Settings = { ...COMMON, instances: [1, 3], clients: [100, 300, 1_000], warmupMs: 4_000, measureMs: 12_000 };
export const QUICK: Settings = { ...COMMON, instances: [1, 3], clients: [100, 1_000], warmupMs: 3_000, measureMs: 6_000 };

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
      // First burst start b with b > issued − windowMs; the request overlaps its window iff b < completed.
      let lo = 0;
      let hi = starts.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (starts[mid]! <= issued - settings.windowMs) lo = mid + 1;
        else hi = mid;
      }
      const inWindow = lo < starts.length && starts[lo]! < completed;
      (inWindow || r.flags[j]! & FLAG_LOADED ? windowLat : steadyLat).push(latency);
    }
  }
  all.sort();
  const windowSorted = Float64Array.from(windowLat).sort();
  const steadySorted = Float64Array.from(steadyLat).sort();
  const stats = results.reduce<CacheStats>(
    (sum, r) => {
      for (const name of Object.keys(sum) as (keyof CacheStats)[]) sum[name] += r.stats[name];
      return sum;
    },
    { hits: 0, misses: 0, staleServed: 0, recomputes: 0, earlyRecomputes: 0, errors: 0 },
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
    staleServed: stats.staleServed,
    errors,
    hits: stats.hits,
    misses: stats.misses,
    earlyRecomputes: stats.earlyRecomputes,
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

export function recommend(rows: StampedeRow[]): { strategy: StampedeStrategy | undefined; reason: string } {
  const at = rows.filter((r) => r.instances === TARGET_INSTANCES && r.clients === TARGET_CLIENTS);
  const eligible = at.filter((r) => r.recomputesPerExpiry <= MAX_RECOMPUTES_PER_EXPIRY && r.errors === 0);
  const best = (list: StampedeRow[]) =>
    [...list].sort((a, b) => a.expiryWindowP99Ms - b.expiryWindowP99Ms || a.p99Ms - b.p99Ms)[0];
  const chosen = best(eligible);
  if (chosen) {
    return {
      strategy: chosen.strategy,
      reason:
        `lowest expiry-window p99 (${chosen.expiryWindowP99Ms} ms) among the strategies that keep recomputes per ` +
        `expiry ≤ ${MAX_RECOMPUTES_PER_EXPIRY} without errors at ${TARGET_INSTANCES} instances / ${fmt(TARGET_CLIENTS)} clients ` +
        `(${eligible.map((r) => `${r.strategy} ${r.recomputesPerExpiry}`).join(', ')})`,
    };
  }
  // Nobody meets the bound: relax it to 1.5 × the best recomputes per expiry seen.
  const minRpe = Math.min(...at.filter((r) => r.errors === 0).map((r) => r.recomputesPerExpiry));
  const relaxed = at.filter((r) => r.errors === 0 && r.recomputesPerExpiry <= minRpe * MAX_RECOMPUTES_PER_EXPIRY);
  const fallback = best(relaxed);
  return {
    strategy: fallback?.strategy,
    reason: fallback
      ? `no strategy keeps recomputes per expiry ≤ ${MAX_RECOMPUTES_PER_EXPIRY} at ${TARGET_INSTANCES} instances / ` +
        `${fmt(TARGET_CLIENTS)} clients; among those within 1.5 × the lowest (${minRpe}), ${fallback.strategy} has the ` +
        `lowest expiry-window p99 (${fallback.expiryWindowP99Ms} ms)`
      : 'no run at the target configuration finished without errors',
  };
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function targets(rows: StampedeRow[]): Verdict[] {
  const out: Verdict[] = [];
  const none = pick(rows, 'none');
  const lock = pick(rows, 'lock');
  if (none && lock) {
    out.push({
      ok: lock.recomputesPerExpiry <= 1.05,
      text:
        `\`lock\` keeps recomputes per expiry at 1: ${lock.recomputesPerExpiry} (largest burst ${lock.maxRecomputesPerExpiry} loads); ` +
        `\`none\`: ${none.recomputesPerExpiry} (largest burst ${none.maxRecomputesPerExpiry}), i.e. ` +
        `${round(none.recomputesPerExpiry / Math.max(lock.recomputesPerExpiry, 1e-9), 1)}× lock's`,
    });
    out.push({
      ok: none.recomputesPerExpiry >= 3 * Math.max(1, lock.recomputesPerExpiry),
      text:
        `\`none\` shows the stampede: ${none.recomputesPerExpiry} recomputes per expiry, ${fmt(none.recomputes)} loads, origin peak ` +
        `concurrency ${none.peakBackendConcurrency} (lock: ${lock.peakBackendConcurrency}), p99 ${none.p99Ms} ms (lock: ${lock.p99Ms} ms)`,
    });
  }
  for (const strategy of ['xfetch', 'swr'] as const) {
    const row = pick(rows, strategy);
    if (!row) continue;
    const ratio = row.expiryWindowP99Ms / row.steadyP99Ms;
    out.push({
      ok: ratio <= 2,
      text: `\`${strategy}\` expiry-window p99 ${row.expiryWindowP99Ms} ms vs steady p99 ${row.steadyP99Ms} ms: ${round(ratio, 2)}× (target ≤ 2×)`,
    });
  }
  return out;
}

function table(rows: StampedeRow[]): string {
  const cols: (keyof StampedeRow)[] = [
    'strategy',
    'instances',
    'clients',
    'expiries',
    'recomputes',
    'recomputesPerExpiry',
    'maxRecomputesPerExpiry',
    'hotRecomputesPerExpiry',
    'peakBackendConcurrency',
    'peakBackendQps100ms',
    'throughputRps',
    'p50Ms',
    'p99Ms',
    'p999Ms',
    'steadyP99Ms',
    'expiryWindowP99Ms',
    'staleServed',
    'errors',
  ];
  const head = `| ${cols.join(' | ')} |\n|${cols.map((c) => (c === 'strategy' ? ' --- ' : ' ---: ')).join('|')}|`;
  const body = rows.map((r) => `| ${cols.map((c) => String(r[c])).join(' | ')} |`).join('\n');
  return `${head}\n${body}`;
}

function markdown(settings: Settings, quick: boolean, rows: StampedeRow[], seconds: number): string {
  const rec = recommend(rows);
  const verdicts = targets(rows);
  const at = (s: StampedeStrategy) => pick(rows, s);
  const lowestP99 = [...rows.filter((r) => r.instances === TARGET_INSTANCES && r.clients === TARGET_CLIENTS)].sort(
    (a, b) => a.p99Ms - b.p99Ms,
  )[0];
  const lines: string[] = [];
  lines.push('# Stampede lab');
  lines.push('');
  lines.push(
    `Generated by \`npm run lab -- stampede${quick ? ' --quick' : ''}\` in ${seconds.toFixed(0)} s on ${availableParallelism()} CPU(s), ` +
      `Node ${process.version}. Seeded (key choices, think times and XFetch's draws); the exact counts still vary a little ` +
      'from run to run with OS scheduling.',
  );
  lines.push('');
  lines.push('## Method');
  lines.push('');
  lines.push(
    `- **Origin**: an HTTP server in the orchestrator process. A load of key K answers after ` +
      `${settings.backendBaseMs} ms × (1 + inFlight / ${settings.backendK}) (inFlight counts the load itself and is fixed at ` +
      `arrival), so its throughput tops out at ${(settings.backendK / settings.backendBaseMs) * 1000} loads/s and a crowd ` +
      'makes every load slower. A load whose client gave up still finishes (like a database query). It logs every load: time, key, in-flight count.',
  );
  lines.push(
    `- **Instances**: ${settings.instances.join(' or ')} worker processes (\`lab/stampede-worker.ts\`), each with \`createCache\` from ` +
      `src/cache on its own ioredis connection and a Redis invalidation bus, sharing one Redis: L1 \`lru\` with ` +
      `${fmt(settings.l1Capacity)} entries (every key fits: only TTLs expire values), L2 in Redis, TTL ${settings.ttlMs} ms, ` +
      `staleMs ${settings.staleMs} ms, lock leaseMs ${settings.leaseMs} ms / lockWaitMs ${settings.lockWaitMs} ms, XFetch β ${settings.beta}. ` +
      'Each run uses a fresh cache name (key prefix) and deletes its Redis keys afterwards.',
  );
  lines.push(
    `- **Clients**: ${settings.clients.map(fmt).join(', ')} closed-loop clients split evenly over the instances. Each picks a key by ` +
      `Zipf(${settings.zipfS}) over ${fmt(settings.keys)} keys from its own seeded mulberry32 stream, calls ` +
      `\`cache.get(key, load from origin)\` with a ${settings.timeoutMs} ms timeout (a timeout or a failed load is an error; its ` +
      `latency counts as measured), then thinks ${settings.thinkMs / 2}–${settings.thinkMs * 1.5} ms.`,
  );
  lines.push(
    `- **Runs**: every strategy × instances × clients; each run warms up ${settings.warmupMs / 1000} s and then measures ` +
      `${settings.measureMs / 1000} s. Only requests issued and loads started during the measurement count.`,
  );
  lines.push('');
  lines.push('## Definitions');
  lines.push('');
  lines.push(
    `- **expiries**: from the origin's load log. For each key, loads in time order; a load less than ${settings.burstGapMs} ms ` +
      `(half the TTL) after the first load of the key's current burst joins that burst, otherwise it starts a new one. ` +
      'One burst = one expiry (early refreshes and refreshes of stale values count the same way).',
  );
  lines.push('- **recomputes**: origin loads; **recomputesPerExpiry** = recomputes / expiries; **maxRecomputesPerExpiry**: loads in the largest burst.');
  lines.push('- **peakBackendConcurrency**: the most loads in flight at the origin; **peakBackendQps100ms**: the most loads started in one 100 ms bucket, × 10.');
  lines.push(
    `- **expiry window**: a request for K is in it if it was in flight at any moment of [b, b + ${settings.windowMs} ms) for ` +
      'the start b of a burst of K (issued in that interval, or issued before b and still waiting at b — e.g. the request ' +
      'whose miss triggered the load), or if its own loader ran. **steady**: every other request. p99s are over each set; ' +
      'p50/p99/p999 over all requests.',
  );
  lines.push('- **staleServed**: values served past their soft TTL (`swr`, `lock`), from the caches\' own counters during the measurement.');
  lines.push('');
  lines.push('## Results');
  lines.push('');
  lines.push(table(rows));
  lines.push('');
  lines.push('Charts: [p99 vs clients](stampede-p99.svg), [recomputes per expiry](stampede-recomputes.svg), ' +
    '[origin peak concurrency](stampede-backend.svg), [expiry window vs steady p99](stampede-window.svg).');
  lines.push('');
  lines.push('![p99 vs clients](stampede-p99.svg)');
  lines.push('');
  lines.push('![recomputes per expiry](stampede-recomputes.svg)');
  lines.push('');
  lines.push('![origin peak concurrency](stampede-backend.svg)');
  lines.push('');
  lines.push('![expiry window vs steady p99](stampede-window.svg)');
  lines.push('');
  lines.push(`## Findings (${TARGET_INSTANCES} instances, ${fmt(TARGET_CLIENTS)} clients)`);
  lines.push('');
  for (const s of STAMPEDE_STRATEGIES) {
    const r = at(s);
    if (!r) continue;
    lines.push(
      `- \`${s}\`: ${r.recomputesPerExpiry} recomputes per expiry (largest burst ${r.maxRecomputesPerExpiry}), origin peak ` +
        `${r.peakBackendConcurrency} in flight / ${fmt(r.peakBackendQps100ms)} loads/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ` +
        `steady p99 ${r.steadyP99Ms} ms, expiry-window p99 ${r.expiryWindowP99Ms} ms, ${fmt(r.staleServed)} stale served, ${r.errors} errors.`,
    );
  }
  if (lowestP99) lines.push(`- Lowest overall p99: \`${lowestP99.strategy}\` (${lowestP99.p99Ms} ms).`);
  lines.push('');
  lines.push('### Targets (issue 4 §6)');
  lines.push('');
  for (const v of verdicts) lines.push(`- ${v.ok ? '✅' : '❌'} ${v.text}`);
  lines.push('');
  lines.push(
    `**Recommended default: ${rec.strategy ? `\`${rec.strategy}\`` : 'none found'}** — ${rec.reason}.`,
  );
  lines.push('');
  return `${lines.join('\n')}\n`;
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
      logY: true,
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
    await redis.ping();
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
  writeFileSync(join(outDir, 'stampede.md'), markdown(settings, quick, rows, seconds));
  const rec = recommend(rows);
  console.log(`[stampede] recommended default: ${rec.strategy ?? 'none found'} (${rec.reason})`);
  console.log(`[stampede] wrote ${join(outDir, 'stampede.json')}, stampede.md and 4 SVG charts`);
  return rows;
}
