import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Clock } from '../../platform/clock.js';
import { inTransaction, type Database } from '../../platform/db.js';
import { startLoop } from '../../platform/loop.js';
import type { Broker, BrokerMessage } from './broker.js';

/** The topic every domain event goes to; the aggregate id is the key. */
export const EVENTS_TOPIC = 'ticketing.events';

export interface OutgoingEvent {
  id: string;
  type: string;
  version: number;
  occurredAt: string;
  aggregateId: string;
  payload: Record<string, unknown>;
}

interface OutboxRow {
  seq: number;
  id: string;
  aggregate_id: string;
  type: string;
  version: number;
  payload: Record<string, unknown>;
  occurred_at: Date;
  attempts: number;
}

export interface RelayOptions {
  db: Database;
  broker: Broker;
  clock: Clock;
  batchSize?: number;
  /** A row is parked (left for an operator) after this many failed publishes. */
  maxAttempts?: number;
  onPublished?: (count: number) => void;
  onFailed?: (count: number, err: unknown) => void;
}

export const toEvent = (row: OutboxRow): OutgoingEvent => ({
  id: row.id,
  type: row.type,
  version: row.version,
  occurredAt: row.occurred_at.toISOString(),
  aggregateId: row.aggregate_id,
  payload: row.payload,
});

/** Retry delay after `attempts` failures: exponential from 200 ms, capped at 30 s, with jitter. */
export function retryDelayMs(attempts: number, random = Math.random): number {
  const base = Math.min(30_000, 200 * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (0.75 + random() * 0.5));
}

/**
 * One pass of the transactional-outbox relay: takes the oldest due unsent rows in sequence order
 * with FOR UPDATE SKIP LOCKED (so relays in many instances share the work and never publish a
 * row twice in normal operation), publishes them with the aggregate id as key, and marks them sent
 * only after the broker acknowledged. A failed publish schedules a retry with backoff and parks a
 * row after `maxAttempts`. If the process dies after publishing but before committing the marks,
 * the rows are published again: consumers deduplicate by event id.
 */
export async function relayOnce(opts: RelayOptions): Promise<number> {
  const batchSize = opts.batchSize ?? 500;
  const maxAttempts = opts.maxAttempts ?? 10;
  return inTransaction(opts.db, async (trx) => {
    const now = opts.clock.now();
    const { rows } = await sql<OutboxRow>`
      SELECT seq, id, aggregate_id, type, version, payload, occurred_at, attempts
        FROM outbox
       WHERE published_at IS NULL AND parked_at IS NULL
         AND (next_attempt_at IS NULL OR next_attempt_at <= ${now})
       ORDER BY seq
       LIMIT ${batchSize}
       FOR UPDATE SKIP LOCKED`.execute(trx);
    if (rows.length === 0) return 0;
    const seqs = rows.map((r) => r.seq);
    const messages: BrokerMessage[] = rows.map((r) => ({ id: r.id, key: r.aggregate_id, value: JSON.stringify(toEvent(r)) }));
    try {
      await opts.broker.publish(EVENTS_TOPIC, messages);
    } catch (err) {
      const attempts = rows[0]!.attempts + 1;
      await sql`
        UPDATE outbox
           SET attempts = attempts + 1,
               last_error = ${String(err instanceof Error ? err.message : err).slice(0, 500)},
               next_attempt_at = ${new Date(now.getTime() + retryDelayMs(attempts))},
               parked_at = CASE WHEN attempts + 1 >= ${maxAttempts} THEN ${now}::timestamptz END
         WHERE seq = ANY(${seqs}::bigint[])`.execute(trx);
      opts.onFailed?.(rows.length, err);
      return 0;
    }
    await sql`UPDATE outbox SET published_at = ${now} WHERE seq = ANY(${seqs}::bigint[])`.execute(trx);
    opts.onPublished?.(rows.length);
    return rows.length;
  });
}

/**
 * Runs the relay: drains while there is a backlog, then polls every `idleMs` (50 ms: events
 * reach the broker well under a second after commit). Polling, not LISTEN/NOTIFY: NOTIFY
 * serialises committing transactions on one lock, which the payment path cannot afford.
 */
export function startRelay(opts: RelayOptions & { idleMs?: number; log: Logger }) {
  return startLoop({
    intervalMs: opts.idleMs ?? 50,
    onError: (err) => opts.log.warn({ err }, 'outbox relay pass failed; will retry'),
    run: async () => {
      while ((await relayOnce(opts)) === (opts.batchSize ?? 500)) {
        // a full batch: there may be more right behind it
      }
    },
  });
}

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
