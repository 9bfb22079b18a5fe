/**
 * Core benchmark: starts the service (embedded PostgreSQL, or DATABASE_URL when set) and a bare
 * Fastify route in their own processes, drives both over loopback with autocannon, prints req/s and
 * p50/p99 with each figure's ratio to the bare route, then checks the invariants with SQL.
 *
 *   npm run bench                      # 10 s per scenario, 100 connections
 *   npm run bench -- --duration 5 --connections 50
 *   REDIS_URL=redis://127.0.0.1:6379 npm run bench   # adds the waiting room on Redis
 *   npm run bench -- --only holds,payments            # some scenario groups only
 *   npm run bench -- --rate-limits                    # count every request against the rate limits
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import pg from 'pg';
import { Redis } from 'ioredis';
import { createRedisBroker } from '../src/modules/events/broker.redis.js';
import { EVENTS_TOPIC } from '../src/modules/events/outbox.relay.js';
import { tracingEnv } from './otlp-sink.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '100' },
    users: { type: 'string', default: '1000' },
    out: { type: 'string', default: 'bench/results/core.json' },
    // Comma-separated scenario groups to run (default all): seatmap,holds,charges,payments,queue,events
    only: { type: 'string', default: '' },
    // Rate limits on, set far above the load: every request is counted, none refused (their cost).
    'rate-limits': { type: 'boolean', default: false },
    // Tracing in the services: off, or on at this sampling ratio (0.1, 1), exporting to a local sink.
    tracing: { type: 'string', default: 'off' },
  },
});
const groups = new Set(args.only.split(',').map((g) => g.trim()).filter(Boolean));
/** Whether a scenario group was asked for (payments and events need the holds of "holds"). */
const want = (group: string) => groups.size === 0 || groups.has(group);
const duration = Number(args.duration);
const connections = Number(args.connections);
const userCount = Number(args.users);
const ADMIN_TOKEN = 'bench-admin-token-0123456789';
const PRICE = 1_000;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function startProcess(script: string, env: Record<string, string>): ChildProcess {
  // BENCH_NODE_ARGS passes flags to the measured processes, e.g. --cpu-prof to profile the service.
  const extra = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...extra, '--import', 'tsx', script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return child;
}

async function waitReady(url: string, child: ChildProcess, seconds = 90) {
  for (let i = 0; i < seconds * 4; i++) {
    if (child.exitCode !== null) throw new Error(`${url}: process exited with ${child.exitCode}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} not ready`);
}

async function stop(child: ChildProcess) {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

async function api(base: string, method: string, path: string, body?: unknown, token?: string) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function inBatches<T, R>(items: T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

/** CPU seconds used so far by the service process and by all PostgreSQL processes (Linux /proc). */
function cpuSeconds(servicePid: number): { service: number; postgres: number } {
  const ticks = (pid: string) => {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return { name: readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), cpu: Number(fields[11]) + Number(fields[12]) };
    } catch {
      return { name: '', cpu: 0 };
    }
  };
  let postgres = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    const t = ticks(pid);
    if (t.name === 'postgres') postgres += t.cpu;
  }
  return { service: ticks(String(servicePid)).cpu / 100, postgres: postgres / 100 };
}
let servicePid = 0;

interface Row {
  scenario: string;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  /** CPU milliseconds per request spent by the service process and by PostgreSQL. */
  serviceCpuMsPerRequest: number;
  postgresCpuMsPerRequest: number;
  ratioToBare: number;
}

type Request = autocannon.Request;

async function measure(
  scenario: string,
  url: string,
  opts: { requests?: Request[]; amount?: number; pid?: number; rate?: number },
): Promise<Omit<Row, 'ratioToBare'>> {
  const pid = opts.pid ?? servicePid;
  const cpuBefore = cpuSeconds(pid);
  const result = await autocannon({
    url,
    connections,
    ...(opts.amount ? { amount: opts.amount } : { duration }),
    ...(opts.rate ? { overallRate: opts.rate } : {}),
    requests: opts.requests,
  } as autocannon.Options);
  const cpuAfter = cpuSeconds(pid);
  const perRequest = (seconds: number) => Math.round((seconds * 1000 * 1000) / Math.max(1, result.requests.total)) / 1000;
  const row = {
    scenario,
    serviceCpuMsPerRequest: perRequest(cpuAfter.service - cpuBefore.service),
    postgresCpuMsPerRequest: perRequest(cpuAfter.postgres - cpuBefore.postgres),
    requestsPerSecond: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
  };
  console.log(
    `  ${scenario.padEnd(24)} ${String(row.requestsPerSecond).padStart(7)} req/s  p50 ${row.p50Ms} ms  p99 ${row.p99Ms} ms` +
      `  non-2xx ${row.non2xx}  errors ${row.errors}  cpu/req: service ${row.serviceCpuMsPerRequest} ms, postgres ${row.postgresCpuMsPerRequest} ms`,
  );
  return row;
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'ticketing-bench-'));
  chmodSync(dataDir, 0o755);
  const [barePort, servicePort, pgPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const databaseUrl = process.env.DATABASE_URL;
  console.log(`bench: ${duration} s per scenario, ${connections} connections, ${databaseUrl ? 'DATABASE_URL' : 'embedded PostgreSQL'}`);

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
    ...(args['rate-limits']
      ? { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_PER_IP: '10000000', RATE_LIMIT_JOIN: '1000000', RATE_LIMIT_POLL: '1000000', RATE_LIMIT_HOLD: '1000000', RATE_LIMIT_PAY: '1000000', RATE_LIMIT_SIGNUP: '1000000' }
      : { RATE_LIMIT_ENABLED: 'false' }),
    ...(await tracingEnv(args.tracing)),
  };
  const bare = startProcess('bench/bare-server.ts', { PORT: String(barePort) });
  const withRedis = Boolean(process.env.REDIS_URL);
  const service = startProcess('src/main.ts', {
    ...serviceEnv,
    PORT: String(servicePort),
    DATA_DIR: dataDir,
    EMBEDDED_PG_PORT: String(pgPort),
    // With Redis, only the Redis instance relays, as in a deployment where every relay publishes
    // to the same broker (a relay here would send half the events to an in-process broker).
    OUTBOX_RELAY_ENABLED: withRedis ? 'false' : 'true',
  });
  servicePid = service.pid ?? 0;
  const bareUrl = `http://127.0.0.1:${barePort}`;
  const base = `http://127.0.0.1:${servicePort}`;
  const rows: Row[] = [];
  let redisService: ChildProcess | undefined;
  let uncachedService: ChildProcess | undefined;
  try {
    await Promise.all([waitReady(`${bareUrl}/bare`, bare), waitReady(`${base}/health/ready`, service)]);
    const secrets = JSON.parse(readFileSync(join(dataDir, 'secrets.json'), 'utf8'));
    const sharedDatabaseUrl =
      databaseUrl ?? `postgres://postgres:${encodeURIComponent(secrets.databasePassword)}@127.0.0.1:${pgPort}/postgres`;
    // A second instance on the same database with the hot-read cache and the outbox relay off, for the
    // cached/uncached seat map and the payment throughput with and without the relay.
    const uncachedPort = await freePort();
    const uncachedBase = `http://127.0.0.1:${uncachedPort}`;
    uncachedService = startProcess('src/main.ts', {
      ...serviceEnv,
      PORT: String(uncachedPort),
      DATABASE_URL: sharedDatabaseUrl,
      CACHE_ENABLED: 'false',
      OUTBOX_RELAY_ENABLED: 'false',
      ...(withRedis ? { REDIS_URL: process.env.REDIS_URL! } : {}),
    });
    await waitReady(`${uncachedBase}/health/ready`, uncachedService);
    // With REDIS_URL, another instance on the same database keeps the waiting room in Redis.
    const redisPort = await freePort();
    const redisBase = process.env.REDIS_URL ? `http://127.0.0.1:${redisPort}` : undefined;
    if (redisBase) {
      redisService = startProcess('src/main.ts', {
        ...serviceEnv,
        PORT: String(redisPort),
        DATABASE_URL: sharedDatabaseUrl,
        REDIS_URL: process.env.REDIS_URL!,
      });
      await waitReady(`${redisBase}/health/ready`, redisService);
    }

    // ---- data: users with money, a seat-map schedule, many seats to spread holds, a few to fight over
    console.log(`setup: ${userCount} users, 100,000 seats for spread holds`);
    const users: { id: string; token: string }[] = await inBatches(
      Array.from({ length: userCount }, (_, i) => i),
      50,
      (i) => api(base, 'POST', '/users', { name: `bench-${i}` }),
    );
    await inBatches(users, 50, (u) => api(base, 'POST', '/users/me/balance/charges', { amount: 10_000_000 }, u.token));
    const future = new Date(Date.now() + 30 * 86_400_000).toISOString();
    const concert = (seatCount: number, schedules: number) =>
      api(base, 'POST', '/admin/concerts', {
        title: 'Bench',
        artist: 'Bench',
        venue: 'Loopback',
        schedules: Array.from({ length: schedules }, () => ({ startsAt: future, seatCount, price: PRICE })),
      }, ADMIN_TOKEN);
    const seatMapConcert = await concert(100, 1);
    const spreadConcert = await concert(1_000, 100);
    const contendedConcert = await concert(10, 1);
    const seatMap = seatMapConcert.schedules[0].id as string;
    const spread = (spreadConcert.schedules as { id: string }[]).map((s) => s.id);
    const contended = contendedConcert.schedules[0].id as string;

    // Every user takes a place in each concert's line (admitted at once) and keeps the token.
    const queueTokens = new Map<string, string>();
    const joinAll = async (instance: string, concertId: string) =>
      inBatches(users, 50, async (u) => {
        const place = await api(instance, 'POST', `/concerts/${concertId}/queue`, undefined, u.token);
        queueTokens.set(`${instance} ${concertId} ${u.id}`, place.token);
      });
    for (const c of [seatMapConcert, spreadConcert, contendedConcert]) await joinAll(base, c.id);
    const tokenOf = (instance: string, concertId: string, u: { id: string }) => queueTokens.get(`${instance} ${concertId} ${u.id}`)!;
    const auth = (u: { token: string }) => ({ authorization: `Bearer ${u.token}`, 'content-type': 'application/json' });
    const booking = (u: { id: string; token: string }, concertId: string, instance = base) => ({
      ...auth(u),
      'queue-token': tokenOf(instance, concertId, u),
    });

    // ---- scenarios
    console.log('results:');
    const bareRow = await measure('bare route', `${bareUrl}/bare`, {});
    rows.push({ ...bareRow, ratioToBare: 1 });
    const add = (row: Omit<Row, 'ratioToBare'>) =>
      rows.push({ ...row, ratioToBare: Math.round((row.requestsPerSecond / bareRow.requestsPerSecond) * 1000) / 1000 });

    if (want('seatmap')) {
      add(
        await measure('seat map (100 seats)', `${base}/schedules/${seatMap}/seats`, {
          requests: [{ method: 'GET', headers: { 'queue-token': tokenOf(base, seatMapConcert.id, users[0]!) } }],
        }),
      );
      // The same read on the instance without the cache (its waiting room is its own: join it there).
      await joinAll(uncachedBase, seatMapConcert.id);
      add(
        await measure('seat map, uncached', `${uncachedBase}/schedules/${seatMap}/seats`, {
          pid: uncachedService.pid,
          requests: [{ method: 'GET', headers: { 'queue-token': tokenOf(uncachedBase, seatMapConcert.id, users[0]!) } }],
        }),
      );
    }

    // Holds spread over 100 schedules x 1000 seats; request k takes seat k, user k mod N (1 seat per user per schedule).
    let k = 0;
    const held: { id: string; user: { id: string; token: string } }[] = [];
    const spreadUrl = `${base}/reservations`;
    const spreadHolds = (label: string, keyed: boolean) =>
      measure(label, spreadUrl, {
        requests: [
          {
            method: 'POST',
            setupRequest: (req: Request, context: Record<string, unknown>) => {
              const i = k++;
              const user = users[i % users.length]!;
              context.user = user;
              return {
                ...req,
                headers: { ...booking(user, spreadConcert.id), ...(keyed ? { 'idempotency-key': `bench-hold-${i}` } : {}) },
                body: JSON.stringify({ scheduleId: spread[Math.floor(i / 1_000) % spread.length], seatNumber: (i % 1_000) + 1 }),
              };
            },
            onResponse: (status: number, body: string, context: Record<string, unknown>) => {
              if (status === 201) held.push({ id: JSON.parse(body).id, user: context.user as { id: string; token: string } });
            },
          } as Request,
        ],
      });
    if (want('holds')) {
      add(await spreadHolds('holds, spread', false));
      // What a careful client sends: each hold with its own Idempotency-Key (claimed, then not batched).
      add(await spreadHolds('holds, spread, keyed', true));
      let c = 0;
      add(
        await measure('holds, contended (10)', spreadUrl, {
          requests: [
            {
              method: 'POST',
              setupRequest: (req: Request) => {
                const i = c++;
                const user = users[i % users.length]!;
                return { ...req, headers: booking(user, contendedConcert.id), body: JSON.stringify({ scheduleId: contended, seatNumber: (i % 10) + 1 }) };
              },
            } as Request,
          ],
        }),
      );
    }
    if (want('charges')) {
      let ch = 0;
      add(
        await measure('charges', `${base}/users/me/balance/charges`, {
          requests: [
            {
              method: 'POST',
              setupRequest: (req: Request) => ({ ...req, headers: auth(users[ch++ % users.length]!), body: JSON.stringify({ amount: 1 }) }),
            } as Request,
          ],
        }),
      );
    }
    // Payments: the holds are split between the instance with the outbox relay running and the one
    // without it (and, with Redis, a share for the event-lag run below).
    const shares = redisBase && want('events') ? 4 : 3;
    const share = Math.floor(held.length / shares);
    const payOn = async (label: string, instance: string, pid: number | undefined, holds: typeof held, rate?: number, keyed = false) => {
      let p = 0;
      return measure(label, `${instance}/payments`, {
        pid,
        amount: holds.length,
        ...(rate ? { rate } : {}),
        requests: [
          {
            method: 'POST',
            setupRequest: (req: Request) => {
              const h = holds[p++ % holds.length]!;
              const headers = { ...booking(h.user, spreadConcert.id, instance), ...(keyed ? { 'idempotency-key': `bench-pay-${h.id}` } : {}) };
              return { ...req, headers, body: JSON.stringify({ reservationId: h.id }) };
            },
          } as Request,
        ],
      });
    };
    // With and without the relay, on instances that differ in nothing else that a payment touches.
    if (want('payments')) {
      if (redisBase && redisService) {
        await joinAll(redisBase, spreadConcert.id);
        add(await payOn(`payments, relay on, Redis (${share})`, redisBase, redisService.pid, held.slice(0, share)));
      } else {
        add(await payOn(`payments, relay on (${share})`, base, service.pid, held.slice(0, share)));
      }
      await joinAll(uncachedBase, spreadConcert.id);
      add(await payOn(`payments, relay off (${share})`, uncachedBase, uncachedService.pid, held.slice(share, 2 * share)));
      add(await payOn(`payments, relay off, keyed (${share})`, uncachedBase, uncachedService.pid, held.slice(2 * share, 3 * share), undefined, true));
    }

    // ---- waiting room: joins (each a new place: user x concert), status polls, gated seat map
    const queueConcerts = 40;
    for (const [label, instance, pid] of [['in-process', base, service.pid], ['Redis', redisBase, redisService?.pid]] as const) {
      if (!instance || !want('queue')) continue;
      const lines = await Promise.all(Array.from({ length: queueConcerts }, () => concert(1, 1)));
      let j = 0;
      add(
        await measure(`queue join (${label})`, `${instance}/concerts`, {
          pid,
          requests: [
            {
              method: 'POST',
              setupRequest: (req: Request) => {
                const i = j++;
                const user = users[i % users.length]!;
                const line = lines[Math.floor(i / users.length) % queueConcerts];
                return { ...req, path: `/concerts/${line.id}/queue`, headers: { authorization: `Bearer ${user.token}` } };
              },
            } as Request,
          ],
        }),
      );
      const polled = lines[0];
      await joinAll(instance, polled.id);
      let q = 0;
      add(
        await measure(`queue status poll (${label})`, `${instance}/concerts/${polled.id}/queue`, {
          pid,
          requests: [
            {
              method: 'GET',
              setupRequest: (req: Request) => {
                const user = users[q++ % users.length]!;
                return { ...req, headers: { authorization: `Bearer ${user.token}`, 'queue-token': tokenOf(instance, polled.id, user) } };
              },
            } as Request,
          ],
        }),
      );
      if (instance !== base) {
        await joinAll(instance, seatMapConcert.id);
        add(
          await measure(`seat map, gated (${label})`, `${instance}/schedules/${seatMap}/seats`, {
            pid,
            requests: [{ method: 'GET', headers: { 'queue-token': tokenOf(instance, seatMapConcert.id, users[0]!) } }],
          }),
        );
      }
    }

    // ---- events: commit-to-consumer lag through the outbox relay and Redis Streams at 1,000 payments/s
    let eventLag: { events: number; p50Ms: number; p99Ms: number; eventsPerSecond: number } | undefined;
    if (redisBase && redisService && want('events')) {
      const lagRedis = new Redis(process.env.REDIS_URL!);
      const broker = createRedisBroker(lagRedis);
      const lags: number[] = [];
      let first = Infinity;
      let last = 0;
      const startedAt = Date.now();
      // A group that starts at the stream's end ('$'): the backlog of earlier scenarios is not lag.
      const group = `bench-lag-${startedAt}`;
      await lagRedis.xgroup('CREATE', `events:${EVENTS_TOPIC}`, group, '$', 'MKSTREAM');
      const sub = await broker.subscribe(EVENTS_TOPIC, { group, consumer: 'bench', concurrency: 64 }, async (m) => {
        const event = JSON.parse(m.value) as { type: string; occurredAt: string };
        const now = Date.now();
        if (event.type !== 'reservation.confirmed' || Date.parse(event.occurredAt) < startedAt) return;
        lags.push(now - Date.parse(event.occurredAt));
        first = Math.min(first, now);
        last = Math.max(last, now);
      });
      const holds = held.slice(3 * share, 4 * share).slice(0, 1_000 * duration);
      add(await payOn(`payments @1000/s, Redis relay (${holds.length})`, redisBase, redisService.pid, holds, 1_000));
      const deadline = Date.now() + 10_000;
      while (lags.length < holds.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      await sub.close();
      await broker.close();
      await lagRedis.quit();
      lags.sort((a, b) => a - b);
      const pct = (q: number) => lags[Math.min(lags.length - 1, Math.floor(q * lags.length))] ?? NaN;
      eventLag = {
        events: lags.length,
        p50Ms: pct(0.5),
        p99Ms: pct(0.99),
        eventsPerSecond: Math.round(lags.length / Math.max(0.001, (last - first) / 1000)),
      };
      console.log(`  event lag, commit to consumer: ${JSON.stringify(eventLag)}`);
    }

    // ---- invariants, with SQL
    const client = new pg.Client({ connectionString: sharedDatabaseUrl });
    await client.connect();
    const one = async (q: string) => Number((await client.query(q)).rows[0].n);
    const invariants = {
      seatsWithTwoActiveReservations: await one(`SELECT count(*) AS n FROM (SELECT 1 FROM reservations WHERE status IN ('HELD','CONFIRMED') GROUP BY schedule_id, seat_number HAVING count(*) > 1) x`),
      balancesNotMatchingLedger: await one(`SELECT count(*) AS n FROM wallets w WHERE w.balance <> (SELECT COALESCE(sum(amount), 0) FROM ledger_entries l WHERE l.user_id = w.user_id)`),
      negativeBalances: await one(`SELECT count(*) AS n FROM wallets WHERE balance < 0`),
      seatsDisagreeingWithReservations: await one(`SELECT count(*) AS n FROM seats s LEFT JOIN reservations r ON r.id = s.reservation_id
        WHERE NOT ((s.status = 'AVAILABLE' AND r.id IS NULL) OR (s.status = 'HELD' AND r.status = 'HELD') OR (s.status = 'SOLD' AND r.status = 'CONFIRMED'))`),
      paymentsWithoutConfirmedReservation: await one(`SELECT count(*) AS n FROM payments p JOIN reservations r ON r.id = p.reservation_id WHERE p.status = 'PAID' AND r.status <> 'CONFIRMED'`),
    };
    await client.end();
    const violations = Object.values(invariants).reduce((a, b) => a + b, 0);

    console.log('\n| scenario | req/s | p50 ms | p99 ms | non-2xx | ratio to bare | CPU ms/req service | CPU ms/req PostgreSQL |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of rows) {
      console.log(
        `| ${r.scenario} | ${r.requestsPerSecond} | ${r.p50Ms} | ${r.p99Ms} | ${r.non2xx} | ${r.ratioToBare} | ${r.serviceCpuMsPerRequest} | ${r.postgresCpuMsPerRequest} |`,
      );
    }
    console.log(`\ninvariants: ${JSON.stringify(invariants)} -> ${violations === 0 ? 'no violations' : `${violations} VIOLATIONS`}`);

    mkdirSync(join(args.out, '..'), { recursive: true });
    writeFileSync(
      args.out,
      `${JSON.stringify({ at: new Date().toISOString(), duration, connections, database: databaseUrl ? 'DATABASE_URL' : 'embedded', rows, eventLag, invariants }, null, 2)}\n`,
    );
    if (violations > 0) process.exitCode = 1;
  } finally {
    // The other instances first: the first one owns the embedded PostgreSQL they use.
    await Promise.all([stop(bare), ...[redisService, uncachedService].filter((c) => c !== undefined).map(stop)]);
    await stop(service);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
