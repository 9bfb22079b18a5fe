/**
 * The processes a benchmark run starts: the service on embedded PostgreSQL (or DATABASE_URL), a
 * second instance on the same database without the hot-read cache and the outbox relay, with
 * REDIS_URL a third that keeps the waiting room in Redis, and the bare Fastify route.
 */
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postmasterPid } from '../harness/cpu.js';
import { freePort, startProcess as startChild, stopProcess as stop, waitReady } from '../harness/processes.js';
import { tracingEnv } from './otlp-sink.js';

export const ADMIN_TOKEN = 'bench-admin-token-0123456789';

/** One running instance: its base URL and the process whose CPU time a measurement counts. */
export interface Instance {
  url: string;
  pid: number | undefined;
}

export interface Processes {
  /** The bare route's URL. */
  bare: string;
  /** The service that owns the embedded PostgreSQL (or uses DATABASE_URL); the relay runs here without Redis. */
  service: Instance;
  /** Same database, hot-read cache and outbox relay off. */
  uncached: Instance;
  /** Same database, waiting room in Redis (only with REDIS_URL). */
  redis: Instance | undefined;
  /** The database all instances share, for the invariants. */
  databaseUrl: string;
  /** The embedded PostgreSQL's postmaster (undefined with DATABASE_URL), whose processes' CPU a measurement counts. */
  postgresPid: number | undefined;
  /** Starts one more instance on the same database (relay on, cache on) with `env` added; stopped by `stop()` or with the rest. */
  startInstance(env: Record<string, string>): Promise<Instance & { stop(): Promise<void> }>;
  stop(): Promise<void>;
}

// BENCH_NODE_ARGS passes flags to the measured processes, e.g. --cpu-prof to profile the service.
const startProcess = (script: string, env: Record<string, string>) =>
  startChild(script, env, (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean));

/**
 * Starts the processes and waits until each is ready. Should one fail to start, the ones already
 * running are stopped before the error is thrown.
 */
export async function startProcesses(options: {
  rateLimits: boolean;
  tracing: string;
  /** False: the first instance does not relay the outbox (instances started later do). Default true. */
  relay?: boolean;
}): Promise<Processes> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ticketing-bench-'));
  chmodSync(dataDir, 0o755);
  const [barePort, servicePort, pgPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const databaseUrl = process.env.DATABASE_URL;
  const redisUrl = process.env.REDIS_URL;

  // The waiting room admits everyone at once here: these scenarios measure booking, not pacing.
  const serviceEnv = {
    DEMO_DATA: 'false',
    LOG_LEVEL: 'warn',
    ADMIN_TOKEN,
    TOKEN_SECRET: 'bench-token-secret-0123456789-0123456789',
    QUEUE_MAX_ACTIVE: '1000000',
    QUEUE_ADMIT_PER_SECOND: '1000000',
    // One load generator on one address stands for thousands of users: limits would refuse it. With
    // --rate-limits they count every request but sit far above what this machine can send.
    ...(options.rateLimits
      ? { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_PER_IP: '10000000', RATE_LIMIT_JOIN: '1000000', RATE_LIMIT_POLL: '1000000', RATE_LIMIT_HOLD: '1000000', RATE_LIMIT_PAY: '1000000', RATE_LIMIT_SIGNUP: '1000000' }
      : { RATE_LIMIT_ENABLED: 'false' }),
    // Capacity at saturation is what is measured: load shedding would refuse the very load that
    // finds it (the bare route sheds nothing either).
    OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
    OVERLOAD_MAX_DATABASE_WAIT_MS: '0',
    OVERLOAD_MAX_ARRIVALS_IN_FLIGHT: '0',
  };
  const tracing = await tracingEnv(options.tracing);
  const bare = startProcess('bench/bare-server.ts', { PORT: String(barePort) });
  const service = startProcess('src/main.ts', {
    ...serviceEnv,
    ...tracing,
    PORT: String(servicePort),
    DATA_DIR: dataDir,
    EMBEDDED_PG_PORT: String(pgPort),
    // With Redis, only the Redis instance relays, as in a deployment where every relay publishes
    // to the same broker (a relay here would send half the events to an in-process broker).
    OUTBOX_RELAY_ENABLED: redisUrl || options.relay === false ? 'false' : 'true',
  });
  let uncached: ChildProcess | undefined;
  let redis: ChildProcess | undefined;
  const extra = new Set<ChildProcess>();
  const stopAll = async () => {
    // The other instances first: the first one owns the embedded PostgreSQL they use.
    await Promise.all([stop(bare), ...[redis, uncached, ...extra].filter((c) => c !== undefined).map(stop)]);
    await stop(service);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const bareUrl = `http://127.0.0.1:${barePort}`;
    const base = `http://127.0.0.1:${servicePort}`;
    await Promise.all([waitReady(`${bareUrl}/bare`, bare), waitReady(`${base}/health/ready`, service)]);
    const secrets = JSON.parse(readFileSync(join(dataDir, 'secrets.json'), 'utf8'));
    const sharedDatabaseUrl =
      databaseUrl ?? `postgres://postgres:${encodeURIComponent(secrets.databasePassword)}@127.0.0.1:${pgPort}/postgres`;
    // A second instance on the same database with the hot-read cache and the outbox relay off, for the
    // cached/uncached seat map and the payment throughput with and without the relay.
    const uncachedPort = await freePort();
    const uncachedBase = `http://127.0.0.1:${uncachedPort}`;
    uncached = startProcess('src/main.ts', {
      ...serviceEnv,
      ...tracing,
      PORT: String(uncachedPort),
      DATABASE_URL: sharedDatabaseUrl,
      CACHE_ENABLED: 'false',
      OUTBOX_RELAY_ENABLED: 'false',
      ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
    });
    await waitReady(`${uncachedBase}/health/ready`, uncached);
    // With REDIS_URL, another instance on the same database keeps the waiting room in Redis.
    let redisBase: string | undefined;
    if (redisUrl) {
      const redisPort = await freePort();
      redisBase = `http://127.0.0.1:${redisPort}`;
      redis = startProcess('src/main.ts', {
        ...serviceEnv,
        ...tracing,
        PORT: String(redisPort),
        DATABASE_URL: sharedDatabaseUrl,
        REDIS_URL: redisUrl,
      });
      await waitReady(`${redisBase}/health/ready`, redis);
    }
    return {
      bare: `${bareUrl}/bare`,
      service: { url: base, pid: service.pid },
      uncached: { url: uncachedBase, pid: uncached.pid },
      redis: redisBase && redis ? { url: redisBase, pid: redis.pid } : undefined,
      databaseUrl: sharedDatabaseUrl,
      postgresPid: databaseUrl ? undefined : await postmasterPid(sharedDatabaseUrl),
      async startInstance(env) {
        const port = await freePort();
        const url = `http://127.0.0.1:${port}`;
        const child = startProcess('src/main.ts', { ...serviceEnv, ...env, PORT: String(port), DATABASE_URL: sharedDatabaseUrl, OUTBOX_RELAY_ENABLED: 'true' });
        extra.add(child);
        const stopIt = async () => {
          await stop(child);
          extra.delete(child);
        };
        try {
          await waitReady(`${url}/health/ready`, child);
        } catch (error) {
          await stopIt();
          throw error;
        }
        return { url, pid: child.pid, stop: stopIt };
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
