import { sql } from 'kysely';
import type { Database } from '../../platform/db.js';

/** What /metrics and /health/ready report about the outbox (each part served by a partial index). */
export async function outboxHealth(db: Database): Promise<{ unsent: number; parked: number; oldestUnsentAgeSeconds: number }> {
  const { rows } = await sql<{ unsent: number; parked: number; oldest: Date | null }>`
    SELECT (SELECT count(*) FROM outbox WHERE published_at IS NULL AND parked_at IS NULL)::int AS unsent,
           (SELECT count(*) FROM outbox WHERE published_at IS NULL AND parked_at IS NOT NULL)::int AS parked,
           (SELECT occurred_at FROM outbox WHERE published_at IS NULL AND parked_at IS NULL ORDER BY seq LIMIT 1) AS oldest`.execute(db);
  const row = rows[0]!;
  return {
    unsent: row.unsent,
    parked: row.parked,
    oldestUnsentAgeSeconds: row.oldest ? Math.max(0, (Date.now() - row.oldest.getTime()) / 1000) : 0,
  };
}
