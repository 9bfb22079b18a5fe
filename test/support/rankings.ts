import { randomUUID } from 'node:crypto';
import { rankingsUpdater } from '../../src/modules/events/consumers.js';
import { toEvent, type OutgoingEvent } from '../../src/modules/events/outbox.event.js';
import { manualClock } from '../../src/platform/clock.js';
import type { TestApp } from './harness.js';

export const SECOND = 1_000;

/**
 * The service's clock for rankings tests: it stands still unless a test moves it; it starts at the
 * current second so that the builders' defaults (a show a week from now) stay ahead of it.
 */
export const standingClock = () => manualClock(new Date(Math.floor(Date.now() / SECOND) * SECOND));

/** Every event the outbox holds for these reservations, in the order they were written. */
export async function eventsOf(t: TestApp, reservationIds: string[]): Promise<OutgoingEvent[]> {
  const rows = await t.db
    .selectFrom('outbox')
    .select(['seq', 'id', 'aggregate_id', 'type', 'version', 'payload', 'occurred_at', 'attempts'])
    .where('aggregate_id', 'in', reservationIds)
    .orderBy('seq')
    .execute();
  return rows.map((r) => toEvent({ ...r, seq: Number(r.seq), payload: r.payload as Record<string, unknown> }));
}

/**
 * The rankings consumer as the broker drives it, under a consumer name of its own (so no other
 * test's consumer takes these events' processed_events rows).
 */
export const updaterFor = (t: TestApp, rankings = t.services.rankings) =>
  rankingsUpdater({ db: t.db, rankings, consumer: `rankings-test-${randomUUID()}` });

export async function deliverInOrder(handle: (e: OutgoingEvent) => Promise<unknown>, events: OutgoingEvent[]) {
  for (const event of events) await handle(event);
}
