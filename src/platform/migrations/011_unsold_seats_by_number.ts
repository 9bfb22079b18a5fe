import { sql, type Kysely } from 'kysely';

/**
 * The seats of each date not yet sold, now ordered by seat number too, replacing seats_unsold_idx.
 * The sold-out check (catalog.repository.ts `concertSoldOut`) asks each date of a concert for its
 * lowest unsold seat number: this index hands it over in one probe, while a sequential scan would
 * have to read and sort every row first, so the planner keeps the probe whatever its statistics say
 * (a sale starts on a date analysed empty and sells it out before autovacuum analyses it again).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX seats_unsold_number_idx ON seats (schedule_id, number) WHERE status <> 'SOLD'`.execute(db);
  await sql`DROP INDEX seats_unsold_idx`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`CREATE INDEX seats_unsold_idx ON seats (schedule_id) WHERE status <> 'SOLD'`.execute(db);
  await sql`DROP INDEX seats_unsold_number_idx`.execute(db);
}
