import { sql, type Selectable } from 'kysely';
import type { Database, Trx } from '../../platform/db.js';
import type { ReservationsTable } from '../../platform/db.types.js';

export type ReservationRow = Selectable<ReservationsTable>;

const columns = [
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

export async function findReservation(db: Database | Trx, id: string): Promise<ReservationRow | undefined> {
  return db.selectFrom('reservations').select(columns).where('id', '=', id).executeTakeFirst();
}

export async function listUserReservations(db: Database, userId: string, limit: number, before?: string) {
  let query = db
    .selectFrom('reservations')
    .select(columns)
    .where('user_id', '=', userId)
    .orderBy('id', 'desc')
    .limit(limit + 1);
  if (before) query = query.where('id', '<', before);
  return query.execute();
}

/**
 * Serialises one user's holds on one schedule for the rest of the transaction, so that the hold
 * limit counted next cannot be passed by parallel requests of the same user.
 */
export async function lockUserSchedule(trx: Trx, userId: string, scheduleId: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`${userId}/${scheduleId}`}, 0))`.execute(trx);
}

export interface HoldAttempt {
  /** Seats (held or confirmed) the user had on the schedule before this attempt. */
  active: number;
  /** The new reservation, if the seat was free. */
  held: ReservationRow | null;
  /** A hold that had passed its heldUntil and was replaced by this one. */
  replaced: ReservationRow | null;
}

/**
 * One statement: counts the user's active seats, takes the seat only if it is free (or its hold has
 * passed) and the count is under the limit, marks a replaced hold EXPIRED, then inserts the new
 * reservation. The seat row's lock serialises racers; the partial unique index backs it up.
 */
export async function holdSeat(
  trx: Trx,
  h: {
    id: string;
    userId: string;
    concertId: string;
    scheduleId: string;
    seatNumber: number;
    price: number;
    limit: number;
    now: Date;
    heldUntil: Date;
  },
): Promise<HoldAttempt> {
  const result = await sql<{ active: number; held: ReservationRow | null; replaced: ReservationRow | null }>`
    WITH active AS (
      SELECT count(*)::int AS n FROM reservations
       WHERE user_id = ${h.userId} AND schedule_id = ${h.scheduleId}
         AND (status = 'CONFIRMED' OR (status = 'HELD' AND held_until > ${h.now}))
    ), seat AS (
      UPDATE seats SET status = 'HELD', reservation_id = ${h.id}, held_until = ${h.heldUntil}
       WHERE schedule_id = ${h.scheduleId} AND number = ${h.seatNumber}
         AND (status = 'AVAILABLE' OR (status = 'HELD' AND held_until <= ${h.now}))
         AND (SELECT n FROM active) < ${h.limit}
      RETURNING number
    ), replaced AS (
      UPDATE reservations SET status = 'EXPIRED'
       WHERE schedule_id = ${h.scheduleId} AND seat_number = ${h.seatNumber}
         AND status = 'HELD' AND held_until <= ${h.now}
         AND EXISTS (SELECT 1 FROM seat)
      RETURNING *
    ), held AS (
      INSERT INTO reservations (id, user_id, concert_id, schedule_id, seat_number, price, status, held_until, created_at)
      SELECT ${h.id}::uuid, ${h.userId}::uuid, ${h.concertId}::uuid, ${h.scheduleId}::uuid, ${h.seatNumber}::int,
             ${h.price}::bigint, 'HELD', ${h.heldUntil}::timestamptz, ${h.now}::timestamptz
        FROM seat
       WHERE (SELECT count(*) FROM replaced) >= 0
      RETURNING *
    )
    SELECT (SELECT n FROM active) AS active,
           (SELECT to_jsonb(held) FROM held) AS held,
           (SELECT to_jsonb(replaced) FROM replaced LIMIT 1) AS replaced`.execute(trx);
  const row = result.rows[0]!;
  return { active: row.active, held: reviveRow(row.held), replaced: reviveRow(row.replaced) };
}

/** Takes the seat from HELD to SOLD, debits the wallet if it covers the price, confirms the reservation. */
export async function confirmHold(
  trx: Trx,
  p: { reservationId: string; userId: string; scheduleId: string; seatNumber: number; price: number; now: Date },
): Promise<{ seatTaken: boolean; balance: number | null; confirmed: ReservationRow | null }> {
  const result = await sql<{ seat_taken: boolean; balance: number | null; confirmed: ReservationRow | null }>`
    WITH seat AS (
      UPDATE seats SET status = 'SOLD', held_until = NULL
       WHERE schedule_id = ${p.scheduleId} AND number = ${p.seatNumber}
         AND reservation_id = ${p.reservationId} AND status = 'HELD' AND held_until > ${p.now}
      RETURNING number
    ), wallet AS (
      UPDATE wallets SET balance = balance - ${p.price}, updated_at = now()
       WHERE user_id = ${p.userId} AND balance >= ${p.price} AND EXISTS (SELECT 1 FROM seat)
      RETURNING balance
    ), confirmed AS (
      UPDATE reservations SET status = 'CONFIRMED', confirmed_at = ${p.now}
       WHERE id = ${p.reservationId} AND status = 'HELD' AND EXISTS (SELECT 1 FROM wallet)
      RETURNING *
    )
    SELECT EXISTS (SELECT 1 FROM seat) AS seat_taken,
           (SELECT balance FROM wallet) AS balance,
           (SELECT to_jsonb(confirmed) FROM confirmed) AS confirmed`.execute(trx);
  const row = result.rows[0]!;
  return { seatTaken: row.seat_taken, balance: row.balance, confirmed: reviveRow(row.confirmed) };
}

/** Frees the seat of a live hold and cancels it. */
export async function releaseHold(trx: Trx, r: ReservationRow, now: Date): Promise<ReservationRow | null> {
  const result = await sql<{ cancelled: ReservationRow | null }>`
    WITH seat AS (
      UPDATE seats SET status = 'AVAILABLE', reservation_id = NULL, held_until = NULL
       WHERE schedule_id = ${r.schedule_id} AND number = ${r.seat_number}
         AND reservation_id = ${r.id} AND status = 'HELD' AND held_until > ${now}
      RETURNING number
    ), cancelled AS (
      UPDATE reservations SET status = 'CANCELLED', cancelled_at = ${now}
       WHERE id = ${r.id} AND status = 'HELD' AND EXISTS (SELECT 1 FROM seat)
      RETURNING *
    )
    SELECT (SELECT to_jsonb(cancelled) FROM cancelled) AS cancelled`.execute(trx);
  return reviveRow(result.rows[0]!.cancelled);
}

/** Frees a sold seat, cancels the reservation, marks the payment refunded and credits the wallet. */
export async function refundConfirmed(
  trx: Trx,
  r: ReservationRow,
  now: Date,
): Promise<{ cancelled: ReservationRow; refunded: number; balance: number } | null> {
  const result = await sql<{ cancelled: ReservationRow | null; refunded: number | null; balance: number | null }>`
    WITH seat AS (
      UPDATE seats SET status = 'AVAILABLE', reservation_id = NULL, held_until = NULL
       WHERE schedule_id = ${r.schedule_id} AND number = ${r.seat_number}
         AND reservation_id = ${r.id} AND status = 'SOLD'
      RETURNING number
    ), cancelled AS (
      UPDATE reservations SET status = 'CANCELLED', cancelled_at = ${now}
       WHERE id = ${r.id} AND status = 'CONFIRMED' AND EXISTS (SELECT 1 FROM seat)
      RETURNING *
    ), payment AS (
      UPDATE payments SET status = 'REFUNDED', refunded_at = ${now}
       WHERE reservation_id = ${r.id} AND status = 'PAID' AND EXISTS (SELECT 1 FROM cancelled)
      RETURNING amount
    ), wallet AS (
      UPDATE wallets SET balance = balance + (SELECT amount FROM payment), updated_at = now()
       WHERE user_id = ${r.user_id} AND EXISTS (SELECT 1 FROM payment)
      RETURNING balance
    )
    SELECT (SELECT to_jsonb(cancelled) FROM cancelled) AS cancelled,
           (SELECT amount FROM payment) AS refunded,
           (SELECT balance FROM wallet) AS balance`.execute(trx);
  const row = result.rows[0]!;
  const cancelled = reviveRow(row.cancelled);
  if (!cancelled || row.refunded === null || row.balance === null) return null;
  return { cancelled, refunded: row.refunded, balance: row.balance };
}

/**
 * Expires up to `batch` holds whose heldUntil has passed: frees their seats and marks them EXPIRED.
 * SKIP LOCKED lets many instances sweep at once without waiting on each other or on payments.
 */
export async function expireDueHolds(trx: Trx, now: Date, batch: number): Promise<ReservationRow[]> {
  const result = await sql<ReservationRow>`
    WITH due AS (
      SELECT schedule_id, number, reservation_id FROM seats
       WHERE status = 'HELD' AND held_until <= ${now}
       ORDER BY held_until
       LIMIT ${batch}
       FOR UPDATE SKIP LOCKED
    ), freed AS (
      UPDATE seats s SET status = 'AVAILABLE', reservation_id = NULL, held_until = NULL
        FROM due
       WHERE s.schedule_id = due.schedule_id AND s.number = due.number
      RETURNING due.reservation_id
    )
    UPDATE reservations r SET status = 'EXPIRED'
      FROM freed
     WHERE r.id = freed.reservation_id AND r.status = 'HELD'
    RETURNING r.*`.execute(trx);
  return result.rows;
}

export async function insertPayment(
  trx: Trx,
  p: { id: string; reservationId: string; userId: string; amount: number; paidAt: Date },
) {
  await trx
    .insertInto('payments')
    .values({
      id: p.id,
      reservation_id: p.reservationId,
      user_id: p.userId,
      amount: p.amount,
      status: 'PAID',
      paid_at: p.paidAt,
      refunded_at: null,
    })
    .execute();
}

/** Rows returned through to_jsonb carry timestamps as strings; turn them back into Dates. */
function reviveRow(row: ReservationRow | null): ReservationRow | null {
  if (!row) return null;
  const date = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string));
  return {
    ...row,
    held_until: date(row.held_until)!,
    created_at: date(row.created_at)!,
    confirmed_at: date(row.confirmed_at),
    cancelled_at: date(row.cancelled_at),
  };
}
