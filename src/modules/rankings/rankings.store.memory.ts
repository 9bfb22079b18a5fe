import { bucketsFor, HOUR, KEEP_MS, MINUTE, type RankingsStore, startOf, topN } from './rankings.store.js';

/** The `limit` fastest sell-outs, ties broken by id. */
const fastestFirst = (entries: Iterable<[string, number]>, limit: number) =>
  [...entries]
    .sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, limit)
    .map(([scheduleId, secondsToSellOut]) => ({ scheduleId, secondsToSellOut }));

/** A reservation's mark: its confirmation is counted, or it was cancelled (counted no more). */
type Mark = 'COUNTED' | 'CANCELLED';

/**
 * The rankings in process memory, the embedded default: a mark per reservation and, per bucket
 * (`size:start`), a count per concert. Old buckets and marks are pruned every 1,000 writes.
 */
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
