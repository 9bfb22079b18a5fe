import type { Selectable } from 'kysely';
import type { Database } from '../../platform/db.js';
import type { ReservationsTable } from '../../platform/db.types.js';

export type ReservationRow = Selectable<ReservationsTable>;

export const reservationColumns = [
  'id',
  'user_id',
  'concert_id',
  'schedule_id',
  'seat_number',
  'price',
  'status',
  'held_until',
  'created_at',
  'confirmed_at',
  'cancelled_at',
] as const;

export async function findReservation(db: Database, id: string): Promise<ReservationRow | undefined> {
  return db.selectFrom('reservations').select(reservationColumns).where('id', '=', id).executeTakeFirst();
}

export async function listUserReservations(db: Database, userId: string, limit: number, before?: string) {
  let query = db
    .selectFrom('reservations')
    .select(reservationColumns)
    .where('user_id', '=', userId)
    .orderBy('id', 'desc')
    .limit(limit + 1);
  if (before) query = query.where('id', '<', before);
  return query.execute();
}

