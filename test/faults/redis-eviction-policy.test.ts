import { afterAll, describe, expect, inject, it } from 'vitest';
import { readEvictionPolicy, watchEvictionPolicy } from '../../src/platform/redis.policy.js';
import { createRedis } from '../../src/platform/redis.js';
import { redisServerAvailable, redisServerBinary, startOwnRedis, type OwnRedis } from '../support/dependencies.js';
import { createTestApp } from '../support/harness.js';
import { startServiceProcess } from '../support/service-process.js';
import { until } from '../support/wait.js';

/**
 * Redis must not evict keys (an evicted line key drops people from the line): the service checks
 * `maxmemory-policy` at start and after each reconnection, logs an error for anything but
 * noeviction, a warning when CONFIG GET is refused, and readiness reports the policy. Each case
 * runs on a redis-server of its own, configured as the case needs.
 */
const reason = redisServerAvailable ? '' : ` (skipped: ${redisServerBinary} is not installed)`;

function capture() {
  const lines: { level: 'error' | 'warn'; obj: object; msg: string }[] = [];
  return {
    lines,
    error: (obj: object, msg: string) => void lines.push({ level: 'error', obj, msg }),
    warn: (obj: object, msg: string) => void lines.push({ level: 'warn', obj, msg }),
  };
}

describe.skipIf(!redisServerAvailable)(`Redis maxmemory-policy${reason}`, () => {
  const servers: OwnRedis[] = [];
  const closers: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
    await Promise.all(servers.map((s) => s.kill()));
  });

  async function redisWith(args: string[]) {
    const server = await startOwnRedis({ args });
    servers.push(server);
    const redis = createRedis(server.url, { onError: () => {} });
    closers.push(async () => redis.disconnect());
    return { server, redis };
  }

  async function readiness(redis: ReturnType<typeof createRedis>) {
    const t = await createTestApp({}, { redis });
    closers.push(() => t.close());
    return (await t.app.inject({ url: '/health/ready' })).json();
  }

  it('logs an error and reports the policy in readiness when it is allkeys-lru, also after Redis comes back', async () => {
    const { server, redis } = await redisWith(['--maxmemory-policy', 'allkeys-lru']);
    const log = capture();
    const watch = watchEvictionPolicy(redis, log);
    closers.push(async () => watch.stop());
    await until(() => log.lines.length === 1, 5_000);
    expect(log.lines[0]).toMatchObject({ level: 'error', obj: { maxmemoryPolicy: 'allkeys-lru', required: 'noeviction' } });
    expect(log.lines[0]!.msg).toMatch(/not noeviction/);
    expect(watch.current()).toBe('allkeys-lru');

    const ready = await readiness(redis);
    expect(ready).toMatchObject({ status: 'ok', checks: { cache: 'ok' }, redisMaxmemoryPolicy: 'allkeys-lru' });

    // Restarted (here with the same options): checked again once the client reconnects.
    await server.kill();
    await server.start();
    await until(() => log.lines.length === 2, 10_000);
    expect(log.lines[1]).toMatchObject({ level: 'error', obj: { maxmemoryPolicy: 'allkeys-lru' } });
  });

  it('says nothing on noeviction, and readiness reports it', async () => {
    const { redis } = await redisWith(['--maxmemory-policy', 'noeviction']);
    const log = capture();
    const watch = watchEvictionPolicy(redis, log);
    closers.push(async () => watch.stop());
    await until(() => watch.current() !== undefined, 5_000);
    await watch.checked;
    expect(watch.current()).toBe('noeviction');
    expect(log.lines).toEqual([]);
    expect((await readiness(redis)).redisMaxmemoryPolicy).toBe('noeviction');
  });

  it('checks the events Redis too when EVENTS_REDIS_URL is set', { timeout: 60_000 }, async () => {
    const { server: lines } = await redisWith(['--maxmemory-policy', 'noeviction']);
    const { server: events } = await redisWith(['--maxmemory-policy', 'allkeys-lru']);
    const service = await startServiceProcess({ DATABASE_URL: inject('databaseUrl'), REDIS_URL: lines.url, EVENTS_REDIS_URL: events.url });
    closers.push(() => service.kill());
    await until(() => /not noeviction/.test(service.output()), 10_000);
    const complaints = service.output().split('\n').filter((line) => /not noeviction/.test(line));
    expect(complaints).toHaveLength(1);
    expect(JSON.parse(complaints[0]!)).toMatchObject({ redis: 'EVENTS_REDIS_URL', maxmemoryPolicy: 'allkeys-lru' });
  });

  it('warns that it could not check when CONFIG is disabled, and readiness says unknown', async () => {
    const { redis } = await redisWith(['--maxmemory-policy', 'allkeys-lru', '--rename-command', 'CONFIG', '']);
    expect(await readEvictionPolicy(redis)).toBe('unknown');
    const log = capture();
    const watch = watchEvictionPolicy(redis, log);
    closers.push(async () => watch.stop());
    await until(() => log.lines.length === 1, 5_000);
    expect(log.lines[0]).toMatchObject({ level: 'warn' });
    expect(log.lines[0]!.msg).toMatch(/could not check/);
    expect((await readiness(redis)).redisMaxmemoryPolicy).toBe('unknown');
  });
});
