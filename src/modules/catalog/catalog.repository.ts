import { sql } from 'kysely';
import { precompiled, type Database, type Trx } from '../../platform/db.js';

export interface ScheduleRow {
  id: string;
  concert_id: string;
  starts_at: Date;
  booking_opens_at: Date;
  seat_count: number;
  price: number;
}

export interface ScheduleWithAvailability extends ScheduleRow {
  available_seats: number;
}

export async function listConcerts(db: Database, limit: number, before?: string) {
  let query = db.selectFrom('concerts').select(['id', 'title', 'artist', 'venue']).orderBy('id', 'desc').limit(limit + 1);
  if (before) query = query.where('id', '<', before);
  return query.execute();
}

export async function findConcert(db: Database, concertId: string) {
  return db.selectFrom('concerts').select(['id', 'title', 'artist', 'venue']).where('id', '=', concertId).executeTakeFirst();
}

/** Schedules of a concert with their live count of available seats (an expired hold counts as available). */
export async function schedulesWithAvailability(db: Database, concertId: string, now: Date): Promise<ScheduleWithAvailability[]> {
  const result = await sql<ScheduleWithAvailability>`
    SELECT s.id, s.concert_id, s.starts_at, s.booking_opens_at, s.seat_count, s.price,
           (SELECT count(*) FROM seats
             WHERE seats.schedule_id = s.id
               AND (seats.status = 'AVAILABLE' OR (seats.status = 'HELD' AND seats.held_until <= ${now}))
           )::int AS available_seats
      FROM schedules s
     WHERE s.concert_id = ${concertId}
     ORDER BY s.starts_at, s.id`.execute(db);
  return result.rows;
}

/**
 * Whether every seat of every date of a concert is SOLD (none AVAILABLE, none HELD: a hold may
 * lapse and free its seat); true for a concert with no dates. Asks each date of the concert
 * (schedules_concert_id_idx) for its lowest unsold seat number, one probe of
 * seats_unsold_number_idx, and stops at the first date that has one. The scalar subquery is never
 * turned into a join (an EXISTS is, and with stale statistics that join read every unsold seat of
 * every concert), and its ORDER BY would make a sequential scan read and sort the whole table, so
 * the probe wins with any statistics, even those of a table analysed empty (docs/architecture.md).
 */
export const soldOutQuery = (concertId: string) => sql<{ sold_out: boolean }>`
  SELECT NOT EXISTS (
    SELECT 1 FROM schedules s
     WHERE s.concert_id = ${concertId}
       AND (SELECT seats.number FROM seats
             WHERE seats.schedule_id = s.id AND seats.status <> 'SOLD'
             ORDER BY seats.number LIMIT 1) IS NOT NULL
  ) AS sold_out`;

export async function concertSoldOut(db: Database | Trx, concertId: string): Promise<boolean> {
  const result = await soldOutQuery(concertId).execute(db);
  return result.rows[0]!.sold_out;
}

export async function findSchedule(db: Database, scheduleId: string): Promise<ScheduleRow | undefined> {
  return db
    .selectFrom('schedules')
    .select(['id', 'concert_id', 'starts_at', 'booking_opens_at', 'seat_count', 'price'])
    .where('id', '=', scheduleId)
    .executeTakeFirst();
}

/**
 * The seat map as a JSON array built by PostgreSQL, returned as text so it goes to the client
 * without being parsed and serialised again. A hold whose held_until has passed reads AVAILABLE.
 */
/** The seats array as JSON text, and the earliest heldUntil of the seats it shows HELD (epoch ms). */
export async function seatMapJson(
  db: Database,
  scheduleId: string,
  price: number,
  now: Date,
): Promise<{ seats: string; nextExpiry: number | null }> {
  const row = (await seatMapStatement(db, { scheduleId, price, now }))[0]!;
  return { seats: row.seats, nextExpiry: row.next_expiry === null ? null : row.next_expiry.getTime() };
}

const seatMapStatement = precompiled(['scheduleId', 'price', 'now'] as const, (p) =>
  // Compact JSON by concatenation: every part is an integer or one of three fixed words.
  sql<{ seats: string; next_expiry: Date | null }>`
    SELECT min(held_until) FILTER (WHERE status = 'HELD' AND held_until > ${p.now}::timestamptz) AS next_expiry,
           '[' || COALESCE(string_agg(
             '{"number":' || number
             || ',"status":"' || CASE WHEN status = 'HELD' AND held_until <= ${p.now}::timestamptz THEN 'AVAILABLE' ELSE status END
             || '","price":' || ${p.price}::bigint || '}', ',' ORDER BY number), '') || ']' AS seats
      FROM seats
     WHERE schedule_id = ${p.scheduleId}::uuid`,
);

export async function insertConcert(
  trx: Trx,
  concert: { id: string; title: string; artist: string; venue: string },
  schedules: Omit<ScheduleRow, 'concert_id'>[],
) {
  await trx.insertInto('concerts').values(concert).execute();
  if (schedules.length === 0) return;
  await trx
    .insertInto('schedules')
    .values(schedules.map((s) => ({ ...s, concert_id: concert.id })))
    .execute();
  // One statement per concert fills every seat of every schedule.
  await sql`
    INSERT INTO seats (schedule_id, number)
    SELECT s.id, n FROM schedules s, generate_series(1, s.seat_count) AS n
     WHERE s.concert_id = ${concert.id}`.execute(trx);
}

export async function hasAnyConcert(db: Database): Promise<boolean> {
  return (await db.selectFrom('concerts').select('id').limit(1).executeTakeFirst()) !== undefined;
}
