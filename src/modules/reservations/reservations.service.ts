import type { Clock } from '../../platform/clock.js';
import { pgCode, type Database, type Trx } from '../../platform/db.js';
import { DomainError, notFound } from '../../platform/errors.js';
import { isUuid, newId } from '../../platform/ids.js';
import { decodeCursor, page } from '../../platform/pagination.js';
import { assertBookable } from '../catalog/catalog.rules.js';
import type { CatalogService } from '../catalog/catalog.service.js';
import { appendEvents, type DomainEvent } from '../outbox/outbox.repository.js';
import { insertLedgerEntry } from '../wallet/wallet.repository.js';
import {
  findReservation,
  holdSeat,
  listUserReservations,
  lockUserSchedule,
  refundConfirmed,
  releaseHold,
  type ReservationRow,
} from './reservations.repository.js';
import { assertUnderHoldLimit, cancellation, effectiveStatus, holdExpiry } from './reservations.rules.js';

export interface ReservationView {
  id: string;
  userId: string;
  concertId: string;
  scheduleId: string;
  seatNumber: number;
  price: number;
  status: ReservationRow['status'];
  heldUntil: string;
  createdAt: string;
  confirmedAt?: string;
  cancelledAt?: string;
}

export function toReservationView(r: ReservationRow, now: Date): ReservationView {
  return {
    id: r.id,
    userId: r.user_id,
    concertId: r.concert_id,
    scheduleId: r.schedule_id,
    seatNumber: r.seat_number,
    price: r.price,
    status: effectiveStatus(r, now),
    heldUntil: r.held_until.toISOString(),
    createdAt: r.created_at.toISOString(),
    ...(r.confirmed_at ? { confirmedAt: r.confirmed_at.toISOString() } : {}),
    ...(r.cancelled_at ? { cancelledAt: r.cancelled_at.toISOString() } : {}),
  };
}

export const reservationEvent = (
  type: DomainEvent['type'],
  r: ReservationRow,
  occurredAt: Date,
  extra: Record<string, unknown> = {},
): DomainEvent => ({
  type,
  aggregateId: r.id,
  occurredAt,
  payload: {
    reservationId: r.id,
    userId: r.user_id,
    concertId: r.concert_id,
    scheduleId: r.schedule_id,
    seatNumber: r.seat_number,
    price: r.price,
    ...extra,
  },
});

/** The caller's own reservation, or NOT_FOUND (someone else's is not admitted to exist). */
export async function ownReservation(db: Database | Trx, userId: string, id: string): Promise<ReservationRow> {
  const r = isUuid(id) ? await findReservation(db, id) : undefined;
  if (!r || r.user_id !== userId) throw notFound('Reservation');
  return r;
}

export function createReservationService(deps: {
  db: Database;
  clock: Clock;
  catalog: CatalogService;
  holdTtlSeconds: number;
  holdLimit: number;
}) {
  const { db, clock, catalog } = deps;

  return {
    /** Holds one seat for the user for HOLD_TTL_SECONDS. */
    async hold(trx: Trx, userId: string, input: { scheduleId: string; seatNumber: number }): Promise<ReservationView> {
      const schedule = await catalog.schedule(input.scheduleId, trx);
      if (input.seatNumber > schedule.seat_count) {
        throw new DomainError('NOT_FOUND', `Seat ${input.seatNumber} does not exist; this date has ${schedule.seat_count} seats`);
      }
      const now = clock.now();
      assertBookable(schedule, now);
      await lockUserSchedule(trx, userId, schedule.id);
      let attempt;
      try {
        attempt = await holdSeat(trx, {
          id: newId(),
          userId,
          concertId: schedule.concert_id,
          scheduleId: schedule.id,
          seatNumber: input.seatNumber,
          price: schedule.price,
          limit: deps.holdLimit,
          now,
          heldUntil: holdExpiry(now, deps.holdTtlSeconds),
        });
      } catch (err) {
        if (pgCode(err) === '23505') throw seatUnavailable(input.seatNumber);
        throw err;
      }
      assertUnderHoldLimit(attempt.active, deps.holdLimit);
      if (!attempt.held) throw seatUnavailable(input.seatNumber);
      const events = [reservationEvent('reservation.held', attempt.held, now, { heldUntil: attempt.held.held_until })];
      if (attempt.replaced) {
        events.push(reservationEvent('reservation.expired', attempt.replaced, now, { heldUntil: attempt.replaced.held_until }));
      }
      await appendEvents(trx, events);
      return toReservationView(attempt.held, now);
    },

    async get(userId: string, id: string): Promise<ReservationView> {
      return toReservationView(await ownReservation(db, userId, id), clock.now());
    },

    async list(userId: string, limit: number, cursor?: string) {
      const now = clock.now();
      const { items, nextCursor } = page(await listUserReservations(db, userId, limit, decodeCursor(cursor)), limit);
      return { items: items.map((r) => toReservationView(r, now)), nextCursor };
    },

    /** Cancels a live hold (seat released) or, before the show, a confirmed seat (refunded and released). */
    async cancel(trx: Trx, userId: string, id: string, attempt = 1): Promise<ReservationView> {
      if (attempt > 3) throw new Error(`reservation ${id} and its seat disagree; refusing to cancel`);
      const r = await ownReservation(trx, userId, id);
      const schedule = await catalog.schedule(r.schedule_id, trx);
      const now = clock.now();
      const kind = cancellation(r, schedule.starts_at, now);
      if (kind === 'RELEASE_HOLD') {
        const cancelled = await releaseHold(trx, r, now);
        if (!cancelled) return this.cancel(trx, userId, id, attempt + 1); // changed under us: decide again
        await appendEvents(trx, [reservationEvent('reservation.cancelled', cancelled, now, { refunded: 0 })]);
        return toReservationView(cancelled, now);
      }
      const refund = await refundConfirmed(trx, r, now);
      if (!refund) return this.cancel(trx, userId, id, attempt + 1);
      if (refund.refunded > 0) {
        await insertLedgerEntry(trx, {
          id: newId(),
          userId,
          type: 'REFUND',
          amount: refund.refunded,
          balanceAfter: refund.balance,
          reservationId: r.id,
          at: now,
        });
      }
      await appendEvents(trx, [
        reservationEvent('reservation.cancelled', refund.cancelled, now, { refunded: refund.refunded }),
      ]);
      return toReservationView(refund.cancelled, now);
    },
  };
}

function seatUnavailable(seatNumber: number) {
  return new DomainError('SEAT_UNAVAILABLE', `Seat ${seatNumber} is held or sold`);
}

export type ReservationService = ReturnType<typeof createReservationService>;
