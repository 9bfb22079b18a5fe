import { sql } from 'kysely';
import pino from 'pino';
import type { Broker } from '../../src/modules/events/broker.js';
import type { OutgoingEvent } from '../../src/modules/events/outbox.event.js';
import { relayOnce, type RelayOptions } from '../../src/modules/events/outbox.relay.js';
import type { TestApp } from './harness.js';
import { sellSeat } from './sales.js';

export const log = pino({ level: 'silent' });
/** Drains the outbox (the relay would do this every 50 ms). */
export async function drain(t: TestApp, broker: Broker) {
  while ((await relayOnce({ db: t.db, broker, clock: t.services.clock })) > 0) {
    // more
  }
}

/** Runs relay passes until nothing more is handed over (with the given clock and broker). */
export async function passes(opts: RelayOptions) {
  while ((await relayOnce(opts)) > 0) {
    // more
  }
}

/** The outbox rows of these aggregates, in order. */
export const rowsOf = (t: TestApp, aggregateIds: string[]) =>
  t.db
    .selectFrom('outbox')
    .select(['seq', 'id', 'type', 'aggregate_id', 'published_at', 'parked_at', 'attempts', 'last_error'])
    .where('aggregate_id', 'in', aggregateIds)
    .orderBy('seq')
    .execute();

/** Writes an event straight into the outbox (as the domain statements do) and returns its id. */
export async function insertEvent(
  t: TestApp,
  aggregateId: string,
  payload: Record<string, unknown> = { n: 1 },
  extra: { type?: string; nextAttemptAt?: Date } = {},
) {
  const { rows } = await sql<{ id: string }>`
    INSERT INTO outbox (aggregate_id, type, payload, occurred_at, next_attempt_at)
    VALUES (${aggregateId}, ${extra.type ?? 'test.event'}, ${JSON.stringify(payload)}::jsonb, now(), ${extra.nextAttemptAt ?? null})
    RETURNING id`.execute(t.db);
  return rows[0]!.id;
}

/** A consumer group that records how often each event reached it. */
export function recorder() {
  const deliveries = new Map<string, number>();
  const order: string[] = [];
  return {
    deliveries,
    order,
    handle: async (event: OutgoingEvent) => {
      deliveries.set(event.id, (deliveries.get(event.id) ?? 0) + 1);
      order.push(event.id);
    },
  };
}

/** Sells one seat and returns its reservation id. */
export const sellSeatId = async (t: TestApp, scheduleId: string, seat: number) => (await sellSeat(t, scheduleId, seat)).id;
