import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createMemoryBroker } from '../../../src/modules/events/broker.memory.js';
import { startRelay } from '../../../src/modules/events/outbox.relay.js';
import { purgeProcessedEvents, purgePublishedOutbox } from '../../../src/modules/events/outbox.purge.js';
import { manualClock } from '../../../src/platform/clock.js';
import type { TestApp } from '../../support/harness.js';
import { log, rowsOf } from '../../support/outbox.js';
import { until } from '../../support/wait.js';
import { createTestAppOnOwnDatabase } from '../../support/own-database.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestAppOnOwnDatabase('events_purge');
});
afterAll(() => t.close());

describe('purge', () => {
  async function insertAged(aggregateId: string, fields: { publishedHoursAgo?: number; parked?: boolean; occurredHoursAgo: number }) {
    const hours = (h: number) => new Date(Date.now() - h * 3_600_000);
    const { rows } = await sql<{ id: string }>`
      INSERT INTO outbox (aggregate_id, type, payload, occurred_at, published_at, parked_at, next_attempt_at)
      VALUES (${aggregateId}, 'test.event', '{}'::jsonb, ${hours(fields.occurredHoursAgo)},
              ${fields.publishedHoursAgo === undefined ? null : hours(fields.publishedHoursAgo)},
              ${fields.parked ? hours(fields.occurredHoursAgo) : null}, ${new Date(Date.now() + 86_400_000)})
      RETURNING id`.execute(t.db);
    return rows[0]!.id;
  }

  it('deletes published rows past retention in bounded batches, never unsent or parked ones; and old deduplication records', async () => {
    const key = `purge-${randomUUID()}`;
    for (let i = 0; i < 5; i++) await insertAged(key, { occurredHoursAgo: 49, publishedHoursAgo: 48 });
    const recent = await insertAged(key, { occurredHoursAgo: 2, publishedHoursAgo: 1 });
    const unsent = await insertAged(key, { occurredHoursAgo: 72 });
    const parked = await insertAged(key, { occurredHoursAgo: 72, parked: true });

    const consumer = `purge-test-${randomUUID().slice(0, 8)}`;
    const old = [randomUUID(), randomUUID(), randomUUID()];
    const fresh = randomUUID();
    for (const id of old) await sql`INSERT INTO processed_events (consumer, event_id, processed_at) VALUES (${consumer}, ${id}::uuid, now() - interval '20 days')`.execute(t.db);
    await sql`INSERT INTO processed_events (consumer, event_id) VALUES (${consumer}, ${fresh}::uuid)`.execute(t.db);

    const clock = manualClock(new Date());
    const cutoff = new Date(clock.now().getTime() - 24 * 3_600_000);
    expect(await purgePublishedOutbox(t.db, cutoff, 2)).toBeGreaterThanOrEqual(5);
    const left = await rowsOf(t, [key]);
    expect(left.map((r) => r.id).sort()).toEqual([recent, unsent, parked].sort());

    expect(await purgeProcessedEvents(t.db, new Date(clock.now().getTime() - 14 * 86_400_000), 2)).toBeGreaterThanOrEqual(3);
    const kept = await t.db.selectFrom('processed_events').select('event_id').where('consumer', '=', consumer).execute();
    expect(kept).toEqual([{ event_id: fresh }]);
  });

  it('runs from the relay loop on its schedule', async () => {
    const key = `purge-loop-${randomUUID()}`;
    await insertAged(key, { occurredHoursAgo: 30, publishedHoursAgo: 25 });
    const keep = await insertAged(key, { occurredHoursAgo: 30 });
    const relay = startRelay({
      db: t.db,
      broker: createMemoryBroker(),
      clock: t.services.clock,
      log,
      idleMs: 20,
      purge: { outboxRetentionMs: 24 * 3_600_000, processedEventsRetentionMs: 14 * 86_400_000 },
    });
    try {
      await until(async () => (await rowsOf(t, [key])).length === 1);
      expect((await rowsOf(t, [key])).map((r) => r.id)).toEqual([keep]);
    } finally {
      await relay.stop();
    }
  });
});
