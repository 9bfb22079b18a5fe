import type { Redis } from 'ioredis';
import { bucketsFor, HOUR, KEEP_MS, MINUTE, type RankingsStore, startOf, topN } from './rankings.store.js';

/**
 * KEYS: the marks of the confirmation's hour (a hash: reservation id → mark), its minute bucket,
 * its hour bucket. ARGV: reservation id, concert id, how long to keep them (ms).
 * Counts the reservation unless it has a mark already.
 */
const RECORD_CONFIRMATION = `
if redis.call('HSETNX', KEYS[1], ARGV[1], 'COUNTED') == 0 then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
for i = 2, 3 do
  redis.call('ZINCRBY', KEYS[i], 1, ARGV[2])
  redis.call('PEXPIRE', KEYS[i], ARGV[3])
end
return 1`;

/** Same keys and arguments; marks the reservation cancelled and uncounts it if it was counted. */
const RECORD_CANCELLATION = `
local previous = redis.call('HGET', KEYS[1], ARGV[1])
if previous == 'CANCELLED' then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], 'CANCELLED')
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if previous == 'COUNTED' then
  for i = 2, 3 do
    if tonumber(redis.call('ZINCRBY', KEYS[i], -1, ARGV[2])) <= 0 then redis.call('ZREM', KEYS[i], ARGV[2]) end
  end
end
return 1`;

/**
 * The rankings in Redis, shared by every instance: per bucket a ZSET of counts by concert, per
 * hour of confirmation a hash of reservation marks, and a ZSET of sell-out times. Each event is
 * applied by one script, atomically; buckets and marks expire KEEP_MS after their last change.
 */
export function createRedisRankingsStore(redis: Redis, prefix = 'rank'): RankingsStore {
  const bucket = (size: number, start: number) => `${prefix}:concerts:${size === MINUTE ? 'm' : 'h'}:${start}`;
  const sellouts = `${prefix}:sellouts`;
  const apply = (script: string, reservationId: string, concertId: string, confirmedAt: number) =>
    redis.eval(
      script,
      3,
      `${prefix}:marks:${startOf(confirmedAt, HOUR)}`,
      bucket(MINUTE, startOf(confirmedAt, MINUTE)),
      bucket(HOUR, startOf(confirmedAt, HOUR)),
      reservationId,
      concertId,
      KEEP_MS,
    );
  return {
    async recordConfirmation(reservationId, concertId, confirmedAt) {
      await apply(RECORD_CONFIRMATION, reservationId, concertId, confirmedAt);
    },
    async recordCancellation(reservationId, concertId, confirmedAt) {
      await apply(RECORD_CANCELLATION, reservationId, concertId, confirmedAt);
    },
    async setSellout(scheduleId, seconds) {
      if (seconds === null) await redis.zrem(sellouts, scheduleId);
      else await redis.zadd(sellouts, seconds, scheduleId);
    },
    async topConcerts(windowMs, now, limit) {
      const { size, starts } = bucketsFor(windowMs, now);
      const keys = starts.map((s) => bucket(size, s));
      const flat = (await redis.call('ZUNION', keys.length, ...keys, 'WITHSCORES')) as string[];
      const counts = new Map<string, number>();
      for (let i = 0; i < flat.length; i += 2) counts.set(flat[i]!, Number(flat[i + 1]));
      return topN(counts, limit);
    },
    async fastestSellouts(limit) {
      // ZRANGE orders equal scores by member, as the in-process store's fastestFirst does.
      const flat = await redis.zrange(sellouts, 0, limit - 1, 'WITHSCORES');
      const out: { scheduleId: string; secondsToSellOut: number }[] = [];
      for (let i = 0; i < flat.length; i += 2) out.push({ scheduleId: flat[i]!, secondsToSellOut: Number(flat[i + 1]) });
      return out;
    },
    async reset() {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1_000);
        if (keys.length > 0) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    },
  };
}
