import { sql, type Kysely } from 'kysely';

/**
 * The seats of each date not yet sold (AVAILABLE or HELD), for the waiting room's sold-out check
 * (catalog.repository.ts `concertSoldOut`): whether a concert has any such seat is then one probe
 * per date, however many seats are sold. A sold seat leaves the index, so it stays as small as
 * what is left to sell. Without it the planner scanned the whole seats table for "status <> 'SOLD'".
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX seats_unsold_idx ON seats (schedule_id) WHERE status <> 'SOLD'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX seats_unsold_idx`.execute(db);
}
