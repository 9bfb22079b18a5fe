import type { LongPolls } from './queue.longpoll.js';

/** How often, at most, one instance asks PostgreSQL whether a concert with a line is sold out. */
export const SOLD_OUT_CHECK_MS = 1_000;

/**
 * Which concerts with a line are sold out, as this instance last saw them. The admission pass asks
 * PostgreSQL (one indexed query per concert with a line, at most once every SOLD_OUT_CHECK_MS) and
 * keeps the answer in memory, so a line poll reads it without touching the database. A concert that
 * turns sold out wakes its held polls at once; one that has a seat again (a refund, a hold that
 * lapsed) reads false at the next check. Every instance checks for itself, so a poll on any
 * instance learns of a sell-out made through another within about a second.
 */
export function createSoldOutWatch(opts: {
  /** Whether no seat of the concert is AVAILABLE or HELD. */
  check: (concertId: string) => Promise<boolean>;
  longPolls?: LongPolls;
}) {
  const soldOut = new Set<string>();
  const checkedAt = new Map<string, number>();

  return {
    is: (concertId: string): boolean => soldOut.has(concertId),

    /** After an admission pass over `concerts` (every concert with a line now), at `now` (epoch ms). */
    async refresh(concerts: readonly string[], now: number): Promise<void> {
      const inLine = new Set(concerts);
      for (const concertId of checkedAt.keys()) {
        if (inLine.has(concertId)) continue;
        checkedAt.delete(concertId);
        soldOut.delete(concertId);
        opts.longPolls?.soldOut(concertId, false);
      }
      for (const concertId of concerts) {
        const last = checkedAt.get(concertId);
        if (last !== undefined && now - last < SOLD_OUT_CHECK_MS) continue;
        checkedAt.set(concertId, now);
        const isSoldOut = await opts.check(concertId);
        if (isSoldOut) soldOut.add(concertId);
        else soldOut.delete(concertId);
        opts.longPolls?.soldOut(concertId, isSoldOut);
      }
    },
  };
}
