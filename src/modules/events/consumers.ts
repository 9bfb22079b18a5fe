import { sql } from 'kysely';
import type { Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { inTransaction, type Database, type Trx } from '../../platform/db.js';
import type { CatalogService } from '../catalog/catalog.service.js';
import type { RankingsService } from '../rankings/rankings.service.js';
import type { Broker, Subscription } from './broker.js';
import { withHandlingSpans } from './events.tracing.js';
import { EVENTS_TOPIC, type OutgoingEvent } from './outbox.event.js';

/**
 * Applies an event at most once per consumer: the processed_events row and the consumer's own
 * changes commit in one transaction, so a redelivered event finds its row and does nothing.
 * Returns false when the event had been applied already.
 */
export async function applyOnce(db: Database, consumer: string, eventId: string, apply: (trx: Trx) => Promise<void>): Promise<boolean> {
  return inTransaction(db, async (trx) => {
    const { rows } = await sql`
      INSERT INTO processed_events (consumer, event_id) VALUES (${consumer}, ${eventId})
      ON CONFLICT DO NOTHING RETURNING event_id`.execute(trx);
    if (rows.length === 0) return false;
    await apply(trx); // if it throws, the row is rolled back and the event will come again
    return true;
  });
}

export const wasApplied = async (db: Database, consumer: string, eventId: string): Promise<boolean> =>
  (await db
    .selectFrom('processed_events')
    .select('event_id')
    .where('consumer', '=', consumer)
    .where('event_id', '=', eventId)
    .executeTakeFirst()) !== undefined;

/**
 * Opens after `threshold` consecutive failures and fails fast for `cooldownMs`; then lets one
 * attempt through (half-open): success closes it, failure opens it again.
 */
export class CircuitBreaker {
  private failures = 0;
  private openUntil = 0;
  constructor(
    private readonly threshold = 5,
    private readonly cooldownMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): 'closed' | 'open' | 'half-open' {
    if (this.failures < this.threshold) return 'closed';
    return this.now() < this.openUntil ? 'open' : 'half-open';
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.state === 'open') throw new Error('circuit open: the endpoint failed repeatedly; not calling it for now');
    try {
      const result = await fn();
      this.failures = 0;
      return result;
    } catch (err) {
      this.failures++;
      if (this.failures >= this.threshold) this.openUntil = this.now() + this.cooldownMs;
      throw err;
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends every reservation.confirmed event to DATA_PLATFORM_URL, at least once: with a timeout,
 * a few quick retries with backoff, and a circuit breaker. While the platform is down the handler
 * fails, the broker keeps the event and redelivers it, so an outage delays delivery and loses
 * nothing. An event already delivered (processed_events) is not sent again.
 */
export function dataPlatformExporter(opts: {
  db: Database;
  url: string;
  timeoutMs?: number;
  retries?: number;
  breaker?: CircuitBreaker;
  fetch?: typeof fetch;
  /** Told of every call to the platform (none while the circuit is open). */
  onExport?: (outcome: 'success' | 'failure') => void;
}) {
  const doFetch = opts.fetch ?? fetch;
  const breaker = opts.breaker ?? new CircuitBreaker();
  const retries = opts.retries ?? 2;
  const CONSUMER = 'data-platform';

  const post = (body: string) =>
    breaker.run(async () => {
      try {
        const res = await doFetch(opts.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(opts.timeoutMs ?? 2_000),
        });
        if (!res.ok) throw new Error(`data platform answered ${res.status}`);
      } catch (err) {
        opts.onExport?.('failure');
        throw err;
      }
      opts.onExport?.('success');
    });

  return async (event: OutgoingEvent, raw: string): Promise<boolean | void> => {
    if (event.type !== 'reservation.confirmed') return;
    if (await wasApplied(opts.db, CONSUMER, event.id)) return false;
    for (let attempt = 0; ; attempt++) {
      try {
        await post(raw);
        break;
      } catch (err) {
        if (attempt >= retries || breaker.state === 'open') throw err;
        await sleep(100 * 4 ** attempt);
      }
    }
    await applyOnce(opts.db, CONSUMER, event.id, async () => {});
  };
}

/**
 * Feeds the rankings from confirmations and from cancellations of confirmed reservations, each
 * applied once (processed_events) in a transaction the rankings also use to serialise a schedule's
 * sell-out. Delivery order does not matter: the rankings store keys every change by reservation.
 * `consumer` names its processed_events rows (default `rankings`): a second set of rankings fed
 * from the same events needs a name of its own.
 */
export function rankingsUpdater(opts: { db: Database; rankings: RankingsService; consumer?: string }) {
  const consumer = opts.consumer ?? 'rankings';
  return async (event: OutgoingEvent): Promise<boolean | void> => {
    if (event.type !== 'reservation.confirmed' && event.type !== 'reservation.cancelled') return;
    return applyOnce(opts.db, consumer, event.id, (trx) => opts.rankings.apply(trx, event));
  };
}

/** Drops cached seat maps and availability on every reservation event (dropping twice is harmless). */
export function cacheInvalidator(opts: { catalog: CatalogService }) {
  return async (event: OutgoingEvent): Promise<void> => {
    if (!event.type.startsWith('reservation.')) return;
    const { scheduleId, concertId } = event.payload as { scheduleId?: string; concertId?: string };
    if (scheduleId && concertId) await opts.catalog.seatsChanged([{ scheduleId, concertId }]);
  };
}

/**
 * An event handler: it resolves once the event is applied, with `false` when it had been applied
 * before (a redelivery); it throws to have the event delivered again.
 */
export type EventHandler = (event: OutgoingEvent, raw: string) => Promise<boolean | void>;

export type HandledOutcome = 'applied' | 'duplicate' | 'failed';

/** Subscribes each consumer as its own group; one member per instance. */
export async function startConsumers(opts: {
  broker: Broker;
  /** When tracing is on: each handling is a span linked to the request that wrote the event. */
  tracer?: Tracer;
  instanceId: string;
  log: Logger;
  consumers: Record<string, EventHandler>;
  /** A failed event is delivered again after about this long (default 5 s). */
  redeliverAfterMs?: number;
  /** Told of every event a group handled (one of no interest to the group counts as applied). */
  onHandled?: (group: string, outcome: HandledOutcome) => void;
}): Promise<Subscription[]> {
  return Promise.all(
    Object.entries(opts.consumers).map(([group, handle]) =>
      opts.broker.subscribe(EVENTS_TOPIC, { group, consumer: opts.instanceId, concurrency: 8, redeliverAfterMs: opts.redeliverAfterMs }, withHandlingSpans(opts.tracer, group, async (message) => {
        const event = JSON.parse(message.value) as OutgoingEvent;
        try {
          const applied = await handle(event, message.value);
          opts.onHandled?.(group, applied === false ? 'duplicate' : 'applied');
        } catch (err) {
          opts.onHandled?.(group, 'failed');
          opts.log.warn({ err, group, eventId: event.id, type: event.type }, 'event handling failed; it will be delivered again');
          throw err;
        }
      })),
    ),
  );
}
