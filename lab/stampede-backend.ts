/**
 * Shared pieces of the stampede lab: the seeded PRNG and Zipf sampler used by the simulated
 * clients, the IPC messages between the orchestrator and its worker processes, and the "origin"
 * backend whose latency grows with its concurrency.
 */
import { createServer, type Server } from 'node:http';
import { mulberry32, seedOf, zipfSampler } from '../harness/random.js';

export { mulberry32, seedOf, zipfSampler };
import type { AddressInfo } from 'node:net';
import type { CacheStats, StampedeStrategy } from '../src/cache/cache.types.js';


/** Wall-clock epoch milliseconds with sub-millisecond resolution (comparable across processes). */
export const epochNow = (): number => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------------------------------------
// Orchestrator ⇄ worker messages
// ---------------------------------------------------------------------------------------------

/** Everything a worker (one service instance) needs, passed as JSON in STAMPEDE_WORKER_CONFIG. */
export interface WorkerConfig {
  instance: number;
  strategy: StampedeStrategy;
  /** Simulated clients in this instance, and the global index of its first client (for seeds). */
  clients: number;
  firstClient: number;
  keys: number;
  zipfS: number;
  seed: number;
  cacheName: string;
  redisUrl: string;
  backendUrl: string;
  ttlMs: number;
  staleMs: number;
  leaseMs: number;
  lockWaitMs: number;
  beta: number;
  l1Capacity: number;
  /** Mean think time between a client's requests (uniform in [0.5, 1.5] × mean). */
  thinkMs: number;
  timeoutMs: number;
}

export type ToWorker =
  | { type: 'start'; startAt: number; measureFrom: number; measureTo: number }
  | { type: 'shutdown' };

export interface WorkerResult {
  type: 'result';
  instance: number;
  /** Requests issued in [measureFrom, measureTo): issue time (epoch ms), latency, key rank, flags. */
  issuedAt: Float64Array;
  latencyMs: Float32Array;
  key: Uint16Array;
  flags: Uint8Array;
  /** Cache stats accumulated during the measurement. */
  stats: CacheStats;
  /** Requests issued over the whole run (warm-up included) and requests still unresolved at the end. */
  totalRequests: number;
  abandoned: number;
}

export const FLAG_ERROR = 1;
/** This request's own loader ran (it triggered a backend load). */
export const FLAG_LOADED = 2;

export type FromWorker = { type: 'ready'; instance: number } | WorkerResult | { type: 'failed'; instance: number; message: string };

// ---------------------------------------------------------------------------------------------
// The origin
// ---------------------------------------------------------------------------------------------

export interface BackendOptions {
  /** Latency of a load with nothing else in flight. */
  baseMs: number;
  /** Latency = baseMs × (1 + inFlight / k), inFlight counting this load. */
  k: number;
}

/** Every load the origin served: arrival time (epoch ms), key rank, loads in flight including it. */
export interface LoadLog {
  t: number[];
  key: number[];
  inFlight: number[];
}

export interface Backend {
  url: string;
  log: LoadLog;
  /** Forget the log (between runs). */
  reset(): void;
  inFlight(): number;
  close(): Promise<void>;
}

/**
 * The origin (standing in for PostgreSQL): `GET /load?key=N` answers after
 * `baseMs × (1 + inFlight / k)` ms, so a crowd of concurrent loads makes each of them slower and
 * a stampede feeds on itself. Its throughput is bounded by k / baseMs loads per ms.
 */
export async function startBackend(options: BackendOptions): Promise<Backend> {
  let log: LoadLog = { t: [], key: [], inFlight: [] };
  let inFlight = 0;
  let version = 0;
  const server: Server = createServer((req, res) => {
    const t = epochNow();
    const match = /[?&]key=(\d+)/.exec(req.url ?? '');
    const key = match ? Number(match[1]) : -1;
    inFlight++;
    log.t.push(t);
    log.key.push(key);
    log.inFlight.push(inFlight);
    const delay = options.baseMs * (1 + inFlight / options.k);
    // Like a database, the origin finishes a query whose client gave up: it stays in flight.
    setTimeout(() => {
      inFlight--;
      if (res.destroyed) return;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ key, version: ++version, at: Math.round(t), seats: 'A'.repeat(64) }));
    }, delay);
  });
  server.keepAliveTimeout = 60_000;
  server.maxRequestsPerSocket = 0;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get log() {
      return log;
    },
    reset() {
      log = { t: [], key: [], inFlight: [] };
    },
    inFlight: () => inFlight,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
