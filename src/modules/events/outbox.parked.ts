import { sql } from 'kysely';
import type { Database } from '../../platform/db.js';
import { DomainError } from '../../platform/errors.js';

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

/** Cursors are opaque to clients; inside they are the last row's outbox sequence number. */
const encodeSeqCursor = (seq: number): string => Buffer.from(String(seq)).toString('base64url');

function decodeSeqCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[1-9][0-9]{0,14}$/.test(text)) {
    throw new DomainError('VALIDATION_FAILED', 'cursor is not one this service returned', {
      errors: [{ path: '/querystring/cursor', message: 'is not a valid cursor' }],
    });
  }
  return Number(text);
}

/** Parked events, oldest first, a page at a time (served by the partial index on parked rows). */
export async function listParked(db: Database, limit: number, cursor?: string): Promise<{ items: ParkedEvent[]; nextCursor: string | null }> {
  const after = decodeSeqCursor(cursor) ?? 0;
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
    nextCursor: rows.length > limit && last ? encodeSeqCursor(Number(last.seq)) : null,
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
