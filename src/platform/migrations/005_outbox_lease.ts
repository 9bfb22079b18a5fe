import { sql, type Kysely } from 'kysely';

/**
 * The outbox relay claims rows with a lease instead of holding row locks across a publish:
 * `claimed_by` (the claiming relay) and `claimed_until` (when others may take the rows again).
 *
 * - `outbox_unsent_aggregate_idx` lets a claim skip a row while an earlier unsent row of the same
 *   aggregate is still waiting (per-key order across relays and retries).
 * - `outbox_published_at_idx` and `processed_events_processed_at_idx` serve the purges of
 *   published rows and of old deduplication records.
 *
 * Rows parked by the earlier rule (ten failed publishes of any kind, mostly broker outages) are
 * put back in line: only messages the broker refuses for good are parked from now on, and such
 * a row is parked again at its first attempt.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE outbox ADD COLUMN claimed_by uuid, ADD COLUMN claimed_until timestamptz;
    CREATE INDEX outbox_unsent_aggregate_idx ON outbox (aggregate_id, seq) WHERE published_at IS NULL AND parked_at IS NULL;
    CREATE INDEX outbox_published_at_idx ON outbox (published_at) WHERE published_at IS NOT NULL;
    CREATE INDEX processed_events_processed_at_idx ON processed_events (processed_at);
    UPDATE outbox SET parked_at = NULL, attempts = 0, next_attempt_at = NULL WHERE published_at IS NULL AND parked_at IS NOT NULL;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP INDEX processed_events_processed_at_idx;
    DROP INDEX outbox_published_at_idx;
    DROP INDEX outbox_unsent_aggregate_idx;
    ALTER TABLE outbox DROP COLUMN claimed_until, DROP COLUMN claimed_by;
  `.execute(db);
}
