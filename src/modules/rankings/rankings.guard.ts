import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { startLoop } from '../../platform/loop.js';
import type { RankingsService } from './rankings.service.js';

/** Set while the rankings in Redis are whole; outside the rankings' own prefix, which a rebuild resets. */
export const RANKINGS_BUILT_KEY = 'ticketing:rankings-built';

/**
 * Rebuilds the rankings kept in Redis by itself when Redis has lost them. A marker key says they
 * are whole; a Redis restarted empty (or never used) has none. Every `intervalMs` each instance
 * sets it if absent (SET NX): the one that sets it rebuilds from PostgreSQL, as
 * `npm run rankings:rebuild` does (live updates meanwhile are not counted twice, see
 * RankingsService.rebuild); a failed rebuild removes the marker so the next pass tries again.
 */
export function startRankingsGuard(opts: { redis: Redis; rankings: RankingsService; intervalMs: number; log: Logger }) {
  const { redis, rankings, log } = opts;
  return startLoop({
    intervalMs: opts.intervalMs,
    onError: (err) => log.warn({ err }, 'rankings check failed; will retry'),
    run: async () => {
      if ((await redis.set(RANKINGS_BUILT_KEY, new Date().toISOString(), 'NX')) !== 'OK') return;
      log.warn('the rankings are missing from Redis (restarted empty, or first used): rebuilding them from PostgreSQL');
      try {
        log.info(await rankings.rebuild(), 'rankings rebuilt');
      } catch (err) {
        await redis.del(RANKINGS_BUILT_KEY).catch(() => {});
        throw err;
      }
    },
  });
}
