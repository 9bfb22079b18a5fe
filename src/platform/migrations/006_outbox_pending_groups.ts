import { sql, type Kysely } from 'kysely';

/**
 * In-process broker: `pending_groups` names the consumer groups that still need an outbox row
 * when every other group has handled it (the lagging groups' queues were full). NULL: the row goes
 * to every group. The relay publishes such a row again to those groups alone, and marks it
 * published once none is left. The index serves the relay's look-up of a group's waiting rows.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE outbox ADD COLUMN pending_groups text[];
    CREATE INDEX outbox_pending_groups_idx ON outbox USING gin (pending_groups) WHERE published_at IS NULL AND pending_groups IS NOT NULL;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP INDEX outbox_pending_groups_idx;
    ALTER TABLE outbox DROP COLUMN pending_groups;
  `.execute(db);
}
