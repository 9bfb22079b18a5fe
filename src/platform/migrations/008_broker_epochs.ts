import { sql, type Kysely } from 'kysely';

/**
 * `broker_epochs`: per topic of a durable broker that can lose what it accepted (Redis Streams on a
 * Redis restarted empty), the epoch marker the relay last saw beside the topic, and the time before
 * which every consumer group had handled every message (`acked_through`, the broker's clock; NULL
 * when unknown). A marker gone or changed tells the relay the topic was lost; it then publishes
 * again the rows published since `acked_through` (see src/modules/events/outbox.loss.ts).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE broker_epochs (
      topic text PRIMARY KEY,
      epoch text NOT NULL,
      acked_through timestamptz
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE broker_epochs`.execute(db);
}
