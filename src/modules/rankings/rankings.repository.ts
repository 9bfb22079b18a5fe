import { sql } from 'kysely';
import type { Database, Trx } from '../../platform/db.js';

/** What the rankings need to know of one reservation. */
export interface RankedReservation {
  id: string;
  concert_id: string;
  schedule_id: string;
  status: string;
  /** Kept when a confirmed reservation is cancelled: non-null means it was confirmed once. */
  confirmed_at: Date | null;
}

export const findRankedReservation = (db: Database | Trx, id: string): Promise<RankedReservation | undefined> =>
  db
    .selectFrom('reservations')
    .select(['id', 'concert_id', 'schedule_id', 'status', 'confirmed_at'])
    .where('id', '=', id)
    .executeTakeFirst();

/** Every reservation confirmed after `since`, whether it is still confirmed or was cancelled since. */
export const confirmedSince = (db: Database, since: Date): Promise<RankedReservation[]> =>
  db
    .selectFrom('reservations')
    .select(['id', 'concert_id', 'schedule_id', 'status', 'confirmed_at'])
    .where('confirmed_at', '>', since)
    .orderBy('confirmed_at')
    .execute();

export interface SoldOutSchedule {
  id: string;
  booking_opens_at: Date;
  /** The confirmation that sold its last seat: the latest of the confirmations holding its seats now. */
  sold_out_at: Date;
}

/**
 * The schedules that are sold out now (every seat SOLD, i.e. held by a CONFIRMED reservation),
 * among `scheduleIds` or, without it, all of them. A schedule that sold out, got a seat back and
 * sold out again reports the second sell-out. The seat scan stops at the first unsold seat.
 */
export async function soldOutSchedules(db: Database | Trx, scheduleIds?: string[]): Promise<SoldOutSchedule[]> {
  const { rows } = await sql<SoldOutSchedule>`
    SELECT s.id, s.booking_opens_at,
           (SELECT max(r.confirmed_at) FROM reservations r
             WHERE r.schedule_id = s.id AND r.status = 'CONFIRMED') AS sold_out_at
      FROM schedules s
     WHERE ${scheduleIds ? sql`s.id = ANY(${scheduleIds}::uuid[])` : sql`true`}
       AND NOT EXISTS (SELECT 1 FROM seats WHERE schedule_id = s.id AND status <> 'SOLD')`.execute(db);
  return rows.filter((r) => r.sold_out_at !== null);
}

/**
 * Serialises, across every instance, the rankings' reads and writes of one schedule's sell-out
 * until the transaction ends: the last to write is the last to have read.
 */
export async function lockScheduleSellout(trx: Trx, scheduleId: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`rankings-sellout/${scheduleId}`}, 0))`.execute(trx);
}
