import { sql, type Kysely } from 'kysely';

/**
 * The outbox relay's retry schedule, and the consumers' record of what they have applied (so a
 * redelivered event is applied once).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE outbox ADD COLUMN next_attempt_at timestamptz;
    CREATE INDEX outbox_parked_idx ON outbox (seq) WHERE published_at IS NULL AND parked_at IS NOT NULL;

    CREATE TABLE processed_events (
      consumer text NOT NULL,
      event_id uuid NOT NULL,
      processed_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (consumer, event_id)
    );
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE processed_events;
    ALTER TABLE outbox DROP COLUMN next_attempt_at;
  `.execute(db);
}
