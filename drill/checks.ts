/**
 * The drill's own checks beyond the load test's invariants, counted once the sale is over: double
 * debits, what the data platform received against what was confirmed, whether the event
 * stream holds the outbox's events in commit order, and the requests the instances shed.
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
  /** Entries the stream received that are outbox events. */
  entries: number;
  /** Adjacent entries whose outbox seq goes down: published out of commit order. */
  inversions: number;
  /** Entries that came after a later-committed event of the same aggregate (a reservation's confirmation before its hold, say). */
  aggregateInversions: number;
}

export interface StreamWatch {
  /** Event ids in the order the stream received them. */
  readonly ids: string[];
  stop(): Promise<void>;
}

/**
 * Reads the Redis Streams broker's event stream as it grows (XREAD, no consumer group, so it holds
 * nothing back from the trim), keeping every event id in stream order; while the server is down
 * it tries again every half second and goes on from the last id it read.
 */
export function watchStream(redisUrl: string): StreamWatch {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1, retryStrategy: () => 500 });
  redis.on('error', () => {});
  const ids: string[] = [];
  let last = '0';
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        const read = await redis.xread('COUNT', 1000, 'BLOCK', 500, 'STREAMS', `events:${EVENTS_TOPIC}`, last);
        for (const [, entries] of read ?? []) {
          for (const [id, fields] of entries) {
            last = id;
            ids.push(fields[fields.indexOf('id') + 1]!);
          }
        }
      } catch {
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  })();
  return {
    ids,
    stop: async () => {
      stopped = true;
      await loop;
      redis.disconnect();
    },
  };
}

/** Compares the order the stream received the events in with the order they were committed in (outbox seq). */
export async function streamOrder(ids: string[], databaseUrl: string): Promise<StreamOrder> {
  const rows = await withClient(databaseUrl, async (c) =>
    new Map((await c.query('SELECT id::text, seq, aggregate_id::text AS aggregate FROM outbox WHERE id = ANY($1::uuid[])', [ids])).rows
      .map((r) => [r.id as string, { seq: Number(r.seq), aggregate: String(r.aggregate) }])));
  const ordered = ids.map((id) => rows.get(id)).filter((r) => r !== undefined);
  let inversions = 0;
  let aggregateInversions = 0;
  const lastOf = new Map<string, number>();
  for (let i = 0; i < ordered.length; i++) {
    const { seq, aggregate } = ordered[i]!;
    if (i > 0 && seq < ordered[i - 1]!.seq) inversions++;
    if (seq < (lastOf.get(aggregate) ?? -Infinity)) aggregateInversions++;
    lastOf.set(aggregate, Math.max(seq, lastOf.get(aggregate) ?? -Infinity));
  }
  return { entries: ordered.length, inversions, aggregateInversions };
}

/** Adds the shed requests of one /metrics text (its http_requests_shed_total) to `counts`, by `reason method route`. */
export function addSheds(counts: Record<string, number>, metricsText: string): Record<string, number> {
  for (const m of metricsText.matchAll(/^http_requests_shed_total\{([^}]*)\} ([0-9.e+]+)$/gm)) {
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]));
    const key = `${labels.reason} ${labels.method} ${labels.route}`;
    counts[key] = (counts[key] ?? 0) + Number(m[2]);
  }
  return counts;
}

/** The requests the instances shed (503 `shed: true`), as each counted them at the end (a restarted one since its start). */
export async function shedCounts(urls: string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const url of urls) addSheds(counts, await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) }).then((r) => r.text(), () => ''));
  return counts;
}
