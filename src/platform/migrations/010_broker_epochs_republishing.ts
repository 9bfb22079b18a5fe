import { sql, type Kysely } from 'kysely';

/**
 * `broker_epochs.republishing`: true from the moment an instance recorded a lost topic's new epoch
 * until every row to publish again is marked unsent and the new marker is set in the broker (any
 * instance finishes it, see src/modules/events/outbox.loss.ts). `acked_through` is never NULL any
 * more: a loss keeps it, so a second loss soon after does not reach back to the oldest row kept.
 * `last_id`: the stream's last-generated id the relay saw under this epoch; a stream whose id went
 * below it (a Redis restored from a snapshot, a failover to a lagging replica) lost entries.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE broker_epochs ADD COLUMN republishing boolean NOT NULL DEFAULT false, ADD COLUMN last_id text`.execute(db);
  await sql`UPDATE broker_epochs SET acked_through = now() WHERE acked_through IS NULL`.execute(db);
  await sql`ALTER TABLE broker_epochs ALTER COLUMN acked_through SET NOT NULL`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE broker_epochs ALTER COLUMN acked_through DROP NOT NULL`.execute(db);
  await sql`ALTER TABLE broker_epochs DROP COLUMN republishing, DROP COLUMN last_id`.execute(db);
}
