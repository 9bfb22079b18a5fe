import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createRedisQueueStore } from '../../src/modules/queue/queue.store.redis.js';

/**
 * Three service processes on one PostgreSQL and one Redis, as in production: users join through
 * random instances at once, and the waiting room must stay one fair line.
 */
const REDIS_URL = process.env.REDIS_URL;
const INSTANCES = 3;
const USERS = 2_000;
const MAX_ACTIVE = 50;
const ADMIN_TOKEN = 'multi-instance-admin-token-0123';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function inBatches<T, R>(items: T[], size: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) {
    out.push(...(await Promise.all(items.slice(i, i + size).map((item, j) => fn(item, i + j)))));
  }
  return out;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Caller {
  id: string;
  token: string;
  queueToken?: string;
  joinedVia?: number;
}

const suite = REDIS_URL ? describe : describe.skip;

suite(`three instances share one waiting room${REDIS_URL ? '' : ' (REDIS_URL unset: skipped)'}`, () => {
  const processes: ChildProcess[] = [];
  const bases: string[] = [];
  const concerts: string[] = [];
  let redis: Redis;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL!);
    for (let i = 0; i < INSTANCES; i++) {
      const port = await freePort();
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        env: {
          ...process.env,
          PORT: String(port),
          DATABASE_URL: inject('databaseUrl'),
          DATABASE_POOL_SIZE: '8',
          REDIS_URL,
          ADMIN_TOKEN,
          TOKEN_SECRET: 'multi-instance-token-secret-0123456789',
          QUEUE_MAX_ACTIVE: String(MAX_ACTIVE),
          QUEUE_ADMIT_PER_SECOND: '1000',
          QUEUE_TICK_MS: '50',
          DEMO_DATA: 'false',
          LOG_LEVEL: 'warn',
          // Every simulated user calls from 127.0.0.1: the per-address limit is not under test here.
          RATE_LIMIT_ENABLED: 'false',
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      processes.push(child);
      bases.push(`http://127.0.0.1:${port}`);
    }
    for (const base of bases) {
      for (let attempt = 0; ; attempt++) {
        try {
          if ((await fetch(`${base}/health/ready`)).ok) break;
        } catch {
          // not listening yet
        }
        if (attempt > 240) throw new Error(`${base} did not become ready`);
        await sleep(250);
      }
    }
  }, 90_000);

  afterAll(async () => {
    await Promise.all(
      processes.map(
        (child) =>
          new Promise((resolve) => {
            if (child.exitCode !== null) return resolve(undefined);
            child.once('exit', resolve);
            child.kill('SIGTERM');
          }),
      ),
    );
    // Leave the shared Redis as we found it: this run's lines and their listing.
    for (const id of concerts) {
      const keys = await redis.keys(`queue:{${id}}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.srem('queue:concerts', id);
    }
    await redis?.quit();
  });

  const any = () => Math.floor(Math.random() * INSTANCES);
  async function call(instance: number, method: string, path: string, user?: Caller, body?: unknown, queueToken?: string) {
    const res = await fetch(`${bases[instance]}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(user ? { authorization: `Bearer ${user.token}` } : { authorization: `Bearer ${ADMIN_TOKEN}` }),
        ...(queueToken ? { 'queue-token': queueToken } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  }

  it('keeps one FIFO line with exact positions and never more than the active limit', async () => {
    const startsAt = new Date(Date.now() + 7 * 86_400_000).toISOString();
    const concert = (await call(0, 'POST', '/admin/concerts', undefined, {
      title: 'Multi-instance',
      artist: 'Three Nodes',
      venue: 'Loopback',
      schedules: [{ startsAt, seatCount: 100, price: 1_000 }],
    })).body;
    concerts.push(concert.id);
    const users: Caller[] = await inBatches(Array.from({ length: USERS }, (_, i) => i), 100, async (i) => {
      const res = await call(any(), 'POST', '/users', undefined, { name: `multi-${i}` });
      return res.body as Caller;
    });

    // Everyone joins at once through random instances.
    const sampler = { max: 0, running: true };
    const sampling = (async () => {
      const store = createRedisQueueStore(redis);
      while (sampler.running) {
        const { active } = await store.stats(concert.id, Date.now(), 1_000);
        sampler.max = Math.max(sampler.max, active);
        await sleep(20);
      }
    })();
    const joins = await inBatches(users, 250, async (user) => {
      user.joinedVia = any();
      const res = await call(user.joinedVia, 'POST', `/concerts/${concert.id}/queue`, user);
      user.queueToken = res.body.token;
      return res;
    });
    expect(joins.every((j) => j.status === 201)).toBe(true);
    await sleep(300); // let admission passes settle: the active set is full, nobody leaves

    // Positions of the waiting users are exactly 1..N; the first MAX_ACTIVE are active.
    const statuses = await inBatches(users, 250, (user) =>
      call(any(), 'GET', `/concerts/${concert.id}/queue`, user, undefined, user.queueToken),
    );
    const active = users.filter((_, i) => statuses[i]!.body.status === 'ACTIVE');
    const waiting = users
      .map((user, i) => ({ user, position: statuses[i]!.body.position as number }))
      .filter((_, i) => statuses[i]!.body.status === 'WAITING')
      .sort((a, b) => a.position - b.position);
    expect(active).toHaveLength(MAX_ACTIVE);
    expect(waiting.map((w) => w.position)).toEqual(Array.from({ length: USERS - MAX_ACTIVE }, (_, i) => i + 1));

    // Active users leave in waves through random instances; the line moves strictly in order.
    let leavers = active;
    for (let wave = 1; wave <= 3; wave++) {
      await inBatches(leavers, 50, (user) =>
        call(any(), 'DELETE', `/concerts/${concert.id}/queue`, user, undefined, user.queueToken),
      );
      const admitted = waiting.slice((wave - 1) * MAX_ACTIVE, wave * MAX_ACTIVE);
      const behind = waiting.slice(wave * MAX_ACTIVE, wave * MAX_ACTIVE + 100);
      // Admission passes run every 50 ms in each instance; on a loaded machine give them time.
      let now: { status: number; body: { status: string; position: number | null } }[] = [];
      for (const deadline = Date.now() + 15_000; Date.now() < deadline; await sleep(100)) {
        now = await inBatches([...admitted, ...behind], 50, ({ user }) =>
          call(any(), 'GET', `/concerts/${concert.id}/queue`, user, undefined, user.queueToken),
        );
        if (now.slice(0, admitted.length).every((s) => s.body.status === 'ACTIVE')) break;
      }
      expect(now.slice(0, admitted.length).map((s) => s.body.status)).toEqual(admitted.map(() => 'ACTIVE'));
      expect(now.slice(admitted.length).map((s) => s.body.position)).toEqual(behind.map((_, i) => i + 1));
      leavers = admitted.map((a) => a.user);
    }
    sampler.running = false;
    await sampling;
    expect(sampler.max).toBeLessThanOrEqual(MAX_ACTIVE);
    expect(sampler.max).toBeGreaterThan(0);

    // Admitted users hold through one instance and pay through another, with the token from a third.
    const buyers = leavers.slice(0, 20);
    const schedule = concert.schedules[0].id as string;
    const outcomes = await Promise.all(
      buyers.map(async (user, i) => {
        await call(any(), 'POST', '/users/me/balance/charges', user, { amount: 1_000 });
        const held = await call(i % INSTANCES, 'POST', '/reservations', user, { scheduleId: schedule, seatNumber: i + 1 }, user.queueToken);
        const paid = await call((i + 1) % INSTANCES, 'POST', '/payments', user, { reservationId: held.body.id }, user.queueToken);
        return [held.status, paid.status, paid.body.balance];
      }),
    );
    expect(outcomes).toEqual(buyers.map(() => [201, 201, 0]));
  }, 180_000);
});
