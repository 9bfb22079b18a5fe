/**
 * One run of the stampede lab: starts the service instances as worker processes
 * (lab/stampede-worker.ts) sharing one Redis, lets them warm up and measure, collects what they
 * report and the origin's load log, and cleans up the workers and the run's Redis keys.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import type { StampedeStrategy } from '../src/cache/cache.types.js';
import type { Backend, FromWorker, ToWorker, WorkerConfig, WorkerResult } from './stampede-backend.js';
import { REDIS_URL, type Settings } from './stampede-settings.js';

const WORKER = fileURLToPath(new URL('./stampede-worker.ts', import.meta.url));
const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));

const children = new Set<ChildProcess>();

/** Kills every worker still running (when the lab ends, fails or is interrupted). */
export function killAll(): void {
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

export interface RunSpec {
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
