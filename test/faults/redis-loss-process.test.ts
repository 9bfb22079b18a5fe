import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { redisServerAvailable, redisServerBinary, startOwnRedis, type OwnRedis } from '../support/dependencies.js';
import { startServiceProcess, type ServiceProcess } from '../support/service-process.js';
import { until } from '../support/wait.js';

/**
 * Redis lost under a service process: every connection it holds reports its errors through the
 * service's log (a few warn lines), none is left without a listener for ioredis to print
 * "Unhandled error event" on every reconnection attempt, and it is ready again once Redis is back.
 */
const reason = redisServerAvailable ? '' : ` (skipped: ${redisServerBinary} is not installed)`;

describe.skipIf(!redisServerAvailable)(`Redis lost under a service process${reason}`, () => {
  let redis: OwnRedis;
  let service: ServiceProcess;

  beforeAll(async () => {
    redis = await startOwnRedis();
    service = await startServiceProcess({
      DATABASE_URL: inject('databaseUrl'),
      DATABASE_POOL_SIZE: '4',
      REDIS_URL: redis.url,
      ADMIN_TOKEN: 'fault-admin-token-0123456789',
      TOKEN_SECRET: 'fault-token-secret-0123456789-0123456789',
    });
  }, 120_000);

  afterAll(async () => {
    await service?.kill('SIGKILL');
    await redis?.kill();
  });

  it('logs the outage through its own logger and is ready again after', { timeout: 60_000 }, async () => {
    await redis.kill();
    await until(async () => (await fetch(`${service.base}/health/ready`)).status === 503, 10_000, 50);
    await new Promise((r) => setTimeout(r, 3_000)); // several reconnection attempts of every client
    await redis.start();
    await until(async () => (await fetch(`${service.base}/health/ready`)).status === 200, 15_000, 50);
    expect(service.exitCode).toBeUndefined();
    expect(service.output()).not.toMatch(/Unhandled error event|unhandled|uncaught/i);
  });
});
