import { sql } from 'kysely';
import type { Database } from '../../platform/db.js';

/**
 * Deletes in batches of `batch` rows, one short statement each, until fewer than a batch remain
 * or `maxBatches` ran (the rest waits for the next pass): a purge never holds many locks or one
 * long transaction, and instances purging at once skip each other's rows. `= ANY(ARRAY(…))` makes
 * the delete look the batch up by key (or tuple id) rather than join it against the whole table.
 * Returns how many went.
 */
async function inBatches(deleteBatch: (limit: number) => Promise<number>, batch: number, maxBatches: number): Promise<number> {
  let total = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = await deleteBatch(batch);
    total += n;
    if (n < batch) break;
  }
  return total;
}

/**
 * Published outbox rows published before `before`. Unsent and parked rows (published_at NULL)
 * are never touched: they are the events still owed to the broker.
 */
export function purgePublishedOutbox(db: Database, before: Date, batch = 1_000, maxBatches = 100): Promise<number> {
  return inBatches(
    async (limit) => {
      const result = await sql`
        DELETE FROM outbox WHERE seq = ANY(ARRAY(
          SELECT seq FROM outbox WHERE published_at IS NOT NULL AND published_at < ${before}
           LIMIT ${limit} FOR UPDATE SKIP LOCKED))`.execute(db);
      return Number(result.numAffectedRows ?? 0);
    },
    batch,
    maxBatches,
  );
}

/**
 * Deduplication records of events applied before `before`. Safe once no copy of those events can
 * come again: see README, "Event delivery guarantees" (the retention exceeds every redelivery path).
 */
export function purgeProcessedEvents(db: Database, before: Date, batch = 1_000, maxBatches = 100): Promise<number> {
  return inBatches(
    async (limit) => {
      const result = await sql`
        DELETE FROM processed_events WHERE ctid = ANY(ARRAY(
          SELECT ctid FROM processed_events WHERE processed_at < ${before}
           LIMIT ${limit} FOR UPDATE SKIP LOCKED))`.execute(db);
      return Number(result.numAffectedRows ?? 0);
    },
    batch,
    maxBatches,
  );
}
