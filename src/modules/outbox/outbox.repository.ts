import type { Trx } from '../../platform/db.js';
import { newId } from '../../platform/ids.js';

export type EventType =
  | 'reservation.held'
  | 'reservation.confirmed'
  | 'reservation.cancelled'
  | 'reservation.expired'
  | 'balance.charged';

export interface DomainEvent {
  type: EventType;
  aggregateId: string;
  occurredAt: Date;
  payload: Record<string, unknown>;
}

/** Records events in the caller's transaction: they commit or vanish with the change they describe. */
export async function appendEvents(trx: Trx, events: DomainEvent[]): Promise<void> {
  if (events.length === 0) return;
  await trx
    .insertInto('outbox')
    .values(
      events.map((e) => ({
        id: newId(),
        aggregate_id: e.aggregateId,
        type: e.type,
        version: 1,
        payload: JSON.stringify(e.payload),
        occurred_at: e.occurredAt,
        published_at: null,
        last_error: null,
        parked_at: null,
      })),
    )
    .execute();
}
