import { sql } from 'kysely';
import type { Database } from '../../platform/db.js';
import { activeTraceparent } from '../../platform/tracing.context.js';
import { col, eventRows, insertEvents, isoSql, reservationPayload } from '../events/outbox.sql.js';
import type { ReservationRow } from './reservations.repository.js';

/** Frees the seat of a live hold and cancels it, with its event. */
export async function releaseHold(db: Database, r: ReservationRow, now: Date): Promise<ReservationRow | null> {
  const result = await sql<ReservationRow>`
    WITH seat AS (
      UPDATE seats SET status = 'AVAILABLE', reservation_id = NULL, held_until = NULL
       WHERE schedule_id = ${r.schedule_id} AND number = ${r.seat_number}
         AND reservation_id = ${r.id} AND status = 'HELD' AND held_until > ${now}
      RETURNING number
    ), cancelled AS (
      UPDATE reservations SET status = 'CANCELLED', cancelled_at = ${now}
       WHERE id = ${r.id} AND status = 'HELD' AND EXISTS (SELECT 1 FROM seat)
      RETURNING *
    ), events AS (
      ${insertEvents(
        eventRows(
          'reservation.cancelled',
          'cancelled',
          col('cancelled', 'id'),
          reservationPayload('cancelled', {
            refunded: sql`0`,
            cancelledAt: isoSql(col('cancelled', 'cancelled_at')),
            previousStatus: sql.lit('HELD'),
          }),
          sql`${now}`,
          sql`${activeTraceparent() ?? null}`,
        ),
      )}
    )
    SELECT * FROM cancelled`.execute(db);
  return result.rows[0] ?? null;
}

/** Frees a sold seat, cancels the reservation, refunds the payment to the wallet and the ledger. */
export async function refundConfirmed(
  db: Database,
  r: ReservationRow,
  ledgerId: string,
  now: Date,
): Promise<{ cancelled: ReservationRow; refunded: number; balance: number } | null> {
  const result = await sql<ReservationRow & { refunded: number; balance: number }>`
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
      UPDATE wallets SET balance = balance + payment.amount, updated_at = ${now}
        FROM payment
       WHERE user_id = ${r.user_id}
      RETURNING balance, payment.amount
    ), ledger AS (
      INSERT INTO ledger_entries (id, user_id, type, amount, balance_after, reservation_id, created_at)
      SELECT ${ledgerId}::uuid, ${r.user_id}::uuid, 'REFUND', wallet.amount, wallet.balance, ${r.id}::uuid, ${now}::timestamptz
        FROM wallet
       WHERE wallet.amount > 0
    ), events AS (
      ${insertEvents(
        eventRows(
          'reservation.cancelled',
          'cancelled',
          col('cancelled', 'id'),
          reservationPayload('cancelled', {
            refunded: sql`COALESCE((SELECT amount FROM wallet), 0)`,
            cancelledAt: isoSql(col('cancelled', 'cancelled_at')),
            previousStatus: sql.lit('CONFIRMED'),
            confirmedAt: isoSql(col('cancelled', 'confirmed_at')),
          }),
          sql`${now}`,
          sql`${activeTraceparent() ?? null}`,
        ),
      )}
    ), complete AS (
      SELECT ticketing_assert((SELECT count(*) FROM cancelled) = (SELECT count(*) FROM wallet), 'refund incomplete') AS ok
    )
    SELECT cancelled.*, wallet.amount AS refunded, wallet.balance AS balance
      FROM complete, cancelled, wallet`.execute(db);
  const row = result.rows[0];
  if (!row) return null;
  const { refunded, balance, ...cancelled } = row;
  return { cancelled, refunded, balance };
}

/** Whether any hold's heldUntil has passed (one probe of the partial index on held seats). */
export async function anyHoldDue(db: Database, now: Date): Promise<boolean> {
  const result = await sql<{ due: boolean }>`SELECT EXISTS (SELECT 1 FROM seats WHERE status = 'HELD' AND held_until <= ${now}) AS due`.execute(db);
  return result.rows[0]?.due === true;
}

/**
 * Expires up to `batch` holds whose heldUntil has passed: frees their seats, marks them EXPIRED
 * and records reservation.expired (with the trace context of the sweep, when it is traced). SKIP LOCKED lets many instances sweep at once without waiting
 * on each other or on a payment in flight.
 */
export async function expireDueHolds(
  db: Database,
  now: Date,
  batch: number,
): Promise<{ scheduleId: string; concertId: string }[]> {
  const result = await sql<{ schedule_id: string; concert_id: string }>`
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
    ), expired AS (
      UPDATE reservations r SET status = 'EXPIRED'
        FROM freed
       WHERE r.id = freed.reservation_id AND r.status = 'HELD'
      RETURNING r.*
    ), events AS (
      ${insertEvents(
        eventRows('reservation.expired', 'expired', col('expired', 'id'), reservationPayload('expired', { heldUntil: isoSql(col('expired', 'held_until')) }), sql`${now}`, sql`${activeTraceparent() ?? null}`),
      )}
    )
    SELECT schedule_id, concert_id FROM expired`.execute(db);
  return result.rows.map((r) => ({ scheduleId: r.schedule_id, concertId: r.concert_id }));
}
