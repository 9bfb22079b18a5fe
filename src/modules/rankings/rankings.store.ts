import type { Redis } from 'ioredis';

/**
 * Where the rankings live: Redis when REDIS_URL is set, process memory otherwise. Both are fed by
 * events, are rebuildable from PostgreSQL (RankingsService.rebuild) and behave alike (one contract
 * test suite runs against both).
 *
 * Confirmations are counted per concert in one-minute buckets (for windows up to two hours) and
 * one-hour buckets (longer windows, up to seven days, to the hour), by the time of the
 * confirmation. The store remembers, per reservation, whether its confirmation is counted or the
 * reservation was cancelled after being confirmed, so that:
 * - a confirmation and a cancellation of one reservation each apply once, however often they are
 *   delivered (a repeated event finds the reservation's mark and changes nothing);
 * - they commute: a cancellation delivered before its confirmation leaves a mark that the
 *   confirmation then respects, so the reservation is never counted (no phantom count);
 * - a cancelled confirmation is taken out of the bucket of its confirmation time, so it counts in
 *   no window at all.
 *
 * Sell-outs are not accumulated: the caller reads whether a schedule is sold out from PostgreSQL
 * and sets (or clears) its entry.
 */
export interface RankingsStore {
  /**
   * Counts reservation `reservationId` of `concertId`, confirmed at `confirmedAt` (epoch ms),
   * unless it is counted already or was cancelled.
   */
  recordConfirmation(reservationId: string, concertId: string, confirmedAt: number): Promise<void>;
  /**
   * Marks a confirmed reservation cancelled: takes it out of its confirmation's buckets if it was
   * counted, and keeps its later (or repeated) confirmation from counting. `confirmedAt` is the
   * time its confirmation was (or will be) recorded with.
   */
  recordCancellation(reservationId: string, concertId: string, confirmedAt: number): Promise<void>;
  /** Sets how fast a schedule sold out, or, with null, that it is not sold out (any more). */
  setSellout(scheduleId: string, secondsToSellOut: number | null): Promise<void>;
  topConcerts(windowMs: number, now: number, limit: number): Promise<{ concertId: string; count: number }[]>;
  fastestSellouts(limit: number): Promise<{ scheduleId: string; secondsToSellOut: number }[]>;
  /** Forgets everything (before a rebuild). */
  reset(): Promise<void>;
}

export const MINUTE = 60_000;
export const HOUR = 3_600_000;
/** Longest window served; confirmations older than this count nowhere and are forgotten. */
export const MAX_WINDOW_MS = 7 * 24 * HOUR;
/** How long buckets and reservation marks are kept after their last change. */
const KEEP_MS = MAX_WINDOW_MS + 2 * HOUR;
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

const startOf = (at: number, size: number) => Math.floor(at / size) * size;

const topN = (counts: Map<string, number>, limit: number) =>
  [...counts]
    .filter(([, count]) => count > 0)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, limit)
    .map(([concertId, count]) => ({ concertId, count }));

const fastestFirst = (entries: Iterable<[string, number]>, limit: number) =>
  [...entries]
    .sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, limit)
    .map(([scheduleId, secondsToSellOut]) => ({ scheduleId, secondsToSellOut }));

/** A reservation's mark: its confirmation is counted, or it was cancelled (counted no more). */
type Mark = 'COUNTED' | 'CANCELLED';

export function createMemoryRankingsStore(): RankingsStore {
  const marks = new Map<string, { mark: Mark; confirmedAt: number }>();
  const buckets = new Map<string, Map<string, number>>(); // key: `${size}:${start}`
  const sellouts = new Map<string, number>();
  const bucketKey = (size: number, start: number) => `${size}:${start}`;
  let writes = 0;

  const prune = (now: number) => {
    for (const [key] of buckets) if (Number(key.split(':')[1]) < now - KEEP_MS) buckets.delete(key);
    for (const [id, m] of marks) if (m.confirmedAt < now - KEEP_MS) marks.delete(id);
  };
  const bump = (concertId: string, confirmedAt: number, by: 1 | -1) => {
    for (const size of [MINUTE, HOUR]) {
      const key = bucketKey(size, startOf(confirmedAt, size));
      const bucket = buckets.get(key) ?? new Map<string, number>();
      const count = (bucket.get(concertId) ?? 0) + by;
      if (count > 0) bucket.set(concertId, count);
      else bucket.delete(concertId);
      if (bucket.size > 0) buckets.set(key, bucket);
      else buckets.delete(key);
    }
    if (++writes % 1_000 === 0) prune(confirmedAt);
  };

  // Each method runs to its end without awaiting: one event is applied atomically.
  return {
    async recordConfirmation(reservationId, concertId, confirmedAt) {
      if (marks.has(reservationId)) return;
      marks.set(reservationId, { mark: 'COUNTED', confirmedAt });
      bump(concertId, confirmedAt, 1);
    },
    async recordCancellation(reservationId, concertId, confirmedAt) {
      const previous = marks.get(reservationId)?.mark;
      if (previous === 'CANCELLED') return;
      marks.set(reservationId, { mark: 'CANCELLED', confirmedAt });
      if (previous === 'COUNTED') bump(concertId, confirmedAt, -1);
    },
    async setSellout(scheduleId, seconds) {
      if (seconds === null) sellouts.delete(scheduleId);
      else sellouts.set(scheduleId, seconds);
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
      return fastestFirst(sellouts, limit);
    },
    async reset() {
      marks.clear();
      buckets.clear();
      sellouts.clear();
    },
  };
}

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
      // ZRANGE orders equal scores by member, as fastestFirst does.
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
