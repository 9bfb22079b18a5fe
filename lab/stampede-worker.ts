/**
 * One service instance of the stampede lab (a separate process). It builds a cache with
 * `createCache` on its own Redis connection and invalidation bus, then runs its share of the
 * simulated clients: closed loops that pick a Zipf key, call `cache.get(key, load from origin)`
 * with a per-request timeout, and think a little. It reports every request issued during the
 * measurement to the orchestrator over IPC.
 *
 * Started by lab/stampede-runner.ts with STAMPEDE_WORKER_CONFIG (a JSON WorkerConfig) and an IPC channel.
 */
import { Agent, get } from 'node:http';
import { Redis } from 'ioredis';
import { createCache } from '../src/cache/cache.js';
import type { CacheStats } from '../src/cache/cache.types.js';
import { createRedisBus } from '../src/cache/invalidation.js';
import { systemClock } from '../src/platform/clock.js';
import {
  epochNow,
  FLAG_ERROR,
  FLAG_LOADED,
  mulberry32,
  seedOf,
  zipfSampler,
  type FromWorker,
  type ToWorker,
  type WorkerConfig,
} from './stampede-backend.js';

interface OriginValue {
  key: number;
  version: number;
  at: number;
  seats: string;
}

const config = JSON.parse(process.env.STAMPEDE_WORKER_CONFIG ?? 'null') as WorkerConfig | null;
if (!config || !process.send) {
  console.error('stampede-worker: run me from lab/stampede-runner.ts (needs STAMPEDE_WORKER_CONFIG and IPC)');
  process.exit(2);
}
const cfg: WorkerConfig = config;
const send = (message: FromWorker) => process.send!(message);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// The parent going away (normally or not) must never leave this process running.
process.on('disconnect', () => process.exit(0));

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timeout')), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

async function main(): Promise<void> {
  const redis = new Redis(cfg.redisUrl, { maxRetriesPerRequest: 1 });
  const subscriber = redis.duplicate();
  const bus = await createRedisBus(redis, subscriber);
  const cache = createCache<OriginValue>(
    {
      name: cfg.cacheName,
      strategy: cfg.strategy,
      ttlMs: cfg.ttlMs,
      staleMs: cfg.staleMs,
      beta: cfg.beta,
      leaseMs: cfg.leaseMs,
      lockWaitMs: cfg.lockWaitMs,
      l1Capacity: cfg.l1Capacity,
      l1Policy: 'lru',
    },
    { clock: systemClock, redis, bus, random: mulberry32(seedOf(cfg.seed, cfg.instance, 0x5eed)) },
  );

  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  const origin = (key: number): Promise<OriginValue> =>
    new Promise<OriginValue>((resolve, reject) => {
      const req = get(`${cfg.backendUrl}/load?key=${key}`, { agent, signal: AbortSignal.timeout(cfg.timeoutMs) }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          if (res.statusCode !== 200) reject(new Error(`origin answered ${res.statusCode}`));
          else resolve(JSON.parse(body) as OriginValue);
        });
        res.on('error', reject);
      });
      req.on('error', reject);
    });

  const keyNames = Array.from({ length: cfg.keys }, (_, i) => `concert:${i}:seats`);
  const zipf = zipfSampler(cfg.keys, cfg.zipfS);

  const issuedAt: number[] = [];
  const latencyMs: number[] = [];
  const keys: number[] = [];
  const flags: number[] = [];
  let totalRequests = 0;
  /** cache.get calls not settled yet (a timed-out request's get may still be running). */
  let pending = 0;

  const start = await new Promise<Extract<ToWorker, { type: 'start' }>>((resolve) => {
    process.on('message', (message: ToWorker) => {
      if (message.type === 'start') resolve(message);
      if (message.type === 'shutdown') void shutdown();
    });
    send({ type: 'ready', instance: cfg.instance });
  });

  let statsFrom: CacheStats = cache.stats();
  let statsTo: CacheStats | undefined;
  setTimeout(() => (statsFrom = cache.stats()), Math.max(0, start.measureFrom - Date.now()));
  setTimeout(() => (statsTo = cache.stats()), Math.max(0, start.measureTo - Date.now()));

  async function client(index: number): Promise<void> {
    const rand = mulberry32(seedOf(cfg.seed, cfg.firstClient + index));
    await sleep(Math.max(0, start.startAt - Date.now()) + rand() * cfg.thinkMs); // staggered start
    while (epochNow() < start.measureTo) {
      const key = zipf(rand);
      let loaded = false;
      const issued = epochNow();
      const t0 = performance.now();
      let failed = false;
      totalRequests++;
      const request = cache.get(keyNames[key]!, () => {
        loaded = true;
        return origin(key);
      });
      pending++;
      request.then(
        () => pending--,
        () => pending--,
      );
      try {
        await withTimeout(request, cfg.timeoutMs);
      } catch {
        failed = true;
      }
      if (issued >= start.measureFrom && issued < start.measureTo) {
        issuedAt.push(issued);
        latencyMs.push(performance.now() - t0);
        keys.push(key);
        flags.push((failed ? FLAG_ERROR : 0) | (loaded ? FLAG_LOADED : 0));
      }
      await sleep(cfg.thinkMs * (0.5 + rand()));
    }
  }

  await Promise.all(Array.from({ length: cfg.clients }, (_, i) => client(i)));
  const to = statsTo ?? cache.stats();
  const stats = Object.fromEntries(
    (Object.keys(to) as (keyof CacheStats)[]).map((name) => [name, to[name] - statsFrom[name]]),
  ) as unknown as CacheStats;
  send({
    type: 'result',
    instance: cfg.instance,
    issuedAt: Float64Array.from(issuedAt),
    latencyMs: Float32Array.from(latencyMs),
    key: Uint16Array.from(keys),
    flags: Uint8Array.from(flags),
    stats,
    totalRequests,
    abandoned: pending,
  });

  async function shutdown(): Promise<void> {
    agent.destroy();
    await bus.close();
    redis.disconnect();
    subscriber.disconnect();
    process.exit(0);
  }
}

main().catch((error: unknown) => {
  send({ type: 'failed', instance: cfg.instance, message: error instanceof Error ? error.stack ?? error.message : String(error) });
  setTimeout(() => process.exit(1), 100);
});
