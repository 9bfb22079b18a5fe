/**
 * `npm run capacity:measure -- [--users 3000] [--out docs/load/step-cost.json]`: what each step of a
 * user's journey costs, one step at a time, for the capacity plan (load/capacity.ts). It starts a
 * Redis server of its own on a free port (nothing else on it) and one service instance on an
 * embedded PostgreSQL (nothing else on it either), creates N users and drives them through the
 * journey step by step, 50 requests at a time (a refund and leaving the line included). For each step: Redis commands, service CPU,
 * PostgreSQL CPU, WAL bytes and rows written per request, each less what the background loops
 * spend in the same time with no request in flight (measured first). With the line paused, the
 * server's `used_memory` before and after N users join gives the bytes per waiting user.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createConcert } from '../harness/concerts.js';
import { cpuSeconds, postmasterPid } from '../harness/cpu.js';
import { freePort, stopProcess } from '../harness/processes.js';
import { startSystem } from './system.js';

const { values: args } = parseArgs({
  options: {
    users: { type: 'string', default: '3000' },
    out: { type: 'string', default: 'docs/load/step-cost.json' },
  },
});
const users = Number(args.users);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  // Commands wait in the client's queue until the server listens (retried every 100 ms).
  const redis = new Redis({ port, retryStrategy: (n) => (n > 50 ? null : 100) });
  await redis.ping();
  return { url: `redis://127.0.0.1:${port}`, redis, stop: async () => (await redis.quit(), await stopProcess(child)) };
}

async function inBatches<T>(items: T[], size: number, fn: (item: T, i: number) => Promise<void>) {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map((item, j) => fn(item, i + j)));
}

interface Reading {
  at: number;
  commands: number;
  service: number;
  postgres: number;
  walBytes: number;
  lsn: string;
  redisCpu: number;
}
type Cost = { requests: number; redisCommands: number; redisCpuMs: number; serviceCpuMs: number; postgresCpuMs: number; walBytes: number; rowsWritten: number };

const own = await startRedis();
const system = await startSystem({ instances: 1, databaseUrl: undefined, redisUrl: own.url, holdTtlSeconds: 300, admitPerSecond: 5_000, maxActive: 1_000_000, poolSize: undefined });
const db = new pg.Client({ connectionString: system.databaseUrl });
try {
  await db.connect();
  const postmaster = await postmasterPid(system.databaseUrl);
  // Rows written are read from the WAL: heap records that insert, update or delete a row.
  await db.query('CREATE EXTENSION IF NOT EXISTS pg_walinspect');
  const rowsBetween = async (from: Reading, to: Reading) =>
    from.lsn === to.lsn ? 0 : Number(
      (
        await db.query(
          `SELECT coalesce(sum(count), 0)::float8 AS rows FROM pg_get_wal_stats($1::pg_lsn, $2::pg_lsn, true)
            WHERE "resource_manager/record_type" ~ '^Heap/(INSERT|UPDATE|HOT_UPDATE|DELETE)'`,
          [from.lsn, to.lsn],
        )
      ).rows[0].rows,
    );
  const base = system.urls[0]!;
  const info = async (field: string, section: string) => Number(new RegExp(`^${field}:(\\d+)`, 'm').exec(await own.redis.info(section))![1]);
  async function read(): Promise<Reading> {
    // The relay marks a step's events sent, and the consumers handle them, within about a second.
    await sleep(1_100);
    const cpu = cpuSeconds(system.pids, postmaster);
    const { rows } = await db.query(`SELECT pg_current_wal_lsn()::text AS lsn, pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8 AS wal`);
    const redisCpu = await own.redis.info('cpu');
    const seconds = (field: string) => Number(new RegExp(`^${field}:([\\d.]+)`, 'm').exec(redisCpu)![1]);
    return {
      at: Date.now(),
      commands: await info('total_commands_processed', 'stats'),
      redisCpu: seconds('used_cpu_user') + seconds('used_cpu_sys'),
      service: cpu.service,
      postgres: cpu.postgres,
      walBytes: rows[0].wal,
      lsn: rows[0].lsn,
    };
  }
  const api = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
    return res.json() as Promise<Record<string, unknown>>;
  };
  const admin = { authorization: `Bearer ${system.adminToken}` };
  const seatsPerSchedule = 1_000;
  const concert = await createConcert(base, system.adminToken, {
    title: 'Step cost', artist: 'Load test', venue: 'Loopback', schedules: Math.ceil(users / seatsPerSchedule), seatCount: seatsPerSchedule, price: 1_000,
  });
  const schedules = concert.schedules.map((s) => s.id);
  await api('POST', `/admin/concerts/${concert.id}/queue/pause`, undefined, admin);

  // What the background loops spend per second with nothing asked of the service.
  const idleFrom = await read();
  await sleep(5_000);
  const idleTo = await read();
  const idleSeconds = (idleTo.at - idleFrom.at) / 1000;
  type Figure = Exclude<keyof Reading, 'at' | 'lsn'>;
  const idle = (k: Figure) => (idleTo[k] - idleFrom[k]) / idleSeconds;
  const idleRows = (await rowsBetween(idleFrom, idleTo)) / idleSeconds;

  const steps: Record<string, Cost> = {};
  const people = Array.from({ length: users }, () => ({ token: '', queueToken: '', reservationId: '' }));
  async function step(name: string, run: (p: (typeof people)[number], i: number) => Promise<void>) {
    const from = await read();
    await inBatches(people, 50, run);
    const to = await read();
    const seconds = (to.at - from.at) / 1000;
    // Each reading sends Redis two INFOs (stats, cpu): those are not the step's.
    const perRequest = (total: number) => Math.round((total * 1000) / users) / 1000;
    const per = (k: Figure, scale = 1, own = 0) => perRequest((to[k] - from[k] - own - idle(k) * seconds) * scale);
    steps[name] = {
      requests: users,
      redisCommands: per('commands', 1, 2),
      redisCpuMs: per('redisCpu', 1000),
      serviceCpuMs: per('service', 1000),
      postgresCpuMs: per('postgres', 1000),
      walBytes: Math.round(per('walBytes')),
      rowsWritten: perRequest((await rowsBetween(from, to)) - idleRows * seconds),
    };
    console.log(`${name.padEnd(16)} ${JSON.stringify(steps[name])}`);
  }
  const bearer = (p: (typeof people)[number]) => ({ authorization: `Bearer ${p.token}` });
  const booking = (p: (typeof people)[number]) => ({ ...bearer(p), 'queue-token': p.queueToken });

  await step('signup', async (p, i) => void (p.token = String((await api('POST', '/users', { name: `step-cost-${i}` })).token)));
  await step('topup', async (p) => void (await api('POST', '/users/me/balance/charges', { amount: 10_000 }, bearer(p))));
  await step('concerts', async () => void (await api('GET', '/concerts')));
  await step('schedules', async () => void (await api('GET', `/concerts/${concert.id}/schedules?available=true`)));
  const memoryBefore = await info('used_memory', 'memory');
  await step('join', async (p) => void (p.queueToken = String((await api('POST', `/concerts/${concert.id}/queue`, undefined, bearer(p))).token)));
  const memoryAfter = await info('used_memory', 'memory');
  const keys: Record<string, number> = {};
  for await (const batch of own.redis.scanStream({ count: 1_000 })) {
    for (const key of batch as string[]) keys[key.replace(concert.id, 'c')] = (await own.redis.memory('USAGE', key, 'SAMPLES', '0')) ?? 0;
  }
  const bytesPerWaitingUser = Math.round((memoryAfter - memoryBefore) / users);
  console.log(`memory: ${memoryBefore} -> ${memoryAfter} bytes for ${users} waiting users: ${bytesPerWaitingUser} bytes each`);
  await step('poll (waiting)', async (p) => void (await api('GET', `/concerts/${concert.id}/queue`, undefined, booking(p))));

  await api('POST', `/admin/concerts/${concert.id}/queue/resume`, undefined, admin);
  for (let tries = 0; Number((await api('GET', `/admin/concerts/${concert.id}/queue`, undefined, admin)).waiting) > 0 && tries < 120; tries++) await sleep(500);
  // An ACTIVE answer carries a new token (with the active period): the booking steps send it.
  await step('poll (active)', async (p) => void (p.queueToken = String((await api('GET', `/concerts/${concert.id}/queue`, undefined, booking(p))).token ?? p.queueToken)));
  await step('seats', async (p, i) => void (await api('GET', `/schedules/${schedules[i % schedules.length]}/seats`, undefined, booking(p))));
  await step('hold', async (p, i) => {
    const body = { scheduleId: schedules[Math.floor(i / seatsPerSchedule)], seatNumber: (i % seatsPerSchedule) + 1 };
    p.reservationId = String((await api('POST', '/reservations', body, booking(p))).id);
  });
  await step('pay', async (p) => void (await api('POST', '/payments', { reservationId: p.reservationId }, { ...booking(p), 'idempotency-key': `pay-${p.reservationId}` })));
  await step('cancel', async (p) => void (await api('DELETE', `/reservations/${p.reservationId}`, undefined, bearer(p))));
  await step('leave', async (p) => void (await fetch(`${base}/concerts/${concert.id}/queue`, { method: 'DELETE', headers: booking(p) })));

  const report = {
    at: new Date().toISOString(),
    node: process.version,
    redis: /^redis_version:(\S+)/m.exec(await own.redis.info('server'))?.[1],
    postgres: (await db.query('SHOW server_version')).rows[0].server_version,
    users,
    concurrency: 50,
    settings: system.settings,
    idlePerSecond: { redisCommands: idle('commands'), redisCpuMs: idle('redisCpu') * 1000, serviceCpuMs: idle('service') * 1000, postgresCpuMs: idle('postgres') * 1000, rowsWritten: idleRows },
    memory: { before: memoryBefore, after: memoryAfter, bytesPerWaitingUser, keysAfterJoin: keys },
    steps,
  };
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(args.out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`written to ${args.out}`);
} finally {
  await db.end().catch(() => {});
  await system.stop();
  await own.stop();
}
