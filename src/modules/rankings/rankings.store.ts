import type { Redis } from 'ioredis';

/**
 * Where the rankings live: Redis sorted sets when REDIS_URL is set, process memory otherwise.
 * Both are fed by events, are rebuildable from PostgreSQL (rankings.rebuild.ts), and apply each
 * event id at most once (a redelivered event changes nothing).
 *
 * Confirmations are counted per concert in one-minute buckets (for windows up to two hours) and
 * one-hour buckets (longer windows, up to seven days, to the hour).
 */
export interface RankingsStore {
  /** Counts a confirmed reservation of `concertId` at `at` (epoch ms), once per `eventId`. */
  recordConfirmation(eventId: string, concertId: string, at: number): Promise<void>;
  /** Records how fast a schedule sold out; the first sell-out stands. */
  recordSellout(scheduleId: string, secondsToSellOut: number): Promise<void>;
  topConcerts(windowMs: number, now: number, limit: number): Promise<{ concertId: string; count: number }[]>;
  fastestSellouts(limit: number): Promise<{ scheduleId: string; secondsToSellOut: number }[]>;
  /** Forgets everything (before a rebuild). */
  reset(): Promise<void>;
}

export const MINUTE = 60_000;
export const HOUR = 3_600_000;
/** Longest window served; buckets older than this are dropped. */
export const MAX_WINDOW_MS = 7 * 24 * HOUR;
/** How long an applied event id is remembered: far longer than any redelivery takes. */
const SEEN_MS = 24 * HOUR;
/** Windows up to this use minute buckets; longer ones hour buckets. */
const MINUTE_BUCKETS_UP_TO = 2 * HOUR;

/** The buckets (start times) covering (now − windowMs, now]. */
export function bucketsFor(windowMs: number, now: number): { size: number; starts: number[] } {
  const size = windowMs <= MINUTE_BUCKETS_UP_TO ? MINUTE : HOUR;
  const last = Math.floor(now / size) * size;
  const first = Math.floor((now - windowMs) / size) * size + size;
  const starts: number[] = [];
  for (let b = first; b <= last; b += size) starts.push(b);
  return { size, starts };
}

const topN = (counts: Map<string, number>, limit: number) =>
  [...counts]
    .filter(([, count]) => count > 0)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, limit)
    .map(([concertId, count]) => ({ concertId, count }));

export function createMemoryRankingsStore(): RankingsStore {
  const seen = new Map<string, number>();
  const buckets = new Map<number, Map<string, number>>(); // key: size * 1e15 + start, see bucketKey
  const sellouts = new Map<string, number>();
  const bucketKey = (size: number, start: number) => (size === MINUTE ? start : -start);

  const prune = (now: number) => {
    for (const [key] of buckets) if (Math.abs(key) < now - MAX_WINDOW_MS - HOUR) buckets.delete(key);
    for (const [id, at] of seen) if (at < now - SEEN_MS) seen.delete(id);
  };

  return {
    async recordConfirmation(eventId, concertId, at) {
      if (seen.has(eventId)) return;
      seen.set(eventId, at);
      for (const size of [MINUTE, HOUR]) {
        const key = bucketKey(size, Math.floor(at / size) * size);
        const bucket = buckets.get(key) ?? new Map<string, number>();
        bucket.set(concertId, (bucket.get(concertId) ?? 0) + 1);
        buckets.set(key, bucket);
      }
      if (seen.size % 1_000 === 0) prune(at);
    },
    async recordSellout(scheduleId, seconds) {
      if (!sellouts.has(scheduleId)) sellouts.set(scheduleId, seconds);
    },
    async topConcerts(windowMs, now, limit) {
      const { size, starts } = bucketsFor(windowMs, now);
      const counts = new Map<string, number>();
      for (const start of starts) {
        for (const [concertId, count] of buckets.get(bucketKey(size, start)) ?? []) {
          counts.set(concertId, (counts.get(concertId) ?? 0) + count);
        }
      }
      return topN(counts, limit);
    },
    async fastestSellouts(limit) {
      return [...sellouts]
        .sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))
        .slice(0, limit)
        .map(([scheduleId, secondsToSellOut]) => ({ scheduleId, secondsToSellOut }));
    },
    async reset() {
      seen.clear();
      buckets.clear();
      sellouts.clear();
    },
  };
}

/** Marks the event seen and bumps both buckets, or does nothing if it was seen. */
const RECORD_CONFIRMATION = `
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[4]) == false then return 0 end
redis.call('ZINCRBY', KEYS[2], 1, ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('ZINCRBY', KEYS[3], 1, ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
return 1`;

export function createRedisRankingsStore(redis: Redis, prefix = 'rank'): RankingsStore {
  const bucket = (size: number, start: number) => `${prefix}:concerts:${size === MINUTE ? 'm' : 'h'}:${start}`;
  const sellouts = `${prefix}:sellouts`;
  return {
    async recordConfirmation(eventId, concertId, at) {
      await redis.eval(
        RECORD_CONFIRMATION,
        3,
        `${prefix}:seen:${eventId}`,
        bucket(MINUTE, Math.floor(at / MINUTE) * MINUTE),
        bucket(HOUR, Math.floor(at / HOUR) * HOUR),
        concertId,
        at,
        0,
        SEEN_MS,
        MAX_WINDOW_MS + 2 * HOUR,
      );
    },
    async recordSellout(scheduleId, seconds) {
      await redis.zadd(sellouts, 'NX', seconds, scheduleId);
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
