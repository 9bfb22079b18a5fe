/**
 * Rebuilds the rankings from PostgreSQL: `npm run rankings:rebuild` (uses DATABASE_URL and
 * REDIS_URL like the service; without REDIS_URL the rankings live in each process and are rebuilt
 * at start instead, so there is nothing to do).
 */
import { loadConfig } from '../src/config.js';
import { createCatalogService } from '../src/modules/catalog/catalog.service.js';
import { createRankingsService } from '../src/modules/rankings/rankings.service.js';
import { createRedisRankingsStore } from '../src/modules/rankings/rankings.store.redis.js';
import { systemClock } from '../src/platform/clock.js';
import { createDb } from '../src/platform/db.js';
import { createRedis } from '../src/platform/redis.js';

const config = loadConfig();
if (!config.DATABASE_URL || !config.REDIS_URL) {
  console.error('Set DATABASE_URL and REDIS_URL: the rankings to rebuild are the shared ones in Redis.');
  process.exit(2);
}
const db = createDb({ connectionString: config.DATABASE_URL, poolSize: 2 });
const redis = createRedis(config.REDIS_URL, { commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS });
const catalog = createCatalogService({ db, clock: systemClock });
const rankings = createRankingsService({ db, store: createRedisRankingsStore(redis), catalog, clock: systemClock });
const started = Date.now();
const counts = await rankings.rebuild();
console.log(
  `rankings rebuilt in ${Date.now() - started} ms: ${counts.confirmations} confirmations counted, ` +
    `${counts.cancellations} cancelled since confirmed, ${counts.sellouts} sell-outs`,
);
await redis.quit();
await db.destroy();
