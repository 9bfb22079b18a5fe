import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { freePort } from './dependencies.js';

const root = resolve(import.meta.dirname, '../..');

export interface ServiceProcess {
  base: string;
  pid: number;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Its exit code once it has exited, else undefined. */
  readonly exitCode: number | null | undefined;
  /** Sends `signal` and resolves with the exit code once it has exited. */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * What a test's service process runs with unless the test says otherwise: no demo data, warnings
 * only, no rate limits and no load shedding (tests fire bursts from one address on a shared
 * machine; the shedding tests turn it on).
 */
const PROCESS_DEFAULTS = {
  LOG_LEVEL: 'warn',
  DEMO_DATA: 'false',
  RATE_LIMIT_ENABLED: 'false',
  OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
  OVERLOAD_MAX_DATABASE_WAIT_MS: '0',
  OVERLOAD_MAX_ARRIVALS_IN_FLIGHT: '0',
};

/**
 * Runs src/main.ts as its own process (Node with tsx as a loader, so a signal reaches the service
 * itself) on a free port, and resolves once /health/ready answers 200. The environment starts from
 * this process's without DATABASE_URL, REDIS_URL and KAFKA_BROKERS: pass the ones it should use.
 */
export async function startServiceProcess(env: Record<string, string>, { readyWithinMs = 60_000 } = {}): Promise<ServiceProcess> {
  const { DATABASE_URL: _db, REDIS_URL: _redis, KAFKA_BROKERS: _kafka, ...inherited } = process.env;
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: { ...inherited, ...PROCESS_DEFAULTS, ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((done) =>
    child.once('exit', (code) => {
      exitCode = code;
      done(code);
    }),
  );
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyWithinMs;
  for (;;) {
    if (exitCode !== undefined) throw new Error(`the service exited with ${String(exitCode)} before it was ready:\n${output}`);
    const ok = await fetch(`${base}/health/ready`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the service was not ready within ${readyWithinMs} ms:\n${output}`);
    }
    await new Promise((done) => setTimeout(done, 100));
  }
  return {
    base,
    pid: child.pid!,
    output: () => output,
    get exitCode() {
      return exitCode;
    },
    async kill(signal = 'SIGTERM') {
      if (exitCode === undefined) child.kill(signal);
      return exited;
    },
  };
}
