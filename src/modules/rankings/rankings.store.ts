/**
 * Where the rankings live: Redis when REDIS_URL is set (rankings.store.redis.ts), process memory
 * otherwise (rankings.store.memory.ts). Both are fed by events, are rebuildable from PostgreSQL
 * (RankingsService.rebuild) and behave alike (one contract test suite runs against both).
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
export const KEEP_MS = MAX_WINDOW_MS + 2 * HOUR;
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

/** The start of the `size`-long bucket that holds `at`. */
export const startOf = (at: number, size: number) => Math.floor(at / size) * size;

/** The `limit` concerts with the highest positive counts, ties broken by id. */
export const topN = (counts: Map<string, number>, limit: number) =>
  [...counts]
    .filter(([, count]) => count > 0)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, limit)
    .map(([concertId, count]) => ({ concertId, count }));
