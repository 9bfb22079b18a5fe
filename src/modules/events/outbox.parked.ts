import { sql } from 'kysely';
import type { Database } from '../../platform/db.js';
import { decodeCursor, encodeCursor } from '../../platform/pagination.js';

/** An event the broker refused for good, waiting for an operator. */
export interface ParkedEvent {
  id: string;
  type: string;
  aggregateId: string;
  occurredAt: string;
  attempts: number;
  lastError: string | null;
  parkedAt: string;
}

/** Parked events page by outbox sequence number (the cursor's key). */
const isSeq = (key: string) => /^[1-9][0-9]{0,14}$/.test(key);

/** Parked events, oldest first, a page at a time (served by the partial index on parked rows). */
export async function listParked(db: Database, limit: number, cursor?: string): Promise<{ items: ParkedEvent[]; nextCursor: string | null }> {
  const after = Number(decodeCursor(cursor, isSeq) ?? 0);
  const { rows } = await sql<{
    seq: string;
    id: string;
    type: string;
    aggregate_id: string;
    occurred_at: Date;
    attempts: number;
    last_error: string | null;
    parked_at: Date;
  }>`
    SELECT seq, id, type, aggregate_id, occurred_at, attempts, last_error, parked_at
      FROM outbox
     WHERE published_at IS NULL AND parked_at IS NOT NULL AND seq > ${after}
     ORDER BY seq
     LIMIT ${limit + 1}`.execute(db);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    items: page.map((r) => ({
      id: r.id,
      type: r.type,
      aggregateId: r.aggregate_id,
      occurredAt: r.occurred_at.toISOString(),
      attempts: r.attempts,
      lastError: r.last_error,
      parkedAt: r.parked_at.toISOString(),
    })),
    nextCursor: rows.length > limit && last ? encodeCursor(String(last.seq)) : null,
  };
}

/**
 * Puts parked events back in line (all of them, or those named): attempts 0, due now. Ids that
 * are not parked are left alone. Returns how many went back.
 */
export async function replayParked(db: Database, ids?: string[]): Promise<number> {
  const result = await sql`
    UPDATE outbox
       SET parked_at = NULL, attempts = 0, next_attempt_at = NULL, claimed_by = NULL, claimed_until = NULL
     WHERE published_at IS NULL AND parked_at IS NOT NULL
       ${ids ? sql`AND id = ANY(${ids}::uuid[])` : sql``}`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
