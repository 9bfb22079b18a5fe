/**
 * The system under load when no --target is given: N service processes on one PostgreSQL (the
 * first owns an embedded one unless DATABASE_URL is set) and, with REDIS_URL, one Redis; settings
 * that let a sale finish within the run (short holds, the admission rate and limit of the flags).
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startProcess, stopProcess, waitReady } from '../harness/processes.js';

export interface SystemSettings {
  instances: number;
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  holdTtlSeconds: number;
  admitPerSecond: number;
  maxActive: number;
  poolSize: number | undefined;
}

export interface System {
  urls: string[];
  pids: number[];
  adminToken: string;
  databaseUrl: string;
  /** The service's environment that shapes the sale, for the report. */
  settings: Record<string, string>;
  stop(): Promise<void>;
}

/** The environment of a service process the load test or a drill starts: its settings, no demo data, quiet logs, its own secrets. */
export function serviceEnvironment(settings: Record<string, string>, adminToken: string): Record<string, string> {
  return { ...settings, DEMO_DATA: 'false', LOG_LEVEL: 'warn', ADMIN_TOKEN: adminToken, TOKEN_SECRET: randomBytes(32).toString('hex') };
}

/** `onStop` is given the stop at once, so an interrupt while starting can stop what started. */
export async function startSystem(s: SystemSettings, onStop: (stop: () => Promise<void>) => void = () => {}): Promise<System> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ticketing-load-'));
  chmodSync(dataDir, 0o755);
  const adminToken = `load-${randomBytes(16).toString('hex')}`;
  const settings = {
    HOLD_TTL_SECONDS: String(s.holdTtlSeconds),
    QUEUE_ADMIT_PER_SECOND: String(s.admitPerSecond),
    QUEUE_MAX_ACTIVE: String(s.maxActive),
    // One generator on one address stands for every user: per-address limits would refuse it.
    RATE_LIMIT_ENABLED: 'false',
    ...(s.poolSize ? { DATABASE_POOL_SIZE: String(s.poolSize) } : {}),
  };
  const env = { ...serviceEnvironment(settings, adminToken), ...(s.redisUrl ? { REDIS_URL: s.redisUrl } : {}) };
  // LOAD_NODE_ARGS passes flags to the service processes, e.g. `--cpu-prof --cpu-prof-dir=DIR` to profile them.
  const nodeArgs = (process.env.LOAD_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const children: ChildProcess[] = [];
  const stop = async () => {
    // The first process owns the embedded PostgreSQL the others use: it stops last.
    await Promise.all(children.slice(1).map(stopProcess));
    if (children[0]) await stopProcess(children[0]);
    rmSync(dataDir, { recursive: true, force: true });
  };
  onStop(stop);
  try {
    const [port, pgPort] = [await freePort(), await freePort()];
    const first = startProcess('src/main.ts', {
      ...env,
      PORT: String(port),
      DATA_DIR: dataDir,
      EMBEDDED_PG_PORT: String(pgPort),
      ...(s.databaseUrl ? { DATABASE_URL: s.databaseUrl } : {}),
    }, nodeArgs);
    children.push(first);
    const urls = [`http://127.0.0.1:${port}`];
    await waitReady(`${urls[0]}/health/ready`, first);
    let databaseUrl = s.databaseUrl;
    if (!databaseUrl) {
      const secrets = JSON.parse(readFileSync(join(dataDir, 'secrets.json'), 'utf8'));
      databaseUrl = `postgres://postgres:${encodeURIComponent(secrets.databasePassword)}@127.0.0.1:${pgPort}/postgres`;
    }
    for (let i = 1; i < s.instances; i++) {
      const p = await freePort();
      const child = startProcess('src/main.ts', { ...env, PORT: String(p), DATABASE_URL: databaseUrl }, nodeArgs);
      children.push(child);
      urls.push(`http://127.0.0.1:${p}`);
    }
    await Promise.all(urls.slice(1).map((u, i) => waitReady(`${u}/health/ready`, children[i + 1]!)));
    return { urls, pids: children.map((c) => c.pid ?? 0), adminToken, databaseUrl, settings, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
