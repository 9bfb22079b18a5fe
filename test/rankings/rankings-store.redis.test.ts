import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe } from 'vitest';
import { createRedisRankingsStore } from '../../src/modules/rankings/rankings.store.redis.js';
import type { RankingsStore } from '../../src/modules/rankings/rankings.store.js';
import { describeRankingsStoreContract } from './rankings-store.contract.js';

const redisUrl = process.env.REDIS_URL;

// Skipped, with the reason in its title, where no Redis is configured.
describe.skipIf(!redisUrl)(`Redis rankings store${redisUrl ? '' : ' (REDIS_URL unset: skipped)'}`, () => {
  const redis = new Redis(redisUrl ?? 'redis://unused', { lazyConnect: true });
  const stores: RankingsStore[] = [];
  afterAll(async () => {
    for (const store of stores) await store.reset(); // deletes every key under its prefix
    await redis.quit();
  });
  describeRankingsStoreContract('contract', async () => {
    const store = createRedisRankingsStore(redis, `rank-test-${randomUUID()}`);
    stores.push(store);
    return store;
  });
});
