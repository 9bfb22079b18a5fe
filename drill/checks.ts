/**
 * The drill's own checks beyond the load test's invariants, counted once the sale is over: double
 * debits, what the data platform received against what was confirmed, and whether the event
 * stream holds the outbox's events in commit order.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { EVENTS_TOPIC } from '../src/modules/events/outbox.event.js';
import type { Sink } from './sink.js';

async function withClient<T>(databaseUrl: string, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Reservations of the concert with more than one PAYMENT entry on the ledger. */
export function doubleDebits(databaseUrl: string, concertId: string): Promise<number> {
  return withClient(databaseUrl, async (c) =>
    Number((await c.query(
      `SELECT count(*) AS n FROM (SELECT l.reservation_id FROM ledger_entries l JOIN reservations r ON r.id = l.reservation_id
        WHERE r.concert_id = $1 AND l.type = 'PAYMENT' GROUP BY 1 HAVING count(*) > 1) x`,
      [concertId],
    )).rows[0].n));
}

export interface SinkCheck {
  /** reservation.confirmed events of the sale (the exporter sends only those). */
  confirmations: number;
  delivered: number;
  missing: number;
  /** Event ids the platform received more than once, and the extra deliveries. */
  duplicatedIds: number;
  extraDeliveries: number;
  refused: number;
  hung: number;
}

/** Waits up to `seconds` for every confirmation of the sale to reach the platform, then counts. */
export async function checkSink(databaseUrl: string, concertId: string, sink: Sink, seconds = 60): Promise<SinkCheck> {
  return withClient(databaseUrl, async (c) => {
    const ids = async () =>
      (await c.query(
        `SELECT o.id FROM outbox o JOIN reservations r ON r.id::text = o.payload->>'reservationId'
          WHERE o.type = 'reservation.confirmed' AND r.concert_id = $1`,
        [concertId],
      )).rows.map((r) => String(r.id));
    let confirmed = await ids();
    for (let i = 0; i < seconds * 2 && confirmed.some((id) => !sink.deliveries.has(id)); i++) {
      await new Promise((r) => setTimeout(r, 500));
      confirmed = await ids();
    }
    const counts = [...sink.deliveries.values()];
    return {
      confirmations: confirmed.length,
      delivered: confirmed.filter((id) => sink.deliveries.has(id)).length,
      missing: confirmed.filter((id) => !sink.deliveries.has(id)).length,
      duplicatedIds: counts.filter((n) => n > 1).length,
      extraDeliveries: counts.reduce((s, n) => s + Math.max(0, n - 1), 0),
      refused: sink.refused,
      hung: sink.hung,
    };
  });
}

export interface StreamOrder {
  /** Entries of the stream that are outbox events (the stream may have been trimmed already). */
  entries: number;
  /** Adjacent entries whose outbox seq goes down: published out of commit order. */
  inversions: number;
}

/** Reads the event stream of the Redis Streams broker and compares its order with the outbox's seq. */
export async function streamOrder(redisUrl: string, databaseUrl: string): Promise<StreamOrder> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    const entries = await redis.xrange(`events:${EVENTS_TOPIC}`, '-', '+');
    const ids = entries.map(([, fields]) => fields[fields.indexOf('id') + 1]!);
    const seqs = await withClient(databaseUrl, async (c) =>
      new Map((await c.query('SELECT id::text, seq FROM outbox WHERE id = ANY($1::uuid[])', [ids])).rows.map((r) => [r.id as string, Number(r.seq)])));
    const ordered = ids.map((id) => seqs.get(id)).filter((s): s is number => s !== undefined);
    let inversions = 0;
    for (let i = 1; i < ordered.length; i++) if (ordered[i]! < ordered[i - 1]!) inversions++;
    return { entries: ordered.length, inversions };
  } finally {
    redis.disconnect();
  }
}
