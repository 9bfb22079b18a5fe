import type { BrokerMessage } from './broker.js';
import type { OutboxRow } from './outbox.repository.js';

/** The topic every domain event goes to; the aggregate id is the key. */
export const EVENTS_TOPIC = 'ticketing.events';

/** A domain event as the relay publishes it and consumers read it (JSON in the message value). */
export interface OutgoingEvent {
  id: string;
  type: string;
  version: number;
  occurredAt: string;
  aggregateId: string;
  payload: Record<string, unknown>;
}

export const toEvent = (row: Omit<OutboxRow, 'trace_context'>): OutgoingEvent => ({
  id: row.id,
  type: row.type,
  version: row.version,
  occurredAt: row.occurred_at.toISOString(),
  aggregateId: row.aggregate_id,
  payload: row.payload,
});

/** The message for a row; the trace context of the request that wrote it goes in the `traceparent` header. */
export const toMessage = (r: OutboxRow): BrokerMessage => ({
  id: r.id,
  key: r.aggregate_id,
  value: JSON.stringify(toEvent(r)),
  ...(r.trace_context ? { headers: { traceparent: r.trace_context } } : {}),
});
